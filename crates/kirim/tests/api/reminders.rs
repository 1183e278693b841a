//! Reminders through the API with a manual clock: the worker's step makes each occurrence a
//! scheduled message, the scheduler sends it; a restart in the middle of a series loses and
//! doubles nothing; monthly dates clamp and daylight saving keeps the wall-clock time.

use std::sync::Arc;

use kirim::app;
use kirim::config::{Config, Overrides};
use kirim_core::{ManualClock, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::*;

fn t(s: &str) -> Timestamp {
    s.parse().expect("a time")
}

/// The app on a manual clock; `dir` is reused across restarts.
async fn spawn_at(clock: &ManualClock, dir: Arc<TempDir>) -> TestApp {
    let mut env = fast_env(&dir);
    // Occurrences are awaited as `delivered`: keep the sandbox from reading them at once.
    env.retain(|(k, _)| k != "KIRIM_SANDBOX_READ_AFTER_MS");
    env.push(("KIRIM_SANDBOX_READ_AFTER_MS".to_owned(), "3600000".to_owned()));
    let loaded = Config::load_from(&Overrides::default(), &env).expect("test configuration");
    let built = app::build(loaded.config, Arc::new(clock.clone())).await.expect("build app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = app::start(built, listener).await.expect("start app");
    TestApp { base: format!("http://{}", running.addr), client: reqwest::Client::new(), running: Some(running), dir, env }
}

/// One round of the reminder worker, then of the scheduler.
async fn step(app: &TestApp) {
    let state = &app.running.as_ref().expect("running").state;
    kirim::workers::reminders::step(state).await.expect("reminder step");
    kirim::workers::schedule::step(state).await.expect("scheduler step");
}

async fn create(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, reminder) = app.post("/v1/reminders", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{reminder}");
    reminder
}

async fn get(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, reminder) = app.get(&format!("/v1/reminders/{id}"), key).await;
    assert_eq!(status, StatusCode::OK, "{reminder}");
    reminder
}

fn occurrence_ids(reminder: &Value) -> Vec<String> {
    reminder["occurrences"].as_array().unwrap().iter().map(|o| o["message_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_daily_series_is_sent_occurrence_by_occurrence_and_a_restart_loses_and_doubles_nothing() {
    let clock = ManualClock::new(t("2026-03-01T00:00:00Z"));
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let app = spawn_at(&clock, dir.clone()).await;
    let (key, device) = app.connected_tenant("t").await;
    let body = json!({
        "to": "012-300 0001", "title": "pills", "message": {"type": "text", "text": "Take your pills"},
        "start_at": "2026-03-01 09:00:00", "timezone": "Asia/Kuala_Lumpur", "repeat": {"every": "daily"}, "count": 3,
    });
    let reminder = create(&app, &key, body).await;
    let id = reminder["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (&reminder["status"], &reminder["next_at"], &reminder["next_at_local"], &reminder["device_id"], &reminder["to"]),
        (&json!("active"), &json!("2026-03-01T01:00:00Z"), &json!("2026-03-01 09:00:00"), &json!(device), &json!("+60123000001"))
    );

    step(&app).await;
    assert!(occurrence_ids(&get(&app, &key, &id).await).is_empty(), "nothing is made long before its time");

    // Ten minutes ahead the occurrence becomes a scheduled message, sent on the dot.
    clock.set(t("2026-03-01T00:55:00Z"));
    step(&app).await;
    let r = get(&app, &key, &id).await;
    let first = occurrence_ids(&r);
    assert_eq!(first.len(), 1);
    assert_eq!(
        (&r["occurrences"][0]["status"], &r["sent_count"], &r["next_at"]),
        (&json!("scheduled"), &json!(1), &json!("2026-03-02T01:00:00Z"))
    );
    let message = app.wait_message(&key, &first[0], "scheduled").await;
    assert_eq!(
        (&message["scheduled_at"], &message["content"]["text"]["body"]),
        (&json!("2026-03-01T01:00:00Z"), &json!("Take your pills"))
    );
    clock.set(t("2026-03-01T01:00:00Z"));
    step(&app).await;
    let sent = app.wait_message(&key, &first[0], "delivered").await;
    let history: Vec<&str> = sent["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(&history[..2], ["scheduled", "sent"]);

    // Kirim stops; two occurrences fall due while it is down. Both are made once, late.
    app.stop().await;
    clock.set(t("2026-03-03T01:30:00Z"));
    let app = spawn_at(&clock, dir.clone()).await;
    step(&app).await;
    step(&app).await;
    let r = get(&app, &key, &id).await;
    let ids = occurrence_ids(&r);
    assert_eq!(ids.len(), 3, "{r}");
    let indexes: Vec<u64> = r["occurrences"].as_array().unwrap().iter().map(|o| o["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, [2, 1, 0]);
    assert_eq!((&r["status"], &r["next_at"], &r["sent_count"]), (&json!("finished"), &Value::Null, &json!(3)));
    for id in &ids {
        app.wait_message(&key, id, "delivered").await;
    }
    let (_, all) = app.get("/v1/messages?direction=outbound&to=%2B60123000001", &key).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3, "one message per occurrence: {all}");
    let (_, listed) = app.get(&format!("/v1/reminders?device_id={device}"), &key).await;
    assert_eq!(listed["data"][0]["id"], json!(id));
    assert!(listed["data"][0].get("occurrences").is_none(), "lists leave occurrences out");
    app.stop().await;
}

#[tokio::test]
async fn monthly_on_the_31st_takes_the_last_day_and_daylight_saving_keeps_the_hour() {
    let clock = ManualClock::new(t("2026-01-01T00:00:00Z"));
    let app = spawn_at(&clock, Arc::new(tempfile::tempdir().unwrap())).await;
    let (key, device) = app.connected_tenant("t").await;
    let body = json!({
        "device_id": device, "to": "+60123000002", "message": {"text": "Invoice day"},
        "start_at": "2026-01-31 09:00", "timezone": "America/New_York", "repeat": {"every": "monthly"},
    });
    let id = create(&app, &key, body).await["id"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    for now in ["2026-01-31T13:55:00Z", "2026-02-28T13:55:00Z", "2026-03-31T12:55:00Z"] {
        clock.set(t(now));
        step(&app).await;
        let r = get(&app, &key, &id).await;
        seen.push((r["next_at"].as_str().unwrap().to_owned(), r["next_at_local"].as_str().unwrap().to_owned()));
    }
    assert_eq!(
        seen,
        [
            ("2026-02-28T14:00:00Z".to_owned(), "2026-02-28 09:00:00".to_owned()),
            ("2026-03-31T13:00:00Z".to_owned(), "2026-03-31 09:00:00".to_owned()),
            ("2026-04-30T13:00:00Z".to_owned(), "2026-04-30 09:00:00".to_owned()),
        ],
        "clamped to the month's end, 09:00 New York time before and after the clocks change"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_reminder_can_be_paused_resumed_changed_and_deleted() {
    let clock = ManualClock::new(t("2026-05-01T08:55:00Z"));
    let app = spawn_at(&clock, Arc::new(tempfile::tempdir().unwrap())).await;
    let (key, _) = app.connected_tenant("t").await;
    let (_, other_key) = app.tenant("other").await;
    let body = json!({"to": "+60123000003", "message": {"text": "Standup"}, "start_at": "2026-05-01T09:00:00Z", "repeat": {"every": "days", "days": 2}});
    let created = create(&app, &key, body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/reminders/{id}");
    let first = occurrence_ids(&get(&app, &key, &id).await);
    assert_eq!(first.len(), 1, "due within minutes: made at once");
    assert_error(&app.get(&path, &other_key).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.call(Method::DELETE, &path, Some(&other_key), None).await, StatusCode::NOT_FOUND, "not_found");

    let (status, paused) = app.call(Method::PATCH, &path, Some(&key), Some(json!({"status": "paused"}))).await;
    assert_eq!((status, &paused["status"]), (StatusCode::OK, &json!("paused")), "{paused}");
    app.wait_message(&key, &first[0], "cancelled").await;
    clock.set(t("2026-05-03T09:30:00Z"));
    step(&app).await;
    assert_eq!(occurrence_ids(&get(&app, &key, &id).await).len(), 1, "a paused reminder makes nothing");

    let change = json!({"status": "active", "message": {"text": "Standup, room 2"}});
    let (status, resumed) = app.call(Method::PATCH, &path, Some(&key), Some(change)).await;
    assert_eq!(
        (status, &resumed["status"], &resumed["next_at"]),
        (StatusCode::OK, &json!("active"), &json!("2026-05-05T09:00:00Z")),
        "{resumed}"
    );
    clock.set(t("2026-05-05T08:55:00Z"));
    step(&app).await;
    let ids = occurrence_ids(&get(&app, &key, &id).await);
    let next = app.wait_message(&key, &ids[0], "scheduled").await;
    assert_eq!(next["content"]["text"]["body"], "Standup, room 2");

    let (status, _) = app.call(Method::DELETE, &path, Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.wait_message(&key, &ids[0], "cancelled").await;
    assert_error(&app.get(&path, &key).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn bad_reminders_are_refused_naming_the_field() {
    let clock = ManualClock::new(t("2026-05-01T00:00:00Z"));
    let app = spawn_at(&clock, Arc::new(tempfile::tempdir().unwrap())).await;
    let (key, _) = app.connected_tenant("t").await;
    let good = json!({"to": "+60123000004", "message": {"text": "hi"}, "start_at": "2026-05-02 09:00:00", "repeat": {"every": "daily"}});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("timezone", json!("Mars/Olympus")), "timezone"),
        (with("start_at", json!("tomorrow")), "start_at"),
        (with("start_at", json!("2026-04-30 09:00:00")), "start_at"),
        (with("repeat", json!({"every": "hourly"})), "repeat.every"),
        (with("repeat", json!({"every": "days"})), "repeat.days"),
        (with("repeat", json!({"every": "days", "days": 0})), "repeat.days"),
        (with("repeat", json!({"every": "daily", "days": 3})), "repeat.days"),
        (with("until", json!("2026-05-01")), "until"),
        (with("until", json!("soon")), "until"),
        (with("count", json!(0)), "count"),
        (with("to", json!("+999 123")), "to"),
        (with("message", json!({"type": "text"})), "message.text"),
        (with("message", json!({"type": "telepathy"})), "message.type"),
        (with("title", json!("x".repeat(300))), "title"),
        (with("device_id", json!("dev_nope")), "device_id"),
    ] {
        let got = app.post("/v1/reminders", &key, body.clone()).await;
        assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", got.1);
        assert_eq!(got.1["error"]["field"], field, "{body}: {}", got.1);
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("repeat");
    assert_eq!(app.post("/v1/reminders", &key, missing).await.1["error"]["field"], "repeat");
    app.stop().await;
}
