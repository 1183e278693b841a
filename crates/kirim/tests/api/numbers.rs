//! `POST /v1/numbers/check` through the sandbox: per-number answers in order, device choice,
//! tenancy, device tokens, bad input.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestApp, assert_error};

#[tokio::test]
async fn numbers_are_checked_one_answer_each_in_order() {
    let app = TestApp::spawn().await;
    let (key, dev) = app.connected_tenant("Acme").await;
    let phones = json!(["012-345 6789", 60123456789u64, "+60199990001", "+60 11-2222 3333"]);
    let (status, body) = app.post("/v1/numbers/check", &key, json!({"phones": phones})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["device_id"], dev.as_str(), "the tenant's connected device asks");
    let data = body["data"].as_array().unwrap();
    let got: Vec<(&str, &str, bool)> =
        data.iter().map(|c| (c["input"].as_str().unwrap(), c["phone"].as_str().unwrap(), c["on_whatsapp"].as_bool().unwrap())).collect();
    assert_eq!(
        got,
        [
            ("012-345 6789", "+60123456789", true),
            ("60123456789", "+60123456789", true),
            ("+60199990001", "+60199990001", false),
            ("+60 11-2222 3333", "+601122223333", true),
        ]
    );
    assert_eq!(data[0]["jid"], "60123456789@s.whatsapp.net");
    assert_eq!(data[2]["jid"], json!(null));

    // Naming the device gives the same answers.
    let (status, named) = app.post("/v1/numbers/check", &key, json!({"device_id": dev, "phones": ["+60199990001"]})).await;
    assert_eq!(status, StatusCode::OK, "{named}");
    assert_eq!(named["data"][0]["on_whatsapp"], false);
    app.stop().await;
}

#[tokio::test]
async fn number_checks_need_a_connected_device_of_ones_own() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("Acme").await;
    let (dev1, token1) = app.device(&key, "one").await;
    let (dev2, _) = app.device(&key, "two").await;
    let body = |device: Option<&str>| match device {
        Some(d) => json!({"device_id": d, "phones": ["+60123456789"]}),
        None => json!({"phones": ["+60123456789"]}),
    };

    assert_error(&app.post("/v1/numbers/check", &key, body(None)).await, StatusCode::CONFLICT, "no_connected_device");
    assert_error(&app.post("/v1/numbers/check", &key, body(Some(&dev1))).await, StatusCode::CONFLICT, "device_not_connected");
    app.link(&key, &dev1).await;
    app.link(&key, &dev2).await;

    // A device token asks through its own device, and may not name another.
    let (status, own) = app.post("/v1/numbers/check", &token1, body(None)).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["device_id"], dev1.as_str());
    let other = assert_error(&app.post("/v1/numbers/check", &token1, body(Some(&dev2))).await, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(other["error"]["field"], "device_id");

    // Another tenant's device is not found.
    let (_, other_key) = app.tenant("Other").await;
    assert_error(&app.post("/v1/numbers/check", &other_key, body(Some(&dev1))).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.post("/v1/numbers/check", &other_key, body(None)).await, StatusCode::CONFLICT, "no_connected_device");
    app.stop().await;
}

#[tokio::test]
async fn bad_number_checks_name_the_field() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("Acme").await;
    let many: Vec<String> = (0..101).map(|i| format!("+6012345{i:04}")).collect();
    let cases = [
        (json!({}), "phones"),
        (json!({"phones": []}), "phones"),
        (json!({"phones": many}), "phones"),
        (json!({"phones": "+60123456789"}), "phones"),
        (json!({"phones": ["+60123456789", "hello"]}), "phones[1]"),
        (json!({"phones": [null]}), "phones[0]"),
        (json!({"phones": ["+60123456789"], "device": "x"}), "device"),
        (json!({"phones": ["+60123456789"], "device_id": 7}), "device_id"),
    ];
    for (body, field) in cases {
        let got = app.post("/v1/numbers/check", &key, body.clone()).await;
        let error = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    let unknown = app.post("/v1/numbers/check", &key, json!({"device_id": "dev_nope", "phones": ["+60123456789"]})).await;
    assert_eq!(assert_error(&unknown, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "device_id");
    app.stop().await;
}
