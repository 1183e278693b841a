//! The webhook receiver of `kirim-bench e2e`: a minimal hyper server inside the bench that
//! answers every delivery `204` at once and counts `message.delivered` deliveries by the
//! message they are about (`data.id`), keeping redeliveries (the same `webhook-id` again:
//! at least once) and anything unexpected apart. Every n-th delivery's Standard Webhooks
//! signature is verified with an HMAC implementation independent of Kirim's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The event type the receiver is registered for.
pub const EVENT_TYPE: &str = "message.delivered";
/// Signatures older or newer than this (seconds) count as bad, as a receiver should treat them.
const TIMESTAMP_TOLERANCE_S: i64 = 300;

/// What the receiver saw of one message.
struct Seen {
    /// The `webhook-id` (event id) of its first delivery.
    event_id: Box<str>,
    /// When its first delivery arrived.
    first_at: Instant,
}

#[derive(Default)]
struct State {
    by_message: HashMap<Box<str>, Seen>,
    /// Arrival time of each message's first delivery, in arrival order.
    arrivals: Vec<Instant>,
    /// Deliveries repeating a `webhook-id` already received (at-least-once redeliveries).
    redeliveries: u64,
    /// Deliveries of another event (another `webhook-id`) for a message already received.
    second_events: u64,
    /// Deliveries of another event type than `message.delivered`.
    other_types: u64,
    /// Requests that were not a delivery the receiver could read.
    unreadable: u64,
    first_problem: Option<String>,
    signatures_checked: u64,
    signatures_bad: u64,
}

/// The receiver's counts at one moment.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub requests: u64,
    pub redeliveries: u64,
    pub second_events: u64,
    pub other_types: u64,
    pub unreadable: u64,
    pub signatures_checked: u64,
    pub signatures_bad: u64,
    pub first_problem: Option<String>,
}

pub struct Shared {
    state: Mutex<State>,
    requests: AtomicU64,
    /// The HMAC key: the base64-decoded part of the endpoint's `whsec_…` secret.
    key: OnceLock<Vec<u8>>,
    verify_every: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Receiver {
    /// Binds 127.0.0.1 on a free port and serves until dropped. `verify_every`: check the
    /// signature of every n-th request (0: none).
    pub async fn start(verify_every: u64) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the webhook receiver")?;
        let addr = listener.local_addr()?;
        let shared =
            Arc::new(Shared { state: Mutex::new(State::default()), requests: AtomicU64::new(0), key: OnceLock::new(), verify_every });
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(Self { addr, shared, server })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Sets the endpoint's secret (known once the webhook is registered) for verification.
    pub fn set_secret(&self, secret: &str) -> anyhow::Result<()> {
        let encoded = secret.strip_prefix("whsec_").context("the webhook secret does not start with whsec_")?;
        let key = STANDARD.decode(encoded).context("the webhook secret is not base64 after whsec_")?;
        self.shared.key.set(key).map_err(|_| anyhow::anyhow!("the webhook secret was set twice"))
    }

    /// Messages with at least one delivery so far.
    pub fn distinct(&self) -> u64 {
        self.shared.lock().arrivals.len() as u64
    }

    /// A handle counting the messages with at least one delivery, for other tasks.
    pub fn counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.lock().arrivals.len() as u64
    }

    pub fn counts(&self) -> Counts {
        let s = self.shared.lock();
        Counts {
            requests: self.shared.requests.load(Ordering::Relaxed),
            redeliveries: s.redeliveries,
            second_events: s.second_events,
            other_types: s.other_types,
            unreadable: s.unreadable,
            signatures_checked: s.signatures_checked,
            signatures_bad: s.signatures_bad,
            first_problem: s.first_problem.clone(),
        }
    }

    /// When the first delivery of each of `ids` arrived (None: not received).
    pub fn first_arrivals<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<Option<Instant>> {
        let s = self.shared.lock();
        ids.into_iter().map(|id| s.by_message.get(id).map(|seen| seen.first_at)).collect()
    }

