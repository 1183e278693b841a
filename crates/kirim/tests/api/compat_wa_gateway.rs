//! The wa-gateway API (reference 004), call by call as its documentation lists them: session
//! calls by device `token` (body or query), management calls with the `apikey` header.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::files::{self, FileServer};

const BASE: &str = "/compat/wa-gateway";

/// A call with an optional `apikey` header and a JSON body (or a form with `form`).
async fn call(app: &TestApp, method: Method, path: &str, apikey: Option<&str>, body: Option<Value>, form: bool) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}{BASE}{path}", app.base));
    if let Some(key) = apikey {
        request = request.header("apikey", key);
    }
    request = match (body, form) {
        (Some(body), true) => {
            let pairs: Vec<(String, String)> =
                body.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
            request.form(&pairs)
        }
        (Some(body), false) => request.json(&body),
        (None, _) => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_session_starts_shows_its_qr_code_links_and_reports_its_status() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (device, token) = app.device(&key, "Sales").await;

    let (status, body) = call(&app, Method::GET, &format!("/api/status?token={token}"), None, None, false).await;
    assert_eq!((status, &body["status"], &body["message"]), (StatusCode::OK, &json!(false), &json!("DISCONNECTED")), "{body}");

    let (status, body) = call(&app, Method::POST, "/api/start", None, Some(json!({"token": token, "reject_call": "Y"})), false).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!(true)), "{body}");
    app.wait_device(&key, &device, "awaiting_scan").await;
    let (status, body) = call(&app, Method::POST, "/api/qrcode", None, Some(json!({"token": token})), false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["qrcode"].as_str().unwrap().starts_with("data:image/png;base64,"), "{body}");

    let (_, scanned) = app.post(&format!("/v1/sandbox/devices/{device}/scan"), &key, json!({})).await;
    let phone = scanned["phone"].as_str().unwrap().trim_start_matches('+').to_owned();
    app.wait_device(&key, &device, "connected").await;
    let (_, body) = call(&app, Method::POST, "/api/qrcode", None, Some(json!({"token": token})), false).await;
    assert_eq!(body, json!({"status": true, "message": "AUTHENTICATED", "name": "Sales", "phone": phone}));
    let (_, body) = call(&app, Method::GET, &format!("/api/status?token={token}"), None, None, false).await;
    assert_eq!((&body["status"], &body["message"], &body["phone"]), (&json!(true), &json!("AUTHENTICATED"), &json!(phone)));
    assert_eq!(body["data"]["id"], format!("{phone}@s.whatsapp.net"));

    // Logout unlinks; reconnect after a dropped connection resumes without a scan.
    app.post(&format!("/v1/sandbox/devices/{device}/disconnect"), &key, json!({})).await;
    app.wait_device(&key, &device, "disconnected").await;
    let (status, body) = call(&app, Method::POST, &format!("/api/reconnect?token={token}"), None, None, false).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!(true)), "{body}");
    app.wait_device(&key, &device, "connected").await;
    let (status, body) = call(&app, Method::POST, &format!("/api/logout?token={token}"), None, None, false).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!(true)), "{body}");
    app.wait_device(&key, &device, "logged_out").await;

    let (status, body) = call(&app, Method::GET, "/api/status?token=kd_nope", None, None, false).await;
    assert_eq!((status, &body["status"]), (StatusCode::UNAUTHORIZED, &json!(false)));
}

