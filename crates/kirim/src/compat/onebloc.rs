//! OneBloc MessageAPI (reference 000): a tenant's `x-api-key`, camelCase JSON, answers
//! `{"success": true, "data": …}` or `{"success": false, "error": …}`. Messages, field jobs,
//! the connection status, the daily token budget, the jobs list, delivery status by phone and
//! retrying failed messages — each over the native services.
//!
//! OneBloc documents no paths for three calls; they are served where its SDKs' method names
//! point: `GET /jobs`, `GET /message-status/{phone}`, `POST /retry-failed`.

// A step fails with the product's answer itself: built once, on the error path, so its size
// does not matter.
#![allow(clippy::result_large_err)]

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use kirim_core::device::DeviceStatus;
use kirim_core::job::{Job, JobFilter};
use kirim_core::message::{Direction, MediaContent, Message, MessageContent, MessageStatus};
use kirim_core::store::MessageFilter;
use kirim_core::{PhoneNumber, Recipient};
use serde_json::{Value, json};

use super::body::{BodyError, Fields};
use crate::app::AppState;
use crate::http::auth::TenantAuth;
use crate::http::error::ApiError;
use crate::services::messages::{self, SendInput};
use crate::services::sending;
use crate::services::{Actor, jobs, usage};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/send-message", post(send_message))
        .route("/send-job", post(send_job))
        .route("/tenant/status", get(tenant_status))
        .route("/tenant/usage", get(tenant_usage))
        .route("/jobs", get(jobs_list))
        .route("/jobs/{id}", get(job_get))
        .route("/message-status/{phone}", get(message_status))
        .route("/retry-failed", post(retry_failed))
}

fn fail(status: StatusCode, error: impl Into<String>) -> Response {
    (status, Json(json!({"success": false, "error": error.into()}))).into_response()
}

fn ok(data: Value) -> Response {
    Json(json!({"success": true, "data": data})).into_response()
}

/// A native refusal in OneBloc's shape, keeping its status and `Retry-After`.
fn refusal(error: ApiError) -> Response {
    let status = if error.status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { error.status };
    let mut response = fail(status, error.detail.message);
    if let Some(secs) = error.retry_after_secs {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    response
}

/// The tenant of the `x-api-key` header, counted against its rate limits.
struct ApiKey(TenantAuth);

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty());
        let key = key.ok_or_else(|| fail(StatusCode::UNAUTHORIZED, "missing x-api-key header"))?;
        let principal =
            crate::http::auth::principal_for(state, key).await.map_err(|_| fail(StatusCode::UNAUTHORIZED, "invalid API key"))?;
        crate::http::rate_limit::enforce(state, parts, &principal).map_err(refusal)?;
        match principal {
            crate::http::auth::Principal::Tenant { tenant, key } => Ok(Self(TenantAuth { tenant, device: None, key: Some(key) })),
            crate::http::auth::Principal::Device { tenant, device, device_id } => {
                Ok(Self(TenantAuth { tenant, device: Some((device, device_id)), key: None }))
            }
            crate::http::auth::Principal::Admin => Err(fail(StatusCode::UNAUTHORIZED, "use a tenant's API key")),
        }
    }
}

fn body(result: Result<Fields, BodyError>) -> Result<Fields, Response> {
    result.map_err(|e| match e {
        BodyError::TooLarge => fail(StatusCode::PAYLOAD_TOO_LARGE, "the request is too large"),
        _ => fail(StatusCode::BAD_REQUEST, "the body must be a JSON object"),
    })
}

fn required(fields: &Fields, key: &str) -> Result<String, Response> {
    match fields.text(key) {
        Some(Ok(v)) => Ok(v.trim().to_owned()),
        Some(Err(())) => Err(fail(StatusCode::BAD_REQUEST, format!("{key} must be text"))),
        None => Err(fail(StatusCode::BAD_REQUEST, format!("{key} is required"))),
    }
}

fn optional(fields: &Fields, key: &str) -> Result<Option<String>, Response> {
    match fields.text(key) {
        Some(Ok(v)) => Ok(Some(v.trim().to_owned())),
        Some(Err(())) => Err(fail(StatusCode::BAD_REQUEST, format!("{key} must be text"))),
        None => Ok(None),
    }
}

