//! Every message type through the sandbox, operations on sent messages (react, edit, revoke),
//! and scheduled messages (due on time, changed, cancelled, deleted, kept across a restart).

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::files::{self, FileServer};

/// Two linked sandbox devices of one tenant: (key, device a, device b, phone of b).
async fn pair(app: &TestApp) -> (String, String, String, String) {
    let (_, key) = app.tenant("t").await;
    let (a, _) = app.device(&key, "a").await;
    let (b, _) = app.device(&key, "b").await;
    app.link(&key, &a).await;
    let phone_b = app.link(&key, &b).await;
    (key, a, b, phone_b)
}

/// The inbound messages of `device`, oldest first, once there are `n`.
async fn inbox(app: &TestApp, key: &str, device: &str, n: usize) -> Vec<Value> {
    let path = format!("/v1/messages?direction=inbound&device_id={device}&limit=100");
    let list = app.wait_for(key, &path, |b| b["data"].as_array().is_some_and(|d| d.len() >= n)).await;
    let mut data = list["data"].as_array().unwrap().clone();
    data.reverse();
    data
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap_or_else(|| panic!("not a time: {v}")).parse().unwrap()
}

#[tokio::test]
async fn every_message_type_reaches_the_other_phone_as_sent() {
    let app = TestApp::spawn().await;
    let (key, a, b, phone_b) = pair(&app).await;
    // Media links are fetched when a message is accepted, so they point at a local server.
    let server = FileServer::start().await;
    let bodies = [
        json!({"type": "text", "text": "plain string text"}),
        json!({"type": "text", "text": {"body": "hi @60123456789", "mentions": ["012-345 6789"], "preview_url": true}}),
        json!({"type": "image", "image": {"link": server.serve("a.jpg", "image/jpeg", files::jpeg()), "caption": "the receipt"}}),
        json!({"type": "video", "video": {"link": server.serve("a.mp4", "video/mp4", files::mp4())}}),
        json!({"type": "audio", "audio": {"link": server.serve("a.ogg", "audio/ogg", files::opus()), "voice": true}}),
        json!({"type": "document", "document": {"link": server.serve("a.pdf", "application/pdf", files::pdf()), "filename": "invoice.pdf"}}),
        json!({"type": "sticker", "sticker": {"link": server.serve("a.webp", "image/webp", files::webp())}}),
        json!({"type": "location", "location": {"latitude": 3.1578, "longitude": 101.7119, "name": "KLCC"}}),
        json!({"type": "contact", "contact": {"name": "Siti", "phone": "012-999 8888"}}),
        json!({"type": "list", "list": {"body": "Pick a slot", "button": "Slots", "sections": [{"rows": [{"id": "am", "title": "Morning"}, {"id": "pm", "title": "Afternoon"}]}]}}),
        json!({"type": "buttons", "buttons": {"body": "Confirm?", "footer": "Acme", "buttons": [{"type": "reply", "id": "yes", "title": "Yes"}, {"type": "url", "title": "Site", "url": "https://example.com"}]}}),
        json!({"type": "poll", "poll": {"question": "Which day?", "options": ["Mon", "Tue", "Wed"], "max_selections": 2}}),
        // `type` may be left out when one content field says it.
        json!({"location": {"latitude": -6.2, "longitude": 106.8}}),
    ];
    for body in &bodies {
        let mut body = body.clone();
        body["device_id"] = json!(a);
        body["to"] = json!(phone_b);
        let (status, msg) = app.post("/v1/messages", &key, body.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}: {msg}");
        app.wait_message(&key, msg["id"].as_str().unwrap(), "read").await;
    }
    let got = inbox(&app, &key, &b, bodies.len()).await;
    let kinds: Vec<&str> = got.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["text", "text", "image", "video", "audio", "document", "sticker", "location", "contact", "list", "buttons", "poll", "location"]
    );
    assert_eq!(got[0]["content"]["text"]["body"], "plain string text");
    assert_eq!(got[1]["content"]["text"]["mentions"], json!(["+60123456789"]), "numbers inside content become E.164");
    assert_eq!(got[5]["content"]["document"]["filename"], "invoice.pdf");
    assert_eq!(got[8]["content"]["contact"]["phone"], "+60129998888");
    assert_eq!(got[11]["content"]["poll"]["options"], json!(["Mon", "Tue", "Wed"]));
    app.stop().await;
}

