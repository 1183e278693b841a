//! The sandbox's simulated phone: media, locations, replies and groups written to a device, bad
//! input to it, and a number that may be linked to only one device.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn inbound(app: &TestApp, key: &str, device: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/v1/sandbox/devices/{device}/inbound"), key, body).await
}

/// The device's inbound messages, newest first.
async fn received(app: &TestApp, key: &str, device: &str) -> Vec<Value> {
    let (status, list) = app.get(&format!("/v1/messages?direction=inbound&device_id={device}"), key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["data"].as_array().unwrap().clone()
}

/// The `message.received` event of the message with this network id.
async fn received_event(app: &TestApp, key: &str, network_id: &str) -> Value {
    let (_, events) = app.get("/v1/events?type=message.received", key).await;
    events["data"].as_array().unwrap().iter().find(|e| e["data"]["network_id"] == network_id).cloned().unwrap_or_else(|| {
        panic!("no message.received event for {network_id}: {events}");
    })
}

#[tokio::test]
async fn an_image_with_a_caption_is_stored_and_announced() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let image = json!({"link": "https://example.com/proof.jpg", "mime_type": "image/jpeg", "caption": "Job done, see photo"});
    let (status, body) = inbound(&app, &key, &device, json!({"from": "012-999 8888", "type": "image", "image": image})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let network_id = body["network_id"].as_str().unwrap();

    let stored = received(&app, &key, &device).await;
    assert_eq!(stored.len(), 1);
    let m = &stored[0];
    assert_eq!(
        (&m["type"], &m["from"], &m["network_id"], &m["status"]),
        (&json!("image"), &json!("+60129998888"), &json!(network_id), &json!("received"))
    );
    assert_eq!(m["content"], json!({"type": "image", "image": image}), "stored as given, nothing invented");

    let event = received_event(&app, &key, network_id).await;
    assert_eq!(event["data"]["type"], "image");
    assert_eq!(event["data"]["content"], m["content"]);
    app.stop().await;
}

#[tokio::test]
async fn every_media_type_and_a_location_are_received() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let cases = [
        json!({"type": "video", "video": {"link": "http://example.com/v.mp4", "mime_type": "video/mp4", "caption": "clip"}}),
        json!({"type": "audio", "audio": {"link": "https://example.com/v.ogg", "mime_type": "audio/ogg; codecs=opus", "voice": true}}),
        json!({"type": "document", "document": {"link": "https://example.com/i.pdf", "mime_type": "application/pdf", "filename": "invoice.pdf", "caption": "invoice"}}),
        json!({"type": "sticker", "sticker": {"link": "https://example.com/s.webp", "mime_type": "image/webp"}}),
        // The type may be left out when there is one content.
        json!({"location": {"latitude": 3.1578, "longitude": 101.7119, "name": "KLCC", "address": "Jalan Ampang, Kuala Lumpur"}}),
        json!({"type": "location", "location": {"latitude": -90.0, "longitude": 180.0}}),
        json!({"type": "text", "text": "plain text, typed explicitly"}),
    ];
    for case in &cases {
        let mut body = case.clone();
        body["from"] = json!("+60123456789");
        let (status, got) = inbound(&app, &key, &device, body).await;
        assert_eq!(status, StatusCode::OK, "{case}: {got}");
        let stored = received(&app, &key, &device).await;
        let m = &stored[0];
        assert_eq!(m["network_id"], got["network_id"]);
        let kind = case["type"].as_str().unwrap_or("location");
        assert_eq!(m["type"], kind);
        let expected = match kind {
            "text" => json!({"type": "text", "text": {"body": case["text"]}}),
            _ => json!({"type": kind, kind: case[kind]}),
        };
        assert_eq!(m["content"], expected, "{case}");
        assert_eq!(received_event(&app, &key, got["network_id"].as_str().unwrap()).await["data"]["content"], expected);
    }
    assert_eq!(received(&app, &key, &device).await.len(), cases.len());
    app.stop().await;
}

