//! The main user journeys: link a sandbox device, send, watch it move to read, receive.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn quickstart_send_goes_pending_sent_delivered_read() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("Acme Cleaning").await;
    let (device, _) = app.device(&key, "front desk").await;

    // Linking shows a real QR code, as JSON with a PNG data URL, or as an image.
    let (status, body) = app.post(&format!("/v1/devices/{device}/connect"), &key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let body = app.wait_device(&key, &device, "awaiting_scan").await;
    assert!(body["qr_expires_at"].is_string(), "{body}");
    let (status, qr) = app.get(&format!("/v1/devices/{device}/qr"), &key).await;
    assert_eq!(status, StatusCode::OK, "{qr}");
    assert!(qr["qr"].as_str().unwrap().len() > 20);
    assert!(qr["image"].as_str().unwrap().starts_with("data:image/png;base64,"));
    let png = app
        .client
        .get(format!("{}/v1/devices/{device}/qr", app.base))
        .bearer_auth(&key)
        .header("accept", "image/png")
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[1..4], b"PNG");
    let svg = app
        .client
        .get(format!("{}/v1/devices/{device}/qr", app.base))
        .bearer_auth(&key)
        .header("accept", "image/svg+xml")
        .send()
        .await
        .unwrap();
    assert!(svg.text().await.unwrap().contains("<svg"));

    let (status, scanned) = app.post(&format!("/v1/sandbox/devices/{device}/scan"), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{scanned}");
    let linked = app.wait_device(&key, &device, "connected").await;
    assert_eq!(linked["phone"], scanned["phone"]);

    // A local number with the default country (MY) is normalized to E.164.
    let (status, msg) = app.send_text(&key, "012-345 6789", "Your booking is confirmed").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{msg}");
    assert_eq!(msg["status"], "pending");
    assert_eq!(msg["to"], "+60123456789");
    assert_eq!(msg["device_id"], device);
    let id = msg["id"].as_str().unwrap();
    assert!(id.starts_with("msg_"));

    let read = app.wait_message(&key, id, "read").await;
    let history: Vec<&str> = read["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(history, ["pending", "sent", "delivered", "read"]);
    assert_eq!(read["network_id"], id, "the sandbox uses Kirim's id as the network id");

    // Every step is in the event log, in order.
    let (_, events) = app.get("/v1/events?type=message.read", &key).await;
    assert_eq!(events["data"][0]["data"]["id"], id);
    let (_, all) = app.get("/v1/events", &key).await;
    let types: Vec<&str> = all["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    let pos = |t: &str| types.iter().position(|x| *x == t).unwrap_or_else(|| panic!("{t} missing from {types:?}"));
    assert!(pos("device.created") < pos("device.status"));
    assert!(pos("message.queued") < pos("message.sent"));
    assert!(pos("message.sent") < pos("message.delivered"));
    assert!(pos("message.delivered") < pos("message.read"));
    app.stop().await;
}

#[tokio::test]
async fn inbound_is_stored_listed_and_deduplicated() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let body = json!({"from": "+60 12-999 8888", "text": "DONE", "network_id": "ABCDEF123"});
    let (status, first) = app.post(&format!("/v1/sandbox/devices/{device}/inbound"), &key, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    // The network delivers the same message again: still one stored message and one event.
    let (status, _) = app.post(&format!("/v1/sandbox/devices/{device}/inbound"), &key, body).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app.get("/v1/messages?direction=inbound", &key).await;
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{list}");
    assert_eq!(data[0]["from"], "+60129998888");
    assert_eq!(data[0]["status"], "received");
    assert_eq!(data[0]["content"]["text"]["body"], "DONE");
    let (_, events) = app.get("/v1/events?type=message.received", &key).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    assert_eq!(events["data"][0]["data"]["content"]["text"]["body"], "DONE");
    app.stop().await;
}

#[tokio::test]
async fn two_sandbox_devices_can_message_each_other() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("t").await;
    let (a, _) = app.device(&key, "a").await;
    let (b, _) = app.device(&key, "b").await;
    let phone_a = app.link(&key, &a).await;
    let phone_b = app.link(&key, &b).await;
    let (status, _) = app.post("/v1/messages", &key, json!({"device_id": a, "to": phone_b, "text": {"body": "hello b"}})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let list = app
        .wait_for(&key, &format!("/v1/messages?direction=inbound&device_id={b}"), |b| b["data"].as_array().is_some_and(|d| !d.is_empty()))
        .await;
    assert_eq!(list["data"][0]["from"], phone_a);
    assert_eq!(list["data"][0]["content"]["text"]["body"], "hello b");
    app.stop().await;
}

#[tokio::test]
async fn idempotency_key_returns_the_original_and_refuses_a_different_body() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let send = |body: serde_json::Value, k: &'static str| {
        app.client.post(format!("{}/v1/messages", app.base)).bearer_auth(&key).header("Idempotency-Key", k).json(&body).send()
    };
    let body = json!({"device_id": device, "to": "+60123456789", "text": {"body": "once"}});
    let first = send(body.clone(), "order-42").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = send(body, "order-42").await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let other = send(json!({"device_id": device, "to": "+60123456789", "text": {"body": "different"}}), "order-42").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let other: serde_json::Value = other.json().await.unwrap();
    assert_eq!(other["error"]["code"], "idempotency_key_reused");
    // ref_id works as a key too.
    let (s1, m1) = app.post("/v1/messages", &key, json!({"to": "+60123456789", "text": {"body": "x"}, "ref_id": "inv-1"})).await;
    let (s2, m2) = app.post("/v1/messages", &key, json!({"to": "+60123456789", "text": {"body": "x"}, "ref_id": "inv-1"})).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(m1["id"], m2["id"]);
    let (_, list) = app.get("/v1/messages?ref_id=inv-1", &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn queued_while_disconnected_then_priority_first_and_cancel() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("t").await;
    let (device, _) = app.device(&key, "later").await;
    let send = |body: &'static str, priority: i64| {
        app.post("/v1/messages", &key, json!({"device_id": device, "to": "+60123456789", "text": {"body": body}, "priority": priority}))
    };
    let (_, low) = send("low", 0).await;
    let (_, cancel_me) = send("cancel me", 0).await;
    let (_, high) = send("high", 9).await;
    let (status, cancelled) = app.post(&format!("/v1/messages/{}/cancel", cancel_me["id"].as_str().unwrap()), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    // Nothing leaves before the device is linked.
    let (_, pending) = app.get(&format!("/v1/messages/{}", low["id"].as_str().unwrap()), &key).await;
    assert_eq!(pending["status"], "pending");

    app.link(&key, &device).await;
    app.wait_message(&key, low["id"].as_str().unwrap(), "read").await;
    let (_, received) = app.get(&format!("/v1/sandbox/devices/{device}/received"), &key).await;
    let order: Vec<&str> = received["data"].as_array().unwrap().iter().map(|m| m["network_id"].as_str().unwrap()).collect();
    assert_eq!(order, [high["id"].as_str().unwrap(), low["id"].as_str().unwrap()], "high priority first, cancelled never sent");
    // A sent message can no longer be cancelled.
    let late = app.post(&format!("/v1/messages/{}/cancel", low["id"].as_str().unwrap()), &key, json!({})).await;
    assert_error(&late, StatusCode::CONFLICT, "not_cancellable");
    app.stop().await;
}

#[tokio::test]
async fn transient_failures_are_retried_then_failed_with_a_reason() {
    let app = TestApp::spawn_with(&[("KIRIM_SANDBOX_FAILURE_RATE", "1.0"), ("KIRIM_SENDING_MAX_ATTEMPTS", "3")]).await;
    let (key, _) = app.connected_tenant("t").await;
    let (_, msg) = app.send_text(&key, "+60123456789", "will fail").await;
    let failed = app.wait_message(&key, msg["id"].as_str().unwrap(), "failed").await;
    assert_eq!(failed["attempts"], 3);
    assert!(failed["error"].as_str().unwrap().contains("gave up after 3 attempts"), "{failed}");
    let (_, events) = app.get("/v1/events?type=message.retrying", &key).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2, "two retries before the third, final attempt");
    app.stop().await;
}

