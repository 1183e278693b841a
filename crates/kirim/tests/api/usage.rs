//! Usage tokens and device limits through the API: parallel sends at the budget, the reset at
//! midnight UTC on a paused clock, refunds, a restart, an expired device, an exhausted quota.

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
    let env = fast_env(&dir);
    let loaded = Config::load_from(&Overrides::default(), &env).expect("test configuration");
    let built = app::build(loaded.config, Arc::new(clock.clone())).await.expect("build app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = app::start(built, listener).await.expect("start app");
    TestApp { base: format!("http://{}", running.addr), client: reqwest::Client::new(), running: Some(running), dir, env }
}

/// A tenant with a connected device and this daily budget: (tenant id, api key, device id).
async fn budgeted(app: &TestApp, name: &str, limit: Value) -> (String, String, String) {
    let (tenant, key) = app.tenant(name).await;
    let (device, _) = app.device(&key, "phone").await;
    app.link(&key, &device).await;
    let (status, body) =
        app.call(Method::PATCH, &format!("/v1/tenants/{tenant}"), Some(ADMIN), Some(json!({"daily_token_limit": limit}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["daily_token_limit"], limit);
    (tenant, key, device)
}

async fn usage(app: &TestApp, key: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/usage{query}"), key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn limits(app: &TestApp, device: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, &format!("/v1/devices/{device}/limits"), Some(ADMIN), Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_sends_at_the_limit_accept_exactly_the_budget() {
    let app = TestApp::spawn().await;
    let (_, key, _) = budgeted(&app, "t", json!(25)).await;
    let sends: Vec<_> = (0..60)
        .map(|i| {
            let request = app.client.post(format!("{}/v1/messages", app.base)).bearer_auth(&key).json(&json!({
                "to": format!("+6012300{i:04}"), "type": "text", "text": {"body": "hi"}
            }));
            tokio::spawn(async move {
                let response = request.send().await.expect("send");
                (response.status(), response.json::<Value>().await.expect("json"))
            })
        })
        .collect();
    let mut accepted = 0;
    for send in sends {
        let (status, body) = send.await.unwrap();
        match status {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let e = &body["error"];
                assert_eq!(e["code"], "token_budget_exhausted", "{body}");
                assert_eq!((e["cost"].as_u64(), e["remaining"].as_u64(), e["limit"].as_u64()), (Some(1), Some(0), Some(25)), "{body}");
                assert!(e["resets_at"].as_str().is_some_and(|r| r.ends_with("T00:00:00Z")), "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted, 25, "never over, never under the budget");
    let report = usage(&app, &key, "").await;
    assert_eq!((report["used"].as_u64(), report["remaining"].as_u64()), (Some(25), Some(0)), "{report}");
    assert_eq!(report["history"][0]["messages"], 25);

    // An image costs 2: with one token left it is refused, a text still fits.
    let (_, key2, _) = budgeted(&app, "t2", json!(3)).await;
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD.encode(crate::files::png());
    let (status, media) = app.post("/v1/media", &key2, json!({"data": png, "type": "image", "filename": "a.png"})).await;
    assert_eq!(status, StatusCode::CREATED, "{media}");
    let image = json!({"to": "+60123456789", "type": "image", "image": {"media_id": media["id"]}});
    let (status, _) = app.send_text(&key2, "+60123456789", "one").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = app.send_text(&key2, "+60123456789", "two").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let got = app.post("/v1/messages", &key2, image).await;
    let e = assert_error(&got, StatusCode::TOO_MANY_REQUESTS, "token_budget_exhausted");
    assert_eq!((e["error"]["cost"].as_u64(), e["error"]["remaining"].as_u64()), (Some(2), Some(1)));
    app.stop().await;
}

#[tokio::test]
async fn a_refused_item_in_a_batch_refuses_only_itself() {
    let app = TestApp::spawn().await;
    let (_, key, _) = budgeted(&app, "t", json!(3)).await;
    let items: Vec<Value> = (0..5).map(|i| json!({"to": format!("+6012345000{i}"), "text": "x"})).collect();
    let (status, out) = app.post("/v1/messages/batch", &key, json!({"items": items})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{out}");
    assert_eq!((out["accepted"].as_u64(), out["refused"].as_u64()), (Some(3), Some(2)), "{out}");
    let codes: Vec<Value> = out["data"].as_array().unwrap().iter().map(|r| r["error"]["code"].clone()).collect();
    assert_eq!(codes, [Value::Null, Value::Null, Value::Null, json!("token_budget_exhausted"), json!("token_budget_exhausted")]);
    app.stop().await;
}

#[tokio::test]
async fn the_budget_renews_at_midnight_utc_and_survives_a_restart() {
    let clock = ManualClock::new(t("2026-03-01T23:58:30Z"));
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let app = spawn_at(&clock, dir.clone()).await;
    let (tenant, key, _) = budgeted(&app, "t", json!(2)).await;
    for body in ["a", "b"] {
        assert_eq!(app.send_text(&key, "+60123456789", body).await.0, StatusCode::ACCEPTED);
    }
    let response = app
        .client
        .post(format!("{}/v1/messages", app.base))
        .bearer_auth(&key)
        .json(&json!({"to": "+60123456789", "text": "c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "90", "seconds until 00:00 UTC");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["resets_at"], "2026-03-02T00:00:00Z", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("0 of today's 2"), "{body}");

    // Exact across a restart: the counter is a row, not memory.
    app.stop().await;
    let app = spawn_at(&clock, dir.clone()).await;
    assert_eq!(
        assert_error(&app.send_text(&key, "+60123456789", "c").await, StatusCode::TOO_MANY_REQUESTS, "token_budget_exhausted")["error"]["remaining"],
        0
    );

    clock.set(t("2026-03-02T00:00:00Z"));
    assert_eq!(app.send_text(&key, "+60123456789", "new day").await.0, StatusCode::ACCEPTED);
    let report = usage(&app, &key, "?days=3").await;
    assert_eq!(report["resets_at"], "2026-03-03T00:00:00Z");
    assert_eq!((report["used"].as_u64(), report["remaining"].as_u64()), (Some(1), Some(1)));
    let days: Vec<(Value, Value)> = report["history"].as_array().unwrap().iter().map(|d| (d["date"].clone(), d["used"].clone())).collect();
    assert_eq!(days, [(json!("2026-03-02"), json!(1)), (json!("2026-03-01"), json!(2)), (json!("2026-02-28"), json!(0))]);

    // The operator reads any tenant's usage; a tenant only its own.
    let admin = usage(&app, ADMIN, &format!("?tenant_id={tenant}&days=1")).await;
    assert_eq!(admin["used"], 1);
    let (_, other) = app.tenant("other").await;
    let got = app.get(&format!("/v1/usage?tenant_id={tenant}"), &other).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.get("/v1/usage?days=91", &key).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    app.stop().await;
}

#[tokio::test]
async fn cancelled_and_failed_messages_give_their_tokens_back() {
    let app = TestApp::spawn().await;
    let (_, key, _) = budgeted(&app, "t", json!(2)).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (status, scheduled) = app.post("/v1/messages", &key, json!({"to": "+60123456789", "text": "x", "scheduled_at": later})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "scheduled messages are charged when accepted: {scheduled}");
    assert_eq!(app.send_text(&key, "+60123456789", "kept").await.0, StatusCode::ACCEPTED);
    assert_error(&app.send_text(&key, "+60123456789", "over").await, StatusCode::TOO_MANY_REQUESTS, "token_budget_exhausted");

    let (status, _) = app.post(&format!("/v1/messages/{}/cancel", scheduled["id"].as_str().unwrap()), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, failing) = app.send_text(&key, "+60 19-999 0123", "not on WhatsApp").await;
    assert_eq!(status, StatusCode::ACCEPTED, "the cancel gave its token back: {failing}");
    app.wait_message(&key, failing["id"].as_str().unwrap(), "failed").await;
    let report = usage(&app, &key, "?days=1").await;
    let today = &report["history"][0];
    assert_eq!((today["charged"].as_u64(), today["refunded"].as_u64(), today["used"].as_u64()), (Some(3), Some(2), Some(1)), "{report}");
    assert_eq!(app.send_text(&key, "+60123456789", "fits again").await.0, StatusCode::ACCEPTED);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_device_refuses_sends() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let by_tenant = app
        .call(Method::PUT, &format!("/v1/devices/{device}/limits"), Some(&key), Some(json!({"expires_at": "2020-01-01T00:00:00Z"})))
        .await;
    assert_error(&by_tenant, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = limits(&app, &device, json!({"expires_at": "2020-01-01T00:00:00Z"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = app.send_text(&key, "+60123456789", "too late").await;
    let e = assert_error(&got, StatusCode::FORBIDDEN, "device_expired");
    assert_eq!((e["error"]["field"].as_str(), e["error"]["expired_at"].as_str()), (Some("device_id"), Some("2020-01-01T00:00:00Z")));
    let (_, view) = app.get(&format!("/v1/devices/{device}"), &key).await;
    assert_eq!(view["expires_at"], "2020-01-01T00:00:00Z");

    // Renewed: it sends again.
    let (status, _) = limits(&app, &device, json!({"expires_at": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.send_text(&key, "+60123456789", "renewed").await.0, StatusCode::ACCEPTED);
    assert_error(&limits(&app, "dev_unknown", json!({})).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn an_exhausted_quota_refuses_sends_until_a_message_gives_its_unit_back() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let (status, body) = limits(&app, &device, json!({"quota": 2})).await;
    assert_eq!((status, body["quota"].as_u64()), (StatusCode::OK, Some(2)), "{body}");
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, scheduled) = app.post("/v1/messages", &key, json!({"to": "+60123456789", "text": "x", "scheduled_at": later})).await;
    assert_eq!(app.send_text(&key, "+60123456789", "second").await.0, StatusCode::ACCEPTED);
    let got = app.send_text(&key, "+60123456789", "third").await;
    assert_eq!(assert_error(&got, StatusCode::FORBIDDEN, "device_quota_exhausted")["error"]["field"], "device_id");
    let (_, view) = app.get(&format!("/v1/devices/{device}"), &key).await;
    assert_eq!(view["quota"], 0);

    app.post(&format!("/v1/messages/{}/cancel", scheduled["id"].as_str().unwrap()), &key, json!({})).await;
    let (_, view) = app.get(&format!("/v1/devices/{device}"), &key).await;
    assert_eq!(view["quota"], 1, "the cancelled message gave its unit back");
    assert_eq!(app.send_text(&key, "+60123456789", "third, again").await.0, StatusCode::ACCEPTED);
    // Cleared: unlimited.
    let (status, _) = limits(&app, &device, json!({"quota": null})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.send_text(&key, "+60123456789", "fourth").await.0, StatusCode::ACCEPTED);
    app.stop().await;
}

#[tokio::test]
async fn a_job_whose_message_the_budget_cannot_pay_for_is_not_created() {
    let app = TestApp::spawn().await;
    let (_, key, _) = budgeted(&app, "cleaners", json!(1)).await;
    let (status, body) = app.send_text(&key, "0123000001", "the last token").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job = json!({"worker_phone": "0123000002", "client_name": "Puan Siti", "task": "Deep cleaning", "location": "Jalan Ampang"});
    let refused = assert_error(&app.post("/v1/jobs", &key, job).await, StatusCode::TOO_MANY_REQUESTS, "token_budget_exhausted");
    assert!(refused["error"]["message"].as_str().unwrap().contains("renews"), "{refused}");
    let (_, jobs) = app.get("/v1/jobs", &key).await;
    assert_eq!(jobs["data"], json!([]), "no job without its message");
}