#[tokio::test]
async fn a_reply_in_a_group_keeps_the_group_the_member_and_the_quoted_id() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let (status, first) =
        inbound(&app, &key, &device, json!({"from": "+60123456789", "text": "who is on duty?", "group": "120363025246125888"})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let quoted = first["network_id"].as_str().unwrap();
    let reply = json!({
        "from": "60129876543",
        "group": "120363025246125888@g.us",
        "reply_to": quoted,
        "type": "image",
        "image": {"link": "https://example.com/roster.png", "caption": "me"},
    });
    let (status, body) = inbound(&app, &key, &device, reply).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let m = received(&app, &key, &device).await[0].clone();
    assert_eq!(m["network_id"], body["network_id"]);
    assert_eq!(m["from"], "120363025246125888@g.us", "the chat is the group");
    assert_eq!(m["sender"], "+60129876543", "the member who wrote it");
    assert_eq!(m["reply_to"], quoted);
    assert_eq!(m["content"]["image"]["caption"], "me");
    let event = received_event(&app, &key, body["network_id"].as_str().unwrap()).await;
    let data = &event["data"];
    assert_eq!((&data["from"], &data["sender"], &data["reply_to"]), (&m["from"], &m["sender"], &json!(quoted)));
    assert_eq!(data["content"], m["content"]);
    app.stop().await;
}

fn field(got: &(StatusCode, Value), field: &str, case: &Value) {
    assert!(got.0.is_client_error(), "{case}: {} {}", got.0, got.1);
    assert_eq!(got.1["error"]["field"], field, "{case}: {}", got.1);
    assert!(got.1["error"]["message"].as_str().is_some_and(|m| m.len() > 10), "{case}: {}", got.1);
}

