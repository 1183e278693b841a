//! Webhooks end to end: signed deliveries a Standard Webhooks receiver verifies, retries with
//! the same `webhook-id`, 410 and disabling, restarts mid-schedule, the outbound URL guard,
//! auto-reply from the response, and bad input.

use std::collections::{HashMap, HashSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::files::FileServer;
use crate::receiver::{Answer, Receiver};

async fn webhook(app: &TestApp, key: &str, body: Value) -> (String, String) {
    let (status, created) = app.post("/v1/webhooks", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    (created["id"].as_str().unwrap().to_owned(), secret)
}

fn of_message<'a>(got: &'a [crate::receiver::Received], id: &str) -> Vec<&'a crate::receiver::Received> {
    got.iter().filter(|r| r.body["data"]["id"] == id).collect()
}

#[tokio::test]
async fn message_events_arrive_signed_and_in_the_delivery_log() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (key, device) = app.connected_tenant("shop").await;
    let types = json!(["message.sent", "message.delivered", "message.read"]);
    let (hook, secret) = webhook(&app, &key, json!({"url": receiver.url, "event_types": types, "description": "orders"})).await;
    let (_, sent) = app.send_text(&key, "+60123456789", "Your table is booked").await;
    let id = sent["id"].as_str().unwrap().to_owned();

    let got = receiver.wait_for("sent, delivered and read", |r| of_message(r, &id).len() >= 3).await;
    let mine = of_message(&got, &id);
    let kinds: HashSet<&str> = mine.iter().map(|r| r.event_type()).collect();
    assert_eq!(kinds, HashSet::from(["message.sent", "message.delivered", "message.read"]));
    let now = chrono::Utc::now().timestamp();
    for r in &mine {
        assert!(r.verifies_with(&secret), "signature of {}", r.event_type());
        assert!(r.id.starts_with("evt_"), "webhook-id is the event id: {}", r.id);
        assert!((now - r.timestamp).abs() < 60, "webhook-timestamp is the attempt time");
        assert_eq!(r.body["data"]["device_id"], device);
        assert!(r.body["timestamp"].as_str().unwrap().ends_with('Z'));
        let raw = String::from_utf8_lossy(&r.raw);
        assert!(!raw.contains(&key) && !raw.contains("kd_") && !raw.contains("whsec_"), "no credentials in a payload: {raw}");
    }
    assert!(!got.iter().any(|r| r.event_type() == "message.queued"), "only the subscribed types");

    // The receiver saw the requests; their outcomes are recorded right after.
    let all_done = |l: &Value| l["data"].as_array().is_some_and(|d| d.len() >= 3 && d.iter().all(|x| x["status"] == "succeeded"));
    let log = app.wait_for(&key, &format!("/v1/webhooks/{hook}/deliveries"), all_done).await;
    let rows = log["data"].as_array().unwrap();
    assert!(rows.iter().all(|d| d["attempts"] == 1), "{log}");
    let first = rows[0]["id"].as_str().unwrap();
    let (_, one) = app.get(&format!("/v1/webhooks/{hook}/deliveries/{first}"), &key).await;
    assert_eq!(one["attempt_log"][0]["status_code"], 200, "{one}");
    app.stop().await;
}

