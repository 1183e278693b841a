//! Wablas's account calls (reference 001), each as its documentation's example sends it:
//! device management, the number check, the blacklist, contacts and contact groups,
//! auto-replies, agents, reminders and uploads. Side effects are checked on the native API.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::files;
use crate::wablas_client::{BASE, Body, Wablas, assert_fails, call};

/// A call without a body.
async fn bare(app: &TestApp, method: Method, path: &str, auth: Option<&str>) -> (StatusCode, Value) {
    call(app, method, path, auth, Body::None, json!({})).await
}

/// A GET that answers a page rather than JSON.
async fn page(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let response = app.client.get(format!("{}{BASE}{path}", app.base)).send().await.unwrap();
    let status = response.status();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

#[tokio::test]
async fn device_info_the_server_list_and_the_speed_setting() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;

    let (status, body) = bare(&app, Method::GET, &format!("/api/device/info?token={}", w.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = json!({"name": "phone", "serial": w.device, "sender": w.phone.trim_start_matches('+'), "quota": "unlimited",
                          "expired_date": null, "active": true, "status": "connected"});
    assert_eq!((&body["status"], &body["data"]), (&json!(true), &expected), "{body}");
    // The operator's quota and expiry show; an expired device is not active.
    let limits = json!({"quota": 91, "expires_at": "2020-04-08T00:00:00Z"});
    let (s, b) = app.call(Method::PUT, &format!("/v1/devices/{}/limits", w.device), Some(ADMIN), Some(limits)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, body) = bare(&app, Method::GET, "/api/device/info", Some(&w.token)).await;
    assert_eq!(
        (&body["data"]["quota"], &body["data"]["expired_date"], &body["data"]["active"]),
        (&json!(91), &json!("2020-04-08"), &json!(false))
    );

    let (status, body) = bare(&app, Method::GET, &format!("/api/list-server?token={}", w.with_secret()), None).await;
    assert_eq!((status, &body["status"], &body["server"]), (StatusCode::OK, &json!(true), &json!(["127.0.0.1"])), "{body}");

    // Speed: 10 s per 5 messages is 2 s between two; as a form and as JSON.
    for (delay, body_kind, pacing) in [(json!("10"), Body::Form, 2000), (json!(120), Body::Json, 24000)] {
        let (status, body) =
            call(&app, Method::POST, "/api/device/speed", Some(&w.with_secret()), body_kind, json!({"delay": delay})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["deviceId"], w.device.as_str());
        assert!(body["data"]["message"].as_str().unwrap().contains("per 5 messages"), "{body}");
        let (_, device) = app.get(&format!("/v1/devices/{}", w.device), &w.key).await;
        assert_eq!(device["settings"]["pacing_ms"], pacing, "{device}");
    }
    for bad in ["9", "121", "fast"] {
        let got = call(&app, Method::POST, "/api/device/speed", Some(&w.with_secret()), Body::Form, json!({"delay": bad})).await;
        assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(got.1["message"].as_str().unwrap().contains("delay"), "{}", got.1);
    }
    // Device management needs the secret key, and only the device's own account's.
    let got = call(&app, Method::POST, "/api/device/speed", Some(&w.token), Body::Form, json!({"delay": "10"})).await;
    assert_fails(&got, StatusCode::UNAUTHORIZED);
    let other = Wablas::linked(&app, "other").await;
    let got =
        call(&app, Method::POST, "/api/device/speed", Some(&format!("{}.{}", w.token, other.key)), Body::Form, json!({"delay": "10"}))
            .await;
    assert_fails(&got, StatusCode::UNAUTHORIZED);
    let got = bare(&app, Method::GET, "/api/device/info?token=kd_nope", None).await;
    assert_fails(&got, StatusCode::UNAUTHORIZED);

    // Other channels are not WhatsApp: not applicable.
    let data = json!({"user_id": "Uabb3cc695269e10f43c57a709919867e", "message": "hello there"});
    let got = call(&app, Method::POST, "/api/channel/line", Some(&w.token), Body::Form, data).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("channel"), "{}", got.1);
    app.stop().await;
}

#[tokio::test]
async fn a_device_is_created_scanned_by_its_page_and_linked() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let data = json!({"name": "The One 2", "phone": "6281218000001", "bank": "BCA", "periode": "mounthly", "product": "lite"});
    let (status, body) = call(&app, Method::POST, "/api/device/create", Some(&w.with_secret()), Body::Form, data).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!(true)), "{body}");
    let created = &body["data"];
    assert_eq!((&created["device_name"], &created["product"], &created["bank"]), (&json!("The One 2"), &json!("lite"), &json!("BCA")));
    assert_eq!((&created["phone"], &created["connector"]), (&json!("6281218000001"), &json!("sandbox")), "the caller's connector");
    let (device, token) = (created["device"].as_str().unwrap().to_owned(), created["token"].as_str().unwrap().to_owned());
    let (s, native) = app.get(&format!("/v1/devices/{device}"), &w.key).await;
    assert_eq!((s, &native["name"], &native["status"]), (StatusCode::OK, &json!("The One 2"), &json!("disconnected")), "{native}");

    // As JSON too; a name is required; the token alone may not create devices.
    let (status, body) = call(&app, Method::POST, "/api/device/create", Some(&w.with_secret()), Body::Json, json!({"name": "Two"})).await;
    assert_eq!((status, &body["data"]["device_name"]), (StatusCode::OK, &json!("Two")), "{body}");
    let got = call(&app, Method::POST, "/api/device/create", Some(&w.with_secret()), Body::Json, json!({"phone": "6281218000001"})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("name"), "{}", got.1);
    let got = call(&app, Method::POST, "/api/device/create", Some(&w.token), Body::Form, json!({"name": "x"})).await;
    assert_fails(&got, StatusCode::UNAUTHORIZED);

    // The scan page starts linking and shows the QR code, reloading itself until linked.
    let (status, kind, html) = page(&app, &format!("/api/device/scan?token={token}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.contains("http-equiv=\"refresh\""), "{html}");
    app.wait_device(&w.key, &device, "awaiting_scan").await;
    let (_, _, html) = page(&app, &format!("/api/device/scan?token={token}")).await;
    assert!(html.contains("src=\"data:image/png;base64,"), "{html}");
    let (_, scanned) = app.post(&format!("/v1/sandbox/devices/{device}/scan"), &w.key, json!({})).await;
    app.wait_device(&w.key, &device, "connected").await;
    let (_, _, html) = page(&app, &format!("/api/device/scan?token={token}")).await;
    assert!(html.contains("Device connected") && html.contains(scanned["phone"].as_str().unwrap().trim_start_matches('+')), "{html}");
    assert!(!html.contains("refresh"), "{html}");
    let (status, _, _) = page(&app, "/api/device/scan?token=kd_nope").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn token_rotation_disconnect_restart_and_delete() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let (status, body) = bare(&app, Method::GET, "/api/device/generate-token", Some(&w.with_secret())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["data"]["device_name"], &body["data"]["device_serial"]), (&json!("phone"), &json!(w.device)));
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    assert_ne!(token, w.token);
    let got = bare(&app, Method::GET, "/api/device/info", Some(&w.token)).await;
    assert_fails(&got, StatusCode::UNAUTHORIZED);
    let secret = format!("{token}.{}", w.key);
    let (status, _) = bare(&app, Method::GET, "/api/device/info", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = bare(&app, Method::GET, "/api/device/disconnect", Some(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], format!("your device {} succesfully disconnected", w.device));
    app.wait_device(&w.key, &w.device, "logged_out").await;
    let (status, body) = bare(&app, Method::GET, "/api/device/restart", Some(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], format!("restart device {} successfully", w.device));
    app.wait_device(&w.key, &w.device, "awaiting_scan").await;

    let got = bare(&app, Method::DELETE, "/api/device/delete", Some(&token)).await;
    assert_fails(&got, StatusCode::UNAUTHORIZED);
    let (status, body) = bare(&app, Method::DELETE, "/api/device/delete", Some(&secret)).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("your device succesfully deleted")), "{body}");
    let (status, _) = app.get(&format!("/v1/devices/{}", w.device), &w.key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_number_change_relinks_the_new_phone_by_pairing_code() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let same = call(&app, Method::POST, "/api/device/change-number", Some(&w.with_secret()), Body::Form, json!({"phone": w.phone})).await;
    assert_eq!((same.0, &same.1["data"]["status"]), (StatusCode::OK, &json!("connected")), "{}", same.1);

    let (status, body) =
        call(&app, Method::POST, "/api/device/change-number", Some(&w.with_secret()), Body::Form, json!({"phone": "60123000777"})).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!(true)), "{body}");
    assert_eq!((&body["data"]["phone"], &body["data"]["status"]), (&json!("60123000777"), &json!("awaiting_pair_code")));
    assert!(body["data"]["pair_code"].as_str().is_some_and(|c| !c.is_empty()), "{body}");
    let (_, scanned) = app.post(&format!("/v1/sandbox/devices/{}/scan", w.device), &w.key, json!({"phone": "+60123000777"})).await;
    assert_eq!(scanned["phone"], "+60123000777", "{scanned}");
    let device = app.wait_device(&w.key, &w.device, "connected").await;
    assert_eq!(device["phone"], "+60123000777");

    let got = call(&app, Method::POST, "/api/device/change-number", Some(&w.with_secret()), Body::Json, json!({"phone": "12"})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("phone"), "{}", got.1);
    app.stop().await;
}