/// A native field name as OneBloc's (camelCase).
fn field_name(native: Option<&str>) -> &'static str {
    match native.and_then(|f| f.rsplit('.').next()) {
        Some("to") => "recipientPhone",
        Some("link" | "base64" | "media_id" | "mime_type") => "mediaUrl",
        Some("worker_phone") => "workerPhone",
        Some("client_name") => "clientName",
        Some("task") => "task",
        Some("location") => "location",
        Some("map_link") => "mapLink",
        Some("notes") => "notes",
        Some("device_id") => "deviceId",
        _ => "message",
    }
}

fn invalid(error: ApiError) -> Response {
    if error.status == StatusCode::UNPROCESSABLE_ENTITY {
        return fail(StatusCode::BAD_REQUEST, format!("{}: {}", field_name(error.detail.field.as_deref()), error.detail.message));
    }
    refusal(error)
}

fn device_id(fields: &Fields) -> Result<Option<kirim_core::id::DeviceId>, Response> {
    match optional(fields, "deviceId")? {
        None => Ok(None),
        Some(raw) => raw.parse().map(Some).map_err(|_| fail(StatusCode::BAD_REQUEST, "deviceId is not a device id")),
    }
}

/// The message content of `messageType` (`text` by default; `image`, `voice`, `audio`,
/// `video`, `document` take `mediaUrl`, with `message` as the caption).
fn content(fields: &Fields) -> Result<MessageContent, Response> {
    let kind = optional(fields, "messageType")?.unwrap_or_else(|| "text".to_owned()).to_ascii_lowercase();
    let message = optional(fields, "message")?;
    if kind == "text" {
        return message.map(MessageContent::text).ok_or_else(|| fail(StatusCode::BAD_REQUEST, "message is required"));
    }
    let native = match kind.as_str() {
        "image" | "video" | "document" | "audio" => kind.as_str(),
        "voice" => "audio",
        _ => {
            return Err(fail(StatusCode::BAD_REQUEST, "messageType must be text, image, voice, audio, video or document"));
        }
    };
    let link = optional(fields, "mediaUrl")?.ok_or_else(|| fail(StatusCode::BAD_REQUEST, format!("mediaUrl is required for {kind}")))?;
    let media = MediaContent {
        link: Some(link),
        // WhatsApp audio has no caption.
        caption: if native == "audio" { None } else { message },
        filename: if native == "document" { optional(fields, "fileName")? } else { None },
        voice: kind == "voice",
        ..MediaContent::default()
    };
    Ok(MessageContent::media(native, media).expect("a media type"))
}

