//! OnSend's API (reference 002), request by request as its documentation shows them: device
//! token auth, the status words, the four send forms (JSON and form-encoded), Laravel-shaped
//! validation errors, the not-connected refusal, rate-limit headers and 429, and mounting.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::files::{self, FileServer};

const BASE: &str = "/compat/onsend";

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// A request as OnSend's PHP examples make it: `Accept: application/json`, a Bearer token, and
/// a JSON body (or a form with `form: true`).
async fn call(app: &TestApp, path: &str, token: Option<&str>, body: Option<Value>, form: bool) -> Answer {
    let url = format!("{}{path}", app.base);
    let mut request = match &body {
        Some(_) => app.client.post(url),
        None => app.client.get(url),
    }
    .header("accept", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request = match (body, form) {
        (Some(body), true) => {
            let pairs: Vec<(String, String)> = body
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect();
            request.form(&pairs)
        }
        (Some(body), false) => request.json(&body),
        (None, _) => request,
    };
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    Answer { status, headers, body: response.json().await.unwrap_or(Value::Null) }
}

async fn status_of(app: &TestApp, token: &str) -> Value {
    let got = call(app, &format!("{BASE}/api/v1/status"), Some(token), None, false).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    got.body
}

#[tokio::test]
async fn status_names_the_device_and_its_state_in_onsend_words() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (device, token) = app.device(&key, "Samsung A32").await;
    assert_eq!(status_of(&app, &token).await, json!({"name": "Samsung A32", "phone_number": null, "status": "not_connected"}));

    let phone = app.link(&key, &device).await;
    let digits = phone.trim_start_matches('+');
    assert_eq!(status_of(&app, &token).await, json!({"name": "Samsung A32", "phone_number": digits, "status": "connected"}));
    // The short path of one of OnSend's examples answers the same.
    let got = call(&app, &format!("{BASE}/api/status"), Some(&token), None, false).await;
    assert_eq!(got.body["status"], "connected");

    app.post(&format!("/v1/sandbox/devices/{device}/disconnect"), &key, json!({})).await;
    app.wait_device(&key, &device, "disconnected").await;
    assert_eq!(status_of(&app, &token).await["status"], "disconnected");
    let (status, body) = app.post(&format!("/v1/devices/{device}/logout"), &key, json!({})).await;
    assert!(status.is_success(), "{body}");
    app.wait_device(&key, &device, "logged_out").await;
    assert_eq!(status_of(&app, &token).await["status"], "logged_out");
}

#[tokio::test]
async fn the_documented_sends_are_queued_and_reach_the_network() {
    let app = TestApp::spawn().await;
    let server = FileServer::start().await;
    let (_, key) = app.tenant("shop").await;
    let (device, token) = app.device(&key, "phone").await;
    app.link(&key, &device).await;
    let logo = server.serve("logo.png", "image/png", files::png());
    let video = server.serve("myvideo.mp4", "video/mp4", files::mp4());
    let invoice = server.serve("invoice.pdf", "application/pdf", files::pdf());

    let examples = [
        (json!({"phone_number": "60123456789", "message": "Hello world"}), false, "text"),
        (json!({"phone_number": "60123456789", "message": "Hello world"}), true, "text"),
        (json!({"phone_number": "60123456789", "message": "Logo", "type": "image", "url": logo}), false, "image"),
        (json!({"phone_number": "60123456789", "message": "My video", "type": "video", "url": video}), true, "video"),
        (
            json!({"phone_number": "60123456789", "type": "document", "url": invoice, "mimetype": "application/pdf", "filename": "invoice.pdf"}),
            false,
            "document",
        ),
    ];
    let mut numbers = Vec::new();
    for (body, form, kind) in examples {
        let got = call(&app, &format!("{BASE}/api/v1/send"), Some(&token), Some(body.clone()), form).await;
        assert_eq!(got.status, StatusCode::OK, "{body} → {}", got.body);
        assert_eq!(got.body["success"], true, "{}", got.body);
        assert!(got.body["message"].is_string());
        numbers.push(got.body["message_id"].as_i64().expect("message_id is a number"));
        assert!(got.headers.contains_key("x-ratelimit-limit") && got.headers.contains_key("x-ratelimit-remaining"));
        // The same message natively: queued, sent, with the content OnSend's fields describe.
        let id = got.body["id"].as_str().unwrap();
        let sent = app.wait_message(&key, id, "sent").await;
        assert_eq!((sent["to"].as_str(), sent["type"].as_str()), (Some("+60123456789"), Some(kind)), "{sent}");
        match kind {
            "text" => assert_eq!(sent["content"]["text"]["body"], "Hello world"),
            "document" => {
                let doc = &sent["content"]["document"];
                assert_eq!((&doc["filename"], &doc["mime_type"]), (&json!("invoice.pdf"), &json!("application/pdf")));
            }
            media => assert_eq!(sent["content"][media]["caption"], body["message"]),
        }
    }
    numbers.dedup();
    assert_eq!(numbers.len(), 5, "each send has its own message_id");
    let (_, received) = app.get(&format!("/v1/sandbox/devices/{device}/received"), &key).await;
    assert_eq!(received["data"].as_array().unwrap().len(), 5, "{received}");
}

