//! Row mapping: SQLite rows to kirim-core types, and the value conversions both ways.
//!
//! The decoders read through [`Cols`], so the same code maps the read pool's sqlx rows and
//! the writer's rusqlite rows.
//!
//! Timestamps are stored as unix milliseconds, so the store truncates every timestamp it
//! returns to the millisecond: what a write returns equals what a later read returns.

use chrono::DateTime;
use kirim_core::device::{ConnectorKind, Device, DeviceStatus, LinkCode};
use kirim_core::event::Event;
use kirim_core::id::{DevicePk, KeyPk, MessagePk, TenantPk};
use kirim_core::message::{Direction, Message, MessageContent, MessageStatus, Schedule};
use kirim_core::tenant::{ApiKey, Tenant};
use kirim_core::{DeviceId, EventId, KeyId, MessageId, PhoneNumber, Recipient, TenantId, Timestamp, TokenHash};
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use crate::error::{Bad, decode};

/// The shared SELECT for messages: every column plus the device's public id.
macro_rules! select_message {
    () => {
        "SELECT m.*, d.id AS device_id FROM messages m JOIN devices d ON d.pk = m.device_pk"
    };
}
pub(crate) use select_message;

/// A row of either driver, read by column name.
pub(crate) trait Cols {
    fn opt_int(&self, col: &str) -> Result<Option<i64>, Bad>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, Bad>;
    fn opt_blob(&self, col: &str) -> Result<Option<Vec<u8>>, Bad>;

    fn int(&self, col: &str) -> Result<i64, Bad> {
        self.opt_int(col)?.ok_or_else(|| decode(format!("column {col} is NULL")))
    }

    fn text(&self, col: &str) -> Result<String, Bad> {
        self.opt_text(col)?.ok_or_else(|| decode(format!("column {col} is NULL")))
    }

    fn flag(&self, col: &str) -> Result<bool, Bad> {
        Ok(self.int(col)? != 0)
    }
}

fn sqlx_bad(col: &str, e: sqlx::Error) -> Bad {
    decode(format!("column {col}: {e}"))
}

impl Cols for SqliteRow {
    fn opt_int(&self, col: &str) -> Result<Option<i64>, Bad> {
        self.try_get(col).map_err(|e| sqlx_bad(col, e))
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, Bad> {
        self.try_get(col).map_err(|e| sqlx_bad(col, e))
    }

    fn opt_blob(&self, col: &str) -> Result<Option<Vec<u8>>, Bad> {
        self.try_get(col).map_err(|e| sqlx_bad(col, e))
    }
}

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn opt_ms(t: Option<Timestamp>) -> Option<i64> {
    t.map(ms)
}

pub(crate) fn from_ms(v: i64) -> Result<Timestamp, Bad> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| decode(format!("timestamp {v} is out of range")))
}

/// `t` as the store will give it back.
pub(crate) fn trunc(t: Timestamp) -> Timestamp {
    DateTime::from_timestamp_millis(ms(t)).unwrap_or(t)
}

pub(crate) fn time(row: &impl Cols, col: &str) -> Result<Timestamp, Bad> {
    from_ms(row.int(col)?)
}

pub(crate) fn opt_time(row: &impl Cols, col: &str) -> Result<Option<Timestamp>, Bad> {
    row.opt_int(col)?.map(from_ms).transpose()
}

pub(crate) fn parsed<T: std::str::FromStr>(row: &impl Cols, col: &str) -> Result<T, Bad> {
    let raw = row.text(col)?;
    raw.parse().map_err(|_| decode(format!("column {col} holds an unknown value `{raw}`")))
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &impl Cols, col: &str) -> Result<T, Bad> {
    let raw = row.text(col)?;
    serde_json::from_str(&raw).map_err(|e| decode(format!("column {col} holds bad JSON: {e}")))
}

pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(row: &impl Cols, col: &str) -> Result<Option<T>, Bad> {
    match row.opt_text(col)? {
        Some(raw) => serde_json::from_str(&raw).map(Some).map_err(|e| decode(format!("column {col} holds bad JSON: {e}"))),
        None => Ok(None),
    }
}

fn hash(row: &impl Cols, col: &str) -> Result<TokenHash, Bad> {
    let raw = row.opt_blob(col)?.unwrap_or_default();
    TokenHash::from_slice(&raw).ok_or_else(|| decode(format!("column {col} is not a 32-byte hash")))
}

fn count(row: &impl Cols, col: &str) -> Result<u32, Bad> {
    u32::try_from(row.int(col)?).map_err(|_| decode(format!("{col} out of range")))
}

/// A tenant; `prefix` names its columns when they were aliased in a join (`t_`).
pub(crate) fn tenant(row: &impl Cols, prefix: &str) -> Result<Tenant, Bad> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Tenant {
        pk: TenantPk(row.int(&col("pk"))?),
        id: parsed::<TenantId>(row, &col("id"))?,
        name: row.text(&col("name"))?,
        created_at: time(row, &col("created_at"))?,
        daily_token_limit: row.opt_int(&col("daily_token_limit"))?.map(|n| n.max(0) as u64),
    })
}

