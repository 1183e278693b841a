//! Bad input gets a 4xx JSON error that names the field and says what to do — never a 500.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

fn field(got: &(StatusCode, Value), status: StatusCode, field: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["field"], field, "{}", got.1);
    assert!(got.1["error"]["message"].as_str().unwrap().len() > 10, "{}", got.1);
}

#[tokio::test]
async fn sending_rejects_bad_input_naming_the_field() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (json!({"text": {"body": "x"}}), unprocessable, "to"),
        (json!({"to": "+60123456789"}), unprocessable, "type"),
        (json!({"to": "+60123456789", "text": ["x"]}), unprocessable, "text"),
        (json!({"to": "+60123456789", "text": {}}), unprocessable, "text.body"),
        (json!({"to": "+60123456789", "text": {"body": ""}}), unprocessable, "text.body"),
        (json!({"to": "+60123456789", "text": {"body": "x".repeat(4097)}}), unprocessable, "text.body"),
        (json!({"to": "+60123456789", "text": {"body": 5}}), unprocessable, "text.body"),
        (json!({"to": "not a phone", "text": {"body": "x"}}), unprocessable, "to"),
        (json!({"to": "+999 123", "text": {"body": "x"}}), unprocessable, "to"),
        (json!({"to": true, "text": {"body": "x"}}), unprocessable, "to"),
        (json!({"to": "+60123456789", "type": "carrier-pigeon", "text": {"body": "x"}}), unprocessable, "type"),
        (json!({"to": "+60123456789", "text": {"body": "x"}, "priority": 99}), unprocessable, "priority"),
        (json!({"to": "+60123456789", "text": {"body": "x"}, "priority": "high"}), unprocessable, "priority"),
        (json!({"to": "+60123456789", "text": {"body": "x"}, "device_id": "nope"}), unprocessable, "device_id"),
        (
            json!({"to": "+60123456789", "text": {"body": "x"}, "device_id": "dev_01jd3w5x8mq2v7h4k9r6t0b1cz"}),
            StatusCode::NOT_FOUND,
            "device_id",
        ),
        (json!({"to": "+60123456789", "text": {"body": "x"}, "ref_id": "x".repeat(300)}), unprocessable, "ref_id"),
        (json!({"to": "+60123456789", "text": {"body": "x"}, "colour": "red"}), unprocessable, "colour"),
        (json!(["not", "an", "object"]), unprocessable, "body"),
    ];
    for (body, status, name) in cases {
        let got = app.post("/v1/messages", &key, body.clone()).await;
        field(&got, status, name);
    }
    // Local numbers need a country.
    let app2 = TestApp::spawn_with(&[("KIRIM_DEFAULT_COUNTRY", "")]).await;
    let (key2, _) = app2.connected_tenant("t").await;
    let got = app2.send_text(&key2, "012-345 6789", "x").await;
    field(&got, unprocessable, "to");
    assert!(got.1["error"]["message"].as_str().unwrap().contains("country code"));
    app2.stop().await;

    // Not JSON, wrong content type, too large, wrong method, unknown route.
    let not_json = app
        .client
        .post(format!("{}/v1/messages", app.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"to\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(not_json.json::<Value>().await.unwrap()["error"]["code"], "invalid_json");
    let form = app
        .client
        .post(format!("{}/v1/messages", app.base))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"to": "+60123456789", "text": {"body": "x".repeat(4_000_000)}});
    let too_big = app.client.post(format!("{}/v1/messages", app.base)).bearer_auth(&key).json(&huge).send().await.unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.json::<Value>().await.unwrap()["error"]["code"], "body_too_large");
    assert_error(&app.call(Method::PUT, "/v1/messages", Some(&key), None).await, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_error(&app.get("/v1/nothing-here", &key).await, StatusCode::NOT_FOUND, "route_not_found");
    // Nothing above was stored.
    let (_, list) = app.get(&format!("/v1/messages?device_id={device}"), &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    app.stop().await;
}

#[tokio::test]
async fn other_endpoints_reject_bad_input_naming_the_field() {
    let app = TestApp::spawn().await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    field(&app.post("/v1/tenants", ADMIN, json!({})).await, unprocessable, "name");
    field(&app.post("/v1/tenants", ADMIN, json!({"name": ""})).await, unprocessable, "name");
    field(&app.post("/v1/tenants", ADMIN, json!({"name": 7})).await, unprocessable, "name");
    let (tenant, key) = app.tenant("t").await;
    field(&app.post(&format!("/v1/tenants/{tenant}/keys"), &key, json!({"name": ""})).await, unprocessable, "name");
    field(&app.post("/v1/devices", &key, json!({"name": "x"})).await, unprocessable, "connector");
    field(&app.post("/v1/devices", &key, json!({"name": "x", "connector": "telegram"})).await, unprocessable, "connector");
    field(&app.post("/v1/devices", &key, json!({"name": "x", "connector": "cloud-api"})).await, unprocessable, "connector");
    field(
        &app.post("/v1/devices", &key, json!({"name": "x", "connector": "sandbox", "settings": {"max_attempts": 0}})).await,
        unprocessable,
        "settings.max_attempts",
    );
    field(
        &app.post("/v1/devices", &key, json!({"name": "x", "connector": "sandbox", "settings": {"pacing_ms": -1}})).await,
        unprocessable,
        "settings.pacing_ms",
    );
    field(
        &app.post("/v1/devices", &key, json!({"name": "x", "connector": "sandbox", "settings": {"speed": 1}})).await,
        unprocessable,
        "settings.speed",
    );
    let (device, _) = app.device(&key, "d").await;
    field(&app.call(Method::PATCH, &format!("/v1/devices/{device}"), Some(&key), Some(json!({"name": ""}))).await, unprocessable, "name");
    field(&app.post(&format!("/v1/devices/{device}/connect"), &key, json!({"method": "smoke-signal"})).await, unprocessable, "method");
    field(&app.post(&format!("/v1/devices/{device}/connect"), &key, json!({"method": "pair_code"})).await, unprocessable, "phone");
    field(&app.post(&format!("/v1/devices/{device}/pair-code"), &key, json!({"phone": "abc"})).await, unprocessable, "phone");
    assert_error(&app.get(&format!("/v1/devices/{device}/qr"), &key).await, StatusCode::CONFLICT, "no_qr_code");
    assert_error(&app.get("/v1/devices/not-an-id", &key).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.get("/v1/messages/msg_01jd3w5x8mq2v7h4k9r6t0b1cz", &key).await, StatusCode::NOT_FOUND, "not_found");
    for (query, name) in [
        ("status=lost", "status"),
        ("direction=sideways", "direction"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("since=yesterday", "since"),
        ("before=xyz", "before"),
        ("device_id=bad", "device_id"),
        ("to=12ab", "to"),
        ("colour=red", "colour"),
    ] {
        field(&app.get(&format!("/v1/messages?{query}"), &key).await, unprocessable, name);
    }
    field(&app.get("/v1/events?after=abc", &key).await, unprocessable, "after");
    field(&app.get("/v1/events?type=message.exploded", &key).await, unprocessable, "type");
    field(&app.get("/v1/tenants?limit=9999", ADMIN).await, unprocessable, "limit");
    field(
        &app.post(&format!("/v1/sandbox/devices/{device}/inbound"), &key, json!({"from": "x", "text": "hi"})).await,
        unprocessable,
        "from",
    );
    assert_error(&app.post(&format!("/v1/sandbox/devices/{device}/scan"), &key, json!({})).await, StatusCode::CONFLICT, "not_linking");
    app.stop().await;
}

#[tokio::test]
async fn device_settings_change_only_the_fields_given() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("T").await;
    let body = json!({"name": "  shop  ", "connector": "sandbox", "settings": {"max_attempts": 9}});
    let (status, created) = app.post("/v1/devices", &key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "shop", "names are stored trimmed");
    let id = created["id"].as_str().unwrap();
    let defaults = app.post("/v1/devices", &key, json!({"name": "d", "connector": "sandbox"})).await.1;
    assert_eq!(created["settings"]["max_attempts"], 9);
    assert_eq!(created["settings"]["pacing_ms"], defaults["settings"]["pacing_ms"], "omitted fields take the server defaults");
    let patch = json!({"name": " till 2 ", "settings": {"pacing_ms": 250}});
    let (status, patched) = app.call(Method::PATCH, &format!("/v1/devices/{id}"), Some(&key), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "till 2");
    assert_eq!((patched["settings"]["pacing_ms"].as_u64(), patched["settings"]["max_attempts"].as_u64()), (Some(250), Some(9)));
    let bad = app.call(Method::PATCH, &format!("/v1/devices/{id}"), Some(&key), Some(json!({"settings": {"max_attempts": 0}}))).await;
    assert_eq!(assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "settings.max_attempts");
    let unknown = app.call(Method::PATCH, &format!("/v1/devices/{id}"), Some(&key), Some(json!({"settings": {"pace": 1}}))).await;
    assert_eq!(unknown.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", unknown.1);
    let (_, stored) = app.get(&format!("/v1/devices/{id}"), &key).await;
    assert_eq!((stored["name"].as_str(), stored["settings"]["max_attempts"].as_u64()), (Some("till 2"), Some(9)));
    // An id that is not even text once decoded is just not found, as JSON.
    assert_error(&app.get("/v1/devices/%FF%FE", &key).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}