#[tokio::test]
async fn send_takes_text_or_a_file_url_as_json_or_a_form() {
    let app = TestApp::spawn().await;
    let server = FileServer::start().await;
    let (_, key) = app.tenant("shop").await;
    let (device, token) = app.device(&key, "phone").await;
    let (status, body) =
        call(&app, Method::POST, "/api/send", None, Some(json!({"token": token, "phone": "628123456789", "message": "x"})), false).await;
    assert_eq!((status, &body["status"]), (StatusCode::CONFLICT, &json!(false)), "never linked: {body}");
    app.link(&key, &device).await;
    let image = server.serve("image.jpg", "image/jpeg", files::jpeg());
    let pdf = server.serve("download", "application/pdf", files::pdf());

    let sends = [
        (json!({"token": token, "phone": "628123456789", "message": "Hello World"}), false, "text"),
        (json!({"token": token, "phone": "628123456789", "message": "Hello World"}), true, "text"),
        (json!({"token": token, "phone": "628123456789", "message": "Look", "file_url": image, "file_name": "image.jpg"}), false, "image"),
        (json!({"token": token, "phone": "628123456789", "message": "Bill", "file_url": pdf, "file_name": "bill.pdf"}), true, "document"),
    ];
    for (body, form, kind) in sends {
        let (status, got) = call(&app, Method::POST, "/api/send", None, Some(body.clone()), form).await;
        assert_eq!((status, &got["status"]), (StatusCode::OK, &json!(true)), "{body} → {got}");
        let sent = app.wait_message(&key, got["data"]["id"].as_str().unwrap(), "sent").await;
        assert_eq!((sent["to"].as_str(), sent["type"].as_str()), (Some("+628123456789"), Some(kind)), "{sent}");
        if kind != "text" {
            assert_eq!(sent["content"][kind]["caption"], body["message"]);
        }
        if kind == "document" {
            assert_eq!(sent["content"]["document"]["filename"], "bill.pdf");
        }
    }
    let (status, body) = call(&app, Method::POST, "/api/send", None, Some(json!({"token": token, "message": "hi"})), false).await;
    assert_eq!((status, &body["status"], &body["message"]), (StatusCode::BAD_REQUEST, &json!(false), &json!("phone is required")));
    let (status, body) = call(&app, Method::POST, "/api/send", None, Some(json!({"phone": "628123456789", "message": "hi"})), false).await;
    assert_eq!((status, &body["message"]), (StatusCode::BAD_REQUEST, &json!("token is required")));
    let unsafe_file = json!({"token": token, "phone": "628123456789", "file_url": "http://10.0.0.9/a.jpg"});
    let (status, body) = call(&app, Method::POST, "/api/send", None, Some(unsafe_file), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("file_url:"), "{body}");
}

