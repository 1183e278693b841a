//! `/v1/tenants` and `/v1/keys`: the operator creates tenants; tenants manage their keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kirim_core::id::{KeyId, TenantId};
use kirim_core::tenant::{ApiKey, Tenant};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::{AdminAuth, AnyAuth, Principal};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::services::tenants;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// A name for the customer, 1–100 characters.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: TenantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Tokens it may spend per UTC day; `null`: unlimited (see `GET /v1/usage`).
    pub daily_token_limit: Option<u64>,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self { id: t.id, name: t.name, created_at: t.created_at, daily_token_limit: t.daily_token_limit }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantCreated {
    pub id: TenantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The tenant's first API key. Shown only in this response: store it now.
    pub api_key: String,
    pub api_key_id: KeyId,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CreateKey {
    /// A label to tell keys apart (default `key`).
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: KeyId,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> Self {
        Self { id: k.id, name: k.name, prefix: k.prefix, created_at: k.created_at, last_used_at: k.last_used_at, revoked_at: k.revoked_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyCreated {
    #[serde(flatten)]
    pub key: KeyView,
    /// The API key itself. Shown only in this response.
    pub api_key: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TenantListQuery {
    /// Return tenants after this id.
    pub after: Option<TenantId>,
    /// At most this many (1–500, default 100).
    pub limit: Option<String>,
}

/// Create a tenant (admin token). The response carries its first API key, shown once.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = TenantCreated), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _: AdminAuth,
    body: ApiJson<CreateTenant>,
) -> ApiResult<(StatusCode, Json<TenantCreated>)> {
    let (tenant, key, secret) =
        tenants::create(state.store.as_ref(), state.clock.as_ref(), &body.value.name, state.config.usage.default_daily_tokens).await?;
    Ok((
        StatusCode::CREATED,
        Json(TenantCreated {
            id: tenant.id,
            name: tenant.name,
            created_at: tenant.created_at,
            api_key: secret.expose().to_owned(),
            api_key_id: key.id,
        }),
    ))
}

/// List tenants (admin token), oldest first.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(TenantListQuery),
    responses((status = 200, body = List<TenantView>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiQuery(q): ApiQuery<TenantListQuery>,
) -> ApiResult<Json<List<TenantView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 100, 500)?;
    let rows = state.store.list_tenants(q.after.as_ref(), limit).await?;
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|t| t.id.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(TenantView::from).collect(), next }))
}

/// The tenant a caller may see: any for the operator, its own for a tenant.
async fn visible_tenant(state: &AppState, principal: &Principal, id: &TenantId) -> ApiResult<Tenant> {
    let tenant = match principal {
        Principal::Admin => state.store.get_tenant(id).await?,
        Principal::Tenant { tenant, .. } => (tenant.id == *id).then(|| tenant.clone()),
        Principal::Device { .. } => {
            return Err(ApiError::forbidden("a device token cannot manage the tenant; use the tenant's API key"));
        }
    };
    tenant.ok_or_else(|| ApiError::not_found("tenant"))
}

/// Get a tenant (admin token, or the tenant's own key).
#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, AnyAuth(principal): AnyAuth, ApiPath(id): ApiPath) -> ApiResult<Json<TenantView>> {
    let id: TenantId = id.parse().map_err(|_| ApiError::not_found("tenant"))?;
    Ok(Json(visible_tenant(&state, &principal, &id).await?.into()))
}

/// Create another API key for a tenant. The key is shown once.
#[utoipa::path(post, path = "/v1/tenants/{id}/keys", tag = "tenants", params(("id" = String, Path)), request_body = CreateKey,
    responses((status = 201, body = KeyCreated), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    AnyAuth(principal): AnyAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<KeyCreated>)> {
    let id: TenantId = id.parse().map_err(|_| ApiError::not_found("tenant"))?;
    let tenant = visible_tenant(&state, &principal, &id).await?;
    let name = body.value.name.unwrap_or_else(|| "key".to_owned());
    let (key, secret) = tenants::create_key(state.store.as_ref(), state.clock.as_ref(), &tenant, &name).await?;
    Ok((StatusCode::CREATED, Json(KeyCreated { key: key.into(), api_key: secret.expose().to_owned() })))
}

/// List a tenant's API keys (never the keys themselves).
#[utoipa::path(get, path = "/v1/tenants/{id}/keys", tag = "tenants", params(("id" = String, Path)),
    responses((status = 200, body = List<KeyView>)), security(("bearer" = [])))]
pub async fn list_keys(State(state): State<AppState>, AnyAuth(principal): AnyAuth, ApiPath(id): ApiPath) -> ApiResult<Json<List<KeyView>>> {
    let id: TenantId = id.parse().map_err(|_| ApiError::not_found("tenant"))?;
    let tenant = visible_tenant(&state, &principal, &id).await?;
    let keys = state.store.list_api_keys(tenant.pk).await?;
    Ok(Json(List { data: keys.into_iter().map(KeyView::from).collect(), next: None }))
}

/// Revoke an API key (admin token, or a key of the same tenant). It stops working at once.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "tenants", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_key(State(state): State<AppState>, AnyAuth(principal): AnyAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    let id: KeyId = id.parse().map_err(|_| ApiError::not_found("key"))?;
    let scope = match &principal {
        Principal::Admin => None,
        Principal::Tenant { tenant, .. } => Some(tenant.pk),
        Principal::Device { .. } => return Err(ApiError::forbidden("a device token cannot revoke API keys")),
    };
    if !state.store.revoke_api_key(scope, &id, state.clock.now()).await? {
        return Err(ApiError::not_found("key"));
    }
    state.auth.invalidate();
    Ok(StatusCode::NO_CONTENT)
}
