//! `/v1/reminders`: messages repeated daily, weekly, monthly, yearly or every N days.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kirim_core::id::DeviceId;
use kirim_core::message::{MessageContent, MessageStatus};
use kirim_core::reminder::{Occurrence, Recurrence, Reminder, ReminderStatus};
use kirim_core::{MessageId, ReminderId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::message_body::MessageBody;
use super::webhooks::nullable;
use crate::app::AppState;
use crate::services::reminders::{self as service, ReminderDetail, ReminderInput, RepeatInput};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepeatBody {
    /// daily, weekly, monthly (a short month takes its last day), yearly, or days.
    #[schema(example = "monthly")]
    pub every: String,
    /// With `every: "days"`: the days between occurrences, 1 to 1,000.
    pub days: Option<u32>,
}

/// A reminder. On create, `to`, `message`, `start_at` and `repeat` are required; on a
/// change every field is optional and `null` clears `title`, `until` and `count`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderBody {
    /// The device that sends it. Omit to use a connected device (a device token uses its own).
    pub device_id: Option<String>,
    /// The recipient: a phone number in any common form, or a group JID.
    #[serde(default, deserialize_with = "super::opt_string_or_number")]
    #[schema(value_type = Option<String>, example = "+60123456789")]
    pub to: Option<String>,
    /// Up to 255 characters, for you; not sent.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    pub message: Option<MessageBody>,
    /// The first occurrence: `2026-05-20 13:20:00` read in `timezone`, or a time with an offset.
    #[schema(example = "2026-05-20 13:20:00")]
    pub start_at: Option<String>,
    /// IANA time zone (default UTC). Every occurrence keeps the start's wall-clock time.
    #[schema(example = "Asia/Jakarta")]
    pub timezone: Option<String>,
    pub repeat: Option<RepeatBody>,
    /// The last local date an occurrence may fall on (inclusive), e.g. `2026-12-31`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub until: Option<Option<String>>,
    /// How many occurrences at most.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub count: Option<Option<u32>>,
    /// On a change: `paused` (occurrences not yet sent are cancelled) or `active` (resumes at
    /// the next occurrence to come).
    pub status: Option<String>,
}

