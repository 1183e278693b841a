//! `/v1/numbers/check`: which numbers have a WhatsApp account, asked of a device's connector.

use axum::Json;
use axum::extract::State;
use kirim_core::id::DeviceId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use super::groups::{PhoneText, texts};
use crate::app::AppState;
use crate::services::Actor;
use crate::services::groups as service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// The device to ask through; a connected device of the account when omitted (a device
    /// token always uses its own).
    pub device_id: Option<String>,
    /// 1–100 numbers in any form.
    #[schema(value_type = Vec<String>, example = json!(["+60123456789", "012-345 6789"]))]
    pub phones: Vec<PhoneText>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    /// The number as it was sent.
    pub input: String,
    /// The number, normalized.
    #[schema(example = "+60123456789")]
    pub phone: String,
    pub on_whatsapp: bool,
    /// The account's WhatsApp id, when there is one.
    #[schema(example = "60123456789@s.whatsapp.net")]
    pub jid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    /// The device that asked.
    pub device_id: String,
    /// One entry per number sent, in order.
    pub data: Vec<CheckView>,
}

/// Check whether numbers are on WhatsApp.
#[utoipa::path(post, path = "/v1/numbers/check", tag = "groups", request_body = CheckBody,
    responses((status = 200, body = CheckResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`device_not_connected`, `no_connected_device`"),
        (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn check(State(state): State<AppState>, auth: TenantAuth, body: ApiJson<CheckBody>) -> ApiResult<Json<CheckResult>> {
    let b = body.value;
    let device_id: Option<DeviceId> = match b.device_id.as_deref() {
        Some(raw) => Some(raw.parse().map_err(|_| ApiError::not_found("device").with_field("device_id"))?),
        None => None,
    };
    let (device, checked) = service::check_numbers(&state, &Actor::from(&auth), device_id.as_ref(), &texts(b.phones)).await?;
    let data = checked
        .into_iter()
        .map(|c| CheckView { input: c.input, phone: c.check.phone.to_string(), on_whatsapp: c.check.on_whatsapp, jid: c.check.jid })
        .collect();
    Ok(Json(CheckResult { device_id: device.id.to_string(), data }))
}
