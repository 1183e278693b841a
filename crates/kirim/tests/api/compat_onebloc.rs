//! OneBloc's MessageAPI (reference 000), request by request: `x-api-key`, send-message in the
//! documented phone formats, send-job and the worker's reply moving it, the jobs list by
//! status, tenant status and usage with the documented token costs, delivery status by phone,
//! and retrying failed messages.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::files::{self, FileServer};

const BASE: &str = "/compat/onebloc";

async fn call(app: &TestApp, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}{BASE}{path}", app.base));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn send_message_takes_every_documented_phone_form_and_reports_status() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("shop").await;

    let documented = json!({"recipientPhone": "60123456789", "message": "Hello! Your booking is confirmed.", "messageType": "text"});
    let (status, body) = call(&app, Method::POST, "/send-message", Some(&key), Some(documented)).await;
    assert_eq!((status, &body["success"]), (StatusCode::OK, &json!(true)), "{body}");
    assert_eq!((&body["data"]["recipientPhone"], &body["data"]["tokensUsed"]), (&json!("+60123456789"), &json!(1)));
    let first = body["data"]["messageId"].as_str().unwrap().to_owned();
    for phone in ["+60 12-345 6789", "012-345 6789"] {
        let (status, body) =
            call(&app, Method::POST, "/send-message", Some(&key), Some(json!({"recipientPhone": phone, "message": "Hi"}))).await;
        assert_eq!((status, &body["data"]["recipientPhone"]), (StatusCode::OK, &json!("+60123456789")), "{phone}: {body}");
    }
    app.wait_message(&key, &first, "delivered").await;

    let (status, body) = call(&app, Method::GET, "/message-status/60123456789", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let messages = body["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{body}");
    let oldest = messages.iter().find(|m| m["messageId"] == first.as_str()).unwrap();
    assert!(["delivered", "read"].contains(&oldest["status"].as_str().unwrap()), "{oldest}");

    let (status, body) = call(&app, Method::GET, "/tenant/status", Some(&key), None).await;
    assert_eq!((status, &body["data"]["connected"], &body["data"]["status"]), (StatusCode::OK, &json!(true), &json!("connected")));
    assert_eq!(body["data"]["devices"][0]["deviceId"], device);

    let (status, body) =
        call(&app, Method::POST, "/send-message", None, Some(json!({"recipientPhone": "60123456789", "message": "x"}))).await;
    assert_eq!((status, &body["success"]), (StatusCode::UNAUTHORIZED, &json!(false)));
    let (status, body) =
        call(&app, Method::POST, "/send-message", Some("kk_wrong"), Some(json!({"recipientPhone": "601", "message": "x"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = call(&app, Method::POST, "/send-message", Some(&key), Some(json!({"recipientPhone": "60123456789"}))).await;
    assert_eq!((status, &body["error"]), (StatusCode::BAD_REQUEST, &json!("message is required")));
    let (status, body) = call(&app, Method::POST, "/send-message", Some(&key), Some(json!({"recipientPhone": "12", "message": "x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().starts_with("recipientPhone:"), "{body}");
}

#[tokio::test]
async fn a_dispatched_job_moves_with_the_workers_reply_and_lists_by_status() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("cleaners").await;
    let job = json!({
        "workerPhone": "60123456789", "clientName": "Puan Siti", "task": "Deep cleaning - 3BR apartment",
        "location": "123 Jalan Ampang, KL", "mapLink": "https://maps.google.com/?q=3.16,101.71",
    });
    let (status, body) = call(&app, Method::POST, "/send-job", Some(&key), Some(job)).await;
    assert_eq!((status, &body["success"]), (StatusCode::OK, &json!(true)), "{body}");
    let data = &body["data"];
    assert_eq!((&data["jobId"], &data["status"], &data["workerPhone"]), (&json!("J1"), &json!("PENDING"), &json!("+60123456789")));
    app.wait_message(&key, data["messageId"].as_str().unwrap(), "sent").await;

    let (_, pending) = call(&app, Method::GET, "/jobs?status=PENDING", Some(&key), None).await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 1, "{pending}");
    let reply = json!({"from": "+60123456789", "text": "start"});
    let (status, body) = app.post(&format!("/v1/sandbox/devices/{device}/inbound"), &key, reply).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let moved = app.wait_for(&key, "/v1/jobs/J1", |j| j["status"] == "IN_PROGRESS").await;
    assert_eq!(moved["ref"], "J1");
    let (_, body) = call(&app, Method::GET, "/jobs?status=in_progress", Some(&key), None).await;
    assert_eq!(body["data"][0]["jobId"], "J1", "{body}");
    let (_, body) = call(&app, Method::GET, "/jobs?status=PENDING", Some(&key), None).await;
    assert_eq!(body["data"], json!([]));
    let (_, body) = call(&app, Method::GET, "/jobs/J1", Some(&key), None).await;
    assert_eq!(body["data"]["status"], "IN_PROGRESS");

    let (status, _) = call(&app, Method::GET, "/jobs?status=LATE", Some(&key), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(&app, Method::POST, "/send-job", Some(&key), Some(json!({"workerPhone": "60123456789"}))).await;
    assert_eq!((status, &body["error"]), (StatusCode::BAD_REQUEST, &json!("clientName is required")));
    let (other, _) = app.connected_tenant("other").await;
    let (status, _) = call(&app, Method::GET, "/jobs/J1", Some(&other), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's job");
}

#[tokio::test]
async fn usage_counts_the_documented_costs_and_the_budget_refuses_with_the_reset() {
    let app = TestApp::spawn().await;
    let server = FileServer::start().await;
    let (tenant, key) = app.tenant("shop").await;
    let (device, _) = app.device(&key, "phone").await;
    app.link(&key, &device).await;
    let (status, body) =
        app.call(Method::PATCH, &format!("/v1/tenants/{tenant}"), Some(ADMIN), Some(json!({"daily_token_limit": 5}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let photo = server.serve("photo.jpg", "image/jpeg", files::jpeg());

    let image = json!({"recipientPhone": "60123456789", "message": "Your receipt", "messageType": "image", "mediaUrl": photo});
    let (status, body) = call(&app, Method::POST, "/send-message", Some(&key), Some(image)).await;
    assert_eq!((status, &body["data"]["tokensUsed"]), (StatusCode::OK, &json!(2)), "{body}");
    call(&app, Method::POST, "/send-message", Some(&key), Some(json!({"recipientPhone": "60123456789", "message": "Hi"}))).await;

    let (status, body) = call(&app, Method::GET, "/tenant/usage", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!((&data["tokensUsed"], &data["dailyLimit"], &data["remaining"]), (&json!(3), &json!(5), &json!(2)), "{body}");
    assert!(data["resetsAt"].as_str().unwrap().ends_with("T00:00:00Z"), "{body}");
    assert_eq!((&data["costs"]["text"], &data["costs"]["image"], &data["costs"]["voice"]), (&json!(1), &json!(2), &json!(2)));

    let voice =
        json!({"recipientPhone": "60123456789", "messageType": "voice", "mediaUrl": server.serve("note.ogg", "audio/ogg", files::opus())});
    let (status, body) = call(&app, Method::POST, "/send-message", Some(&key), Some(voice.clone())).await;
    assert_eq!((status, &body["data"]["tokensUsed"]), (StatusCode::OK, &json!(2)), "{body}");
    let (status, body) = call(&app, Method::POST, "/send-message", Some(&key), Some(voice)).await;
    assert_eq!((status, &body["success"]), (StatusCode::TOO_MANY_REQUESTS, &json!(false)), "{body}");
    assert!(body["error"].as_str().unwrap().contains("00:00 UTC"), "{body}");
}

#[tokio::test]
async fn retry_failed_sends_each_failed_message_again_once() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("shop").await;
    let (_, lost) =
        call(&app, Method::POST, "/send-message", Some(&key), Some(json!({"recipientPhone": "+60199990123", "message": "hello?"}))).await;
    let lost = lost["data"]["messageId"].as_str().unwrap().to_owned();
    app.wait_message(&key, &lost, "failed").await;

    let (status, body) = call(&app, Method::POST, "/retry-failed", Some(&key), None).await;
    assert_eq!((status, &body["data"]["retried"]), (StatusCode::OK, &json!(1)), "{body}");
    let retry = &body["data"]["messages"][0];
    assert_eq!(retry["originalId"], lost.as_str());
    let retry_id = retry["messageId"].as_str().unwrap().to_owned();
    let (_, again) = app.get(&format!("/v1/messages/{retry_id}"), &key).await;
    assert_eq!(again["resend_of"], lost.as_str());

    // Called again, the same failed message is not sent a second time.
    let (_, body) = call(&app, Method::POST, "/retry-failed", Some(&key), None).await;
    let same = body["data"]["messages"].as_array().unwrap().iter().find(|m| m["originalId"] == lost.as_str()).unwrap().clone();
    assert_eq!(same["messageId"], retry_id.as_str(), "{body}");
}
