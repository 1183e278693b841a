//! Webhook delivery: committed events fan out to endpoints as deliveries (in the store), and
//! a worker posts them, signed per Standard Webhooks, with a persisted retry schedule and a
//! bound on concurrent deliveries per endpoint so one slow receiver cannot starve the others.

pub mod auto_reply;
pub mod signing;
pub mod worker;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Mutex;

use kirim_core::Timestamp;
use kirim_core::id::WebhookPk;
use kirim_core::webhook::Webhook;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use crate::outbound::Outbound;

/// What this process knows about one endpoint between steps.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub webhook: Webhook,
    /// Slot tasks delivering from `buffer` (at most `concurrency_per_endpoint`).
    pub in_flight: u32,
    /// Claimed (leased) deliveries waiting for a free slot.
    pub buffer: std::collections::VecDeque<kirim_core::webhook::DeliveryJob>,
    /// When its earliest pending delivery is due, as far as this process knows; `None`
    /// when it has none.
    pub next_due: Option<Timestamp>,
}

impl Endpoint {
    pub(crate) fn new(webhook: Webhook, next_due: Option<Timestamp>) -> Self {
        Self { webhook, in_flight: 0, buffer: std::collections::VecDeque::new(), next_due }
    }
}

/// The delivery worker's shared state: the endpoints, the HTTP client, and its wake-up.
pub struct WebhookRuntime {
    pub outbound: Outbound,
    pub(crate) endpoints: Mutex<HashMap<WebhookPk, Endpoint>>,
    /// Something changed: an endpoint was edited, an attempt ended, a delivery was retried.
    pub wake: Notify,
    pub(crate) attempts: TaskTracker,
    pub(crate) loaded: std::sync::atomic::AtomicBool,
    /// When this process last fanned out (it skips that while it knows no enabled endpoint).
    pub(crate) last_fan_out: Mutex<Option<std::time::Instant>>,
}

impl WebhookRuntime {
    pub fn new(outbound: Outbound) -> Self {
        Self {
            outbound,
            endpoints: Mutex::default(),
            wake: Notify::new(),
            attempts: TaskTracker::new(),
            loaded: std::sync::atomic::AtomicBool::new(false),
            last_fan_out: Mutex::new(None),
        }
    }

    /// An endpoint was created or changed through the API: take the new copy and look for
    /// due deliveries (re-enabling one may have made its retries due).
    pub fn changed(&self, webhook: Webhook, now: Timestamp) {
        let mut endpoints = self.endpoints.lock().expect("webhooks lock");
        let entry = endpoints.entry(webhook.pk).or_insert_with(|| Endpoint::new(webhook.clone(), None));
        entry.webhook = webhook;
        entry.next_due = Some(now);
        drop(endpoints);
        self.wake.notify_one();
    }

    /// Whether no attempt (or the recording of one) is under way.
    pub fn idle(&self) -> bool {
        self.attempts.is_empty()
    }

    pub fn removed(&self, webhook: WebhookPk) {
        self.endpoints.lock().expect("webhooks lock").remove(&webhook);
    }

    /// A delivery of this endpoint was made due (a manual retry).
    pub fn due(&self, webhook: WebhookPk, at: Timestamp) {
        if let Some(e) = self.endpoints.lock().expect("webhooks lock").get_mut(&webhook) {
            e.next_due = Some(e.next_due.map_or(at, |d| d.min(at)));
        }
        self.wake.notify_one();
    }

    /// Waits for attempts under way to be recorded (shutdown).
    pub async fn drain(&self, grace: std::time::Duration) -> bool {
        self.attempts.close();
        tokio::time::timeout(grace, self.attempts.wait()).await.is_ok()
    }
}
