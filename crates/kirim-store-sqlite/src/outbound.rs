//! The accept path: `insert_outbound`, coalesced across callers.
//!
//! The writer hands every run of consecutive `insert_outbound` calls in a batch to
//! [`insert_group`], which writes all their messages with a few multi-row INSERTs and all their
//! `message.queued` events with a few more. Per-statement overhead (binding, stepping, the
//! statement cache) is then paid per batch rather than per message.

use std::collections::HashMap;
use std::sync::LazyLock;

use kirim_core::DeviceId;
use kirim_core::event::{self, types};
use kirim_core::id::MessagePk;
use kirim_core::message::{Direction, Message, MessageStatus, NewOutbound, Schedule};
use kirim_core::store::{InsertOutcome, StoreError, StoreResult};
use kirim_core::usage::Refusal;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};

use crate::error::{WriteError, decode};
use crate::rows::{self, Cols, ms, select_message, trunc};
use crate::usage::{self, Debit};
use crate::writer::Ctx;

/// Rows per multi-row statement. A count is split greedily into these sizes, so only a few
/// statement shapes exist and each stays prepared in the writer's statement cache.
pub(crate) const CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

/// Splits `n` rows into statement sizes from [`CHUNKS`].
pub(crate) fn chunk_sizes(mut n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    for size in CHUNKS {
        while n >= size {
            sizes.push(size);
            n -= size;
        }
    }
    sizes
}

/// `head` followed by `rows` copies of `row`, comma-separated, then `tail`.
pub(crate) fn multi_row(head: &str, row: &str, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 2) + tail.len());
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql.push_str(tail);
    sql
}

static INSERT_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    CHUNKS
        .iter()
        .map(|n| {
            multi_row(
                "INSERT INTO messages (id, tenant_pk, device_pk, direction, chat, kind, content, status, priority, ref_id, \
                 idempotency_key, request_hash, reply_to, attempts, max_attempts, next_attempt_at, scheduled_at, timezone, \
                 created_at, updated_at, secret, source, resend_of, usage_tokens, usage_day, quota_used) VALUES ",
                "(?, ?, ?, 'outbound', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                *n,
                " ON CONFLICT (tenant_pk, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING pk, id",
            )
        })
        .collect()
});

fn insert_sql(rows: usize) -> &'static str {
    let at = CHUNKS.iter().position(|n| *n == rows).unwrap_or(CHUNKS.len() - 1);
    INSERT_SQL.get(at).map_or("", String::as_str)
}

/// One caller's `insert_outbound`, waiting in a batch.
pub(crate) struct OutboundJob {
    pub messages: Vec<NewOutbound>,
    pub out: Option<StoreResult<Vec<InsertOutcome>>>,
}

/// A message accepted for insertion, with what the statement needs precomputed.
struct Accepted<'a> {
    job: usize,
    new: &'a NewOutbound,
    device_id: DeviceId,
    limited: bool,
    content: String,
    /// What it is charged, or why the usage check refused it (then it is not inserted).
    debit: Result<Debit, Refusal>,
}