#[tokio::test]
async fn the_closing_message_is_the_devices_fallback_auto_reply() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    for (closing, body_kind) in [("selamat pagi", Body::Form), ("selamat malam", Body::Json)] {
        let (status, body) =
            call(&app, Method::POST, "/api/device/change-closing", Some(&w.with_secret()), body_kind, json!({"closing": closing})).await;
        assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("closing message successfully changed")), "{body}");
        let (_, rules) = app.get("/v1/auto-replies", &w.key).await;
        let fallbacks: Vec<&Value> = rules["data"].as_array().unwrap().iter().filter(|r| r["match"] == "fallback").collect();
        assert_eq!(fallbacks.len(), 1, "one closing message per device: {rules}");
        assert_eq!((&fallbacks[0]["device_id"], &fallbacks[0]["reply"]["text"]["body"]), (&json!(w.device), &json!(closing)));
    }
    // An inbound message no keyword matches is answered with it.
    let inbound = json!({"from": "+60129998888", "text": "anyone there?"});
    let (s, b) = app.post(&format!("/v1/sandbox/devices/{}/inbound", w.device), &w.key, inbound).await;
    assert!(s.is_success(), "{b}");
    app.wait_for(&w.key, "/v1/messages?direction=outbound", |b| {
        b["data"].as_array().unwrap().iter().any(|m| m["content"]["text"]["body"] == "selamat malam" && m["to"] == "+60129998888")
    })
    .await;
    let got = call(&app, Method::POST, "/api/device/change-closing", Some(&w.with_secret()), Body::Form, json!({"closing": " "})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("closing"));
    app.stop().await;
}

