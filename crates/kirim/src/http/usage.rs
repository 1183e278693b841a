//! `GET /v1/usage` (a tenant's tokens today and by day), and the operator's limits: a
//! tenant's daily token budget (`PATCH /v1/tenants/{id}`) and a device's quota and expiry
//! (`PUT /v1/devices/{id}/limits`).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use kirim_core::id::{DeviceId, TenantId};
use kirim_core::usage::DeviceLimits;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{AnyAuth, Principal};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::tenants::TenantView;
use super::webhooks::nullable;
use crate::app::AppState;
use crate::services::usage::{self, UsageReport};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// How many days of history, today included (1–90, default 7).
    pub days: Option<String>,
    /// The tenant to report on: required with the admin token; a tenant key may name only its own.
    pub tenant_id: Option<String>,
}

/// Today's tokens used and left, when the budget renews, what each type costs, and the use by day.
#[utoipa::path(get, path = "/v1/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, body = UsageReport), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    AnyAuth(principal): AnyAuth,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult<Json<UsageReport>> {
    let days = usage::parse_days(q.days.as_deref())?;
    let not_found = || ApiError::not_found("tenant").with_field("tenant_id");
    let asked: Option<TenantId> = q.tenant_id.as_deref().map(|raw| raw.parse().map_err(|_| not_found())).transpose()?;
    let id = match (&principal, asked) {
        (Principal::Admin, Some(id)) => id,
        (Principal::Admin, None) => return Err(ApiError::field("tenant_id", "with the admin token, name the tenant: `?tenant_id=…`")),
        (Principal::Tenant { tenant, .. }, None) => tenant.id.clone(),
        (Principal::Tenant { tenant, .. }, Some(id)) if id == tenant.id => id,
        (Principal::Tenant { .. }, Some(_)) => return Err(not_found()),
        (Principal::Device { .. }, _) => return Err(ApiError::forbidden("a device token cannot read the account's usage; use an API key")),
    };
    // Read afresh: the operator may have just changed the budget.
    let tenant = state.store.get_tenant(&id).await?.ok_or_else(not_found)?;
    Ok(Json(usage::report(&state, &tenant, days).await?))
}

/// A tenant's own budget and devices' limits are the operator's to set.
fn operator_only() -> ApiError {
    ApiError::forbidden("only the operator (admin token) sets budgets, quotas and expiry")
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateTenant {
    /// Tokens the tenant may spend per UTC day; `null`: unlimited; omitted: unchanged.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<u64>)]
    pub daily_token_limit: Option<Option<u64>>,
}

/// Change a tenant (admin token): its daily token budget. Takes effect for the next send.
#[utoipa::path(patch, path = "/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path)), request_body = UpdateTenant,
    responses((status = 200, body = TenantView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update_tenant(
    State(state): State<AppState>,
    AnyAuth(principal): AnyAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<UpdateTenant>,
) -> ApiResult<Json<TenantView>> {
    let id: TenantId = id.parse().map_err(|_| ApiError::not_found("tenant"))?;
    match &principal {
        Principal::Admin => {}
        Principal::Tenant { tenant, .. } | Principal::Device { tenant, .. } if tenant.id == id => return Err(operator_only()),
        // Another tenant does not exist for this caller.
        _ => return Err(ApiError::not_found("tenant")),
    }
    let tenant = state.store.get_tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    if let Some(limit) = body.value.daily_token_limit {
        if limit.is_some_and(|n| n > i64::MAX as u64) {
            return Err(ApiError::field("daily_token_limit", "`daily_token_limit` is too large; use null for unlimited"));
        }
        if !state.store.set_daily_token_limit(tenant.pk, limit).await? {
            return Err(ApiError::not_found("tenant"));
        }
        // Authenticated tenants are cached with their budget.
        state.auth.invalidate();
    }
    let tenant = state.store.get_tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(tenant.into()))
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PutDeviceLimits {
    /// Messages the device may still send (each accepted send takes one; a cancelled or
    /// permanently failed one gives it back); `null` or omitted: unlimited.
    pub quota: Option<u64>,
    /// From this time on the device refuses sends; `null` or omitted: never.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceLimitsView {
    pub device_id: DeviceId,
    pub quota: Option<u64>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Set a device's quota and expiry (admin token), replacing both.
#[utoipa::path(put, path = "/v1/devices/{id}/limits", tag = "devices", params(("id" = String, Path)), request_body = PutDeviceLimits,
    responses((status = 200, body = DeviceLimitsView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_device_limits(
    State(state): State<AppState>,
    AnyAuth(principal): AnyAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<PutDeviceLimits>,
) -> ApiResult<Json<DeviceLimitsView>> {
    let id: DeviceId = id.parse().map_err(|_| ApiError::not_found("device"))?;
    match &principal {
        Principal::Admin => {}
        Principal::Tenant { tenant, .. } | Principal::Device { tenant, .. } => {
            return Err(match state.store.get_device(tenant.pk, &id).await? {
                Some(_) => operator_only(),
                None => ApiError::not_found("device"),
            });
        }
    }
    let PutDeviceLimits { quota, expires_at } = body.value;
    if quota.is_some_and(|n| n > i64::MAX as u64) {
        return Err(ApiError::field("quota", "`quota` is too large; use null for unlimited"));
    }
    let limits = DeviceLimits { quota, expires_at };
    let tenant = state.store.set_device_limits(&id, limits, state.clock.now()).await?.ok_or_else(|| ApiError::not_found("device"))?;
    // The registry's copy says whether the device has limits (a quota's count is the store's).
    if let Some(device) = state.store.get_device(tenant, &id).await? {
        state.devices.upsert(device);
    }
    Ok(Json(DeviceLimitsView { device_id: id, quota, expires_at }))
}
