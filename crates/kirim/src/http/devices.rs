//! `/v1/devices`: create, inspect, change, link (QR or pairing code), unlink, delete.

use axum::Json;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kirim_core::PhoneNumber;
use kirim_core::connector::LinkMethod;
use kirim_core::device::{ConnectorKind, Device, DeviceSettings, DeviceStatus, SettingsPatch};
use kirim_core::id::DeviceId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::{List, qr};
use crate::app::AppState;
use crate::services::devices;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    /// A name for the number, 1–100 characters.
    pub name: String,
    /// `sandbox` (simulated network), `whatsapp-web` or `cloud-api`.
    pub connector: ConnectorKind,
    /// Sending behaviour; server defaults for the fields omitted.
    pub settings: Option<SettingsPatch>,
    /// Connector-specific settings.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateDevice {
    pub name: Option<String>,
    /// Only the fields given change.
    pub settings: Option<SettingsPatch>,
    /// A label grouping devices (1–50 characters); `null` or `""` clears it.
    #[serde(deserialize_with = "super::webhooks::nullable")]
    #[schema(value_type = Option<String>)]
    pub workspace: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: DeviceId,
    pub name: String,
    pub connector: ConnectorKind,
    pub status: DeviceStatus,
    /// Why the device is in this status, when there is more to say.
    pub status_detail: Option<String>,
    /// The linked number, once known.
    #[schema(value_type = Option<String>)]
    pub phone: Option<PhoneNumber>,
    /// Present while a QR code is waiting to be scanned (`GET /v1/devices/{id}/qr`).
    pub qr_expires_at: Option<DateTime<Utc>>,
    /// Present while a pairing code is waiting to be entered on the phone.
    pub pair_code: Option<String>,
    pub settings: DeviceSettings,
    /// The label grouping this device, if any.
    pub workspace: Option<String>,
    /// Messages it may still send; `null`: unlimited. Set by the operator.
    pub quota: Option<u64>,
    /// When it stops accepting sends; `null`: never. Set by the operator.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Device> for DeviceView {
    fn from(d: Device) -> Self {
        Self {
            id: d.id,
            name: d.name,
            connector: d.connector,
            status: d.status,
            status_detail: d.status_detail,
            phone: d.phone,
            qr_expires_at: d.qr.map(|q| q.expires_at),
            pair_code: d.pair_code.map(|p| p.code),
            settings: d.settings,
            workspace: d.workspace,
            quota: d.limits.quota,
            expires_at: d.limits.expires_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCreated {
    #[serde(flatten)]
    pub device: DeviceView,
    /// A token that can act only on this device. Shown only in this response.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectRequest {
    /// `qr` (default) or `pair_code`.
    pub method: Option<String>,
    /// The phone number to link, for `pair_code`.
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairCodeRequest {
    /// The number of the phone that will enter the code, in any form.
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QrView {
    /// The string encoded in the QR code.
    pub qr: String,
    pub expires_at: DateTime<Utc>,
    /// The QR as a PNG data URL, ready for an `<img src>`.
    pub image: String,
}

fn device_id(raw: &str) -> ApiResult<DeviceId> {
    raw.parse().map_err(|_| ApiError::not_found("device"))
}

/// Create a device. The response carries its device token, shown once.
#[utoipa::path(post, path = "/v1/devices", tag = "devices", request_body = CreateDevice,
    responses((status = 201, body = DeviceCreated), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    body: ApiJson<CreateDevice>,
) -> ApiResult<(StatusCode, Json<DeviceCreated>)> {
    let b = body.value;
    let created = devices::create(&state, &auth, &b.name, b.connector, b.settings, b.config.unwrap_or(serde_json::Value::Null)).await?;
    Ok((StatusCode::CREATED, Json(DeviceCreated { device: created.device.into(), token: created.token.expose().to_owned() })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeviceListQuery {
    /// Only the devices of this workspace.
    pub workspace: Option<String>,
}

/// List the tenant's devices (a device token sees only its own).
#[utoipa::path(get, path = "/v1/devices", tag = "devices", params(DeviceListQuery),
    responses((status = 200, body = List<DeviceView>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    crate::http::extract::ApiQuery(q): crate::http::extract::ApiQuery<DeviceListQuery>,
) -> ApiResult<Json<List<DeviceView>>> {
    let rows = state.store.list_devices(auth.tenant_pk()).await?;
    let wanted = q.workspace.as_deref().map(str::trim);
    let data = rows
        .into_iter()
        .filter(|d| auth.may_use_device(&d.id) && wanted.is_none_or(|w| d.workspace.as_deref() == Some(w)))
        .map(DeviceView::from)
        .collect();
    Ok(Json(List { data, next: None }))
}

#[utoipa::path(get, path = "/v1/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<DeviceView>> {
    Ok(Json(devices::get(&state, &auth, &device_id(&id)?).await?.into()))
}

#[utoipa::path(patch, path = "/v1/devices/{id}", tag = "devices", params(("id" = String, Path)), request_body = UpdateDevice,
    responses((status = 200, body = DeviceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<UpdateDevice>,
) -> ApiResult<Json<DeviceView>> {
    let b = body.value;
    Ok(Json(devices::update(&state, &auth, &device_id(&id)?, b.name, b.settings, b.workspace).await?.into()))
}

/// Delete a device: its session is stopped and its pending messages are cancelled.
#[utoipa::path(delete, path = "/v1/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    devices::delete(&state, &auth, &device_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start linking: by QR (default) or pairing code. Follow progress on the device's status.
#[utoipa::path(post, path = "/v1/devices/{id}/connect", tag = "devices", params(("id" = String, Path)), request_body = ConnectRequest,
    responses((status = 202, body = DeviceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn connect(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<ConnectRequest>,
) -> ApiResult<(StatusCode, Json<DeviceView>)> {
    let id = device_id(&id)?;
    let method = match body.value.method.as_deref().unwrap_or("qr") {
        "qr" => LinkMethod::Qr,
        "pair_code" => {
            let phone = body.value.phone.ok_or_else(|| ApiError::field("phone", "`phone` is required with method `pair_code`"))?;
            LinkMethod::PairCode { phone: parse_phone(&state, &phone)? }
        }
        _ => return Err(ApiError::field("method", "`method` must be `qr` or `pair_code`")),
    };
    let device = devices::connect(&state, &auth, &id, method).await?;
    Ok((StatusCode::ACCEPTED, Json(device.into())))
}

fn parse_phone(state: &AppState, raw: &str) -> ApiResult<PhoneNumber> {
    PhoneNumber::parse(raw, state.config.default_country).map_err(|e| ApiError::field("phone", format!("`phone` {e}")))
}

/// Link by pairing code: the phone with this number enters the code shown in the response.
#[utoipa::path(post, path = "/v1/devices/{id}/pair-code", tag = "devices", params(("id" = String, Path)), request_body = PairCodeRequest,
    responses((status = 202, body = DeviceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn pair_code(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<PairCodeRequest>,
) -> ApiResult<(StatusCode, Json<DeviceView>)> {
    let phone = parse_phone(&state, &body.value.phone)?;
    let device = devices::connect(&state, &auth, &device_id(&id)?, LinkMethod::PairCode { phone }).await?;
    Ok((StatusCode::ACCEPTED, Json(device.into())))
}

/// The current QR code: JSON by default; the image itself with `Accept: image/png` or `image/svg+xml`.
#[utoipa::path(get, path = "/v1/devices/{id}/qr", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = QrView), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn qr_code(State(state): State<AppState>, auth: TenantAuth, headers: HeaderMap, ApiPath(id): ApiPath) -> ApiResult<Response> {
    let device = devices::get(&state, &auth, &device_id(&id)?).await?;
    let Some(code) = device.qr else {
        let hint = match device.status {
            DeviceStatus::Connected => "the device is already linked",
            DeviceStatus::AwaitingPairCode => "the device is linking by pairing code; see `pair_code` on the device",
            _ => "there is no QR code to scan; call POST /v1/devices/{id}/connect first",
        };
        return Err(ApiError::conflict("no_qr_code", hint));
    };
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let render_failed = || ApiError::unavailable("the QR code could not be rendered; try again");
    if accept.contains("image/png") {
        let png = qr::png(&code.code).ok_or_else(render_failed)?;
        return Ok(([(CONTENT_TYPE, "image/png")], png).into_response());
    }
    if accept.contains("image/svg+xml") {
        let svg = qr::svg(&code.code).ok_or_else(render_failed)?;
        return Ok(([(CONTENT_TYPE, "image/svg+xml")], svg).into_response());
    }
    let image = qr::png_data_url(&code.code).ok_or_else(render_failed)?;
    Ok(Json(QrView { qr: code.code, expires_at: code.expires_at, image }).into_response())
}

/// Unlink the device from its phone.
#[utoipa::path(post, path = "/v1/devices/{id}/logout", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn logout(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<DeviceView>> {
    Ok(Json(devices::logout(&state, &auth, &device_id(&id)?).await?.into()))
}

/// Issue a new device token; the old one stops working.
#[utoipa::path(post, path = "/v1/devices/{id}/token", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceCreated), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn rotate_token(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<DeviceCreated>> {
    let created = devices::rotate_token(&state, &auth, &device_id(&id)?).await?;
    Ok(Json(DeviceCreated { device: created.device.into(), token: created.token.expose().to_owned() }))
}
