//! Devices: soft-deleted (`deleted_at`), and invisible everywhere once deleted.

use async_trait::async_trait;
use kirim_core::device::{Device, DevicePatch, DeviceStatus, LinkState, NewDevice};
use kirim_core::event::{self, types};
use kirim_core::id::{DevicePk, TenantPk};
use kirim_core::store::{DeviceStore, StoreError, StoreResult};
use kirim_core::tenant::Tenant;
use kirim_core::{DeviceId, Timestamp, TokenHash};
use rusqlite::params;

use crate::SqliteStore;
use crate::error::{Bad, OpError, ReadResult, decode};
use crate::events::append;
use crate::rows::{self, Cols, ms, opt_ms};
use crate::writer::Ctx;

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, OpError> {
    serde_json::to_string(value).map_err(|e| OpError::Refuse(StoreError::Conflict(format!("unstorable JSON: {e}"))))
}

fn create(ctx: &mut Ctx, d: &NewDevice) -> Result<Device, OpError> {
    let device = ctx.one(
        "INSERT INTO devices (id, tenant_pk, name, connector, status, settings, connector_config, token_hash, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) RETURNING *",
        params![
            d.id.as_str(),
            d.tenant_pk.0,
            d.name.as_str(),
            d.connector.as_str(),
            DeviceStatus::Disconnected.as_str(),
            to_json(&d.settings)?,
            to_json(&d.connector_config)?,
            &d.token_hash.as_bytes()[..],
            ms(d.created_at),
        ],
        |row| Ok(rows::device(row)?),
    )?;
    append(ctx, event::for_device(&device, types::DEVICE_CREATED, device.created_at));
    Ok(device)
}

fn update(ctx: &mut Ctx, (tenant, id, patch, at): &(TenantPk, DeviceId, DevicePatch, Timestamp)) -> Result<Option<Device>, OpError> {
    let settings = patch.settings.as_ref().map(to_json).transpose()?;
    let config = patch.connector_config.as_ref().map(to_json).transpose()?;
    let device = ctx.opt(
        "UPDATE devices SET name = coalesce(?, name), settings = coalesce(?, settings), \
         connector_config = coalesce(?, connector_config), token_hash = coalesce(?, token_hash), updated_at = ?, \
         workspace = CASE WHEN ? THEN ? ELSE workspace END \
         WHERE tenant_pk = ? AND id = ? AND deleted_at IS NULL RETURNING *",
        params![
            patch.name.as_deref(),
            settings,
            config,
            patch.token_hash.map(|h| h.as_bytes().to_vec()),
            ms(*at),
            patch.workspace.is_some(),
            patch.workspace.clone().flatten(),
            tenant.0,
            id.as_str(),
        ],
        |row| Ok(rows::device(row)?),
    )?;
    Ok(device)
}

fn update_link_state(ctx: &mut Ctx, (pk, state, at): &(DevicePk, LinkState, Timestamp)) -> Result<Option<Device>, OpError> {
    let previous = ctx.opt("SELECT status FROM devices WHERE pk = ? AND deleted_at IS NULL", [pk.0], |row| Ok(row.text("status")?))?;
    let Some(raw) = previous else {
        return Ok(None);
    };
    let previous: DeviceStatus = raw.parse().map_err(|_| decode(format!("unknown device status `{raw}`")))?;
    let device = ctx.one(
        "UPDATE devices SET status = ?, status_detail = ?, qr_code = ?, qr_expires_at = ?, pair_code = ?, \
         pair_code_expires_at = ?, phone = coalesce(?, phone), updated_at = ? WHERE pk = ? RETURNING *",
        params![
            state.status.as_str(),
            state.detail.as_deref(),
            state.qr.as_ref().map(|c| c.code.as_str()),
            opt_ms(state.qr.as_ref().map(|c| c.expires_at)),
            state.pair_code.as_ref().map(|c| c.code.as_str()),
            opt_ms(state.pair_code.as_ref().map(|c| c.expires_at)),
            state.phone.as_ref().map(|p| p.as_str()),
            ms(*at),
            pk.0,
        ],
        |row| Ok(rows::device(row)?),
    )?;
    if device.status != previous {
        append(ctx, event::for_device_status(&device, previous, rows::trunc(*at)));
    }
    Ok(Some(device))
}

