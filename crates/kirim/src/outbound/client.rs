//! The HTTP client for outbound calls: no redirects, no proxies, every address checked by
//! the [`Guard`] when a connection is made, bounded responses.

use std::collections::HashSet;
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Request, Response};

use super::OutboundUrl;
use super::guard::{Blocked, Guard, ResolveError};

/// The `User-Agent` of every outbound call.
pub const USER_AGENT: &str = concat!("Kirim/", env!("CARGO_PKG_VERSION"));

/// The most of a response body that is read, in bytes; the rest is dropped unread.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The length of [`OutboundResponse::body_excerpt`], in bytes.
pub const EXCERPT_LIMIT: usize = 1024;

/// The total time limit of a request given to [`Outbound::send`] without one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers Kirim sets itself; a caller may not replace them.
const RESERVED_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "trailer", "keep-alive"];

/// Makes outbound HTTP calls through a [`Guard`]. Cheap to clone (the connection pool is
/// shared).
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    guard: Guard,
}

/// What an endpoint answered. Redirects are answers too: a 3xx is never followed.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: HeaderMap,
    /// `Retry-After`, in seconds or as an HTTP date, as a delay from when it was received.
    pub retry_after: Option<Duration>,
    /// At most [`BODY_LIMIT`] bytes of the body.
    pub body: Bytes,
    /// The body was longer than [`BODY_LIMIT`] and `body` holds only its start.
    pub body_truncated: bool,
    /// The first [`EXCERPT_LIMIT`] bytes of the body as text (invalid UTF-8 replaced), for
    /// delivery logs.
    pub body_excerpt: String,
    /// From sending the request to reading the (limited) body.
    pub duration: Duration,
}

impl OutboundResponse {
    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why an outbound call got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The address (or a name's address) is refused by the [`Guard`]. Nothing was sent.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// No complete response within the time limit (connecting included).
    #[error("the endpoint did not answer within the time limit; it should answer quickly and do slow work afterwards")]
    Timeout,
    /// No connection could be made (DNS, refused, TLS).
    #[error("could not connect to the endpoint: {0}")]
    Connect(String),
    /// Anything else: an invalid header, a broken response.
    #[error("{0}")]
    Other(String),
}

impl Outbound {
    /// A client whose connections go only where `guard` allows, giving up on connecting
    /// (DNS included) after `connect_timeout`.
    pub fn new(guard: Guard, connect_timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would make the connection, and the guard would only see the proxy's address.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { guard: guard.clone() }))
            .connect_timeout(connect_timeout)
            .user_agent(USER_AGENT)
            .referer(false)
            .build()
            // Only fails if the TLS backend cannot start, which the built-in roots rule out.
            .expect("the outbound HTTP client (rustls with built-in roots) could not be built");
        Self { client, guard }
    }

    /// A client from the `[outbound]` settings.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self::new(Guard::new(config.outbound.allow.iter().copied()), Duration::from_millis(config.outbound.connect_timeout_ms))
    }

    /// The guard every connection goes through (for early checks with [`Guard::check_url`]).
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Sends `request` (build it with [`reqwest::Request::new`]). A URL holding a literal IP
    /// address is checked here, because such URLs skip the DNS resolver, which checks names.
    /// A request without a timeout gets 30 seconds. Redirects are returned, not followed.
    pub async fn send(&self, mut request: Request) -> Result<Response, OutboundError> {
        match request.url().host() {
            Some(url::Host::Ipv4(ip)) => self.guard.check_ip(ip.into())?,
            Some(url::Host::Ipv6(ip)) => self.guard.check_ip(ip.into())?,
            Some(url::Host::Domain(_)) => {}
            None => return Err(OutboundError::Other("the URL has no host".to_owned())),
        }
        if request.timeout().is_none() {
            *request.timeout_mut() = Some(DEFAULT_TIMEOUT);
        }
        self.client.execute(request).await.map_err(classify)
    }

