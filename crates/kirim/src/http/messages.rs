//! `/v1/messages`: send (202 once committed), inspect with history, list, cancel.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kirim_core::MessageId;
use kirim_core::id::DeviceId;
use kirim_core::message::{Direction, Message, MessageContent, MessageStatus, StatusChange, TextContent};
use kirim_core::store::MessageFilter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::services::messages::{self, SendInput};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The device to send from. Omit to let Kirim pick a connected device (a device token always uses its own).
    pub device_id: Option<String>,
    /// The recipient: a phone number in any common form (`+60 12-345 6789`, `60123456789`,
    /// `012-345 6789` with a default country) or a group JID (`…@g.us`).
    #[serde(deserialize_with = "super::string_or_number")]
    #[schema(value_type = String, example = "+60123456789")]
    pub to: String,
    /// The message type; `text` for now.
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
    /// The text, for `type: text`.
    pub text: Option<TextContent>,
    /// Your own reference, returned in events and usable as an idempotency key.
    pub ref_id: Option<String>,
    /// 0 (normal, default) to 10 (most urgent): higher priority messages leave first.
    pub priority: Option<i32>,
    /// The network id of a message to reply to (quote).
    pub reply_to: Option<String>,
}

fn default_type() -> String {
    "text".to_owned()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: MessageId,
    pub device_id: DeviceId,
    pub direction: Direction,
    /// The recipient (outbound messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The chat it arrived from (inbound messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// In a group chat, the member who wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub content: MessageContent,
    pub status: MessageStatus,
    pub priority: i32,
    pub ref_id: Option<String>,
    /// The id the network knows the message by.
    pub network_id: Option<String>,
    pub reply_to: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    /// When a pending message will next be tried.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every status with its time (single-message responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<StatusChange>>,
}

impl MessageView {
    pub fn new(m: Message, with_history: bool) -> Self {
        let history = with_history.then(|| m.history());
        let (to, from) = match m.direction {
            Direction::Outbound => (Some(m.chat.to_string()), None),
            Direction::Inbound => (None, Some(m.chat.to_string())),
        };
        Self {
            id: m.id,
            device_id: m.device_id,
            direction: m.direction,
            to,
            from,
            sender: m.sender,
            kind: m.content.kind().to_owned(),
            content: m.content,
            status: m.status,
            priority: m.priority,
            ref_id: m.ref_id,
            network_id: m.network_id,
            reply_to: m.reply_to,
            attempts: m.attempts,
            max_attempts: m.max_attempts,
            next_attempt_at: m.next_attempt_at,
            error: m.last_error,
            created_at: m.created_at,
            updated_at: m.updated_at,
            history,
        }
    }
}

fn content(body: &SendMessage) -> ApiResult<MessageContent> {
    match body.kind.as_str() {
        "text" => {
            let text =
                body.text.clone().ok_or_else(|| ApiError::field("text", "`text` is required when `type` is `text`: {\"body\": \"…\"}"))?;
            Ok(MessageContent::Text { text })
        }
        other => Err(ApiError::field("type", format!("`type` `{other}` is not supported; use `text`"))),
    }
}

/// Queue a message. `202` means it is committed: it will be sent even if the server restarts.
/// Repeating a request with the same `Idempotency-Key` (or `ref_id`) returns the original message.
#[utoipa::path(post, path = "/v1/messages", tag = "messages", request_body = SendMessage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body return the original message")),
    responses((status = 202, body = MessageView), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn send(State(state): State<AppState>, auth: TenantAuth, headers: HeaderMap, body: ApiJson<SendMessage>) -> ApiResult<Response> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::field("Idempotency-Key", "`Idempotency-Key` must be visible ASCII"))?.to_owned()),
        None => None,
    };
    let request = body.value;
    let device_id = match request.device_id.as_deref() {
        Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
        None => None,
    };
    let input = SendInput {
        content: content(&request)?,
        device_id,
        to: request.to,
        ref_id: request.ref_id,
        priority: request.priority.unwrap_or(0),
        idempotency_key,
        request_hash: body.body_hash,
        reply_to: request.reply_to,
    };
    let accepted = messages::accept(&state, &(&auth).into(), input).await?;
    let mut response = (StatusCode::ACCEPTED, Json(MessageView::new(accepted.message, false))).into_response();
    if accepted.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn message_id(raw: &str) -> ApiResult<MessageId> {
    raw.parse().map_err(|_| ApiError::not_found("message"))
}

