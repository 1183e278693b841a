//! Who is calling, declared by extractors in handler signatures:
//! [`AdminAuth`] (the operator), [`TenantAuth`] (a tenant's API key, or a device token that
//! may act only on its own device) and [`AnyAuth`] (either). Credentials arrive as
//! `Authorization: Bearer …`; only their SHA-256 is looked up, and lookups are cached briefly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use kirim_core::id::{DeviceId, DevicePk, KeyPk, TenantPk};
use kirim_core::tenant::Tenant;
use kirim_core::{Timestamp, TokenHash};

use super::error::ApiError;
use crate::app::AppState;

/// Device tokens start with this, so a lookup goes to the right table.
pub const DEVICE_TOKEN_PREFIX: &str = "kd_";
pub const API_KEY_PREFIX: &str = "kk_";

#[derive(Debug, Clone)]
pub enum Principal {
    Admin,
    Tenant { tenant: Tenant, key: KeyPk },
    Device { tenant: Tenant, device: DevicePk, device_id: DeviceId },
}

/// How long a credential lookup is trusted before the store is asked again. Revocations in
/// this process clear the cache at once; other nodes see them within this time.
const CACHE_TTL: Duration = Duration::from_secs(10);

pub struct AuthCache {
    admin: RwLock<Option<TokenHash>>,
    /// Bumped by every invalidation, so a lookup that started before a revocation does not
    /// put its stale answer back into the cache.
    generation: AtomicU64,
    entries: RwLock<HashMap<[u8; 32], (Principal, Instant)>>,
    used_keys: Mutex<HashMap<KeyPk, Timestamp>>,
}

impl AuthCache {
    pub fn new(admin: Option<TokenHash>) -> Self {
        Self { admin: RwLock::new(admin), generation: AtomicU64::new(0), entries: RwLock::default(), used_keys: Mutex::default() }
    }

    pub fn set_admin(&self, hash: TokenHash) {
        *self.admin.write().expect("auth lock") = Some(hash);
    }

    /// Forget every cached lookup (after a key is revoked or a device token changes).
    pub fn invalidate(&self) {
        let mut entries = self.entries.write().expect("auth lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    /// Key uses since the last call, to record `last_used_at` in one write.
    pub fn take_used_keys(&self) -> Vec<(KeyPk, Timestamp)> {
        self.used_keys.lock().expect("auth lock").drain().collect()
    }

    async fn resolve(&self, state: &AppState, token: &str) -> Result<Principal, ApiError> {
        let hash = TokenHash::of(token);
        if self.admin.read().expect("auth lock").as_ref() == Some(&hash) {
            return Ok(Principal::Admin);
        }
        let cached = self.entries.read().expect("auth lock").get(&hash.0).cloned();
        let principal = match cached {
            Some((principal, at)) if at.elapsed() < CACHE_TTL => principal,
            _ => {
                let generation = self.generation.load(Ordering::SeqCst);
                let found = if token.starts_with(DEVICE_TOKEN_PREFIX) {
                    state.store.find_device_by_token(&hash).await?.map(|(device, tenant)| Principal::Device {
                        tenant,
                        device: device.pk,
                        device_id: device.id,
                    })
                } else {
                    state.store.find_api_key(&hash).await?.map(|(key, tenant)| Principal::Tenant { tenant, key: key.pk })
                };
                let principal = found.ok_or_else(|| {
                    ApiError::unauthorized("the credential is not valid (unknown, revoked or mistyped); check the Authorization header")
                })?;
                let mut entries = self.entries.write().expect("auth lock");
                if self.generation.load(Ordering::SeqCst) == generation {
                    entries.insert(hash.0, (principal.clone(), Instant::now()));
                }
                drop(entries);
                principal
            }
        };
        if let Principal::Tenant { key, .. } = &principal {
            self.used_keys.lock().expect("auth lock").insert(*key, state.clock.now());
        }
        Ok(principal)
    }
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing credentials; send `Authorization: Bearer <api key or device token>`"))?;
    let value = header.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not readable text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("use `Authorization: Bearer <token>`"))?;
    Ok(token)
}

/// Resolves a raw credential (compat layers pass tokens found elsewhere in the request).
pub async fn principal_for(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    state.auth.resolve(state, token).await
}

/// The caller, counted against its rate limits (the operator is not limited).
async fn principal(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let token = bearer(parts)?;
    let principal = principal_for(state, token).await?;
    super::rate_limit::enforce(state, parts, &principal)?;
    Ok(principal)
}

/// The operator (admin token).
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state).await? {
            Principal::Admin => Ok(Self),
            _ => Err(ApiError::forbidden("this endpoint needs the admin token")),
        }
    }
}

/// A tenant's API key, or a device token limited to its own device.
#[derive(Debug, Clone)]
pub struct TenantAuth {
    pub tenant: Tenant,
    /// Set when the caller is a device token: it may act only on this device.
    pub device: Option<(DevicePk, DeviceId)>,
    pub key: Option<KeyPk>,
}

impl TenantAuth {
    pub fn tenant_pk(&self) -> TenantPk {
        self.tenant.pk
    }

    /// Device tokens may not manage the tenant (keys, other devices, creating devices).
    pub fn require_tenant_key(&self) -> Result<(), ApiError> {
        match self.device {
            None => Ok(()),
            Some(_) => {
                Err(ApiError::forbidden("this needs the tenant's API key; a device token may only send, read and link for its own device"))
            }
        }
    }

    /// Whether the caller may see or act on this device.
    pub fn may_use_device(&self, device: &DeviceId) -> bool {
        self.device.as_ref().is_none_or(|(_, own)| own == device)
    }
}

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state).await? {
            Principal::Tenant { tenant, key } => Ok(Self { tenant, device: None, key: Some(key) }),
            Principal::Device { tenant, device, device_id } => Ok(Self { tenant, device: Some((device, device_id)), key: None }),
            Principal::Admin => Err(ApiError::forbidden(
                "the admin token manages tenants; use a tenant's API key (create one with POST /v1/tenants/{id}/keys)",
            )),
        }
    }
}

/// Either the operator or a tenant.
pub struct AnyAuth(pub Principal);

impl FromRequestParts<AppState> for AnyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        principal(parts, state).await.map(Self)
    }
}
