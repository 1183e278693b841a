//! The send queue: claiming, completing, receipts, cancelling and recovery.
//! Every transition is a conditional `UPDATE … WHERE status = … RETURNING *`, so a message
//! that moved on in the meantime is simply not matched (no error, no event).

use kirim_core::device::Device;
use kirim_core::event::{self, message_event_type, types};
use kirim_core::id::{DevicePk, MessagePk, TenantPk};
use kirim_core::message::{Message, MessageStatus, SendOutcome};
use kirim_core::store::{CancelOutcome, ReceiptOutcome, StoreResult};
use kirim_core::{MessageId, Timestamp};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::error::{OpError, ReadResult, decode};
use crate::events::append;
use crate::rows::{self, ms, select_message, trunc};
use crate::writer::Ctx;

/// Maps a row the writer got back from `RETURNING *` (the device id comes from its cache).
async fn returned(ctx: &mut Ctx, row: &SqliteRow) -> Result<Message, sqlx::Error> {
    let device_id = ctx.device_id(DevicePk(row.try_get("device_pk")?)).await?;
    rows::message(row, Some(&device_id))
}

/// Maps the rows of a `RETURNING *` and writes one event of `event_type` for each.
async fn announce(ctx: &mut Ctx, rows: Vec<SqliteRow>, event_type: &'static str, at: Timestamp) -> Result<Vec<Message>, sqlx::Error> {
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let message = returned(ctx, row).await?;
        append(ctx, &event::for_message(&message, event_type, trunc(at))).await?;
        out.push(message);
    }
    Ok(out)
}

