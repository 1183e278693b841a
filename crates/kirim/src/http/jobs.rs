//! `/v1/jobs`: field jobs dispatched to workers over WhatsApp (reference 000).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kirim_core::id::DeviceId;
use kirim_core::job::{EntryKind, Job, JobFilter, JobStatus, TimelineEntry};
use kirim_core::{JobId, MessageId, PhoneNumber};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::services::jobs::{self as service, JobInput};

/// A job to dispatch. The worker gets a WhatsApp message with the job and the replies it
/// understands (START, ARRIVED, DONE, ISSUE <text>, DELAY <minutes>).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobBody {
    /// The device to send from. Omit to let Kirim pick a connected device (a device token uses its own).
    pub device_id: Option<String>,
    /// The worker's phone, in any common form (`60123456789`, `+60 12-345 6789`, `012-345 6789`).
    #[serde(deserialize_with = "super::string_or_number")]
    #[schema(example = "+60123456789")]
    pub worker_phone: String,
    #[schema(example = "Puan Siti")]
    pub client_name: String,
    #[schema(example = "Deep cleaning - 3BR apartment")]
    pub task: String,
    #[schema(example = "123 Jalan Ampang, KL")]
    pub location: String,
    /// A map link for the location (http or https).
    pub map_link: Option<String>,
    /// When the job is due (RFC 3339, e.g. `2026-12-02T14:00:00+08:00`), shown to the worker.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Anything else the worker should know (at most 1,000 characters).
    pub notes: Option<String>,
}

/// A job and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: JobId,
    /// What the worker types to name the job, e.g. `J12`.
    #[serde(rename = "ref")]
    pub reference: String,
    pub status: JobStatus,
    pub device_id: DeviceId,
    #[schema(value_type = String)]
    pub worker_phone: PhoneNumber,
    pub client_name: String,
    pub task: String,
    pub location: String,
    pub map_link: Option<String>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    /// The message that dispatched the job.
    pub message_id: Option<MessageId>,
    /// While DELAYED: when the delay ends, and the status the job then returns to.
    pub delay_until: Option<DateTime<Utc>>,
    pub returns_to: Option<JobStatus>,
    pub started_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Everything that happened to the job, oldest first (only on `GET /v1/jobs/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<EntryView>>,
}

/// One entry of a job's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub seq: i64,
    pub kind: EntryKind,
    pub from: Option<JobStatus>,
    pub to: Option<JobStatus>,
    /// An issue's description, a note, a photo's caption, a template's text.
    pub text: Option<String>,
    /// A photo or voice note (`med_…` when Kirim stores the file).
    pub media_id: Option<String>,
    /// The message Kirim sent with it: the dispatch, the confirmation to the worker, a template.
    pub message_id: Option<MessageId>,
    /// That message's current status.
    pub message_status: Option<String>,
    /// The worker's message it records.
    pub inbound_message_id: Option<MessageId>,
    /// Per kind: `minutes` and `until` of a delay, a voice note's `transcription`
    /// (`status`: `pending`, `transcribed` with `text`, `failed` with `error`, or
    /// `untranscribed` with `reason`), a template send's `template` and `to`.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl From<TimelineEntry> for EntryView {
    fn from(e: TimelineEntry) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind,
            from: e.from,
            to: e.to,
            text: e.text,
            media_id: e.media_id,
            message_id: e.message_id,
            message_status: e.message_status,
            inbound_message_id: e.inbound_message_id,
            detail: e.detail,
            at: e.at,
        }
    }
}

impl JobView {
    pub fn new(j: Job, timeline: Option<Vec<TimelineEntry>>) -> Self {
        Self {
            reference: j.reference(),
            id: j.id,
            status: j.state.status,
            device_id: j.device_id,
            worker_phone: j.worker,
            client_name: j.client_name,
            task: j.task,
            location: j.location,
            map_link: j.map_link,
            scheduled_for: j.scheduled_for,
            notes: j.notes,
            message_id: j.dispatch_message_id,
            delay_until: j.state.delay_until,
            returns_to: j.state.previous_status,
            started_at: j.state.started_at,
            arrived_at: j.state.arrived_at,
            done_at: j.state.done_at,
            created_at: j.created_at,
            updated_at: j.updated_at,
            timeline: timeline.map(|t| t.into_iter().map(EntryView::from).collect()),
        }
    }
}

/// Dispatch a job: `201` once the job and its message to the worker are committed.
/// Repeating a request with the same `Idempotency-Key` returns the original job (`200`).
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = JobBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body return the original job")),
    responses((status = 201, body = JobView), (status = 200, body = JobView, description = "A repeated request"),
        (status = 422, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(State(state): State<AppState>, auth: TenantAuth, headers: HeaderMap, body: ApiJson<JobBody>) -> ApiResult<Response> {
    let key = super::send::idempotency_key(&headers)?;
    let b = body.value;
    let device_id = match b.device_id {
        Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
        None => None,
    };
    let input = JobInput {
        device_id,
        worker_phone: b.worker_phone,
        client_name: b.client_name,
        task: b.task,
        location: b.location,
        map_link: b.map_link,
        scheduled_for: b.scheduled_for,
        notes: b.notes,
        idempotency_key: key,
        request_hash: body.body_hash,
    };
    let (job, _, replayed) = service::create(&state, &(&auth).into(), input).await?;
    let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
    let mut response = (status, Json(JobView::new(job, None))).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// PENDING, IN_PROGRESS, DONE, ISSUE or DELAYED.
    pub status: Option<String>,
    /// Only this worker's jobs (any phone form).
    pub worker_phone: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub before: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = List<JobView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<List<JobView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let status = q.status.as_deref().map(|s| service::parse_status("status", s)).transpose()?;
    let worker = match q.worker_phone.as_deref() {
        Some(raw) => Some(
            PhoneNumber::parse(raw, state.config.default_country)
                .map_err(|e| ApiError::field("worker_phone", format!("`worker_phone` {e}")))?,
        ),
        None => None,
    };
    let before = match q.before.as_deref() {
        Some(raw) => Some(raw.parse::<JobId>().map_err(|e| ApiError::field("before", format!("`before`: {e}")))?),
        None => None,
    };
    let filter = JobFilter { status, worker, device: None, before, limit };
    let jobs = service::list(&state, &(&auth).into(), filter).await?;
    let next = (jobs.len() == limit as usize).then(|| jobs.last().map(|j| j.id.to_string())).flatten();
    Ok(Json(List { data: jobs.into_iter().map(|j| JobView::new(j, None)).collect(), next }))
}

/// A job with its timeline. `{id}` is the job's id or its reference (`J12`).
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<JobView>> {
    let actor = (&auth).into();
    let job = service::find(&state, &actor, &id).await?;
    let (job, timeline) = service::get(&state, &actor, &job.id).await?;
    Ok(Json(JobView::new(job, Some(timeline))))
}