fn delete(ctx: &mut Ctx, (tenant, id, at): &(TenantPk, DeviceId, Timestamp)) -> Result<Option<Device>, OpError> {
    // `updated_at` is left alone: the device is returned as it was.
    let device = ctx.opt(
        "UPDATE devices SET deleted_at = ? WHERE tenant_pk = ? AND id = ? AND deleted_at IS NULL RETURNING *",
        params![ms(*at), tenant.0, id.as_str()],
        |row| Ok(rows::device(row)?),
    )?;
    let Some(device) = device else { return Ok(None) };
    ctx.device_deleted(device.pk);
    crate::queue::cancel_all_pending(ctx, &device, *at)?;
    append(ctx, event::for_device(&device, types::DEVICE_DELETED, rows::trunc(*at)));
    Ok(Some(device))
}

const SELECT_WITH_TENANT: &str = "SELECT d.*, t.pk AS t_pk, t.id AS t_id, t.name AS t_name, t.created_at AS t_created_at, t.daily_token_limit AS t_daily_token_limit \
     FROM devices d JOIN tenants t ON t.pk = d.tenant_pk WHERE d.token_hash = ? AND d.deleted_at IS NULL";

impl SqliteStore {
    async fn fetch_devices(&self, query: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>) -> StoreResult<Vec<Device>> {
        let rows = query.fetch_all(self.read()).await.read()?;
        rows.iter().map(rows::device).collect::<Result<_, _>>().read()
    }
}

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn create_device(&self, device: NewDevice) -> StoreResult<Device> {
        self.writer().call(device, create).await
    }

    async fn get_device(&self, tenant: TenantPk, id: &DeviceId) -> StoreResult<Option<Device>> {
        let query =
            sqlx::query("SELECT * FROM devices WHERE tenant_pk = ? AND id = ? AND deleted_at IS NULL").bind(tenant.0).bind(id.as_str());
        Ok(self.fetch_devices(query).await?.pop())
    }

    async fn get_device_by_pk(&self, pk: DevicePk) -> StoreResult<Option<Device>> {
        let query = sqlx::query("SELECT * FROM devices WHERE pk = ? AND deleted_at IS NULL").bind(pk.0);
        Ok(self.fetch_devices(query).await?.pop())
    }

    async fn find_device_by_token(&self, hash: &TokenHash) -> StoreResult<Option<(Device, Tenant)>> {
        let row = sqlx::query(SELECT_WITH_TENANT).bind(&hash.as_bytes()[..]).fetch_optional(self.read()).await.read()?;
        row.map(|r| Ok::<_, Bad>((rows::device(&r)?, rows::tenant(&r, "t_")?))).transpose().read()
    }

    async fn list_devices(&self, tenant: TenantPk) -> StoreResult<Vec<Device>> {
        self.fetch_devices(sqlx::query("SELECT * FROM devices WHERE tenant_pk = ? AND deleted_at IS NULL ORDER BY pk").bind(tenant.0)).await
    }

    async fn list_all_devices(&self) -> StoreResult<Vec<Device>> {
        self.fetch_devices(sqlx::query("SELECT * FROM devices WHERE deleted_at IS NULL ORDER BY pk")).await
    }

    async fn update_device(&self, tenant: TenantPk, id: &DeviceId, patch: DevicePatch, at: Timestamp) -> StoreResult<Option<Device>> {
        self.writer().call((tenant, id.clone(), patch, at), update).await
    }

    async fn update_link_state(&self, device: DevicePk, state: LinkState, at: Timestamp) -> StoreResult<Option<Device>> {
        self.writer().call((device, state, at), update_link_state).await
    }

    async fn delete_device(&self, tenant: TenantPk, id: &DeviceId, at: Timestamp) -> StoreResult<Option<Device>> {
        self.writer().call((tenant, id.clone(), at), delete).await
    }
}