/// `POST /send-message {recipientPhone, message, messageType}`.
async fn send_message(State(state): State<AppState>, ApiKey(auth): ApiKey, fields: Result<Fields, BodyError>) -> Response {
    let fields = or_answer!(body(fields));
    let (phone, content, device) = match (required(&fields, "recipientPhone"), content(&fields), device_id(&fields)) {
        (Ok(p), Ok(c), Ok(d)) => (p, c, d),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let tokens = usage::cost(&state.config.usage.costs, &content);
    let input = SendInput::plain(device, phone, content);
    match messages::accept(&state, &Actor::from(&auth), input).await {
        Ok(accepted) => {
            let m = accepted.message;
            ok(
                json!({"messageId": m.id, "status": m.status, "recipientPhone": m.chat.as_str(), "messageType": m.content.kind(), "tokensUsed": tokens}),
            )
        }
        Err(e) => invalid(e),
    }
}

fn job_view(job: &Job) -> Value {
    json!({
        "jobId": job.reference(),
        "id": job.id,
        "status": job.state.status.as_str(),
        "workerPhone": job.worker.as_str(),
        "clientName": job.client_name,
        "task": job.task,
        "location": job.location,
        "mapLink": job.map_link,
        "scheduledFor": job.scheduled_for,
        "notes": job.notes,
        "deviceId": job.device_id,
        "messageId": job.dispatch_message_id,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
    })
}

/// `POST /send-job {workerPhone, clientName, task, location, mapLink?, scheduledFor?, notes?}`.
async fn send_job(State(state): State<AppState>, ApiKey(auth): ApiKey, fields: Result<Fields, BodyError>) -> Response {
    let fields = or_answer!(body(fields));
    let read = || -> Result<jobs::JobInput, Response> {
        let scheduled_for = match optional(&fields, "scheduledFor")? {
            None => None,
            Some(raw) => Some(
                DateTime::parse_from_rfc3339(&raw)
                    .map_err(|_| fail(StatusCode::BAD_REQUEST, "scheduledFor must be a date and time such as 2026-12-02T14:00:00+08:00"))?
                    .with_timezone(&Utc),
            ),
        };
        Ok(jobs::JobInput {
            device_id: device_id(&fields)?,
            worker_phone: required(&fields, "workerPhone")?,
            client_name: required(&fields, "clientName")?,
            task: required(&fields, "task")?,
            location: required(&fields, "location")?,
            map_link: optional(&fields, "mapLink")?,
            scheduled_for,
            notes: optional(&fields, "notes")?,
            idempotency_key: None,
            request_hash: String::new(),
        })
    };
    let input = or_answer!(read());
    match jobs::create(&state, &Actor::from(&auth), input).await {
        Ok((job, _, _)) => ok(job_view(&job)),
        Err(e) => invalid(e),
    }
}

/// `GET /tenant/status`: connected when any of the account's devices is.
async fn tenant_status(State(state): State<AppState>, ApiKey(auth): ApiKey) -> Response {
    let devices = match state.store.list_devices(auth.tenant_pk()).await {
        Ok(d) => d,
        Err(e) => return refusal(e.into()),
    };
    let devices: Vec<_> = devices.into_iter().filter(|d| auth.may_use_device(&d.id)).collect();
    let connected = devices.iter().find(|d| d.status == DeviceStatus::Connected);
    let list: Vec<Value> = devices
        .iter()
        .map(|d| json!({"deviceId": d.id, "name": d.name, "phone": d.phone.as_ref().map(|p| p.as_str()), "status": d.status}))
        .collect();
    ok(json!({
        "tenant": auth.tenant.name,
        "connected": connected.is_some(),
        "status": if connected.is_some() { "connected" } else { "disconnected" },
        "phone": connected.and_then(|d| d.phone.as_ref().map(|p| p.as_str().to_owned())),
        "devices": list,
    }))
}

/// `GET /tenant/usage`: today's tokens, the limit, what is left and when it renews.
async fn tenant_usage(State(state): State<AppState>, ApiKey(auth): ApiKey) -> Response {
    match usage::report(&state, &auth.tenant, 7).await {
        Ok(r) => {
            let history: Vec<Value> =
                r.history.iter().map(|d| json!({"date": d.date, "tokensUsed": d.used, "messages": d.messages})).collect();
            ok(json!({
                "date": r.history.first().map(|d| d.date),
                "tokensUsed": r.used,
                "dailyLimit": r.daily_token_limit,
                "remaining": r.remaining,
                "resetsAt": r.resets_at,
                "costs": r.costs,
                "history": history,
            }))
        }
        Err(e) => refusal(e),
    }
}

#[derive(serde::Deserialize)]
struct JobsQuery {
    status: Option<String>,
    limit: Option<String>,
}

/// `GET /jobs?status=PENDING|IN_PROGRESS|DONE|ISSUE|DELAYED`, newest first.
async fn jobs_list(
    State(state): State<AppState>,
    ApiKey(auth): ApiKey,
    query: Result<Query<JobsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else { return fail(StatusCode::BAD_REQUEST, "unreadable query string") };
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match jobs::parse_status("status", &raw.to_ascii_uppercase()) {
            Ok(s) => Some(s),
            Err(_) => return fail(StatusCode::BAD_REQUEST, "status must be PENDING, IN_PROGRESS, DONE, ISSUE or DELAYED"),
        },
    };
    let limit = match q.limit.as_deref().map(str::parse::<u32>) {
        None => 100,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => return fail(StatusCode::BAD_REQUEST, "limit must be a whole number from 1 to 500"),
    };
    let filter = JobFilter { status, worker: None, device: None, before: None, limit };
    match jobs::list(&state, &Actor::from(&auth), filter).await {
        Ok(list) => ok(Value::Array(list.iter().map(job_view).collect())),
        Err(e) => refusal(e),
    }
}