#[tokio::test]
async fn reactions_edits_and_revokes_point_at_the_message_on_each_side() {
    let app = TestApp::spawn().await;
    let (key, a, b, phone_b) = pair(&app).await;
    let (_, sent) = app.post("/v1/messages", &key, json!({"device_id": a, "to": phone_b, "text": "See you at 9"})).await;
    let sent_id = sent["id"].as_str().unwrap().to_owned();
    app.wait_message(&key, &sent_id, "read").await;
    let received = inbox(&app, &key, &b, 1).await.remove(0);
    let received_id = received["id"].as_str().unwrap();

    // B reacts to what it received; `to` and `device_id` come from the message reacted to.
    let (status, reaction) =
        app.post("/v1/messages", &key, json!({"type": "reaction", "reaction": {"message_id": received_id, "emoji": "👍"}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reaction}");
    assert_eq!((reaction["device_id"].as_str(), reaction["to"].as_str()), (Some(b.as_str()), received["from"].as_str()));
    app.wait_message(&key, reaction["id"].as_str().unwrap(), "read").await;
    // A receives it pointing at A's own message.
    let at_a = inbox(&app, &key, &a, 1).await.remove(0);
    assert_eq!(at_a["content"]["reaction"], json!({"message_id": sent_id, "emoji": "👍"}));

    // A edits and then revokes its message.
    let (status, edit) =
        app.post("/v1/messages", &key, json!({"type": "edit", "edit": {"message_id": sent_id, "text": "See you at 10"}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{edit}");
    app.wait_message(&key, edit["id"].as_str().unwrap(), "read").await;
    let (status, revoke) = app.post("/v1/messages", &key, json!({"revoke": {"message_id": sent_id}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{revoke}");
    app.wait_message(&key, revoke["id"].as_str().unwrap(), "read").await;
    let at_b = inbox(&app, &key, &b, 3).await;
    assert_eq!(at_b[1]["content"]["edit"], json!({"message_id": received_id, "text": "See you at 10"}));
    assert_eq!(at_b[2]["content"]["revoke"], json!({"message_id": received_id}));

    // What WhatsApp does not allow is refused up front.
    let not_mine = app.post("/v1/messages", &key, json!({"edit": {"message_id": received_id, "text": "x"}})).await;
    assert_error(&not_mine, StatusCode::CONFLICT, "not_editable");
    let wrong_chat =
        app.post("/v1/messages", &key, json!({"to": "+60111111111", "reaction": {"message_id": received_id, "emoji": "x"}})).await;
    assert_eq!(assert_error(&wrong_chat, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "to");
    let unknown = app.post("/v1/messages", &key, json!({"reaction": {"message_id": "msg_00000000000000000000000000", "emoji": "x"}})).await;
    assert_eq!(assert_error(&unknown, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "reaction.message_id");
    let (_, other_key) = app.tenant("other").await;
    let foreign = app.post("/v1/messages", &other_key, json!({"reaction": {"message_id": sent_id, "emoji": "x"}})).await;
    assert_error(&foreign, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn content_errors_name_the_field() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    for (body, field) in [
        (json!({"to": "+60123456789", "type": "hologram"}), "type"),
        (json!({"to": "+60123456789"}), "type"),
        (json!({"to": "+60123456789", "type": "image", "text": "x"}), "text"),
        (json!({"to": "+60123456789", "type": "image"}), "image"),
        (json!({"to": "+60123456789", "text": "a", "image": {"link": "https://e.com/a.jpg"}}), "type"),
        (json!({"to": "+60123456789", "image": {"link": "file:///etc/passwd"}}), "image.link"),
        (json!({"to": "+60123456789", "poll": {"question": "q", "options": ["only one"]}}), "poll.options"),
        (json!({"text": "who?"}), "to"),
    ] {
        let got = app.post("/v1/messages", &key, body.clone()).await;
        let err = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_connector_refuses_types_it_cannot_send_at_accept_time() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("t").await;
    let (status, device) = app.post("/v1/devices", &key, json!({"name": "real phone", "connector": "whatsapp-web"})).await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    let body = json!({"device_id": device["id"], "to": "+60123456789",
        "list": {"body": "b", "button": "m", "sections": [{"rows": [{"title": "r"}]}]}});
    let got = app.post("/v1/messages", &key, body).await;
    assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "capability_unsupported")["error"]["field"], "type");
    let text =
        app.post("/v1/messages", &key, json!({"device_id": device["id"], "to": "+60123456789", "text": "queued until linked"})).await;
    assert_eq!(text.0, StatusCode::ACCEPTED, "{}", text.1);
    app.stop().await;
}

#[tokio::test]
async fn a_scheduled_message_waits_then_leaves_on_time() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let due = Utc::now() + chrono::Duration::milliseconds(1500);
    // A wall-clock time in a zone, as Wablas clients send it.
    let local = due.with_timezone(&chrono_tz::Asia::Jakarta).format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    let local = &local[..19];
    let (status, msg) = app
        .post(
            "/v1/messages",
            &key,
            json!({"to": "+60123456789", "text": "Reminder: 9 am", "scheduled_at": local, "timezone": "Asia/Jakarta"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{msg}");
    assert_eq!(msg["status"], "scheduled");
    assert_eq!(msg["timezone"], "Asia/Jakarta");
    let scheduled_at = time(&msg["scheduled_at"]);
    assert!((scheduled_at - due).num_milliseconds().abs() < 1000, "{scheduled_at} vs {due}");
    let id = msg["id"].as_str().unwrap();
    let (_, listed) = app.get("/v1/messages?status=scheduled", &key).await;
    assert_eq!(listed["data"][0]["id"], id);

    let sent = app.wait_message(&key, id, "read").await;
    let sent_at = time(&sent["history"].as_array().unwrap().iter().find(|h| h["status"] == "sent").unwrap()["at"]);
    assert!(sent_at >= scheduled_at, "not before its time");
    assert!(sent_at - scheduled_at < chrono::Duration::seconds(1), "within a second of its time: {sent_at} vs {scheduled_at}");
    let history: Vec<&str> = sent["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(&history[..2], ["scheduled", "sent"]);
    let (_, events) = app.get("/v1/events", &key).await;
    let types: Vec<&str> = events["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    let pos = |t: &str| types.iter().position(|x| *x == t).unwrap_or_else(|| panic!("{t} missing from {types:?}"));
    assert!(pos("message.scheduled") < pos("message.queued") && pos("message.queued") < pos("message.sent"));
    app.stop().await;
}

#[tokio::test]
async fn schedules_can_be_changed_cancelled_and_deleted() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let later = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let schedule = |text: &str| json!({"to": "+60123456789", "text": text, "scheduled_at": later});
    let (_, a) = app.post("/v1/messages", &key, schedule("draft")).await;
    let a_id = a["id"].as_str().unwrap();
    let path = format!("/v1/messages/{a_id}");

    let new_time = "2099-01-01 08:00:00";
    let too_far = app.call(Method::PATCH, &path, Some(&key), Some(json!({"scheduled_at": new_time, "timezone": "Asia/Jakarta"}))).await;
    assert_eq!(assert_error(&too_far, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "scheduled_at");
    let tomorrow =
        (Utc::now() + chrono::Duration::days(1)).with_timezone(&chrono_tz::Asia::Jakarta).format("%Y-%m-%d 08:00:00").to_string();
    let (status, changed) = app
        .call(
            Method::PATCH,
            &path,
            Some(&key),
            Some(json!({"scheduled_at": tomorrow, "timezone": "Asia/Jakarta", "text": "final", "to": "0129998888"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((changed["content"]["text"]["body"].as_str(), changed["to"].as_str()), (Some("final"), Some("+60129998888")));
    assert_eq!(changed["timezone"], "Asia/Jakarta");
    assert!(time(&changed["scheduled_at"]).to_rfc3339().ends_with("01:00:00+00:00"), "08:00 in Jakarta is 01:00 UTC: {changed}");
    let bad_zone = app.call(Method::PATCH, &path, Some(&key), Some(json!({"timezone": "Asia/Jakarta"}))).await;
    assert_eq!(assert_error(&bad_zone, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "timezone");
    let (_, other) = app.tenant("other").await;
    assert_error(&app.call(Method::PATCH, &path, Some(&other), Some(json!({"text": "x"}))).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.call(Method::DELETE, &path, Some(&other), None).await, StatusCode::NOT_FOUND, "not_found");

    let (status, cancelled) = app.post(&format!("{path}/cancel"), &key, json!({})).await;
    assert_eq!((status, cancelled["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    let too_late = app.call(Method::PATCH, &path, Some(&key), Some(json!({"text": "x"}))).await;
    assert_error(&too_late, StatusCode::CONFLICT, "not_scheduled");
    let (status, _) = app.call(Method::DELETE, &path, Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&path, &key).await, StatusCode::NOT_FOUND, "not_found");

    // A message that was sent keeps its record.
    let (_, now) = app.send_text(&key, "+60123456789", "sent now").await;
    let now_id = now["id"].as_str().unwrap();
    app.wait_message(&key, now_id, "read").await;
    let kept = app.call(Method::DELETE, &format!("/v1/messages/{now_id}"), Some(&key), None).await;
    assert_error(&kept, StatusCode::CONFLICT, "not_deletable");
    app.stop().await;
}

#[tokio::test]
async fn a_schedule_survives_a_restart_and_still_leaves_on_time() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let due = Utc::now() + chrono::Duration::seconds(3);
    let (_, msg) =
        app.post("/v1/messages", &key, json!({"to": "+60123456789", "text": "after restart", "scheduled_at": due.to_rfc3339()})).await;
    let id = msg["id"].as_str().unwrap().to_owned();
    let app = app.restart().await;
    let (_, still) = app.get(&format!("/v1/messages/{id}"), &key).await;
    assert_eq!(still["status"], "scheduled", "{still}");
    let sent = app.wait_message(&key, &id, "read").await;
    let sent_at = time(&sent["history"].as_array().unwrap().iter().find(|h| h["status"] == "sent").unwrap()["at"]);
    let scheduled_at = time(&sent["scheduled_at"]);
    assert!(sent_at >= scheduled_at && sent_at - scheduled_at < chrono::Duration::seconds(1), "{sent_at} vs {scheduled_at}");
    app.stop().await;
}

#[tokio::test]
async fn blacklisted_numbers_are_refused_and_stop_opts_a_sender_out() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let (status, added) = app.post("/v1/blacklist", &key, json!({"phone": "012-345 6789"})).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let refused = app.send_text(&key, "+60123456789", "promo").await;
    assert_eq!(assert_error(&refused, StatusCode::CONFLICT, "recipient_blacklisted")["error"]["field"], "to");
    assert_eq!(app.send_text(&key, "+60129990000", "hi").await.0, StatusCode::ACCEPTED, "others still get messages");

    let settings = json!({"opt_out_keywords": ["STOP"], "confirmation": "You will get no more messages."});
    let (status, body) = app.call(Method::PUT, "/v1/blacklist/settings", Some(&key), Some(settings)).await;
    assert!(status.is_success(), "{body}");
    let inbound = json!({"from": "+60 12-888 7777", "text": " stop "});
    let (status, _) = app.post(&format!("/v1/sandbox/devices/{device}/inbound"), &key, inbound).await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for(&key, "/v1/blacklist", |b| b["data"].as_array().is_some_and(|d| d.iter().any(|e| e["phone"] == "+60128887777"))).await;
    let refused = app.send_text(&key, "+60128887777", "are you sure?").await;
    assert_error(&refused, StatusCode::CONFLICT, "recipient_blacklisted");
    // The one confirmation still goes out.
    let list = app
        .wait_for(&key, "/v1/messages?direction=outbound&to=%2B60128887777", |l| l["data"].as_array().is_some_and(|d| !d.is_empty()))
        .await;
    assert_eq!(list["data"][0]["content"]["text"]["body"], "You will get no more messages.");
    app.stop().await;
}
