//! Reporting to the sink from tasks of their own, and the connector's counters.
//!
//! The sink may hold a receipt until the send that produced it has its outcome stored, so a
//! connector must never wait on the sink where a send waits on the connector. Every report
//! therefore goes through a queue drained by a task per device and kind: link states in order
//! (a later state must never be overtaken by an earlier one), receipts in order of arrival.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kirim_core::connector::{Receipt, SharedSink};
use kirim_core::device::{DeviceStatus, LinkState};
use kirim_core::id::DevicePk;
use tokio::sync::{mpsc, oneshot};

/// How often a failed sink call is tried before the report is given up (and logged).
const SINK_ATTEMPTS: u32 = 3;
const SINK_RETRY_PAUSE: Duration = Duration::from_millis(500);

enum LinkReport {
    State(LinkState),
    Flush(oneshot::Sender<()>),
}

/// The queue of one device's link states.
#[derive(Clone)]
pub(crate) struct LinkReporter {
    tx: mpsc::UnboundedSender<LinkReport>,
}

impl LinkReporter {
    /// Starts the reporting task; `last` is the device's status as Kirim has it now.
    pub(crate) fn spawn(sink: SharedSink, device: DevicePk, last: DeviceStatus) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(report_links(sink, device, last, rx));
        Self { tx }
    }

    pub(crate) fn report(&self, state: LinkState) {
        // The task outlives every sender, so this only fails once the connector is dropped.
        let _ = self.tx.send(LinkReport::State(state));
    }

    /// Waits (at most `limit`) until everything reported so far has reached the sink.
    pub(crate) async fn flush(&self, limit: Duration) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(LinkReport::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(limit, wait).await;
        }
    }
}

/// Whether `from` → `to` has to pass through `connecting` to follow the status machine: the
/// library never reports "connecting" by itself, so a device reported `disconnected` (by the
/// watchdog, or a refusal) that then gets a QR code or its connection back goes through it.
fn needs_connecting_first(from: DeviceStatus, to: DeviceStatus) -> bool {
    !from.can_become(to) && from.can_become(DeviceStatus::Connecting) && DeviceStatus::Connecting.can_become(to)
}

async fn report_links(sink: SharedSink, device: DevicePk, mut last: DeviceStatus, mut rx: mpsc::UnboundedReceiver<LinkReport>) {
    while let Some(report) = rx.recv().await {
        match report {
            LinkReport::Flush(done) => {
                let _ = done.send(());
            }
            LinkReport::State(state) => {
                if needs_connecting_first(last, state.status) {
                    deliver_link(&sink, device, LinkState::status(DeviceStatus::Connecting)).await;
                }
                last = state.status;
                deliver_link(&sink, device, state).await;
            }
        }
    }
}

async fn deliver_link(sink: &SharedSink, device: DevicePk, state: LinkState) {
    for attempt in 1..=SINK_ATTEMPTS {
        match sink.link_state(device, state.clone()).await {
            Ok(()) => return,
            Err(error) if attempt == SINK_ATTEMPTS => {
                tracing::warn!(device = device.0, status = %state.status, %error, "whatsapp-web: could not record a link state; giving up on it");
            }
            Err(_) => tokio::time::sleep(SINK_RETRY_PAUSE).await,
        }
    }
}

/// The queue of one device's receipts.
#[derive(Clone)]
pub(crate) struct ReceiptReporter {
    tx: mpsc::UnboundedSender<Receipt>,
}

impl ReceiptReporter {
    pub(crate) fn spawn(sink: SharedSink, device: DevicePk, counters: Counters) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Receipt>();
        tokio::spawn(async move {
            while let Some(receipt) = rx.recv().await {
                for attempt in 1..=SINK_ATTEMPTS {
                    match sink.receipt(device, receipt.clone()).await {
                        Ok(()) => {
                            counters.add(|c| &c.receipts);
                            break;
                        }
                        Err(error) if attempt == SINK_ATTEMPTS => {
                            tracing::warn!(device = device.0, network_id = %receipt.network_id, %error, "whatsapp-web: could not record a receipt; giving up on it");
                        }
                        Err(_) => tokio::time::sleep(SINK_RETRY_PAUSE).await,
                    }
                }
            }
        });
        Self { tx }
    }

    pub(crate) fn report(&self, receipt: Receipt) {
        let _ = self.tx.send(receipt);
    }
}

/// What the connector counted for one device, or for all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionMetrics {
    /// Whether the device's connection is up (for totals: how many devices are connected).
    pub connected: u64,
    /// Connection drops the library reconnected from by itself.
    pub reconnects: u64,
    /// Times the supervisor restarted a client that crashed or was refused.
    pub restarts: u64,
    /// Messages handed to Kirim.
    pub inbound: u64,
    /// Messages acknowledged without being handed over (see `inbound::Skip`).
    pub inbound_skipped: u64,
    /// Receipts recorded.
    pub receipts: u64,
    /// Messages the network accepted.
    pub sent: u64,
    /// Sends that failed.
    pub send_failures: u64,
    /// Calls that rang (declined or not).
    pub calls: u64,
}

#[derive(Default)]
pub(crate) struct Cells {
    pub(crate) connected: AtomicBool,
    pub(crate) reconnects: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) inbound: AtomicU64,
    pub(crate) inbound_skipped: AtomicU64,
    pub(crate) receipts: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) send_failures: AtomicU64,
    pub(crate) calls: AtomicU64,
}

/// A device's counters, each increment also counted in the connector's totals.
#[derive(Clone)]
pub(crate) struct Counters {
    device: Arc<Cells>,
    totals: Arc<Cells>,
}

impl Counters {
    pub(crate) fn new(totals: Arc<Cells>) -> Self {
        Self { device: Arc::default(), totals }
    }

    pub(crate) fn add(&self, cell: impl Fn(&Cells) -> &AtomicU64) {
        cell(&self.device).fetch_add(1, Ordering::Relaxed);
        cell(&self.totals).fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.device.connected.store(connected, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SessionMetrics {
        let mut metrics = snapshot(&self.device);
        metrics.connected = u64::from(self.device.connected.load(Ordering::Relaxed));
        metrics
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.device.connected.load(Ordering::Relaxed)
    }
}

pub(crate) fn snapshot(cells: &Cells) -> SessionMetrics {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    SessionMetrics {
        connected: 0,
        reconnects: get(&cells.reconnects),
        restarts: get(&cells.restarts),
        inbound: get(&cells.inbound),
        inbound_skipped: get(&cells.inbound_skipped),
        receipts: get(&cells.receipts),
        sent: get(&cells.sent),
        send_failures: get(&cells.send_failures),
        calls: get(&cells.calls),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceStatus::*;

    #[test]
    fn a_return_from_a_drop_passes_through_connecting() {
        assert!(needs_connecting_first(Disconnected, Connected));
        assert!(needs_connecting_first(LinkExpired, Connected));
        assert!(needs_connecting_first(Disconnected, AwaitingScan), "WhatsApp answered after the watchdog fired");
        assert!(needs_connecting_first(Disconnected, AwaitingPairCode));
        assert!(!needs_connecting_first(Connecting, Connected));
        assert!(!needs_connecting_first(Connected, Disconnected));
        assert!(!needs_connecting_first(AwaitingScan, Connected));
        assert!(!needs_connecting_first(Disconnected, Connecting));
    }
}
