//! `/v1/sandbox/devices/{id}/call` and `/presence`: the sandbox's simulated world calls a
//! device, and shows which chat states ("typing…") a device showed — so that declining calls
//! and typing indicators can be tried end to end without a phone.

use axum::Json;
use axum::extract::{Path, State};
use kirim_core::PhoneNumber;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use super::sandbox::{sandbox_device, sandbox_error};
use crate::app::AppState;
use crate::connectors::sandbox::{CallOutcome, PresenceShown, SimulatedCall};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// Who calls the device.
    #[serde(deserialize_with = "super::string_or_number")]
    pub from: String,
    /// A video call (default: voice).
    #[serde(default)]
    pub video: bool,
}

/// Someone calls the device. Returns once Kirim recorded the call (event `call.received`),
/// saying whether the device declined it (`settings.reject_calls`).
#[utoipa::path(post, path = "/v1/sandbox/devices/{id}/call", tag = "sandbox", params(("id" = String, Path)), request_body = CallRequest,
    responses((status = 200, body = Object, description = "`{call_id, rejected}`"), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn call(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: ApiJson<CallRequest>,
) -> ApiResult<Json<CallOutcome>> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    let b = body.value;
    let from = PhoneNumber::parse(&b.from, state.config.default_country).map_err(|e| ApiError::field("from", format!("`from` {e}")))?;
    let outcome = sandbox.call(&device, SimulatedCall { from, video: b.video }).await.map_err(sandbox_error)?;
    Ok(Json(outcome))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PresencesShown {
    /// `{to, state, at}`, oldest first (the last 100).
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<PresenceShown>,
}

/// The chat states the device showed ("typing…", "recording audio…", "paused"), oldest first.
#[utoipa::path(get, path = "/v1/sandbox/devices/{id}/presence", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = PresencesShown)), security(("bearer" = [])))]
pub async fn presences(State(state): State<AppState>, auth: TenantAuth, Path(id): Path<String>) -> ApiResult<Json<PresencesShown>> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    Ok(Json(PresencesShown { data: sandbox.presences(device.pk) }))
}
