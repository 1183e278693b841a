//! Send lanes: one per device, at most one send in flight per device, paced, priority first,
//! retried with backoff for transient failures. A lane claims a message (pending → sending),
//! calls the connector without holding any transaction, then records the outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use kirim_core::MessageId;
use kirim_core::connector::{ConnectorError, OutboundMessage};
use kirim_core::device::DeviceStatus;
use kirim_core::id::DevicePk;
use kirim_core::media::MediaFile;
use kirim_core::message::{Direction, Message, MessageTarget, SendOutcome};
use kirim_core::store::{Store, StoreError};
use kirim_core::{Clock, Timestamp};
use rand::Rng;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::SendingConfig;
use crate::connectors::Connectors;
use crate::media::{MediaFiles, ReadError};
use crate::metrics::Metrics;
use crate::runtime::{DeviceEntry, DeviceRegistry, InFlight};

/// What one step of a lane did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The device is not connected; nothing was claimed.
    NotConnected,
    /// Nothing is due; the earliest pending message becomes due then.
    Idle {
        next_due: Option<Timestamp>,
    },
    Sent,
    Retrying,
    Failed,
}

pub struct SendWorker {
    pub store: Arc<dyn Store>,
    pub connectors: Arc<Connectors>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub sending: SendingConfig,
    pub in_flight: Arc<InFlight>,
    /// Where the files of media messages are read from.
    pub media: Arc<MediaFiles>,
}

/// An idle lane looks at its queue at least this often, even if no wake-up arrives.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

