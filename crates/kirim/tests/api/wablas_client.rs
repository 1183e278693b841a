//! A Wablas client as its documentation's PHP examples call: a device token (and, for
//! management calls, `token.secret_key`) in `Authorization` or in the `token` query
//! parameter; forms from `http_build_query`, JSON for the v2 bulk calls.

// Each contract test file uses part of it.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

pub const BASE: &str = "/compat/wablas";

/// How a call carries its body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Body {
    None,
    Form,
    Json,
}

/// A linked sandbox device and its credentials, as a Wablas customer has them.
pub struct Wablas {
    pub key: String,
    pub device: String,
    pub token: String,
    /// The device's linked phone (E.164).
    pub phone: String,
}

impl Wablas {
    /// A tenant with one linked device.
    pub async fn linked(app: &TestApp, name: &str) -> Self {
        let (_, key) = app.tenant(name).await;
        let (device, token) = app.device(&key, "phone").await;
        let phone = app.link(&key, &device).await;
        Self { key, device, token, phone }
    }

    /// `token.secret_key`: the device token with the tenant's API key.
    pub fn with_secret(&self) -> String {
        format!("{}.{}", self.token, self.key)
    }
}

/// One call: `auth` goes in `Authorization` (None: no header; put `token=` in the path).
/// A form's values are JSON strings or numbers, flattened the way PHP sends them.
pub async fn call(app: &TestApp, method: Method, path: &str, auth: Option<&str>, body: Body, data: Value) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}{BASE}{path}", app.base));
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    request = match body {
        Body::None => request,
        Body::Json => request.json(&data),
        Body::Form => {
            let pairs: Vec<(String, String)> = data
                .as_object()
                .expect("a form is an object")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect();
            request.form(&pairs)
        }
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asserts Wablas's failure shape: `{"status": false, "message": "…"}` with this HTTP status.
pub fn assert_fails(got: &(StatusCode, Value), status: StatusCode) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["status"], json!(false), "{}", got.1);
    assert!(got.1["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", got.1);
}
