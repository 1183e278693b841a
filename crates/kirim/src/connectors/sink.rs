//! The app's side of the connector boundary: what a connector reports is stored (with its
//! event) before the call returns, so an inbound message is never acknowledged unstored.

use std::sync::Arc;

use async_trait::async_trait;
use kirim_core::connector::{CallPolicy, ConnectorSink, InboundMessage, IncomingCall, Receipt, SinkError};
use kirim_core::device::{DeviceStatus, LinkState};
use kirim_core::id::DevicePk;
use kirim_core::message::NewInbound;
use kirim_core::store::{InsertOutcome, MessageFilter, ReceiptOutcome, Store};
use kirim_core::{Clock, MediaId, MessageId};

use crate::metrics::Metrics;
use crate::runtime::{DeviceRegistry, InFlight};

pub struct AppSink {
    pub store: Arc<dyn Store>,
    pub devices: Arc<DeviceRegistry>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub in_flight: Arc<InFlight>,
    /// The longest a receipt waits for the send it overtook (the send timeout, plus time to
    /// store the outcome).
    pub receipt_wait: std::time::Duration,
    /// Where stored inbound messages go to be matched against the auto-reply rules.
    pub auto_replies: Option<tokio::sync::mpsc::UnboundedSender<kirim_core::message::Message>>,
    /// Where stored inbound messages go to be read as job replies first; that inbox passes
    /// what is no job reply on to the auto-reply rules (then `auto_replies` is not used).
    pub jobs: Option<tokio::sync::mpsc::UnboundedSender<kirim_core::message::Message>>,
    /// Where replies to declined calls go to be sent (`settings.call_reply`).
    pub call_replies: Option<tokio::sync::mpsc::UnboundedSender<crate::services::calls::CallReply>>,
}

fn sink_error(e: impl std::fmt::Display) -> SinkError {
    SinkError(e.to_string())
}

impl AppSink {
    /// The device as it is now (settings included), from the registry or else the store.
    async fn device(&self, device: DevicePk) -> Result<kirim_core::device::Device, SinkError> {
        if let Some(entry) = self.devices.get(device) {
            return Ok(entry.snapshot());
        }
        self.store.get_device_by_pk(device).await.map_err(sink_error)?.ok_or_else(|| SinkError("the device no longer exists".into()))
    }
}

#[async_trait]
impl ConnectorSink for AppSink {
    async fn link_state(&self, device: DevicePk, state: LinkState) -> Result<(), SinkError> {
        if let Some(entry) = self.devices.get(device) {
            let from = entry.status();
            if from != state.status && !from.can_become(state.status) {
                tracing::warn!(device = %entry.id, %from, to = %state.status, "connector reported an unexpected status change");
            }
        }
        let updated = self.store.update_link_state(device, state, self.clock.now()).await.map_err(sink_error)?;
        if let Some(device) = updated {
            let connected = device.status == DeviceStatus::Connected;
            if let Some(entry) = self.devices.upsert(device)
                && connected
            {
                entry.wake.notify_one();
            }
        }
        Ok(())
    }

    async fn receipt(&self, device: DevicePk, receipt: Receipt) -> Result<(), SinkError> {
        let mut waited = false;
        loop {
            match self.store.apply_receipt(device, &receipt.network_id, receipt.status, receipt.at).await.map_err(sink_error)? {
                ReceiptOutcome::Applied(_) | ReceiptOutcome::Stale => return Ok(()),
                // The receipt overtook the send that produced it (or names the message by an
                // id the network chose, stored with the outcome): wait for the outcome.
                ReceiptOutcome::InFlight | ReceiptOutcome::Unknown if !waited && self.in_flight.is_busy(device) => {
                    self.in_flight.settled(device, self.receipt_wait).await;
                    waited = true;
                }
                other => {
                    tracing::debug!(network_id = %receipt.network_id, status = %receipt.status, ?other, "receipt for no message Kirim is tracking; ignored");
                    return Ok(());
                }
            }
        }
    }

    async fn call_policy(&self, device: DevicePk) -> Result<CallPolicy, SinkError> {
        Ok(CallPolicy { reject: self.device(device).await?.settings.reject_calls })
    }

    /// Records the call; a declined call is answered with the device's `call_reply`, if any.
    async fn call(&self, device: DevicePk, call: IncomingCall) -> Result<(), SinkError> {
        let device = self.device(device).await?;
        self.store.append_event(crate::services::calls::event(&device, &call, self.clock.now())).await.map_err(sink_error)?;
        if call.rejected
            && let (Some(text), Some(replies)) = (device.settings.call_reply.clone(), &self.call_replies)
        {
            let reply = crate::services::calls::CallReply { device: device.pk, call_id: call.call_id, to: call.from, text };
            let _ = replies.send(reply);
        }
        Ok(())
    }

    async fn inbound(&self, device: DevicePk, message: InboundMessage) -> Result<(), SinkError> {
        let tenant_pk = match self.devices.get(device) {
            Some(entry) => entry.tenant_pk,
            None => match self.store.get_device_by_pk(device).await.map_err(sink_error)? {
                Some(d) => d.tenant_pk,
                None => return Err(SinkError("the device no longer exists".into())),
            },
        };
        let mut content = message.content;
        if let Some(target) = content.target_id_mut() {
            let filter = MessageFilter { device: Some(device), network_id: Some(target.clone()), limit: 1, ..MessageFilter::default() };
            if let Some(known) = self.store.list_messages(tenant_pk, &filter).await.map_err(sink_error)?.pop() {
                *target = known.id.to_string();
            }
        }
        // A file the network can give us later gets Kirim's id now: the client downloads it
        // with `GET /v1/media/{media_id}`, which fetches it through the connector on first use.
        if let Some(file) = content.media_content_mut()
            && file.id.is_some()
            && file.media_id.is_none()
        {
            file.media_id = Some(MediaId::generate().to_string());
        }
        let new = NewInbound {
            id: MessageId::generate(),
            tenant_pk,
            device_pk: device,
            network_id: message.network_id,
            chat: message.chat,
            sender: message.sender,
            content,
            reply_to: message.reply_to,
            received_at: message.at,
        };
        let stored = match self.store.insert_inbound(new).await.map_err(sink_error)? {
            InsertOutcome::Inserted(m) => {
                self.metrics.inbound.inc();
                // An opt-out keyword ("STOP") puts the sender on the blacklist.
                crate::services::blacklist::on_inbound_message(&*self.store, &*self.clock, &self.devices, &m).await;
                m
            }
            // Delivered again: offered to the rules again, whose reply is idempotent per
            // inbound message (a crash between storing and answering is healed this way).
            InsertOutcome::Existing(m) => m,
            // Inbound messages are never charged; a store that refuses one is a bug to report.
            InsertOutcome::Refused(refusal) => return Err(sink_error(format!("inbound message refused: {}", refusal.code()))),
        };
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(stored);
        } else if let Some(auto_replies) = &self.auto_replies {
            let _ = auto_replies.send(stored);
        }
        Ok(())
    }
}