impl SendWorker {
    /// Sends the device's next due message, if it is connected and has one.
    pub async fn step(&self, entry: &DeviceEntry) -> Result<Step, StoreError> {
        let device = entry.snapshot();
        if device.status != DeviceStatus::Connected {
            return Ok(Step::NotConnected);
        }
        // Receipts that arrive before the outcome is stored wait for this guard to drop. It is
        // taken before the claim: a receipt for the message must never find it `sending` and
        // the device not busy.
        let in_flight = self.in_flight.begin(entry.pk);
        let Some(message) = self.store.claim_next(entry.pk, self.clock.now()).await? else {
            drop(in_flight);
            return Ok(Step::Idle { next_due: self.store.next_due_at(entry.pk).await? });
        };
        let limit = Duration::from_millis(self.sending.send_timeout_ms);
        let prepared = match self.target(&message).await {
            Ok(target) => self.file(&message).await.map(|file| (target, file)),
            Err(error) => Err(error),
        };
        let result = match (self.connectors.get(device.connector), prepared) {
            (_, Err(error)) => Err(error),
            (Some(connector), Ok((target, file))) => {
                let request = outbound(&message, target, file);
                let send = tokio::time::timeout(limit, connector.send(&device, &request));
                // A bug in a connector counts as a failed attempt (retried, then failed), not as
                // the end of the lane.
                match std::panic::AssertUnwindSafe(send).catch_unwind().await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(ConnectorError::Transient(format!("the connector did not answer within {} ms", limit.as_millis()))),
                    Err(_) => {
                        tracing::error!(device = %entry.id, message = %message.id, "the connector panicked while sending");
                        Err(ConnectorError::Transient("the connector failed unexpectedly".into()))
                    }
                }
            }
            (None, _) => Err(ConnectorError::Unsupported(format!("send through `{}` on this server", device.connector.as_str()))),
        };
        let outcome = self.outcome(&message, result);
        let step = match &outcome {
            SendOutcome::Sent { .. } => Step::Sent,
            SendOutcome::Retry { .. } => Step::Retrying,
            SendOutcome::Failed { .. } => Step::Failed,
        };
        self.record(&message, outcome).await?;
        drop(in_flight);
        self.metrics.count_send(match step {
            Step::Sent => "sent",
            Step::Retrying => "retry",
            _ => "failed",
        });
        Ok(step)
    }

    /// Stores the outcome of an attempt. The network already acted on it, so a store outage
    /// is waited out (the lane has nothing else to do meanwhile) rather than leaving the
    /// message `sending` until the next start.
    async fn record(&self, message: &Message, outcome: SendOutcome) -> Result<(), StoreError> {
        let mut tries: u32 = 0;
        loop {
            match self.store.complete_send(message.pk, outcome.clone(), self.clock.now()).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Unavailable(error)) => {
                    tries += 1;
                    if tries == 1 || tries.is_multiple_of(60) {
                        tracing::warn!(message = %message.id, %error, tries, "could not record a send's outcome; trying again every second");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The message a reaction, edit or revoke refers to, looked up now rather than at accept
    /// time: it may have left only moments before, and only now has its network id.
    async fn target(&self, message: &Message) -> Result<Option<MessageTarget>, ConnectorError> {
        let Some(raw) = message.content.target_id() else { return Ok(None) };
        let missing = || ConnectorError::Permanent(format!("the message it refers to ({raw}) no longer exists"));
        let id: MessageId = raw.parse().map_err(|_| missing())?;
        let target = match self.store.get_message(message.tenant_pk, &id).await {
            Ok(Some(target)) if target.device_pk == message.device_pk => target,
            Ok(_) => return Err(missing()),
            Err(error) => return Err(ConnectorError::Transient(format!("could not look up the message it refers to: {error}"))),
        };
        match target.network_id {
            Some(network_id) => {
                Ok(Some(MessageTarget { network_id, from_me: target.direction == Direction::Outbound, sender: target.sender }))
            }
            None => Err(ConnectorError::Transient(format!("the message it refers to ({raw}) has not been sent yet"))),
        }
    }

    /// The file the message carries, read (and checked against its SHA-256) now, so the
    /// connector gets the bytes that were accepted, whatever happened since.
    async fn file(&self, message: &Message) -> Result<Option<MediaFile>, ConnectorError> {
        let mut content = message.content.clone();
        let Some(raw) = content.files_mut().into_iter().find_map(|(_, m)| m.media_id.clone()) else { return Ok(None) };
        let gone = || ConnectorError::Permanent(format!("its file ({raw}) was deleted before it could be sent"));
        let id: kirim_core::MediaId = raw.parse().map_err(|_| gone())?;
        let media = match self.store.get_media(message.tenant_pk, &id).await {
            Ok(Some(media)) => media,
            Ok(None) => return Err(gone()),
            Err(error) => return Err(ConnectorError::Transient(format!("could not look up its file: {error}"))),
        };
        match self.media.read(&media).await {
            Ok(file) => Ok(Some(file)),
            Err(error @ ReadError::Io(..)) => Err(ConnectorError::Transient(error.to_string())),
            Err(error) => {
                tracing::error!(message = %message.id, %error, "a media file could not be sent");
                Err(ConnectorError::Permanent(error.to_string()))
            }
        }
    }

    fn outcome(&self, message: &Message, result: Result<kirim_core::connector::SendReceipt, ConnectorError>) -> SendOutcome {
        match result {
            Ok(receipt) => SendOutcome::Sent { network_id: receipt.network_id },
            Err(error) if error.is_retryable() && message.attempts < message.max_attempts => {
                let mut delay = self.backoff(message.attempts);
                if let ConnectorError::RateLimited { retry_after: Some(after) } = &error {
                    delay = delay.max(*after);
                }
                let at = self.clock.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(1));
                SendOutcome::Retry { at, error: error.to_string() }
            }
            Err(error) => SendOutcome::Failed { error: failure_reason(&error, message.attempts) },
        }
    }

    /// `retry_base_ms · 2^(attempt-1)`, capped, with ±20% jitter so retries don't stampede.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let base = self.sending.retry_base_ms.saturating_mul(1u64 << exp).min(self.sending.retry_max_ms);
        let jitter = rand::thread_rng().gen_range(0.8..=1.2);
        Duration::from_millis((base as f64 * jitter) as u64)
    }
}

