//! Test harness: the real app on port 0 over HTTP, with the sandbox connector as the only fake.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use kirim::app::{self, Running};
use kirim::config::{Config, Overrides};
use kirim_core::SystemClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub running: Option<Running>,
    pub dir: Arc<TempDir>,
    pub env: Vec<(String, String)>,
}

/// Environment for a fast, deterministic gateway: no pacing, instant receipts.
pub fn fast_env(dir: &TempDir) -> Vec<(String, String)> {
    [
        ("KIRIM_DATA_DIR", dir.path().to_str().unwrap()),
        ("KIRIM_ADMIN_TOKEN", ADMIN),
        ("KIRIM_DEFAULT_COUNTRY", "MY"),
        ("KIRIM_SENDING_PACING_MS", "0"),
        ("KIRIM_SENDING_PACING_JITTER_MS", "0"),
        ("KIRIM_SENDING_RETRY_BASE_MS", "20"),
        ("KIRIM_SENDING_RETRY_MAX_MS", "100"),
        ("KIRIM_SANDBOX_DELIVERED_AFTER_MS", "10"),
        ("KIRIM_SANDBOX_READ_AFTER_MS", "10"),
        ("KIRIM_LOG_LEVEL", "warn"),
        // The test webhook receivers listen on loopback, which the outbound guard refuses by default.
        ("KIRIM_OUTBOUND_ALLOW", "127.0.0.1/32"),
        ("KIRIM_WEBHOOKS_RETRY_SCHEDULE", "100ms,200ms,400ms"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the app with extra environment variables (overriding the fast defaults).
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut env = fast_env(&dir);
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        Self::start(dir, env).await
    }

    async fn start(dir: Arc<TempDir>, env: Vec<(String, String)>) -> Self {
        let loaded = Config::load_from(&Overrides::default(), &env).expect("test configuration");
        let built = app::build(loaded.config, Arc::new(SystemClock)).await.expect("build app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = app::start(built, listener).await.expect("start app");
        let base = format!("http://{}", running.addr);
        Self { base, client: reqwest::Client::new(), running: Some(running), dir, env }
    }

    /// Stops gracefully and starts again on the same data folder.
    pub async fn restart(mut self) -> Self {
        self.running.take().unwrap().stop().await.expect("clean stop");
        Self::start(self.dir.clone(), self.env.clone()).await
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("clean stop");
        }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// A new tenant; returns (tenant id, api key).
    pub async fn tenant(&self, name: &str) -> (String, String) {
        let (status, body) = self.post("/v1/tenants", ADMIN, json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["id"].as_str().unwrap().to_owned(), body["api_key"].as_str().unwrap().to_owned())
    }

    /// A sandbox device, not linked; returns (device id, device token).
    pub async fn device(&self, key: &str, name: &str) -> (String, String) {
        let (status, body) = self.post("/v1/devices", key, json!({"name": name, "connector": "sandbox"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["id"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned())
    }

    /// Links a sandbox device by QR and waits until it is connected; returns its phone.
    pub async fn link(&self, key: &str, device: &str) -> String {
        let (status, body) = self.post(&format!("/v1/devices/{device}/connect"), key, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let (status, body) = self.post(&format!("/v1/sandbox/devices/{device}/scan"), key, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let phone = body["phone"].as_str().unwrap().to_owned();
        self.wait_device(key, device, "connected").await;
        phone
    }

    /// A tenant with one connected sandbox device: (api key, device id).
    pub async fn connected_tenant(&self, name: &str) -> (String, String) {
        let (_, key) = self.tenant(name).await;
        let (device, _) = self.device(&key, "phone").await;
        self.link(&key, &device).await;
        (key, device)
    }

    pub async fn wait_device(&self, key: &str, device: &str, status: &str) -> Value {
        self.wait_for(key, &format!("/v1/devices/{device}"), |b| b["status"] == status).await
    }

    /// Waits until the message has this status, or one it can only reach through it: a wait
    /// for `delivered` ends at `read` too, since the sandbox may read a message at once.
    pub async fn wait_message(&self, key: &str, id: &str, status: &str) -> Value {
        const FORWARD: [&str; 4] = ["sent", "delivered", "read", "played"];
        let reached = |now: &str| match (FORWARD.iter().position(|s| *s == status), FORWARD.iter().position(|s| *s == now)) {
            (Some(wanted), Some(now)) => now >= wanted,
            _ => now == status,
        };
        self.wait_for(key, &format!("/v1/messages/{id}"), |b| b["status"].as_str().is_some_and(reached)).await
    }

    /// Polls a resource until the condition holds (the system under test is asynchronous by design).
    pub async fn wait_for(&self, key: &str, path: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = self.get(path, key).await;
            if status == StatusCode::OK && cond(&body) {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting on {path}; last: {status} {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn send_text(&self, key: &str, to: &str, body: &str) -> (StatusCode, Value) {
        self.post("/v1/messages", key, json!({"to": to, "type": "text", "text": {"body": body}})).await
    }
}

/// Asserts a JSON error with the given status and code, and returns its body.
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) -> Value {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(got.1["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", got.1);
    got.1.clone()
}
