//! The send queue: claiming, completing, receipts, cancelling and recovery.
//! Every transition is a conditional `UPDATE … WHERE status = … RETURNING *`, so a message
//! that moved on in the meantime is simply not matched (no error, no event).

use kirim_core::device::Device;
use kirim_core::event::{self, message_event_type, types};
use kirim_core::id::{DevicePk, MessagePk, TenantPk};
use kirim_core::message::{Direction, Message, MessageStatus, SendOutcome, UnsentPatch};
use kirim_core::store::{CancelOutcome, ReceiptOutcome, StoreResult};
use kirim_core::{MessageId, Timestamp};
use std::sync::LazyLock;

use rusqlite::{Params, params};
use sqlx::Row;

use crate::SqliteStore;
use crate::error::{OpError, ReadResult, WriteError, decode};
use crate::events::append;
use crate::rows::{self, Cols, ms, select_message, trunc};
use crate::writer::{Ctx, LiteRow};

/// Maps the rows of a `RETURNING *` (the device id comes from the writer's cache) and writes
/// one event of `event_type` for each, oldest first.
pub(crate) fn announce(
    ctx: &mut Ctx,
    sql: &str,
    params: impl Params,
    event_type: &'static str,
    at: Timestamp,
) -> Result<Vec<Message>, WriteError> {
    let mut out = ctx.all(sql, params, |row| {
        let device_id = ctx.device_id(DevicePk(row.int("device_pk")?))?;
        Ok(rows::message(row, Some(&device_id))?)
    })?;
    // RETURNING gives rows in no particular order.
    out.sort_by_key(|m| m.pk);
    for message in &out {
        append(ctx, event::for_message(message, event_type, trunc(at)));
    }
    Ok(out)
}

pub(crate) fn claim_next(ctx: &mut Ctx, (device, now): &(DevicePk, Timestamp)) -> Result<Option<Message>, OpError> {
    let claimed = ctx.opt(
        "UPDATE messages SET status = 'sending', attempts = attempts + 1, next_attempt_at = NULL, updated_at = ?1 \
         WHERE pk = (SELECT pk FROM messages WHERE device_pk = ?2 AND status = 'pending' AND next_attempt_at <= ?1 \
                     ORDER BY priority DESC, pk LIMIT 1) \
         RETURNING *",
        params![ms(*now), device.0],
        |row| {
            let device_id = ctx.device_id(DevicePk(row.int("device_pk")?))?;
            Ok(rows::message(row, Some(&device_id))?)
        },
    )?;
    Ok(claimed)
}

/// Asked by a lane each time it runs out of work: an inline point read (see [`crate::quick`]).
pub(crate) async fn next_due_at(store: &SqliteStore, device: DevicePk) -> StoreResult<Option<Timestamp>> {
    let due: Option<i64> = store.quick().with(|conn| {
        conn.prepare_cached("SELECT min(next_attempt_at) FROM messages WHERE device_pk = ?1 AND status = 'pending'")?
            .query_row([device.0], |row| row.get(0))
    })?;
    due.map(rows::from_ms).transpose().read()
}

