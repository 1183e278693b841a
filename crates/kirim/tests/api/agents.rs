//! Agents and conversations end to end: agents' CRUD with their checks, a chat that writes in
//! through the sandbox becoming a conversation, assignment by message id with its events,
//! replies that answer it, filters and paging, and tenant isolation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn agent(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, created) = app.post("/v1/agents", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

#[tokio::test]
async fn agents_are_created_found_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let danu = agent(&app, &key, json!({"name": " Danu ", "email": "Danu@Example.com", "phone": "0123456789"})).await;
    assert_eq!(
        (&danu["name"], &danu["email"], &danu["phone"], &danu["active"]),
        (&json!("Danu"), &json!("danu@example.com"), &json!("+60123456789"), &json!(true))
    );
    let id = danu["id"].as_str().unwrap();
    assert!(id.starts_with("agt_"), "{id}");
    for path in [format!("/v1/agents/{id}"), "/v1/agents/DANU@example.com".into(), "/v1/agents/%2B60123456789".into()] {
        let (status, found) = app.get(&path, &key).await;
        assert_eq!((status, found["id"].as_str()), (StatusCode::OK, Some(id)), "{path}");
    }

    let taken = app.post("/v1/agents", &key, json!({"name": "B", "email": "danu@EXAMPLE.com"})).await;
    assert_eq!(assert_error(&taken, StatusCode::CONFLICT, "email_taken")["error"]["field"], "email");
    let taken = app.post("/v1/agents", &key, json!({"name": "B", "phone": 60123456789u64})).await;
    assert_eq!(assert_error(&taken, StatusCode::CONFLICT, "phone_taken")["error"]["field"], "phone");
    let bad = [
        (json!({"email": "a@example.com"}), "name"),
        (json!({"name": "  ", "email": "a@example.com"}), "name"),
        (json!({"name": "x".repeat(256), "email": "a@example.com"}), "name"),
        (json!({"name": "No contact"}), "email"),
        (json!({"name": "A", "email": "not-an-email"}), "email"),
        (json!({"name": "A", "phone": "12ab"}), "phone"),
        (json!({"name": "A", "email": "a@example.com", "active": "yes"}), "active"),
        (json!({"name": "A", "email": "a@example.com", "role": "boss"}), "role"),
    ];
    for (body, field) in bad {
        let got = app.post("/v1/agents", &key, body.clone()).await;
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], field, "{body}");
    }

    let siti = agent(&app, &key, json!({"name": "Siti", "phone": "+60129876543", "active": false})).await;
    let siti_path = format!("/v1/agents/{}", siti["id"].as_str().unwrap());
    let (status, changed) =
        app.call(Method::PATCH, &siti_path, Some(&key), Some(json!({"email": "siti@example.com", "active": true}))).await;
    assert_eq!((status, &changed["email"], &changed["active"]), (StatusCode::OK, &json!("siti@example.com"), &json!(true)), "{changed}");
    let (status, changed) = app.call(Method::PATCH, &siti_path, Some(&key), Some(json!({"phone": null}))).await;
    assert_eq!((status, &changed["phone"]), (StatusCode::OK, &Value::Null), "{changed}");
    let last = app.call(Method::PATCH, &siti_path, Some(&key), Some(json!({"email": null}))).await;
    assert_eq!(assert_error(&last, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "email");
    let taken = app.call(Method::PATCH, &siti_path, Some(&key), Some(json!({"email": "danu@example.com"}))).await;
    assert_error(&taken, StatusCode::CONFLICT, "email_taken");

    let (_, page) = app.get("/v1/agents?limit=1", &key).await;
    assert_eq!((page["data"].as_array().unwrap().len(), page["data"][0]["id"].as_str()), (1, Some(id)));
    let (_, rest) = app.get(&format!("/v1/agents?after={}", page["next"].as_str().unwrap()), &key).await;
    assert_eq!(rest["data"][0]["id"], siti["id"]);
    let (_, active) = app.get("/v1/agents?active=false", &key).await;
    assert_eq!(active["data"].as_array().unwrap().len(), 0);
    assert_error(&app.get("/v1/agents?active=maybe", &key).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");

    // Another tenant's agents do not exist for this one; a device token may not manage agents.
    let (_, stranger) = app.tenant("stranger").await;
    assert_error(&app.get(&format!("/v1/agents/{id}"), &stranger).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.call(Method::DELETE, &format!("/v1/agents/{id}"), Some(&stranger), None).await, StatusCode::NOT_FOUND, "not_found");
    let (_, theirs) = app.get("/v1/agents", &stranger).await;
    assert_eq!(theirs["data"], json!([]));
    let (_, token) = app.device(&key, "phone").await;
    assert_error(&app.post("/v1/agents", &token, json!({"name": "X", "email": "x@example.com"})).await, StatusCode::FORBIDDEN, "forbidden");

    let (status, _) = app.call(Method::DELETE, &format!("/v1/agents/{id}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&format!("/v1/agents/{id}"), &key).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.get("/v1/agents/agt_nope", &key).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

async fn conversations(app: &TestApp, key: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/conversations?{query}"), key).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

async fn events_of(app: &TestApp, key: &str, event_type: &str) -> Vec<Value> {
    let (_, events) = app.get(&format!("/v1/events?type={event_type}"), key).await;
    events["data"].as_array().unwrap_or_else(|| panic!("{events}")).clone()
}

#[tokio::test]
async fn conversations_are_assigned_by_message_id_and_follow_the_chat() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("shop").await;
    let danu = agent(&app, &key, json!({"name": "Danu", "email": "danu@example.com"})).await;
    let idle = agent(&app, &key, json!({"name": "Idle", "email": "idle@example.com", "active": false})).await;

    // A notification to a chat that never wrote is no conversation.
    let (status, notice) = app.send_text(&key, "+60129990000", "your parcel left").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{notice}");
    app.wait_message(&key, notice["id"].as_str().unwrap(), "read").await;
    assert_eq!(conversations(&app, &key, "").await["total"], 0);

    let inbound = format!("/v1/sandbox/devices/{device}/inbound");
    for text in ["hello?", "anyone there?"] {
        let (status, body) = app.post(&inbound, &key, json!({"from": "012-345 6789", "text": text})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let page = conversations(&app, &key, "").await;
    assert_eq!((&page["total"], &page["page"], &page["total_pages"]), (&json!(1), &json!(1), &json!(1)), "{page}");
    let c = &page["data"][0];
    assert_eq!(
        (&c["chat"], &c["device_id"], &c["inbound_count"], &c["unread_count"], &c["assignee"]),
        (&json!("+60123456789"), &json!(device), &json!(2), &json!(2), &Value::Null),
        "{c}"
    );
    assert_eq!(c["last_message"]["content"]["text"]["body"], "anyone there?", "{c}");
    let conversation = c["id"].as_str().unwrap().to_owned();
    let message = c["last_message"]["id"].as_str().unwrap().to_owned();

    // Assign by the message id; the agent may be named by email too.
    let (status, assigned) = app.post("/v1/conversations/assign", &key, json!({"message_id": message, "agent_id": danu["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(
        (&assigned["id"], &assigned["assignee"]["id"], &assigned["assignee"]["name"]),
        (&json!(conversation), &danu["id"], &json!("Danu"))
    );
    let (status, again) = app.post("/v1/conversations/assign", &key, json!({"message_id": message, "agent_id": "DANU@example.com"})).await;
    assert_eq!((status, &again["assignee"]["assigned_at"]), (StatusCode::OK, &assigned["assignee"]["assigned_at"]));
    let events = events_of(&app, &key, "conversation.assigned").await;
    assert_eq!(events.len(), 1, "assigning the same agent again is no change: {events:?}");
    assert_eq!(
        (&events[0]["data"]["conversation_id"], &events[0]["data"]["agent_id"], &events[0]["data"]["message_id"]),
        (&json!(conversation), &danu["id"], &json!(message))
    );

    // A reply answers the chat and becomes its last message.
    let (_, reply) = app.send_text(&key, "0123456789", "on our way").await;
    app.wait_message(&key, reply["id"].as_str().unwrap(), "read").await;
    let (status, c) = app.get(&format!("/v1/conversations/{conversation}"), &key).await;
    assert_eq!(
        (status, &c["unread_count"], &c["inbound_count"], &c["last_message"]["id"]),
        (StatusCode::OK, &json!(0), &json!(2), &reply["id"]),
        "{c}"
    );
    // Any message of the chat names it, the reply too.
    let (status, same) = app.post("/v1/conversations/assign", &key, json!({"message_id": reply["id"], "agent_id": danu["id"]})).await;
    assert_eq!((status, &same["id"]), (StatusCode::OK, &json!(conversation)));

    // Filters: by agent, unassigned, by device.
    assert_eq!(conversations(&app, &key, &format!("agent_id={}", danu["id"].as_str().unwrap())).await["total"], 1);
    assert_eq!(conversations(&app, &key, "agent_id=none").await["total"], 0);
    assert_eq!(conversations(&app, &key, &format!("device_id={device}")).await["total"], 1);
    let (spare, _) = app.device(&key, "spare").await;
    assert_eq!(conversations(&app, &key, &format!("device_id={spare}")).await["total"], 0);

    // Assigning the notice's message starts a conversation for that chat.
    let (status, started) = app.post("/v1/conversations/assign", &key, json!({"message_id": notice["id"], "agent_id": danu["id"]})).await;
    assert_eq!((status, &started["chat"], &started["inbound_count"]), (StatusCode::OK, &json!("+60129990000"), &json!(0)), "{started}");
    let two = conversations(&app, &key, "per_page=1&page=2").await;
    assert_eq!((&two["total"], &two["total_pages"], two["data"].as_array().unwrap().len()), (&json!(2), &json!(2), 1));

    // Refusals, each naming its field.
    let inactive = app.post("/v1/conversations/assign", &key, json!({"message_id": message, "agent_id": idle["id"]})).await;
    assert_eq!(assert_error(&inactive, StatusCode::CONFLICT, "agent_inactive")["error"]["field"], "agent_id");
    let bad = [
        (json!({"message_id": "nope", "agent_id": danu["id"]}), "message_id"),
        (json!({"message_id": message}), "agent_id"),
        (json!({"agent_id": danu["id"]}), "message_id"),
        (json!({"message_id": message, "agent_id": "not a phone"}), "agent_id"),
    ];
    for (body, field) in bad {
        let got = app.post("/v1/conversations/assign", &key, body.clone()).await;
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], field, "{body}");
    }
    assert_eq!(
        assert_error(&app.get("/v1/conversations?page=0", &key).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"],
        "page"
    );

    // Another tenant: neither the message, the agent nor the conversation exist for it.
    let (_, stranger) = app.tenant("stranger").await;
    let theirs = agent(&app, &stranger, json!({"name": "Them", "email": "them@example.com"})).await;
    let spy = app.post("/v1/conversations/assign", &stranger, json!({"message_id": message, "agent_id": theirs["id"]})).await;
    assert_eq!(assert_error(&spy, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "message_id");
    let foreign = app.post("/v1/conversations/assign", &key, json!({"message_id": message, "agent_id": theirs["id"]})).await;
    assert_eq!(assert_error(&foreign, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "agent_id");
    assert_error(&app.get(&format!("/v1/conversations/{conversation}"), &stranger).await, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(conversations(&app, &stranger, "").await["total"], 0);
    let filter = app.get(&format!("/v1/conversations?agent_id={}", danu["id"].as_str().unwrap()), &stranger).await;
    assert_eq!(assert_error(&filter, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "agent_id");

    // Unassign; deleting the agent unassigns the rest, an event each.
    let (status, un) = app.post("/v1/conversations/unassign", &key, json!({"message_id": message})).await;
    assert_eq!((status, &un["assignee"]), (StatusCode::OK, &Value::Null), "{un}");
    let (status, _) = app.call(Method::DELETE, &format!("/v1/agents/{}", danu["id"].as_str().unwrap()), Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(conversations(&app, &key, "agent_id=none").await["total"], 2);
    let unassigned = events_of(&app, &key, "conversation.unassigned").await;
    assert_eq!(unassigned.len(), 2, "{unassigned:?}");
    assert_eq!(unassigned[1]["data"]["previous_agent_id"], danu["id"]);
    app.stop().await;
}
