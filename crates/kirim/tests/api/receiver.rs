//! A local webhook receiver: records every request, checks its Standard Webhooks signature
//! with an HMAC implementation independent of Kirim's, and answers as a test tells it to
//! (200, an error status, slowly, or with an auto-reply body).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Value,
    pub raw: Bytes,
}

impl Received {
    /// The spec's check: base64 HMAC-SHA256 of `id.timestamp.body` under the decoded secret.
    pub fn verifies_with(&self, secret: &str) -> bool {
        let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).expect("secret is base64");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.", self.id, self.timestamp).as_bytes());
        mac.update(&self.raw);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.signature.split(' ').any(|s| s == expected)
    }

    pub fn event_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    Slow(Duration),
    /// 200 with this body and content type.
    Body(String, &'static str),
    /// 429 with a Retry-After of this many seconds.
    TooMany(u64),
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<Vec<Answer>>>,
    default: Arc<Mutex<Answer>>,
    arrived: Arc<Notify>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(s): State<Shared>, headers: HeaderMap, raw: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let received = Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        raw,
    };
    let answer = {
        let mut queued = s.answers.lock().unwrap();
        if queued.is_empty() { s.default.lock().unwrap().clone() } else { queued.remove(0) }
    };
    s.received.lock().unwrap().push(received);
    s.arrived.notify_waiters();
    match answer {
        Answer::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Answer::Slow(delay) => {
            tokio::time::sleep(delay).await;
            StatusCode::OK.into_response()
        }
        Answer::Body(body, content_type) => ([("content-type", content_type)], body).into_response(),
        Answer::TooMany(secs) => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", secs.to_string())]).into_response(),
    }
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_at("127.0.0.1:0").await
    }

    /// On a given address (to come back on the same port after being "down").
    pub async fn start_at(addr: &str) -> Self {
        let shared = Shared {
            received: Arc::default(),
            answers: Arc::default(),
            default: Arc::new(Mutex::new(Answer::Status(200))),
            arrived: Arc::new(Notify::new()),
        };
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared, task }
    }

    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").trim_end_matches("/hook").to_owned()
    }

    /// Answers every later request this way.
    pub fn answer(&self, answer: Answer) {
        *self.shared.default.lock().unwrap() = answer;
    }

    /// Answers the next requests this way, one each, then goes back to the default.
    pub fn then(&self, answers: impl IntoIterator<Item = Answer>) {
        self.shared.answers.lock().unwrap().extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (up to 15 s) until the received requests satisfy `cond`.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let arrived = self.shared.arrived.notified();
            let got = self.received();
            if cond(&got) {
                return got;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; received {:?}",
                got.iter().map(|r| r.event_type().to_owned()).collect::<Vec<_>>()
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), arrived).await;
        }
    }
}
