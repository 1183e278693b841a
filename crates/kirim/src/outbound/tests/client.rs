use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::guard;
use crate::outbound::client::excerpt;
use crate::outbound::{BODY_LIMIT, EXCERPT_LIMIT, Outbound, OutboundError, OutboundUrl, USER_AGENT, check_header, parse_retry_after};

const LIMIT: Duration = Duration::from_secs(5);

/// A test server on 127.0.0.1: counts connections, hands over each request it reads, and
/// answers with `response` (or never answers, if it is `None`).
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: mpsc::UnboundedReceiver<String>,
}

impl Server {
    async fn start(response: Option<Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let (tx, requests) = mpsc::unbounded_channel();
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let (tx, response) = (tx.clone(), response.clone());
                tokio::spawn(async move {
                    let request = read_request(&mut stream).await;
                    let _ = tx.send(request);
                    match response {
                        Some(response) => {
                            let _ = stream.write_all(&response).await;
                            let _ = stream.shutdown().await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                });
            }
        });
        Self { addr, connections, requests }
    }

    fn url(&self, host: &str) -> OutboundUrl {
        OutboundUrl::parse(&format!("http://{host}:{}/hook", self.addr.port())).unwrap()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads the head of an HTTP/1.1 request and its `Content-Length` body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length =
                head.lines().find_map(|line| line.strip_prefix("content-length:")).map_or(0, |n| n.trim().parse::<usize>().unwrap());
            if data.len() >= end + 4 + length {
                return String::from_utf8_lossy(&data).into_owned();
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&data).into_owned(),
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

fn response(status: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut text = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn outbound(ranges: &[&str]) -> Outbound {
    Outbound::new(guard(ranges), Duration::from_secs(2))
}

async fn post(outbound: &Outbound, url: &OutboundUrl) -> Result<crate::outbound::OutboundResponse, OutboundError> {
    outbound.post_json(url, &[], Bytes::from_static(b"{}"), LIMIT).await
}

#[tokio::test]
async fn a_redirect_is_returned_not_followed() {
    let target = Server::start(Some(response("200 OK", &[], b"followed"))).await;
    let location = format!("location: http://127.0.0.1:{}/elsewhere", target.addr.port());
    let mut server = Server::start(Some(response("302 Found", &[&location], b"moved"))).await;
    let outbound = outbound(&["127.0.0.1/32"]);
    let headers = [("X-Signature".to_owned(), "sha256=abc".to_owned())];
    let body = Bytes::from_static(br#"{"event":"message.received"}"#);

    let answer = outbound.post_json(&server.url("127.0.0.1"), &headers, body, LIMIT).await.unwrap();
    assert_eq!(answer.status, 302);
    assert!(!answer.is_success());
    assert_eq!(answer.headers["location"], format!("http://127.0.0.1:{}/elsewhere", target.addr.port()));
    assert_eq!(answer.body_excerpt, "moved");
    assert!(answer.duration < LIMIT);
    assert_eq!(target.connections(), 0, "the redirect was followed");

    let request = server.requests.recv().await.unwrap();
    assert!(request.starts_with("POST /hook HTTP/1.1\r\n"), "{request}");
    let lower = request.to_ascii_lowercase();
    assert!(lower.contains(&format!("user-agent: {}\r\n", USER_AGENT.to_ascii_lowercase())), "{request}");
    assert!(lower.contains("content-type: application/json\r\n"), "{request}");
    assert!(lower.contains("x-signature: sha256=abc\r\n"), "{request}");
    assert!(request.ends_with(r#"{"event":"message.received"}"#), "{request}");
    assert!(USER_AGENT.starts_with("Kirim/"));
}

#[tokio::test]
async fn a_refused_literal_address_is_never_connected_to() {
    let server = Server::start(Some(response("200 OK", &[], b""))).await;
    let outbound = outbound(&[]);
    let port = server.addr.port();
    for text in [format!("http://127.0.0.1:{port}/"), format!("http://2130706433:{port}/"), format!("http://[::ffff:127.0.0.1]:{port}/")] {
        let url = OutboundUrl::parse(&text).unwrap();
        let error = post(&outbound, &url).await.unwrap_err();
        let OutboundError::Blocked(blocked) = &error else { panic!("{text}: {error:?}") };
        assert!(blocked.to_string().contains("KIRIM_OUTBOUND_ALLOW="), "{blocked}");
    }
    let request = reqwest::Request::new(reqwest::Method::GET, format!("http://0x7f.1:{port}/").parse().unwrap());
    assert!(matches!(outbound.send(request).await, Err(OutboundError::Blocked(_))));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn names_are_checked_when_connecting() {
    let server = Server::start(Some(response("200 OK", &[], b"ok"))).await;

    // `localhost` without loopback allowed: refused by the resolver, although a server listens.
    let error = post(&outbound(&[]), &server.url("localhost")).await.unwrap_err();
    let OutboundError::Blocked(blocked) = &error else { panic!("{error:?}") };
    assert_eq!(blocked.host(), Some("localhost"));

    // The name is allowed but its IPv4 address is not: refused at connect time too.
    let v6_only = outbound(&["::1/128"]);
    let resolves_to_v4 = guard(&["127.0.0.0/8", "::1/128"]).resolve("localhost", 0).await.unwrap().iter().any(|a| a.is_ipv4());
    if resolves_to_v4 {
        let error = post(&v6_only, &server.url("localhost")).await.unwrap_err();
        let OutboundError::Blocked(blocked) = &error else { panic!("{error:?}") };
        assert_eq!(blocked.address(), Some("127.0.0.1".parse().unwrap()));
    }
    assert_eq!(server.connections(), 0);

    // With loopback allowed, the name is resolved and called.
    let answer = post(&outbound(&["127.0.0.0/8", "::1/128"]), &server.url("localhost")).await.unwrap();
    assert_eq!((answer.status, answer.body.as_ref()), (200, b"ok".as_ref()));
    assert!(answer.is_success());
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_times_out() {
    let server = Server::start(None).await;
    let started = Instant::now();
    let answer =
        outbound(&["127.0.0.1/32"]).post_json(&server.url("127.0.0.1"), &[], Bytes::from_static(b"{}"), Duration::from_millis(300)).await;
    assert_eq!(answer.unwrap_err(), OutboundError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = OutboundUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let error = post(&outbound(&["127.0.0.1/32"]), &url).await.unwrap_err();
    let OutboundError::Connect(message) = &error else { panic!("{error:?}") };
    assert!(!message.contains(&port.to_string()), "the URL is left out of the message: {message}");
    assert!(error.to_string().starts_with("could not connect to the endpoint: "), "{error}");
}

#[tokio::test]
async fn large_bodies_are_cut_and_retry_after_is_read() {
    let body = vec![b'x'; 100 * 1024];
    let server = Server::start(Some(response("503 Service Unavailable", &["retry-after: 120"], &body))).await;
    let answer = post(&outbound(&["127.0.0.1/32"]), &server.url("127.0.0.1")).await.unwrap();
    assert_eq!(answer.status, 503);
    assert_eq!(answer.retry_after, Some(Duration::from_secs(120)));
    assert_eq!(answer.body.len(), BODY_LIMIT);
    assert!(answer.body_truncated);
    assert_eq!(answer.body_excerpt.len(), EXCERPT_LIMIT);

    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    let dated = Server::start(Some(response("429 Too Many Requests", &[&format!("Retry-After: {when}")], b"{}"))).await;
    let answer = post(&outbound(&["127.0.0.1/32"]), &dated.url("127.0.0.1")).await.unwrap();
    let wait = answer.retry_after.unwrap();
    assert!(wait > Duration::from_secs(3590) && wait <= Duration::from_secs(3600), "{wait:?}");
    assert!(!answer.body_truncated);
    assert_eq!(answer.body.as_ref(), b"{}");
}

#[test]
fn retry_after_takes_seconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
    assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:29:30 GMT", now), Some(Duration::from_secs(90)));
    assert_eq!(parse_retry_after("Wednesday, 21-Oct-15 07:29:30 GMT", now), Some(Duration::from_secs(90)));
    assert_eq!(parse_retry_after("Wed Oct 21 07:29:30 2015", now), Some(Duration::from_secs(90)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO), "a past date is no delay");
    for bad in ["", "-5", "1.5", "soon", "120s", "99999999999999999999999"] {
        assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
    }
}

#[test]
fn the_excerpt_does_not_cut_a_character_in_two() {
    let mut body = b"a".to_vec();
    body.extend("é".repeat(1000).as_bytes());
    let text = excerpt(&body);
    assert_eq!(text.len(), EXCERPT_LIMIT - 1);
    assert!(!text.contains('\u{fffd}'));
    assert_eq!(excerpt(b"short"), "short");
    assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
}

#[tokio::test]
async fn invalid_headers_are_refused_before_sending() {
    assert!(check_header("X-Signature", "abc").is_ok());
    assert_eq!(check_header("Host", "internal").unwrap_err(), "the header host is set by Kirim itself; remove it");
    assert!(check_header("Content-Length", "5").is_err());
    assert!(check_header("bad header", "x").unwrap_err().contains("is not valid; use letters, digits and hyphens"));
    let smuggled = check_header("X-Token", "a\r\nHost: evil").unwrap_err();
    assert!(smuggled.contains("use printable text without line breaks") && !smuggled.contains("evil"), "{smuggled}");

    let server = Server::start(Some(response("200 OK", &[], b""))).await;
    let headers = [("Transfer-Encoding".to_owned(), "chunked".to_owned())];
    let error = outbound(&["127.0.0.1/32"]).post_json(&server.url("127.0.0.1"), &headers, Bytes::new(), LIMIT).await.unwrap_err();
    assert!(matches!(error, OutboundError::Other(_)), "{error:?}");
    assert_eq!(server.connections(), 0);
}
