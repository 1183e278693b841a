//! Accepting outbound messages: validate, pick the device, commit, wake the lane.
//! A message is acknowledged only after its row, queue entry and event are committed.

use kirim_core::device::ConnectorKind;
use kirim_core::id::DeviceId;
use kirim_core::message::{MAX_TEXT_CHARS, Message, MessageContent, NewOutbound};
use kirim_core::store::{CancelOutcome, InsertOutcome};
use kirim_core::{MessageId, Recipient};

use super::{Actor, detached};
use crate::app::AppState;
use crate::http::auth::TenantAuth;
use crate::http::error::{ApiError, ApiResult};

/// Longest `ref_id` / idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i32> = 0..=10;

#[derive(Debug, Clone)]
pub struct SendInput {
    pub device_id: Option<DeviceId>,
    pub to: String,
    pub content: MessageContent,
    pub ref_id: Option<String>,
    pub priority: i32,
    pub idempotency_key: Option<String>,
    /// Hash of the request as the client sent it, to tell a retry from a conflicting reuse of a key.
    pub request_hash: String,
    pub reply_to: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Accepted {
    pub message: Message,
    /// True when this is the original response to an earlier request with the same key.
    pub replayed: bool,
}

pub fn validate_content(content: &MessageContent) -> ApiResult<()> {
    match content {
        MessageContent::Text { text } => {
            if text.body.trim().is_empty() {
                return Err(ApiError::field("text.body", "`text.body` is empty; write the message text"));
            }
            let chars = text.body.chars().count();
            if chars > MAX_TEXT_CHARS {
                return Err(ApiError::field(
                    "text.body",
                    format!("`text.body` has {chars} characters; WhatsApp accepts at most {MAX_TEXT_CHARS}, so split it"),
                ));
            }
        }
        // Media and locations can be received but not sent yet.
        other => return Err(ApiError::field("type", format!("`type` `{}` cannot be sent yet; use `text`", other.kind()))),
    }
    Ok(())
}

pub fn parse_recipient(state: &AppState, field: &str, to: &str) -> ApiResult<Recipient> {
    Recipient::parse(to, state.config.default_country).map_err(|e| ApiError::field(field, format!("`{field}` {e}")))
}

pub async fn accept(state: &AppState, auth: &Actor, input: SendInput) -> ApiResult<Accepted> {
    validate_content(&input.content)?;
    let chat = parse_recipient(state, "to", &input.to)?;
    if !PRIORITY_RANGE.contains(&input.priority) {
        return Err(ApiError::field("priority", "`priority` must be between 0 (normal) and 10 (most urgent)"));
    }
    for (field, value) in [("ref_id", &input.ref_id), ("Idempotency-Key", &input.idempotency_key), ("reply_to", &input.reply_to)] {
        if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > MAX_KEY_LEN) {
            return Err(ApiError::field(field, format!("`{field}` must be 1 to {MAX_KEY_LEN} characters")));
        }
    }
    let entry = match (&auth.device, &input.device_id) {
        (Some((_, own)), Some(asked)) if own != asked => {
            return Err(ApiError::forbidden("this device token can send only from its own device; omit `device_id`")
                .with_field("device_id"));
        }
        (Some((_, own)), _) => state.devices.get_for_tenant(auth.tenant_pk(), own),
        (None, Some(id)) => state.devices.get_for_tenant(auth.tenant_pk(), id),
        (None, None) => Some(state.devices.pick_for_send(auth.tenant_pk()).ok_or_else(|| {
            ApiError::conflict(
                "no_connected_device",
                "this account has no linked device to send from; link one (POST /v1/devices/{id}/connect) or name a `device_id` to queue on",
            )
        })?),
    };
    let entry = entry.ok_or_else(|| ApiError::not_found("device").with_field("device_id"))?;
    let device = entry.snapshot();
    if device.connector == ConnectorKind::Sandbox && !state.config.sandbox.enabled {
        return Err(ApiError::conflict("connector_disabled", "the sandbox connector is disabled on this server"));
    }
    let now = state.clock.now();
    let new = NewOutbound {
        id: MessageId::generate(),
        tenant_pk: auth.tenant_pk(),
        device_pk: entry.pk,
        chat,
        content: input.content,
        priority: input.priority,
        idempotency_key: input.idempotency_key.or_else(|| input.ref_id.clone()),
        ref_id: input.ref_id,
        request_hash: Some(input.request_hash.clone()),
        reply_to: input.reply_to,
        max_attempts: device.settings.max_attempts,
        not_before: now,
        created_at: now,
    };
    let (store, metrics) = (state.store.clone(), state.metrics.clone());
    let outcome = detached(async move {
        let outcome = store.insert_outbound(vec![new]).await?.into_iter().next();
        if let Some(InsertOutcome::Inserted(_)) = &outcome {
            metrics.accepted.inc();
            entry.wake.notify_one();
        }
        Ok(outcome)
    })
    .await?;
    match outcome {
        Some(InsertOutcome::Inserted(message)) => Ok(Accepted { message, replayed: false }),
        // The key names another device's message, which a device token may not see.
        Some(InsertOutcome::Existing(message)) if !auth.may_use_device(&message.device_id) => Err(key_reused(None)),
        Some(InsertOutcome::Existing(message)) if message.request_hash.as_deref() == Some(input.request_hash.as_str()) => {
            Ok(Accepted { message, replayed: true })
        }
        Some(InsertOutcome::Existing(message)) => Err(key_reused(Some(&message.id))),
        None => Err(ApiError::unavailable("the message was not stored; try again")),
    }
}

fn key_reused(original: Option<&MessageId>) -> ApiError {
    let which = original.map(|id| format!(" (message {id})")).unwrap_or_default();
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        format!("this idempotency key (or ref_id) was already used for a different request{which}; use a new key for a new message"),
    )
    .with_field("Idempotency-Key")
}

pub async fn get(state: &AppState, auth: &TenantAuth, id: &MessageId) -> ApiResult<Message> {
    let message = state.store.get_message(auth.tenant_pk(), id).await?;
    message.filter(|m| auth.may_use_device(&m.device_id)).ok_or_else(|| ApiError::not_found("message"))
}

pub async fn cancel(state: &AppState, auth: &TenantAuth, id: &MessageId) -> ApiResult<Message> {
    get(state, auth, id).await?;
    match state.store.cancel_message(auth.tenant_pk(), id, state.clock.now()).await? {
        CancelOutcome::Cancelled(message) => Ok(message),
        CancelOutcome::TooLate(message) => Err(ApiError::conflict(
            "not_cancellable",
            format!("the message is already {}; only pending messages can be cancelled", message.status),
        )),
        CancelOutcome::NotFound => Err(ApiError::not_found("message")),
    }
}