#[tokio::test]
async fn numbers_are_checked_and_blacklisted() {
    // The sandbox has no WhatsApp account for +6019999…; Wablas's second example number
    // (62142312121) is not a valid number at all.
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let (status, body) = bare(&app, Method::GET, "/check-phone-number?phones=6281393961320,0199990001", Some(&w.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = json!({"status": "success", "message": "Success",
        "data": [{"phone": "6281393961320", "status": "online"}, {"phone": "60199990001", "status": "offline"}]});
    assert_eq!(body, expected);
    let got = bare(&app, Method::GET, "/check-phone-number?phones=6281393961320,62142312121", Some(&w.token)).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().starts_with("`phones` `62142312121`"), "{}", got.1);
    let got = bare(&app, Method::GET, "/check-phone-number", Some(&w.token)).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);

    // Adding takes the token alone (as Wablas's example does); removing needs the secret key.
    let (status, body) = bare(&app, Method::GET, &format!("/api/blacklist?token={}&phone=6281223640001", w.token), None).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("Add 6281223640001 to blacklist succesfully")), "{body}");
    let (_, list) = app.get("/v1/blacklist", &w.key).await;
    assert_eq!(list["data"][0]["phone"], "+6281223640001", "{list}");
    let (status, sent) = app.send_text(&w.key, "+6281223640001", "hi").await;
    assert!(status.is_client_error(), "a blacklisted number is not messaged: {sent}");
    let got = bare(&app, Method::GET, &format!("/api/blacklist/cancel?token={}&phone=6281223640001", w.token), None).await;
    assert_fails(&got, StatusCode::UNAUTHORIZED);
    let path = format!("/api/blacklist/cancel?token={}&phone=6281223640001", w.with_secret());
    let (status, body) = bare(&app, Method::GET, &path, None).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("sucessfully cancel 6281223640001 from blacklist")), "{body}");
    let (_, list) = app.get("/v1/blacklist", &w.key).await;
    assert_eq!(list["data"], json!([]));
    assert_fails(&bare(&app, Method::GET, &path, None).await, StatusCode::NOT_FOUND);
    let got = bare(&app, Method::GET, &format!("/api/blacklist?token={}", w.token), None).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

