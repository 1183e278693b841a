//! Records of stored media files (the bytes are the app's, in `<data_dir>/media`).

use async_trait::async_trait;
use kirim_core::MediaId;
use kirim_core::id::{MediaPk, TenantPk};
use kirim_core::media::{Media, MediaDirection, MediaKind, MediaStore, NewMedia};
use kirim_core::message::Message;
use kirim_core::store::{StoreError, StoreResult};
use rusqlite::params;

use crate::SqliteStore;
use crate::error::{Bad, OpError, ReadResult};
use crate::rows::{self, Cols, ms, parsed, select_message, time};
use crate::writer::Ctx;

fn media(row: &impl Cols) -> Result<Media, Bad> {
    Ok(Media {
        pk: MediaPk(row.int("pk")?),
        id: parsed::<MediaId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        kind: parsed::<MediaKind>(row, "kind")?,
        direction: parsed::<MediaDirection>(row, "direction")?,
        mime_type: row.text("mime_type")?,
        filename: row.opt_text("filename")?,
        size: row.int("size")?.max(0) as u64,
        sha256: row.text("sha256")?,
        created_at: time(row, "created_at")?,
    })
}

fn insert_op(ctx: &mut Ctx, m: &NewMedia) -> Result<Media, OpError> {
    // Checked first: a failing statement would roll back the writer's whole batch.
    let taken = ctx.opt("SELECT pk FROM media WHERE id = ?", [m.id.as_str()], |row| Ok(row.int("pk")?))?;
    if taken.is_some() {
        return Err(OpError::Refuse(StoreError::Conflict(format!("media {} exists", m.id))));
    }
    let size = i64::try_from(m.size).map_err(|_| OpError::Refuse(StoreError::Conflict("the file is too large".into())))?;
    let row = ctx.one(
        "INSERT INTO media (id, tenant_pk, kind, direction, mime_type, filename, size, sha256, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        params![
            m.id.as_str(),
            m.tenant_pk.0,
            m.kind.as_str(),
            m.direction.as_str(),
            m.mime_type,
            m.filename.as_deref(),
            size,
            m.sha256,
            ms(m.created_at)
        ],
        |row| Ok(media(row)?),
    )?;
    Ok(row)
}

fn delete_op(ctx: &mut Ctx, (tenant, id): &(TenantPk, MediaId)) -> Result<Option<Media>, OpError> {
    let removed =
        ctx.opt("DELETE FROM media WHERE tenant_pk = ? AND id = ? RETURNING *", params![tenant.0, id.as_str()], |row| Ok(media(row)?))?;
    if removed.is_some() {
        ctx.exec("DELETE FROM received_media WHERE tenant_pk = ? AND media_id = ?", params![tenant.0, id.as_str()])?;
    }
    Ok(removed)
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn insert_media(&self, new: NewMedia) -> StoreResult<Media> {
        self.writer().call(new, insert_op).await
    }

    async fn get_media(&self, tenant: TenantPk, id: &MediaId) -> StoreResult<Option<Media>> {
        let row = sqlx::query("SELECT * FROM media WHERE tenant_pk = ? AND id = ?")
            .bind(tenant.0)
            .bind(id.as_str())
            .fetch_optional(self.read())
            .await
            .read()?;
        row.as_ref().map(media).transpose().read()
    }

    async fn list_media(&self, tenant: TenantPk, after: Option<&MediaId>, limit: u32) -> StoreResult<Vec<Media>> {
        let rows = sqlx::query("SELECT * FROM media WHERE tenant_pk = ? AND id > ? ORDER BY id LIMIT ?")
            .bind(tenant.0)
            .bind(after.map_or("", |id| id.as_str()))
            .bind(i64::from(limit.clamp(1, 1000)))
            .fetch_all(self.read())
            .await
            .read()?;
        rows.iter().map(media).collect::<Result<_, _>>().read()
    }

    async fn delete_media(&self, tenant: TenantPk, id: &MediaId) -> StoreResult<Option<Media>> {
        self.writer().call((tenant, id.clone()), delete_op).await
    }

    async fn get_received_media(&self, tenant: TenantPk, id: &MediaId) -> StoreResult<Option<Message>> {
        let row = sqlx::query(concat!(
            select_message!(),
            " JOIN received_media r ON r.message_pk = m.pk WHERE r.tenant_pk = ? AND r.media_id = ?"
        ))
        .bind(tenant.0)
        .bind(id.as_str())
        .fetch_optional(self.read())
        .await
        .read()?;
        row.map(|r| rows::message(&r, None)).transpose().read()
    }

    async fn delete_received_media(&self, tenant: TenantPk, id: &MediaId) -> StoreResult<bool> {
        self.writer().call((tenant, id.clone()), delete_received_op).await
    }
}

fn delete_received_op(ctx: &mut Ctx, (tenant, id): &(TenantPk, MediaId)) -> Result<bool, OpError> {
    let n = ctx.exec("DELETE FROM received_media WHERE tenant_pk = ? AND media_id = ?", params![tenant.0, id.as_str()])?;
    Ok(n > 0)
}
