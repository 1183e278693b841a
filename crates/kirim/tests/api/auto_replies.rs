//! Auto-reply rules through the sandbox: keyword matching, device scope, groups, the fallback
//! (closing) message, idempotency per inbound message, loop protection and bad input.
//!
//! The rules answer inbound messages in the order they arrive, so a test waits for the reply
//! to a later message and then knows every earlier one was decided.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn rule(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, rule) = app.post("/v1/auto-replies", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    rule
}

async fn write(app: &TestApp, key: &str, device: &str, body: Value) -> String {
    let (status, body) = app.post(&format!("/v1/sandbox/devices/{device}/inbound"), key, body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["network_id"].as_str().unwrap().to_owned()
}

/// The outbound messages to `to`, oldest first.
async fn sent_to(app: &TestApp, key: &str, to: &str) -> Vec<Value> {
    let (status, list) = app.get(&format!("/v1/messages?direction=outbound&to={}", to.replace('+', "%2B")), key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut data = list["data"].as_array().unwrap().clone();
    data.reverse();
    data
}

/// Waits until `to` got `n` outbound messages; returns them, oldest first.
async fn wait_replies(app: &TestApp, key: &str, to: &str, n: usize) -> Vec<Value> {
    let path = format!("/v1/messages?direction=outbound&to={}", to.replace('+', "%2B"));
    app.wait_for(key, &path, |b| b["data"].as_array().is_some_and(|d| d.len() >= n)).await;
    sent_to(app, key, to).await
}

fn text(m: &Value) -> &str {
    m["content"]["text"]["body"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_keyword_rule_answers_once_per_inbound_message() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let created = rule(&app, &key, json!({"keyword": "Price", "reply": {"type": "text", "text": "RM 10 a wash"}})).await;
    assert_eq!((&created["match"], &created["device_id"], &created["enabled"]), (&json!("exact"), &Value::Null, &json!(true)));

    write(&app, &key, &device, json!({"from": "0123000001", "text": "what is the price?"})).await;
    write(&app, &key, &device, json!({"from": "0123000001", "text": "  pRICE ", "network_id": "twice"})).await;
    // The network delivers the same message again: it is answered once.
    write(&app, &key, &device, json!({"from": "0123000001", "text": "  pRICE ", "network_id": "twice"})).await;
    write(&app, &key, &device, json!({"from": "0123000002", "text": "price"})).await;
    wait_replies(&app, &key, "+60123000002", 1).await;
    let replies = sent_to(&app, &key, "+60123000001").await;
    assert_eq!(replies.len(), 1, "`exact` ignores a text that only contains the keyword; a repeat is not answered twice: {replies:?}");
    assert_eq!(text(&replies[0]), "RM 10 a wash");
    assert_eq!(replies[0]["device_id"], json!(device));
    app.wait_message(&key, replies[0]["id"].as_str().unwrap(), "delivered").await;
    app.stop().await;
}

#[tokio::test]
async fn contains_and_regex_rules_per_device_with_any_reply_type_and_groups_opt_in() {
    let app = TestApp::spawn().await;
    let (key, d1) = app.connected_tenant("t").await;
    let (d2, _) = app.device(&key, "second").await;
    app.link(&key, &d2).await;
    rule(&app, &key, json!({"device_id": d1, "keyword": "hours", "match": "contains", "reply": {"text": "9 to 5"}})).await;
    let files = crate::files::FileServer::start().await;
    let image = json!({"link": files.serve("track.jpg", "image/jpeg", crate::files::jpeg()), "caption": "on its way"});
    rule(&app, &key, json!({"keyword": r"^order\s*#?\d+$", "match": "regex", "groups": true, "reply": {"type": "image", "image": image}}))
        .await;

    write(&app, &key, &d2, json!({"from": "0123000011", "text": "opening HOURS?"})).await;
    write(&app, &key, &d1, json!({"from": "0123000012", "text": "Your opening hours please"})).await;
    write(&app, &key, &d1, json!({"from": "0123000013", "text": "ORDER #42"})).await;
    let group = "120363025246125888@g.us";
    write(&app, &key, &d1, json!({"from": "0123000014", "group": group, "text": "what are your hours"})).await;
    write(&app, &key, &d2, json!({"from": "0123000014", "group": group, "text": "order 7"})).await;
    let to_group = wait_replies(&app, &key, group, 1).await;
    assert_eq!(to_group.len(), 1, "only the rule that opted into groups answers there: {to_group:?}");
    assert_eq!((&to_group[0]["type"], &to_group[0]["device_id"]), (&json!("image"), &json!(d2)));

    assert!(sent_to(&app, &key, "+60123000011").await.is_empty(), "a device rule does not answer another device");
    let hours = wait_replies(&app, &key, "+60123000012", 1).await;
    assert_eq!(text(&hours[0]), "9 to 5");
    let order = wait_replies(&app, &key, "+60123000013", 1).await;
    // The reply's image was fetched and stored when it was queued.
    assert_eq!((&order[0]["content"]["type"], &order[0]["content"]["image"]["caption"]), (&json!("image"), &json!("on its way")));
    assert!(order[0]["content"]["image"]["media_id"].is_string(), "{}", order[0]);
    app.stop().await;
}

#[tokio::test]
async fn the_fallback_closing_message_answers_what_nothing_matched_once_a_day() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let closing =
        rule(&app, &key, json!({"device_id": device, "match": "fallback", "reply": {"text": "Thanks! We reply within a day."}})).await;
    assert_eq!((&closing["keyword"], &closing["cooldown_secs"]), (&Value::Null, &json!(86_400)));
    rule(&app, &key, json!({"keyword": "menu", "reply": {"text": "1. wash 2. dry"}})).await;

    write(&app, &key, &device, json!({"from": "0123000021", "text": "hello?"})).await;
    write(&app, &key, &device, json!({"from": "0123000021", "text": "anyone there?"})).await;
    write(&app, &key, &device, json!({"from": "0123000021", "text": "menu"})).await;
    let replies = wait_replies(&app, &key, "+60123000021", 2).await;
    let texts: Vec<&str> = replies.iter().map(text).collect();
    assert_eq!(texts, ["Thanks! We reply within a day.", "1. wash 2. dry"], "the closing message once per chat, keywords still answered");
    app.stop().await;
}

#[tokio::test]
async fn loops_are_never_fed() {
    let app = TestApp::spawn().await;
    let (key, d1) = app.connected_tenant("a").await;
    let (d2, _) = app.device(&key, "second").await;
    let own_phone = app.link(&key, &d2).await;
    rule(&app, &key, json!({"keyword": "ping", "match": "contains", "reply": {"text": "ping pong"}})).await;
    // Another tenant's bot on this server answers "ping" too.
    let (other_key, other_device) = app.connected_tenant("b").await;
    rule(&app, &other_key, json!({"keyword": "ping", "match": "contains", "reply": {"text": "ping back"}})).await;
    let (_, other) = app.get(&format!("/v1/devices/{other_device}"), &other_key).await;
    let other_phone = other["phone"].as_str().unwrap().to_owned();

    // One of the tenant's own numbers writing in is never answered.
    write(&app, &key, &d1, json!({"from": own_phone, "text": "ping"})).await;
    // The other bot's device writes "ping": answered once; our answer reaches their bot,
    // which does not answer an auto-reply, so the two never talk in circles.
    let d1_phone = app.get(&format!("/v1/devices/{d1}"), &key).await.1["phone"].as_str().unwrap().to_owned();
    let (status, sent) = app.post("/v1/messages", &other_key, json!({"to": d1_phone, "text": "ping"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let ours = wait_replies(&app, &key, &other_phone, 1).await;
    assert_eq!(text(&ours[0]), "ping pong");
    let inbox = format!("/v1/messages?direction=inbound&device_id={other_device}");
    app.wait_for(&other_key, &inbox, |b| b["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    write(&app, &other_key, &other_device, json!({"from": "0123000031", "text": "ping"})).await;
    wait_replies(&app, &other_key, "+60123000031", 1).await;
    assert_eq!(sent_to(&app, &other_key, &d1_phone).await.len(), 1, "an auto-reply is never answered with an auto-reply");
    write(&app, &key, &d1, json!({"from": "0123000032", "text": "ping"})).await;
    wait_replies(&app, &key, "+60123000032", 1).await;
    assert!(sent_to(&app, &key, &own_phone).await.is_empty(), "own numbers are never answered");

    // At most 10 replies per chat per 10 minutes.
    for i in 0..12 {
        write(&app, &key, &d1, json!({"from": "0123000033", "text": format!("ping {i}")})).await;
    }
    write(&app, &key, &d1, json!({"from": "0123000034", "text": "ping"})).await;
    wait_replies(&app, &key, "+60123000034", 1).await;
    assert_eq!(sent_to(&app, &key, "+60123000033").await.len(), 10);
    app.stop().await;
}

#[tokio::test]
async fn rules_are_managed_per_tenant_and_bad_rules_are_refused() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let (_, other_key) = app.tenant("other").await;
    let reply = json!({"text": "hi"});
    for (body, field) in [
        (json!({"keyword": "(unclosed", "match": "regex", "reply": reply}), "keyword"),
        (json!({"keyword": "x", "match": "fuzzy", "reply": reply}), "match"),
        (json!({"keyword": "x"}), "reply"),
        (json!({"reply": reply}), "keyword"),
        (json!({"match": "fallback", "keyword": "x", "reply": reply}), "keyword"),
        (json!({"keyword": "x", "reply": {"reaction": {"message_id": "msg_01jd3w5x8mq2v7h4k9r6t0b1cz", "emoji": "👍"}}}), "reply.reaction"),
        (json!({"keyword": "x", "reply": reply, "cooldown_secs": 99_999_999}), "cooldown_secs"),
        (json!({"keyword": "x", "reply": {"text": ""}}), "text.body"),
        (json!({"keyword": "x", "reply": reply, "device_id": "dev_nope"}), "device_id"),
    ] {
        let got = app.post("/v1/auto-replies", &key, body.clone()).await;
        assert!(got.0.is_client_error(), "{body}: {got:?}");
        assert_eq!(got.1["error"]["field"], field, "{body}: {}", got.1);
    }
    let unknown =
        app.post("/v1/auto-replies", &key, json!({"keyword": "x", "reply": reply, "device_id": "dev_01jd3w5x8mq2v7h4k9r6t0b1cz"})).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");

    let created = rule(&app, &key, json!({"device_id": device, "keyword": "hi", "reply": reply})).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/auto-replies/{id}");
    assert_error(&app.get(&path, &other_key).await, StatusCode::NOT_FOUND, "not_found");
    let (status, listed) = app.get("/v1/auto-replies", &other_key).await;
    assert_eq!((status, listed["data"].as_array().unwrap().len()), (StatusCode::OK, 0));
    let (status, patched) = app.call(Method::PATCH, &path, Some(&key), Some(json!({"match": "contains", "enabled": false}))).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!((&patched["match"], &patched["keyword"], &patched["enabled"]), (&json!("contains"), &json!("hi"), &json!(false)));
    let bad = app.call(Method::PATCH, &path, Some(&key), Some(json!({"match": "regex", "keyword": "[z-a]"}))).await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    let (status, listed) = app.get(&format!("/v1/auto-replies?device_id={device}"), &key).await;
    assert_eq!((status, listed["data"][0]["id"].as_str()), (StatusCode::OK, Some(id)));
    let (status, _) = app.call(Method::DELETE, &path, Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&path, &key).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}
