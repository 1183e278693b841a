//! `POST /v1/messages/batch`, `/v1/messages/{id}/resend` and `/v1/messages/cancel`: sending and
//! cancelling many messages in one request, each answered per item.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use kirim_core::id::DeviceId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody, ErrorDetail};
use super::extract::{ApiJson, ApiPath};
use super::messages::{MessageView, message_id};
use super::send::{SendMessage, ToInput, idempotency_key, input};
use crate::app::AppState;
use crate::services::Actor;
use crate::services::sending::{self, MAX_BATCH};

/// Up to 100 messages, each shaped as the body of `POST /v1/messages` (any type) with one recipient.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    #[schema(value_type = Vec<SendMessage>)]
    pub items: Vec<serde_json::Value>,
}

/// How one item of a batch went: its message, or why it was refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResult {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageView>,
    /// Why the item was refused; `field` names it from the top (`items[3].to`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// One result per item, in order.
    pub data: Vec<ItemResult>,
    pub accepted: usize,
    pub refused: usize,
}

/// One item as a send input; its own hash tells a retried batch from a changed one item by item.
fn item(state: &AppState, i: usize, raw: serde_json::Value, key: Option<&str>) -> ApiResult<crate::services::messages::SendInput> {
    let bytes = serde_json::to_vec(&raw).map_err(|_| ApiError::field(format!("items[{i}]"), "the item could not be read"))?;
    let mut request: SendMessage = super::extract::parse_json(&bytes)?;
    if request.to_contact_group.is_some() {
        return Err(ApiError::field("to_contact_group", "send to a contact group with POST /v1/messages; a batch item has one recipient"));
    }
    let to = match request.to.take() {
        Some(to) => match to.recipients() {
            (mut list, false) => list.pop(),
            _ => return Err(ApiError::field("to", "a batch item has one recipient; make one item per recipient")),
        },
        None => None,
    };
    let hash = hex::encode(Sha256::digest(&bytes));
    let mut input = input(state, request, key.map(|k| format!("{k}:{i}")), hash)?;
    input.to = to;
    Ok(input)
}

/// Queue up to 100 messages at once. Each item is checked alone: a bad item is refused with an
/// error naming it (`items[3].to`) and the others are queued, all in one commit. `202` when at
/// least one item was accepted; `422` (the first item's error) when none was.
#[utoipa::path(post, path = "/v1/messages/batch", tag = "messages", request_body = Batch,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: item i gets the key `<key>:<i>`")),
    responses((status = 202, body = BatchResult), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn batch(
    State(state): State<AppState>,
    auth: TenantAuth,
    headers: HeaderMap,
    body: ApiJson<Batch>,
) -> ApiResult<(StatusCode, Json<BatchResult>)> {
    let key = idempotency_key(&headers)?;
    let items = body.value.items;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::field("items", format!("`items` must hold 1 to {MAX_BATCH} messages (it has {})", items.len())));
    }
    let inputs: Vec<_> = items.into_iter().enumerate().map(|(i, raw)| item(&state, i, raw, key.as_deref())).collect();
    let results = sending::batch(&state, &(&auth).into(), inputs).await?;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    if accepted == 0 {
        let first = results.into_iter().find_map(Result::err);
        return Err(first.unwrap_or_else(|| ApiError::field("items", "no item was accepted")));
    }
    let data: Vec<ItemResult> = results
        .into_iter()
        .enumerate()
        .map(|(index, r)| match r {
            Ok(a) => ItemResult { index, message: Some(MessageView::new(a.message, false)), error: None },
            Err(e) => ItemResult { index, message: None, error: Some(e.detail) },
        })
        .collect();
    let refused = data.len() - accepted;
    Ok((StatusCode::ACCEPTED, Json(BatchResult { data, accepted, refused })))
}

/// Send a message again: a new message (linked by `resend_of`) with the same recipient, content
/// and options, from the same device. For sent, failed and cancelled messages; not for a secret
/// message whose content was erased.
#[utoipa::path(post, path = "/v1/messages/{id}/resend", tag = "messages", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key returns the first resend")),
    responses((status = 202, body = MessageView), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn resend(
    State(state): State<AppState>,
    auth: TenantAuth,
    headers: HeaderMap,
    ApiPath(id): ApiPath,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let id = message_id(&id)?;
    let key = idempotency_key(&headers)?;
    let hash = hex::encode(Sha256::digest(format!("resend:{id}").as_bytes()));
    let accepted = sending::resend(&state, &(&auth).into(), &id, key, hash).await?;
    Ok((StatusCode::ACCEPTED, Json(MessageView::new(accepted.message, false))))
}

/// Which messages to send again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    /// Up to 100 message ids (an array, or a comma list).
    #[schema(value_type = Vec<String>)]
    pub ids: ToInput,
}

