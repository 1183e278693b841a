//! The blacklist (numbers a tenant must never message) and its opt-out settings.
//! `blacklist.added` is appended in the same transaction as the entry it announces.

use std::collections::HashSet;

use kirim_core::contact::{BlacklistAdd, BlacklistEntry, BlacklistSettings, blacklist_added_event};
use kirim_core::id::TenantPk;
use kirim_core::store::StoreResult;
use kirim_core::{PhoneNumber, Timestamp};
use rusqlite::params;

use crate::SqliteStore;
use crate::contacts::{Arg, bind_all, to_json};
use crate::error::{Bad, OpError, ReadResult};
use crate::events::append;
use crate::rows::{Cols, json, ms, opt_time, time};
use crate::writer::Ctx;

/// Numbers per `IN (…)` of a batch check: well under SQLite's limit on bound values.
const AMONG_CHUNK: usize = 500;
/// Up to this many numbers are checked inline (see [`crate::quick`]).
const QUICK_AMONG: usize = 100;

fn entry(row: &impl Cols) -> Result<BlacklistEntry, Bad> {
    Ok(BlacklistEntry {
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        phone: PhoneNumber::from_stored(row.text("phone")?),
        reason: row.opt_text("reason")?,
        created_at: time(row, "created_at")?,
    })
}

fn settings_row(row: &impl Cols) -> Result<BlacklistSettings, Bad> {
    Ok(BlacklistSettings {
        opt_out_keywords: json(row, "opt_out_keywords")?,
        confirmation: row.opt_text("confirmation")?,
        updated_at: opt_time(row, "updated_at")?,
    })
}

fn add_op(ctx: &mut Ctx, e: &BlacklistEntry) -> Result<BlacklistAdd, OpError> {
    let added = ctx.opt(
        "INSERT INTO blacklist (tenant_pk, phone, reason, created_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (tenant_pk, phone) DO NOTHING RETURNING *",
        params![e.tenant_pk.0, e.phone.as_str(), e.reason.as_deref(), ms(e.created_at)],
        |row| Ok(entry(row)?),
    )?;
    if let Some(added) = added {
        append(ctx, blacklist_added_event(&added));
        return Ok(BlacklistAdd::Added(added));
    }
    let existing =
        ctx.one("SELECT * FROM blacklist WHERE tenant_pk = ? AND phone = ?", params![e.tenant_pk.0, e.phone.as_str()], |row| {
            Ok(entry(row)?)
        })?;
    Ok(BlacklistAdd::Existing(existing))
}

fn remove_op(ctx: &mut Ctx, (tenant, phone): &(TenantPk, PhoneNumber)) -> Result<Option<BlacklistEntry>, OpError> {
    let removed =
        ctx.opt("DELETE FROM blacklist WHERE tenant_pk = ? AND phone = ? RETURNING *", params![tenant.0, phone.as_str()], |row| {
            Ok(entry(row)?)
        })?;
    Ok(removed)
}

fn put_op(ctx: &mut Ctx, (tenant, s, at): &(TenantPk, BlacklistSettings, Timestamp)) -> Result<BlacklistSettings, OpError> {
    let saved = ctx.one(
        "INSERT INTO blacklist_settings (tenant_pk, opt_out_keywords, confirmation, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (tenant_pk) DO UPDATE SET opt_out_keywords = ?2, confirmation = ?3, updated_at = ?4 RETURNING *",
        params![tenant.0, to_json(&s.opt_out_keywords)?, s.confirmation.as_deref(), ms(*at)],
        |row| Ok(settings_row(row)?),
    )?;
    Ok(saved)
}

pub(crate) async fn add(store: &SqliteStore, e: BlacklistEntry) -> StoreResult<BlacklistAdd> {
    store.writer().call(e, add_op).await
}

pub(crate) async fn remove(store: &SqliteStore, tenant: TenantPk, phone: &PhoneNumber) -> StoreResult<Option<BlacklistEntry>> {
    store.writer().call((tenant, phone.clone()), remove_op).await
}

pub(crate) async fn list(
    store: &SqliteStore,
    tenant: TenantPk,
    after: Option<&PhoneNumber>,
    limit: u32,
) -> StoreResult<Vec<BlacklistEntry>> {
    let rows = sqlx::query("SELECT * FROM blacklist WHERE tenant_pk = ? AND phone > ? ORDER BY phone LIMIT ?")
        .bind(tenant.0)
        .bind(after.map_or("", |p| p.as_str()))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(store.read())
        .await
        .read()?;
    rows.iter().map(entry).collect::<Result<_, _>>().read()
}

/// On the accept path of every message: an inline point read (see [`crate::quick`]).
pub(crate) async fn contains(store: &SqliteStore, tenant: TenantPk, phone: &PhoneNumber) -> StoreResult<bool> {
    store.quick().with(|conn| {
        conn.prepare_cached("SELECT 1 FROM blacklist WHERE tenant_pk = ?1 AND phone = ?2")?.exists(params![tenant.0, phone.as_str()])
    })
}

pub(crate) async fn among(store: &SqliteStore, tenant: TenantPk, phones: &[PhoneNumber]) -> StoreResult<HashSet<PhoneNumber>> {
    let mut unique: Vec<&str> = phones.iter().map(PhoneNumber::as_str).collect();
    unique.sort_unstable();
    unique.dedup();
    let mut found = HashSet::new();
    // One request's recipients (at most a hundred): inline, like `contains`. A contact group's
    // thousands go through the pool, off the caller's thread.
    if unique.len() <= QUICK_AMONG {
        let sql = format!("SELECT phone FROM blacklist WHERE tenant_pk = ? AND phone IN ({})", vec!["?"; unique.len()].join(", "));
        let hits: Vec<String> = store.quick().with(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let args = std::iter::once(rusqlite::types::Value::Integer(tenant.0))
                .chain(unique.iter().map(|p| rusqlite::types::Value::Text((*p).to_owned())));
            stmt.query_map(rusqlite::params_from_iter(args), |row| row.get(0))?.collect()
        })?;
        return Ok(hits.into_iter().map(PhoneNumber::from_stored).collect());
    }
    for chunk in unique.chunks(AMONG_CHUNK) {
        let placeholders = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT phone FROM blacklist WHERE tenant_pk = ? AND phone IN ({placeholders})");
        let mut args = vec![Arg::Int(tenant.0)];
        args.extend(chunk.iter().map(|p| Arg::Text((*p).to_owned())));
        // Only placeholders are concatenated; every value is bound.
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_all(store.read()).await.read()?;
        for row in &rows {
            found.insert(PhoneNumber::from_stored(row.text("phone").read()?));
        }
    }
    Ok(found)
}

pub(crate) async fn settings(store: &SqliteStore, tenant: TenantPk) -> StoreResult<BlacklistSettings> {
    let row =
        sqlx::query("SELECT * FROM blacklist_settings WHERE tenant_pk = ?").bind(tenant.0).fetch_optional(store.read()).await.read()?;
    Ok(row.as_ref().map(settings_row).transpose().read()?.unwrap_or_default())
}

pub(crate) async fn put_settings(
    store: &SqliteStore,
    tenant: TenantPk,
    settings: BlacklistSettings,
    at: Timestamp,
) -> StoreResult<BlacklistSettings> {
    store.writer().call((tenant, settings, at), put_op).await
}
