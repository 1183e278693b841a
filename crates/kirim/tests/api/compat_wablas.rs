//! Wablas's API (reference 001), its sends, schedules, queue calls, reports and webhooks,
//! request by request as its documentation's PHP examples make them.

use std::collections::HashSet;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::files::{self, FileServer};
use crate::receiver::{Answer, Receiver};
use crate::wablas_client::*;

/// The ids of a send's `data.messages`.
fn ids(body: &Value) -> Vec<String> {
    body["data"]["messages"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect()
}

async fn native(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, m) = app.get(&format!("/v1/messages/{id}"), key).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    m
}

#[tokio::test]
async fn v1_text_sends_by_query_token_header_and_comma_lists() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;

    // GET with everything in the query, the token among it.
    let path = format!("/api/send-message?phone=6281218444555&message=test%20get&token={}", w.token);
    let (status, body) = call(&app, Method::GET, &path, None, Body::None, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["status"], &body["message"]), (&json!(true), &json!("Message is pending and waiting to be processed")));
    let first = &body["data"]["messages"][0];
    assert_eq!((&first["phone"], &first["message"], &first["status"]), (&json!("6281218444555"), &json!("test get"), &json!("pending")));
    assert_eq!((&body["data"]["device_id"], &body["data"]["quota"]), (&json!(w.device), &json!("unlimited")));
    let sent = app.wait_message(&w.key, first["id"].as_str().unwrap(), "read").await;
    assert_eq!((&sent["to"], &sent["device_id"]), (&json!("+6281218444555"), &json!(w.device)));

    // POST form with `token.secret_key`, a comma list, and the string flags.
    let form = json!({"phone": "6281218444555, 6281218444666", "message": "hello there", "ref_id": "inv-7", "secret": "false", "priority": "true"});
    let (status, body) = call(&app, Method::POST, "/api/send-message", Some(&w.with_secret()), Body::Form, form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent = ids(&body);
    assert_eq!(sent.len(), 2, "one message per phone: {body}");
    let m = native(&app, &w.key, &sent[1]).await;
    assert_eq!((&m["to"], &m["ref_id"], &m["content"]["text"]["body"]), (&json!("+6281218444666"), &json!("inv-7"), &json!("hello there")));
    assert!(m["priority"].as_i64().unwrap() > 0, "{m}");

    // `isGroup` as the string it is documented to be: the phone is a group id.
    let form = json!({"phone": "120363064449269", "message": "hi group", "isGroup": "true"});
    let (status, body) = call(&app, Method::POST, "/api/send-message", Some(&w.token), Body::Form, form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(native(&app, &w.key, &ids(&body)[0]).await["to"], "120363064449269@g.us");

    // A blacklisted number is listed as not sent; the others go.
    app.post("/v1/blacklist", &w.key, json!({"phone": "+6281218444777"})).await;
    let form = json!({"phone": "6281218444777,6281218444555", "message": "promo"});
    let (_, body) = call(&app, Method::POST, "/api/send-message", Some(&w.token), Body::Form, form.clone()).await;
    let listed = body["data"]["messages"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{body}");
    assert!(listed.iter().any(|m| m["phone"] == "6281218444777" && m["status"] == false), "{body}");
    let only_blacklisted = json!({"phone": "6281218444777", "message": "promo"});
    assert_fails(
        &call(&app, Method::POST, "/api/send-message", Some(&w.token), Body::Form, only_blacklisted).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );

    // A device with a quota shows what is left after the send.
    let (status, limits) =
        app.call(Method::PUT, &format!("/v1/devices/{}/limits", w.device), Some(ADMIN), Some(json!({"quota": 10}))).await;
    assert!(status.is_success(), "{limits}");
    let (_, body) =
        call(&app, Method::POST, "/api/send-message", Some(&w.token), Body::Form, json!({"phone": "6281218444555", "message": "q"})).await;
    assert_eq!(body["data"]["quota"], 9, "{body}");

    // Bad input names its field; bad credentials are 401.
    let got = call(&app, Method::POST, "/api/send-message", Some(&w.token), Body::Form, json!({"message": "x"})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("phone"), "{}", got.1);
    let got =
        call(&app, Method::POST, "/api/send-message", Some(&w.token), Body::Form, json!({"phone": "not a phone", "message": "x"})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert_fails(&call(&app, Method::POST, "/api/send-message", Some("kd_nope"), Body::Form, form.clone()).await, StatusCode::UNAUTHORIZED);
    assert_fails(&call(&app, Method::POST, "/api/send-message", None, Body::Form, form.clone()).await, StatusCode::UNAUTHORIZED);
    let other = Wablas::linked(&app, "other").await;
    let mixed = format!("{}.{}", w.token, other.key);
    assert_fails(&call(&app, Method::POST, "/api/send-message", Some(&mixed), Body::Form, form).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn files_go_by_url_and_from_local_as_base64_or_multipart() {
    let app = TestApp::spawn().await;
    let server = FileServer::start().await;
    let w = Wablas::linked(&app, "shop").await;
    let image = server.serve("keluarga.jpg", "image/jpeg", files::jpeg());
    let form = json!({"phone": "6281218444555", "image": image, "caption": "tes"});
    let (status, body) = call(&app, Method::POST, "/api/send-image", Some(&w.with_secret()), Body::Form, form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = &body["data"]["messages"][0];
    assert_eq!((&listed["message"], &listed["caption"], &listed["image"]), (&Value::Null, &json!("tes"), &json!("keluarga.jpg")));
    let m = app.wait_message(&w.key, listed["id"].as_str().unwrap(), "read").await;
    assert_eq!(m["content"]["image"]["caption"], "tes");

    let pdf = server.serve("sample.pdf", "application/pdf", files::pdf());
    let (_, body) =
        call(&app, Method::POST, "/api/send-document", Some(&w.token), Body::Form, json!({"phone": "6281218444555", "document": pdf}))
            .await;
    assert_eq!(body["data"]["messages"][0]["document"], "sample.pdf", "{body}");

    // From local: base64 in `file`, the name in `data` (PHP's $_FILES entry as JSON).
    let encoded = base64::engine::general_purpose::STANDARD.encode(files::pdf());
    let form = json!({"phone": "6281393961320", "file": encoded, "data": json!({"name": "your_pdf_file.pdf"}).to_string()});
    let (status, body) = call(&app, Method::POST, "/api/send-document-from-local", Some(&w.token), Body::Form, form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let m = app.wait_message(&w.key, body["data"]["messages"][0]["id"].as_str().unwrap(), "read").await;
    let document = &m["content"]["document"];
    assert_eq!(document["filename"], "your_pdf_file.pdf");
    assert!(document["media_id"].as_str().is_some_and(|id| id.starts_with("med_")), "stored once, by id: {document}");

    // A multipart file (PHP's CURLFile), as send-video-from-local and send-audio-from-local take.
    let multipart = files::multipart(&[("phone", "6281218444555"), ("caption", "tes")], &files::jpeg(), "clip.jpg", "image/jpeg");
    let response = app
        .client
        .post(format!("{}{BASE}/api/send-image-from-local", app.base))
        .header("Authorization", &w.token)
        .header("Content-Type", format!("multipart/form-data; boundary={}", files::MULTIPART_BOUNDARY))
        .body(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let m = app.wait_message(&w.key, body["data"]["messages"][0]["id"].as_str().unwrap(), "read").await;
    assert_eq!(m["content"]["image"]["caption"], "tes", "{m}");

    let got = call(&app, Method::POST, "/api/send-video", Some(&w.token), Body::Form, json!({"phone": "6281218444555"})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("video"), "{}", got.1);
    let got = call(
        &app,
        Method::POST,
        "/api/send-audio-from-local",
        Some(&w.token),
        Body::Form,
        json!({"phone": "6281218444555", "file": "%%%"}),
    )
    .await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

#[tokio::test]
async fn v2_bulk_sends_take_each_item_on_its_own() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let payload = json!({"data": [
        {"phone": "6281218444555", "message": "hello there"},
        {"phone": "6281218444666", "message": "hello there", "ref_id": "b-2"},
        {"phone": "bad", "message": "skipped"},
    ]});
    let (status, body) = call(&app, Method::POST, "/api/v2/send-message", Some(&w.with_secret()), Body::Json, payload).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["data"]["messages"].as_array().unwrap();
    assert_eq!(listed.iter().filter(|m| m["status"] == "pending").count(), 2, "{body}");
    let refused = listed.iter().find(|m| m["status"] == false).expect("the bad item, listed");
    assert!(refused["message"].as_str().unwrap().starts_with("data[2]"), "{refused}");

    let link = json!({"data": [{"phone": "6281218444555", "message": {"text": "WABLAS is a gateway", "link": "https://wablas.com"}}]});
    let (_, body) = call(&app, Method::POST, "/api/v2/send-link", Some(&w.token), Body::Json, link).await;
    let m = native(&app, &w.key, &ids(&body)[0]).await;
    assert_eq!(m["content"]["text"], json!({"body": "WABLAS is a gateway\nhttps://wablas.com", "preview_url": true}));

    let list = json!({"data": [{"phone": "6281218444555", "message": {
        "title": "title", "description": "Test", "buttonText": "menu",
        "lists": [{"title": "1", "description": "promo 1"}, {"title": "2", "description": "promo 2"}],
        "footer": "footer template here"}}]});
    let (_, body) = call(&app, Method::POST, "/api/v2/send-list", Some(&w.token), Body::Json, list).await;
    let m = native(&app, &w.key, &ids(&body)[0]).await;
    assert_eq!((&m["type"], &m["content"]["list"]["button"]), (&json!("list"), &json!("menu")), "{m}");

    let place = json!({"data": [{"phone": "6281218444555", "message": {"name": "place name", "address": "street", "latitude": 24.121231, "longitude": 55.1121221}}]});
    let (_, body) = call(&app, Method::POST, "/api/v2/send-location", Some(&w.token), Body::Json, place).await;
    let m = app.wait_message(&w.key, &ids(&body)[0], "read").await;
    assert_eq!(m["content"]["location"]["latitude"], 24.121231);

    let too_many = json!({"data": (0..101).map(|_| json!({"phone": "6281218444555", "message": "x"})).collect::<Vec<_>>()});
    assert_fails(
        &call(&app, Method::POST, "/api/v2/send-message", Some(&w.token), Body::Json, too_many).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_fails(
        &call(&app, Method::POST, "/api/v2/send-message", Some(&w.token), Body::Json, json!({"phone": "1"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );

    // A v2 group send reaches every member of the contact group.
    let (_, group) = app.post("/v1/contact-groups", &w.key, json!({"name": "VIP"})).await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    let (status, added) =
        app.post(&format!("/v1/contact-groups/{group_id}/members"), &w.key, json!({"phones": ["+6281393961320", "+6281393961321"]})).await;
    assert!(status.is_success(), "{added}");
    let payload = json!({"data": [{"group_id": group_id, "message": "hello there"}]});
    let (status, body) = call(&app, Method::POST, "/api/v2/group/text", Some(&w.token), Body::Json, payload).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let phones: HashSet<&str> = body["data"]["messages"].as_array().unwrap().iter().filter_map(|m| m["phone"].as_str()).collect();
    assert_eq!(phones, HashSet::from(["6281393961320", "6281393961321"]));
    assert!(body["message"].as_str().unwrap().starts_with("Message to Group"), "{body}");
    let path = format!("/api/v2/group/text?group_id={group_id}&message=test%20get&token={}", w.token);
    let (status, body) = call(&app, Method::GET, &path, None, Body::None, Value::Null).await;
    assert_eq!((status, ids(&body).len()), (StatusCode::OK, 2), "{body}");
    let payload = json!({"data": [{"group_id": "no such group", "message": "x"}]});
    assert_fails(
        &call(&app, Method::POST, "/api/v2/group/text", Some(&w.token), Body::Json, payload).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    app.stop().await;
}

/// A day and time in Jakarta well ahead of now.
fn ahead(days: i64) -> (String, String) {
    let at = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Jakarta) + chrono::Duration::days(days);
    (at.format("%Y-%m-%d").to_string(), "13:20:00".to_owned())
}

#[tokio::test]
async fn schedules_are_saved_changed_cancelled_and_deleted() {
    let app = TestApp::spawn().await;
    let server = FileServer::start().await;
    let cover = server.serve("cover.jpeg", "image/jpeg", files::jpeg());
    let w = Wablas::linked(&app, "shop").await;
    let (date, time) = ahead(3);
    let form = json!({"phone": "6281218444555,6281218444666", "date": date, "time": time, "timezone": "Asia/Jakarta", "message": "hello"});
    let (status, body) = call(&app, Method::POST, "/api/schedule", Some(&w.with_secret()), Body::Form, form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phones list"], json!(["6281218444555", "6281218444666"]));
    let first = &body["messages"][0];
    assert_eq!(
        (&first["schedule_at"], &first["timezone"], &first["status"]),
        (&json!(format!("{date} 13:20:00")), &json!("Asia/Jakarta"), &json!(true))
    );
    let id = first["id"].as_str().unwrap().to_owned();
    let second = body["messages"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(native(&app, &w.key, &id).await["status"], "scheduled");

    let (date2, _) = ahead(4);
    let change = json!({"phone": "6281218444777", "date": date2, "time": "08:00:00", "timezone": "Asia/Jakarta", "message": "moved"});
    let (status, body) = call(&app, Method::PUT, &format!("/api/schedule/{id}"), Some(&w.token), Body::Form, change).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["schedule_at"], &body["device"]["serial"]), (&json!(format!("{date2} 08:00:00")), &json!(w.device)));
    let m = native(&app, &w.key, &id).await;
    assert_eq!((&m["to"], &m["content"]["text"]["body"]), (&json!("+6281218444777"), &json!("moved")));

    let (status, body) = call(&app, Method::PUT, &format!("/api/schedule-cancel/{id}"), Some(&w.token), Body::None, Value::Null).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("schedule canceled successfully")), "{body}");
    assert_eq!(native(&app, &w.key, &id).await["status"], "cancelled");
    let (status, body) = call(&app, Method::DELETE, &format!("/api/schedule/{second}"), Some(&w.token), Body::None, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.get(&format!("/v1/messages/{second}"), &w.key).await.0, StatusCode::NOT_FOUND);

    // v2: any category at `scheduled_at`.
    let at = format!("{date} 13:20:00");
    let payload = json!({"data": [
        {"category": "text", "phone": "6281218444555", "scheduled_at": at, "text": "Hallo kakak", "timezone": "Asia/Jakarta"},
        {"category": "image", "phone": "6281218444555", "scheduled_at": at, "text": "Cover Novel", "url": format!(" {cover}")},
        {"category": "button", "phone": "6281218444555", "scheduled_at": at,
         "text": {"buttons": ["button 1", "button 2"], "content": "sending template message...", "footer": "footer template here"}},
        {"category": "hologram", "phone": "6281218444555", "scheduled_at": at, "text": "x"},
    ]});
    let (status, body) = call(&app, Method::POST, "/api/v2/schedule", Some(&w.token), Body::Json, payload).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["data"]["messages"].as_array().unwrap();
    assert_eq!(listed.iter().filter(|m| m["id"].is_string()).count(), 3, "{body}");
    assert_eq!((&listed[0]["messages"], &listed[0]["schedule_at"]), (&json!("Hallo kakak"), &json!(at)));
    assert!(listed[3]["message"].as_str().unwrap().contains("category"), "{body}");
    let text_id = listed[0]["id"].as_str().unwrap().to_owned();
    let button = native(&app, &w.key, listed[2]["id"].as_str().unwrap()).await;
    assert_eq!(button["type"], "buttons");

    let change =
        json!({"data": [{"category": "text", "phone": "6281218444666", "scheduled_at": format!("{date2} 09:00:00"), "text": "changed"}]});
    let (status, body) = call(&app, Method::PUT, &format!("/api/v2/schedule/{text_id}"), Some(&w.token), Body::Json, change).await;
    assert_eq!((status, &body["messages"]), (StatusCode::OK, &json!("changed")), "{body}");
    let ids = format!("{text_id},{}", listed[2]["id"].as_str().unwrap());
    let (status, body) =
        call(&app, Method::DELETE, &format!("/api/v2/delete-schedule?id={ids}"), Some(&w.token), Body::None, Value::Null).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("schedules deleted successfully")), "{body}");
    assert_eq!(app.get(&format!("/v1/messages/{text_id}"), &w.key).await.0, StatusCode::NOT_FOUND);

    // A time already past, a bad zone, or another tenant's schedule.
    let past = json!({"phone": "6281218444555", "date": "2020-01-01", "time": "10:00:00", "timezone": "Asia/Jakarta", "message": "x"});
    assert_fails(&call(&app, Method::POST, "/api/schedule", Some(&w.token), Body::Form, past).await, StatusCode::UNPROCESSABLE_ENTITY);
    let zone = json!({"phone": "6281218444555", "date": date, "time": time, "timezone": "Mars/Olympus", "message": "x"});
    let got = call(&app, Method::POST, "/api/schedule", Some(&w.token), Body::Form, zone).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("timezone"), "{}", got.1);
    let other = Wablas::linked(&app, "other").await;
    let path = format!("/api/schedule-cancel/{}", listed[1]["id"].as_str().unwrap());
    assert_fails(&call(&app, Method::PUT, &path, Some(&other.token), Body::None, Value::Null).await, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn messages_are_resent_cancelled_and_revoked_by_id() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let (_, body) = call(
        &app,
        Method::POST,
        "/api/send-message",
        Some(&w.token),
        Body::Form,
        json!({"phone": "6281393961320", "message": "Merubah kesempatan"}),
    )
    .await;
    let sent = ids(&body)[0].clone();
    app.wait_message(&w.key, &sent, "read").await;

    let (status, body) = call(&app, Method::GET, &format!("/api/resend-message?id={sent}"), Some(&w.token), Body::None, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Resend Message is pending and waiting to be processed");
    let again = body["data"]["messages"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(again, sent, "a resend is a message of its own");
    assert_eq!(native(&app, &w.key, &again).await["resend_of"], json!(sent));

    let (status, body) =
        call(&app, Method::GET, &format!("/api/revoke-message?id={sent},msg_nope"), Some(&w.token), Body::None, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["data"]["messages"].as_array().unwrap();
    assert_eq!((&listed[0]["id"], &listed[0]["status"]), (&json!(sent), &json!("revoke")));
    assert_eq!(listed[1]["status"], false);
    let is_revoke = |m: &Value| m["type"] == "revoke";
    let list =
        app.wait_for(&w.key, "/v1/messages?direction=outbound", |l| l["data"].as_array().is_some_and(|d| d.iter().any(is_revoke))).await;
    let revoke = list["data"].as_array().unwrap().iter().find(|m| is_revoke(m)).cloned().unwrap();
    assert_eq!(revoke["content"]["revoke"]["message_id"], json!(sent));
    let path = format!("/v1/messages/{}", revoke["id"].as_str().unwrap());
    app.wait_for(&w.key, &path, |m| !matches!(m["status"].as_str(), Some("pending" | "sending"))).await;

    // Pending messages (the device offline) are cancelled by id, then all at once.
    app.post(&format!("/v1/sandbox/devices/{}/disconnect", w.device), &w.key, json!({})).await;
    app.wait_device(&w.key, &w.device, "disconnected").await;
    let mut pending = Vec::new();
    for n in 0..3 {
        let form = json!({"phone": "6281218444555", "message": format!("queued {n}")});
        let (_, body) = call(&app, Method::POST, "/api/send-message", Some(&w.token), Body::Form, form).await;
        pending.push(ids(&body)[0].clone());
    }
    let path = format!("/api/cancel-message?id={},{sent}", pending[0]);
    let (status, body) = call(&app, Method::GET, &path, Some(&w.token), Body::None, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["data"]["messages"].as_array().unwrap();
    assert_eq!((&listed[0]["status"], &listed[1]["message"]), (&json!("cancel"), &json!("Id Invalid or message is not pending anymore")));
    let (status, body) = call(&app, Method::GET, "/api/cancel-all-message", Some(&w.token), Body::None, Value::Null).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("Cancel 2 pending messages")), "{body}");
    for id in &pending {
        assert_eq!(native(&app, &w.key, id).await["status"], "cancelled");
    }
    assert_fails(
        &call(&app, Method::GET, "/api/cancel-message", Some(&w.token), Body::None, Value::Null).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    let other = Wablas::linked(&app, "other").await;
    let got = call(&app, Method::GET, &format!("/api/resend-message?id={sent}"), Some(&other.token), Body::None, Value::Null).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

#[tokio::test]
async fn reports_list_messages_with_wablas_filters() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let mut sent = Vec::new();
    for (phone, text, reference) in [("6281393961320", "hello", "pengumuman"), ("6281393961321", "promo", "promo")] {
        let form = json!({"phone": phone, "message": text, "ref_id": reference});
        let (_, body) = call(&app, Method::POST, "/api/send-message", Some(&w.token), Body::Form, form).await;
        sent.push(ids(&body)[0].clone());
    }
    for id in &sent {
        app.wait_message(&w.key, id, "read").await;
    }
    let (status, body) =
        call(&app, Method::GET, "/api/report/message?perPage=1&page=1", Some(&w.with_secret()), Body::None, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["totalData"], &body["perPage"], &body["page"], &body["totalPage"]), (&json!(2), &json!("1"), &json!("1"), &json!(2)));
    let (_, body) =
        call(&app, Method::GET, "/api/report/message?ref_id=pengumuman&phone=6281393961320", Some(&w.token), Body::None, Value::Null).await;
    let row = &body["message"][0];
    let device_phone = w.phone.trim_start_matches('+');
    assert_eq!(row["phone"], json!({"from": device_phone, "to": "6281393961320"}));
    assert_eq!(
        (&row["category"], &row["text"], &row["status"], &row["ref_id"]),
        (&json!("text"), &json!("hello"), &json!("read"), &json!("pengumuman"))
    );
    let (_, body) = call(&app, Method::GET, "/api/report/message?status=cancel", Some(&w.token), Body::None, Value::Null).await;
    assert_eq!(body["totalData"], 0);
    let got = call(&app, Method::GET, "/api/report/message?status=lost", Some(&w.token), Body::None, Value::Null).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    // All devices needs the secret key.
    assert_fails(
        &call(&app, Method::GET, "/api/report/message?device=all", Some(&w.token), Body::None, Value::Null).await,
        StatusCode::UNAUTHORIZED,
    );
    let (status, _) = call(&app, Method::GET, "/api/report/message?device=all", Some(&w.with_secret()), Body::None, Value::Null).await;
    assert_eq!(status, StatusCode::OK);

    let path = format!("/api/report-realtime?page=1&limit=10&message_id={}", sent[1]);
    let (status, body) = call(&app, Method::GET, &path, Some(&w.token), Body::None, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["device_id"], &body["totalData"]), (&json!(w.device), &json!(1)));
    assert_eq!((&body["message"][0]["message"], &body["message"][0]["file"]), (&json!("promo"), &Value::Null));
    let other = Wablas::linked(&app, "other").await;
    let (_, body) = call(&app, Method::GET, "/api/report-realtime", Some(&other.token), Body::None, Value::Null).await;
    assert_eq!(body["totalData"], 0, "another tenant's messages are not reported");
    app.stop().await;
}

#[tokio::test]
async fn webhook_and_tracking_urls_receive_wablas_payloads_and_replies() {
    let app = TestApp::spawn().await;
    let incoming = Receiver::start().await;
    let tracking = Receiver::start().await;
    let w = Wablas::linked(&app, "shop").await;
    let set = json!({"webhook_url": incoming.url});
    assert_fails(
        &call(&app, Method::POST, "/api/device/change-webhook-url", Some(&w.token), Body::Form, set.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    let (status, body) = call(&app, Method::POST, "/api/device/change-webhook-url", Some(&w.with_secret()), Body::Form, set).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({"status": true, "message": "webhook url successfully changed"})));
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/device/change-tracking-url",
        Some(&w.with_secret()),
        Body::Form,
        json!({"tracking_url": tracking.url}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, hooks) = app.get("/v1/webhooks", &w.key).await;
    assert_eq!(hooks["data"].as_array().unwrap().iter().filter(|h| h["format"] == "wablas").count(), 2, "{hooks}");

    // An incoming message, in Wablas's shape; the answer's replies are sent back.
    let reply = json!({"data": [{"category": "text", "message": "hello too"}]});
    incoming.then([Answer::Body(reply.to_string(), "application/json")]);
    let (status, _) =
        app.post(&format!("/v1/sandbox/devices/{}/inbound", w.device), &w.key, json!({"from": "+6289628189111", "text": "hello"})).await;
    assert_eq!(status, StatusCode::OK);
    let got = incoming.wait_for("the incoming message", |r| !r.is_empty()).await;
    let body = &got[0].body;
    let device_phone = w.phone.trim_start_matches('+');
    assert_eq!(
        (&body["message"], &body["phone"], &body["messageType"], &body["deviceId"], &body["sender"], &body["isGroup"]),
        (&json!("hello"), &json!("6289628189111"), &json!("text"), &json!(w.device), &json!(device_phone), &json!(false)),
        "{body}"
    );
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("msg_")) && body["timestamp"].is_string(), "{body}");
    let replies = app.wait_for(&w.key, "/v1/messages?direction=outbound", |l| l["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    assert_eq!(replies["data"][0]["content"]["text"]["body"], "hello too");

    // The reply's statuses reach the tracking URL, in Wablas's words.
    let reply_id = replies["data"][0]["id"].as_str().unwrap().to_owned();
    app.wait_message(&w.key, &reply_id, "read").await;
    let mine = |r: &crate::receiver::Received| r.body["id"] == json!(reply_id);
    let statuses = tracking.wait_for("three statuses", |r| r.iter().filter(|r| mine(r)).count() >= 3).await;
    let statuses: Vec<_> = statuses.into_iter().filter(|r| mine(r)).collect();
    let words: Vec<&str> = statuses.iter().filter_map(|r| r.body["status"].as_str()).collect();
    assert_eq!(words, ["sent", "received", "read"], "{statuses:?}");
    assert_eq!((&statuses[0].body["phone"], &statuses[0].body["deviceId"]), (&json!("6289628189111"), &json!(w.device)));

    let bad = json!({"webhook_url": "http://169.254.169.254/latest"});
    let got = call(&app, Method::POST, "/api/device/change-webhook-url", Some(&w.with_secret()), Body::Form, bad).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("webhook_url"), "{}", got.1);
    app.stop().await;
}

#[tokio::test]
async fn every_file_type_goes_by_v1_v2_from_local_and_to_a_contact_group() {
    let app = TestApp::spawn().await;
    let server = FileServer::start().await;
    let w = Wablas::linked(&app, "shop").await;
    let (_, group) = app.post("/v1/contact-groups", &w.key, json!({"name": "Branch"})).await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/contact-groups/{group_id}/members"), &w.key, json!({"phones": ["+6281393961320"]})).await;
    let samples = [
        ("image", "keluarga.jpg", "image/jpeg", files::jpeg()),
        ("video", "sample_960x540.mp4", "video/mp4", files::mp4()),
        ("audio", "sample-6s.mp3", "audio/mpeg", files::mp3()),
        ("document", "sample.pdf", "application/pdf", files::pdf()),
    ];
    for (kind, name, mime, bytes) in samples {
        let url = server.serve(name, mime, bytes.clone());
        let item = json!({"phone": "6281218444555", kind: url, "caption": "tes"});
        let v1 = call(&app, Method::POST, &format!("/api/send-{kind}"), Some(&w.with_secret()), Body::Form, item.clone()).await;
        let v2 = call(&app, Method::POST, &format!("/api/v2/send-{kind}"), Some(&w.token), Body::Json, json!({"data": [item]})).await;
        let to_group = json!({"data": [{"group_id": group_id, kind: url, "caption": "tes"}]});
        let grouped = call(&app, Method::POST, &format!("/api/v2/group/{kind}"), Some(&w.token), Body::Json, to_group).await;
        let local = json!({"phone": "6281218444555", "file": base64::engine::general_purpose::STANDARD.encode(&bytes), "filename": name});
        let from_local = call(&app, Method::POST, &format!("/api/send-{kind}-from-local"), Some(&w.token), Body::Form, local).await;
        for (what, (status, body)) in [("v1", v1), ("v2", v2), ("group", grouped), ("from local", from_local)] {
            assert_eq!(status, StatusCode::OK, "{kind} {what}: {body}");
            let listed = &body["data"]["messages"][0];
            assert_eq!((&listed["message"], &listed["status"]), (&Value::Null, &json!("pending")), "{kind} {what}: {body}");
            assert!(listed[kind].is_string(), "{kind} {what} names its file: {body}");
            let m = app.wait_message(&w.key, listed["id"].as_str().unwrap(), "read").await;
            assert_eq!(m["type"], kind, "{m}");
        }
    }
    app.stop().await;
}
