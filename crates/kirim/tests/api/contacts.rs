//! Contacts end to end: one at a time by id or number, batches and CSV imports answered per
//! item, search and paging, bulk delete by number, bad input and tenant isolation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

pub async fn contact(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, created) = app.post("/v1/contacts", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

pub async fn import_csv(app: &TestApp, key: &str, query: &str, content_type: &str, csv: String) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}/v1/contacts/import{query}", app.base))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(csv)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn statuses(body: &Value) -> Vec<String> {
    body["results"].as_array().expect("results").iter().map(|r| r["status"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn a_contact_is_found_changed_and_deleted_by_id_or_by_number() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let body = json!({"phone": "012-345 6789", "name": "Siti", "email": "siti@example.com", "birthday": "1992-03-12",
                      "address": "Jalan Ampang 1", "custom": {"tier": "gold"}});
    let siti = contact(&app, &key, body).await;
    assert_eq!((siti["phone"].as_str(), siti["birthday"].as_str()), (Some("+60123456789"), Some("1992-03-12")), "{siti}");
    assert!(siti["id"].as_str().unwrap().starts_with("ct_"));
    assert_eq!(siti["custom"], json!({"tier": "gold"}));
    let again = app.post("/v1/contacts", &key, json!({"phone": 60123456789u64, "name": "Other"})).await;
    assert_eq!(assert_error(&again, StatusCode::CONFLICT, "contact_exists")["error"]["field"], "phone");

    let id = siti["id"].as_str().unwrap();
    for path in [
        format!("/v1/contacts/{id}"),
        "/v1/contacts/%2B60123456789".into(),
        "/v1/contacts/60123456789".into(),
        "/v1/contacts/012-345%206789".into(),
    ] {
        let (status, found) = app.get(&path, &key).await;
        assert_eq!((status, found["id"].as_str()), (StatusCode::OK, Some(id)), "{path}: {found}");
    }
    let patch = json!({"name": "Siti Aminah", "email": null, "custom": {"city": "Ipoh"}, "address": ""});
    let (status, changed) = app.call(Method::PATCH, "/v1/contacts/60123456789", Some(&key), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["name"], "Siti Aminah");
    assert_eq!((&changed["email"], &changed["address"], &changed["custom"]), (&Value::Null, &Value::Null, &json!({"city": "Ipoh"})));
    assert_eq!(changed["birthday"], "1992-03-12", "a field left out stays");

    let ali = contact(&app, &key, json!({"phone": "+60129876543", "name": "Ali"})).await;
    let ali_path = format!("/v1/contacts/{}", ali["id"].as_str().unwrap());
    let taken = app.call(Method::PATCH, &ali_path, Some(&key), Some(json!({"phone": "+60123456789"}))).await;
    assert_eq!(assert_error(&taken, StatusCode::CONFLICT, "phone_taken")["error"]["field"], "phone");
    let (status, moved) = app.call(Method::PATCH, &ali_path, Some(&key), Some(json!({"phone": "0129876500"}))).await;
    assert_eq!((status, moved["phone"].as_str()), (StatusCode::OK, Some("+60129876500")));
    let cleared = app.call(Method::PATCH, &ali_path, Some(&key), Some(json!({"name": null}))).await;
    assert_eq!(assert_error(&cleared, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "name");

    let (status, _) = app.call(Method::DELETE, "/v1/contacts/+60123456789", Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&format!("/v1/contacts/{id}"), &key).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.call(Method::DELETE, &format!("/v1/contacts/{id}"), Some(&key), None).await, StatusCode::NOT_FOUND, "not_found");
    for bad in ["ct_nope", "not-a-number", "%2B999"] {
        assert_error(&app.get(&format!("/v1/contacts/{bad}"), &key).await, StatusCode::NOT_FOUND, "not_found");
    }
    // A device token works on the tenant's address book too.
    let (_, token) = app.device(&key, "phone").await;
    let (status, list) = app.get("/v1/contacts", &token).await;
    assert_eq!((status, list["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    app.stop().await;
}

#[tokio::test]
async fn a_batch_answers_per_item_and_upserts_on_request() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let items = json!([
        {"phone": "6285867765222", "name": "Danu"},
        {"phone": "+60123456789", "name": "Karina", "email": "karina@example.com", "birthday": "1992-03-12"},
        {"phone": "6285867765222", "name": "Danu twice"},
        {"phone": "abc", "name": "Bad number"},
        {"phone": "+60123456780", "name": "Bad mail", "email": "not-an-email"},
        {"phone": "+60123456781", "name": 42},
        {"phone": "+60123456782", "name": "Extra", "nickname": "x"},
        {"phone": "+60123456783", "name": "Typed", "custom": {"vip": true}}
    ]);
    let (status, out) = app.post("/v1/contacts/batch", &key, json!({"contacts": items})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(statuses(&out), ["created", "created", "already_exists", "invalid", "invalid", "invalid", "invalid", "invalid"]);
    assert_eq!((out["created"].as_u64(), out["already_exists"].as_u64(), out["invalid"].as_u64()), (Some(2), Some(1), Some(5)));
    let r = &out["results"];
    assert_eq!((r[2]["id"].clone(), r[2]["index"].as_u64()), (r[0]["id"].clone(), Some(2)), "the repeat names the first");
    let fields: Vec<&str> = (3..8).map(|i| r[i]["field"].as_str().unwrap_or_default()).collect();
    assert_eq!(fields, ["phone", "email", "name", "nickname", "custom.vip"], "{out}");
    assert!(r.as_array().unwrap().iter().all(|x| x["status"] != "invalid" || x["message"].as_str().is_some_and(|m| !m.is_empty())));

    let upsert = json!({"upsert": true, "contacts": [{"phone": "+60123456789", "name": "Karina Setya", "address": "Boyolali"}, {"phone": "+60123000111", "name": "New"}]});
    let (_, out) = app.post("/v1/contacts/batch", &key, upsert).await;
    assert_eq!(statuses(&out), ["updated", "created"], "{out}");
    let (_, karina) = app.get("/v1/contacts/+60123456789", &key).await;
    assert_eq!(
        (karina["name"].as_str(), karina["address"].as_str(), karina["email"].as_str()),
        (Some("Karina Setya"), Some("Boyolali"), Some("karina@example.com"))
    );

    assert_eq!(
        assert_error(
            &app.post("/v1/contacts/batch", &key, json!({"contacts": []})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field"
        )["error"]["field"],
        "contacts"
    );
    let many: Vec<Value> = (0..1001).map(|i| json!({"phone": format!("+6012{:07}", 3_000_000 + i), "name": "n"})).collect();
    assert_error(&app.post("/v1/contacts/batch", &key, json!({"contacts": many})).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_error(&app.post("/v1/contacts/batch", &key, json!({"contacts": {}})).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    let (_, list) = app.get("/v1/contacts", &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3, "nothing else was written");
    app.stop().await;
}

#[tokio::test]
async fn contacts_are_searched_filtered_by_group_and_paged() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let people = [
        ("Ahmad Tan", "+60123000001", None),
        ("Bella", "+60123000002", Some("bella@Shop.example")),
        ("Chong", "+60123000003", None),
        ("Dewi", "+60123000004", None),
        ("Élodie", "+60123000005", None),
    ];
    let batch: Vec<Value> = people.iter().map(|(name, phone, email)| json!({"name": name, "phone": phone, "email": email})).collect();
    let (status, out) = app.post("/v1/contacts/batch", &key, json!({"contacts": batch})).await;
    assert_eq!((status, out["created"].as_u64()), (StatusCode::OK, Some(5)), "{out}");
    let names = |body: &Value| body["data"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    for (query, expected) in [
        ("tan", vec!["Ahmad Tan"]),
        ("SHOP.EXAMPLE", vec!["Bella"]),
        ("%2B60%2012-300%200003", vec!["Chong"]),
        ("%C3%A9LODIE", vec!["Élodie"]),
    ] {
        let (status, body) = app.get(&format!("/v1/contacts?search={query}"), &key).await;
        assert_eq!((status, names(&body)), (StatusCode::OK, expected.iter().map(|s| s.to_string()).collect::<Vec<_>>()), "{query}");
    }
    let (_, first) = app.get("/v1/contacts?limit=2", &key).await;
    assert_eq!(names(&first), ["Ahmad Tan", "Bella"]);
    let next = first["next"].as_str().expect("a full page has a next");
    let (_, second) = app.get(&format!("/v1/contacts?limit=2&after={next}"), &key).await;
    assert_eq!(names(&second), ["Chong", "Dewi"]);
    let (_, last) = app.get(&format!("/v1/contacts?limit=2&after={}", second["next"].as_str().unwrap()), &key).await;
    assert_eq!((names(&last), &last["next"]), (vec!["Élodie".to_owned()], &Value::Null));

    let (_, group) = app.post("/v1/contact-groups", &key, json!({"name": "VIP list"})).await;
    app.post(
        &format!("/v1/contact-groups/{}/members", group["id"].as_str().unwrap()),
        &key,
        json!({"phones": ["+60123000002", "+60123000004"]}),
    )
    .await;
    let (_, vip) = app.get("/v1/contacts?group=vip%20LIST", &key).await;
    assert_eq!(names(&vip), ["Bella", "Dewi"], "a group by name, ignoring case");
    let (_, vip) = app.get(&format!("/v1/contacts?group={}&search=dew", group["id"].as_str().unwrap()), &key).await;
    assert_eq!(names(&vip), ["Dewi"]);
    assert_eq!(
        assert_error(&app.get("/v1/contacts?group=nope", &key).await, StatusCode::NOT_FOUND, "not_found")["error"]["field"],
        "group"
    );
    assert_eq!(
        assert_error(&app.get("/v1/contacts?after=xyz", &key).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"],
        "after"
    );
    assert_eq!(
        assert_error(&app.get("/v1/contacts?limit=0", &key).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"],
        "limit"
    );
    assert_eq!(
        assert_error(&app.get("/v1/contacts?sort=name", &key).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"],
        "sort"
    );
    app.stop().await;
}

#[tokio::test]
async fn numbers_are_deleted_in_bulk_with_a_result_each() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    for phone in ["+60123000001", "+60123000002"] {
        contact(&app, &key, json!({"phone": phone, "name": "x"})).await;
    }
    let (status, out) =
        app.call(Method::DELETE, "/v1/contacts?phones=%2B60123000001,0123000002,0123000009,nonsense", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(statuses(&out), ["deleted", "deleted", "not_found", "invalid"]);
    assert_eq!(out["deleted"], 2);
    assert_eq!((out["results"][1]["input"].as_str(), out["results"][1]["phone"].as_str()), (Some("0123000002"), Some("+60123000002")));
    assert!(out["results"][3]["message"].as_str().is_some_and(|m| m.contains("nonsense")), "{out}");
    let missing = app.call(Method::DELETE, "/v1/contacts", Some(&key), None).await;
    assert_eq!(assert_error(&missing, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "phones");
    let (_, list) = app.get("/v1/contacts", &key).await;
    assert!(list["data"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_csv_import_answers_per_row() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    contact(&app, &key, json!({"phone": "+60123000003", "name": "Known", "email": "known@example.com"})).await;
    let csv = "phone,name,email,birthday,Company\n\
               +60123000001,Siti,siti@example.com,1990-01-31,Acme\n\
               0123000002,\"Tan, Ah Kow\",not-an-email,,\n\
               0123000003,Known again,,,\n\
               ,No number,,,\n\
               +60123000004,Bad day,,31-01-1990,\n";
    let (status, out) = import_csv(&app, &key, "", "text/csv", csv.into()).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(statuses(&out), ["created", "invalid", "already_exists", "invalid", "invalid"]);
    let rows: Vec<u64> = out["results"].as_array().unwrap().iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [2, 3, 4, 5, 6], "row numbers as a spreadsheet shows them");
    let fields: Vec<&str> = [1, 3, 4].iter().map(|i| out["results"][i]["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "phone", "birthday"]);
    let (_, siti) = app.get("/v1/contacts/+60123000001", &key).await;
    assert_eq!((siti["custom"].clone(), siti["birthday"].as_str()), (json!({"Company": "Acme"}), Some("1990-01-31")));

    // Upsert keeps what the file leaves out.
    let (_, out) = import_csv(&app, &key, "?upsert=true", "text/csv; charset=utf-8", "phone;name\n0123000003;Known Renamed\n".into()).await;
    assert_eq!(statuses(&out), ["updated"], "{out}");
    let (_, known) = app.get("/v1/contacts/0123000003", &key).await;
    assert_eq!((known["name"].as_str(), known["email"].as_str()), (Some("Known Renamed"), Some("known@example.com")));

    // Bigger than the usual body limit (1 MiB) but within the import's.
    let note = "x".repeat(120);
    let mut big = String::from("phone,name,note\n");
    for i in 0..9_000 {
        big.push_str(&format!("+6012{:07},Person {i},{note}\n", 4_000_000 + i));
    }
    assert!(big.len() > 1024 * 1024);
    let (status, out) = import_csv(&app, &key, "", "text/csv", big).await;
    assert_eq!((status, out["created"].as_u64()), (StatusCode::OK, Some(9_000)), "{}", out["results"][0]);
    let (_, page) = app.get("/v1/contacts?search=person%208999", &key).await;
    assert_eq!(page["data"][0]["custom"]["note"].as_str().map(str::len), Some(120));

    let wrong_type = import_csv(&app, &key, "", "application/json", "{}".into()).await;
    assert_error(&wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    for (csv, says) in [("", "empty"), ("name,email\nx,y@z.co\n", "phone"), ("phone,name\n", "no contacts")] {
        let got = import_csv(&app, &key, "", "text/csv", csv.into()).await;
        let e = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert!(e["error"]["message"].as_str().unwrap().contains(says), "{csv:?}: {e}");
    }
    let flag = import_csv(&app, &key, "?upsert=maybe", "text/csv", "phone,name\n".into()).await;
    assert_eq!(assert_error(&flag, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], "upsert");
    app.stop().await;
}

#[tokio::test]
async fn bad_contact_fields_are_422s_naming_the_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let long = "n".repeat(256);
    let many: serde_json::Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (json!({"name": "x"}), "phone"),
        (json!({"phone": "+60123456789"}), "name"),
        (json!({"phone": "+60123456789", "name": "  "}), "name"),
        (json!({"phone": "+60123456789", "name": long}), "name"),
        (json!({"phone": "+999 123", "name": "x"}), "phone"),
        (json!({"phone": "120363025246125888@g.us", "name": "x"}), "phone"),
        (json!({"phone": "+60123456789", "name": "x", "email": "a@b"}), "email"),
        (json!({"phone": "+60123456789", "name": "x", "birthday": "1992-02-30"}), "birthday"),
        (json!({"phone": "+60123456789", "name": "x", "custom": {"a": 1}}), "custom.a"),
        (json!({"phone": "+60123456789", "name": "x", "custom": many}), "custom"),
        (json!({"phone": "+60123456789", "name": "x", "custom": {"a": {"nested": "no"}}}), "custom.a"),
        (json!({"phone": "+60123456789", "name": "x", "address": "a".repeat(1001)}), "address"),
        (json!({"phone": "+60123456789", "name": "x", "group": "vip"}), "group"),
    ];
    for (body, field) in cases {
        let got = app.post("/v1/contacts", &key, body.clone()).await;
        let e = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
    }
    let (_, list) = app.get("/v1/contacts", &key).await;
    assert!(list["data"].as_array().unwrap().is_empty(), "nothing was written");
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_address_book_does_not_exist() {
    let app = TestApp::spawn().await;
    let (_, key_a) = app.tenant("A").await;
    let (_, key_b) = app.tenant("B").await;
    let siti = contact(&app, &key_a, json!({"phone": "+60123456789", "name": "Siti"})).await;
    let id = siti["id"].as_str().unwrap();
    let (_, group) = app.post("/v1/contact-groups", &key_a, json!({"name": "Secret"})).await;
    app.post("/v1/blacklist", &key_a, json!({"phone": "+60123450000"})).await;
    for path in [
        format!("/v1/contacts/{id}"),
        "/v1/contacts/+60123456789".into(),
        "/v1/contact-groups/Secret".into(),
        format!("/v1/contact-groups/{}", group["id"].as_str().unwrap()),
    ] {
        assert_error(&app.get(&path, &key_b).await, StatusCode::NOT_FOUND, "not_found");
        assert_error(&app.call(Method::DELETE, &path, Some(&key_b), None).await, StatusCode::NOT_FOUND, "not_found");
    }
    assert_error(
        &app.call(Method::PATCH, "/v1/contacts/+60123456789", Some(&key_b), Some(json!({"name": "x"}))).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(&app.call(Method::DELETE, "/v1/blacklist/+60123450000", Some(&key_b), None).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.get("/v1/contacts?group=Secret", &key_b).await, StatusCode::NOT_FOUND, "not_found");
    let (_, out) = app.call(Method::DELETE, "/v1/contacts?phones=%2B60123456789", Some(&key_b), None).await;
    assert_eq!(statuses(&out), ["not_found"]);
    for path in ["/v1/contacts", "/v1/contacts?search=siti", "/v1/contact-groups", "/v1/blacklist"] {
        let (status, body) = app.get(path, &key_b).await;
        assert_eq!((status, body["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{path} leaked {body}");
    }
    // B may have the same number and the same group name, separately.
    contact(&app, &key_b, json!({"phone": "+60123456789", "name": "B's Siti"})).await;
    let (status, _) = app.post("/v1/contact-groups", &key_b, json!({"name": "Secret"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mine) = app.get("/v1/contacts/+60123456789", &key_a).await;
    assert_eq!(mine["name"], "Siti");
    app.stop().await;
}