/// `GET /jobs/{id}`: by `J12` or the job's id.
async fn job_get(State(state): State<AppState>, ApiKey(auth): ApiKey, Path(id): Path<String>) -> Response {
    match jobs::find(&state, &Actor::from(&auth), &id).await {
        Ok(job) => ok(job_view(&job)),
        Err(e) if e.status == StatusCode::NOT_FOUND => fail(StatusCode::NOT_FOUND, "job not found"),
        Err(e) => refusal(e),
    }
}

fn message_view(m: &Message) -> Value {
    json!({
        "messageId": m.id,
        "status": m.status,
        "messageType": m.content.kind(),
        "createdAt": m.created_at,
        "sentAt": m.sent_at,
        "error": m.last_error,
    })
}

/// `GET /message-status/{phone}`: the latest messages sent to that number (at most 20).
async fn message_status(State(state): State<AppState>, ApiKey(auth): ApiKey, Path(phone): Path<String>) -> Response {
    let phone = match PhoneNumber::parse(&phone, state.config.default_country) {
        Ok(p) => p,
        Err(e) => return fail(StatusCode::BAD_REQUEST, format!("phone {e}")),
    };
    let device = auth.device.as_ref().map(|(pk, _)| *pk);
    let filter = MessageFilter {
        chat: Some(Recipient::Phone(phone.clone())),
        direction: Some(Direction::Outbound),
        device,
        limit: 20,
        ..MessageFilter::default()
    };
    match state.store.list_messages(auth.tenant_pk(), &filter).await {
        Ok(list) => {
            let latest = list.first().map(|m| m.status);
            ok(json!({"phone": phone.as_str(), "status": latest, "messages": list.iter().map(message_view).collect::<Vec<_>>()}))
        }
        Err(e) => refusal(e.into()),
    }
}

/// `POST /retry-failed`: every failed message is sent again (as a new message linked by
/// `resend_of`). Each failed message is retried once: calling again returns the same retries.
async fn retry_failed(State(state): State<AppState>, ApiKey(auth): ApiKey) -> Response {
    let device = auth.device.as_ref().map(|(pk, _)| *pk);
    let filter = MessageFilter {
        status: Some(MessageStatus::Failed),
        direction: Some(Direction::Outbound),
        device,
        limit: 500,
        ..MessageFilter::default()
    };
    let failed = match state.store.list_messages(auth.tenant_pk(), &filter).await {
        Ok(list) => list,
        Err(e) => return refusal(e.into()),
    };
    let ids: Vec<String> = failed.iter().map(|m| m.id.to_string()).collect();
    if ids.is_empty() {
        return ok(json!({"retried": 0, "messages": []}));
    }
    let actor = Actor::from(&auth);
    let mut retried = Vec::new();
    let mut refused = Vec::new();
    for chunk in ids.chunks(sending::MAX_BATCH) {
        match sending::resend_many(&state, &actor, chunk, Some("onebloc-retry")).await {
            Ok(results) => {
                for (id, result) in chunk.iter().zip(results) {
                    match result {
                        Ok(a) => retried.push(json!({"originalId": id, "messageId": a.message.id, "status": a.message.status})),
                        Err(e) => refused.push(json!({"originalId": id, "error": e.detail.message})),
                    }
                }
            }
            Err(e) => return refusal(e),
        }
    }
    ok(json!({"retried": retried.len(), "messages": retried, "notRetried": refused}))
}

#[cfg(test)]
mod tests {
    use super::field_name;

    #[test]
    fn native_fields_read_as_onebloc_names() {
        assert_eq!(field_name(Some("to")), "recipientPhone");
        assert_eq!(field_name(Some("image.link")), "mediaUrl");
        assert_eq!(field_name(Some("worker_phone")), "workerPhone");
        assert_eq!(field_name(None), "message");
    }
}