/// How acting on one id went (a resend, a cancel): the message it left, or why not.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdResult {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

impl IdResult {
    fn of(id: String, result: ApiResult<kirim_core::message::Message>) -> Self {
        match result {
            Ok(m) => Self { id, message: Some(MessageView::new(m, false)), error: None },
            Err(e) => Self { id, message: None, error: Some(e.detail) },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResendResult {
    /// Per id, in order.
    pub data: Vec<IdResult>,
    pub accepted: usize,
    pub refused: usize,
}

/// Send many messages again, as `POST /v1/messages/{id}/resend` does for one; an id that
/// cannot be resent refuses only itself. With `Idempotency-Key`, a retried request resends
/// nothing twice.
#[utoipa::path(post, path = "/v1/messages/resend", tag = "messages", request_body = ResendRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: each id is resent once under this key")),
    responses((status = 202, body = ResendResult), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn resend_many(
    State(state): State<AppState>,
    auth: TenantAuth,
    headers: HeaderMap,
    body: ApiJson<ResendRequest>,
) -> ApiResult<(StatusCode, Json<ResendResult>)> {
    let key = idempotency_key(&headers)?;
    let (ids, _) = body.value.ids.recipients();
    let results = sending::resend_many(&state, &(&auth).into(), &ids, key.as_deref()).await?;
    let data: Vec<IdResult> = ids.into_iter().zip(results).map(|(id, r)| IdResult::of(id, r.map(|a| a.message))).collect();
    let accepted = data.iter().filter(|d| d.message.is_some()).count();
    let refused = data.len() - accepted;
    Ok((StatusCode::ACCEPTED, Json(ResendResult { data, accepted, refused })))
}

/// Which messages to cancel: `ids`, or `all: true` for every pending one (of `device_id` alone
/// if given). Scheduled messages are cancelled by id only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Up to 1,000 message ids (an array, or a comma list).
    #[schema(value_type = Option<Vec<String>>)]
    pub ids: Option<ToInput>,
    /// Cancel every pending message.
    pub all: Option<bool>,
    /// With `all`: only this device's pending messages.
    pub device_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelResult {
    /// Per id with `ids`, in order; every message cancelled with `all`.
    pub data: Vec<IdResult>,
    pub cancelled: usize,
}

/// Cancel many messages, each with its `message.cancelled` event: by ids (per-id results), or
/// every pending message of the account or of one device.
#[utoipa::path(post, path = "/v1/messages/cancel", tag = "messages", request_body = CancelRequest,
    responses((status = 200, body = CancelResult), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn cancel(State(state): State<AppState>, auth: TenantAuth, body: ApiJson<CancelRequest>) -> ApiResult<Json<CancelResult>> {
    let request = body.value;
    let actor: Actor = (&auth).into();
    let data = match (request.ids, request.all) {
        (Some(_), Some(true)) => return Err(ApiError::field("all", "give `ids` or `all: true`, not both")),
        (Some(ids), _) => {
            if request.device_id.is_some() {
                return Err(ApiError::field("device_id", "`device_id` goes with `all: true`; ids name their messages already"));
            }
            let (ids, _) = ids.recipients();
            let results = sending::cancel_many(&state, &actor, &ids).await?;
            ids.into_iter().zip(results).map(|(id, r)| IdResult::of(id, r)).collect::<Vec<_>>()
        }
        (None, Some(true)) => {
            let device = match request.device_id {
                Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
                None => None,
            };
            let cancelled = sending::cancel_all_pending(&state, &actor, device.as_ref()).await?;
            cancelled.into_iter().map(|m| IdResult::of(m.id.to_string(), Ok(m))).collect()
        }
        (None, _) => {
            return Err(ApiError::field("ids", "say what to cancel: `ids` (message ids) or `all: true` (every pending message)"));
        }
    };
    let cancelled = data.iter().filter(|d| d.message.is_some()).count();
    Ok(Json(CancelResult { data, cancelled }))
}