#[tokio::test]
async fn not_on_whatsapp_fails_at_once() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let (_, msg) = app.send_text(&key, "+60 19-999 0123", "hello?").await;
    let failed = app.wait_message(&key, msg["id"].as_str().unwrap(), "failed").await;
    assert_eq!(failed["attempts"], 1);
    assert!(failed["error"].as_str().unwrap().contains("not on WhatsApp"), "{failed}");
    app.stop().await;
}

#[tokio::test]
async fn restart_resumes_linked_devices_and_sends_what_was_queued() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    app.post(&format!("/v1/sandbox/devices/{device}/disconnect"), &key, json!({})).await;
    app.wait_device(&key, &device, "disconnected").await;
    let (status, msg) = app.send_text(&key, "+60123456789", "survives a restart").await;
    assert_eq!(status, StatusCode::ACCEPTED, "queued on the only device even while it is offline");
    let (_, still) = app.get(&format!("/v1/messages/{}", msg["id"].as_str().unwrap()), &key).await;
    assert_eq!(still["status"], "pending");
    // After a restart the linked session resumes by itself, as a real linked phone does.
    let app = app.restart().await;
    app.wait_device(&key, &device, "connected").await;
    app.wait_message(&key, msg["id"].as_str().unwrap(), "read").await;
    app.stop().await;
}

