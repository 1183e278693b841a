//! Tenants and their API keys. Keys are shown once and stored as SHA-256.

use kirim_core::Secret;
use kirim_core::id::{KeyId, TenantId};
use kirim_core::tenant::{ApiKey, NewApiKey, NewTenant, Tenant};

use kirim_core::Clock;
use kirim_core::store::Store;

use crate::http::auth::API_KEY_PREFIX;
use crate::http::error::{ApiError, ApiResult};

pub fn validate_name(field: &str, name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field(field, format!("`{field}` must be 1 to 100 characters")));
    }
    Ok(name.to_owned())
}

/// Takes the store and clock rather than the whole app, so offline admin commands can use it.
/// Creates the tenant and its first key together: one transaction, so a tenant never exists
/// without the key that was shown for it.
/// `daily_token_limit` is the budget it starts with (`usage.default_daily_tokens`).
pub async fn create(
    store: &dyn Store,
    clock: &dyn Clock,
    name: &str,
    daily_token_limit: Option<u64>,
) -> ApiResult<(Tenant, ApiKey, Secret)> {
    let name = validate_name("name", name)?;
    let now = clock.now();
    let (key, secret) = new_key(kirim_core::id::TenantPk(0), "default".into(), now);
    let (tenant, key) =
        store.create_tenant_with_key(NewTenant { id: TenantId::generate(), name, created_at: now, daily_token_limit }, key).await?;
    Ok((tenant, key, secret))
}

fn new_key(tenant_pk: kirim_core::id::TenantPk, name: String, now: kirim_core::Timestamp) -> (NewApiKey, Secret) {
    let secret = Secret::generate(API_KEY_PREFIX);
    let key = NewApiKey {
        id: KeyId::generate(),
        tenant_pk,
        name,
        prefix: format!("{}…", &secret.expose()[..API_KEY_PREFIX.len() + 4]),
        hash: secret.hash(),
        created_at: now,
    };
    (key, secret)
}

pub async fn create_key(store: &dyn Store, clock: &dyn Clock, tenant: &Tenant, name: &str) -> ApiResult<(ApiKey, Secret)> {
    let name = validate_name("name", name)?;
    let (key, secret) = new_key(tenant.pk, name, clock.now());
    Ok((store.create_api_key(key).await?, secret))
}
