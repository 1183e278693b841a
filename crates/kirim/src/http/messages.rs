//! `/v1/messages`: send (202 once committed), inspect with history, list, cancel.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kirim_core::MessageId;
use kirim_core::id::DeviceId;
use kirim_core::message::{Direction, Message, MessageContent, MessageStatus, StatusChange};
use kirim_core::store::MessageFilter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::services::messages;
use crate::services::schedule;

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
    /// `null` once a secret message was sent and its content erased (see `content_erased_at`).
    pub content: Option<MessageContent>,
    /// The content is erased once the message is sent.
    pub secret: bool,
    /// When a secret message's content was erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_erased_at: Option<DateTime<Utc>>,
    /// The tag the send gave (`source`), to group and filter messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The message this one sends again (`POST /v1/messages/{id}/resend`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resend_of: Option<MessageId>,
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
    /// When a scheduled message is (or was) due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The time zone the schedule was given in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
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
            content: m.erased_at.is_none().then_some(m.content),
            secret: m.options.secret,
            content_erased_at: m.erased_at,
            source: m.options.source,
            resend_of: m.options.resend_of,
            status: m.status,
            priority: m.priority,
            ref_id: m.ref_id,
            network_id: m.network_id,
            reply_to: m.reply_to,
            attempts: m.attempts,
            max_attempts: m.max_attempts,
            next_attempt_at: m.next_attempt_at,
            error: m.last_error,
            scheduled_at: m.schedule.as_ref().map(|s| s.at),
            timezone: m.schedule.and_then(|s| s.timezone),
            created_at: m.created_at,
            updated_at: m.updated_at,
            history,
        }
    }
}

pub(super) fn message_id(raw: &str) -> ApiResult<MessageId> {
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
    /// scheduled, pending, sending, sent, delivered, read, played, failed, cancelled, received
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
    /// Only messages sent with this `source` tag.
    pub source: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// A change to a scheduled message; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMessage {
    /// The new time, as in `POST /v1/messages`.
    pub scheduled_at: Option<String>,
    /// The zone of a wall-clock `scheduled_at`.
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "super::opt_string_or_number")]
    #[schema(value_type = Option<String>)]
    pub to: Option<String>,
    /// A new text (for a text message).
    pub text: Option<super::send::TextInput>,
}

/// Change a scheduled message: its time, recipient or text.
#[utoipa::path(patch, path = "/v1/messages/{id}", tag = "messages", params(("id" = String, Path)), request_body = UpdateMessage,
    responses((status = 200, body = MessageView), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<UpdateMessage>,
) -> ApiResult<Json<MessageView>> {
    let id = message_id(&id)?;
    let request = body.value;
    let schedule =
        match (&request.scheduled_at, &request.timezone) {
            (None, Some(_)) => {
                return Err(ApiError::field("timezone", "give `scheduled_at` with `timezone`: the zone says how to read that time"));
            }
            (None, None) => None,
            (Some(at), tz) => Some(schedule::parse(Some(at), tz.as_deref(), state.clock.now())?.ok_or_else(|| {
                ApiError::field("scheduled_at", "`scheduled_at` must be in the future; to send now, cancel and send again")
            })?),
        };
    let content = request.text.map(|t| MessageContent::Text { text: t.into() });
    let change = messages::UnsentChange { schedule, to: request.to, content };
    let message = messages::update_scheduled(&state, &auth, &id, change).await?;
    Ok(Json(MessageView::new(message, true)))
}

/// Delete a message that never left (scheduled, or cancelled before any attempt).
#[utoipa::path(delete, path = "/v1/messages/{id}", tag = "messages", params(("id" = String, Path)),
    responses((status = 204), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    messages::delete_unsent(&state, &auth, &message_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
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
    filter.source = q.source;
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