/// The documented v2 contact payload: two new numbers, one given twice.
fn documented_contacts() -> Value {
    json!({"data": [
        {"name": "Danu", "phone": "6285867765222"},
        {"name": "Karina Setya", "phone": "6285867765777", "email": "karina@example.com", "birth_day": "1992-03-12",
         "address": "Kedokan RT 02/ RW 04 Klego Boyolali"},
        {"name": "Danu", "phone": "6285867765222"},
    ]})
}

#[tokio::test]
async fn contacts_are_added_in_bulk_updated_paged_and_deleted() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let (status, body) = call(&app, Method::POST, "/api/v2/contact", Some(&w.with_secret()), Body::Json, documented_contacts()).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("Successfully Add contact")), "{body}");
    let results: Vec<(Value, Value, Value)> = body["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["phone"].clone(), m["status"].clone(), m["message"].clone()))
        .collect();
    assert_eq!(
        results,
        [
            (json!("6285867765222"), json!(true), json!("successfully add 6285867765222 to contact")),
            (json!("6285867765777"), json!(true), json!("successfully add 6285867765777 to contact")),
            (json!("6285867765222"), json!(false), json!("6285867765222 already add on contact")),
        ]
    );
    let (_, native) = app.get("/v1/contacts?search=Karina", &w.key).await;
    let karina = &native["data"][0];
    assert_eq!(
        (&karina["phone"], &karina["email"], &karina["birthday"]),
        (&json!("+6285867765777"), &json!("karina@example.com"), &json!("1992-03-12"))
    );

    // A form as PHP's http_build_query writes it, with one bad item.
    let form = json!({"data[0][name]": "Sari", "data[0][phone]": "6285867765333", "data[1][name]": "Bad", "data[1][phone]": "abc",
                      "data[2][name]": "Tono", "data[2][phone]": "6285867765444", "data[2][birth_day]": "12-03-1992"});
    let (status, body) = call(&app, Method::POST, "/api/v2/contact", Some(&w.with_secret()), Body::Form, form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let messages = body["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.iter().map(|m| m["status"].clone()).collect::<Vec<_>>(), [json!(true), json!(false), json!(false)]);
    assert!(messages[1]["message"].as_str().unwrap().contains("phone"), "{body}");
    assert!(messages[2]["message"].as_str().unwrap().contains("birth_day"), "{body}");
    let got = call(&app, Method::POST, "/api/v2/contact", Some(&w.with_secret()), Body::Json, json!({"data": []})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    let got = call(&app, Method::POST, "/api/v2/contact", Some(&w.token), Body::Json, documented_contacts()).await;
    assert_fails(&got, StatusCode::UNAUTHORIZED);

    // Update by number: the second is not a contact.
    let update = json!({"data": [{"name": "Danu Update", "phone": "6285867765222"}, {"name": "X", "phone": "6285867765999"}]});
    let (status, body) = call(&app, Method::POST, "/api/v2/contact/update", Some(&w.with_secret()), Body::Json, update).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["messages"][0]["status"], true);
    assert_eq!(
        body["data"]["messages"][1],
        json!({"phone": "6285867765999", "message": "contact 6285867765999 not found", "status": false})
    );
    let (_, danu) = app.get("/v1/contacts/+6285867765222", &w.key).await;
    assert_eq!(danu["name"], "Danu Update");

    // Pages: 3 contacts, 2 per page; the token alone may read.
    let (status, body) = bare(&app, Method::GET, "/api/v2/contact?page=2&limit=2", Some(&w.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["totalData"], &body["perPage"], &body["page"], &body["totalPage"]), (&json!(3), &json!(2), &json!(2), &json!(2)));
    assert_eq!(body["message"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["message"][0]["phone"], "6285867765333");
    let (_, one) = bare(&app, Method::GET, "/api/v2/contact?phone=6285867765777", Some(&w.token)).await;
    assert_eq!((&one["totalData"], &one["message"][0]["birth_day"]), (&json!(1), &json!("12-03-1992")), "{one}");
    assert_fails(&bare(&app, Method::GET, "/api/v2/contact?limit=0", Some(&w.token)).await, StatusCode::UNPROCESSABLE_ENTITY);

    // Another account sees none of them and deletes none.
    let other = Wablas::linked(&app, "other").await;
    let (_, theirs) = bare(&app, Method::GET, "/api/v2/contact", Some(&other.token)).await;
    assert_eq!(theirs["totalData"], 0);
    let got = bare(&app, Method::DELETE, "/api/contact?phone=6285867765222", Some(&other.with_secret())).await;
    assert_fails(&got, StatusCode::NOT_FOUND);

    let path = "/api/contact?phone=6285867765222,6285867765777,6285867765999";
    let (status, body) = bare(&app, Method::DELETE, path, Some(&w.with_secret())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Successfully deleted contacts: 6285867765222, 6285867765777; not found: 6285867765999");
    let (_, left) = app.get("/v1/contacts", &w.key).await;
    assert_eq!(left["data"].as_array().unwrap().len(), 1, "{left}");
    app.stop().await;
}

#[tokio::test]
async fn contact_groups_take_and_give_back_numbers_by_name() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let data = json!({"name": "Nama Group Kontak", "phone": "0124393939,0124393938,adsasdasdas"});
    let (status, body) = call(&app, Method::POST, "/api/group/add", Some(&w.with_secret()), Body::Form, data).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("Create Group Contact Nama Group Kontak Succesfully")), "{body}");
    assert_eq!(body["data"][0], json!({"info": "60124393939 succesfully add to group Nama Group Kontak", "status": true}));
    assert_eq!((&body["data"][2]["phone"], &body["data"][2]["status"]), (&json!("adsasdasdas"), &json!(false)));
    let again = json!({"name": "Nama Group Kontak", "phone": "0124393939"});
    let (_, body) = call(&app, Method::POST, "/api/group/add", Some(&w.with_secret()), Body::Json, again).await;
    assert_eq!(body["message"], "Update Group Contact Nama Group Kontak Succesfully");
    assert_eq!(body["data"][0], json!({"info": "60124393939 already add to group Nama Group Kontak", "status": true}));
    let (_, members) = app.get("/v1/contact-groups/Nama%20Group%20Kontak/members", &w.key).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 2, "{members}");

    let data = json!({"name": "Nama Group Kontak", "phone": "60124393939,60124393937"});
    let (status, body) = call(&app, Method::POST, "/api/group/delete-phone", Some(&w.with_secret()), Body::Form, data).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("remove phones number from group Nama Group Kontak")), "{body}");
    assert_eq!(body["data"][0], json!({"info": "60124393939 succesfully removed from group Nama Group Kontak", "status": true}));
    assert_eq!(body["data"][1], json!({"info": "60124393937 not found on group Nama Group Kontak", "status": false}));
    let (_, members) = app.get("/v1/contact-groups/Nama%20Group%20Kontak/members", &w.key).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 1, "{members}");

    let other = Wablas::linked(&app, "other").await;
    let data = json!({"name": "Nama Group Kontak", "phone": "60124393938"});
    assert_fails(
        &call(&app, Method::POST, "/api/group/delete-phone", Some(&other.with_secret()), Body::Form, data).await,
        StatusCode::NOT_FOUND,
    );
    let got = call(&app, Method::POST, "/api/group/add", Some(&w.with_secret()), Body::Form, json!({"name": "G"})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("phone"), "{}", got.1);
    app.stop().await;
}