/// Inserts every job's messages. A job naming a device that is not a live device of its
/// tenant is refused alone (nothing of it is written); a message the usage check refuses
/// (budget, quota, expiry) is refused alone; a failing statement aborts the batch.
pub(crate) fn insert_group(ctx: &mut Ctx, jobs: &mut [&mut OutboundJob]) -> Result<(), WriteError> {
    let mut accepted: Vec<Accepted<'_>> = Vec::new();
    let mut results: Vec<Option<StoreResult<Vec<InsertOutcome>>>> = Vec::with_capacity(jobs.len());
    for (job, j) in jobs.iter().enumerate() {
        let first = accepted.len();
        let mut refusal = None;
        for m in &j.messages {
            let device = ctx.device(m.device_pk)?;
            let Some(d) = device.filter(|d| d.live && d.tenant == m.tenant_pk) else {
                refusal = Some(StoreError::Conflict(
                    "the device was deleted, or is not one of this account's devices; send from another device".into(),
                ));
                break;
            };
            match serde_json::to_string(&m.content) {
                Ok(content) => {
                    accepted.push(Accepted { job, new: m, device_id: d.id, limited: d.limited, content, debit: Ok(Debit::default()) })
                }
                Err(e) => {
                    refusal = Some(StoreError::Conflict(format!("unstorable content: {e}")));
                    break;
                }
            }
        }
        if let Some(e) = refusal {
            accepted.truncate(first);
            results.push(Some(Err(e)));
        } else {
            results.push(Some(Ok(Vec::with_capacity(j.messages.len()))));
        }
    }

    let candidates: Vec<(&NewOutbound, bool)> = accepted.iter().map(|r| (r.new, r.limited)).collect();
    for (r, debit) in accepted.iter_mut().zip(usage::check(ctx, &candidates)?) {
        r.debit = debit;
    }
    let to_insert: Vec<&Accepted<'_>> = accepted.iter().filter(|r| r.debit.is_ok()).collect();
    let mut pks: HashMap<String, i64> = HashMap::with_capacity(to_insert.len());
    let mut start = 0;
    for size in chunk_sizes(to_insert.len()) {
        let mut values: Vec<Value> = Vec::with_capacity(size * 24);
        for r in &to_insert[start..start + size] {
            let debit = r.debit.clone().unwrap_or_default();
            let (m, at) = (r.new, ms(r.new.created_at));
            values.extend([
                m.id.as_str().to_owned().into(),
                m.tenant_pk.0.into(),
                m.device_pk.0.into(),
                m.chat.as_str().to_owned().into(),
                m.content.kind().to_owned().into(),
                r.content.clone().into(),
                status(m).as_str().to_owned().into(),
                i64::from(m.priority).into(),
                m.ref_id.clone().into(),
                m.idempotency_key.clone().into(),
                m.request_hash.clone().into(),
                m.reply_to.clone().into(),
                i64::from(m.max_attempts).into(),
                ms(m.not_before).into(),
                m.schedule.as_ref().map(|s| ms(s.at)).into(),
                m.schedule.as_ref().and_then(|s| s.timezone.clone()).into(),
                at.into(),
                at.into(),
                i64::from(m.options.secret).into(),
                m.options.source.clone().into(),
                m.options.resend_of.as_ref().map(|id| id.as_str().to_owned()).into(),
                i64::from(debit.tokens).into(),
                debit.day.into(),
                i64::from(debit.quota).into(),
            ]);
        }
        let inserted = ctx.all(insert_sql(size), params_from_iter(values), |row| Ok((row.text("id")?, row.int("pk")?)))?;
        pks.extend(inserted);
        start += size;
    }

    usage::settle(
        ctx,
        accepted.iter().filter(|r| pks.contains_key(r.new.id.as_str())).filter_map(|r| r.debit.clone().ok().map(|d| (r.new, d))),
    )?;
    let mut queued = Vec::with_capacity(pks.len());
    for r in accepted {
        let outcome = match (pks.get(r.new.id.as_str()), r.debit) {
            (_, Err(refusal)) => InsertOutcome::Refused(refusal),
            (Some(pk), Ok(_)) => {
                let message = new_message(r.new, MessagePk(*pk), r.device_id);
                let kind = if message.schedule.is_some() { types::MESSAGE_SCHEDULED } else { types::MESSAGE_QUEUED };
                queued.push(event::for_message(&message, kind, message.created_at));
                InsertOutcome::Inserted(message)
            }
            // Skipped by ON CONFLICT: the idempotency key is taken (perhaps earlier in this batch).
            (None, Ok(_)) => InsertOutcome::Existing(existing(ctx, r.new)?),
        };
        if let Some(Some(Ok(list))) = results.get_mut(r.job) {
            list.push(outcome);
        }
    }
    ctx.pending_events.extend(queued);
    for (job, result) in jobs.iter_mut().zip(results) {
        job.out = result;
    }
    Ok(())
}

fn existing(ctx: &Ctx, m: &NewOutbound) -> Result<Message, WriteError> {
    let found = ctx.opt(
        concat!(select_message!(), " WHERE m.tenant_pk = ? AND m.idempotency_key = ?"),
        params![m.tenant_pk.0, m.idempotency_key.as_deref()],
        |row| Ok(rows::message(row, None)?),
    )?;
    Ok(found.ok_or_else(|| decode("an insert was skipped, but no message has its idempotency key"))?)
}

/// A scheduled message waits outside the queue; any other starts in it.
fn status(m: &NewOutbound) -> MessageStatus {
    if m.schedule.is_some() { MessageStatus::Scheduled } else { MessageStatus::Pending }
}

/// The message as stored, built without reading it back.
fn new_message(m: &NewOutbound, pk: MessagePk, device_id: DeviceId) -> Message {
    let created_at = trunc(m.created_at);
    Message {
        pk,
        id: m.id.clone(),
        tenant_pk: m.tenant_pk,
        device_pk: m.device_pk,
        device_id,
        direction: Direction::Outbound,
        chat: m.chat.clone(),
        sender: None,
        content: m.content.clone(),
        status: status(m),
        priority: m.priority,
        ref_id: m.ref_id.clone(),
        idempotency_key: m.idempotency_key.clone(),
        request_hash: m.request_hash.clone(),
        network_id: None,
        reply_to: m.reply_to.clone(),
        attempts: 0,
        max_attempts: m.max_attempts,
        next_attempt_at: Some(trunc(m.not_before)),
        last_error: None,
        schedule: m.schedule.as_ref().map(|s| Schedule { at: trunc(s.at), timezone: s.timezone.clone() }),
        created_at,
        sent_at: None,
        delivered_at: None,
        read_at: None,
        played_at: None,
        failed_at: None,
        cancelled_at: None,
        updated_at: created_at,
        options: m.options.clone(),
        erased_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_split_into_few_statement_shapes() {
        assert_eq!(chunk_sizes(0), Vec::<usize>::new());
        assert_eq!(chunk_sizes(1), vec![1]);
        assert_eq!(chunk_sizes(64), vec![64]);
        assert_eq!(chunk_sizes(87), vec![64, 16, 4, 1, 1, 1]);
        assert_eq!(chunk_sizes(600).iter().sum::<usize>(), 600);
        assert_eq!(multi_row("V ", "(?)", 3, ";"), "V (?), (?), (?);");
        for n in CHUNKS {
            assert_eq!(insert_sql(n).matches("'outbound'").count(), n);
        }
    }
}
