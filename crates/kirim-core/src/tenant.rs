//! Tenants (customers of the gateway) and their API keys.

use serde::Serialize;

use crate::id::{KeyId, KeyPk, TenantId, TenantPk};
use crate::{Timestamp, TokenHash};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    #[serde(skip)]
    pub pk: TenantPk,
    pub id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
    /// Tokens the tenant may spend per UTC day; `None`: unlimited.
    pub daily_token_limit: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
    /// The daily token budget it starts with (the configured default).
    pub daily_token_limit: Option<u64>,
}

/// An API key as stored: only its hash, and a short prefix so people can tell keys apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    #[serde(skip)]
    pub pk: KeyPk,
    pub id: KeyId,
    #[serde(skip)]
    pub tenant_pk: TenantPk,
    pub name: String,
    /// The first characters of the key, e.g. `kk_7f3a…`, to recognise it in lists.
    pub prefix: String,
    #[serde(skip)]
    pub hash: TokenHash,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: KeyId,
    pub tenant_pk: TenantPk,
    pub name: String,
    pub prefix: String,
    pub hash: TokenHash,
    pub created_at: Timestamp,
}
