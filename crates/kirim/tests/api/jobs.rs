//! Field jobs through the sandbox: dispatch, every reply form (messy ones included), two open
//! jobs (asked which; a quoted or numbered reply picks one), repeated deliveries, photos and
//! voice notes, the delay ending on a manual clock, auto-replies left out, and bad input.
//!
//! The jobs inbox handles a worker's messages in the order they arrive, so a test waits for
//! the answer to a message before it writes the next.

use std::sync::Arc;

use kirim::app;
use kirim::config::{Config, Overrides};
use kirim_core::{ManualClock, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

const WORKER: &str = "+60123000001";

async fn job(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, job) = app.post("/v1/jobs", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job
}

fn siti(worker: &str) -> Value {
    json!({"worker_phone": worker, "client_name": "Puan Siti", "task": "Deep cleaning - 3BR apartment",
        "location": "123 Jalan Ampang, KL", "map_link": "https://maps.google.com/?q=3.16,101.71"})
}

async fn write(app: &TestApp, key: &str, device: &str, body: Value) {
    let (status, body) = app.post(&format!("/v1/sandbox/devices/{device}/inbound"), key, body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The texts sent to `to`, oldest first.
async fn texts_to(app: &TestApp, key: &str, to: &str) -> Vec<String> {
    let (status, list) = app.get(&format!("/v1/messages?direction=outbound&to={}&limit=100", to.replace('+', "%2B")), key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut texts: Vec<String> =
        list["data"].as_array().unwrap().iter().map(|m| m["content"]["text"]["body"].as_str().unwrap_or_default().to_owned()).collect();
    texts.reverse();
    texts
}

/// Writes `text` as the worker and waits for the `n`th message to them; returns its text.
async fn say(app: &TestApp, key: &str, device: &str, text: &str, n: usize) -> String {
    write(app, key, device, json!({"from": WORKER, "text": text})).await;
    let path = format!("/v1/messages?direction=outbound&to={}&limit=100", WORKER.replace('+', "%2B"));
    app.wait_for(key, &path, |b| b["data"].as_array().is_some_and(|d| d.len() >= n)).await;
    texts_to(app, key, WORKER).await.pop().unwrap()
}

async fn get_job(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, job) = app.get(&format!("/v1/jobs/{id}"), key).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

fn kinds(job: &Value) -> Vec<String> {
    job["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_job_is_dispatched_and_every_reply_form_moves_it_and_is_confirmed() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let created = job(&app, &key, siti("0123000001")).await;
    assert_eq!((&created["ref"], &created["status"], &created["worker_phone"]), (&json!("J1"), &json!("PENDING"), &json!(WORKER)));
    let id = created["id"].as_str().unwrap();
    let dispatch = app.wait_message(&key, created["message_id"].as_str().unwrap(), "delivered").await;
    let text = dispatch["content"]["text"]["body"].as_str().unwrap();
    for part in [
        "New job J1",
        "Puan Siti",
        "Deep cleaning",
        "123 Jalan Ampang",
        "maps.google.com",
        "START",
        "ARRIVED",
        "DONE",
        "ISSUE",
        "DELAY 30",
        "DONE J1",
    ] {
        assert!(text.contains(part), "the dispatch message lacks {part:?}: {text}");
    }

    assert!(say(&app, &key, &device, "Started!", 2).await.contains("J1 started"));
    assert_eq!(get_job(&app, &key, id).await["status"], json!("IN_PROGRESS"));
    assert!(say(&app, &key, &device, "arrived.", 3).await.contains("Arrival at 123 Jalan Ampang"));
    assert!(say(&app, &key, &device, "delay", 4).await.contains("How many minutes"), "a DELAY without minutes is asked about");
    assert_eq!(get_job(&app, &key, id).await["status"], json!("IN_PROGRESS"));
    assert!(say(&app, &key, &device, "Delay 30 mins", 5).await.contains("J1 delayed by 30 min"));
    let delayed = get_job(&app, &key, id).await;
    assert_eq!((&delayed["status"], &delayed["returns_to"]), (&json!("DELAYED"), &json!("IN_PROGRESS")));
    assert!(delayed["delay_until"].is_string());
    assert!(say(&app, &key, &device, "start", 6).await.contains("J1 started"), "START ends a delay early");
    assert!(say(&app, &key, &device, "ISSUE: no water at the unit", 7).await.contains("Issue recorded for J1: no water at the unit"));
    assert_eq!(get_job(&app, &key, id).await["status"], json!("ISSUE"));
    assert!(say(&app, &key, &device, "done! ✅", 8).await.contains("J1 marked DONE"));
    assert!(say(&app, &key, &device, "DONE", 9).await.contains("J1 is already DONE"), "a reply to a DONE job says so");

    let done = get_job(&app, &key, id).await;
    assert_eq!(done["status"], json!("DONE"));
    assert!(done["done_at"].is_string() && done["arrived_at"].is_string() && done["started_at"].is_string());
    assert_eq!(kinds(&done), ["dispatched", "status", "arrived", "reply", "delay", "status", "issue", "status", "reply"]);
    let issue = &done["timeline"][6];
    assert_eq!((&issue["text"], &issue["from"], &issue["to"]), (&json!("no water at the unit"), &json!("IN_PROGRESS"), &json!("ISSUE")));
    assert!(issue["message_id"].is_string() && issue["inbound_message_id"].is_string(), "entries link both messages: {issue}");
    assert_eq!(done["timeline"][0]["message_id"], created["message_id"]);

    let (_, events) = app.get("/v1/events?type=job.updated", &key).await;
    let moves: Vec<(String, String)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["data"]["from"].as_str().unwrap().to_owned(), e["data"]["to"].as_str().unwrap().to_owned()))
        .collect();
    let expected =
        [("PENDING", "IN_PROGRESS"), ("IN_PROGRESS", "DELAYED"), ("DELAYED", "IN_PROGRESS"), ("IN_PROGRESS", "ISSUE"), ("ISSUE", "DONE")];
    assert_eq!(moves, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    for kind in ["job.created", "job.arrived", "job.note"] {
        let (_, events) = app.get(&format!("/v1/events?type={kind}"), &key).await;
        assert_eq!(events["data"].as_array().unwrap().len(), 1, "{kind}: {events}");
    }
    let (_, listed) = app.get("/v1/jobs?status=DONE", &key).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let (_, listed) = app.get("/v1/jobs?status=pending", &key).await;
    assert!(listed["data"].as_array().unwrap().is_empty());
    assert_eq!(get_job(&app, &key, "J1").await["id"], json!(id), "a job is found by its reference too");
    app.stop().await;
}

#[tokio::test]
async fn two_open_jobs_ask_which_unless_the_reply_names_or_quotes_one() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let j1 = job(&app, &key, siti(WORKER)).await;
    let mut other = siti(WORKER);
    other["client_name"] = json!("Encik Ali");
    let j2 = job(&app, &key, other).await;
    let sent = app.wait_message(&key, j2["message_id"].as_str().unwrap(), "delivered").await;

    let question = say(&app, &key, &device, "Done", 3).await;
    assert!(
        question.contains("You have 2 open jobs") && question.contains("J1 – Puan Siti") && question.contains("J2 – Encik Ali"),
        "{question}"
    );
    assert_eq!(get_job(&app, &key, j1["id"].as_str().unwrap()).await["status"], json!("PENDING"));
    assert_eq!(get_job(&app, &key, j2["id"].as_str().unwrap()).await["status"], json!("PENDING"));

    // Quoting J2's message picks J2.
    write(&app, &key, &device, json!({"from": WORKER, "text": "done", "reply_to": sent["network_id"]})).await;
    let path = format!("/v1/messages?direction=outbound&to={}", WORKER.replace('+', "%2B"));
    app.wait_for(&key, &path, |b| b["data"].as_array().is_some_and(|d| d.len() >= 4)).await;
    assert!(texts_to(&app, &key, WORKER).await.pop().unwrap().contains("J2 marked DONE"));
    assert_eq!(get_job(&app, &key, j1["id"].as_str().unwrap()).await["status"], json!("PENDING"));
    // Naming a job picks it; J2 is now DONE, so a bare reply goes to the only open one.
    assert!(say(&app, &key, &device, "J1 start", 5).await.contains("J1 started"));
    assert!(say(&app, &key, &device, "arrived", 6).await.contains("J1"));
    assert!(say(&app, &key, &device, "done J9", 7).await.contains("J9 is not one of your jobs"));
    assert!(say(&app, &key, &device, "j1", 8).await.contains("J1 – Puan Siti, Deep cleaning - 3BR apartment (IN_PROGRESS)"));
    app.stop().await;
}

#[tokio::test]
async fn a_reply_delivered_twice_is_recorded_and_answered_once() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let j = job(&app, &key, siti(WORKER)).await;
    for _ in 0..2 {
        write(&app, &key, &device, json!({"from": WORKER, "text": "START", "network_id": "wamid.twice"})).await;
    }
    // A later message's answer means both deliveries were decided.
    assert!(say(&app, &key, &device, "done", 3).await.contains("J1 marked DONE"));
    let texts = texts_to(&app, &key, WORKER).await;
    assert_eq!(texts.iter().filter(|t| t.contains("started")).count(), 1, "{texts:?}");
    let timeline = get_job(&app, &key, j["id"].as_str().unwrap()).await;
    assert_eq!(kinds(&timeline), ["dispatched", "status", "status"]);
    app.stop().await;
}

#[tokio::test]
async fn a_photo_is_proof_and_a_voice_note_is_kept_flagged_without_a_transcriber() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let j = job(&app, &key, siti(WORKER)).await;
    use base64::Engine as _;
    let jpeg = base64::engine::general_purpose::STANDARD.encode(crate::files::jpeg());
    let photo = json!({"base64": jpeg, "mime_type": "image/jpeg", "caption": "done"});
    write(&app, &key, &device, json!({"from": WORKER, "type": "image", "image": photo})).await;
    let path = format!("/v1/messages?direction=outbound&to={}", WORKER.replace('+', "%2B"));
    app.wait_for(&key, &path, |b| b["data"].as_array().is_some_and(|d| d.len() >= 2)).await;
    let answer = texts_to(&app, &key, WORKER).await.pop().unwrap();
    assert!(answer.contains("Photo saved as proof for J1") && answer.contains("J1 marked DONE"), "a caption command applies too: {answer}");
    let voice = json!({"link": "https://files.example/note.ogg", "mime_type": "audio/ogg", "voice": true});
    write(&app, &key, &device, json!({"from": WORKER, "type": "audio", "audio": voice})).await;
    app.wait_for(&key, &path, |b| b["data"].as_array().is_some_and(|d| d.len() >= 3)).await;
    assert!(texts_to(&app, &key, WORKER).await.pop().unwrap().contains("Voice note saved on J1"), "a DONE job still takes a voice note");

    let got = get_job(&app, &key, j["id"].as_str().unwrap()).await;
    assert_eq!(kinds(&got), ["dispatched", "photo", "status", "voice_note"]);
    let (photo, note) = (&got["timeline"][1], &got["timeline"][3]);
    assert_eq!(photo["text"], json!("done"));
    let media_id = photo["media_id"].as_str().expect("the photo's media_id");
    let (status, info) = app.get(&format!("/v1/media/{media_id}/info"), &key).await;
    assert_eq!((status, &info["type"]), (StatusCode::OK, &json!("image")), "the proof can be downloaded: {info}");
    assert_eq!(note["detail"]["transcription"]["status"], json!("untranscribed"), "{note}");
    let (_, events) = app.get("/v1/events?type=job.proof", &key).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn job_replies_are_not_auto_answered_but_other_messages_are() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let (status, rule) = app.post("/v1/auto-replies", &key, json!({"match": "fallback", "reply": {"text": "We are closed"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    job(&app, &key, siti(WORKER)).await;
    assert!(say(&app, &key, &device, "start", 2).await.contains("J1 started"));
    assert_eq!(say(&app, &key, &device, "hello, anyone there?", 3).await, "We are closed", "free text is no job reply");
    write(&app, &key, &device, json!({"from": "+60123000002", "text": "done"})).await;
    let path = "/v1/messages?direction=outbound&to=%2B60123000002";
    app.wait_for(&key, path, |b| b["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    assert_eq!(texts_to(&app, &key, "+60123000002").await, ["We are closed"], "a number with no jobs is not a worker");
    assert_eq!(texts_to(&app, &key, WORKER).await.iter().filter(|t| *t == "We are closed").count(), 1);
    app.stop().await;
}

fn t(s: &str) -> Timestamp {
    s.parse().expect("a time")
}

#[tokio::test]
async fn a_delay_ends_and_the_job_returns_to_its_status() {
    let clock = ManualClock::new(t("2026-12-02T09:00:00Z"));
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let env = fast_env(&dir);
    let loaded = Config::load_from(&Overrides::default(), &env).expect("test configuration");
    let built = app::build(loaded.config, Arc::new(clock.clone())).await.expect("build app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = app::start(built, listener).await.expect("start app");
    let app = TestApp { base: format!("http://{}", running.addr), client: reqwest::Client::new(), running: Some(running), dir, env };
    let (key, device) = app.connected_tenant("t").await;
    let j = job(&app, &key, siti(WORKER)).await;
    let id = j["id"].as_str().unwrap();
    assert!(say(&app, &key, &device, "start", 2).await.contains("started"));
    assert!(say(&app, &key, &device, "DELAY 45", 3).await.contains("until 2026-12-02 09:45 UTC"));
    let state = &app.running.as_ref().unwrap().state;
    clock.advance(chrono::TimeDelta::minutes(44));
    assert_eq!(kirim::workers::jobs::step(state).await.unwrap(), Some(t("2026-12-02T09:45:00Z")));
    assert_eq!(get_job(&app, &key, id).await["status"], json!("DELAYED"));
    clock.advance(chrono::TimeDelta::minutes(2));
    assert_eq!(kirim::workers::jobs::step(state).await.unwrap(), None);
    let back = get_job(&app, &key, id).await;
    assert_eq!((&back["status"], &back["delay_until"], &back["returns_to"]), (&json!("IN_PROGRESS"), &Value::Null, &Value::Null));
    assert_eq!(kinds(&back).last().unwrap(), "delay_ended");
    let (_, events) = app.get("/v1/events?type=job.updated", &key).await;
    let last = events["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["data"]["from"], &last["data"]["to"], &last["data"]["reason"]),
        (&json!("DELAYED"), &json!("IN_PROGRESS"), &json!("delay_ended"))
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_named_retries_replay_and_other_tenants_see_nothing() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let mut missing = siti(WORKER);
    missing["client_name"] = json!("  ");
    assert_error(&app.post("/v1/jobs", &key, missing).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    let mut bad_phone = siti("12");
    bad_phone["task"] = json!("x");
    let err = assert_error(&app.post("/v1/jobs", &key, bad_phone).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(err["error"]["field"], json!("worker_phone"));
    let mut bad_link = siti(WORKER);
    bad_link["map_link"] = json!("javascript:alert(1)");
    assert_error(&app.post("/v1/jobs", &key, bad_link).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    let err = assert_error(&app.get("/v1/jobs?status=LOST", &key).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(err["error"]["field"], json!("status"));

    let send = |k: &'static str| {
        app.client.post(format!("{}/v1/jobs", app.base)).bearer_auth(&key).header("Idempotency-Key", k).json(&siti(WORKER)).send()
    };
    let first = send("job-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send("job-1").await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!((&again["id"], &again["ref"]), (&first["id"], &json!("J1")));
    let (_, listed) = app.get("/v1/jobs", &key).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "the retry made no second job");
    let mut changed = siti(WORKER);
    changed["task"] = json!("another task");
    let reused =
        app.client.post(format!("{}/v1/jobs", app.base)).bearer_auth(&key).header("Idempotency-Key", "job-1").json(&changed).send();
    let reused = reused.await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let reused: Value = reused.json().await.unwrap();
    assert_eq!(reused["error"]["code"], json!("idempotency_key_reused"));

    // A device token sees its own device's jobs only, and dispatches from its device.
    let (second, token) = app.device(&key, "second").await;
    app.link(&key, &second).await;
    let id = first["id"].as_str().unwrap();
    assert_error(&app.get(&format!("/v1/jobs/{id}"), &token).await, StatusCode::NOT_FOUND, "not_found");
    let own = job(&app, &token, siti("+60123000002")).await;
    assert_eq!((&own["device_id"], &own["ref"]), (&json!(second), &json!("J2")));
    let (_, mine) = app.get("/v1/jobs", &token).await;
    assert_eq!(mine["data"].as_array().unwrap().iter().map(|j| j["id"].clone()).collect::<Vec<_>>(), vec![own["id"].clone()]);
    let (_, all) = app.get("/v1/jobs?worker_phone=0123000002", &key).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1);

    let (other, _) = app.connected_tenant("other").await;
    assert_error(&app.get(&format!("/v1/jobs/{id}"), &other).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.get("/v1/jobs/J1", &other).await, StatusCode::NOT_FOUND, "not_found");
    let (_, listed) = app.get("/v1/jobs", &other).await;
    assert!(listed["data"].as_array().unwrap().is_empty());
    let created = job(&app, &other, siti(WORKER)).await;
    assert_eq!(created["ref"], json!("J1"), "numbers are per tenant");
    assert_error(&app.call(Method::DELETE, "/v1/jobs/J1", Some(&key), None).await, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    app.stop().await;
}

/// Each request's `Authorization` header and body.
type Seen = Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A fake OpenAI-compatible transcriber: records each request, answers `status` with
/// `{"text": …}`.
struct Transcriber {
    url: String,
    bodies: Seen,
}

async fn transcriber(status: u16, text: &'static str) -> Transcriber {
    use axum::http::HeaderMap;
    let bodies: Seen = Arc::default();
    let seen = bodies.clone();
    let route = axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
        let seen = seen.clone();
        async move {
            let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            seen.lock().unwrap().push((auth, body.to_vec()));
            (axum::http::StatusCode::from_u16(status).unwrap(), axum::Json(json!({"text": text})))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/audio/transcriptions", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/v1/audio/transcriptions", route)).await });
    Transcriber { url, bodies }
}

async fn voice_note(app: &TestApp, key: &str, device: &str) -> Value {
    use base64::Engine as _;
    let audio =
        json!({"base64": base64::engine::general_purpose::STANDARD.encode(crate::files::opus()), "mime_type": "audio/ogg", "voice": true});
    write(app, key, device, json!({"from": WORKER, "type": "audio", "audio": audio})).await;
    let path = format!("/v1/messages?direction=outbound&to={}", WORKER.replace('+', "%2B"));
    app.wait_for(key, &path, |b| b["data"].as_array().is_some_and(|d| d.len() >= 2)).await;
    assert!(texts_to(app, key, WORKER).await.pop().unwrap().contains("Voice note saved on J1"));
    let jobs = app
        .wait_for(key, "/v1/jobs/J1", |j| {
            j["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "voice_note" && e["detail"]["transcription"]["status"] != "pending")
        })
        .await;
    jobs["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "voice_note").unwrap().clone()
}

#[tokio::test]
async fn a_voice_note_is_downloaded_and_transcribed_by_the_configured_server() {
    let fake = transcriber(200, "Pipe is leaking under the sink").await;
    let app = TestApp::spawn_with(&[
        ("KIRIM_TRANSCRIPTION_URL", fake.url.as_str()),
        ("KIRIM_TRANSCRIPTION_MODEL", "whisper-large-v3"),
        ("KIRIM_TRANSCRIPTION_API_KEY", "sk-test-123"),
    ])
    .await;
    let (key, device) = app.connected_tenant("t").await;
    job(&app, &key, siti(WORKER)).await;
    let note = voice_note(&app, &key, &device).await;
    assert_eq!(note["detail"]["transcription"], json!({"status": "transcribed", "text": "Pipe is leaking under the sink"}));
    assert!(note["media_id"].as_str().unwrap().starts_with("med_"), "{note}");
    let bodies = fake.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let (auth, body) = &bodies[0];
    assert_eq!(auth, "Bearer sk-test-123");
    let opus = crate::files::opus();
    assert!(body.windows(opus.len()).any(|w| w == opus.as_slice()), "the recording's bytes are posted");
    let text = String::from_utf8_lossy(body);
    assert!(text.contains("name=\"model\"\r\n\r\nwhisper-large-v3") && text.contains("name=\"file\""), "{text}");
    let (_, events) = app.get("/v1/events?type=job.voice_note", &key).await;
    let statuses: Vec<&str> =
        events["data"].as_array().unwrap().iter().map(|e| e["data"]["detail"]["transcription"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "transcribed"]);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_transcriber_leaves_the_voice_note_on_the_job_flagged() {
    let fake = transcriber(500, "").await;
    let app = TestApp::spawn_with(&[("KIRIM_TRANSCRIPTION_URL", fake.url.as_str())]).await;
    let (key, device) = app.connected_tenant("t").await;
    job(&app, &key, siti(WORKER)).await;
    let note = voice_note(&app, &key, &device).await;
    assert_eq!(note["detail"]["transcription"]["status"], json!("failed"), "{note}");
    assert!(note["detail"]["transcription"]["error"].as_str().unwrap().contains("500"));
    assert!(note["media_id"].is_string(), "the recording stays on the job");
    app.stop().await;
}