#[tokio::test]
async fn auto_replies_are_created_changed_listed_and_removed() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v2/autoreply",
        Some(&w.with_secret()),
        Body::Json,
        json!({"keyword": "hello", "response": "hello too."}),
    )
    .await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("Auto reply created successfully")), "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        body["data"],
        json!({"id": id, "device": w.device, "keyword": "hello", "category": "text", "response": "hello too.", "file": null})
    );
    let (_, body) =
        call(&app, Method::POST, "/api/v2/autoreply", Some(&w.with_secret()), Body::Form, json!({"keyword": "mata hari", "response": "x"}))
            .await;
    assert_eq!(body["status"], true, "{body}");
    let (_, rule) = app.get(&format!("/v1/auto-replies/{id}"), &w.key).await;
    assert_eq!((&rule["match"], &rule["reply"]["text"]["body"]), (&json!("exact"), &json!("hello too.")));

    let change = json!({"keyword": "keyword 1", "response": "new response to keyword 1"});
    let (status, body) = call(&app, Method::PUT, &format!("/api/v2/autoreply/{id}"), Some(&w.with_secret()), Body::Json, change).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("update autoreply keyword: keyword 1 successfully")), "{body}");
    assert_eq!(body["data"]["response"], "new response to keyword 1");

    // The documented example reads the list with PUT; GET works too.
    let (status, body) = bare(&app, Method::PUT, "/api/v2/autoreply/getData?keyword=keyword", Some(&w.with_secret())).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("sucessfully get autoreplies data")), "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["keyword"], "keyword 1");
    let (_, all) = bare(&app, Method::GET, "/api/v2/autoreply/getData", Some(&w.token)).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "{all}");

    let other = Wablas::linked(&app, "other").await;
    let got = bare(&app, Method::DELETE, &format!("/api/v2/autoreply/{id}"), Some(&other.with_secret())).await;
    assert_fails(&got, StatusCode::NOT_FOUND);
    let (status, body) = bare(&app, Method::DELETE, &format!("/api/v2/autoreply/{id}"), Some(&w.with_secret())).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("remove autoreply keyword: keyword 1 successfully")), "{body}");
    let (status, _) = app.get(&format!("/v1/auto-replies/{id}"), &w.key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let got = call(&app, Method::POST, "/api/v2/autoreply", Some(&w.with_secret()), Body::Json, json!({"keyword": "x"})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["message"].as_str().unwrap().contains("response"), "{}", got.1);
    app.stop().await;
}