pub(crate) fn complete_send(ctx: &mut Ctx, (pk, outcome, at): &(MessagePk, SendOutcome, Timestamp)) -> Result<Option<Message>, OpError> {
    let at_ms = ms(*at);
    if let SendOutcome::Retry { error, .. } = outcome
        && device_deleted(ctx, *pk)?
    {
        // Its device was deleted during the attempt: no lane will ever try it again.
        let error = format!("{error}; not retried: the device was deleted");
        let sql = "UPDATE messages SET status = 'cancelled', cancelled_at = ?1, last_error = ?2, next_attempt_at = NULL, updated_at = ?1 \
                   WHERE pk = ?3 AND status = 'sending' RETURNING *";
        return Ok(announce(ctx, sql, params![at_ms, error, pk.0], types::MESSAGE_CANCELLED, *at)?.pop());
    }
    let done = match outcome {
        SendOutcome::Sent { network_id } => announce(
            ctx,
            "UPDATE messages SET status = 'sent', sent_at = ?1, network_id = ?2, updated_at = ?1 WHERE pk = ?3 AND status = 'sending' RETURNING *",
            params![at_ms, network_id, pk.0],
            types::MESSAGE_SENT,
            *at,
        )?,
        SendOutcome::Retry { at: retry_at, error } => announce(
            ctx,
            "UPDATE messages SET status = 'pending', next_attempt_at = ?1, last_error = ?2, updated_at = ?3 WHERE pk = ?4 AND status = 'sending' RETURNING *",
            params![ms(*retry_at), error, at_ms, pk.0],
            types::MESSAGE_RETRYING,
            *at,
        )?,
        SendOutcome::Failed { error } => announce(
            ctx,
            "UPDATE messages SET status = 'failed', failed_at = ?1, last_error = ?2, updated_at = ?1 WHERE pk = ?3 AND status = 'sending' RETURNING *",
            params![at_ms, error, pk.0],
            types::MESSAGE_FAILED,
            *at,
        )?,
    };
    if let (SendOutcome::Sent { .. }, Some(sent)) = (outcome, done.first()) {
        crate::conversations::on_sent(ctx, sent, *at)?;
    }
    let mut done = done.into_iter().next();
    if let Some(message) = done.as_mut().filter(|m| m.status == MessageStatus::Sent && m.options.secret) {
        erase(ctx, message, *at)?;
    }
    Ok(done)
}

/// A secret message has been sent: its content is replaced by `MessageContent::erased` in
/// the same transaction, so no committed state holds the sent content.
fn erase(ctx: &mut Ctx, message: &mut Message, at: Timestamp) -> Result<(), WriteError> {
    let erased = message.content.erased();
    let json = serde_json::to_string(&erased).map_err(|e| decode(format!("unstorable content: {e}")))?;
    ctx.exec("UPDATE messages SET content = ?1, erased_at = ?2 WHERE pk = ?3", params![json, ms(at), message.pk.0])?;
    message.content = erased;
    message.erased_at = Some(trunc(at));
    Ok(())
}

fn device_deleted(ctx: &Ctx, message: MessagePk) -> Result<bool, WriteError> {
    let gone = ctx.opt(
        "SELECT d.deleted_at IS NOT NULL AS gone FROM messages m JOIN devices d ON d.pk = m.device_pk WHERE m.pk = ?",
        [message.0],
        |row| Ok(row.flag("gone")?),
    )?;
    Ok(gone.unwrap_or(false))
}

/// The receipt fast path's statement for each status: a sent message moving forward, in one
/// UPDATE. Built once from fixed fragments; every value is bound.
static RECEIPT_SQL: LazyLock<Vec<(MessageStatus, &'static str, String)>> = LazyLock::new(|| {
    [
        (MessageStatus::Sent, "sent_at"),
        (MessageStatus::Delivered, "delivered_at"),
        (MessageStatus::Read, "read_at"),
        (MessageStatus::Played, "played_at"),
    ]
    .into_iter()
    .map(|(status, column)| {
        let from: Vec<String> = MessageStatus::ALL
            .iter()
            .filter(|s| !matches!(s, MessageStatus::Pending | MessageStatus::Sending) && s.accepts_receipt(status))
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        // A status no stored one may move to matches nothing.
        let from = if from.is_empty() { "NULL".to_owned() } else { from.join(", ") };
        let sql = format!(
            "UPDATE messages SET status = ?1, {column} = ?2, updated_at = ?2 WHERE pk = \
             (SELECT pk FROM messages WHERE device_pk = ?3 AND network_id = ?4 AND direction = 'outbound' ORDER BY pk DESC LIMIT 1) \
             AND status IN ({from}) RETURNING *"
        );
        (status, column, sql)
    })
    .collect()
});

