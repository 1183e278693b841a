//! Reminders and their occurrences. Making an occurrence is one writer operation: the
//! message (through the accept path's own insert), the occurrence row and the moved cursor
//! commit together, guarded by the cursor the worker read.

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime};
use kirim_core::event::types;
use kirim_core::id::{DevicePk, ReminderPk, TenantPk};
use kirim_core::message::{Message, MessageContent, MessageStatus};
use kirim_core::reminder::{
    Materialise, NewReminder, Occurrence, Recurrence, Reminder, ReminderChange, ReminderEnd, ReminderPlan, ReminderStatus,
};
use kirim_core::rules_store::{ReminderFilter, ReminderStore};
use kirim_core::store::{InsertOutcome, StoreError, StoreResult};
use kirim_core::{DeviceId, MessageId, Recipient, ReminderId, Timestamp};
use rusqlite::params;
use sqlx::Row;

use crate::SqliteStore;
use crate::contacts::to_json;
use crate::error::{Bad, OpError, ReadResult, WriteError, decode};
use crate::events::append;
use crate::outbound::{self, OutboundJob};
use crate::rows::{self, Cols, ms, opt_ms, opt_time, parsed, time};
use crate::writer::Ctx;

const LOCAL_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
const DATE_FORMAT: &str = "%Y-%m-%d";
const SELECT: &str = "SELECT r.*, d.id AS device_id FROM reminders r JOIN devices d ON d.pk = r.device_pk";

fn recurrence_cols(r: &Recurrence) -> (&'static str, Option<u32>) {
    match r {
        Recurrence::Daily => ("daily", None),
        Recurrence::Monthly => ("monthly", None),
        Recurrence::Yearly => ("yearly", None),
        Recurrence::Days { days } => ("days", Some(*days)),
    }
}

fn u32_col(row: &impl Cols, col: &str) -> Result<u32, Bad> {
    u32::try_from(row.int(col)?).map_err(|_| decode(format!("{col} out of range")))
}

