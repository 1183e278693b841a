//! `POST /v1/devices/{id}/presence`: show "typing…" or "recording audio…" in a chat (or stop
//! showing it), through the device's connector. Nothing is queued or stored: a chat state
//! matters only while it is shown, so a device that is not connected is a 409.

use axum::extract::State;
use axum::http::StatusCode;
use kirim_core::Recipient;
use kirim_core::connector::Presence;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::services::Actor;
use crate::services::groups::{connector_error, target};

/// The chat state to show.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PresenceState {
    /// "typing…"
    Typing,
    /// "recording audio…"
    Recording,
    /// Neither: stops a "typing…" or "recording audio…" shown before.
    Paused,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    /// The chat: a phone number in any form, or a group JID (`…@g.us`).
    #[serde(deserialize_with = "super::string_or_number")]
    pub to: String,
    /// `typing`, `recording` or `paused`.
    #[schema(value_type = PresenceState)]
    pub state: String,
}

/// Show a typing (or recording) indicator in a chat, or clear it with `paused`.
#[utoipa::path(post, path = "/v1/devices/{id}/presence", tag = "devices", params(("id" = String, Path)), request_body = PresenceBody,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`device_not_connected`"),
        (status = 422, body = ErrorBody, description = "`invalid_field`, or `capability_unsupported` for a connector without chat states")),
    security(("bearer" = [])))]
pub async fn send(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<PresenceBody>,
) -> ApiResult<StatusCode> {
    let b = body.value;
    let presence: Presence = b.state.parse().map_err(|_| {
        ApiError::field("state", format!("`state` `{}` is not a chat state; use `typing`, `recording` or `paused`", b.state))
    })?;
    let to = Recipient::parse(&b.to, state.config.default_country).map_err(|e| ApiError::field("to", format!("`to` {e}")))?;
    let id = id.parse().map_err(|_| ApiError::not_found("device"))?;
    let t = target(&state, &Actor::from(&auth), &id)?;
    t.connector.send_presence(&t.device, &to, presence).await.map_err(connector_error)?;
    Ok(StatusCode::NO_CONTENT)
}