/// A message with its status history.
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = MessageView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<MessageView>> {
    let message = messages::get(&state, &auth, &message_id(&id)?).await?;
    Ok(Json(MessageView::new(message, true)))
}

/// Cancel a pending message.
#[utoipa::path(post, path = "/v1/messages/{id}/cancel", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = MessageView), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn cancel(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<MessageView>> {
    let message = messages::cancel(&state, &auth, &message_id(&id)?).await?;
    Ok(Json(MessageView::new(message, true)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// pending, sending, sent, delivered, read, played, failed, cancelled, received
    pub status: Option<String>,
    pub device_id: Option<String>,
    /// The other side, in any phone form or a group JID.
    pub to: Option<String>,
    pub ref_id: Option<String>,
    /// outbound or inbound
    pub direction: Option<String>,
    /// RFC 3339 time: only messages created at or after it.
    pub since: Option<String>,
    /// RFC 3339 time: only messages created before it.
    pub until: Option<String>,
    /// Cursor: the `next` value of the previous page.
    pub before: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

fn parse_time(field: &str, raw: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::field(field, format!("`{field}` must be an RFC 3339 time such as 2026-01-31T09:00:00Z")))
}

/// List messages, newest first, with filters and a cursor.
#[utoipa::path(get, path = "/v1/messages", tag = "messages", params(ListQuery),
    responses((status = 200, body = List<MessageView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<List<MessageView>>> {
    let mut filter = MessageFilter { limit: super::parse_limit(q.limit.as_deref(), 50, 500)?, ..MessageFilter::default() };
    if let Some(s) = &q.status {
        filter.status = Some(s.parse().map_err(|_| ApiError::field("status", format!("`status` `{s}` is not a message status")))?);
    }
    if let Some(d) = &q.direction {
        filter.direction = Some(d.parse().map_err(|_| ApiError::field("direction", "`direction` must be `outbound` or `inbound`"))?);
    }
    let own_device = auth.device.as_ref().map(|(_, id)| id.clone());
    if let Some(raw) = q.device_id.as_deref().map(str::to_owned).or_else(|| own_device.map(|d| d.to_string())) {
        let id: DeviceId = raw.parse().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?;
        if !auth.may_use_device(&id) {
            return Err(ApiError::not_found("device").with_field("device_id"));
        }
        let entry = state.devices.get_for_tenant(auth.tenant_pk(), &id);
        let device = match entry {
            Some(e) => e.pk,
            None => {
                state
                    .store
                    .get_device(auth.tenant_pk(), &id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("device").with_field("device_id"))?
                    .pk
            }
        };
        filter.device = Some(device);
    }
    if let Some(to) = &q.to {
        filter.chat = Some(messages::parse_recipient(&state, "to", to)?);
    }
    filter.ref_id = q.ref_id;
    if let Some(s) = &q.since {
        filter.since = Some(parse_time("since", s)?);
    }
    if let Some(u) = &q.until {
        filter.until = Some(parse_time("until", u)?);
    }
    if let Some(b) = &q.before {
        filter.before =
            Some(b.parse().map_err(|_| ApiError::field("before", "`before` must be a message id from a previous page's `next`"))?);
    }
    let rows = state.store.list_messages(auth.tenant_pk(), &filter).await?;
    let next = (rows.len() == filter.limit as usize).then(|| rows.last().map(|m| m.id.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(|m| MessageView::new(m, false)).collect(), next }))
}