#[tokio::test]
async fn agents_are_created_and_given_a_chat() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let data = json!({"name": "danu", "phone": "60121800001", "email": "danu@example.com", "password": "secret-1"});
    let (status, body) = call(&app, Method::POST, "/api/create-agent", Some(&w.with_secret()), Body::Form, data).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("Create Agent Success")), "{body}");
    assert_eq!(body["data"]["Total Agent"], 1);
    assert_eq!((&body["Info Agent"][0]["email"], &body["Info Agent"][0]["phone"]), (&json!("danu@example.com"), &json!("60121800001")));
    let many = json!({"data": [{"name": "Harsoyo", "phone": "60121800002", "email": "harsoyo@example.com", "password": "x"},
                               {"name": "Dup", "email": "danu@example.com", "password": "x"}]});
    let (status, body) = call(&app, Method::POST, "/api/v2/create-agent", Some(&w.with_secret()), Body::Json, many).await;
    assert_eq!((status, &body["data"]["Total Agent"]), (StatusCode::OK, &json!(2)), "{body}");
    assert_eq!((&body["Info Agent"][0]["status"], &body["Info Agent"][1]["status"]), (&json!(true), &json!(false)), "{body}");
    assert!(body["Info Agent"][1]["message"].as_str().unwrap().contains("email"), "{body}");
    let (_, agents) = app.get("/v1/agents", &w.key).await;
    assert_eq!(agents["data"].as_array().unwrap().len(), 2);
    let got = call(&app, Method::POST, "/api/create-agent", Some(&w.with_secret()), Body::Form, json!({"email": "a@example.com"})).await;
    assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);

    // A chat: the message sent to it is assigned to an agent found by email, then by number.
    let (status, sent) = app.send_text(&w.key, "+60129990001", "hello").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let message = sent["id"].as_str().unwrap().to_owned();
    let data = json!({"phone": "60121800001", "email": "danu@example.com", "message_id": message});
    let (status, body) = call(&app, Method::POST, "/api/assign-agent", Some(&w.with_secret()), Body::Form, data).await;
    assert_eq!(
        (status, &body["message"]),
        (StatusCode::OK, &json!("Message from phone 60129990001 succesfully assigned to agent danu")),
        "{body}"
    );
    let (_, chats) = app.get("/v1/conversations", &w.key).await;
    assert_eq!(chats["data"][0]["assignee"]["name"], "danu", "{chats}");
    let data = json!({"phone": "60121800002", "message_id": message});
    let (_, body) = call(&app, Method::POST, "/api/assign-agent", Some(&w.with_secret()), Body::Json, data).await;
    assert_eq!(body["message"], "Message from phone 60129990001 succesfully assigned to agent Harsoyo", "{body}");

    let data = json!({"email": "nobody@example.com", "message_id": message});
    let got = call(&app, Method::POST, "/api/assign-agent", Some(&w.with_secret()), Body::Form, data).await;
    assert_fails(&got, StatusCode::NOT_FOUND);
    assert!(got.1["message"].as_str().unwrap().contains("email"), "{}", got.1);
    let other = Wablas::linked(&app, "other").await;
    let data = json!({"email": "danu@example.com", "message_id": message});
    assert_fails(&call(&app, Method::POST, "/api/assign-agent", Some(&other.with_secret()), Body::Form, data).await, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn reminders_are_created_read_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let data = json!({"phone": "6281218000003", "start_date": "2030-05-20 13:20:00", "message": "Reminder message for you",
                      "periode": "custom", "title": "New Reminder", "custom_day": "5"});
    let (status, body) = call(&app, Method::POST, "/api/reminder", Some(&w.with_secret()), Body::Form, data).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["status"], &body["category"]), (&json!(true), &json!("text")));
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let expected = json!({"id": id, "phone": "6281218000003", "title": "New Reminder", "message": "Reminder message for you",
                          "timezone": "UTC", "start_at": "2030-05-20 13:20:00", "reminder_type": "custom: send every 5 days"});
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&body["data"][k], v, "{k}: {body}");
    }
    let (_, native) = app.get(&format!("/v1/reminders/{id}"), &w.key).await;
    assert_eq!(
        (&native["to"], &native["repeat"], &native["device_id"]),
        (&json!("+6281218000003"), &json!({"every": "days", "days": 5}), &json!(w.device))
    );

    // `custom_date`, as the table calls it, in JSON with a zone.
    let data = json!({"phone": "6281218000004", "start_date": "2030-05-20 13:20:00", "message": "weekly", "periode": "custom",
                      "custom_date": 7, "timezone": "Asia/Jakarta"});
    let (status, body) = call(&app, Method::POST, "/api/reminder", Some(&w.with_secret()), Body::Json, data).await;
    assert_eq!(
        (status, &body["data"]["reminder_type"], &body["data"]["timezone"]),
        (StatusCode::OK, &json!("custom: send every 7 days"), &json!("Asia/Jakarta")),
        "{body}"
    );

    let change = json!({"phone": "6281393961320", "start_date": "2031-01-02 08:00:00", "message": "selamat datang 2 hari lgi", "title": "New Reminder"});
    let (status, body) = call(&app, Method::POST, &format!("/api/reminder/{id}"), Some(&w.with_secret()), Body::Form, change).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("Reminder Messages is succesfully updated")), "{body}");
    assert_eq!(
        (&body["data"]["message"], &body["data"]["reminder_type"]),
        (&json!("selamat datang 2 hari lgi"), &json!("custom: send every 5 days"))
    );
    let (status, body) = bare(&app, Method::GET, &format!("/api/reminder/info/{id}"), Some(&w.token)).await;
    assert_eq!(
        (status, &body["data"]["phone"], &body["data"]["start_at"]),
        (StatusCode::OK, &json!("6281393961320"), &json!("2031-01-02 08:00:00")),
        "{body}"
    );

    for (data, field) in [
        (json!({"phone": "6281218000003", "start_date": "2030-05-20 13:20:00", "message": "m", "periode": "weekly-ish"}), "periode"),
        (json!({"phone": "6281218000003", "start_date": "2030-05-20 13:20:00", "message": "m", "periode": "custom"}), "custom_day"),
        (json!({"phone": "6281218000003", "start_date": "2020-05-20 13:20:00", "message": "m", "periode": "daily"}), "start_date"),
        (json!({"phone": "6281218000003", "start_date": "tomorrow", "message": "m", "periode": "daily"}), "start_date"),
        (json!({"start_date": "2030-05-20 13:20:00", "message": "m", "periode": "daily"}), "phone"),
    ] {
        let got = call(&app, Method::POST, "/api/reminder", Some(&w.with_secret()), Body::Form, data).await;
        assert_fails(&got, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(got.1["message"].as_str().unwrap().contains(&format!("`{field}`")), "{field}: {}", got.1);
    }
    let other = Wablas::linked(&app, "other").await;
    let got = bare(&app, Method::GET, &format!("/api/reminder/info/{id}"), Some(&other.token)).await;
    assert_fails(&got, StatusCode::NOT_FOUND);
    assert_fails(&bare(&app, Method::DELETE, &format!("/api/reminder/{id}"), Some(&other.with_secret())).await, StatusCode::NOT_FOUND);
    let (status, body) = bare(&app, Method::DELETE, &format!("/api/reminder/{id}"), Some(&w.with_secret())).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!(format!("Reminder {id} is succesfully deleted"))), "{body}");
    let (status, _) = app.get(&format!("/v1/reminders/{id}"), &w.key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// `POST /api/upload/{type}` as PHP's CURLFile sends it.
async fn upload(app: &TestApp, auth: &str, kind: &str, bytes: Vec<u8>, name: &str, mime: &str) -> (StatusCode, Value) {
    let body = crate::files::multipart(&[], &bytes, name, mime);
    let response = app
        .client
        .post(format!("{}{BASE}/api/upload/{kind}", app.base))
        .header("Authorization", auth)
        .header("content-type", format!("multipart/form-data; boundary={}", crate::files::MULTIPART_BOUNDARY))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_upload_is_served_sent_by_its_url_and_deleted() {
    let app = TestApp::spawn().await;
    let w = Wablas::linked(&app, "shop").await;
    let (status, body) = upload(&app, &w.with_secret(), "image", files::png(), "photo.png", "image/png").await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("Upload file successfully")), "{body}");
    let url = body["data"]["messages"][0]["url"].as_str().unwrap().to_owned();
    let id = body["data"]["messages"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{}/v1/media/{id}", app.base));
    let served = app.client.get(&url).bearer_auth(&w.token).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap().to_vec(), files::png());

    // A send given the URL sends the stored file (nothing is downloaded).
    let send = json!({"to": "+60129990002", "type": "image", "image": {"link": url, "caption": "c"}});
    let (status, sent) = app.post("/v1/messages", &w.key, send).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["content"]["image"]["media_id"], id.as_str(), "{sent}");
    let message = sent["id"].as_str().unwrap().to_owned();
    app.wait_message(&w.key, &message, "sent").await;

    // Bad type, no file, no secret key.
    assert_fails(&upload(&app, &w.with_secret(), "hologram", files::png(), "a.png", "image/png").await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_fails(&upload(&app, &w.with_secret(), "video", files::png(), "a.png", "image/png").await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_fails(&upload(&app, &w.token, "image", files::png(), "a.png", "image/png").await, StatusCode::UNAUTHORIZED);

    // Deleted by the message that sent it, with Wablas's `DEL` method; then it is gone.
    let other = Wablas::linked(&app, "other").await;
    let del = Method::from_bytes(b"DEL").unwrap();
    let got = bare(&app, del.clone(), &format!("/api/v2/media/delete/{id}"), Some(&other.with_secret())).await;
    assert_fails(&got, StatusCode::NOT_FOUND);
    let (status, body) = bare(&app, del, &format!("/api/v2/media/delete/{message}"), Some(&w.with_secret())).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("image file succesfully removed")), "{body}");
    let (status, _) = app.get(&format!("/v1/media/{id}/info"), &w.key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = upload(&app, &w.with_secret(), "document", files::pdf(), "invoice.pdf", "application/pdf").await;
    let doc = body["data"]["messages"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = bare(&app, Method::DELETE, &format!("/api/v2/media/delete/{doc}"), Some(&w.with_secret())).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("document file succesfully removed")), "{body}");
    assert_fails(
        &bare(&app, Method::GET, &format!("/api/v2/media/delete/{doc}"), Some(&w.with_secret())).await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
    app.stop().await;
}
