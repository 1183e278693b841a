//! Contact groups (by id or name, members by number with a result each) and the blacklist
//! (idempotent, announced as `blacklist.added`, opt-out settings), with bad input.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::contacts::contact;

fn statuses(body: &Value) -> Vec<String> {
    body["results"].as_array().expect("results").iter().map(|r| r["status"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn groups_are_named_renamed_listed_and_deleted() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (status, vip) = app.post("/v1/contact-groups", &key, json!({"name": " VIP customers "})).await;
    assert_eq!(status, StatusCode::CREATED, "{vip}");
    assert_eq!((vip["name"].as_str(), vip["member_count"].as_u64()), (Some("VIP customers"), Some(0)));
    let id = vip["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cg_"));
    let dup = app.post("/v1/contact-groups", &key, json!({"name": "vip CUSTOMERS"})).await;
    assert_eq!(assert_error(&dup, StatusCode::CONFLICT, "name_taken")["error"]["field"], "name");
    for bad in [json!({"name": ""}), json!({"name": "cg_lookalike"}), json!({"name": "x".repeat(101)}), json!({}), json!({"name": 5})] {
        let got = app.post("/v1/contact-groups", &key, bad.clone()).await;
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "name", "{bad}");
    }
    let (status, by_name) = app.get("/v1/contact-groups/vip%20customers", &key).await;
    assert_eq!((status, by_name["id"].as_str()), (StatusCode::OK, Some(id.as_str())));
    assert_error(&app.get("/v1/contact-groups/cg_unknown", &key).await, StatusCode::NOT_FOUND, "not_found");

    let (_, staff) = app.post("/v1/contact-groups", &key, json!({"name": "Staff"})).await;
    let taken = app.call(Method::PATCH, "/v1/contact-groups/Staff", Some(&key), Some(json!({"name": "VIP customers"}))).await;
    assert_error(&taken, StatusCode::CONFLICT, "name_taken");
    let (status, renamed) = app.call(Method::PATCH, "/v1/contact-groups/Staff", Some(&key), Some(json!({"name": "Team"}))).await;
    assert_eq!((status, renamed["name"].as_str(), renamed["id"].clone()), (StatusCode::OK, Some("Team"), staff["id"].clone()));

    let (_, first) = app.get("/v1/contact-groups?limit=1", &key).await;
    assert_eq!(first["data"][0]["id"], id.as_str());
    let (_, second) = app.get(&format!("/v1/contact-groups?limit=1&after={}", first["next"].as_str().unwrap()), &key).await;
    assert_eq!(second["data"][0]["name"], "Team");
    assert_error(&app.get("/v1/contact-groups?after=Team", &key).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");

    let (status, _) = app.call(Method::DELETE, "/v1/contact-groups/Team", Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.get("/v1/contact-groups/Team", &key).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn members_are_added_and_removed_by_number_with_a_result_each() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let known = contact(&app, &key, json!({"phone": "+60123000001", "name": "Known"})).await;
    let (_, group) = app.post("/v1/contact-groups", &key, json!({"name": "Broadcast"})).await;
    let members = format!("/v1/contact-groups/{}/members", group["id"].as_str().unwrap());
    let body = json!({"phones": ["0123000001", 60123000002u64, "+60123000002", "adsasdasdas"]});
    let (status, out) = app.post("/v1/contact-groups/broadcast/members", &key, body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(statuses(&out), ["added", "added", "already_member", "invalid"]);
    let r = &out["results"];
    assert_eq!((r[0]["contact_id"].clone(), r[0]["contact_created"].as_bool()), (known["id"].clone(), Some(false)));
    assert_eq!(
        (r[1]["phone"].as_str(), r[1]["contact_created"].as_bool(), r[1]["input"].as_str()),
        (Some("+60123000002"), Some(true), Some("60123000002"))
    );
    assert_eq!(r[3]["input"], "adsasdasdas");
    assert!(r[3]["message"].as_str().is_some_and(|m| m.contains("adsasdasdas")), "{out}");
    assert_eq!(out["group"]["member_count"], 2);
    let (_, bare) = app.get("/v1/contacts/+60123000002", &key).await;
    assert_eq!(bare["name"], "+60123000002", "an unknown number became a contact named after it");

    let (_, page) = app.get(&format!("{members}?limit=1"), &key).await;
    assert_eq!(page["data"][0]["name"], "Known");
    let (_, rest) = app.get(&format!("{members}?after={}", page["next"].as_str().unwrap()), &key).await;
    assert_eq!((rest["data"].as_array().map(Vec::len), &rest["next"]), (Some(1), &Value::Null));

    let (status, out) =
        app.call(Method::DELETE, &format!("{members}?phones=%2B60123000001,0123000001,0123000009,x"), Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(statuses(&out), ["removed", "not_member", "not_member", "invalid"]);
    assert_eq!(out["group"]["member_count"], 1);
    assert_eq!(app.get("/v1/contacts/+60123000001", &key).await.0, StatusCode::OK, "the contact stays");
    // Deleting a contact takes it out of the group.
    app.call(Method::DELETE, "/v1/contacts/+60123000002", Some(&key), None).await;
    let (_, now) = app.get("/v1/contact-groups/Broadcast", &key).await;
    assert_eq!(now["member_count"], 0);

    assert_eq!(
        assert_error(&app.post(&members, &key, json!({"phones": []})).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"],
        "phones"
    );
    let many: Vec<String> = (0..1001).map(|i| format!("+6012{:07}", 3_000_000 + i)).collect();
    assert_error(&app.post(&members, &key, json!({"phones": many})).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_error(&app.post(&members, &key, json!({"phones": [{"no": 1}]})).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_error(&app.call(Method::DELETE, &members, Some(&key), None).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_error(
        &app.post("/v1/contact-groups/Nope/members", &key, json!({"phones": ["+60123000001"]})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    app.stop().await;
}

#[tokio::test]
async fn the_blacklist_is_idempotent_and_every_addition_is_an_event() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (status, first) = app.post("/v1/blacklist", &key, json!({"phone": "012-345 6789", "reason": "complained"})).await;
    assert_eq!(
        (status, first["phone"].as_str(), first["reason"].as_str()),
        (StatusCode::CREATED, Some("+60123456789"), Some("complained"))
    );
    let (status, again) = app.post("/v1/blacklist", &key, json!({"phone": 60123456789u64})).await;
    assert_eq!((status, again["reason"].as_str()), (StatusCode::OK, Some("complained")), "the entry that was there");
    app.post("/v1/blacklist", &key, json!({"phone": "+60123000001"})).await;
    let events = app.wait_for(&key, "/v1/events?type=blacklist.added", |p| p["data"].as_array().is_some_and(|d| d.len() == 2)).await;
    assert_eq!(events["data"][0]["data"], json!({"phone": "+60123456789", "reason": "complained"}));
    assert_eq!(events["data"][0]["device_id"], Value::Null);

    let (_, list) = app.get("/v1/blacklist?limit=1", &key).await;
    assert_eq!(list["data"][0]["phone"], "+60123000001", "sorted by number");
    let (_, rest) = app.get(&format!("/v1/blacklist?after={}", list["next"].as_str().unwrap().replace('+', "%2B")), &key).await;
    assert_eq!(rest["data"][0]["phone"], "+60123456789");

    let (status, _) = app.call(Method::DELETE, "/v1/blacklist/0123456789", Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.call(Method::DELETE, "/v1/blacklist/0123456789", Some(&key), None).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.call(Method::DELETE, "/v1/blacklist/garbage", Some(&key), None).await, StatusCode::NOT_FOUND, "not_found");
    for (body, field) in
        [(json!({}), "phone"), (json!({"phone": "nope"}), "phone"), (json!({"phone": "+60123456789", "reason": "r".repeat(256)}), "reason")]
    {
        let got = app.post("/v1/blacklist", &key, body.clone()).await;
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], field, "{body}");
    }
    // Webhooks may subscribe to it.
    let receiver = crate::receiver::Receiver::start().await;
    let (status, hook) = app.post("/v1/webhooks", &key, json!({"url": receiver.url, "event_types": ["blacklist.added"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    app.stop().await;
}

#[tokio::test]
async fn opt_out_settings_are_saved_and_checked() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (status, empty) = app.get("/v1/blacklist/settings", &key).await;
    assert_eq!((status, empty), (StatusCode::OK, json!({"opt_out_keywords": [], "confirmation": null, "updated_at": null})));
    let body = json!({"opt_out_keywords": [" STOP ", "stop", "Berhenti"], "confirmation": "You will not hear from us again."});
    let (status, saved) = app.call(Method::PUT, "/v1/blacklist/settings", Some(&key), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["opt_out_keywords"], json!(["STOP", "Berhenti"]), "trimmed, and repeats ignoring case dropped");
    assert!(saved["updated_at"].is_string());
    let (_, read) = app.get("/v1/blacklist/settings", &key).await;
    assert_eq!(read, saved);
    let (_, other) = app.tenant("other").await;
    assert_eq!(app.get("/v1/blacklist/settings", &other).await.1["opt_out_keywords"], json!([]), "per account");

    let too_many: Vec<String> = (0..21).map(|i| format!("k{i}")).collect();
    for (body, field) in [
        (json!({"opt_out_keywords": [""]}), "opt_out_keywords[0]"),
        (json!({"opt_out_keywords": ["ok", "x".repeat(51)]}), "opt_out_keywords[1]"),
        (json!({"opt_out_keywords": too_many}), "opt_out_keywords"),
        (json!({"opt_out_keywords": ["STOP"], "confirmation": "x".repeat(4097)}), "confirmation"),
        (json!({"confirmation": "hi"}), "opt_out_keywords"),
    ] {
        let got = app.call(Method::PUT, "/v1/blacklist/settings", Some(&key), Some(body.clone())).await;
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], field, "{body}");
    }
    app.stop().await;
}