#[tokio::test]
async fn operations_endpoints_describe_the_service() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    app.send_text(&key, "+60123456789", "count me").await;
    let (status, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    let (status, spec) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(spec["paths"]["/v1/messages"]["post"].is_object());
    let docs = app.client.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert!(docs.text().await.unwrap().contains("/openapi.json"));
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("kirim_queue_depth{status=\"pending\"}") || metrics.contains("kirim_queue_depth{status=\"sent\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("kirim_devices{status=\"connected\"} 1"), "{metrics}");
    assert!(metrics.contains("route=\"/v1/messages\""), "latency by matched route: {metrics}");
    assert!(!metrics.contains("msg_"), "raw paths never become labels");
    app.stop().await;
}

/// The WhatsApp Web connector is offered by default: a device for it is created unlinked (so
/// nothing reaches out to WhatsApp), and its session figures are in `/metrics`.
#[tokio::test]
async fn whatsapp_web_devices_are_offered_and_counted() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("t").await;
    let (status, device) = app.post("/v1/devices", &key, json!({"name": "shop phone", "connector": "whatsapp-web"})).await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    assert_eq!(device["connector"], "whatsapp-web");
    assert_eq!(device["status"], "disconnected");
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kirim_whatsapp_web_connected 0"), "{metrics}");
    assert!(metrics.contains("kirim_whatsapp_web_events_total{event=\"reconnects\"} 0"), "{metrics}");
    app.stop().await;
    let app = TestApp::spawn_with(&[("KIRIM_WHATSAPP_WEB_ENABLED", "false")]).await;
    let (_, key) = app.tenant("t").await;
    let refused = app.post("/v1/devices", &key, json!({"name": "shop phone", "connector": "whatsapp-web"})).await;
    let error = assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["error"]["field"], "connector", "switched off, the connector is not offered: {error}");
    app.stop().await;
}

#[tokio::test]
async fn pairing_code_links_the_given_number() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("t").await;
    let (device, _) = app.device(&key, "by code").await;
    let (status, body) = app.post(&format!("/v1/devices/{device}/pair-code"), &key, json!({"phone": "012-345 6789"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let waiting = app.wait_device(&key, &device, "awaiting_pair_code").await;
    let code = waiting["pair_code"].as_str().unwrap();
    assert_eq!(code.len(), 9, "an 8-character code shown as XXXX-XXXX: {code}");
    let (status, _) = app.post(&format!("/v1/sandbox/devices/{device}/scan"), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let linked = app.wait_device(&key, &device, "connected").await;
    assert_eq!(linked["phone"], "+60123456789");
    assert!(linked["pair_code"].is_null(), "the code is gone once used");
    // Logging out unlinks it.
    let (status, out) = app.post(&format!("/v1/devices/{device}/logout"), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    app.wait_device(&key, &device, "logged_out").await;
    app.stop().await;
}

#[tokio::test]
async fn pacing_spaces_out_a_devices_sends() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("t").await;
    let (status, body) = app
        .post(
            "/v1/devices",
            &key,
            json!({"name": "paced", "connector": "sandbox", "settings": {"pacing_ms": 300, "pacing_jitter_ms": 0, "max_attempts": 3}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let device = body["id"].as_str().unwrap().to_owned();
    app.link(&key, &device).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, m) =
            app.post("/v1/messages", &key, json!({"device_id": device, "to": "+60123456789", "text": {"body": format!("n{i}")}})).await;
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    app.wait_message(&key, &ids[2], "read").await;
    let (_, received) = app.get(&format!("/v1/sandbox/devices/{device}/received"), &key).await;
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        received["data"].as_array().unwrap().iter().map(|m| m["at"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(times.len(), 3);
    for pair in times.windows(2) {
        let gap = (pair[1] - pair[0]).num_milliseconds();
        assert!(gap >= 290, "sends were {gap} ms apart; pacing is 300 ms");
    }
    app.stop().await;
}

#[tokio::test]
async fn api_key_use_is_recorded() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("t").await;
    let (_, before) = app.get(&format!("/v1/tenants/{tenant}/keys"), &key).await;
    let state = app.running.as_ref().unwrap().state.clone();
    kirim::workers::housekeeping::step(&state).await.unwrap();
    let (_, after) = app.get(&format!("/v1/tenants/{tenant}/keys"), &key).await;
    assert!(before["data"][0]["last_used_at"].is_null() || before["data"][0]["last_used_at"].is_string());
    assert!(after["data"][0]["last_used_at"].is_string(), "{after}");
    app.stop().await;
}
