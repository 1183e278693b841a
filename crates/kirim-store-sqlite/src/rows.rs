//! Row mapping: SQLite rows to kirim-core types, and the value conversions both ways.
//!
//! Timestamps are stored as unix milliseconds, so the store truncates every timestamp it
//! returns to the millisecond: what a write returns equals what a later read returns.

use chrono::DateTime;
use kirim_core::device::{ConnectorKind, Device, DeviceStatus, LinkCode};
use kirim_core::event::Event;
use kirim_core::id::{DevicePk, KeyPk, MessagePk, TenantPk};
use kirim_core::message::{Direction, Message, MessageContent, MessageStatus};
use kirim_core::tenant::{ApiKey, Tenant};
use kirim_core::{DeviceId, EventId, KeyId, MessageId, PhoneNumber, Recipient, TenantId, Timestamp, TokenHash};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::error::decode;

/// The shared SELECT for messages: every column plus the device's public id.
macro_rules! select_message {
    () => {
        "SELECT m.*, d.id AS device_id FROM messages m JOIN devices d ON d.pk = m.device_pk"
    };
}
pub(crate) use select_message;

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn opt_ms(t: Option<Timestamp>) -> Option<i64> {
    t.map(ms)
}

pub(crate) fn from_ms(v: i64) -> Result<Timestamp, sqlx::Error> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| decode(format!("timestamp {v} is out of range")))
}

/// `t` as the store will give it back.
pub(crate) fn trunc(t: Timestamp) -> Timestamp {
    DateTime::from_timestamp_millis(ms(t)).unwrap_or(t)
}

pub(crate) fn time(row: &SqliteRow, col: &str) -> Result<Timestamp, sqlx::Error> {
    from_ms(row.try_get(col)?)
}

pub(crate) fn opt_time(row: &SqliteRow, col: &str) -> Result<Option<Timestamp>, sqlx::Error> {
    row.try_get::<Option<i64>, _>(col)?.map(from_ms).transpose()
}

pub(crate) fn parsed<T: std::str::FromStr>(row: &SqliteRow, col: &str) -> Result<T, sqlx::Error> {
    let raw: String = row.try_get(col)?;
    raw.parse().map_err(|_| decode(format!("column {col} holds an unknown value `{raw}`")))
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<T, sqlx::Error> {
    let raw: String = row.try_get(col)?;
    serde_json::from_str(&raw).map_err(|e| decode(format!("column {col} holds bad JSON: {e}")))
}

fn hash(row: &SqliteRow, col: &str) -> Result<TokenHash, sqlx::Error> {
    let raw: Vec<u8> = row.try_get(col)?;
    TokenHash::from_slice(&raw).ok_or_else(|| decode(format!("column {col} is not a 32-byte hash")))
}

/// A tenant; `prefix` names its columns when they were aliased in a join (`t_`).
pub(crate) fn tenant(row: &SqliteRow, prefix: &str) -> Result<Tenant, sqlx::Error> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Tenant {
        pk: TenantPk(row.try_get(col("pk").as_str())?),
        id: parsed::<TenantId>(row, &col("id"))?,
        name: row.try_get(col("name").as_str())?,
        created_at: time(row, &col("created_at"))?,
    })
}

pub(crate) fn api_key(row: &SqliteRow) -> Result<ApiKey, sqlx::Error> {
    Ok(ApiKey {
        pk: KeyPk(row.try_get("pk")?),
        id: parsed::<KeyId>(row, "id")?,
        tenant_pk: TenantPk(row.try_get("tenant_pk")?),
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        hash: hash(row, "hash")?,
        created_at: time(row, "created_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

fn link_code(row: &SqliteRow, code: &str, expires: &str) -> Result<Option<LinkCode>, sqlx::Error> {
    let code: Option<String> = row.try_get(code)?;
    match code {
        Some(code) => {
            let expires_at = opt_time(row, expires)?.ok_or_else(|| decode(format!("{expires} is missing")))?;
            Ok(Some(LinkCode { code, expires_at }))
        }
        None => Ok(None),
    }
}

pub(crate) fn device(row: &SqliteRow) -> Result<Device, sqlx::Error> {
    Ok(Device {
        pk: DevicePk(row.try_get("pk")?),
        id: parsed::<DeviceId>(row, "id")?,
        tenant_pk: TenantPk(row.try_get("tenant_pk")?),
        name: row.try_get("name")?,
        connector: parsed::<ConnectorKind>(row, "connector")?,
        status: parsed::<DeviceStatus>(row, "status")?,
        status_detail: row.try_get("status_detail")?,
        phone: row.try_get::<Option<String>, _>("phone")?.map(PhoneNumber::from_stored),
        qr: link_code(row, "qr_code", "qr_expires_at")?,
        pair_code: link_code(row, "pair_code", "pair_code_expires_at")?,
        settings: json(row, "settings")?,
        connector_config: json(row, "connector_config")?,
        token_hash: hash(row, "token_hash")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// A message row. `device_id` is given by the writer (which caches it); reads join it in.
pub(crate) fn message(row: &SqliteRow, device_id: Option<&DeviceId>) -> Result<Message, sqlx::Error> {
    let device_id = match device_id {
        Some(id) => id.clone(),
        None => parsed::<DeviceId>(row, "device_id")?,
    };
    let attempts: i64 = row.try_get("attempts")?;
    let max_attempts: i64 = row.try_get("max_attempts")?;
    Ok(Message {
        pk: MessagePk(row.try_get("pk")?),
        id: parsed::<MessageId>(row, "id")?,
        tenant_pk: TenantPk(row.try_get("tenant_pk")?),
        device_pk: DevicePk(row.try_get("device_pk")?),
        device_id,
        direction: parsed::<Direction>(row, "direction")?,
        chat: Recipient::from_stored(row.try_get("chat")?),
        sender: row.try_get("sender")?,
        content: json::<MessageContent>(row, "content")?,
        status: parsed::<MessageStatus>(row, "status")?,
        priority: row.try_get("priority")?,
        ref_id: row.try_get("ref_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        request_hash: row.try_get("request_hash")?,
        network_id: row.try_get("network_id")?,
        reply_to: row.try_get("reply_to")?,
        attempts: u32::try_from(attempts).map_err(|_| decode("attempts out of range"))?,
        max_attempts: u32::try_from(max_attempts).map_err(|_| decode("max_attempts out of range"))?,
        next_attempt_at: opt_time(row, "next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: time(row, "created_at")?,
        sent_at: opt_time(row, "sent_at")?,
        delivered_at: opt_time(row, "delivered_at")?,
        read_at: opt_time(row, "read_at")?,
        played_at: opt_time(row, "played_at")?,
        failed_at: opt_time(row, "failed_at")?,
        cancelled_at: opt_time(row, "cancelled_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// An event row joined with its device's public id (`device_id`, NULL for tenant-wide events).
pub(crate) fn event(row: &SqliteRow) -> Result<Event, sqlx::Error> {
    let device_id = match row.try_get::<Option<String>, _>("device_id")? {
        Some(raw) => Some(raw.parse::<DeviceId>().map_err(|_| decode(format!("bad device id `{raw}`")))?),
        None => None,
    };
    Ok(Event {
        seq: row.try_get("seq")?,
        id: parsed::<EventId>(row, "id")?,
        tenant_pk: TenantPk(row.try_get("tenant_pk")?),
        device_id,
        event_type: row.try_get("type")?,
        data: json(row, "data")?,
        created_at: time(row, "created_at")?,
    })
}