pub(crate) fn apply_receipt(
    ctx: &mut Ctx,
    (device, network_id, status, at): &(DevicePk, String, MessageStatus, Timestamp),
) -> Result<ReceiptOutcome, OpError> {
    let Some((_, column, fast)) = RECEIPT_SQL.iter().find(|(s, _, _)| s == status) else {
        return Ok(ReceiptOutcome::Stale);
    };
    let event_type = message_event_type(*status);
    // The usual case in one statement: a sent message moving forward.
    let params = params![status.as_str(), ms(*at), device.0, network_id];
    if let Some(message) = announce(ctx, fast, params, event_type, *at)?.pop() {
        return Ok(ReceiptOutcome::Applied(Box::new(message)));
    }
    let read = |row: &LiteRow<'_>| -> Result<(i64, String), WriteError> { Ok((row.int("pk")?, row.text("status")?)) };
    let mut current = ctx.opt(
        "SELECT pk, status FROM messages WHERE device_pk = ? AND network_id = ? ORDER BY pk DESC LIMIT 1",
        params![device.0, network_id],
        read,
    )?;
    if current.is_none() {
        // Networks that take Kirim's id as theirs (the sandbox, WhatsApp Web) report receipts
        // under it, also for an attempt whose outcome a crash kept from being recorded.
        current = ctx.opt(
            "SELECT pk, status FROM messages WHERE device_pk = ? AND id = ? AND direction = 'outbound' AND network_id IS NULL",
            params![device.0, network_id],
            read,
        )?;
    }
    let Some((pk, raw)) = current else {
        return Ok(ReceiptOutcome::Unknown);
    };
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
    let applied = announce(ctx, &sql, params![status.as_str(), ms(*at), network_id, pk], event_type, *at)?.pop();
    Ok(match applied {
        Some(message) => ReceiptOutcome::Applied(Box::new(message)),
        None => ReceiptOutcome::Unknown,
    })
}

pub(crate) fn cancel(ctx: &mut Ctx, (tenant, id, at): &(TenantPk, MessageId, Timestamp)) -> Result<CancelOutcome, OpError> {
    let sql = "UPDATE messages SET status = 'cancelled', cancelled_at = ?1, next_attempt_at = NULL, updated_at = ?1 \
               WHERE tenant_pk = ?2 AND id = ?3 AND status IN ('pending', 'scheduled') RETURNING *";
    if let Some(message) = announce(ctx, sql, params![ms(*at), tenant.0, id.as_str()], types::MESSAGE_CANCELLED, *at)?.pop() {
        return Ok(CancelOutcome::Cancelled(message));
    }
    too_late(ctx, *tenant, id)
}

fn too_late(ctx: &Ctx, tenant: TenantPk, id: &MessageId) -> Result<CancelOutcome, OpError> {
    let found = ctx.opt(concat!(select_message!(), " WHERE m.tenant_pk = ? AND m.id = ?"), params![tenant.0, id.as_str()], |row| {
        Ok(rows::message(row, None)?)
    })?;
    Ok(match found {
        Some(message) => CancelOutcome::TooLate(message),
        None => CancelOutcome::NotFound,
    })
}

pub(crate) fn update_unsent(
    ctx: &mut Ctx,
    (tenant, id, patch, at): &(TenantPk, MessageId, UnsentPatch, Timestamp),
) -> Result<CancelOutcome, OpError> {
    let content = match &patch.content {
        Some(c) => Some(serde_json::to_string(c).map_err(|e| decode(format!("unstorable content: {e}")))?),
        None => None,
    };
    let sql = "UPDATE messages SET next_attempt_at = coalesce(?1, next_attempt_at), scheduled_at = coalesce(?1, scheduled_at), \
               timezone = CASE WHEN ?1 IS NULL THEN timezone ELSE ?2 END, content = coalesce(?3, content), kind = coalesce(?4, kind), \
               chat = coalesce(?5, chat), updated_at = ?6 \
               WHERE tenant_pk = ?7 AND id = ?8 AND status = 'scheduled' RETURNING *";
    let schedule = patch.schedule.as_ref();
    let params = params![
        schedule.map(|s| ms(s.at)),
        schedule.and_then(|s| s.timezone.as_deref()),
        content,
        patch.content.as_ref().map(|c| c.kind()),
        patch.chat.as_ref().map(|c| c.as_str()),
        ms(*at),
        tenant.0,
        id.as_str()
    ];
    // A change to a message is announced as it is now: still `message.scheduled`.
    if let Some(message) = announce(ctx, sql, params, types::MESSAGE_SCHEDULED, *at)?.pop() {
        return Ok(CancelOutcome::Cancelled(message));
    }
    too_late(ctx, *tenant, id)
}

