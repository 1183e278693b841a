//! Tenants and their API keys. Keys are shown once and stored as SHA-256.

use kirim_core::Secret;
use kirim_core::id::{KeyId, TenantId};
use kirim_core::tenant::{ApiKey, NewApiKey, NewTenant, Tenant};

use crate::app::AppState;
use crate::http::auth::API_KEY_PREFIX;
use crate::http::error::{ApiError, ApiResult};

pub fn validate_name(field: &str, name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field(field, format!("`{field}` must be 1 to 100 characters")));
    }
    Ok(name.to_owned())
}

pub async fn create(state: &AppState, name: &str) -> ApiResult<(Tenant, ApiKey, Secret)> {
    let name = validate_name("name", name)?;
    let tenant = state.store.create_tenant(NewTenant { id: TenantId::generate(), name, created_at: state.clock.now() }).await?;
    let (key, secret) = create_key(state, &tenant, "default").await?;
    Ok((tenant, key, secret))
}

pub async fn create_key(state: &AppState, tenant: &Tenant, name: &str) -> ApiResult<(ApiKey, Secret)> {
    let name = validate_name("name", name)?;
    let secret = Secret::generate(API_KEY_PREFIX);
    let key = state
        .store
        .create_api_key(NewApiKey {
            id: KeyId::generate(),
            tenant_pk: tenant.pk,
            name,
            prefix: format!("{}…", &secret.expose()[..API_KEY_PREFIX.len() + 4]),
            hash: secret.hash(),
            created_at: state.clock.now(),
        })
        .await?;
    Ok((key, secret))
}
