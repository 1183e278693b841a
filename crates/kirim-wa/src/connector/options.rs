//! How the connector reaches WhatsApp and how patiently it recovers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse};
use whatsapp_rust::transport::{Transport, TransportEvent, TransportFactory};
use whatsapp_rust::wacore::net::{StreamingHttpResponse, UploadBody};
use whatsapp_rust::{async_channel, wacore};

use super::media::MediaSource;
use super::presence::TypingPause;

/// How long the supervisor waits before restarting a client that crashed or that the server
/// refused: `first`, doubling per consecutive failure, at most `max`. The library's own
/// reconnects (a dropped connection) follow WhatsApp Web's schedule and are not affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { first: Duration::from_secs(2), max: Duration::from_secs(300) }
    }
}

impl Backoff {
    /// The pause before the restart after `failures` consecutive failures (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}

/// The connector's settings. `WaOptions::default()` is production: WhatsApp's servers over the
/// library's WebSocket transport, its `ureq` HTTP client (media, version lookup), and the
/// current WhatsApp Web version fetched at connect.
#[derive(Clone)]
pub struct WaOptions {
    pub(crate) transport: Option<Arc<dyn TransportFactory>>,
    pub(crate) http: Option<Arc<dyn HttpClient>>,
    pub(crate) version: Option<(u32, u32, u32)>,
    pub(crate) backoff: Backoff,
    pub(crate) reconnect_grace: Duration,
    pub(crate) pair_code_lifetime: Duration,
    pub(crate) media: Option<Arc<dyn MediaSource>>,
    pub(crate) check_recipients: bool,
    pub(crate) device_name: String,
    pub(crate) history_sync: bool,
    pub(crate) stop_grace: Duration,
    pub(crate) typing: TypingPause,
}

impl Default for WaOptions {
    fn default() -> Self {
        Self {
            transport: None,
            http: None,
            version: None,
            backoff: Backoff::default(),
            reconnect_grace: Duration::from_secs(30),
            pair_code_lifetime: Duration::from_secs(180),
            media: None,
            check_recipients: true,
            device_name: "Kirim".into(),
            history_sync: false,
            stop_grace: Duration::from_secs(10),
            typing: TypingPause::default(),
        }
    }
}

impl fmt::Debug for WaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaOptions")
            .field("transport", &self.transport.as_ref().map_or("default (WebSocket)", |_| "custom"))
            .field("http", &self.http.as_ref().map_or("default (ureq)", |_| "custom"))
            .field("version", &self.version)
            .field("backoff", &self.backoff)
            .field("reconnect_grace", &self.reconnect_grace)
            .field("pair_code_lifetime", &self.pair_code_lifetime)
            .field("media", &self.media.is_some())
            .field("check_recipients", &self.check_recipients)
            .field("device_name", &self.device_name)
            .field("history_sync", &self.history_sync)
            .field("stop_grace", &self.stop_grace)
            .field("typing", &self.typing)
            .finish()
    }
}

impl WaOptions {
    /// Where connections go (tests: the fake server's factory). Default: WhatsApp's WebSocket.
    pub fn with_transport(self, factory: impl TransportFactory + 'static) -> Self {
        self.with_transport_arc(Arc::new(factory))
    }

    pub fn with_transport_arc(mut self, factory: Arc<dyn TransportFactory>) -> Self {
        self.transport = Some(factory);
        self
    }

    /// The HTTP client for media uploads and the version lookup. Default: `ureq`.
    pub fn with_http_client(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.http = Some(client);
        self
    }

    /// Announces this WhatsApp Web version instead of fetching the current one at each
    /// connect (tests, or pinning a version that is known to work).
    pub fn with_version(mut self, version: (u32, u32, u32)) -> Self {
        self.version = Some(version);
        self
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long a dropped connection may stay down before the device is reported
    /// `disconnected` rather than `connecting` (the library keeps retrying either way).
    pub fn with_reconnect_grace(mut self, grace: Duration) -> Self {
        self.reconnect_grace = grace;
        self
    }

    /// How long a pairing code may be entered before linking is given up (WhatsApp's codes
    /// last about three minutes).
    pub fn with_pair_code_lifetime(mut self, lifetime: Duration) -> Self {
        self.pair_code_lifetime = lifetime;
        self
    }

    /// Where the bytes of outgoing files come from. Without one, only files received through
    /// WhatsApp can be sent (again); other media sends fail as `Unsupported`.
    pub fn with_media_source(mut self, source: Arc<dyn MediaSource>) -> Self {
        self.media = Some(source);
        self
    }

    /// Whether a number is checked to be on WhatsApp before the first message to it (once per
    /// session), so such sends fail as `NotOnWhatsapp` instead of going nowhere. Default: on.
    pub fn with_recipient_check(mut self, check: bool) -> Self {
        self.check_recipients = check;
        self
    }

    /// The name the phone lists the linked device under. Default: `Kirim`.
    pub fn with_device_name(mut self, name: impl Into<String>) -> Self {
        self.device_name = name.into();
        self
    }

    /// Whether the phone's chat history is downloaded after linking. Default: off, as a
    /// gateway only handles messages from the moment it is linked.
    pub fn with_history_sync(mut self, enabled: bool) -> Self {
        self.history_sync = enabled;
        self
    }

    /// Shows "typing…" for a while before each text (see [`TypingPause`]): `base` per started
    /// 100 characters, at most `max`. Default: off.
    pub fn with_typing_pause(mut self, base: Duration, max: Duration) -> Self {
        self.typing = TypingPause { base, max };
        self
    }

    /// How long stopping a session waits for the client to flush and close.
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }
}

/// A shared transport factory as the library's builder takes one (by value).
pub(crate) struct SharedTransport(pub(crate) Arc<dyn TransportFactory>);

#[async_trait]
impl TransportFactory for SharedTransport {
    async fn create_transport(&self) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        self.0.create_transport().await
    }
}

/// A shared HTTP client as the library's builder takes one (by value); forwards every method,
/// so streaming support is what the inner client has.
pub(crate) struct SharedHttp(pub(crate) Arc<dyn HttpClient>);

#[async_trait]
impl HttpClient for SharedHttp {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        self.0.execute(request).await
    }

    fn supports_streaming(&self) -> bool {
        self.0.supports_streaming()
    }

    fn execute_streaming(&self, request: HttpRequest) -> anyhow::Result<StreamingHttpResponse> {
        self.0.execute_streaming(request)
    }

    fn supports_upload_streaming(&self) -> bool {
        self.0.supports_upload_streaming()
    }

    fn execute_upload(&self, request: HttpRequest, body: UploadBody, content_length: u64) -> anyhow::Result<HttpResponse> {
        self.0.execute_upload(request, body, content_length)
    }

    fn resource_report(&self) -> Option<wacore::stats::HttpResourceReport> {
        self.0.resource_report()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_exponentially_up_to_the_cap() {
        let backoff = Backoff { first: Duration::from_secs(2), max: Duration::from_secs(60) };
        let delays: Vec<u64> = (1..=7).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
    }
}
