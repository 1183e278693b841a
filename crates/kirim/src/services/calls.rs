//! Calls that ring on a device: each is recorded as a `call.received` event, and a device set
//! to decline calls (`settings.reject_calls`) can answer the caller with a text
//! (`settings.call_reply`), sent like any other message.
//!
//! The reply is queued from a task of its own, not from the sink call that reported the call:
//! queueing a message goes through the send path, which a connector's report must never wait
//! on.

use std::sync::Mutex;

use kirim_core::connector::IncomingCall;
use kirim_core::device::Device;
use kirim_core::event::{NewEvent, types};
use kirim_core::id::{DevicePk, EventId};
use kirim_core::message::MessageContent;
use kirim_core::{Recipient, Timestamp};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Actor;
use super::messages::{self, SendInput};
use crate::app::AppState;

/// The event for a call that rang on `device`.
pub fn event(device: &Device, call: &IncomingCall, at: Timestamp) -> NewEvent {
    let data = json!({
        "device_id": device.id,
        "call_id": call.call_id,
        "from": call.from,
        "video": call.video,
        "group": call.group,
        "rejected": call.rejected,
        "at": call.at,
    });
    NewEvent {
        id: EventId::generate(),
        tenant_pk: device.tenant_pk,
        device_pk: Some(device.pk),
        event_type: types::CALL_RECEIVED,
        data,
        created_at: at,
    }
}

/// A text to send to a caller whose call was declined.
#[derive(Debug, Clone)]
pub struct CallReply {
    pub device: DevicePk,
    pub call_id: String,
    pub to: String,
    pub text: String,
}

/// The queue of replies to declined calls, drained by [`run`].
pub struct Inbox {
    tx: mpsc::UnboundedSender<CallReply>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<CallReply>>>,
}

impl Default for Inbox {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx: Mutex::new(Some(rx)) }
    }
}

impl Inbox {
    pub fn sender(&self) -> mpsc::UnboundedSender<CallReply> {
        self.tx.clone()
    }
}

/// Sends replies to declined calls until shutdown (started once, with the app).
pub async fn run(state: AppState, cancel: CancellationToken) {
    let Some(mut rx) = state.call_replies.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
    loop {
        tokio::select! {
            reply = rx.recv() => match reply {
                Some(reply) => {
                    if let Err(error) = answer(&state, &reply).await {
                        tracing::warn!(call = %reply.call_id, error = %error.detail.message, "the reply to a declined call could not be queued");
                    }
                }
                None => return,
            },
            _ = cancel.cancelled() => return,
        }
    }
}

/// Queues the reply once per call: the idempotency key is the call's, so a call reported
/// twice (a reconnect replaying it) is answered once.
async fn answer(state: &AppState, reply: &CallReply) -> crate::http::error::ApiResult<()> {
    let Ok(to) = Recipient::parse(&reply.to, None) else {
        tracing::info!(call = %reply.call_id, "the caller has no number Kirim can write to; the declined call is not answered");
        return Ok(());
    };
    let entry = state.devices.get(reply.device).ok_or_else(|| crate::http::error::ApiError::not_found("device"))?;
    let actor = Actor { tenant_pk: entry.tenant_pk, device: Some((entry.pk, entry.id.clone())), daily_token_limit: None };
    let key = format!("kirim:call-reply:{}:{}", entry.id, reply.call_id);
    let mut input = SendInput::plain(Some(entry.id.clone()), to.as_str().to_owned(), MessageContent::text(&reply.text));
    input.request_hash = hex::encode(Sha256::digest(key.as_bytes()));
    input.idempotency_key = Some(key);
    messages::accept(state, &actor, input).await?;
    Ok(())
}

/// Sets whether `device` declines calls (what wa-gateway's `reject_call` on `/api/start`
/// asks for). Open to the device's own token, unlike the rest of its settings: the product it
/// stands in for lets the device's client decide this when it starts its session.
/// `reply` (wa-gateway's `reject_message`), when given, becomes the text sent to a declined
/// caller.
pub async fn set_reject_calls(
    state: &AppState,
    device: &Device,
    reject: bool,
    reply: Option<String>,
) -> crate::http::error::ApiResult<Device> {
    let reply = match reply.map(|r| r.trim().to_owned()) {
        Some(r) if r.chars().count() > kirim_core::message::MAX_TEXT_CHARS => {
            return Err(crate::http::error::ApiError::field(
                "reject_message",
                format!("`reject_message` must be at most {} characters", kirim_core::message::MAX_TEXT_CHARS),
            ));
        }
        Some(r) => Some(Some(r).filter(|r| !r.is_empty())),
        None => None,
    };
    if device.settings.reject_calls == reject && reply.as_ref().is_none_or(|r| *r == device.settings.call_reply) {
        return Ok(device.clone());
    }
    let call_reply = reply.unwrap_or_else(|| device.settings.call_reply.clone());
    let settings = kirim_core::device::DeviceSettings { reject_calls: reject, call_reply, ..device.settings.clone() };
    let patch = kirim_core::device::DevicePatch { settings: Some(settings), ..Default::default() };
    let (state, id, tenant) = (state.clone(), device.id.clone(), device.tenant_pk);
    super::detached(async move {
        let updated = state
            .store
            .update_device(tenant, &id, patch, state.clock.now())
            .await?
            .ok_or_else(|| crate::http::error::ApiError::not_found("device"))?;
        if let Some(entry) = state.devices.get(updated.pk) {
            entry.set_profile(&updated);
        }
        Ok(updated)
    })
    .await
}