impl ReminderBody {
    fn input(self) -> ApiResult<ReminderInput> {
        let device_id = match self.device_id {
            Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
            None => None,
        };
        Ok(ReminderInput {
            device_id,
            to: self.to,
            title: self.title,
            content: self.message.map(|m| m.content("message")).transpose()?,
            start_at: self.start_at,
            timezone: self.timezone,
            repeat: self.repeat.map(|r| RepeatInput { every: r.every, days: r.days }),
            until: self.until,
            count: self.count,
            status: self.status,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RepeatView {
    pub every: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

impl From<Recurrence> for RepeatView {
    fn from(r: Recurrence) -> Self {
        match r {
            Recurrence::Daily => Self { every: "daily".into(), days: None },
            Recurrence::Monthly => Self { every: "monthly".into(), days: None },
            Recurrence::Yearly => Self { every: "yearly".into(), days: None },
            Recurrence::Days { days } => Self { every: "days".into(), days: Some(days) },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OccurrenceView {
    /// Its number in the series (0 is the start).
    pub index: u32,
    pub due_at: DateTime<Utc>,
    /// The message it became (`GET /v1/messages/{id}`).
    pub message_id: Option<MessageId>,
    pub status: Option<MessageStatus>,
    /// Why no message was made: `blacklisted` (the number is on the blacklist) or `device_deleted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl From<Occurrence> for OccurrenceView {
    fn from(o: Occurrence) -> Self {
        Self { index: o.index, due_at: o.due_at, message_id: o.message_id, status: o.status, skipped: o.skipped }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReminderView {
    pub id: ReminderId,
    pub device_id: DeviceId,
    pub title: Option<String>,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub message: MessageContent,
    /// The first occurrence's wall-clock time, in `timezone`.
    pub start_at: String,
    pub timezone: String,
    pub repeat: RepeatView,
    pub until: Option<String>,
    pub count: Option<u32>,
    /// active, paused or finished.
    pub status: ReminderStatus,
    /// When the next occurrence is due (`null` once finished).
    pub next_at: Option<DateTime<Utc>>,
    /// The same time in `timezone`, as a wall clock.
    pub next_at_local: Option<String>,
    /// How many occurrences became messages.
    pub sent_count: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The newest occurrences, newest first (single-reminder responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<Vec<OccurrenceView>>,
}

impl ReminderView {
    fn new(r: Reminder, occurrences: Option<Vec<Occurrence>>) -> Self {
        let next_at_local = r.next_at.and_then(|at| service::local(&r, at));
        Self {
            id: r.id,
            device_id: r.device_id,
            title: r.plan.title,
            to: r.plan.to.as_str().to_owned(),
            kind: r.plan.content.kind().to_owned(),
            message: r.plan.content,
            start_at: r.plan.start.format("%Y-%m-%d %H:%M:%S").to_string(),
            timezone: r.plan.timezone,
            repeat: r.plan.recurrence.into(),
            until: r.plan.end.until.map(|d| d.format("%Y-%m-%d").to_string()),
            count: r.plan.end.count,
            status: r.status,
            next_at: r.next_at,
            next_at_local,
            sent_count: r.sent_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
            occurrences: occurrences.map(|o| o.into_iter().map(OccurrenceView::from).collect()),
        }
    }
}

impl From<ReminderDetail> for ReminderView {
    fn from(d: ReminderDetail) -> Self {
        Self::new(d.reminder, Some(d.occurrences))
    }
}

fn reminder_id(raw: &str) -> ApiResult<ReminderId> {
    raw.parse().map_err(|_| ApiError::not_found("reminder"))
}

/// Create a reminder. Its first occurrence is made (as a `scheduled` message) shortly before it is due.
#[utoipa::path(post, path = "/v1/reminders", tag = "reminders", request_body = ReminderBody,
    responses((status = 201, body = ReminderView), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    body: ApiJson<ReminderBody>,
) -> ApiResult<(StatusCode, Json<ReminderView>)> {
    let reminder = service::create(&state, &(&auth).into(), body.value.input()?).await?;
    Ok((StatusCode::CREATED, Json(ReminderView::new(reminder, None))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this device's reminders.
    pub device_id: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// Reminders, oldest first.
#[utoipa::path(get, path = "/v1/reminders", tag = "reminders", params(ListQuery),
    responses((status = 200, body = List<ReminderView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<List<ReminderView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let device = match q.device_id.as_deref() {
        Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
        None => None,
    };
    let after = match q.after.as_deref() {
        Some(raw) => Some(raw.parse::<ReminderId>().map_err(|e| ApiError::field("after", format!("`after`: {e}")))?),
        None => None,
    };
    let rows = service::list(&state, &(&auth).into(), device.as_ref(), after, limit).await?;
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|r| r.id.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(|r| ReminderView::new(r, None)).collect(), next }))
}

/// One reminder with its newest occurrences and their messages' status.
#[utoipa::path(get, path = "/v1/reminders/{id}", tag = "reminders", params(("id" = String, Path)),
    responses((status = 200, body = ReminderView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<ReminderView>> {
    Ok(Json(service::get(&state, &(&auth).into(), &reminder_id(&id)?).await?.into()))
}

/// Change, pause or resume a reminder. A changed plan goes on at its first occurrence still
/// to come; occurrences already scheduled are cancelled and made again.
#[utoipa::path(patch, path = "/v1/reminders/{id}", tag = "reminders", params(("id" = String, Path)), request_body = ReminderBody,
    responses((status = 200, body = ReminderView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<ReminderBody>,
) -> ApiResult<Json<ReminderView>> {
    let reminder = service::update(&state, &(&auth).into(), &reminder_id(&id)?, body.value.input()?).await?;
    Ok(Json(ReminderView::new(reminder, None)))
}

/// Delete a reminder; its occurrences not yet queued are cancelled, sent ones stay.
#[utoipa::path(delete, path = "/v1/reminders/{id}", tag = "reminders", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    service::delete(&state, &(&auth).into(), &reminder_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
