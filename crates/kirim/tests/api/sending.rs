//! Sending options and operations: several recipients, contact-group broadcasts, batches,
//! spintax and placeholders, secret / source / retry / device choice, resend and cancel.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

fn ids(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap_or_else(|| panic!("no data: {list}")).iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

async fn count_messages(app: &TestApp, key: &str) -> usize {
    let (_, list) = app.get("/v1/messages?limit=500", key).await;
    list["data"].as_array().unwrap().len()
}

async fn contact(app: &TestApp, key: &str, body: Value) {
    let (status, created) = app.post("/v1/contacts", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

fn body_of(message: &Value) -> &str {
    message["content"]["text"]["body"].as_str().unwrap_or_else(|| panic!("no text body: {message}"))
}

#[tokio::test]
async fn several_recipients_get_one_message_each_committed_together() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let (_, one) = app.send_text(&key, "0123000001", "just one").await;
    assert!(one["id"].is_string() && one.get("data").is_none(), "one recipient keeps the single shape: {one}");

    let (status, many) = app.post("/v1/messages", &key, json!({"to": "0123000001, 60123000002,+60 12-300 0003", "text": "hi all"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{many}");
    let to: Vec<&str> = many["data"].as_array().unwrap().iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert_eq!(to, ["+60123000001", "+60123000002", "+60123000003"]);
    for id in ids(&many) {
        app.wait_message(&key, &id, "read").await;
    }

    app.post("/v1/blacklist", &key, json!({"phone": "0123000005"})).await;
    let (status, listed) =
        app.post("/v1/messages", &key, json!({"to": ["0123000004", 60123000005u64, "0123000004"], "text": "array form"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{listed}");
    assert_eq!(ids(&listed).len(), 1);
    let skipped: Vec<(&str, &str)> =
        listed["skipped"].as_array().unwrap().iter().map(|s| (s["to"].as_str().unwrap(), s["reason"].as_str().unwrap())).collect();
    assert_eq!(skipped, [("+60123000004", "duplicate"), ("+60123000005", "blacklisted")]);

    let before = count_messages(&app, &key).await;
    let bad = app.post("/v1/messages", &key, json!({"to": "0123000006,not-a-number", "text": "x"})).await;
    assert_eq!(assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "to[1]");
    let too_many: Vec<String> = (0..101).map(|n| format!("+6012300{n:04}")).collect();
    let got = app.post("/v1/messages", &key, json!({"to": too_many, "text": "x"})).await;
    assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "to");
    assert_eq!(count_messages(&app, &key).await, before, "a refused request writes nothing");

    // A retry of the same request with the same key answers the same messages.
    let body = json!({"to": ["0123000007", "0123000008"], "text": "once", "ref_id": "promo-1"});
    let (_, first) = app.post("/v1/messages", &key, body.clone()).await;
    let (_, again) = app.post("/v1/messages", &key, body).await;
    assert_eq!(ids(&first), ids(&again));
    app.stop().await;
}

#[tokio::test]
async fn a_contact_group_broadcast_is_personalised_and_skips_the_blacklist() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    contact(&app, &key, json!({"phone": "0123000001", "name": "Aisyah", "custom": {"tier": "gold"}})).await;
    contact(&app, &key, json!({"phone": "0123000002", "name": "Ben"})).await;
    let (_, group) = app.post("/v1/contact-groups", &key, json!({"name": "VIP"})).await;
    let members = format!("/v1/contact-groups/{}/members", group["id"].as_str().unwrap());
    let (status, added) = app.post(&members, &key, json!({"phones": ["0123000001", "0123000002", "0123000003"]})).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    app.post("/v1/blacklist", &key, json!({"phone": "0123000003"})).await;

    let body = json!({"to_contact_group": "vip", "text": "{Hi|Hello} {name}, your tier: {tier}", "spintax": true, "source": "promo"});
    let (status, sent) = app.post("/v1/messages", &key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let data = sent["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{sent}");
    for (m, name, tier) in [(&data[0], "Aisyah", "gold"), (&data[1], "Ben", "{tier}")] {
        let text = body_of(m);
        assert!([format!("Hi {name}, your tier: {tier}"), format!("Hello {name}, your tier: {tier}")].contains(&text.to_owned()), "{text}");
        let stored = app.wait_message(&key, m["id"].as_str().unwrap(), "read").await;
        assert_eq!(body_of(&stored), text, "the stored message is what was sent");
    }
    assert_eq!(sent["skipped"], json!([{"to": "+60123000003", "reason": "blacklisted"}]));

    // Without `spintax`, braces are sent as written.
    let (_, plain) = app.send_text(&key, "0123000001", "{Hi|Hello} {name}").await;
    assert_eq!(body_of(&plain), "{Hi|Hello} {name}");

    let (_, empty) = app.post("/v1/contact-groups", &key, json!({"name": "Empty"})).await;
    let got = app.post("/v1/messages", &key, json!({"to_contact_group": empty["id"], "text": "x"})).await;
    assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "to_contact_group");
    let got = app.post("/v1/messages", &key, json!({"to_contact_group": "nope", "text": "x"})).await;
    assert_eq!(assert_error(&got, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "to_contact_group");
    let (_, other) = app.tenant("other").await;
    let got = app.post("/v1/messages", &other, json!({"to_contact_group": group["id"], "text": "x"})).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn a_batch_queues_the_good_items_and_names_the_bad_ones() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let files = crate::files::FileServer::start().await;
    let items = json!([
        {"to": "0123000001", "text": "first"},
        {"to": "0123000002", "type": "image", "image": {"link": files.serve("a.jpg", "image/jpeg", crate::files::jpeg())}},
        {"to": "not-a-number", "text": "bad number"},
        {"to": "0123000003", "text": "x", "colour": "red"},
        {"to": "0123000004", "location": {"latitude": 123.0, "longitude": 1.0}},
        {"to": "0123000005,0123000006", "text": "two recipients"},
    ]);
    let (status, out) = app.post("/v1/messages/batch", &key, json!({"items": items})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{out}");
    assert_eq!((out["accepted"].as_u64(), out["refused"].as_u64()), (Some(2), Some(4)));
    let fields: Vec<Value> = out["data"].as_array().unwrap().iter().map(|r| r["error"]["field"].clone()).collect();
    assert_eq!(
        fields,
        [
            Value::Null,
            Value::Null,
            json!("items[2].to"),
            json!("items[3].colour"),
            json!("items[4].location.latitude"),
            json!("items[5].to")
        ]
    );
    for r in &out["data"].as_array().unwrap()[..2] {
        app.wait_message(&key, r["message"]["id"].as_str().unwrap(), "read").await;
    }
    assert_eq!(count_messages(&app, &key).await, 2, "only the good items were written");

    let nothing_good = app.post("/v1/messages/batch", &key, json!({"items": [{"text": "no recipient"}]})).await;
    assert_eq!(assert_error(&nothing_good, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "items[0].to");
    let too_many: Vec<Value> = (0..101).map(|_| json!({"to": "0123000001", "text": "x"})).collect();
    let got = app.post("/v1/messages/batch", &key, json!({"items": too_many})).await;
    assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "items");
    let got = app.post("/v1/messages/batch", &key, json!({"items": []})).await;
    assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "items");

    // The same batch with the same key is answered with the same messages.
    let req = |app: &TestApp| {
        app.client
            .post(format!("{}/v1/messages/batch", app.base))
            .bearer_auth(&key)
            .header("Idempotency-Key", "batch-1")
            .json(&json!({"items": [{"to": "0123000007", "text": "a"}, {"to": "0123000008", "text": "b"}]}))
            .send()
    };
    let first: Value = req(&app).await.unwrap().json().await.unwrap();
    let again: Value = req(&app).await.unwrap().json().await.unwrap();
    let item_ids = |v: &Value| v["data"].as_array().unwrap().iter().map(|r| r["message"]["id"].clone()).collect::<Vec<_>>();
    assert_eq!(item_ids(&first), item_ids(&again));
    assert_eq!(count_messages(&app, &key).await, 4);
    app.stop().await;
}

#[tokio::test]
async fn a_secret_is_erased_once_sent_and_sources_filter_the_list() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let (status, secret) =
        app.post("/v1/messages", &key, json!({"to": "0123000001", "text": "your code is 4321", "secret": true, "source": "otp"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{secret}");
    assert_eq!((secret["secret"].as_bool(), secret["source"].as_str()), (Some(true), Some("otp")));
    let id = secret["id"].as_str().unwrap();
    let erased = app.wait_for(&key, &format!("/v1/messages/{id}"), |m| m["content_erased_at"].is_string()).await;
    assert_eq!(
        (erased["content"].clone(), erased["type"].as_str(), erased["to"].as_str()),
        (Value::Null, Some("text"), Some("+60123000001"))
    );
    let (_, received) = app.get(&format!("/v1/sandbox/devices/{device}/received"), &key).await;
    assert_eq!(received["data"][0]["content"]["text"]["body"], "your code is 4321", "the network got the real text");
    let resend = app.post(&format!("/v1/messages/{id}/resend"), &key, json!({})).await;
    assert_error(&resend, StatusCode::CONFLICT, "not_resendable");

    app.post("/v1/messages", &key, json!({"to": "0123000002", "text": "hello", "source": "crm"})).await;
    let (_, otp) = app.get("/v1/messages?source=otp", &key).await;
    assert_eq!(ids(&otp), [id]);
    let (_, events) = app.get("/v1/events?type=message.queued", &key).await;
    assert_eq!(events["data"][0]["data"]["source"], "otp");
    for (body, field) in [
        (json!({"to": "0123000001", "text": "x", "source": ""}), "source"),
        (json!({"to": "0123000001", "text": "x", "source": "x".repeat(65)}), "source"),
        (json!({"to": "0123000001", "text": "x", "secret": "yes"}), "secret"),
    ] {
        let got = app.post("/v1/messages", &key, body).await;
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], field);
    }
    app.stop().await;
}

#[tokio::test]
async fn retry_sets_the_attempts_and_random_spreads_over_devices() {
    let app = TestApp::spawn_with(&[("KIRIM_SANDBOX_FAILURE_RATE", "1.0")]).await;
    let (key, _) = app.connected_tenant("t").await;
    let (_, once) = app.post("/v1/messages", &key, json!({"to": "0123000001", "text": "x", "retry": false})).await;
    assert_eq!(once["max_attempts"], 1);
    let failed = app.wait_message(&key, once["id"].as_str().unwrap(), "failed").await;
    assert_eq!(failed["attempts"], 1);
    let (_, twice) = app.post("/v1/messages", &key, json!({"to": "0123000001", "text": "x", "retry": 2})).await;
    assert_eq!(app.wait_message(&key, twice["id"].as_str().unwrap(), "failed").await["attempts"], 2);
    for (body, field) in [
        (json!({"to": "0123000001", "text": "x", "retry": 0}), "retry"),
        (json!({"to": "0123000001", "text": "x", "retry": 101}), "retry"),
        (json!({"to": "0123000001", "text": "x", "device": "fastest"}), "device"),
        (json!({"to": "0123000001", "text": "x", "device": "random", "device_id": "dev_x"}), "device"),
    ] {
        let got = app.post("/v1/messages", &key, body).await;
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], field);
    }
    app.stop().await;

    let app = TestApp::spawn().await;
    let (key, first) = app.connected_tenant("t").await;
    let (second, _) = app.device(&key, "second").await;
    app.link(&key, &second).await;
    let to: Vec<String> = (0..24).map(|n| format!("01230000{n:02}")).collect();
    let (_, sent) = app.post("/v1/messages", &key, json!({"to": to, "text": "hi", "device": "random"})).await;
    let used: HashSet<&str> = sent["data"].as_array().unwrap().iter().map(|m| m["device_id"].as_str().unwrap()).collect();
    assert_eq!(used, HashSet::from([first.as_str(), second.as_str()]), "24 random picks used both devices");
    app.stop().await;
}

#[tokio::test]
async fn resend_queues_a_new_message_linked_to_the_original() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    let (_, lost) = app.post("/v1/messages", &key, json!({"to": "+60 19-999 0123", "text": "hello?", "source": "crm"})).await;
    let lost_id = lost["id"].as_str().unwrap();
    app.wait_message(&key, lost_id, "failed").await;
    let (status, again) = app.post(&format!("/v1/messages/{lost_id}/resend"), &key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_ne!(again["id"], lost["id"]);
    assert_eq!((again["resend_of"].as_str(), again["source"].as_str(), body_of(&again)), (Some(lost_id), Some("crm"), "hello?"));
    assert_eq!(app.wait_message(&key, lost_id, "failed").await["status"], "failed", "the original keeps its history");

    let (_, sent) = app.send_text(&key, "0123000001", "see you").await;
    let sent_id = sent["id"].as_str().unwrap();
    app.wait_message(&key, sent_id, "read").await;
    let (_, copy) = app.post(&format!("/v1/messages/{sent_id}/resend"), &key, json!({})).await;
    app.wait_message(&key, copy["id"].as_str().unwrap(), "read").await;
    let (_, received) = app.get(&format!("/v1/sandbox/devices/{device}/received"), &key).await;
    let bodies: Vec<&str> = received["data"].as_array().unwrap().iter().filter_map(|m| m["content"]["text"]["body"].as_str()).collect();
    assert_eq!(bodies.iter().filter(|b| **b == "see you").count(), 2, "{received}");

    let (offline, _) = app.device(&key, "offline").await;
    let (_, waiting) = app.post("/v1/messages", &key, json!({"device_id": offline, "to": "0123000001", "text": "later"})).await;
    let got = app.post(&format!("/v1/messages/{}/resend", waiting["id"].as_str().unwrap()), &key, json!({})).await;
    assert_error(&got, StatusCode::CONFLICT, "not_resendable");
    assert_error(&app.post("/v1/messages/msg_nope/resend", &key, json!({})).await, StatusCode::NOT_FOUND, "not_found");
    let (_, other) = app.tenant("other").await;
    assert_error(&app.post(&format!("/v1/messages/{sent_id}/resend"), &other, json!({})).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn cancel_by_ids_answers_per_id_and_cancel_all_empties_the_queue() {
    let app = TestApp::spawn().await;
    let (key, online) = app.connected_tenant("t").await;
    let (offline, _) = app.device(&key, "offline").await;
    let (other_offline, _) = app.device(&key, "other offline").await;
    let queue = |device: &str, text: &str| json!({"device_id": device, "to": "0123000001", "text": text});
    let mut waiting = Vec::new();
    for n in 0..3 {
        let (_, m) = app.post("/v1/messages", &key, queue(&offline, &format!("wait {n}"))).await;
        waiting.push(m["id"].as_str().unwrap().to_owned());
    }
    let (_, elsewhere) = app.post("/v1/messages", &key, queue(&other_offline, "elsewhere")).await;
    let mut later = queue(&offline, "tomorrow");
    later["scheduled_at"] = json!((chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339());
    let (_, later) = app.post("/v1/messages", &key, later).await;
    let (_, sent) = app.post("/v1/messages", &key, queue(&online, "gone")).await;
    app.wait_message(&key, sent["id"].as_str().unwrap(), "read").await;

    let body = json!({"ids": [waiting[0], "msg_unknown", sent["id"], "garbage", later["id"]]});
    let (status, out) = app.post("/v1/messages/cancel", &key, body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["cancelled"], 2);
    let codes: Vec<Value> = out["data"].as_array().unwrap().iter().map(|r| r["error"]["code"].clone()).collect();
    assert_eq!(codes, [Value::Null, json!("not_found"), json!("not_cancellable"), json!("not_found"), Value::Null]);
    assert_eq!(out["data"][4]["message"]["status"], "cancelled", "a scheduled message is cancelled by id");

    let (status, all) = app.post("/v1/messages/cancel", &key, json!({"all": true, "device_id": offline})).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let cancelled: Vec<&str> = all["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(cancelled, [waiting[1].as_str(), waiting[2].as_str()]);
    assert_eq!(
        app.wait_message(&key, elsewhere["id"].as_str().unwrap(), "pending").await["status"],
        "pending",
        "another device's queue stays"
    );
    let (_, rest) = app.post("/v1/messages/cancel", &key, json!({"all": true})).await;
    assert_eq!(rest["cancelled"], 1);
    let (_, events) = app.get("/v1/events?type=message.cancelled&limit=100", &key).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 5, "one event per cancelled message");

    for (body, field) in [
        (json!({}), "ids"),
        (json!({"ids": []}), "ids"),
        (json!({"ids": ["msg_x"], "all": true}), "all"),
        (json!({"ids": ["msg_x"], "device_id": offline}), "device_id"),
        (json!({"all": true, "device_id": "nope"}), "device_id"),
    ] {
        let got = app.post("/v1/messages/cancel", &key, body.clone()).await;
        assert_eq!(got.1["error"]["field"], field, "{body}: {}", got.1);
    }
    app.stop().await;
}

#[tokio::test]
async fn resend_by_a_list_of_ids_answers_per_id_and_a_retried_request_resends_nothing_twice() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let (_, a) = app.send_text(&key, "0123000001", "first").await;
    let (_, b) = app.send_text(&key, "0123000002", "second").await;
    let (a, b) = (a["id"].as_str().unwrap().to_owned(), b["id"].as_str().unwrap().to_owned());
    app.wait_message(&key, &a, "sent").await;
    app.wait_message(&key, &b, "sent").await;
    let (other, _) = app.connected_tenant("other").await;
    let (_, theirs) = app.send_text(&other, "0123000003", "x").await;
    let theirs = theirs["id"].as_str().unwrap().to_owned();

    // A comma list, as Wablas clients send it; another tenant's id is not found.
    let ids = format!("{a}, {b},{theirs},junk");
    let send = |ids: String| {
        let request = app.client.post(format!("{}/v1/messages/resend", app.base)).bearer_auth(&key).header("idempotency-key", "retry-7");
        request.json(&json!({"ids": ids})).send()
    };
    let response = send(ids.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let first: Value = response.json().await.unwrap();
    assert_eq!((first["accepted"].as_u64(), first["refused"].as_u64()), (Some(2), Some(2)), "{first}");
    let data = first["data"].as_array().unwrap();
    assert_eq!((data[0]["id"].as_str(), data[0]["message"]["resend_of"].as_str()), (Some(a.as_str()), Some(a.as_str())));
    assert_eq!(data[1]["message"]["resend_of"].as_str(), Some(b.as_str()));
    assert_eq!((data[2]["error"]["code"].as_str(), data[3]["error"]["code"].as_str()), (Some("not_found"), Some("not_found")));

    let again: Value = send(ids).await.unwrap().json().await.unwrap();
    assert_eq!(again["data"][0]["message"]["id"], data[0]["message"]["id"], "the same key returns the first resend");
    assert_eq!(again["data"][1]["message"]["id"], data[1]["message"]["id"]);
    let many: Vec<String> = (0..101).map(|_| a.clone()).collect();
    assert_error(&app.post("/v1/messages/resend", &key, json!({"ids": many})).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    app.stop().await;
}
