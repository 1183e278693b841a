//! Rate limits: per credential and per tenant, reported on every counted response, `429` with
//! `Retry-After` and a JSON error past the limit.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{ADMIN, TestApp};

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn get(app: &TestApp, path: &str, token: &str) -> Answer {
    let resp = app.client.get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    Answer { status, headers, body: resp.json().await.unwrap_or(Value::Null) }
}

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers.get(name).unwrap_or_else(|| panic!("no {name} header: {:?}", a.headers)).to_str().unwrap()
}

#[tokio::test]
async fn a_key_is_limited_and_told_how_it_stands() {
    let app = TestApp::spawn_with(&[("KIRIM_RATE_LIMITS_PER_KEY", "3"), ("KIRIM_RATE_LIMITS_PER_TENANT", "0")]).await;
    let (_, key) = app.tenant("shop").await;
    for remaining in ["2", "1", "0"] {
        let a = get(&app, "/v1/devices", &key).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(header(&a, "x-ratelimit-limit"), "3");
        assert_eq!(header(&a, "x-ratelimit-remaining"), remaining);
        assert_eq!(header(&a, "ratelimit-policy"), "\"key\";q=3;w=60");
        assert!(header(&a, "ratelimit").starts_with(&format!("\"key\";r={remaining};t=")), "{:?}", a.headers);
    }
    let refused = get(&app, "/v1/devices", &key).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.body["error"]["code"], "rate_limited", "{}", refused.body);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("3 requests every 60 s"), "{}", refused.body);
    let wait: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(header(&refused, "x-ratelimit-remaining"), "0");
    // A send is refused like any other request: nothing is queued.
    let resp = app
        .client
        .post(format!("{}/v1/messages", app.base))
        .bearer_auth(&key)
        .json(&json!({"to": "+60123456789", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);

    // Another key of the same tenant has its own quota; the operator is never limited.
    let (status, created) = app.post(&format!("/v1/tenants/{}/keys", tenant_of(&app, &key).await), ADMIN, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let other = created["api_key"].as_str().unwrap();
    assert_eq!(get(&app, "/v1/devices", other).await.status, StatusCode::OK);
    for _ in 0..5 {
        let a = get(&app, "/v1/tenants", ADMIN).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.headers.get("x-ratelimit-limit").is_none(), "the operator is not counted");
    }
    app.stop().await;
}

/// The tenant id behind a key (the admin lists tenants; this app has one).
async fn tenant_of(app: &TestApp, _key: &str) -> String {
    let (_, list) = app.get("/v1/tenants", ADMIN).await;
    list["data"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_tenant_limit_spans_its_keys_and_device_tokens_but_not_other_tenants() {
    let app = TestApp::spawn_with(&[("KIRIM_RATE_LIMITS_PER_KEY", "100"), ("KIRIM_RATE_LIMITS_PER_TENANT", "4")]).await;
    let (_, key) = app.tenant("shop").await; // not counted: the operator created it
    let (device, token) = app.device(&key, "front desk").await; // 1
    assert_eq!(get(&app, "/v1/devices", &key).await.status, StatusCode::OK); // 2
    let a = get(&app, &format!("/v1/devices/{device}"), &token).await; // 3
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(header(&a, "x-ratelimit-limit"), "4", "the tenant's limit is the tighter one");
    assert_eq!(header(&a, "x-ratelimit-remaining"), "1");
    assert_eq!(header(&a, "ratelimit-policy"), "\"key\";q=100;w=60, \"tenant\";q=4;w=60");
    assert_eq!(get(&app, "/v1/devices", &key).await.status, StatusCode::OK); // 4
    let refused = get(&app, &format!("/v1/devices/{device}"), &token).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.body["error"]["message"].as_str().unwrap().starts_with("this account"), "{}", refused.body);

    let (_, neighbour) = app.tenant("neighbour").await;
    assert_eq!(get(&app, "/v1/devices", &neighbour).await.status, StatusCode::OK, "another tenant is not affected");
    app.stop().await;
}

#[tokio::test]
async fn bad_limits_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = crate::common::fast_env(&dir);
    env.push(("KIRIM_RATE_LIMITS_WINDOW_SECS".into(), "0".into()));
    let err = kirim::config::Config::load_from(&kirim::config::Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("KIRIM_RATE_LIMITS_WINDOW_SECS") && err.contains("1 to 86400"), "{err}");
}