pub(crate) async fn claim_next(ctx: &mut Ctx, (device, now): &(DevicePk, Timestamp)) -> Result<Option<Message>, OpError> {
    let row = sqlx::query(
        "UPDATE messages SET status = 'sending', attempts = attempts + 1, next_attempt_at = NULL, updated_at = ? \
         WHERE pk = (SELECT pk FROM messages WHERE device_pk = ? AND status = 'pending' AND next_attempt_at <= ? \
                     ORDER BY priority DESC, pk LIMIT 1) \
         RETURNING *",
    )
    .bind(ms(*now))
    .bind(device.0)
    .bind(ms(*now))
    .fetch_optional(&mut ctx.conn)
    .await?;
    match row {
        Some(row) => Ok(Some(returned(ctx, &row).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn next_due_at(store: &SqliteStore, device: DevicePk) -> StoreResult<Option<Timestamp>> {
    let row = sqlx::query("SELECT min(next_attempt_at) AS due FROM messages WHERE device_pk = ? AND status = 'pending'")
        .bind(device.0)
        .fetch_one(store.read())
        .await
        .read()?;
    let due: Option<i64> = row.try_get("due").read()?;
    due.map(rows::from_ms).transpose().read()
}

pub(crate) async fn complete_send(
    ctx: &mut Ctx,
    (pk, outcome, at): &(MessagePk, SendOutcome, Timestamp),
) -> Result<Option<Message>, OpError> {
    let at_ms = ms(*at);
    if let SendOutcome::Retry { error, .. } = outcome
        && device_deleted(ctx, *pk).await?
    {
        // Its device was deleted during the attempt: no lane will ever try it again.
        let rows = sqlx::query(
            "UPDATE messages SET status = 'cancelled', cancelled_at = ?, last_error = ?, next_attempt_at = NULL, updated_at = ? \
             WHERE pk = ? AND status = 'sending' RETURNING *",
        )
        .bind(at_ms)
        .bind(format!("{error}; not retried: the device was deleted"))
        .bind(at_ms)
        .bind(pk.0)
        .fetch_all(&mut ctx.conn)
        .await?;
        return Ok(announce(ctx, rows, types::MESSAGE_CANCELLED, *at).await?.pop());
    }
    let (query, event_type) = match outcome {
        SendOutcome::Sent { network_id } => (
            sqlx::query("UPDATE messages SET status = 'sent', sent_at = ?, network_id = ?, updated_at = ? WHERE pk = ? AND status = 'sending' RETURNING *")
                .bind(at_ms)
                .bind(network_id.clone()),
            types::MESSAGE_SENT,
        ),
        SendOutcome::Retry { at: retry_at, error } => (
            sqlx::query("UPDATE messages SET status = 'pending', next_attempt_at = ?, last_error = ?, updated_at = ? WHERE pk = ? AND status = 'sending' RETURNING *")
                .bind(ms(*retry_at))
                .bind(error.clone()),
            types::MESSAGE_RETRYING,
        ),
        SendOutcome::Failed { error } => (
            sqlx::query("UPDATE messages SET status = 'failed', failed_at = ?, last_error = ?, updated_at = ? WHERE pk = ? AND status = 'sending' RETURNING *")
                .bind(at_ms)
                .bind(error.clone()),
            types::MESSAGE_FAILED,
        ),
    };
    let rows = query.bind(at_ms).bind(pk.0).fetch_all(&mut ctx.conn).await?;
    Ok(announce(ctx, rows, event_type, *at).await?.pop())
}

async fn device_deleted(ctx: &mut Ctx, message: MessagePk) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT d.deleted_at IS NOT NULL AS gone FROM messages m JOIN devices d ON d.pk = m.device_pk WHERE m.pk = ?")
        .bind(message.0)
        .fetch_optional(&mut ctx.conn)
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<bool, _>("gone")?,
        None => false,
    })
}

pub(crate) async fn apply_receipt(
    ctx: &mut Ctx,
    (device, network_id, status, at): &(DevicePk, String, MessageStatus, Timestamp),
) -> Result<ReceiptOutcome, OpError> {
    // The usual case in one statement: a sent message moving forward.
    let column = match status {
        MessageStatus::Sent => "sent_at",
        MessageStatus::Delivered => "delivered_at",
        MessageStatus::Read => "read_at",
        MessageStatus::Played => "played_at",
        _ => return Ok(ReceiptOutcome::Stale),
    };
    let from: Vec<String> = MessageStatus::ALL
        .iter()
        .filter(|s| !matches!(s, MessageStatus::Pending | MessageStatus::Sending) && s.accepts_receipt(*status))
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    if !from.is_empty() {
        let sql = format!(
            "UPDATE messages SET status = ?, {column} = ?, updated_at = ? WHERE pk = \
             (SELECT pk FROM messages WHERE device_pk = ? AND network_id = ? AND direction = 'outbound' ORDER BY pk DESC LIMIT 1) \
             AND status IN ({}) RETURNING *",
            from.join(", ")
        );
        // Built from fixed fragments only; every value is bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.as_str())
            .bind(ms(*at))
            .bind(ms(*at))
            .bind(device.0)
            .bind(network_id.as_str())
            .fetch_all(&mut ctx.conn)
            .await?;
        if let Some(message) = announce(ctx, rows, message_event_type(*status), *at).await?.pop() {
            return Ok(ReceiptOutcome::Applied(Box::new(message)));
        }
    }
    let mut current =
        sqlx::query("SELECT pk, status, network_id FROM messages WHERE device_pk = ? AND network_id = ? ORDER BY pk DESC LIMIT 1")
            .bind(device.0)
            .bind(network_id.as_str())
            .fetch_optional(&mut ctx.conn)
            .await?;
    if current.is_none() {
        // Networks that take Kirim's id as theirs (the sandbox, WhatsApp Web) report receipts
        // under it, also for an attempt whose outcome a crash kept from being recorded.
        current = sqlx::query(
            "SELECT pk, status, network_id FROM messages WHERE device_pk = ? AND id = ? AND direction = 'outbound' AND network_id IS NULL",
        )
        .bind(device.0)
        .bind(network_id.as_str())
        .fetch_optional(&mut ctx.conn)
        .await?;
    }
    let Some(current) = current else {
        return Ok(ReceiptOutcome::Unknown);
    };
    let raw: String = current.try_get("status")?;
    let was: MessageStatus = raw.parse().map_err(|_| decode(format!("unknown message status `{raw}`")))?;
    if was == MessageStatus::Sending {
        return Ok(ReceiptOutcome::InFlight);
    }
    let recovered = was == MessageStatus::Pending;
    if !recovered && !was.accepts_receipt(*status) {
        return Ok(ReceiptOutcome::Stale);
    }
    // A pending message that gets a receipt was sent before a crash: it leaves the queue,
    // and its sent time and network id are filled in.
    let recovery = if recovered && *status != MessageStatus::Sent { ", sent_at = coalesce(sent_at, ?2)" } else { "" };
    let sql = format!(
        "UPDATE messages SET status = ?1, {column} = ?2, network_id = coalesce(network_id, ?3), next_attempt_at = NULL, \
         updated_at = ?2{recovery} WHERE pk = ?4 RETURNING *"
    );
    // Built from fixed fragments only; every value is bound.
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status.as_str())
        .bind(ms(*at))
        .bind(network_id.as_str())
        .bind(current.try_get::<i64, _>("pk")?)
        .fetch_all(&mut ctx.conn)
        .await?;
    Ok(match announce(ctx, rows, message_event_type(*status), *at).await?.pop() {
        Some(message) => ReceiptOutcome::Applied(Box::new(message)),
        None => ReceiptOutcome::Unknown,
    })
}