fn reminder(row: &impl Cols) -> Result<Reminder, Bad> {
    let recurrence = match row.text("recurrence")?.as_str() {
        "daily" => Recurrence::Daily,
        "monthly" => Recurrence::Monthly,
        "yearly" => Recurrence::Yearly,
        "days" => Recurrence::Days { days: u32_col(row, "every_days")? },
        other => return Err(decode(format!("unknown recurrence `{other}`"))),
    };
    let start = row.text("start_local")?;
    let until = match row.opt_text("until_date")? {
        Some(raw) => Some(NaiveDate::parse_from_str(&raw, DATE_FORMAT).map_err(|_| decode(format!("bad date `{raw}`")))?),
        None => None,
    };
    let max_count = row.opt_int("max_count")?.map(|c| u32::try_from(c).map_err(|_| decode("max_count out of range"))).transpose()?;
    Ok(Reminder {
        pk: ReminderPk(row.int("pk")?),
        id: parsed::<ReminderId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        device_pk: DevicePk(row.int("device_pk")?),
        device_id: parsed::<DeviceId>(row, "device_id")?,
        plan: ReminderPlan {
            title: row.opt_text("title")?,
            to: Recipient::from_stored(row.text("chat")?),
            content: rows::json::<MessageContent>(row, "content")?,
            start: NaiveDateTime::parse_from_str(&start, LOCAL_FORMAT).map_err(|_| decode(format!("bad start `{start}`")))?,
            timezone: row.text("timezone")?,
            recurrence,
            end: ReminderEnd { until, count: max_count },
        },
        status: parsed::<ReminderStatus>(row, "status")?,
        next_index: u32_col(row, "next_index")?,
        next_at: opt_time(row, "next_at")?,
        sent_count: u32_col(row, "sent_count")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn load(ctx: &Ctx, pk: i64) -> Result<Option<Reminder>, WriteError> {
    ctx.opt(&format!("{SELECT} WHERE r.pk = ?"), [pk], |row| Ok(reminder(row)?))
}

fn create_op(ctx: &mut Ctx, r: &NewReminder) -> Result<Reminder, OpError> {
    if !ctx.device(r.device_pk)?.is_some_and(|d| d.live && d.tenant == r.tenant_pk) {
        return Err(OpError::Refuse(StoreError::Conflict("the device was deleted, or is not one of this account's devices".into())));
    }
    let p = &r.plan;
    let (recurrence, every) = recurrence_cols(&p.recurrence);
    let at = ms(r.created_at);
    let pk: i64 = ctx.one(
        "INSERT INTO reminders (id, tenant_pk, device_pk, title, chat, kind, content, start_local, timezone, recurrence, every_days, \
         until_date, max_count, status, next_index, next_at, sent_count, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, 0, ?, ?) RETURNING pk",
        params![
            r.id.as_str(),
            r.tenant_pk.0,
            r.device_pk.0,
            p.title.as_deref(),
            p.to.as_str(),
            p.content.kind(),
            to_json(&p.content)?,
            p.start.format(LOCAL_FORMAT).to_string(),
            p.timezone.as_str(),
            recurrence,
            every,
            p.end.until.map(|d| d.format(DATE_FORMAT).to_string()),
            p.end.count,
            r.next_index,
            ms(r.next_at),
            at,
            at
        ],
        |row| Ok(row.int("pk")?),
    )?;
    Ok(load(ctx, pk)?.ok_or_else(|| decode("a reminder just written is missing"))?)
}

/// Cancels the reminder's occurrences still waiting, each with its `message.cancelled` event.
fn cancel_scheduled(ctx: &mut Ctx, reminder: ReminderPk, at: Timestamp) -> Result<(), WriteError> {
    let cancelled = ctx.all(
        "UPDATE messages SET status = 'cancelled', cancelled_at = ?1, next_attempt_at = NULL, updated_at = ?1 \
         WHERE status = 'scheduled' AND pk IN (SELECT message_pk FROM reminder_occurrences WHERE reminder_pk = ?2) RETURNING *",
        params![ms(at), reminder.0],
        |row| {
            let device_id = ctx.device_id(DevicePk(row.int("device_pk")?))?;
            Ok(rows::message(row, Some(&device_id))?)
        },
    )?;
    for message in cancelled {
        append(ctx, kirim_core::event::for_message(&message, types::MESSAGE_CANCELLED, rows::trunc(at)));
    }
    Ok(())
}

fn update_op(ctx: &mut Ctx, (tenant, id, c): &(TenantPk, ReminderId, ReminderChange)) -> Result<Option<Reminder>, OpError> {
    let p = &c.plan;
    let (recurrence, every) = recurrence_cols(&p.recurrence);
    let pk: Option<i64> = ctx.opt(
        "UPDATE reminders SET title = ?, chat = ?, kind = ?, content = ?, start_local = ?, timezone = ?, recurrence = ?, \
         every_days = ?, until_date = ?, max_count = ?, status = ?, next_index = ?, next_at = ?, updated_at = ? \
         WHERE tenant_pk = ? AND id = ? RETURNING pk",
        params![
            p.title.as_deref(),
            p.to.as_str(),
            p.content.kind(),
            to_json(&p.content)?,
            p.start.format(LOCAL_FORMAT).to_string(),
            p.timezone.as_str(),
            recurrence,
            every,
            p.end.until.map(|d| d.format(DATE_FORMAT).to_string()),
            p.end.count,
            c.status.as_str(),
            c.next_index,
            opt_ms(c.next_at),
            ms(c.at),
            tenant.0,
            id.as_str()
        ],
        |row| Ok(row.int("pk")?),
    )?;
    let Some(pk) = pk else { return Ok(None) };
    if c.cancel_scheduled {
        cancel_scheduled(ctx, ReminderPk(pk), c.at)?;
    }
    Ok(load(ctx, pk)?)
}

fn delete_op(ctx: &mut Ctx, (tenant, id, at): &(TenantPk, ReminderId, Timestamp)) -> Result<Option<Reminder>, OpError> {
    let found =
        ctx.opt(&format!("{SELECT} WHERE r.tenant_pk = ? AND r.id = ?"), params![tenant.0, id.as_str()], |row| Ok(reminder(row)?))?;
    let Some(found) = found else { return Ok(None) };
    cancel_scheduled(ctx, found.pk, *at)?;
    ctx.exec("DELETE FROM reminders WHERE pk = ?", [found.pk.0])?;
    Ok(Some(found))
}

fn materialise_op(ctx: &mut Ctx, step: &Materialise) -> Result<Option<(Reminder, Option<Message>)>, OpError> {
    let Some(current) = load(ctx, step.reminder.0)? else { return Ok(None) };
    if current.status != ReminderStatus::Active || current.next_index != step.index || current.updated_at != step.seen_updated_at {
        return Ok(None);
    }
    let mut message = None;
    let mut skipped = step.skipped.clone();
    if let Some(new) = &step.message {
        let mut job = OutboundJob { messages: vec![new.clone()], out: None };
        outbound::insert_group(ctx, &mut [&mut job])?;
        match job.out {
            Some(Ok(mut outcomes)) => match outcomes.pop() {
                Some(InsertOutcome::Inserted(m) | InsertOutcome::Existing(m)) => message = Some(m),
                // The device expired or its quota ran out: this occurrence is skipped, the series goes on.
                Some(InsertOutcome::Refused(refusal)) => skipped = Some(refusal.code().into()),
                None => return Err(decode("an occurrence insert answered nothing").into()),
            },
            // The device was deleted: the series cannot go on.
            Some(Err(StoreError::Conflict(_))) => skipped = Some("device_deleted".into()),
            Some(Err(e)) => return Err(OpError::Refuse(e)),
            None => return Err(decode("an occurrence insert answered nothing").into()),
        }
    }
    ctx.exec(
        "INSERT INTO reminder_occurrences (reminder_pk, idx, due_at, message_pk, message_id, skipped) VALUES (?, ?, ?, ?, ?, ?)",
        params![
            step.reminder.0,
            step.index,
            ms(step.due_at),
            message.as_ref().map(|m| m.pk.0),
            message.as_ref().map(|m| m.id.as_str().to_owned()),
            skipped.as_deref()
        ],
    )?;
    let device_gone = skipped.as_deref() == Some("device_deleted");
    let next_at = if device_gone { None } else { step.next_at };
    let status = if next_at.is_some() { ReminderStatus::Active } else { ReminderStatus::Finished };
    ctx.exec(
        "UPDATE reminders SET next_index = next_index + 1, next_at = ?, status = ?, sent_count = sent_count + ?, updated_at = ? \
         WHERE pk = ?",
        params![opt_ms(next_at), status.as_str(), i64::from(message.is_some()), ms(step.at), step.reminder.0],
    )?;
    let updated = load(ctx, step.reminder.0)?.ok_or_else(|| decode("a reminder just written is missing"))?;
    Ok(Some((updated, message)))
}

#[async_trait]
impl ReminderStore for SqliteStore {
    async fn create_reminder(&self, reminder: NewReminder) -> StoreResult<Reminder> {
        self.writer().call(reminder, create_op).await
    }

    async fn get_reminder(&self, tenant: TenantPk, id: &ReminderId) -> StoreResult<Option<Reminder>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.tenant_pk = ? AND r.id = ?")))
            .bind(tenant.0)
            .bind(id.as_str())
            .fetch_optional(self.read())
            .await
            .read()?;
        row.as_ref().map(reminder).transpose().read()
    }

    async fn list_reminders(&self, tenant: TenantPk, filter: &ReminderFilter) -> StoreResult<Vec<Reminder>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE r.tenant_pk = ? AND r.id > ? AND (? IS NULL OR r.device_pk = ?) ORDER BY r.id LIMIT ?"
        )))
        .bind(tenant.0)
        .bind(filter.after.as_ref().map_or("", |a| a.as_str()))
        .bind(filter.device.map(|d| d.0))
        .bind(filter.device.map(|d| d.0))
        .bind(i64::from(filter.limit.clamp(1, 1000)))
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter().map(reminder).collect::<Result<_, _>>().read()
    }

    async fn update_reminder(&self, tenant: TenantPk, id: &ReminderId, change: ReminderChange) -> StoreResult<Option<Reminder>> {
        self.writer().call((tenant, id.clone(), change), update_op).await
    }

    async fn delete_reminder(&self, tenant: TenantPk, id: &ReminderId, at: Timestamp) -> StoreResult<Option<Reminder>> {
        self.writer().call((tenant, id.clone(), at), delete_op).await
    }

    async fn reminder_occurrences(&self, reminder: ReminderPk, limit: u32) -> StoreResult<Vec<Occurrence>> {
        let rows = sqlx::query(
            "SELECT o.idx, o.due_at, o.message_id, o.skipped, m.status FROM reminder_occurrences o \
             LEFT JOIN messages m ON m.pk = o.message_pk WHERE o.reminder_pk = ? ORDER BY o.pk DESC LIMIT ?",
        )
        .bind(reminder.0)
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter()
            .map(|row| {
                let status = match row.opt_text("status")? {
                    Some(raw) => Some(raw.parse::<MessageStatus>().map_err(|_| decode(format!("unknown status `{raw}`")))?),
                    None => None,
                };
                let message_id = match row.opt_text("message_id")? {
                    Some(raw) => Some(raw.parse::<MessageId>().map_err(|_| decode(format!("bad message id `{raw}`")))?),
                    None => None,
                };
                Ok(Occurrence {
                    index: u32_col(row, "idx")?,
                    due_at: time(row, "due_at")?,
                    message_id,
                    status,
                    skipped: row.opt_text("skipped")?,
                })
            })
            .collect::<Result<_, Bad>>()
            .read()
    }

    async fn due_reminders(&self, until: Timestamp, limit: u32) -> StoreResult<Vec<Reminder>> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.status = 'active' AND r.next_at <= ? ORDER BY r.next_at LIMIT ?")))
                .bind(ms(until))
                .bind(i64::from(limit.clamp(1, 1000)))
                .fetch_all(self.read())
                .await
                .read()?;
        rows.iter().map(reminder).collect::<Result<_, _>>().read()
    }

    async fn next_reminder_at(&self) -> StoreResult<Option<Timestamp>> {
        let row = sqlx::query("SELECT min(next_at) AS due FROM reminders WHERE status = 'active'").fetch_one(self.read()).await.read()?;
        let due: Option<i64> = row.try_get("due").read()?;
        due.map(rows::from_ms).transpose().read()
    }

    async fn materialise_occurrence(&self, step: Materialise) -> StoreResult<Option<(Reminder, Option<Message>)>> {
        self.writer().call(step, materialise_op).await
    }
}
