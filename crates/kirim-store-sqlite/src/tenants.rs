//! Tenants, API keys and operator settings.

use async_trait::async_trait;
use kirim_core::id::{KeyPk, TenantPk};
use kirim_core::store::{StoreResult, TenantStore};
use kirim_core::tenant::{ApiKey, NewApiKey, NewTenant, Tenant};
use kirim_core::{KeyId, TenantId, Timestamp, TokenHash};
use sqlx::Row;

use crate::SqliteStore;
use crate::error::{OpError, ReadResult};
use crate::rows::{self, ms};
use crate::writer::Ctx;

const SELECT_KEY_WITH_TENANT: &str = "SELECT k.*, t.pk AS t_pk, t.id AS t_id, t.name AS t_name, t.created_at AS t_created_at \
     FROM api_keys k JOIN tenants t ON t.pk = k.tenant_pk WHERE k.hash = ? AND k.revoked_at IS NULL";

async fn create_tenant(ctx: &mut Ctx, t: &NewTenant) -> Result<Tenant, OpError> {
    let row = sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) RETURNING *")
        .bind(t.id.as_str())
        .bind(t.name.as_str())
        .bind(ms(t.created_at))
        .fetch_one(&mut ctx.conn)
        .await?;
    Ok(rows::tenant(&row, "")?)
}

async fn create_api_key(ctx: &mut Ctx, k: &NewApiKey) -> Result<ApiKey, OpError> {
    let row = sqlx::query("INSERT INTO api_keys (id, tenant_pk, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *")
        .bind(k.id.as_str())
        .bind(k.tenant_pk.0)
        .bind(k.name.as_str())
        .bind(k.prefix.as_str())
        .bind(&k.hash.as_bytes()[..])
        .bind(ms(k.created_at))
        .fetch_one(&mut ctx.conn)
        .await?;
    Ok(rows::api_key(&row)?)
}

async fn create_tenant_with_key(ctx: &mut Ctx, (t, k): &(NewTenant, NewApiKey)) -> Result<(Tenant, ApiKey), OpError> {
    let tenant = create_tenant(ctx, t).await?;
    let key = create_api_key(ctx, &NewApiKey { tenant_pk: tenant.pk, ..k.clone() }).await?;
    Ok((tenant, key))
}

async fn revoke_api_key(ctx: &mut Ctx, (tenant, id, at): &(Option<TenantPk>, KeyId, Timestamp)) -> Result<bool, OpError> {
    let row =
        sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND (? IS NULL OR tenant_pk = ?) RETURNING pk")
            .bind(ms(*at))
            .bind(id.as_str())
            .bind(tenant.map(|t| t.0))
            .bind(tenant.map(|t| t.0))
            .fetch_optional(&mut ctx.conn)
            .await?;
    Ok(row.is_some())
}

async fn touch_api_keys(ctx: &mut Ctx, used: &Vec<(KeyPk, Timestamp)>) -> Result<(), OpError> {
    for (pk, at) in used {
        // Only forward: batches may arrive out of order.
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE pk = ? AND (last_used_at IS NULL OR last_used_at < ?)")
            .bind(ms(*at))
            .bind(pk.0)
            .bind(ms(*at))
            .execute(&mut ctx.conn)
            .await?;
    }
    Ok(())
}

async fn init_setting(ctx: &mut Ctx, (key, value): &(String, String)) -> Result<bool, OpError> {
    let row = sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING RETURNING key")
        .bind(key.as_str())
        .bind(value.as_str())
        .fetch_optional(&mut ctx.conn)
        .await?;
    Ok(row.is_some())
}

async fn put_setting(ctx: &mut Ctx, (key, value): &(String, String)) -> Result<(), OpError> {
    sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key.as_str())
        .bind(value.as_str())
        .execute(&mut ctx.conn)
        .await?;
    Ok(())
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, tenant: NewTenant) -> StoreResult<Tenant> {
        self.writer().call(tenant, |c, t| Box::pin(create_tenant(c, t))).await
    }

    async fn create_tenant_with_key(&self, tenant: NewTenant, key: NewApiKey) -> StoreResult<(Tenant, ApiKey)> {
        self.writer().call((tenant, key), |c, i| Box::pin(create_tenant_with_key(c, i))).await
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
        self.writer().call(key, |c, k| Box::pin(create_api_key(c, k))).await
    }

    async fn list_api_keys(&self, tenant: TenantPk) -> StoreResult<Vec<ApiKey>> {
        let rows =
            sqlx::query("SELECT * FROM api_keys WHERE tenant_pk = ? ORDER BY pk").bind(tenant.0).fetch_all(self.read()).await.read()?;
        rows.iter().map(rows::api_key).collect::<Result<_, _>>().read()
    }

    async fn find_api_key(&self, hash: &TokenHash) -> StoreResult<Option<(ApiKey, Tenant)>> {
        let row = sqlx::query(SELECT_KEY_WITH_TENANT).bind(&hash.as_bytes()[..]).fetch_optional(self.read()).await.read()?;
        row.map(|r| Ok((rows::api_key(&r)?, rows::tenant(&r, "t_")?))).transpose().read()
    }

    async fn revoke_api_key(&self, tenant: Option<TenantPk>, id: &KeyId, at: Timestamp) -> StoreResult<bool> {
        self.writer().call((tenant, id.clone(), at), |c, i| Box::pin(revoke_api_key(c, i))).await
    }

    async fn touch_api_keys(&self, used: &[(KeyPk, Timestamp)]) -> StoreResult<()> {
        if used.is_empty() {
            return Ok(());
        }
        self.writer().call(used.to_vec(), |c, u| Box::pin(touch_api_keys(c, u))).await
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?").bind(key).fetch_optional(self.read()).await.read()?;
        row.map(|r| r.try_get("value")).transpose().read()
    }

    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<bool> {
        self.writer().call((key.to_owned(), value.to_owned()), |c, i| Box::pin(init_setting(c, i))).await
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        self.writer().call((key.to_owned(), value.to_owned()), |c, i| Box::pin(put_setting(c, i))).await
    }
}