pub(crate) fn delete_unsent(ctx: &mut Ctx, (tenant, id, at): &(TenantPk, MessageId, Timestamp)) -> Result<CancelOutcome, OpError> {
    let message = match too_late(ctx, *tenant, id)? {
        CancelOutcome::TooLate(message) => message,
        other => return Ok(other),
    };
    // A message that was tried may have reached the network: its record stays.
    let never_left = message.direction == Direction::Outbound
        && message.attempts == 0
        && matches!(message.status, MessageStatus::Scheduled | MessageStatus::Pending | MessageStatus::Cancelled);
    if !never_left {
        return Ok(CancelOutcome::TooLate(message));
    }
    let message = match message.status {
        MessageStatus::Cancelled => message,
        _ => match cancel(ctx, &(*tenant, id.clone(), *at))? {
            CancelOutcome::Cancelled(message) => message,
            other => return Ok(other),
        },
    };
    ctx.exec("DELETE FROM messages WHERE pk = ?", [message.pk.0])?;
    Ok(CancelOutcome::Cancelled(message))
}

pub(crate) fn promote_due(ctx: &mut Ctx, (now, limit): &(Timestamp, u32)) -> Result<Vec<DevicePk>, OpError> {
    let sql = "UPDATE messages SET status = 'pending', updated_at = ?1 WHERE pk IN \
               (SELECT pk FROM messages WHERE status = 'scheduled' AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2) \
               RETURNING *";
    let promoted = announce(ctx, sql, params![ms(*now), limit], types::MESSAGE_QUEUED, *now)?;
    let mut devices: Vec<DevicePk> = promoted.iter().map(|m| m.device_pk).collect();
    devices.sort();
    devices.dedup();
    Ok(devices)
}

pub(crate) async fn next_scheduled_at(store: &SqliteStore) -> StoreResult<Option<Timestamp>> {
    let row =
        sqlx::query("SELECT min(next_attempt_at) AS due FROM messages WHERE status = 'scheduled'").fetch_one(store.read()).await.read()?;
    let due: Option<i64> = row.try_get("due").read()?;
    due.map(rows::from_ms).transpose().read()
}

/// Cancels a deleted device's pending messages, each with its `message.cancelled` event.
pub(crate) fn cancel_all_pending(ctx: &mut Ctx, device: &Device, at: Timestamp) -> Result<(), WriteError> {
    let sql = "UPDATE messages SET status = 'cancelled', cancelled_at = ?1, next_attempt_at = NULL, updated_at = ?1 \
               WHERE device_pk = ?2 AND status IN ('pending', 'scheduled') RETURNING *";
    announce(ctx, sql, params![ms(at), device.pk.0], types::MESSAGE_CANCELLED, at)?;
    Ok(())
}

/// `sending → pending`, due at once: `next_attempt_at` becomes the message's `created_at`,
/// a time every clock has passed (the store has no clock of its own). Attempts are kept:
/// the interrupted attempt may have reached the network.
pub(crate) fn release_in_flight(ctx: &mut Ctx, device: &Option<DevicePk>) -> Result<u64, OpError> {
    let done = ctx.exec(
        "UPDATE messages SET status = 'pending', next_attempt_at = created_at \
         WHERE status = 'sending' AND (?1 IS NULL OR device_pk = ?1)",
        [device.map(|d| d.0)],
    )?;
    Ok(done as u64)
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
        (MessageStatus::Scheduled, "SELECT count(*) AS n FROM messages WHERE status = 'scheduled'"),
        (MessageStatus::Pending, "SELECT count(*) AS n FROM messages WHERE status = 'pending'"),
        (MessageStatus::Sending, "SELECT count(*) AS n FROM messages WHERE status = 'sending'"),
    ] {
        let n: i64 = sqlx::query(sql).fetch_one(store.read()).await.read()?.try_get("n").read()?;
        counts.push((status, u64::try_from(n).unwrap_or(0)));
    }
    Ok(counts)
}