#[tokio::test]
async fn bad_inbound_input_names_the_field_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let link = "https://example.com/a.jpg";
    let cases: Vec<(Value, &str)> = vec![
        // One content, the one `type` names.
        (json!({}), "text"),
        (json!({"type": "image"}), "image"),
        (json!({"type": "location", "text": "here"}), "location"),
        (json!({"text": "hi", "image": {"link": link}}), "image"),
        (json!({"type": "text", "text": "hi", "location": {"latitude": 1, "longitude": 1}}), "location"),
        (json!({"type": "image", "image": {"link": link}, "video": {"link": link}}), "video"),
        (json!({"type": "poll", "text": "hi"}), "type"),
        (json!({"type": 5, "text": "hi"}), "type"),
        // Text.
        (json!({"text": ""}), "text"),
        (json!({"text": "  "}), "text"),
        (json!({"text": "x".repeat(4097)}), "text"),
        (json!({"text": {"body": "hi"}}), "text"),
        // Media.
        (json!({"type": "image", "image": {"caption": "no file"}}), "image.link"),
        (json!({"type": "image", "image": {"link": ""}}), "image.link"),
        (json!({"type": "image", "image": {"link": "ftp://example.com/a.jpg"}}), "image.link"),
        (json!({"type": "image", "image": {"link": "/local/a.jpg"}}), "image.link"),
        (json!({"type": "image", "image": {"link": "https://exa mple.com/a.jpg"}}), "image.link"),
        (json!({"type": "image", "image": {"link": link, "mime_type": "video/mp4"}}), "image.mime_type"),
        (json!({"type": "image", "image": {"link": link, "mime_type": "jpeg"}}), "image.mime_type"),
        (json!({"type": "video", "video": {"link": link, "mime_type": "image/png"}}), "video.mime_type"),
        (json!({"type": "audio", "audio": {"link": link, "mime_type": "text/plain"}}), "audio.mime_type"),
        (json!({"type": "sticker", "sticker": {"link": link, "mime_type": "image/png"}}), "sticker.mime_type"),
        (json!({"type": "document", "document": {"link": link, "mime_type": "application/"}}), "document.mime_type"),
        (json!({"type": "image", "image": {"link": link, "caption": "x".repeat(1025)}}), "image.caption"),
        (json!({"type": "image", "image": {"link": link, "caption": ""}}), "image.caption"),
        (json!({"type": "audio", "audio": {"link": link, "caption": "hi"}}), "audio.caption"),
        (json!({"type": "sticker", "sticker": {"link": link, "caption": "hi"}}), "sticker.caption"),
        (json!({"type": "image", "image": {"link": link, "filename": "a.jpg"}}), "image.filename"),
        (json!({"type": "document", "document": {"link": link, "filename": "../etc/passwd"}}), "document.filename"),
        (json!({"type": "image", "image": {"link": link, "voice": true}}), "image.voice"),
        (json!({"type": "image", "image": {"link": link, "size": 10}}), "image.size"),
        (json!({"type": "image", "image": "https://example.com/a.jpg"}), "image"),
        // Locations.
        (json!({"location": {"latitude": 91, "longitude": 0}}), "location.latitude"),
        (json!({"location": {"latitude": -90.5, "longitude": 0}}), "location.latitude"),
        (json!({"location": {"latitude": 0, "longitude": 180.01}}), "location.longitude"),
        (json!({"location": {"latitude": "3.1", "longitude": 101}}), "location.latitude"),
        (json!({"location": {"longitude": 101}}), "location.latitude"),
        (json!({"location": {"latitude": 3, "longitude": 101, "name": ""}}), "location.name"),
        // Ids and the group.
        (json!({"text": "hi", "reply_to": ""}), "reply_to"),
        (json!({"text": "hi", "reply_to": "x".repeat(129)}), "reply_to"),
        (json!({"text": "hi", "network_id": ""}), "network_id"),
        (json!({"text": "hi", "network_id": "x".repeat(129)}), "network_id"),
        (json!({"text": "hi", "network_id": "has space"}), "network_id"),
        (json!({"text": "hi", "group": "not a group!"}), "group"),
        (json!({"text": "hi", "colour": "red"}), "colour"),
    ];
    for (case, name) in &cases {
        let mut body = case.clone();
        body["from"] = json!("+60123456789");
        field(&inbound(&app, &key, &device, body).await, name, case);
    }
    field(&inbound(&app, &key, &device, json!({"text": "hi"})).await, "from", &json!("no from"));
    assert!(received(&app, &key, &device).await.is_empty(), "nothing stored from bad input");

    // The limits themselves are fine.
    let edge = json!({"from": "+60123456789", "text": "x".repeat(4096), "reply_to": "r".repeat(128), "network_id": "n".repeat(128)});
    assert_eq!(inbound(&app, &key, &device, edge).await.0, StatusCode::OK);
    let caption = json!({"from": "+60123456789", "image": {"link": link, "caption": "c".repeat(1024)}});
    assert_eq!(inbound(&app, &key, &device, caption).await.0, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn sandbox_devices_message_each_other_across_tenants_with_replies() {
    let app = TestApp::spawn().await;
    let (key_a, a) = app.connected_tenant("A").await;
    let (key_b, b) = app.connected_tenant("B").await;
    let (_, device_b) = app.get(&format!("/v1/devices/{b}"), &key_b).await;
    let (_, device_a) = app.get(&format!("/v1/devices/{a}"), &key_a).await;
    let (phone_a, phone_b) = (device_a["phone"].as_str().unwrap(), device_b["phone"].as_str().unwrap());

    let (status, hello) = app.send_text(&key_a, phone_b, "hello b").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{hello}");
    let at_b = app.wait_for(&key_b, "/v1/messages?direction=inbound", |l| l["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    let m = &at_b["data"][0];
    assert_eq!((&m["from"], &m["content"]["text"]["body"]), (&json!(phone_a), &json!("hello b")));
    assert_eq!(m["network_id"], hello["id"], "the network id is the sender's message id");

    let reply = json!({"to": phone_a, "type": "text", "text": {"body": "hi a"}, "reply_to": hello["id"]});
    let (status, body) = app.post("/v1/messages", &key_b, reply).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let at_a = app.wait_for(&key_a, "/v1/messages?direction=inbound", |l| l["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    let m = &at_a["data"][0];
    assert_eq!((&m["from"], &m["content"]["text"]["body"], &m["reply_to"]), (&json!(phone_b), &json!("hi a"), &hello["id"]));
    app.wait_message(&key_a, hello["id"].as_str().unwrap(), "read").await;
    app.stop().await;
}

#[tokio::test]
async fn a_number_linked_to_another_tenants_device_cannot_be_scanned() {
    let app = TestApp::spawn().await;
    let number = "+601111111111";
    let (_, key_a) = app.tenant("A").await;
    let (dev_a, _) = app.device(&key_a, "a").await;
    let (status, body) = app.post(&format!("/v1/devices/{dev_a}/connect"), &key_a, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = app.post(&format!("/v1/sandbox/devices/{dev_a}/scan"), &key_a, json!({"phone": number})).await;
    assert_eq!((status, &body["phone"]), (StatusCode::OK, &json!(number)), "{body}");
    app.wait_device(&key_a, &dev_a, "connected").await;

    let (_, key_b) = app.tenant("B").await;
    let (dev_b, _) = app.device(&key_b, "b").await;
    app.post(&format!("/v1/devices/{dev_b}/connect"), &key_b, json!({})).await;
    app.wait_device(&key_b, &dev_b, "awaiting_scan").await;
    // The same number in another form is still the same number.
    for phone in [number, "011-1111 1111"] {
        let got = app.post(&format!("/v1/sandbox/devices/{dev_b}/scan"), &key_b, json!({"phone": phone})).await;
        let error = assert_error(&got, StatusCode::CONFLICT, "phone_in_use");
        assert_eq!(error["error"]["field"], "phone", "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("already linked to another device"), "{error}");
    }
    let (_, b) = app.get(&format!("/v1/devices/{dev_b}"), &key_b).await;
    assert_eq!((&b["status"], &b["phone"]), (&json!("awaiting_scan"), &Value::Null), "B stays unlinked: {b}");

    // Nor can B ask for a pairing code for it.
    let got = app.post(&format!("/v1/devices/{dev_b}/pair-code"), &key_b, json!({"phone": number})).await;
    let body = assert_error(&got, StatusCode::CONFLICT, "phone_in_use");
    assert_eq!(body["error"]["field"], "phone", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("already linked to another device"), "{body}");
    let (_, b) = app.get(&format!("/v1/devices/{dev_b}"), &key_b).await;
    assert_ne!(b["status"], "connected", "{b}");
    assert!(b["phone"].is_null(), "{b}");

    // Messages for the number still reach A only.
    let (key_c, _) = app.connected_tenant("C").await;
    app.send_text(&key_c, number, "for A").await;
    app.wait_for(&key_a, "/v1/messages?direction=inbound", |l| l["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_, at_b) = app.get("/v1/messages?direction=inbound", &key_b).await;
    assert!(at_b["data"].as_array().unwrap().is_empty(), "{at_b}");

    // B may scan with another number; A may link its own number again after logging out.
    app.post(&format!("/v1/devices/{dev_b}/connect"), &key_b, json!({})).await;
    app.wait_device(&key_b, &dev_b, "awaiting_scan").await;
    let (status, body) = app.post(&format!("/v1/sandbox/devices/{dev_b}/scan"), &key_b, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["phone"], number);
    let (status, body) = app.post(&format!("/v1/devices/{dev_a}/logout"), &key_a, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.post(&format!("/v1/devices/{dev_a}/connect"), &key_a, json!({})).await;
    app.wait_device(&key_a, &dev_a, "awaiting_scan").await;
    let (status, body) = app.post(&format!("/v1/sandbox/devices/{dev_a}/scan"), &key_a, json!({"phone": number})).await;
    assert_eq!((status, &body["phone"]), (StatusCode::OK, &json!(number)), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_inbound_content() {
    let app = TestApp::spawn().await;
    let (status, spec) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"]["/v1/sandbox/devices/{id}/inbound"]["post"].is_object());
    let schemas = &spec["components"]["schemas"];
    let request = &schemas["InboundRequest"]["properties"];
    for name in ["from", "type", "text", "image", "video", "audio", "document", "sticker", "location", "group", "reply_to", "network_id"] {
        assert!(!request[name].is_null(), "InboundRequest.{name} missing: {request}");
    }
    assert_eq!(schemas["InboundRequest"]["required"], json!(["from"]));
    for name in ["InboundType", "InboundMedia", "InboundLocation", "MessageContent", "MediaContent", "LocationContent"] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    let kinds = schemas["InboundType"]["enum"].as_array().unwrap();
    assert_eq!(kinds.len(), 7, "{kinds:?}");
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_device_gives_its_number_back() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("A").await;
    let (first, _) = app.device(&key, "first").await;
    let (second, _) = app.device(&key, "second").await;
    let number = "+60121111111";
    app.post(&format!("/v1/devices/{first}/connect"), &key, json!({})).await;
    let (status, body) = app.post(&format!("/v1/sandbox/devices/{first}/scan"), &key, json!({"phone": number})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.post(&format!("/v1/devices/{second}/connect"), &key, json!({})).await;
    let taken = app.post(&format!("/v1/sandbox/devices/{second}/scan"), &key, json!({"phone": number})).await;
    assert_error(&taken, StatusCode::CONFLICT, "phone_in_use");
    let (status, _) = app.call(Method::DELETE, &format!("/v1/devices/{first}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.post(&format!("/v1/sandbox/devices/{second}/scan"), &key, json!({"phone": number})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.wait_device(&key, &second, "connected").await["phone"], number);
    app.stop().await;
}
