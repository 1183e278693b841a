//! Chat states (`POST /v1/devices/{id}/presence`), calls (`settings.reject_calls`, event
//! `call.received`), the profile name and the WhatsApp block list, through the sandbox
//! network's simulated world.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};

#[tokio::test]
async fn presence_reaches_the_chat_and_bad_input_names_the_field() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("shop").await;
    let path = format!("/v1/devices/{device}/presence");

    for (state, to) in [("typing", "+60123456789"), ("recording", "+60123456789"), ("paused", "120363025246125888@g.us")] {
        let (status, body) = app.post(&path, &key, json!({"to": to, "state": state})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (_, shown) = app.get(&format!("/v1/sandbox/devices/{device}/presence"), &key).await;
    let seen: Vec<(&str, &str)> =
        shown["data"].as_array().unwrap().iter().map(|p| (p["to"].as_str().unwrap(), p["state"].as_str().unwrap())).collect();
    assert_eq!(seen, [("+60123456789", "typing"), ("+60123456789", "recording"), ("120363025246125888@g.us", "paused")]);

    let bad_state = app.post(&path, &key, json!({"to": "+60123456789", "state": "dancing"})).await;
    assert_eq!(assert_error(&bad_state, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "state");
    let bad_to = app.post(&path, &key, json!({"to": "nobody", "state": "typing"})).await;
    assert_eq!(assert_error(&bad_to, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "to");

    // Another tenant's device is not found; a device that is offline cannot show anything.
    let (_, other_key) = app.tenant("other").await;
    assert_error(&app.post(&path, &other_key, json!({"to": "+60123456789", "state": "typing"})).await, StatusCode::NOT_FOUND, "not_found");
    app.post(&format!("/v1/sandbox/devices/{device}/disconnect"), &key, json!({})).await;
    app.wait_device(&key, &device, "disconnected").await;
    let offline = app.post(&path, &key, json!({"to": "+60123456789", "state": "typing"})).await;
    assert_error(&offline, StatusCode::CONFLICT, "device_not_connected");
    app.stop().await;
}

async fn calls(app: &TestApp, key: &str) -> Vec<Value> {
    let (_, events) = app.get("/v1/events?type=call.received", key).await;
    events["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn calls_are_recorded_and_declined_when_the_device_is_set_to() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("shop").await;
    let call = format!("/v1/sandbox/devices/{device}/call");

    // By default a call rings on: recorded, not declined.
    let (status, rang) = app.post(&call, &key, json!({"from": "+60123456789"})).await;
    assert_eq!((status, &rang["rejected"]), (StatusCode::OK, &json!(false)), "{rang}");
    let events = calls(&app, &key).await;
    assert_eq!(events.len(), 1);
    let data = &events[0]["data"];
    assert_eq!(
        (&data["from"], &data["rejected"], &data["video"], &data["device_id"]),
        (&json!("+60123456789"), &json!(false), &json!(false), &json!(device))
    );
    assert_eq!(data["call_id"], rang["call_id"]);

    // Set to decline, with a reply: the call is declined and the caller gets the text.
    let settings = json!({"settings": {"reject_calls": true, "call_reply": "Sorry, this number takes messages only."}});
    let (status, patched) = app.call(Method::PATCH, &format!("/v1/devices/{device}"), Some(&key), Some(settings)).await;
    assert_eq!((status, &patched["settings"]["reject_calls"]), (StatusCode::OK, &json!(true)), "{patched}");
    let (_, declined) = app.post(&call, &key, json!({"from": "+60123456780", "video": true})).await;
    assert_eq!(declined["rejected"], true, "{declined}");
    let data = calls(&app, &key).await[1]["data"].clone();
    assert_eq!((&data["rejected"], &data["video"]), (&json!(true), &json!(true)));
    let replies = app.wait_for(&key, "/v1/messages?direction=outbound", |p| p["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    let reply = &replies["data"][0];
    assert_eq!(
        (&reply["to"], &reply["content"]["text"]["body"]),
        (&json!("+60123456780"), &json!("Sorry, this number takes messages only.")),
        "{reply}"
    );

    // The reply can be removed; an over-long one is refused naming the field.
    let (_, cleared) =
        app.call(Method::PATCH, &format!("/v1/devices/{device}"), Some(&key), Some(json!({"settings": {"call_reply": ""}}))).await;
    assert!(cleared["settings"].get("call_reply").is_none(), "{cleared}");
    let long = json!({"settings": {"call_reply": "x".repeat(4097)}});
    let refused = app.call(Method::PATCH, &format!("/v1/devices/{device}"), Some(&key), Some(long)).await;
    assert_eq!(assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "settings.call_reply");

    // A device that is not connected has no calls to ring.
    let bad = app.post(&call, &key, json!({"from": "not a number"})).await;
    assert_eq!(assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "from");
    app.post(&format!("/v1/sandbox/devices/{device}/disconnect"), &key, json!({})).await;
    app.wait_device(&key, &device, "disconnected").await;
    assert_error(&app.post(&call, &key, json!({"from": "+60123456789"})).await, StatusCode::CONFLICT, "device_not_connected");
    app.stop().await;
}

/// wa-gateway's `reject_call` on `/api/start` sets the device to decline calls (it used to be
/// ignored), and a later start without it leaves the setting alone.
#[tokio::test]
async fn wa_gateway_start_with_reject_call_declines_calls() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (device, token) = app.device(&key, "Sales").await;
    let start = |body: Value| {
        let request = app.client.post(format!("{}/compat/wa-gateway/api/start", app.base)).json(&body);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(start(json!({"token": token, "reject_call": "Y", "reject_message": "Busy"})).await, StatusCode::OK);
    let (_, got) = app.get(&format!("/v1/devices/{device}"), &key).await;
    assert_eq!((&got["settings"]["reject_calls"], &got["settings"]["call_reply"]), (&json!(true), &json!("Busy")), "{got}");
    assert_eq!(start(json!({"token": token})).await, StatusCode::OK);
    let (_, got) = app.get(&format!("/v1/devices/{device}"), &key).await;
    assert_eq!(got["settings"]["reject_calls"], true, "left as it was");

    let (status, _) = app.post(&format!("/v1/sandbox/devices/{device}/scan"), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    app.wait_device(&key, &device, "connected").await;
    let (_, rang) = app.post(&format!("/v1/sandbox/devices/{device}/call"), &key, json!({"from": "+60123456789"})).await;
    assert_eq!(rang["rejected"], true, "{rang}");
    assert_eq!(start(json!({"token": token, "reject_call": false})).await, StatusCode::OK);
    let (_, got) = app.get(&format!("/v1/devices/{device}"), &key).await;
    assert_eq!(got["settings"]["reject_calls"], false, "{got}");
    app.stop().await;
}

#[tokio::test]
async fn the_profile_name_and_the_block_list_are_the_accounts_own() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (device, token) = app.device(&key, "Sales").await;
    let profile = format!("/v1/devices/{device}/profile");
    let blocklist = format!("/v1/devices/{device}/blocklist");
    // On the network, so the device must be connected.
    let got = app.call(Method::PUT, &profile, Some(&key), Some(json!({"name": "Kedai Ali"}))).await;
    assert_error(&got, StatusCode::CONFLICT, "device_not_connected");
    app.link(&key, &device).await;

    let (status, body) = app.call(Method::PUT, &profile, Some(&key), Some(json!({"name": "Kedai Ali"}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let got = app.call(Method::PUT, &profile, Some(&key), Some(json!({"name": "x".repeat(26)}))).await;
    assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "name");
    let got = app.call(Method::PUT, &profile, Some(&token), Some(json!({"name": "Mine"}))).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");

    let (_, list) = app.get(&blocklist, &key).await;
    assert_eq!(list, json!({"data": []}));
    for phone in ["012-345 6789", "+60129876543"] {
        let (status, body) = app.post(&blocklist, &key, json!({"phone": phone})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (_, list) = app.get(&blocklist, &token).await;
    assert_eq!(list, json!({"data": ["+60123456789", "+60129876543"]}), "a device token may read its own");
    let (status, _) = app.call(Method::DELETE, &format!("{blocklist}/0123456789"), Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.get(&blocklist, &key).await;
    assert_eq!(list, json!({"data": ["+60129876543"]}));
    let got = app.post(&blocklist, &key, json!({"phone": "not a number"})).await;
    assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "phone");
    app.stop().await;
}