#[tokio::test]
async fn contacts_and_groups_come_from_the_account_and_the_network() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (device, token) = app.device(&key, "phone").await;
    app.link(&key, &device).await;
    let (status, body) = app.post("/v1/contacts", &key, json!({"phone": "+60123000001", "name": "Siti"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) =
        app.post(&format!("/v1/devices/{device}/groups"), &key, json!({"subject": "Crew", "participants": ["+60123000001"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body) = call(&app, Method::GET, &format!("/api/contacts?token={token}"), None, None, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([{"id": "60123000001@s.whatsapp.net", "name": "Siti", "phone": "60123000001"}]));
    let (status, body) = call(&app, Method::GET, &format!("/api/groups?token={token}"), None, None, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let groups = body["data"].as_array().unwrap();
    assert_eq!((groups.len(), &groups[0]["subject"], &groups[0]["size"]), (1, &json!("Crew"), &json!(2)), "{body}");
}

#[tokio::test]
async fn management_calls_need_the_apikey_and_stay_within_the_account() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (_, other_key) = app.tenant("other").await;
    let (first, first_token) = app.device(&key, "Marketing phone").await;
    let (_, _) = app.device(&key, "Support phone").await;
    let (_, theirs) = app.device(&other_key, "Their phone").await;

    let (status, body) = call(&app, Method::GET, "/api/devices", None, None, false).await;
    assert_eq!((status, &body["status"]), (StatusCode::UNAUTHORIZED, &json!(false)));
    let (status, body) = call(&app, Method::GET, "/api/devices?page=1&limit=10", Some(&key), None, false).await;
    assert_eq!((status, body["total"].as_u64(), body["data"].as_array().unwrap().len()), (StatusCode::OK, Some(2), 2), "{body}");
    let (_, body) = call(&app, Method::GET, "/api/devices?q=market", Some(&key), None, false).await;
    assert_eq!((body["total"].as_u64(), &body["data"][0]["id"]), (Some(1), &json!(first)), "{body}");
    let (_, body) = call(&app, Method::GET, "/api/devices?page=2&limit=1", Some(&key), None, false).await;
    assert_eq!((body["data"].as_array().unwrap().len(), &body["page"]), (1, &json!(2)));
    let (status, _) = call(&app, Method::GET, "/api/devices?limit=0", Some(&key), None, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Workspaces: assigned per device, listed with their counts, and a filter on the list.
    let assign = json!({"token": first_token, "workspace": "Marketing"});
    let (status, body) = call(&app, Method::POST, "/api/workspace", Some(&key), Some(assign.clone()), false).await;
    assert_eq!((status, &body["data"]["workspace"]), (StatusCode::OK, &json!("Marketing")), "{body}");
    let (status, _) = call(&app, Method::POST, "/api/workspace", None, Some(assign), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "protected");
    let (status, body) = call(&app, Method::GET, "/api/workspaces", Some(&key), None, false).await;
    assert_eq!((status, &body["data"]), (StatusCode::OK, &json!([{"name": "Marketing", "devices": 1}])), "{body}");
    let (_, body) = call(&app, Method::GET, "/api/devices?workspace=Marketing", Some(&key), None, false).await;
    assert_eq!((body["total"].as_u64(), &body["data"][0]["workspace"]), (Some(1), &json!("Marketing")), "{body}");
    let (_, listed) = app.get("/v1/devices?workspace=Marketing", &key).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "the native list filters alike: {listed}");
    let (_, body) = call(&app, Method::GET, "/api/workspaces", Some(&other_key), None, false).await;
    assert_eq!(body["data"], json!([]), "another account's workspaces are its own");
    let long = json!({"token": first_token, "workspace": "x".repeat(51)});
    let (status, body) = call(&app, Method::POST, "/api/workspace", Some(&key), Some(long), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("workspace"), "{body}");
    let (status, device) = app.call(Method::PATCH, &format!("/v1/devices/{first}"), Some(&key), Some(json!({"workspace": null}))).await;
    assert_eq!((status, &device["workspace"]), (StatusCode::OK, &Value::Null), "cleared natively: {device}");

    // A webhook per device: set, then changed in place.
    let set = json!({"token": first_token, "url": "https://hooks.example.com/wa"});
    let (status, body) = call(&app, Method::POST, "/api/webhook", Some(&key), Some(set), false).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!(true)), "{body}");
    assert!(body["data"]["secret"].as_str().unwrap().starts_with("whsec_"));
    let moved = json!({"token": first_token, "url": "https://hooks.example.com/wa2"});
    call(&app, Method::POST, "/api/webhook", Some(&key), Some(moved), false).await;
    let (_, hooks) = app.get("/v1/webhooks", &key).await;
    let hooks = hooks["data"].as_array().unwrap();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!((&hooks[0]["url"], &hooks[0]["device_ids"]), (&json!("https://hooks.example.com/wa2"), &json!([first])));
    let unsafe_hook = json!({"token": first_token, "url": "http://169.254.169.254/latest"});
    let (status, _) = call(&app, Method::POST, "/api/webhook", Some(&key), Some(unsafe_hook), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Another account's device is not found; the own one is deleted.
    let (status, _) = call(&app, Method::DELETE, &format!("/api/device?token={theirs}"), Some(&key), None, false).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&app, Method::DELETE, &format!("/api/device?token={first_token}"), Some(&key), None, false).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!(true)), "{body}");
    assert_error(&app.get(&format!("/v1/devices/{first}"), &key).await, StatusCode::NOT_FOUND, "not_found");
}
