//! The closed-loop HTTP/1.1 load generator: one task per keep-alive connection, each
//! sending a request, awaiting the whole response, recording its latency and repeating.
//! Every target in a run is driven by this same code, so their figures compare.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::histogram::Histogram;

/// Valid Malaysian mobile numbers the requests are addressed to.
pub const RECIPIENTS: [&str; 8] =
    ["+60123456789", "+60123456780", "+60123456781", "+60123456782", "+60123456783", "+60123456784", "+60123456785", "+60123456786"];

/// The body of Kirim's send request for connection `conn`: built once per connection, its
/// recipient and text vary between connections.
pub fn send_body(device_id: &str, conn: usize) -> Bytes {
    let body = serde_json::json!({
        "device_id": device_id,
        "to": RECIPIENTS[conn % RECIPIENTS.len()],
        "type": "text",
        "text": { "body": format!("Your booking #{} is confirmed. See you at 10:{:02}.", 1000 + conn, conn % 60) },
    });
    Bytes::from(serde_json::to_vec(&body).expect("a JSON value serialises"))
}

/// The same send through a compat layer: OnSend's body (device token in the header) or
/// wa-gateway's (device token in the body), with the native body's recipient and text.
pub fn compat_body(api: crate::accept::Api, device_token: &str, conn: usize) -> Bytes {
    let phone = RECIPIENTS[conn % RECIPIENTS.len()].trim_start_matches('+');
    let text = format!("Your booking #{} is confirmed. See you at 10:{:02}.", 1000 + conn, conn % 60);
    let body = match api {
        crate::accept::Api::Native => unreachable!("native sends use send_body"),
        crate::accept::Api::Onsend => serde_json::json!({"phone_number": phone, "message": text}),
        crate::accept::Api::WaGateway => serde_json::json!({"token": device_token, "phone": phone, "message": text}),
        crate::accept::Api::Wablas => serde_json::json!({"phone": phone, "message": text}),
    };
    Bytes::from(serde_json::to_vec(&body).expect("a JSON value serialises"))
}

/// A callback for every 2xx response: its body, and when it was read.
pub type OnSuccess = Arc<dyn Fn(&[u8], Instant) + Send + Sync>;

pub struct LoadSpec {
    pub addr: SocketAddr,
    pub path: String,
    /// The `Authorization` header's value, if any.
    pub authorization: Option<String>,
    /// The body of each request, by connection number and by the request's number in the
    /// whole run (0, 1, 2, … across all connections). Called once per request: return a
    /// clone of prebuilt `Bytes` to keep it off the measured path.
    pub body: Arc<dyn Fn(usize, u64) -> Bytes + Send + Sync>,
    pub connections: usize,
    /// Requests completing before this long after the start are not recorded.
    pub warmup: Duration,
    /// How long after the warm-up requests are recorded; no request is sent after it.
    pub duration: Duration,
    /// How long after the end a request in flight is still awaited (0: given up at the end).
    pub grace: Duration,
    /// At most this many requests are sent in all.
    pub max_requests: Option<u64>,
    /// Keep the `id` of every 2xx response body.
    pub capture_ids: bool,
    /// Called with the body of every 2xx response and the time it was read completely,
    /// warm-up included (for callers following what was accepted, and when).
    pub on_success: Option<OnSuccess>,
}

#[derive(Default)]
pub struct LoadResult {
    /// Latencies of the 2xx responses completed in the measured window, in microseconds.
    pub latency: Histogram,
    /// 2xx responses completed in the measured window (or during the grace period).
    pub ok: u64,
    /// Responses with another status in the measured window, by status.
    pub non_2xx: BTreeMap<u16, u64>,
    /// Connections that failed or dropped, and requests with no response, in the window.
    pub transport_errors: u64,
    /// Requests still unanswered when they were given up.
    pub abandoned: u64,
    pub window: Duration,
    /// With `capture_ids`: the ids of all 2xx responses, warm-up included.
    pub ids: Vec<String>,
    /// The first non-2xx body or transport error seen, to explain errors.
    pub first_error: Option<String>,
}

impl LoadResult {
    pub fn non_2xx_total(&self) -> u64 {
        self.non_2xx.values().sum()
    }

    pub fn errors(&self) -> u64 {
        self.non_2xx_total() + self.transport_errors
    }

    /// Completed 2xx requests per second of the measured window.
    pub fn rps(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 { self.ok as f64 / secs } else { 0.0 }
    }