    /// Received message ids that are not in `known`, counted.
    pub fn unknown_ids(&self, known: &std::collections::HashSet<&str>) -> u64 {
        self.shared.lock().by_message.keys().filter(|id| !known.contains(&id[..])).count() as u64
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("webhook receiver: accepting a connection failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, shared.clone()));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

#[derive(Deserialize)]
struct Delivery<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    data: DeliveryData<'a>,
}

#[derive(Deserialize)]
struct DeliveryData<'a> {
    #[serde(borrow)]
    id: &'a str,
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Empty<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let at = Instant::now();
    let number = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let verified = match shared.key.get() {
        Some(key) if shared.verify_every > 0 && number.is_multiple_of(shared.verify_every) => Some(verify(key, &parts.headers, &body)),
        _ => None,
    };
    let event_id = parts.headers.get("webhook-id").and_then(|v| v.to_str().ok());
    let parsed = serde_json::from_slice::<Delivery<'_>>(&body);
    {
        let mut s = shared.lock();
        if let Some(outcome) = verified {
            s.signatures_checked += 1;
            if let Err(why) = outcome {
                s.signatures_bad += 1;
                s.first_problem.get_or_insert_with(|| format!("bad signature: {why}"));
            }
        }
        match (parsed, event_id) {
            (Ok(d), Some(event_id)) if d.kind == EVENT_TYPE => match s.by_message.get(d.data.id) {
                Some(seen) if *seen.event_id == *event_id => s.redeliveries += 1,
                Some(_) => s.second_events += 1,
                None => {
                    s.by_message.insert(d.data.id.into(), Seen { event_id: event_id.into(), first_at: at });
                    s.arrivals.push(at);
                }
            },
            (Ok(d), Some(_)) => {
                s.other_types += 1;
                let kind = d.kind.to_string();
                s.first_problem.get_or_insert_with(|| format!("a delivery of type {kind}"));
            }
            (Ok(_), None) => {
                s.unreadable += 1;
                s.first_problem.get_or_insert_with(|| "a delivery without a webhook-id header".into());
            }
            (Err(e), _) => {
                s.unreadable += 1;
                let excerpt = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                s.first_problem.get_or_insert_with(|| format!("an unreadable delivery ({e}): {excerpt}"));
            }
        }
    }
    let mut response = Response::new(Empty::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// Verifies a delivery as a Standard Webhooks receiver does: one of the `v1,` signatures in
/// `webhook-signature` is base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`,
/// and the timestamp is recent.
fn verify(key: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).ok_or(format!("no {name} header"));
    let (id, timestamp, signatures) = (header("webhook-id")?, header("webhook-timestamp")?, header("webhook-signature")?);
    let ts: i64 = timestamp.parse().map_err(|_| format!("webhook-timestamp {timestamp:?} is not a number"))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default();
    if (now - ts).abs() > TIMESTAMP_TOLERANCE_S {
        return Err(format!("webhook-timestamp {ts} is {} s away from now", now - ts));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    let matches = signatures.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|s| s == expected);
    if matches { Ok(()) } else { Err(format!("no signature in {signatures:?} matches the body")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    #[test]
    fn verifies_the_standard_webhooks_reference_signature() {
        // The example from the Standard Webhooks specification's test suite.
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap());
        headers.insert("webhook-timestamp", "1614265330".parse().unwrap());
        headers.insert("webhook-signature", "v1,bad v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".parse().unwrap());
        // The reference timestamp is old: only the tolerance check fails.
        let err = verify(&key, &headers, br#"{"test": 2432232314}"#).unwrap_err();
        assert!(err.contains("away from now"), "{err}");
        let mac = |ts: &str, body: &[u8]| {
            let mut m = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            m.update(format!("msg_p5jXN8AQM9LWM0D4loKWxJek.{ts}.").as_bytes());
            m.update(body);
            STANDARD.encode(m.finalize().into_bytes())
        };
        assert_eq!(mac("1614265330", br#"{"test": 2432232314}"#), "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string();
        headers.insert("webhook-timestamp", now.parse().unwrap());
        headers.insert("webhook-signature", format!("v1,{}", mac(&now, b"{}")).parse().unwrap());
        assert_eq!(verify(&key, &headers, b"{}"), Ok(()));
        assert!(verify(&key, &headers, b"{ }").is_err());
    }

    #[tokio::test]
    async fn counts_messages_redeliveries_and_surprises() {
        let receiver = Receiver::start(1).await.unwrap();
        receiver.set_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let post = |event: &str, body: String| {
            let request = Request::post(receiver.url())
                .header("webhook-id", event)
                .header("webhook-timestamp", "1")
                .header("webhook-signature", "v1,x")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            client.request(request)
        };
        let delivered = |id: &str| format!(r#"{{"type":"message.delivered","timestamp":"t","data":{{"id":"{id}","status":"delivered"}}}}"#);
        for (event, body) in [
            ("evt_1", delivered("msg_1")),
            ("evt_2", delivered("msg_2")),
            ("evt_1", delivered("msg_1")),
            ("evt_3", delivered("msg_1")),
            ("evt_4", r#"{"type":"message.read","data":{"id":"msg_1"}}"#.to_string()),
            ("evt_5", "not json".to_string()),
        ] {
            assert_eq!(post(event, body).await.unwrap().status(), StatusCode::NO_CONTENT);
        }
        let c = receiver.counts();
        assert_eq!((c.requests, receiver.distinct(), c.redeliveries, c.second_events, c.other_types, c.unreadable), (6, 2, 1, 1, 1, 1));
        assert_eq!((c.signatures_checked, c.signatures_bad), (6, 6));
        assert_eq!(receiver.counter()(), 2);
        let known: std::collections::HashSet<&str> = ["msg_1"].into();
        assert_eq!(receiver.unknown_ids(&known), 1);
        let firsts = receiver.first_arrivals(["msg_2", "msg_9"]);
        assert!(firsts[0].is_some() && firsts[1].is_none());
    }
}