pub(crate) fn api_key(row: &impl Cols) -> Result<ApiKey, Bad> {
    Ok(ApiKey {
        pk: KeyPk(row.int("pk")?),
        id: parsed::<KeyId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        hash: hash(row, "hash")?,
        created_at: time(row, "created_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

fn link_code(row: &impl Cols, code: &str, expires: &str) -> Result<Option<LinkCode>, Bad> {
    let code = row.opt_text(code)?;
    match code {
        Some(code) => {
            let expires_at = opt_time(row, expires)?.ok_or_else(|| decode(format!("{expires} is missing")))?;
            Ok(Some(LinkCode { code, expires_at }))
        }
        None => Ok(None),
    }
}

pub(crate) fn device(row: &impl Cols) -> Result<Device, Bad> {
    Ok(Device {
        pk: DevicePk(row.int("pk")?),
        id: parsed::<DeviceId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        name: row.text("name")?,
        connector: parsed::<ConnectorKind>(row, "connector")?,
        status: parsed::<DeviceStatus>(row, "status")?,
        status_detail: row.opt_text("status_detail")?,
        phone: row.opt_text("phone")?.map(PhoneNumber::from_stored),
        qr: link_code(row, "qr_code", "qr_expires_at")?,
        pair_code: link_code(row, "pair_code", "pair_code_expires_at")?,
        settings: json(row, "settings")?,
        connector_config: json(row, "connector_config")?,
        token_hash: hash(row, "token_hash")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        limits: kirim_core::usage::DeviceLimits {
            quota: row.opt_int("quota")?.map(|n| n.max(0) as u64),
            expires_at: opt_time(row, "expires_at")?,
        },
        workspace: row.opt_text("workspace")?,
    })
}

/// A message row. `device_id` is given by the writer (which caches it); reads join it in.
pub(crate) fn message(row: &impl Cols, device_id: Option<&DeviceId>) -> Result<Message, Bad> {
    let device_id = match device_id {
        Some(id) => id.clone(),
        None => parsed::<DeviceId>(row, "device_id")?,
    };
    Ok(Message {
        pk: MessagePk(row.int("pk")?),
        id: parsed::<MessageId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        device_pk: DevicePk(row.int("device_pk")?),
        device_id,
        direction: parsed::<Direction>(row, "direction")?,
        chat: Recipient::from_stored(row.text("chat")?),
        sender: row.opt_text("sender")?,
        content: json::<MessageContent>(row, "content")?,
        status: parsed::<MessageStatus>(row, "status")?,
        priority: i32::try_from(row.int("priority")?).map_err(|_| decode("priority out of range"))?,
        ref_id: row.opt_text("ref_id")?,
        idempotency_key: row.opt_text("idempotency_key")?,
        request_hash: row.opt_text("request_hash")?,
        network_id: row.opt_text("network_id")?,
        reply_to: row.opt_text("reply_to")?,
        attempts: count(row, "attempts")?,
        max_attempts: count(row, "max_attempts")?,
        next_attempt_at: opt_time(row, "next_attempt_at")?,
        last_error: row.opt_text("last_error")?,
        schedule: match opt_time(row, "scheduled_at")? {
            Some(at) => Some(Schedule { at, timezone: row.opt_text("timezone")? }),
            None => None,
        },
        created_at: time(row, "created_at")?,
        sent_at: opt_time(row, "sent_at")?,
        delivered_at: opt_time(row, "delivered_at")?,
        read_at: opt_time(row, "read_at")?,
        played_at: opt_time(row, "played_at")?,
        failed_at: opt_time(row, "failed_at")?,
        cancelled_at: opt_time(row, "cancelled_at")?,
        updated_at: time(row, "updated_at")?,
        options: kirim_core::sending::SendOptions {
            secret: row.flag("secret")?,
            source: row.opt_text("source")?,
            resend_of: row
                .opt_text("resend_of")?
                .map(|raw| raw.parse::<MessageId>())
                .transpose()
                .map_err(|_| decode("resend_of is not a message id"))?,
        },
        erased_at: opt_time(row, "erased_at")?,
    })
}

/// An event row joined with its device's public id (`device_id`, NULL for tenant-wide events).
pub(crate) fn event(row: &impl Cols) -> Result<Event, Bad> {
    let device_id = match row.opt_text("device_id")? {
        Some(raw) => Some(raw.parse::<DeviceId>().map_err(|_| decode(format!("bad device id `{raw}`")))?),
        None => None,
    };
    Ok(Event {
        seq: row.int("seq")?,
        id: parsed::<EventId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        device_id,
        event_type: row.text("type")?,
        data: json(row, "data")?,
        created_at: time(row, "created_at")?,
    })
}