pub(crate) async fn cancel(ctx: &mut Ctx, (tenant, id, at): &(TenantPk, MessageId, Timestamp)) -> Result<CancelOutcome, OpError> {
    let rows = sqlx::query(
        "UPDATE messages SET status = 'cancelled', cancelled_at = ?, next_attempt_at = NULL, updated_at = ? \
         WHERE tenant_pk = ? AND id = ? AND status = 'pending' RETURNING *",
    )
    .bind(ms(*at))
    .bind(ms(*at))
    .bind(tenant.0)
    .bind(id.as_str())
    .fetch_all(&mut ctx.conn)
    .await?;
    if let Some(message) = announce(ctx, rows, types::MESSAGE_CANCELLED, *at).await?.pop() {
        return Ok(CancelOutcome::Cancelled(message));
    }
    let row = sqlx::query(concat!(select_message!(), " WHERE m.tenant_pk = ? AND m.id = ?"))
        .bind(tenant.0)
        .bind(id.as_str())
        .fetch_optional(&mut ctx.conn)
        .await?;
    match row {
        Some(row) => Ok(CancelOutcome::TooLate(rows::message(&row, None)?)),
        None => Ok(CancelOutcome::NotFound),
    }
}

/// Cancels a deleted device's pending messages, each with its `message.cancelled` event.
pub(crate) async fn cancel_all_pending(ctx: &mut Ctx, device: &Device, at: Timestamp) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE messages SET status = 'cancelled', cancelled_at = ?, next_attempt_at = NULL, updated_at = ? \
         WHERE device_pk = ? AND status = 'pending' RETURNING *",
    )
    .bind(ms(at))
    .bind(ms(at))
    .bind(device.pk.0)
    .fetch_all(&mut ctx.conn)
    .await?;
    let mut cancelled = Vec::with_capacity(rows.len());
    for row in &rows {
        cancelled.push(rows::message(row, Some(&device.id))?);
    }
    // RETURNING gives rows in no particular order; announce them oldest first.
    cancelled.sort_by_key(|m| m.pk);
    for message in &cancelled {
        append(ctx, &event::for_message(message, types::MESSAGE_CANCELLED, trunc(at))).await?;
    }
    Ok(())
}

/// `sending → pending`, due at once: `next_attempt_at` becomes the message's `created_at`,
/// a time every clock has passed (the store has no clock of its own). Attempts are kept:
/// the interrupted attempt may have reached the network.
pub(crate) async fn release_in_flight(ctx: &mut Ctx, device: &Option<DevicePk>) -> Result<u64, OpError> {
    let done = sqlx::query(
        "UPDATE messages SET status = 'pending', next_attempt_at = created_at \
         WHERE status = 'sending' AND (? IS NULL OR device_pk = ?)",
    )
    .bind(device.map(|d| d.0))
    .bind(device.map(|d| d.0))
    .execute(&mut ctx.conn)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn devices_with_pending(store: &SqliteStore) -> StoreResult<Vec<DevicePk>> {
    let rows = sqlx::query(
        "SELECT d.pk FROM devices d WHERE d.deleted_at IS NULL \
         AND EXISTS (SELECT 1 FROM messages m WHERE m.device_pk = d.pk AND m.status = 'pending') ORDER BY d.pk",
    )
    .fetch_all(store.read())
    .await
    .read()?;
    rows.iter().map(|r| r.try_get("pk").map(DevicePk)).collect::<Result<_, _>>().read()
}

/// Every status with its count (zero included, so metrics gauges fall back to 0).
pub(crate) async fn queue_depth(store: &SqliteStore) -> StoreResult<Vec<(MessageStatus, u64)>> {
    let mut counts = Vec::with_capacity(2);
    // One query per status, each answered from its partial index alone.
    for (status, sql) in [
        (MessageStatus::Pending, "SELECT count(*) AS n FROM messages WHERE status = 'pending'"),
        (MessageStatus::Sending, "SELECT count(*) AS n FROM messages WHERE status = 'sending'"),
    ] {
        let n: i64 = sqlx::query(sql).fetch_one(store.read()).await.read()?.try_get("n").read()?;
        counts.push((status, u64::try_from(n).unwrap_or(0)));
    }
    Ok(counts)
}
