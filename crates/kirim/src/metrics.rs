//! Prometheus metrics: queue depth by status, sends by outcome, device states,
//! HTTP latency by matched route (never the raw path, so ids don't explode the series).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

pub struct Metrics {
    registry: Registry,
    pub sends: Family<OutcomeLabels, Counter>,
    pub accepted: Counter,
    pub inbound: Counter,
    pub queue_depth: Family<StatusLabels, Gauge>,
    pub devices: Family<StatusLabels, Gauge>,
    pub http: Family<HttpLabels, Histogram>,
    pub webhook_attempts: Family<OutcomeLabels, Counter>,
    /// WhatsApp Web sessions: connected now.
    pub whatsapp_web_connected: Gauge,
    /// WhatsApp Web sessions' counts since start, brought up to date at each scrape.
    pub whatsapp_web_events: Family<EventLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kirim");
        let sends = Family::<OutcomeLabels, Counter>::default();
        let accepted = Counter::default();
        let inbound = Counter::default();
        let queue_depth = Family::<StatusLabels, Gauge>::default();
        let devices = Family::<StatusLabels, Gauge>::default();
        let webhook_attempts = Family::<OutcomeLabels, Counter>::default();
        let whatsapp_web_connected = Gauge::default();
        let whatsapp_web_events = Family::<EventLabels, Counter>::default();
        let http = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
        });
        registry.register("send_attempts", "Send attempts by outcome (sent, retry, failed)", sends.clone());
        registry.register("messages_accepted", "Outbound messages accepted into the queue", accepted.clone());
        registry.register("messages_received", "Inbound messages stored", inbound.clone());
        registry.register("queue_depth", "Messages waiting to be sent, by status (scheduled, pending, sending)", queue_depth.clone());
        registry.register("devices", "Devices by link status", devices.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by matched route", http.clone());
        registry.register("webhook_attempts", "Webhook delivery attempts by outcome (succeeded, retry, failed)", webhook_attempts.clone());
        registry.register("whatsapp_web_connected", "WhatsApp Web sessions whose connection is up", whatsapp_web_connected.clone());
        registry.register(
            "whatsapp_web_events",
            "WhatsApp Web session events (reconnects, restarts, inbound, inbound_skipped, receipts, sent, send_failures)",
            whatsapp_web_events.clone(),
        );
        Self {
            registry,
            sends,
            accepted,
            inbound,
            queue_depth,
            devices,
            http,
            webhook_attempts,
            whatsapp_web_connected,
            whatsapp_web_events,
        }
    }

    pub fn count_webhook(&self, outcome: &str) {
        self.webhook_attempts.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }

    pub fn count_send(&self, outcome: &str) {
        self.sends.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }

    /// Brings a counter kept elsewhere (monotonic since start) up to `total`; concurrent
    /// scrapes cannot count a step twice.
    pub fn catch_up(&self, event: &str, total: u64) {
        let counter = self.whatsapp_web_events.get_or_create(&EventLabels { event: event.to_owned() });
        counter.inner().fetch_max(total, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
