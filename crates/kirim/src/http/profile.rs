//! The device's WhatsApp account itself: its profile name (`PUT /v1/devices/{id}/profile`)
//! and the numbers it has blocked on WhatsApp (`/v1/devices/{id}/blocklist`). Both live on
//! the network, not in Kirim, so they need the device connected. Kirim's own blacklist
//! (`/v1/blacklist`) is different: numbers Kirim refuses to message, from any device.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kirim_core::PhoneNumber;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::services::Actor;
use crate::services::groups::{connector_error, target};

/// The longest profile name WhatsApp shows.
const MAX_NAME_CHARS: usize = 25;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// The name the device's contacts see, 1–25 characters.
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockBody {
    /// The number to block, in any form.
    #[serde(deserialize_with = "super::string_or_number")]
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Blocklist {
    /// E.164 numbers (or WhatsApp's id for a contact known only by it).
    pub data: Vec<String>,
}

fn phone(state: &AppState, raw: &str) -> ApiResult<PhoneNumber> {
    PhoneNumber::parse(raw, state.config.default_country).map_err(|e| ApiError::field("phone", format!("`phone` {e}")))
}

fn device_id(raw: &str) -> ApiResult<kirim_core::DeviceId> {
    raw.parse().map_err(|_| ApiError::not_found("device"))
}

/// Set the WhatsApp profile name of the device's account.
#[utoipa::path(put, path = "/v1/devices/{id}/profile", tag = "devices", params(("id" = String, Path)), request_body = ProfileBody,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`device_not_connected`"),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_name(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<ProfileBody>,
) -> ApiResult<StatusCode> {
    auth.require_tenant_key()?;
    let name = body.value.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::field("name", format!("`name` must be 1 to {MAX_NAME_CHARS} characters")));
    }
    let t = target(&state, &Actor::from(&auth), &device_id(&id)?)?;
    t.connector.set_profile_name(&t.device, &name).await.map_err(connector_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The numbers the device's WhatsApp account has blocked.
#[utoipa::path(get, path = "/v1/devices/{id}/blocklist", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = Blocklist), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<Blocklist>> {
    let t = target(&state, &Actor::from(&auth), &device_id(&id)?)?;
    Ok(Json(Blocklist { data: t.connector.blocklist(&t.device).await.map_err(connector_error)? }))
}

/// Block a number on WhatsApp for the device's account.
#[utoipa::path(post, path = "/v1/devices/{id}/blocklist", tag = "devices", params(("id" = String, Path)), request_body = BlockBody,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn block(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<BlockBody>,
) -> ApiResult<StatusCode> {
    auth.require_tenant_key()?;
    let number = phone(&state, &body.value.phone)?;
    let t = target(&state, &Actor::from(&auth), &device_id(&id)?)?;
    t.connector.set_blocked(&t.device, &number, true).await.map_err(connector_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblock a number on WhatsApp for the device's account.
#[utoipa::path(delete, path = "/v1/devices/{id}/blocklist/{phone}", tag = "devices",
    params(("id" = String, Path), ("phone" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn unblock(
    State(state): State<AppState>,
    auth: TenantAuth,
    axum::extract::Path((id, raw)): axum::extract::Path<(String, String)>,
) -> ApiResult<StatusCode> {
    auth.require_tenant_key()?;
    let number = phone(&state, &raw)?;
    let t = target(&state, &Actor::from(&auth), &device_id(&id)?)?;
    t.connector.set_blocked(&t.device, &number, false).await.map_err(connector_error)?;
    Ok(StatusCode::NO_CONTENT)
}
