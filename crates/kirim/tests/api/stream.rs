//! `GET /v1/events/stream`: the event log live as Server-Sent Events, resumable with
//! `Last-Event-ID`, scoped to the tenant.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

#[derive(Debug, Clone)]
struct Sse {
    id: i64,
    event: String,
    data: Value,
}

/// Reads server-sent events from a response as they arrive.
struct Reader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Reader {
    async fn open(app: &TestApp, key: &str, last_event_id: Option<&str>) -> Self {
        let mut req = app.client.get(format!("{}/v1/events/stream", app.base)).bearer_auth(key);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Self { body: resp.bytes_stream().boxed(), buffer: String::new() }
    }

    /// The next event (keep-alive comments skipped), within 10 s.
    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    return Sse { id, event, data: serde_json::from_str(&data).unwrap() };
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next()).await.expect("an event within 10 s");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.expect("stream open").unwrap()));
        }
    }

    /// Events until one of `event` type about message `id` arrives (inclusive).
    async fn until(&mut self, event: &str, id: &str) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let e = self.next().await;
            let done = e.event == event && e.data["data"]["id"] == id;
            seen.push(e);
            if done {
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn the_stream_pushes_events_live_and_resumes_after_last_event_id() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("shop").await;
    let (key_b, _) = app.connected_tenant("other").await;
    let mut live = Reader::open(&app, &key, None).await;
    let mut other = Reader::open(&app, &key_b, None).await;
    let (_, sent) = app.send_text(&key, "+60123456789", "live").await;
    let id = sent["id"].as_str().unwrap();
    let seen = live.until("message.read", id).await;
    let kinds: Vec<&str> = seen.iter().filter(|e| e.data["data"]["id"] == id).map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["message.queued", "message.sent", "message.delivered", "message.read"]);
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id), "ids are increasing sequence numbers");
    assert_eq!(seen[0].data["seq"], seen[0].id, "the id is the event's seq");

    // Reconnecting after `sent` replays exactly what followed it.
    let after_sent = seen.iter().find(|e| e.event == "message.sent").unwrap().id;
    let mut resumed = Reader::open(&app, &key, Some(&after_sent.to_string())).await;
    let first = resumed.next().await;
    assert_eq!((first.event.as_str(), first.id > after_sent), ("message.delivered", true), "{first:?}");

    // Another tenant's stream never carries these events: its first is its own.
    let (_, own) = app.send_text(&key_b, "+60123456789", "mine").await;
    let first = other.next().await;
    assert_eq!(first.data["data"]["id"], own["id"], "{first:?}");

    let bad = app.client.get(format!("{}/v1/events/stream", app.base)).bearer_auth(&key).header("last-event-id", "yesterday");
    let resp = bad.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["field"], "Last-Event-ID", "{body}");
    assert_eq!(app.get("/v1/events/stream?type=nope", &key).await.1["error"]["field"], json!("type"));
    drop((other, resumed));

    // Revoking the key a stream was opened with ends the stream (within ~10 s).
    let (tenant, _) = app.tenant("revoked").await;
    let (_, extra) = app.post(&format!("/v1/tenants/{tenant}/keys"), ADMIN, json!({"name": "watcher"})).await;
    let watcher = extra["api_key"].as_str().unwrap().to_owned();
    let mut watching = Reader::open(&app, &watcher, None).await;
    let (status, _) = app.call(reqwest::Method::DELETE, &format!("/v1/keys/{}", extra["id"].as_str().unwrap()), Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match watching.body.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {} // keep-alives
            }
        }
    });
    ended.await.expect("the stream ends once its key is revoked");
    // An open stream does not hold up a graceful shutdown.
    tokio::time::timeout(Duration::from_secs(10), app.stop()).await.expect("stopped with a stream open");
    drop(live);
}