    fn merge(&mut self, other: LoadResult) {
        self.latency.merge(&other.latency);
        self.ok += other.ok;
        for (status, n) in other.non_2xx {
            *self.non_2xx.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.abandoned += other.abandoned;
        self.ids.extend(other.ids);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs the load described by `spec` and returns what was measured.
pub async fn run(spec: LoadSpec) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(spec.connections > 0, "at least one connection is needed");
    let spec = Arc::new(spec);
    let start = Instant::now();
    let window = Window {
        measure_from: start + spec.warmup,
        send_until: start + spec.warmup + spec.duration,
        give_up_at: start + spec.warmup + spec.duration + spec.grace,
    };
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for conn in 0..spec.connections {
        tasks.spawn(connection(spec.clone(), conn, window, sent.clone()));
    }
    let mut total = LoadResult { window: spec.duration, ..LoadResult::default() };
    while let Some(done) = tasks.join_next().await {
        total.merge(done.context("a load connection task panicked")?);
    }
    Ok(total)
}

#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    send_until: Instant,
    give_up_at: Instant,
}

impl Window {
    fn counts(&self, at: Instant) -> bool {
        at >= self.measure_from && at <= self.give_up_at
    }
}

async fn connection(spec: Arc<LoadSpec>, conn: usize, window: Window, sent: Arc<AtomicU64>) -> LoadResult {
    let mut result = LoadResult::default();
    let host = spec.addr.to_string();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        if Instant::now() >= window.send_until {
            break;
        }
        let fresh = sender.is_none();
        let mut s = match sender.take() {
            Some(s) => s,
            None => match tokio::time::timeout_at(window.give_up_at, connect(spec.addr)).await {
                Err(_) => break,
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    note_transport_error(&mut result, &window, format!("connecting to {}: {e:#}", spec.addr));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if let Err(e) = s.ready().await {
            // A kept-alive connection the server closed while idle is simply replaced.
            if fresh {
                note_transport_error(&mut result, &window, format!("connection to {}: {e}", spec.addr));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            continue;
        }
        let number = sent.fetch_add(1, Ordering::Relaxed);
        if spec.max_requests.is_some_and(|max| number >= max) {
            break;
        }
        let body = (spec.body)(conn, number);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&spec.path)
            .header(hyper::header::HOST, &host)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(auth) = &spec.authorization {
            request = request.header(hyper::header::AUTHORIZATION, auth);
        }
        let request = request.body(Full::new(body)).expect("a valid request");
        let began = Instant::now();
        let exchange = async {
            let response = s.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        };
        let outcome = tokio::time::timeout_at(window.give_up_at, exchange).await;
        let done = Instant::now();
        match outcome {
            Err(_) => {
                result.abandoned += 1;
                break;
            }
            Ok(Err(e)) => note_transport_error(&mut result, &window, format!("request to {}: {e}", spec.addr)),
            Ok(Ok((status, body))) => {
                sender = Some(s);
                record(&spec, &mut result, &window, status, &body, began, done);
            }
        }
    }
    result
}

fn record(spec: &LoadSpec, result: &mut LoadResult, window: &Window, status: StatusCode, body: &Bytes, began: Instant, done: Instant) {
    if status.is_success()
        && let Some(hook) = &spec.on_success
    {
        hook(body, done);
    }
    if status.is_success() && spec.capture_ids {
        match serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| v.get("id")?.as_str().map(String::from)) {
            Some(id) => result.ids.push(id),
            None => note_first_error(result, format!("{status} without an id: {}", String::from_utf8_lossy(body))),
        }
    }
    if !window.counts(done) {
        return;
    }
    if status.is_success() {
        result.ok += 1;
        if done <= window.send_until {
            result.latency.record(done.duration_since(began).as_micros() as u64);
        }
    } else {
        *result.non_2xx.entry(status.as_u16()).or_default() += 1;
        note_first_error(result, format!("{status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
    }
}

fn note_transport_error(result: &mut LoadResult, window: &Window, message: String) {
    if window.counts(Instant::now()) {
        result.transport_errors += 1;
        note_first_error(result, message);
    }
}

fn note_first_error(result: &mut LoadResult, message: String) {
    if result.first_error.is_none() {
        result.first_error = Some(message);
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the server closes the connection or the sender is dropped.
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A server answering 202 with a fresh id, and 503 to every 10th request.
    async fn server() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
                        let (status, body) =
                            if n.is_multiple_of(10) { (503, String::from("{}")) } else { (202, format!(r#"{{"id":"msg_{n}"}}"#)) };
                        let response = hyper::Response::builder().status(status).body(Full::new(Bytes::from(body))).unwrap();
                        async move { Ok::<_, hyper::Error>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        addr
    }

    fn spec(addr: SocketAddr, max_requests: Option<u64>) -> LoadSpec {
        LoadSpec {
            addr,
            path: "/v1/messages".into(),
            authorization: Some("Bearer test".into()),
            body: Arc::new(|conn, _| send_body("dev_test", conn)),
            connections: 3,
            warmup: Duration::ZERO,
            duration: Duration::from_millis(300),
            grace: Duration::from_secs(1),
            max_requests,
            capture_ids: true,
            on_success: None,
        }
    }

    #[tokio::test]
    async fn counts_successes_and_errors_separately_and_keeps_ids() {
        let result = run(spec(server().await, None)).await.unwrap();
        assert!(result.ok > 50, "only {} requests succeeded", result.ok);
        let failed = result.non_2xx[&503];
        assert_eq!(result.non_2xx_total(), failed);
        assert!(failed * 9 <= result.ok + 9 && result.ok <= failed * 9 + 9 * 3, "{} ok, {failed} failed", result.ok);
        assert_eq!(result.transport_errors, 0);
        assert_eq!(result.ids.len() as u64, result.ok);
        assert_eq!(result.ids.iter().collect::<std::collections::HashSet<_>>().len(), result.ids.len());
        // Responses completing in the grace period count as ok but not as latencies.
        assert!(result.latency.count() <= result.ok && result.latency.count() + 3 >= result.ok);
        assert!(result.first_error.as_deref().unwrap().starts_with("503"));
    }

    #[tokio::test]
    async fn stops_at_the_request_budget() {
        let result = run(spec(server().await, Some(40))).await.unwrap();
        assert_eq!(result.ok + result.non_2xx_total(), 40);
        assert_eq!(result.non_2xx_total(), 4);
    }

    #[tokio::test]
    async fn a_missing_server_is_a_transport_error() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let result = run(spec(addr, None)).await.unwrap();
        assert_eq!(result.ok, 0);
        assert!(result.transport_errors > 0);
    }

    #[test]
    fn bodies_are_kirim_send_requests_to_valid_numbers() {
        let body: serde_json::Value = serde_json::from_slice(&send_body("dev_1", 9)).unwrap();
        assert_eq!(body["device_id"], "dev_1");
        assert_eq!(body["type"], "text");
        assert_eq!(body["to"], "+60123456780");
        assert!(body["text"]["body"].as_str().unwrap().contains("1009"));
    }
}