#[tokio::test]
async fn invalid_sends_get_laravel_validation_errors() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (device, token) = app.device(&key, "phone").await;
    app.link(&key, &device).await;
    let path = format!("{BASE}/api/v1/send");
    let send = |body: Value| call(&app, &path, Some(&token), Some(body), false);

    // The documented example: four fields wrong at once.
    let got = send(json!({"phone_number": "12", "message": 123, "type": "image", "mimetype": 5})).await;
    assert_eq!(got.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(got.body["message"], "The phone number field must be a valid phone number. (and 3 more errors)");
    assert_eq!(
        got.body["errors"],
        json!({
            "phone_number": ["The phone number field must be a valid phone number."],
            "message": ["The message field must be a string."],
            "url": ["The url field is required when type is image."],
            "mimetype": ["The mimetype field must be a string."],
        })
    );
    let got = send(json!({})).await;
    assert_eq!(got.body["message"], "The phone number field is required. (and 1 more error)", "{}", got.body);
    assert_eq!(got.body["errors"]["message"], json!(["The message field is required when type is text."]));
    let got = send(json!({"phone_number": "60123456789", "type": "sticker", "url": "https://example.com/a.webp"})).await;
    assert_eq!(got.body["errors"], json!({"type": ["The selected type is invalid."]}), "{}", got.body);
    let got = send(json!({"phone_number": "60123456789", "type": "document", "url": "not a url"})).await;
    assert_eq!(got.body["errors"]["url"], json!(["The url field must be a valid URL."]), "{}", got.body);
    assert_eq!(got.body["errors"]["mimetype"], json!(["The mimetype field is required when type is document."]));
    // Kirim's own checks come back in the same shape, on OnSend's field names.
    let got = send(json!({"phone_number": "60123456789", "type": "image", "url": "http://10.1.2.3/logo.png"})).await;
    assert_eq!(got.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.body);
    assert!(got.body["errors"]["url"][0].is_string(), "{}", got.body);
    let (_, received) = app.get(&format!("/v1/sandbox/devices/{device}/received"), &key).await;
    assert!(received["data"].as_array().unwrap().is_empty(), "nothing invalid was sent");
}

#[tokio::test]
async fn credentials_connection_and_rate_limits_are_answered_as_onsend_does() {
    let app = TestApp::spawn_with(&[("KIRIM_RATE_LIMITS_PER_KEY", "4")]).await;
    let (_, key) = app.tenant("shop").await;
    let (_, token) = app.device(&key, "offline").await;
    let path = format!("{BASE}/api/v1/send");
    let body = json!({"phone_number": "60123456789", "message": "Hello world"});

    let got = call(&app, &path, None, Some(body.clone()), false).await;
    assert_eq!((got.status, &got.body), (StatusCode::UNAUTHORIZED, &json!({"message": "Unauthenticated."})));
    let got = call(&app, &path, Some("kd_not-a-real-token"), Some(body.clone()), false).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    let got = call(&app, &path, Some(&key), Some(body.clone()), false).await;
    assert_eq!(got.status, StatusCode::FORBIDDEN, "a tenant key is not a device token: {}", got.body);

    let got = call(&app, &path, Some(&token), Some(body.clone()), false).await;
    assert_eq!((got.status, &got.body), (StatusCode::BAD_REQUEST, &json!({"message": "This device is not connected."})));
    assert_eq!(got.headers["x-ratelimit-limit"], "4");
    assert_eq!(got.headers["x-ratelimit-remaining"], "3");
    for _ in 0..3 {
        call(&app, &path, Some(&token), Some(body.clone()), false).await;
    }
    let got = call(&app, &path, Some(&token), Some(body), false).await;
    assert_eq!((got.status, &got.body), (StatusCode::TOO_MANY_REQUESTS, &json!({"message": "Too Many Attempts."})));
    assert!(got.headers.contains_key("retry-after"));
    assert_eq!(got.headers["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn the_layer_mounts_at_the_root_or_not_at_all() {
    let app = TestApp::spawn_with(&[("KIRIM_COMPAT_ONSEND", "/")]).await;
    let (_, key) = app.tenant("shop").await;
    let (_, token) = app.device(&key, "phone").await;
    let got = call(&app, "/api/v1/status", Some(&token), None, false).await;
    assert_eq!((got.status, &got.body["status"]), (StatusCode::OK, &json!("not_connected")));
    assert_eq!(call(&app, &format!("{BASE}/api/v1/status"), Some(&token), None, false).await.status, StatusCode::NOT_FOUND);
    // The native API is where it was.
    assert_eq!(app.get("/v1/devices", &key).await.0, StatusCode::OK);
    app.stop().await;

    let app = TestApp::spawn_with(&[("KIRIM_COMPAT_ONSEND", "")]).await;
    let (_, key) = app.tenant("shop").await;
    let (_, token) = app.device(&key, "phone").await;
    assert_eq!(call(&app, &format!("{BASE}/api/v1/status"), Some(&token), None, false).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "/api/v1/status", Some(&token), None, false).await.status, StatusCode::NOT_FOUND);
}
