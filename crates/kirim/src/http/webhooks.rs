//! `/v1/webhooks`: endpoints that receive the event log as signed HTTP posts (Standard
//! Webhooks), their secrets, test events and the log of every delivery attempt.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kirim_core::store::DeliveryFilter;
use kirim_core::webhook::{Attempt, Delivery, DeliveryStatus, Webhook, WebhookFormat};
use kirim_core::{DeliveryId, DeviceId, EventId, WebhookId};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use crate::app::AppState;
use crate::services::webhooks::{self as service, WebhookInput};

/// Distinguishes a field sent as `null` (clear it) from a field left out (keep it).
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookBody {
    /// Where events are posted: an `https://` (or `http://`) URL on the public internet.
    pub url: Option<String>,
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Only these event types (e.g. `["message.received", "message.delivered"]`); `null` or
    /// omitted for all.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    /// Only events of these devices; `null` or omitted for all the account's devices.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub device_ids: Option<Option<Vec<String>>>,
    /// Send the replies a `message.received` response carries (plain text, or
    /// `{"data": [{"category": "text", "message": "…"}]}`).
    pub auto_reply: Option<bool>,
    /// Turn the endpoint off or back on (re-enabling clears its failure streak).
    pub enabled: Option<bool>,
    /// The body shape: `standard` (`{type, timestamp, data}`, the default) or `wablas`
    /// (Wablas's incoming, tracking and device payloads, for receivers written for it).
    pub format: Option<WebhookFormat>,
}

impl From<WebhookBody> for WebhookInput {
    fn from(b: WebhookBody) -> Self {
        Self {
            url: b.url,
            description: b.description,
            event_types: b.event_types,
            device_ids: b.device_ids,
            auto_reply: b.auto_reply,
            enabled: b.enabled,
            format: b.format,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: WebhookId,
    pub url: String,
    pub description: Option<String>,
    /// `null` means every event type.
    pub event_types: Option<Vec<String>>,
    /// `null` means every device of the account.
    pub device_ids: Option<Vec<DeviceId>>,
    pub auto_reply: bool,
    pub format: WebhookFormat,
    pub enabled: bool,
    /// Why Kirim disabled it (410 Gone, or failing for days).
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the previous secret still signs (after a rotation).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Webhook> for WebhookView {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            description: w.description,
            event_types: w.event_types,
            device_ids: w.devices,
            auto_reply: w.auto_reply,
            format: w.format,
            enabled: w.enabled,
            disabled_reason: w.disabled_reason,
            failing_since: w.failing_since,
            previous_secret_expires_at: w.previous_secret.map(|(_, until)| until),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The signing secret (`whsec_…`), shown only in this response. Verify every request's
    /// `webhook-signature` with it, using any Standard Webhooks library.
    pub secret: String,
}

fn with_secret(w: service::WithSecret) -> WebhookWithSecret {
    WebhookWithSecret { webhook: w.webhook.into(), secret: w.secret.expose().to_owned() }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: DeliveryId,
    /// The event, and the `webhook-id` header of every attempt.
    pub event_id: EventId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every attempt (single-delivery responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<Attempt>>,
}

impl DeliveryView {
    fn new(d: Delivery, attempts: Option<Vec<Attempt>>) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempt_log: attempts,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `pending`, `succeeded` or `failed`.
    pub status: Option<String>,
    /// Only deliveries of this event type.
    pub event_type: Option<String>,
    /// Cursor: deliveries older than this one (`next` of the previous page).
    pub before: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    /// The test event's id: the `webhook-id` the endpoint will see.
    pub event_id: EventId,
}

/// Register an endpoint. The response carries its signing secret, shown once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookBody,
    responses((status = 201, body = WebhookWithSecret), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    body: ApiJson<WebhookBody>,
) -> ApiResult<(StatusCode, Json<WebhookWithSecret>)> {
    let created = service::create(&state, &(&auth).into(), body.value.into()).await?;
    Ok((StatusCode::CREATED, Json(with_secret(created))))
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", responses((status = 200, body = List<WebhookView>)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth) -> ApiResult<Json<List<WebhookView>>> {
    let data = service::list(&state, &(&auth).into()).await?.into_iter().map(WebhookView::from).collect();
    Ok(Json(List { data, next: None }))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    auth: TenantAuth,
    super::extract::ApiPath(id): super::extract::ApiPath,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(service::get(&state, &(&auth).into(), &id).await?.into()))
}

/// Change an endpoint: only the fields sent change; `null` clears a filter.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), request_body = WebhookBody,
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    super::extract::ApiPath(id): super::extract::ApiPath,
    body: ApiJson<WebhookBody>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(service::update(&state, &(&auth).into(), &id, body.value.into()).await?.into()))
}

/// Delete an endpoint; its pending deliveries fail.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    auth: TenantAuth,
    super::extract::ApiPath(id): super::extract::ApiPath,
) -> ApiResult<StatusCode> {
    service::delete(&state, &(&auth).into(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issue a new signing secret. The previous one keeps signing for 24 hours (both signatures
/// are sent), so receivers can switch without losing events.
#[utoipa::path(post, path = "/v1/webhooks/{id}/secret", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = WebhookWithSecret), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: TenantAuth,
    super::extract::ApiPath(id): super::extract::ApiPath,
) -> ApiResult<Json<WebhookWithSecret>> {
    Ok(Json(with_secret(service::rotate_secret(&state, &(&auth).into(), &id).await?)))
}

/// Send a `webhook.test` event to this endpoint; watch it in its deliveries.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 202, body = TestSent), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    auth: TenantAuth,
    super::extract::ApiPath(id): super::extract::ApiPath,
) -> ApiResult<(StatusCode, Json<TestSent>)> {
    let event_id = service::test(&state, &(&auth).into(), &id).await?;
    Ok((StatusCode::ACCEPTED, Json(TestSent { event_id })))
}

/// The endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), DeliveryQuery),
    responses((status = 200, body = List<DeliveryView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: TenantAuth,
    super::extract::ApiPath(id): super::extract::ApiPath,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> ApiResult<Json<List<DeliveryView>>> {
    let status = match q.status.as_deref() {
        Some(raw) => Some(
            DeliveryStatus::parse(raw).ok_or_else(|| ApiError::field("status", "`status` must be `pending`, `succeeded` or `failed`"))?,
        ),
        None => None,
    };
    let before = match q.before.as_deref() {
        Some(raw) => Some(raw.parse::<DeliveryId>().map_err(|e| ApiError::field("before", format!("`before`: {e}")))?),
        None => None,
    };
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let filter = DeliveryFilter { status, event_type: q.event_type, before, limit };
    let rows = service::deliveries(&state, &(&auth).into(), &id, filter).await?;
    let next = (rows.len() as u32 == limit).then(|| rows.last().map(|d| d.id.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(|d| DeliveryView::new(d, None)).collect(), next }))
}

/// One delivery with every attempt: status code, duration, error and the start of the response.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries/{delivery_id}", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delivery(
    State(state): State<AppState>,
    auth: TenantAuth,
    super::extract::ApiPath2(id, delivery_id): super::extract::ApiPath2,
) -> ApiResult<Json<DeliveryView>> {
    let (found, attempts) = service::delivery(&state, &(&auth).into(), &id, &delivery_id).await?;
    Ok(Json(DeliveryView::new(found, Some(attempts))))
}

/// Deliver again now (also a delivery that succeeded or failed).
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, body = DeliveryView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    auth: TenantAuth,
    super::extract::ApiPath2(id, delivery_id): super::extract::ApiPath2,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    let retried = service::retry(&state, &(&auth).into(), &id, &delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::new(retried, None))))
}
