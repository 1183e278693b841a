//! Tenant isolation and credentials: another tenant's objects are 404 on every route, lists never
//! show them, device tokens act only on their device, revoked keys stop at once.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn another_tenants_objects_are_not_found_on_every_route() {
    let app = TestApp::spawn().await;
    let (tenant_a, key_a) = app.tenant("A").await;
    let (dev_a, _) = app.device(&key_a, "a").await;
    app.link(&key_a, &dev_a).await;
    let (_, msg) = app.send_text(&key_a, "+60123456789", "private").await;
    let msg_a = msg["id"].as_str().unwrap().to_owned();
    let (_, extra_key) = app.post(&format!("/v1/tenants/{tenant_a}/keys"), &key_a, json!({"name": "second"})).await;
    let key_id_a = extra_key["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/sandbox/devices/{dev_a}/inbound"), &key_a, json!({"from": "+60123450000", "text": "hi"})).await;

    let receiver = crate::receiver::Receiver::start().await;
    let (_, hook) = app.post("/v1/webhooks", &key_a, json!({"url": receiver.url, "event_types": ["message.sent"]})).await;
    let hook_a = hook["id"].as_str().unwrap().to_owned();
    app.send_text(&key_a, "+60123456789", "announced").await;
    let deliveries =
        app.wait_for(&key_a, &format!("/v1/webhooks/{hook_a}/deliveries"), |l| l["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    let dlv_a = deliveries["data"][0]["id"].as_str().unwrap().to_owned();
    let (_, contact) = app.post("/v1/contacts", &key_a, json!({"phone": "+60123456789", "name": "Siti"})).await;
    let contact_a = contact["id"].as_str().unwrap().to_owned();
    let (_, group) = app.post("/v1/contact-groups", &key_a, json!({"name": "vip"})).await;
    let group_a = group["id"].as_str().unwrap().to_owned();
    let (_, wa_group) = app.post(&format!("/v1/devices/{dev_a}/groups"), &key_a, json!({"subject": "crew"})).await;
    let jid_a = wa_group["group"]["jid"].as_str().unwrap().to_owned();
    let reminder = json!({"to": "+60123456789", "message": {"text": "x"}, "start_at": "2099-01-01 09:00", "repeat": {"every": "daily"}});
    let (_, reminder) = app.post("/v1/reminders", &key_a, reminder).await;
    let reminder_a = reminder["id"].as_str().unwrap().to_owned();
    let (_, rule) = app.post("/v1/auto-replies", &key_a, json!({"keyword": "x", "reply": {"text": "y"}})).await;
    let rule_a = rule["id"].as_str().unwrap().to_owned();
    let (_, agent) = app.post("/v1/agents", &key_a, json!({"name": "Danu", "email": "danu@example.com"})).await;
    let agent_a = agent["id"].as_str().unwrap().to_owned();
    let (status, conversation) = app.post("/v1/conversations/assign", &key_a, json!({"message_id": msg_a, "agent_id": agent_a})).await;
    assert_eq!(status, StatusCode::OK, "{conversation}");
    let conversation_a = conversation["id"].as_str().unwrap().to_owned();
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD.encode(crate::files::png());
    let (status, media) = app.post("/v1/media", &key_a, json!({"data": png, "type": "image", "filename": "a.png"})).await;
    assert_eq!(status, StatusCode::CREATED, "{media}");
    let media_a = media["id"].as_str().unwrap().to_owned();
    let job = json!({"device_id": dev_a, "worker_phone": "+60123450001", "client_name": "Siti", "task": "x", "location": "y"});
    let (status, job) = app.post("/v1/jobs", &key_a, job).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job_a = job["id"].as_str().unwrap().to_owned();
    let (status, template) = app.post("/v1/templates", &key_a, json!({"name": "hello", "body": "Hi {{name}}"})).await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let template_a = template["id"].as_str().unwrap().to_owned();

    let (_, key_b) = app.tenant("B").await;
    let routes: Vec<(Method, String, Value)> = vec![
        (Method::GET, format!("/v1/tenants/{tenant_a}"), Value::Null),
        (Method::PATCH, format!("/v1/tenants/{tenant_a}"), json!({"daily_token_limit": null})),
        (Method::PUT, format!("/v1/devices/{dev_a}/limits"), json!({})),
        (Method::POST, format!("/v1/tenants/{tenant_a}/keys"), json!({})),
        (Method::GET, format!("/v1/tenants/{tenant_a}/keys"), Value::Null),
        (Method::DELETE, format!("/v1/keys/{key_id_a}"), Value::Null),
        (Method::GET, format!("/v1/devices/{dev_a}"), Value::Null),
        (Method::PATCH, format!("/v1/devices/{dev_a}"), json!({"name": "stolen"})),
        (Method::DELETE, format!("/v1/devices/{dev_a}"), Value::Null),
        (Method::POST, format!("/v1/devices/{dev_a}/connect"), json!({})),
        (Method::POST, format!("/v1/devices/{dev_a}/pair-code"), json!({"phone": "+60123456789"})),
        (Method::GET, format!("/v1/devices/{dev_a}/qr"), Value::Null),
        (Method::POST, format!("/v1/devices/{dev_a}/logout"), Value::Null),
        (Method::POST, format!("/v1/devices/{dev_a}/token"), Value::Null),
        (Method::GET, format!("/v1/messages/{msg_a}"), Value::Null),
        (Method::POST, format!("/v1/messages/{msg_a}/cancel"), Value::Null),
        (Method::POST, format!("/v1/messages/{msg_a}/resend"), Value::Null),
        (Method::PATCH, format!("/v1/messages/{msg_a}"), json!({"text": "stolen"})),
        (Method::DELETE, format!("/v1/messages/{msg_a}"), Value::Null),
        (Method::POST, format!("/v1/sandbox/devices/{dev_a}/scan"), json!({})),
        (Method::POST, format!("/v1/sandbox/devices/{dev_a}/inbound"), json!({"from": "+60123456789", "text": "x"})),
        (Method::POST, format!("/v1/sandbox/devices/{dev_a}/disconnect"), Value::Null),
        (Method::GET, format!("/v1/sandbox/devices/{dev_a}/received"), Value::Null),
        (Method::POST, format!("/v1/sandbox/devices/{dev_a}/call"), json!({"from": "+60123456789"})),
        (Method::GET, format!("/v1/sandbox/devices/{dev_a}/presence"), Value::Null),
        (Method::POST, format!("/v1/devices/{dev_a}/presence"), json!({"to": "+60123456789", "state": "typing"})),
        (Method::PUT, format!("/v1/devices/{dev_a}/profile"), json!({"name": "Stolen"})),
        (Method::GET, format!("/v1/devices/{dev_a}/blocklist"), Value::Null),
        (Method::POST, format!("/v1/devices/{dev_a}/blocklist"), json!({"phone": "+60123456789"})),
        (Method::DELETE, format!("/v1/devices/{dev_a}/blocklist/%2B60123456789"), Value::Null),
        (Method::GET, format!("/v1/webhooks/{hook_a}"), Value::Null),
        (Method::PATCH, format!("/v1/webhooks/{hook_a}"), json!({"enabled": false})),
        (Method::DELETE, format!("/v1/webhooks/{hook_a}"), Value::Null),
        (Method::POST, format!("/v1/webhooks/{hook_a}/secret"), Value::Null),
        (Method::POST, format!("/v1/webhooks/{hook_a}/test"), Value::Null),
        (Method::GET, format!("/v1/webhooks/{hook_a}/deliveries"), Value::Null),
        (Method::GET, format!("/v1/webhooks/{hook_a}/deliveries/{dlv_a}"), Value::Null),
        (Method::POST, format!("/v1/webhooks/{hook_a}/deliveries/{dlv_a}/retry"), Value::Null),
        (Method::GET, format!("/v1/contacts/{contact_a}"), Value::Null),
        (Method::PATCH, format!("/v1/contacts/{contact_a}"), json!({"name": "stolen"})),
        (Method::DELETE, format!("/v1/contacts/{contact_a}"), Value::Null),
        (Method::GET, format!("/v1/contact-groups/{group_a}"), Value::Null),
        (Method::PATCH, format!("/v1/contact-groups/{group_a}"), json!({"name": "stolen"})),
        (Method::DELETE, format!("/v1/contact-groups/{group_a}"), Value::Null),
        (Method::GET, format!("/v1/contact-groups/{group_a}/members"), Value::Null),
        (Method::POST, format!("/v1/contact-groups/{group_a}/members"), json!({"phones": ["+60123456789"]})),
        (Method::DELETE, format!("/v1/contact-groups/{group_a}/members?phones=%2B60123456789"), Value::Null),
        (Method::GET, format!("/v1/devices/{dev_a}/groups"), Value::Null),
        (Method::POST, format!("/v1/devices/{dev_a}/groups"), json!({"subject": "stolen"})),
        (Method::GET, format!("/v1/devices/{dev_a}/groups/{jid_a}"), Value::Null),
        (
            Method::POST,
            format!("/v1/devices/{dev_a}/groups/{jid_a}/participants"),
            json!({"action": "add", "participants": ["+60123456789"]}),
        ),
        (Method::GET, format!("/v1/devices/{dev_a}/groups/{jid_a}/invite-link"), Value::Null),
        (Method::POST, format!("/v1/devices/{dev_a}/groups/{jid_a}/invite-link/reset"), Value::Null),
        (Method::POST, format!("/v1/devices/{dev_a}/groups/{jid_a}/leave"), Value::Null),
        (Method::GET, format!("/v1/reminders/{reminder_a}"), Value::Null),
        (Method::PATCH, format!("/v1/reminders/{reminder_a}"), json!({"title": "stolen"})),
        (Method::DELETE, format!("/v1/reminders/{reminder_a}"), Value::Null),
        (Method::GET, format!("/v1/auto-replies/{rule_a}"), Value::Null),
        (Method::PATCH, format!("/v1/auto-replies/{rule_a}"), json!({"enabled": false})),
        (Method::DELETE, format!("/v1/auto-replies/{rule_a}"), Value::Null),
        (Method::GET, format!("/v1/agents/{agent_a}"), Value::Null),
        (Method::PATCH, format!("/v1/agents/{agent_a}"), json!({"name": "stolen"})),
        (Method::GET, format!("/v1/conversations/{conversation_a}"), Value::Null),
        (Method::POST, "/v1/conversations/assign".to_owned(), json!({"message_id": msg_a, "agent_id": agent_a})),
        (Method::DELETE, format!("/v1/agents/{agent_a}"), Value::Null),
        (Method::GET, format!("/v1/media/{media_a}"), Value::Null),
        (Method::GET, format!("/v1/media/{media_a}/info"), Value::Null),
        (Method::DELETE, format!("/v1/media/{media_a}"), Value::Null),
        (Method::GET, format!("/v1/jobs/{job_a}"), Value::Null),
        (Method::GET, format!("/v1/templates/{template_a}"), Value::Null),
        (Method::PATCH, format!("/v1/templates/{template_a}"), json!({"status": "REJECTED"})),
        (Method::POST, format!("/v1/templates/{template_a}/send"), json!({"to": "+60123456789", "variables": {"name": "x"}})),
        (Method::DELETE, format!("/v1/templates/{template_a}"), Value::Null),
    ];
    let mut covered = BTreeSet::new();
    for (method, path, body) in &routes {
        let got = app.call(method.clone(), path, Some(&key_b), (!body.is_null()).then(|| body.clone())).await;
        assert_error(&got, StatusCode::NOT_FOUND, "not_found");
        let template = path
            .split('?')
            .next()
            .unwrap_or_default()
            .replace(&tenant_a, "{id}")
            .replace(&dev_a, "{id}")
            .replace(&msg_a, "{id}")
            .replace(&key_id_a, "{id}")
            .replace(&hook_a, "{id}")
            .replace(&contact_a, "{id}")
            .replace(&group_a, "{id}")
            .replace(&jid_a, "{jid}")
            .replace(&reminder_a, "{id}")
            .replace(&rule_a, "{id}")
            .replace(&agent_a, "{id}")
            .replace(&media_a, "{id}")
            .replace(&conversation_a, "{id}")
            .replace(&job_a, "{id}")
            .replace(&template_a, "{id}")
            .replace(&dlv_a, "{delivery_id}")
            .replace("/blocklist/%2B60123456789", "/blocklist/{phone}");
        covered.insert(format!("{} {template}", method.as_str().to_lowercase()));
    }
    // Every route with an id in the OpenAPI document is covered above.
    let (_, spec) = app.call(Method::GET, "/openapi.json", None, None).await;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        if path.contains("{id}") {
            for method in ops.as_object().unwrap().keys() {
                assert!(covered.contains(&format!("{method} {path}")), "no cross-tenant check for {method} {path}");
            }
        }
    }
    // Ids in bodies and filters too.
    let send = app.post("/v1/messages", &key_b, json!({"device_id": dev_a, "to": "+60123456789", "text": {"body": "x"}})).await;
    assert_eq!(assert_error(&send, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "device_id");
    assert_error(&app.get(&format!("/v1/messages?device_id={dev_a}"), &key_b).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.get(&format!("/v1/events?device_id={dev_a}"), &key_b).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.get(&format!("/v1/reminders?device_id={dev_a}"), &key_b).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.get(&format!("/v1/auto-replies?device_id={dev_a}"), &key_b).await, StatusCode::NOT_FOUND, "not_found");
    let rule = app.post("/v1/auto-replies", &key_b, json!({"device_id": dev_a, "keyword": "x", "reply": {"text": "y"}})).await;
    assert_eq!(assert_error(&rule, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "device_id");
    // Lists never show another tenant's rows.
    for path in [
        "/v1/devices",
        "/v1/messages",
        "/v1/messages?direction=inbound",
        "/v1/events",
        "/v1/webhooks",
        "/v1/contacts",
        "/v1/contact-groups",
        "/v1/reminders",
        "/v1/auto-replies",
    ] {
        let (status, body) = app.get(path, &key_b).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"].as_array().unwrap().len(), 0, "{path} leaked {body}");
    }
    // And A still has everything, untouched.
    let (_, dev) = app.get(&format!("/v1/devices/{dev_a}"), &key_a).await;
    assert_eq!(dev["name"], "a");
    assert_eq!(dev["status"], "connected");
    let (status, _) = app.get(&format!("/v1/messages/{msg_a}"), &key_a).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn credentials_are_checked_and_scoped() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("T").await;
    // Missing, malformed and unknown credentials.
    assert_error(&app.call(Method::GET, "/v1/devices", None, None).await, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_error(&app.get("/v1/devices", "kk_notarealkey").await, StatusCode::UNAUTHORIZED, "unauthorized");
    let raw = app.client.get(format!("{}/v1/devices", app.base)).header("authorization", key.clone()).send().await.unwrap();
    assert_eq!(raw.status(), StatusCode::UNAUTHORIZED, "the Bearer scheme is required");
    // The admin token manages tenants only; a tenant key cannot create tenants.
    assert_error(&app.get("/v1/devices", ADMIN).await, StatusCode::FORBIDDEN, "forbidden");
    assert_error(&app.post("/v1/tenants", &key, json!({"name": "x"})).await, StatusCode::FORBIDDEN, "forbidden");
    assert_error(&app.get("/v1/tenants", &key).await, StatusCode::FORBIDDEN, "forbidden");
    let (status, list) = app.get("/v1/tenants", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"][0]["id"], tenant);

    // A second key works; revoking it stops it at once; keys are listed without the secret.
    let (status, second) = app.post(&format!("/v1/tenants/{tenant}/keys"), &key, json!({"name": "ci"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let second_key = second["api_key"].as_str().unwrap();
    assert_eq!(app.get("/v1/devices", second_key).await.0, StatusCode::OK);
    let (_, keys) = app.get(&format!("/v1/tenants/{tenant}/keys"), &key).await;
    assert_eq!(keys["data"].as_array().unwrap().len(), 2);
    assert!(!keys.to_string().contains(second_key), "a key is never shown again");
    let (status, _) = app.call(Method::DELETE, &format!("/v1/keys/{}", second["id"].as_str().unwrap()), Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.get("/v1/devices", second_key).await, StatusCode::UNAUTHORIZED, "unauthorized");

    // A device token acts only on its own device.
    let (dev1, token1) = app.device(&key, "one").await;
    let (dev2, _) = app.device(&key, "two").await;
    assert_eq!(app.get(&format!("/v1/devices/{dev1}"), &token1).await.0, StatusCode::OK);
    assert_error(&app.get(&format!("/v1/devices/{dev2}"), &token1).await, StatusCode::NOT_FOUND, "not_found");
    let (_, own) = app.get("/v1/devices", &token1).await;
    assert_eq!(own["data"].as_array().unwrap().len(), 1);
    assert_error(&app.post("/v1/devices", &token1, json!({"name": "x", "connector": "sandbox"})).await, StatusCode::FORBIDDEN, "forbidden");
    let other = app.post("/v1/messages", &token1, json!({"device_id": dev2, "to": "+60123456789", "text": {"body": "x"}})).await;
    assert_error(&other, StatusCode::FORBIDDEN, "forbidden");
    let (status, sent) = app.post("/v1/messages", &token1, json!({"to": "+60123456789", "text": {"body": "from my device"}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["device_id"], dev1, "a device token sends from its device even before it is linked");
    // Reconfiguring the device needs the tenant key.
    let rename = app.call(Method::PATCH, &format!("/v1/devices/{dev1}"), Some(&token1), Some(json!({"name": "mine now"}))).await;
    assert_error(&rename, StatusCode::FORBIDDEN, "forbidden");
    assert_error(&app.post(&format!("/v1/devices/{dev1}/token"), &token1, json!({})).await, StatusCode::FORBIDDEN, "forbidden");
    assert_error(&app.call(Method::DELETE, &format!("/v1/devices/{dev1}"), Some(&token1), None).await, StatusCode::FORBIDDEN, "forbidden");
    // An idempotency key another device used does not reveal that device's message.
    let (_, token2) = app.post(&format!("/v1/devices/{dev2}/token"), &key, json!({})).await;
    let token2 = token2["token"].as_str().unwrap().to_owned();
    let body = json!({"to": "+60123456789", "text": {"body": "same body"}});
    let call = |token: String| {
        let req = app.client.post(format!("{}/v1/messages", app.base)).bearer_auth(token).header("idempotency-key", "shared-key");
        req.json(&body).send()
    };
    let first = call(token2.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: serde_json::Value = first.json().await.unwrap();
    let replay = call(token1.clone()).await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let replay = replay.text().await.unwrap();
    assert!(replay.contains("idempotency_key_reused"), "{replay}");
    assert!(!replay.contains(first["id"].as_str().unwrap()), "another device's message id leaked: {replay}");
    assert_eq!(call(token2).await.unwrap().status(), StatusCode::ACCEPTED, "the owner still gets its replay");
    // Rotating the token retires the old one.
    let (status, rotated) = app.post(&format!("/v1/devices/{dev1}/token"), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_error(&app.get(&format!("/v1/devices/{dev1}"), &token1).await, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.get(&format!("/v1/devices/{dev1}"), rotated["token"].as_str().unwrap()).await.0, StatusCode::OK);
    app.stop().await;
}