fn failure_reason(error: &ConnectorError, attempts: u32) -> String {
    if error.is_retryable() { format!("gave up after {attempts} attempts: {error}") } else { error.to_string() }
}

fn outbound(message: &Message, target: Option<MessageTarget>, media: Option<MediaFile>) -> OutboundMessage {
    OutboundMessage {
        id: message.id.clone(),
        to: message.chat.clone(),
        content: message.content.clone(),
        reply_to: message.reply_to.clone(),
        target,
        media,
        attempt: message.attempts,
    }
}

/// The running lanes, one task per device.
pub struct Lanes {
    worker: Arc<SendWorker>,
    devices: Arc<DeviceRegistry>,
    tasks: Mutex<HashMap<DevicePk, CancellationToken>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Lanes {
    pub fn new(worker: Arc<SendWorker>, devices: Arc<DeviceRegistry>, shutdown: CancellationToken) -> Self {
        Self { worker, devices, tasks: Mutex::default(), tracker: TaskTracker::new(), shutdown }
    }

    pub fn worker(&self) -> &Arc<SendWorker> {
        &self.worker
    }

    /// Starts the device's lane if it is not running.
    pub fn ensure(&self, device: DevicePk) {
        let Some(entry) = self.devices.get(device) else { return };
        let mut tasks = self.tasks.lock().expect("lanes lock");
        if tasks.contains_key(&device) || self.shutdown.is_cancelled() {
            return;
        }
        let cancel = self.shutdown.child_token();
        tasks.insert(device, cancel.clone());
        let worker = self.worker.clone();
        self.tracker.spawn(run_lane(worker, entry, cancel));
    }

    /// Stops a device's lane after its current send (the device was deleted).
    pub fn stop(&self, device: DevicePk) {
        if let Some(cancel) = self.tasks.lock().expect("lanes lock").remove(&device) {
            cancel.cancel();
        }
    }

    /// Waits for every lane to finish its in-flight send after shutdown was signalled.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }
}

async fn run_lane(worker: Arc<SendWorker>, entry: Arc<DeviceEntry>, cancel: CancellationToken) {
    loop {
        if cancel.is_cancelled() {
            return;
        }
        // A bug in a connector must not silence the device for the rest of the process.
        let step = match std::panic::AssertUnwindSafe(worker.step(&entry)).catch_unwind().await {
            Ok(step) => step,
            Err(_) => {
                tracing::error!(device = %entry.id, "a send step panicked; its message goes back to the queue and the lane goes on in 5 s");
                if let Err(error) = worker.store.release_in_flight(Some(entry.pk)).await {
                    tracing::warn!(device = %entry.id, %error, "could not requeue the message; the next start will");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = cancel.cancelled() => return,
                }
                continue;
            }
        };
        let wait = match step {
            Ok(Step::Sent | Step::Retrying | Step::Failed) => {
                let settings = entry.snapshot().settings;
                let jitter = if settings.pacing_jitter_ms > 0 { rand::thread_rng().gen_range(0..=settings.pacing_jitter_ms) } else { 0 };
                let pause = settings.pacing_ms + jitter;
                if pause == 0 {
                    continue;
                }
                // Pacing is a fixed pause: a newly queued message must not cut it short.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(pause)) => {}
                    _ = cancel.cancelled() => return,
                }
                continue;
            }
            Ok(Step::NotConnected) => IDLE_RECHECK,
            Ok(Step::Idle { next_due }) => next_due
                .map(|due| (due - worker.clock.now()).to_std().unwrap_or(Duration::ZERO).max(Duration::from_millis(1)))
                .unwrap_or(IDLE_RECHECK)
                .min(IDLE_RECHECK),
            Err(error) => {
                tracing::warn!(device = %entry.id, %error, "send lane could not reach the store; retrying in 1 s");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = entry.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
