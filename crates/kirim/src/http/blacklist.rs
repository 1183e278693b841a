//! `/v1/blacklist`: numbers the account must never message, and the opt-out keywords with
//! which a number puts itself on the list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kirim_core::PhoneNumber;
use kirim_core::contact::{BlacklistAdd, BlacklistEntry, BlacklistSettings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::services::blacklist as service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlacklistBody {
    /// The number in any form.
    #[serde(deserialize_with = "super::string_or_number")]
    #[schema(value_type = String, example = "+60123456789")]
    pub phone: String,
    /// Why (up to 255 characters). Opt-outs record `opt_out`.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlacklistView {
    #[schema(value_type = String, example = "+60123456789")]
    pub phone: PhoneNumber,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<BlacklistEntry> for BlacklistView {
    fn from(e: BlacklistEntry) -> Self {
        Self { phone: e.phone, reason: e.reason, created_at: e.created_at }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// Inbound texts that, alone and ignoring case, blacklist their sender (up to 20, each
    /// 1–50 characters). `[]` turns opt-outs off.
    #[schema(example = json!(["STOP", "UNSUBSCRIBE"]))]
    pub opt_out_keywords: Vec<String>,
    /// Sent back, once, to a number that opted out; omit or `null` to send nothing.
    pub confirmation: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    pub opt_out_keywords: Vec<String>,
    pub confirmation: Option<String>,
    /// `null` until the settings are first saved.
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<BlacklistSettings> for SettingsView {
    fn from(s: BlacklistSettings) -> Self {
        Self { opt_out_keywords: s.opt_out_keywords, confirmation: s.confirmation, updated_at: s.updated_at }
    }
}

/// Blacklist a number: `201` when added (with a `blacklist.added` event), `200` with the
/// existing entry when it was on the list already.
#[utoipa::path(post, path = "/v1/blacklist", tag = "blacklist", request_body = BlacklistBody,
    responses((status = 201, body = BlacklistView), (status = 200, body = BlacklistView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn add(
    State(state): State<AppState>,
    auth: TenantAuth,
    body: ApiJson<BlacklistBody>,
) -> ApiResult<(StatusCode, Json<BlacklistView>)> {
    let b = body.value;
    Ok(match service::add(&state, &(&auth).into(), &b.phone, b.reason).await? {
        BlacklistAdd::Added(e) => (StatusCode::CREATED, Json(e.into())),
        BlacklistAdd::Existing(e) => (StatusCode::OK, Json(e.into())),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Cursor: the `next` of the previous page (a number).
    pub after: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// The blacklist, sorted by number.
#[utoipa::path(get, path = "/v1/blacklist", tag = "blacklist", params(ListQuery),
    responses((status = 200, body = List<BlacklistView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<List<BlacklistView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let rows = service::list(&state, &(&auth).into(), q.after.as_deref(), limit).await?;
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|e| e.phone.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(BlacklistView::from).collect(), next }))
}

/// Take a number off the blacklist; `404` when it is not on it.
#[utoipa::path(delete, path = "/v1/blacklist/{phone}", tag = "blacklist", params(("phone" = String, Path, description = "The number in any form")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn remove(State(state): State<AppState>, auth: TenantAuth, ApiPath(phone): ApiPath) -> ApiResult<StatusCode> {
    service::remove(&state, &(&auth).into(), &phone).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The opt-out settings (no keywords until set).
#[utoipa::path(get, path = "/v1/blacklist/settings", tag = "blacklist",
    responses((status = 200, body = SettingsView)), security(("bearer" = [])))]
pub async fn get_settings(State(state): State<AppState>, auth: TenantAuth) -> ApiResult<Json<SettingsView>> {
    Ok(Json(service::settings(&state, &(&auth).into()).await?.into()))
}

/// Replace the opt-out settings.
#[utoipa::path(put, path = "/v1/blacklist/settings", tag = "blacklist", request_body = SettingsBody,
    responses((status = 200, body = SettingsView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_settings(State(state): State<AppState>, auth: TenantAuth, body: ApiJson<SettingsBody>) -> ApiResult<Json<SettingsView>> {
    let b = body.value;
    Ok(Json(service::put_settings(&state, &(&auth).into(), b.opt_out_keywords, b.confirmation).await?.into()))
}