    /// POSTs `body` as JSON (`Content-Type: application/json` unless `headers` set another)
    /// with `headers`, and reads the response within `timeout`, all of it counted: connecting,
    /// sending, and reading at most [`BODY_LIMIT`] bytes of the body.
    pub async fn post_json(
        &self,
        url: &OutboundUrl,
        headers: &[(String, String)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<OutboundResponse, OutboundError> {
        let started = Instant::now();
        let mut request = Request::new(Method::POST, url.as_url().clone());
        *request.timeout_mut() = Some(timeout);
        let map = request.headers_mut();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut given = HashSet::new();
        for (name, value) in headers {
            let (name, value) = check_header(name, value).map_err(OutboundError::Other)?;
            if given.insert(name.clone()) {
                map.insert(name, value);
            } else {
                map.append(name, value);
            }
        }
        *request.body_mut() = Some(body.into());
        let exchange = async {
            let response = self.send(request).await?;
            read(response, started).await
        };
        tokio::time::timeout(timeout, exchange).await.unwrap_or(Err(OutboundError::Timeout))
    }
}

/// Checks a header a caller wants sent: a valid name that Kirim does not set itself, and a
/// value without line breaks. The message (the value is never in it) says what to fix.
pub fn check_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let header = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("the header name {name:?} is not valid; use letters, digits and hyphens, for example X-Signature"))?;
    if RESERVED_HEADERS.contains(&header.as_str()) {
        return Err(format!("the header {header} is set by Kirim itself; remove it"));
    }
    let value = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of the header {header} is not valid; use printable text without line breaks"))?;
    Ok((header, value))
}

/// Reads at most [`BODY_LIMIT`] bytes of `response`.
async fn read(mut response: Response, started: Instant) -> Result<OutboundResponse, OutboundError> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let retry_after =
        headers.get(RETRY_AFTER).and_then(|value| value.to_str().ok()).and_then(|value| parse_retry_after(value, SystemTime::now()));
    let mut body = Vec::new();
    let mut body_truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        let room = BODY_LIMIT - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            body_truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let body_excerpt = excerpt(&body);
    Ok(OutboundResponse {
        status,
        headers,
        retry_after,
        body: Bytes::from(body),
        body_truncated,
        body_excerpt,
        duration: started.elapsed(),
    })
}

/// The first [`EXCERPT_LIMIT`] bytes as text, not cutting a UTF-8 character in two.
pub(super) fn excerpt(body: &[u8]) -> String {
    let mut end = body.len().min(EXCERPT_LIMIT);
    // Step back over continuation bytes (10xxxxxx) so the cut falls between characters.
    let floor = end.saturating_sub(3);
    while end > floor && end < body.len() && body[end] & 0b1100_0000 == 0b1000_0000 {
        end -= 1;
    }
    String::from_utf8_lossy(&body[..end]).into_owned()
}

/// `Retry-After` as a delay from `now`: a number of seconds, or an HTTP date (a date in
/// the past is no delay). `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Sorts a reqwest error into an [`OutboundError`]; the message leaves out the URL (it may
/// hold a token) but keeps the causes.
fn classify(error: reqwest::Error) -> OutboundError {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(blocked) = cause.downcast_ref::<Blocked>() {
            return OutboundError::Blocked(blocked.clone());
        }
        source = cause.source();
    }
    if error.is_timeout() {
        return OutboundError::Timeout;
    }
    let connect = error.is_connect();
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.ends_with(&cause_text) {
            message = format!("{message}: {cause_text}");
        }
        source = cause.source();
    }
    if connect { OutboundError::Connect(message) } else { OutboundError::Other(message) }
}

/// reqwest's resolver hook: resolves through [`Guard::resolve`], so a name whose addresses
/// are refused fails to connect, whenever it is resolved.
struct GuardedResolver {
    guard: Guard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match guard.resolve(&host, 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(ResolveError::Blocked(blocked)) => Err(Box::new(blocked) as Box<dyn std::error::Error + Send + Sync>),
                Err(ResolveError::Lookup(error)) => Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}
