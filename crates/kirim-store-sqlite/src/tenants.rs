//! Tenants, API keys and operator settings.

use async_trait::async_trait;
use kirim_core::id::{KeyPk, TenantPk};
use kirim_core::store::{StoreResult, TenantStore};
use kirim_core::tenant::{ApiKey, NewApiKey, NewTenant, Tenant};
use kirim_core::{KeyId, TenantId, Timestamp, TokenHash};
use rusqlite::params;
use sqlx::Row;

use crate::SqliteStore;
use crate::error::{Bad, OpError, ReadResult};
use crate::rows::{self, ms};
use crate::writer::Ctx;

const SELECT_KEY_WITH_TENANT: &str = "SELECT k.*, t.pk AS t_pk, t.id AS t_id, t.name AS t_name, t.created_at AS t_created_at, t.daily_token_limit AS t_daily_token_limit \
     FROM api_keys k JOIN tenants t ON t.pk = k.tenant_pk WHERE k.hash = ? AND k.revoked_at IS NULL";

fn create_tenant(ctx: &mut Ctx, t: &NewTenant) -> Result<Tenant, OpError> {
    let tenant = ctx.one(
        "INSERT INTO tenants (id, name, created_at, daily_token_limit) VALUES (?, ?, ?, ?) RETURNING *",
        params![t.id.as_str(), t.name.as_str(), ms(t.created_at), t.daily_token_limit.map(clamp_i64)],
        |row| Ok(rows::tenant(row, "")?),
    )?;
    Ok(tenant)
}

/// A count as SQLite stores it (a limit beyond `i64::MAX` is no different from unlimited in practice).
pub(crate) fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn create_api_key(ctx: &mut Ctx, k: &NewApiKey) -> Result<ApiKey, OpError> {
    let key = ctx.one(
        "INSERT INTO api_keys (id, tenant_pk, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
        params![k.id.as_str(), k.tenant_pk.0, k.name.as_str(), k.prefix.as_str(), &k.hash.as_bytes()[..], ms(k.created_at)],
        |row| Ok(rows::api_key(row)?),
    )?;
    Ok(key)
}

fn create_tenant_with_key(ctx: &mut Ctx, (t, k): &(NewTenant, NewApiKey)) -> Result<(Tenant, ApiKey), OpError> {
    let tenant = create_tenant(ctx, t)?;
    let key = create_api_key(ctx, &NewApiKey { tenant_pk: tenant.pk, ..k.clone() })?;
    Ok((tenant, key))
}

fn revoke_api_key(ctx: &mut Ctx, (tenant, id, at): &(Option<TenantPk>, KeyId, Timestamp)) -> Result<bool, OpError> {
    let revoked = ctx.exec(
        "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL AND (?3 IS NULL OR tenant_pk = ?3)",
        params![ms(*at), id.as_str(), tenant.map(|t| t.0)],
    )?;
    Ok(revoked > 0)
}

fn touch_api_keys(ctx: &mut Ctx, used: &Vec<(KeyPk, Timestamp)>) -> Result<(), OpError> {
    for (pk, at) in used {
        // Only forward: batches may arrive out of order.
        ctx.exec(
            "UPDATE api_keys SET last_used_at = ?1 WHERE pk = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)",
            params![ms(*at), pk.0],
        )?;
    }
    Ok(())
}

fn init_setting(ctx: &mut Ctx, (key, value): &(String, String)) -> Result<bool, OpError> {
    let inserted = ctx.exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", params![key, value])?;
    Ok(inserted > 0)
}

fn put_setting(ctx: &mut Ctx, (key, value): &(String, String)) -> Result<(), OpError> {
    ctx.exec(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, tenant: NewTenant) -> StoreResult<Tenant> {
        self.writer().call(tenant, create_tenant).await
    }

    async fn create_tenant_with_key(&self, tenant: NewTenant, key: NewApiKey) -> StoreResult<(Tenant, ApiKey)> {
        self.writer().call((tenant, key), create_tenant_with_key).await
    }

    async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = ?").bind(id.as_str()).fetch_optional(self.read()).await.read()?;
        row.map(|r| rows::tenant(&r, "")).transpose().read()
    }

    async fn list_tenants(&self, after: Option<&TenantId>, limit: u32) -> StoreResult<Vec<Tenant>> {
        let rows = sqlx::query("SELECT * FROM tenants WHERE (? IS NULL OR pk > (SELECT pk FROM tenants WHERE id = ?)) ORDER BY pk LIMIT ?")
            .bind(after.map(|a| a.as_str().to_owned()))
            .bind(after.map(|a| a.as_str().to_owned()))
            .bind(i64::from(limit.clamp(1, 1000)))
            .fetch_all(self.read())
            .await
            .read()?;
        rows.iter().map(|r| rows::tenant(r, "")).collect::<Result<_, _>>().read()
    }

    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKey> {
        self.writer().call(key, create_api_key).await
    }

    async fn list_api_keys(&self, tenant: TenantPk) -> StoreResult<Vec<ApiKey>> {
        let rows =
            sqlx::query("SELECT * FROM api_keys WHERE tenant_pk = ? ORDER BY pk").bind(tenant.0).fetch_all(self.read()).await.read()?;
        rows.iter().map(rows::api_key).collect::<Result<_, _>>().read()
    }

    async fn find_api_key(&self, hash: &TokenHash) -> StoreResult<Option<(ApiKey, Tenant)>> {
        let row = sqlx::query(SELECT_KEY_WITH_TENANT).bind(&hash.as_bytes()[..]).fetch_optional(self.read()).await.read()?;
        row.map(|r| Ok::<_, Bad>((rows::api_key(&r)?, rows::tenant(&r, "t_")?))).transpose().read()
    }

    async fn revoke_api_key(&self, tenant: Option<TenantPk>, id: &KeyId, at: Timestamp) -> StoreResult<bool> {
        self.writer().call((tenant, id.clone(), at), revoke_api_key).await
    }

    async fn touch_api_keys(&self, used: &[(KeyPk, Timestamp)]) -> StoreResult<()> {
        if used.is_empty() {
            return Ok(());
        }
        self.writer().call(used.to_vec(), touch_api_keys).await
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?").bind(key).fetch_optional(self.read()).await.read()?;
        row.map(|r| r.try_get("value")).transpose().read()
    }

    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<bool> {
        self.writer().call((key.to_owned(), value.to_owned()), init_setting).await
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        self.writer().call((key.to_owned(), value.to_owned()), put_setting).await
    }
}
