//! WhatsApp groups through the sandbox: create, read, change members, invite links, sending to
//! a group, leaving; groups outlive a restart; tenancy and device tokens; bad input.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};

fn results(body: &Value) -> Vec<(String, String)> {
    body.as_array().unwrap().iter().map(|r| (r["phone"].as_str().unwrap().to_owned(), r["result"].as_str().unwrap().to_owned())).collect()
}

fn member_roles(group: &Value) -> Vec<(String, String)> {
    let mut roles: Vec<(String, String)> = group["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["phone"].as_str().unwrap().to_owned(), p["role"].as_str().unwrap().to_owned()))
        .collect();
    roles.sort();
    roles
}

fn pair(phone: &str, what: &str) -> (String, String) {
    (phone.to_owned(), what.to_owned())
}

#[tokio::test]
async fn groups_are_created_changed_sent_to_and_outlive_a_restart() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("Acme").await;
    let (admin_dev, _) = app.device(&key, "office").await;
    let (member_dev, _) = app.device(&key, "field").await;
    let admin = app.link(&key, &admin_dev).await;
    let member = app.link(&key, &member_dev).await;

    // The member's number in a local form; a number outside the sandbox; one not on WhatsApp.
    let local = format!("0{}", &member[3..]);
    let body = json!({"subject": "  Cleaners  ", "participants": [local, 60123456789u64, "+60199990001"]});
    let (status, created) = app.post(&format!("/v1/devices/{admin_dev}/groups"), &key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        results(&created["participants"]),
        [pair(&member, "ok"), pair("+60123456789", "ok"), pair("+60199990001", "not_on_whatsapp")]
    );
    let group = &created["group"];
    let jid = group["jid"].as_str().unwrap().to_owned();
    assert!(jid.ends_with("@g.us"), "{jid}");
    assert_eq!(group["id"], jid.trim_end_matches("@g.us"));
    assert_eq!(group["subject"], "Cleaners");
    assert_eq!(group["owner"], admin.as_str());
    assert_eq!(group["size"], 3);
    let mut expected = vec![pair(&admin, "superadmin"), pair(&member, "member"), pair("+60123456789", "member")];
    expected.sort();
    assert_eq!(member_roles(group), expected);
    let admin_entry = group["participants"].as_array().unwrap().iter().find(|p| p["phone"] == admin.as_str()).unwrap().clone();
    assert_eq!(admin_entry["is_admin"], true);
    assert_eq!(admin_entry["jid"], format!("{}@s.whatsapp.net", &admin[1..]));

    // Both numbers see the group; by full JID or bare id.
    for dev in [&admin_dev, &member_dev] {
        let (status, list) = app.get(&format!("/v1/devices/{dev}/groups"), &key).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let jids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|g| g["jid"].as_str().unwrap()).collect();
        assert_eq!(jids, [jid.as_str()]);
    }
    let bare = jid.trim_end_matches("@g.us");
    let (status, one) = app.get(&format!("/v1/devices/{member_dev}/groups/{bare}"), &key).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["subject"], "Cleaners");

    // Only admins change members or see the invite link.
    let participants = format!("/v1/devices/{member_dev}/groups/{jid}/participants");
    let refused = app.post(&participants, &key, json!({"action": "add", "participants": ["+60123000111"]})).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "group_admin_required");
    assert_error(
        &app.get(&format!("/v1/devices/{member_dev}/groups/{jid}/invite-link"), &key).await,
        StatusCode::FORBIDDEN,
        "group_admin_required",
    );

    let participants = format!("/v1/devices/{admin_dev}/groups/{jid}/participants");
    let (status, added) = app.post(&participants, &key, json!({"action": "add", "participants": [member, "+60123000111"]})).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(results(&added["data"]), [pair(&member, "already_member"), pair("+60123000111", "ok")]);
    let (_, removed) = app.post(&participants, &key, json!({"action": "remove", "participants": ["+60123000111", "+60122000222"]})).await;
    assert_eq!(results(&removed["data"]), [pair("+60123000111", "ok"), pair("+60122000222", "not_member")]);
    let (_, demoted) = app.post(&participants, &key, json!({"action": "demote", "participants": [admin]})).await;
    assert_eq!(results(&demoted["data"]), [pair(&admin, "failed")], "the creator stays an admin");
    let (_, promoted) = app.post(&participants, &key, json!({"action": "promote", "participants": [member]})).await;
    assert_eq!(results(&promoted["data"]), [pair(&member, "ok")]);

    // The promoted member now sees the link; a reset replaces it.
    let (status, link) = app.get(&format!("/v1/devices/{member_dev}/groups/{jid}/invite-link"), &key).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let code = link["code"].as_str().unwrap().to_owned();
    assert_eq!(link["invite_link"], format!("https://chat.whatsapp.com/{code}"));
    let (status, reset) = app.post(&format!("/v1/devices/{admin_dev}/groups/{jid}/invite-link/reset"), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_ne!(reset["code"], code.as_str());
    let code = reset["code"].as_str().unwrap().to_owned();

    // A message to the group reaches the member's device, written by the admin's number.
    let (status, sent) = app.post("/v1/messages", &key, json!({"device_id": admin_dev, "to": jid, "text": {"body": "Shift at 9"}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let inbound = format!("/v1/messages?direction=inbound&device_id={member_dev}");
    let got = app.wait_for(&key, &inbound, |b| b["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    let message = &got["data"][0];
    assert_eq!(message["from"], jid.as_str());
    assert_eq!(message["sender"], admin.as_str());
    assert_eq!(message["content"]["text"]["body"], "Shift at 9", "{message}");

    // The group, its members and its link outlive a restart.
    let app = app.restart().await;
    app.wait_device(&key, &admin_dev, "connected").await;
    app.wait_device(&key, &member_dev, "connected").await;
    let (status, after) = app.get(&format!("/v1/devices/{admin_dev}/groups/{jid}"), &key).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    let mut expected = vec![pair(&admin, "superadmin"), pair(&member, "admin"), pair("+60123456789", "member")];
    expected.sort();
    assert_eq!(member_roles(&after), expected);
    let (_, link) = app.get(&format!("/v1/devices/{admin_dev}/groups/{jid}/invite-link"), &key).await;
    assert_eq!(link["code"], code.as_str());

    // The member leaves: the group is gone for it, and it is gone from the group.
    let (status, left) = app.post(&format!("/v1/devices/{member_dev}/groups/{jid}/leave"), &key, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{left}");
    assert_error(&app.get(&format!("/v1/devices/{member_dev}/groups/{jid}"), &key).await, StatusCode::NOT_FOUND, "not_found");
    let (_, list) = app.get(&format!("/v1/devices/{member_dev}/groups"), &key).await;
    assert_eq!(list["data"], json!([]));
    let (_, after) = app.get(&format!("/v1/devices/{admin_dev}/groups/{jid}"), &key).await;
    assert_eq!(after["size"], 2);
    // A number no longer in the group cannot write to it.
    let (_, refused) = app.post("/v1/messages", &key, json!({"device_id": member_dev, "to": jid, "text": {"body": "still here?"}})).await;
    let failed = app.wait_message(&key, refused["id"].as_str().unwrap(), "failed").await;
    assert!(failed["error"].as_str().unwrap().contains("not in the group"), "{failed}");
    app.stop().await;
}

#[tokio::test]
async fn groups_are_scoped_to_the_tenant_and_the_device_token() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("Acme").await;
    let (dev1, token1) = app.device(&key, "one").await;
    let (dev2, _) = app.device(&key, "two").await;
    app.link(&key, &dev1).await;
    app.link(&key, &dev2).await;
    let (_, other_key) = app.tenant("Other").await;

    let (status, created) = app.post(&format!("/v1/devices/{dev2}/groups"), &key, json!({"subject": "Two's"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let jid = created["group"]["jid"].as_str().unwrap().to_owned();

    let paths = [
        (Method::GET, format!("/v1/devices/{dev2}/groups"), None),
        (Method::POST, format!("/v1/devices/{dev2}/groups"), Some(json!({"subject": "x"}))),
        (Method::GET, format!("/v1/devices/{dev2}/groups/{jid}"), None),
        (
            Method::POST,
            format!("/v1/devices/{dev2}/groups/{jid}/participants"),
            Some(json!({"action": "add", "participants": ["+60123000111"]})),
        ),
        (Method::GET, format!("/v1/devices/{dev2}/groups/{jid}/invite-link"), None),
        (Method::POST, format!("/v1/devices/{dev2}/groups/{jid}/invite-link/reset"), Some(json!({}))),
        (Method::POST, format!("/v1/devices/{dev2}/groups/{jid}/leave"), Some(json!({}))),
    ];
    for (method, path, body) in paths {
        for token in [&other_key, &token1] {
            let got = app.call(method.clone(), &path, Some(token), body.clone()).await;
            assert_error(&got, StatusCode::NOT_FOUND, "not_found");
        }
    }
    // A group the device's number is not in is not found, even by its JID.
    assert_error(&app.get(&format!("/v1/devices/{dev1}/groups/{jid}"), &token1).await, StatusCode::NOT_FOUND, "not_found");
    // A device token works on its own device.
    let (status, own) = app.post(&format!("/v1/devices/{dev1}/groups"), &token1, json!({"subject": "One's"})).await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let (_, list) = app.get(&format!("/v1/devices/{dev1}/groups"), &token1).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn bad_group_requests_name_the_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("Acme").await;
    let (dev, _) = app.device(&key, "one").await;
    let groups = format!("/v1/devices/{dev}/groups");

    // Not linked yet: a clear conflict, not a failure of the network.
    assert_error(&app.get(&groups, &key).await, StatusCode::CONFLICT, "device_not_connected");
    assert_error(&app.post(&groups, &key, json!({"subject": "x"})).await, StatusCode::CONFLICT, "device_not_connected");
    app.link(&key, &dev).await;

    let cases = [
        (json!({}), "subject"),
        (json!({"subject": "   "}), "subject"),
        (json!({"subject": "x".repeat(101)}), "subject"),
        (json!({"subject": 5}), "subject"),
        (json!({"subject": "ok", "participants": ["+60123456789", "12"]}), "participants[1]"),
        (json!({"subject": "ok", "participants": [true]}), "participants[0]"),
        (json!({"subject": "ok", "participants": "+60123456789"}), "participants"),
        (json!({"subject": "ok", "participants": vec!["+60123456789"; 257]}), "participants"),
        (json!({"subject": "ok", "members": []}), "members"),
    ];
    for (body, field) in cases {
        let got = app.post(&groups, &key, body.clone()).await;
        let error = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }

    let (_, created) = app.post(&groups, &key, json!({"subject": "ok"})).await;
    let jid = created["group"]["jid"].as_str().unwrap().to_owned();
    let participants = format!("{groups}/{jid}/participants");
    let cases = [
        (json!({"participants": ["+60123456789"]}), "action"),
        (json!({"action": "kick", "participants": ["+60123456789"]}), "action"),
        (json!({"action": "add"}), "participants"),
        (json!({"action": "add", "participants": []}), "participants"),
        (json!({"action": "add", "participants": ["not a number"]}), "participants[0]"),
    ];
    for (body, field) in cases {
        let got = app.post(&participants, &key, body.clone()).await;
        let error = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    for bad in ["not-a-group", "abc@g.us", "120363000000000001@s.whatsapp.net", "120363999999999999@g.us"] {
        assert_error(&app.get(&format!("{groups}/{bad}"), &key).await, StatusCode::NOT_FOUND, "not_found");
    }
    assert_error(&app.get("/v1/devices/dev_nope/groups", &key).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}