#[tokio::test]
async fn failures_are_retried_with_the_same_id_and_410_disables() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (key, _) = app.connected_tenant("shop").await;
    let (hook, secret) = webhook(&app, &key, json!({"url": receiver.url, "event_types": ["message.sent"]})).await;
    receiver.then([Answer::Status(500), Answer::Status(503)]);
    let (_, sent) = app.send_text(&key, "+60123456789", "retry me").await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let got = receiver.wait_for("three attempts", |r| of_message(r, &id).len() >= 3).await;
    let attempts = of_message(&got, &id);
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(|r| r.id == attempts[0].id), "every retry carries the same webhook-id");
    assert!(attempts.iter().all(|r| r.verifies_with(&secret)));
    let done = |l: &Value| l["data"].as_array().is_some_and(|d| d.len() == 1);
    let log = app.wait_for(&key, &format!("/v1/webhooks/{hook}/deliveries?status=succeeded"), done).await;
    let delivery = log["data"][0]["id"].as_str().unwrap().to_owned();
    let (_, detail) = app.get(&format!("/v1/webhooks/{hook}/deliveries/{delivery}"), &key).await;
    let codes: Vec<Value> = detail["attempt_log"].as_array().unwrap().iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, vec![json!(500), json!(503), json!(200)], "{detail}");

    // A manual retry delivers it once more, with the same id.
    let (status, _) = app.post(&format!("/v1/webhooks/{hook}/deliveries/{delivery}/retry"), &key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = receiver.wait_for("the manual retry", |r| of_message(r, &id).len() >= 4).await;
    assert_eq!(of_message(&got, &id)[3].id, attempts[0].id);

    // 410 Gone: the endpoint is disabled and says why; the log records it.
    receiver.answer(Answer::Status(410));
    app.send_text(&key, "+60123456789", "gone").await;
    let view = app.wait_for(&key, &format!("/v1/webhooks/{hook}"), |w| w["enabled"] == false).await;
    assert!(view["disabled_reason"].as_str().unwrap().contains("410"), "{view}");
    app.wait_for(&key, "/v1/events?type=webhook.disabled", |p| p["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    // Re-enabling turns it back on.
    let (status, view) = app.call(Method::PATCH, &format!("/v1/webhooks/{hook}"), Some(&key), Some(json!({"enabled": true}))).await;
    assert_eq!((status, &view["enabled"], &view["disabled_reason"]), (StatusCode::OK, &json!(true), &Value::Null));
    app.stop().await;
}

#[tokio::test]
async fn a_receiver_down_across_a_restart_gets_everything_afterwards() {
    // Twenty retries 1.5 s apart: thirty seconds for the sends and the restart below, even on a
    // machine busy with other tests (ten seconds was once not enough under load).
    let schedule = vec!["1500ms"; 20].join(",");
    let app = TestApp::spawn_with(&[("KIRIM_WEBHOOKS_RETRY_SCHEDULE", &schedule)]).await;
    let receiver = Receiver::start().await;
    let addr = receiver.addr();
    let (key, _) = app.connected_tenant("shop").await;
    let (_, secret) = webhook(&app, &key, json!({"url": receiver.url, "event_types": ["message.delivered"]})).await;
    drop(receiver);
    let mut ids = Vec::new();
    for i in 0..5 {
        let (_, sent) = app.send_text(&key, "+60123456789", &format!("while down {i}")).await;
        ids.push(sent["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        app.wait_message(&key, id, "read").await;
    }
    let app = app.restart().await;
    for i in 0..3 {
        let (_, sent) = app.send_text(&key, "+60123456789", &format!("after restart {i}")).await;
        ids.push(sent["id"].as_str().unwrap().to_owned());
    }
    let receiver = Receiver::start_at(&addr).await;
    let got = receiver.wait_for("every delivered event", |r| ids.iter().all(|id| !of_message(r, id).is_empty())).await;
    let mut by_id: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in &got {
        assert!(r.verifies_with(&secret));
        by_id.entry(r.body["data"]["id"].as_str().unwrap()).or_default().insert(r.id.as_str());
    }
    assert!(by_id.values().all(|webhook_ids| webhook_ids.len() == 1), "a duplicate always repeats its webhook-id: {by_id:?}");
    app.stop().await;
}

#[tokio::test]
async fn unsafe_urls_are_refused_and_redirects_not_followed() {
    let app = TestApp::spawn_with(&[("KIRIM_OUTBOUND_ALLOW", "")]).await;
    let (_, key) = app.tenant("shop").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://[::ffff:192.168.0.1]/",
        "http://2130706433/",
        "http://100.64.0.1/",
    ] {
        let got = app.post("/v1/webhooks", &key, json!({"url": url})).await;
        let body = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed");
        assert_eq!(body["error"]["field"], "url", "{url}: {body}");
    }
    for url in ["ftp://example.com/x", "not a url", "https://user:pw@example.com/", ""] {
        let got = app.post("/v1/webhooks", &key, json!({"url": url})).await;
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "url", "{url}");
    }
    app.stop().await;

    // With loopback allowed: a 302 is an answer, not an invitation.
    let app = TestApp::spawn().await;
    let target = Receiver::start().await;
    let redirector = Receiver::start().await;
    redirector.answer(Answer::Status(302));
    let (key, _) = app.connected_tenant("shop").await;
    let (hook, _) = webhook(&app, &key, json!({"url": redirector.url, "event_types": ["message.sent"]})).await;
    app.send_text(&key, "+60123456789", "x").await;
    redirector.wait_for("the first attempt", |r| !r.is_empty()).await;
    let log = app.wait_for(&key, &format!("/v1/webhooks/{hook}/deliveries"), |l| l["data"][0]["last_status_code"] == 302).await;
    assert_ne!(log["data"][0]["status"], "succeeded", "{log}");
    assert!(target.received().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn auto_reply_sends_what_the_response_carries() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (key, device) = app.connected_tenant("shop").await;
    webhook(&app, &key, json!({"url": receiver.url, "event_types": ["message.received"], "auto_reply": true})).await;
    receiver.then([Answer::Body("Hello too.".into(), "text/plain")]);
    let body = json!({"from": "+60122222222", "text": "hello"});
    let (status, _) = app.post(&format!("/v1/sandbox/devices/{device}/inbound"), &key, body).await;
    assert_eq!(status, StatusCode::OK);
    let list = app.wait_for(&key, "/v1/messages?direction=outbound", |l| l["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    let reply = &list["data"][0];
    assert_eq!((&reply["to"], &reply["content"]["text"]["body"]), (&json!("+60122222222"), &json!("Hello too.")), "{reply}");
    assert_eq!(reply["device_id"], device);

    // The Wablas list form, several replies at once, in its categories. The image is
    // fetched when the reply is accepted, so it is served locally.
    let files = FileServer::start().await;
    let menu = files.serve("menu.jpg", "image/jpeg", crate::files::jpeg());
    let wablas = json!({"data": [
        {"category": "text", "message": "one"},
        {"category": "text", "message": "two"},
        {"category": "image", "caption": "our menu", "urlFile": menu},
        {"category": "button", "message": "{\"buttons\":[\"Book\",\"Call me\"],\"content\":\"What next?\",\"footer\":\"Acme\"}"},
        {"category": "hologram", "message": "skipped"},
    ]});
    receiver.then([Answer::Body(wablas.to_string(), "application/json")]);
    app.post(&format!("/v1/sandbox/devices/{device}/inbound"), &key, json!({"from": "+60122222222", "text": "menu"})).await;
    let list = app.wait_for(&key, "/v1/messages?direction=outbound", |l| l["data"].as_array().is_some_and(|d| d.len() == 5)).await;
    let sent = list["data"].as_array().unwrap();
    let bodies: HashSet<&str> = sent.iter().filter_map(|m| m["content"]["text"]["body"].as_str()).collect();
    assert_eq!(bodies, HashSet::from(["Hello too.", "one", "two"]));
    let image = sent.iter().find(|m| m["type"] == "image").expect("the image reply");
    let stored = &image["content"]["image"];
    assert_eq!((&stored["link"], &stored["caption"], &stored["mime_type"]), (&json!(menu), &json!("our menu"), &json!("image/jpeg")));
    assert!(stored["media_id"].as_str().is_some_and(|id| id.starts_with("med_")), "{stored}");
    let buttons = sent.iter().find(|m| m["type"] == "buttons").expect("the button reply");
    assert_eq!(buttons["content"]["buttons"]["buttons"][1], json!({"type": "reply", "title": "Call me"}));
    app.stop().await;
}

#[tokio::test]
async fn endpoints_are_validated_tested_rotated_and_scoped() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (_, key) = app.tenant("shop").await;
    let (_, other_key) = app.tenant("other").await;
    let (other_device, _) = app.device(&other_key, "theirs").await;
    let (_, token) = app.device(&key, "mine").await;
    let field = |got: &(StatusCode, Value)| got.1["error"]["field"].as_str().unwrap_or("").to_owned();
    let bad = [
        (json!({}), "url"),
        (json!({"url": receiver.url, "event_types": ["message.nope"]}), "event_types"),
        (json!({"url": receiver.url, "event_types": []}), "event_types"),
        (json!({"url": receiver.url, "device_ids": [other_device]}), "device_ids"),
        (json!({"url": receiver.url, "description": "x".repeat(201)}), "description"),
        (json!({"url": 5}), "url"),
        (json!({"url": receiver.url, "colour": "red"}), "colour"),
    ];
    for (body, expected) in bad {
        let got = app.post("/v1/webhooks", &key, body.clone()).await;
        assert!(got.0.is_client_error(), "{body}: {} {}", got.0, got.1);
        assert_eq!(field(&got), expected, "{body}: {}", got.1);
    }
    assert_error(&app.post("/v1/webhooks", &token, json!({"url": receiver.url})).await, StatusCode::FORBIDDEN, "forbidden");

    let (hook, secret) = webhook(&app, &key, json!({"url": receiver.url})).await;
    let (status, sent) = app.post(&format!("/v1/webhooks/{hook}/test"), &key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = receiver.wait_for("the test event", |r| r.iter().any(|x| x.event_type() == "webhook.test")).await;
    let test = got.iter().find(|x| x.event_type() == "webhook.test").unwrap();
    assert_eq!(test.id, sent["event_id"].as_str().unwrap());
    assert!(test.verifies_with(&secret));

    // Rotation: both secrets sign for a day.
    let (status, rotated) = app.post(&format!("/v1/webhooks/{hook}/secret"), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(rotated["previous_secret_expires_at"].is_string());
    app.post(&format!("/v1/webhooks/{hook}/test"), &key, json!({})).await;
    let got = receiver.wait_for("a second test", |r| r.iter().filter(|x| x.event_type() == "webhook.test").count() == 2).await;
    let second = got.iter().filter(|x| x.event_type() == "webhook.test").nth(1).unwrap();
    assert!(second.verifies_with(new_secret) && second.verifies_with(&secret), "{}", second.signature);

    // PATCH changes only what it names; null clears a filter.
    let patch = json!({"event_types": ["message.received"], "description": "bot"});
    let (_, view) = app.call(Method::PATCH, &format!("/v1/webhooks/{hook}"), Some(&key), Some(patch)).await;
    assert_eq!(
        (&view["event_types"], &view["description"], &view["url"]),
        (&json!(["message.received"]), &json!("bot"), &json!(receiver.url))
    );
    let (_, view) = app.call(Method::PATCH, &format!("/v1/webhooks/{hook}"), Some(&key), Some(json!({"event_types": null}))).await;
    assert_eq!((&view["event_types"], &view["description"]), (&Value::Null, &json!("bot")));
    assert!(!view.to_string().contains("whsec_"), "the secret is never shown again");

    // Another tenant sees nothing.
    assert_eq!(app.get("/v1/webhooks", &other_key).await.1["data"].as_array().unwrap().len(), 0);
    assert_error(&app.get(&format!("/v1/webhooks/{hook}"), &other_key).await, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = app.call(Method::DELETE, &format!("/v1/webhooks/{hook}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&format!("/v1/webhooks/{hook}"), &key).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

/// The official Python library checks what Kirim sends. `.ci/run` installs it and sets
/// `KIRIM_TEST_PYTHON`; elsewhere the test says how to enable it and passes.
#[tokio::test]
async fn the_standard_webhooks_library_verifies_every_delivery() {
    let Ok(python) = std::env::var("KIRIM_TEST_PYTHON") else {
        eprintln!(
            "skipped: set KIRIM_TEST_PYTHON to a Python with `standardwebhooks` installed \
             (python3 -m venv v && v/bin/pip install standardwebhooks==1.1.0; KIRIM_TEST_PYTHON=v/bin/python)"
        );
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (key, _) = app.connected_tenant("shop").await;
    let (hook, old_secret) = webhook(&app, &key, json!({"url": receiver.url})).await;
    for i in 0..3 {
        app.send_text(&key, "+60123456789", &format!("check {i}")).await;
    }
    // After a rotation both signatures are sent; the library must accept either secret.
    let (_, rotated) = app.post(&format!("/v1/webhooks/{hook}/secret"), &key, json!({})).await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/webhooks/{hook}/test"), &key, json!({})).await;
    // queued, sent, delivered and read for three messages, and the test.
    let got = receiver.wait_for("13 deliveries", |r| r.len() >= 13 && r.iter().any(|x| x.event_type() == "webhook.test")).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, secret, only_rotated) in [("old", &old_secret, false), ("new", &new_secret, true)] {
        let deliveries: Vec<Value> = got
            .iter()
            .filter(|r| !only_rotated || r.event_type() == "webhook.test")
            .map(|r| {
                json!({
                    "headers": {"webhook-id": r.id, "webhook-timestamp": r.timestamp.to_string(), "webhook-signature": r.signature},
                    "body": String::from_utf8_lossy(&r.raw),
                })
            })
            .collect();
        let file = dir.path().join(format!("{name}.json"));
        std::fs::write(&file, json!({"secret": secret, "deliveries": deliveries}).to_string()).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/verify_standard_webhooks.py");
        let out = std::process::Command::new(&python).arg(script).arg(&file).output().expect("run python");
        assert!(out.status.success(), "{name} secret: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    app.stop().await;
}
