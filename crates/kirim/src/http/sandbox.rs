//! `/v1/sandbox/…`: the simulated phone and world around the sandbox network — scan a QR,
//! write to a device, drop its connection, see what the network accepted. These act only on
//! the caller's own sandbox devices.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use kirim_core::PhoneNumber;
use kirim_core::device::{ConnectorKind, Device};
use kirim_core::message::{MessageContent, TextContent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use crate::app::AppState;
use crate::connectors::sandbox::{NetworkMessage, Sandbox, SandboxError, SimulatedInbound};
use crate::services::devices;

async fn sandbox_device(state: &AppState, auth: &TenantAuth, id: &str) -> ApiResult<(Arc<Sandbox>, Device)> {
    let id = id.parse().map_err(|_| ApiError::not_found("device"))?;
    let device = devices::get(state, auth, &id).await?;
    if device.connector != ConnectorKind::Sandbox {
        return Err(ApiError::conflict("not_a_sandbox_device", "this device is not on the sandbox network"));
    }
    let sandbox =
        state.sandbox.clone().ok_or_else(|| ApiError::conflict("connector_disabled", "the sandbox is disabled on this server"))?;
    Ok((sandbox, device))
}

fn sandbox_error(e: SandboxError) -> ApiError {
    match e {
        SandboxError::NotLinking => ApiError::conflict("not_linking", e.to_string()),
        SandboxError::NotConnected => ApiError::conflict("device_not_connected", e.to_string()),
        other => ApiError::unavailable(other.to_string()),
    }
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ScanRequest {
    /// The number the simulated phone has; a valid number is made up when omitted.
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScanResult {
    /// The number the device is now linked to.
    pub phone: String,
}

/// The simulated phone scans the device's QR code (or enters its pairing code).
#[utoipa::path(post, path = "/v1/sandbox/devices/{id}/scan", tag = "sandbox", params(("id" = String, Path)), request_body = ScanRequest,
    responses((status = 200, body = ScanResult), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn scan(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: ApiJson<ScanRequest>,
) -> ApiResult<Json<ScanResult>> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    let phone = match body.value.phone {
        Some(raw) => {
            Some(PhoneNumber::parse(&raw, state.config.default_country).map_err(|e| ApiError::field("phone", format!("`phone` {e}")))?)
        }
        None => None,
    };
    let linked = sandbox.scan(&device, phone).await.map_err(sandbox_error)?;
    Ok(Json(ScanResult { phone: linked.to_string() }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundRequest {
    /// Who writes to the device.
    #[serde(deserialize_with = "super::string_or_number")]
    pub from: String,
    /// The text they write.
    pub text: String,
    /// A group JID: the message is written in that group.
    pub group: Option<String>,
    /// The network id of the message this one replies to.
    pub reply_to: Option<String>,
    /// Give an id to simulate the network delivering the same message twice.
    pub network_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboundResult {
    pub network_id: String,
}

/// Someone writes to the device. Returns once Kirim has stored the message.
#[utoipa::path(post, path = "/v1/sandbox/devices/{id}/inbound", tag = "sandbox", params(("id" = String, Path)), request_body = InboundRequest,
    responses((status = 200, body = InboundResult), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn inbound(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: ApiJson<InboundRequest>,
) -> ApiResult<Json<InboundResult>> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    let b = body.value;
    let from = PhoneNumber::parse(&b.from, state.config.default_country).map_err(|e| ApiError::field("from", format!("`from` {e}")))?;
    if b.text.trim().is_empty() {
        return Err(ApiError::field("text", "`text` is empty"));
    }
    let group = match b.group {
        Some(g) => Some(kirim_core::Recipient::group(&g).map_err(|e| ApiError::field("group", format!("`group` {e}")))?.to_string()),
        None => None,
    };
    let message = SimulatedInbound {
        from,
        group,
        content: MessageContent::Text { text: TextContent { body: b.text, preview_url: false } },
        reply_to: b.reply_to,
        network_id: b.network_id,
    };
    let network_id = sandbox.inbound(&device, message).await.map_err(sandbox_error)?;
    Ok(Json(InboundResult { network_id }))
}

/// The device's connection drops; it reconnects with POST /v1/devices/{id}/connect.
#[utoipa::path(post, path = "/v1/sandbox/devices/{id}/disconnect", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn disconnect(State(state): State<AppState>, auth: TenantAuth, Path(id): Path<String>) -> ApiResult<axum::http::StatusCode> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    sandbox.drop_connection(&device).await.map_err(sandbox_error)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<NetworkMessage>,
}

/// What the network accepted from the device, in order, each message id once.
#[utoipa::path(get, path = "/v1/sandbox/devices/{id}/received", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Received)), security(("bearer" = [])))]
pub async fn received(State(state): State<AppState>, auth: TenantAuth, Path(id): Path<String>) -> ApiResult<Json<Received>> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    Ok(Json(Received { data: sandbox.received(device.pk) }))
}
