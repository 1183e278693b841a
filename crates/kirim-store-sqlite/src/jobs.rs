//! Field jobs and their timelines. A job, its timeline entry, the message sent about it and
//! their events are always written in one writer operation (one transaction).

use async_trait::async_trait;
use kirim_core::event::types;
use kirim_core::id::{DevicePk, JobPk, TenantPk};
use kirim_core::job::{
    self, EntryKind, Job, JobDispatch, JobFilter, JobRecord, JobState, JobStatus, JobStore, NewEntry, RecordOutcome, TimelineEntry,
};
use kirim_core::message::{Message, NewOutbound};
use kirim_core::store::{InsertOutcome, StoreError, StoreResult};
use kirim_core::{DeviceId, JobId, MessageId, PhoneNumber, Timestamp};
use rusqlite::params;
use serde_json::{Value, json};

use crate::SqliteStore;
use crate::contacts::to_json;
use crate::error::{Bad, OpError, ReadResult, WriteError, decode};
use crate::events;
use crate::outbound::{self, OutboundJob};
use crate::rows::{Cols, ms, opt_ms, opt_time, parsed, select_message, time};
use crate::writer::Ctx;

const SELECT: &str = "SELECT j.*, d.id AS device_id FROM jobs j JOIN devices d ON d.pk = j.device_pk";

fn opt_status(row: &impl Cols, col: &str) -> Result<Option<JobStatus>, Bad> {
    match row.opt_text(col)? {
        Some(raw) => raw.parse().map(Some).map_err(|_| decode(format!("column {col} holds an unknown status `{raw}`"))),
        None => Ok(None),
    }
}

fn job_row(row: &impl Cols) -> Result<Job, Bad> {
    Ok(Job {
        pk: JobPk(row.int("pk")?),
        id: parsed::<JobId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        number: row.int("number")?,
        device_pk: DevicePk(row.int("device_pk")?),
        device_id: parsed::<DeviceId>(row, "device_id")?,
        worker: PhoneNumber::from_stored(row.text("worker")?),
        client_name: row.text("client_name")?,
        task: row.text("task")?,
        location: row.text("location")?,
        map_link: row.opt_text("map_link")?,
        scheduled_for: opt_time(row, "scheduled_for")?,
        notes: row.opt_text("notes")?,
        state: JobState {
            status: parsed::<JobStatus>(row, "status")?,
            previous_status: opt_status(row, "previous_status")?,
            delay_until: opt_time(row, "delay_until")?,
            arrived_at: opt_time(row, "arrived_at")?,
            started_at: opt_time(row, "started_at")?,
            done_at: opt_time(row, "done_at")?,
        },
        dispatch_message_id: row
            .opt_text("dispatch_message_id")?
            .map(|raw| raw.parse::<MessageId>())
            .transpose()
            .map_err(|_| decode("dispatch_message_id is not a message id"))?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn opt_message_id(row: &impl Cols, col: &str) -> Result<Option<MessageId>, Bad> {
    row.opt_text(col)?.map(|raw| raw.parse::<MessageId>()).transpose().map_err(|_| decode(format!("{col} is not a message id")))
}

fn entry_row(row: &impl Cols) -> Result<TimelineEntry, Bad> {
    Ok(TimelineEntry {
        seq: row.int("pk")?,
        kind: parsed::<EntryKind>(row, "kind")?,
        from: opt_status(row, "from_status")?,
        to: opt_status(row, "to_status")?,
        text: row.opt_text("text")?,
        media_id: row.opt_text("media_id")?,
        message_id: opt_message_id(row, "message_id")?,
        message_status: row.opt_text("message_status")?,
        inbound_message_id: opt_message_id(row, "inbound_id")?,
        detail: crate::rows::json::<Value>(row, "detail")?,
        at: time(row, "created_at")?,
    })
}

fn load(ctx: &Ctx, pk: i64) -> Result<Option<Job>, WriteError> {
    ctx.opt(&format!("{SELECT} WHERE j.pk = ?"), [pk], |row| Ok(job_row(row)?))
}

/// Inserts one message through the accept path's own statement (with its event).
fn insert_message(ctx: &mut Ctx, new: &NewOutbound) -> Result<Message, OpError> {
    let mut out = OutboundJob { messages: vec![new.clone()], out: None };
    outbound::insert_group(ctx, &mut [&mut out])?;
    match out.out {
        Some(Ok(mut outcomes)) => match outcomes.pop() {
            Some(InsertOutcome::Inserted(m) | InsertOutcome::Existing(m)) => Ok(m),
            // The job is not written either: a worker must not get a job its message never carried.
            Some(InsertOutcome::Refused(refusal)) => Err(OpError::Refuse(StoreError::Refused(refusal))),
            None => Err(decode("a job message insert answered nothing").into()),
        },
        Some(Err(e)) => Err(OpError::Refuse(e)),
        None => Err(decode("a job message insert answered nothing").into()),
    }
}

fn insert_entry(ctx: &mut Ctx, job: JobPk, e: &NewEntry, at: Timestamp) -> Result<(), OpError> {
    let kind = e.kind.ok_or_else(|| OpError::Refuse(StoreError::Conflict("a timeline entry needs a kind".into())))?;
    ctx.exec(
        "INSERT INTO job_timeline (job_pk, kind, from_status, to_status, text, media_id, message_id, inbound_id, detail, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            job.0,
            kind.as_str(),
            e.from.map(|s| s.as_str()),
            e.to.map(|s| s.as_str()),
            e.text.as_deref(),
            e.media_id.as_deref(),
            e.message_id.as_ref().map(|m| m.as_str().to_owned()),
            e.inbound_id.as_ref().map(|m| m.as_str().to_owned()),
            to_json(&e.detail)?,
            ms(at)
        ],
    )?;
    Ok(())
}

/// What an entry's event says besides the job.
fn entry_event(e: &NewEntry) -> Value {
    json!({
        "kind": e.kind.map(|k| k.as_str()),
        "text": e.text,
        "media_id": e.media_id,
        "message_id": e.message_id,
        "inbound_message_id": e.inbound_id,
        "detail": e.detail,
    })
}

/// Runs `f` so that a refusal (a budget, quota or expiry refusing the message, found after the
/// job's own rows were written) leaves nothing behind: the writer shares one transaction among
/// a batch of operations, so an operation that refuses must undo its own writes.
fn atomically<T>(ctx: &mut Ctx, f: impl FnOnce(&mut Ctx) -> Result<T, OpError>) -> Result<T, OpError> {
    ctx.exec("SAVEPOINT job_op", ())?;
    let events = ctx.pending_events.len();
    match f(ctx) {
        Ok(v) => {
            ctx.exec("RELEASE job_op", ())?;
            Ok(v)
        }
        Err(OpError::Refuse(e)) => {
            ctx.exec("ROLLBACK TO job_op", ())?;
            ctx.pending_events.truncate(events);
            ctx.exec("RELEASE job_op", ())?;
            Err(OpError::Refuse(e))
        }
        Err(abort) => Err(abort),
    }
}

fn create_op(ctx: &mut Ctx, d: &JobDispatch) -> Result<(Job, Message, bool), OpError> {
    atomically(ctx, |ctx| create(ctx, d))
}

fn create(ctx: &mut Ctx, d: &JobDispatch) -> Result<(Job, Message, bool), OpError> {
    let j = &d.job;
    if let Some(key) = &d.message.idempotency_key {
        let sql = concat!(select_message!(), " WHERE m.tenant_pk = ? AND m.idempotency_key = ?");
        let existing = ctx.opt(sql, params![j.tenant_pk.0, key], |row| Ok(crate::rows::message(row, None)?))?;
        if let Some(message) = existing {
            let pk = ctx
                .opt("SELECT job_pk FROM job_timeline WHERE message_id = ? LIMIT 1", [message.id.as_str()], |row| Ok(row.int("job_pk")?))?;
            let job = match pk {
                Some(pk) => load(ctx, pk)?,
                None => None,
            };
            return match job {
                Some(job) => Ok((job, message, true)),
                None => Err(OpError::Refuse(StoreError::Conflict(format!(
                    "the idempotency key was used for message {}, which dispatched no job; use a new key",
                    message.id
                )))),
            };
        }
    }
    if !ctx.device(j.device_pk)?.is_some_and(|dev| dev.live && dev.tenant == j.tenant_pk) {
        return Err(OpError::Refuse(StoreError::Conflict("the device was deleted, or is not one of this account's devices".into())));
    }
    let number: i64 =
        ctx.one("SELECT coalesce(max(number), 0) + 1 AS n FROM jobs WHERE tenant_pk = ?", [j.tenant_pk.0], |row| Ok(row.int("n")?))?;
    let at = ms(j.created_at);
    let pk: i64 = ctx.one(
        "INSERT INTO jobs (id, tenant_pk, number, device_pk, worker, client_name, task, location, map_link, scheduled_for, notes, \
         status, dispatch_message_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
        params![
            j.id.as_str(),
            j.tenant_pk.0,
            number,
            j.device_pk.0,
            j.worker.as_str(),
            j.client_name,
            j.task,
            j.location,
            j.map_link.as_deref(),
            opt_ms(j.scheduled_for),
            j.notes.as_deref(),
            JobStatus::Pending.as_str(),
            d.message.id.as_str(),
            at,
            at
        ],
        |row| Ok(row.int("pk")?),
    )?;
    let created = load(ctx, pk)?.ok_or_else(|| decode("a job just written is missing"))?;
    let mut new = d.message.clone();
    new.content = (d.render)(&created);
    let message = insert_message(ctx, &new)?;
    let entry = NewEntry { message_id: Some(message.id.clone()), to: Some(JobStatus::Pending), ..NewEntry::of(EntryKind::Dispatched) };
    insert_entry(ctx, created.pk, &entry, j.created_at)?;
    events::append(ctx, job::event(&created, types::JOB_CREATED, json!({"message_id": message.id}), j.created_at));
    Ok((created, message, false))
}

fn state_matches(current: &JobState, expected: &JobState) -> bool {
    use kirim_core::Timestamp as T;
    let same = |a: Option<T>, b: Option<T>| a.map(ms) == b.map(ms);
    current.status == expected.status
        && current.previous_status == expected.previous_status
        && same(current.delay_until, expected.delay_until)
        && same(current.arrived_at, expected.arrived_at)
        && same(current.started_at, expected.started_at)
        && same(current.done_at, expected.done_at)
}

fn record_op(ctx: &mut Ctx, r: &JobRecord) -> Result<RecordOutcome, OpError> {
    atomically(ctx, |ctx| record(ctx, r))
}

fn record(ctx: &mut Ctx, r: &JobRecord) -> Result<RecordOutcome, OpError> {
    if let Some(inbound) = &r.inbound {
        let seen = ctx.opt("SELECT 1 AS hit FROM job_timeline WHERE inbound_id = ?", [inbound.as_str()], |row| Ok(row.int("hit")?))?;
        if seen.is_some() {
            return Ok(RecordOutcome::Repeat);
        }
    }
    let Some(current) = load(ctx, r.job.0)?.filter(|j| j.tenant_pk == r.tenant_pk) else { return Ok(RecordOutcome::NotFound) };
    let mut job = current.clone();
    if let Some((expected, next)) = &r.change {
        if !state_matches(&current.state, expected) {
            return Ok(RecordOutcome::Stale);
        }
        let s = next;
        ctx.exec(
            "UPDATE jobs SET status = ?, previous_status = ?, delay_until = ?, arrived_at = ?, started_at = ?, done_at = ?, \
             updated_at = ? WHERE pk = ?",
            params![
                s.status.as_str(),
                s.previous_status.map(|p| p.as_str()),
                opt_ms(s.delay_until),
                opt_ms(s.arrived_at),
                opt_ms(s.started_at),
                opt_ms(s.done_at),
                ms(r.at),
                r.job.0
            ],
        )?;
        job = load(ctx, r.job.0)?.ok_or_else(|| decode("a job just written is missing"))?;
        if current.state.status != job.state.status {
            let extra = json!({"from": current.state.status.as_str(), "to": job.state.status.as_str(), "reason": r.reason});
            events::append(ctx, job::event(&job, types::JOB_UPDATED, extra, r.at));
        }
    } else {
        ctx.exec("UPDATE jobs SET updated_at = ? WHERE pk = ?", params![ms(r.at), r.job.0])?;
    }
    let reply = match &r.reply {
        Some(new) => Some(Box::new(insert_message(ctx, new)?)),
        None => None,
    };
    for entry in &r.entries {
        insert_entry(ctx, r.job, entry, r.at)?;
        if let Some(event_type) = entry.kind.and_then(|k| k.event_type()) {
            events::append(ctx, job::event(&job, event_type, entry_event(entry), r.at));
        }
    }
    Ok(RecordOutcome::Recorded { job: Box::new(job), reply })
}

fn detail_op(ctx: &mut Ctx, (job, seq, detail, at): &(JobPk, i64, Value, Timestamp)) -> Result<bool, OpError> {
    let changed = ctx.exec("UPDATE job_timeline SET detail = ? WHERE pk = ? AND job_pk = ?", params![to_json(detail)?, seq, job.0])?;
    if changed == 0 {
        return Ok(false);
    }
    if let Some(j) = load(ctx, job.0)? {
        let media: Option<String> =
            ctx.one("SELECT media_id FROM job_timeline WHERE pk = ?", [seq], |row| Ok(row.opt_text("media_id")?))?;
        let extra = json!({"kind": EntryKind::VoiceNote.as_str(), "media_id": media, "detail": detail, "seq": seq});
        events::append(ctx, job::event(&j, types::JOB_VOICE_NOTE, extra, *at));
    }
    Ok(true)
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn create_job(&self, dispatch: JobDispatch) -> StoreResult<(Job, Message, bool)> {
        self.writer().call(dispatch, create_op).await
    }

    async fn get_job(&self, tenant: TenantPk, id: &JobId) -> StoreResult<Option<Job>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE j.tenant_pk = ? AND j.id = ?")))
            .bind(tenant.0)
            .bind(id.as_str())
            .fetch_optional(self.read())
            .await
            .read()?;
        row.as_ref().map(job_row).transpose().read()
    }

    async fn job_by_number(&self, tenant: TenantPk, number: i64) -> StoreResult<Option<Job>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE j.tenant_pk = ? AND j.number = ?")))
            .bind(tenant.0)
            .bind(number)
            .fetch_optional(self.read())
            .await
            .read()?;
        row.as_ref().map(job_row).transpose().read()
    }

    async fn list_jobs(&self, tenant: TenantPk, filter: &JobFilter) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE j.tenant_pk = ? AND (? IS NULL OR j.status = ?) AND (? IS NULL OR j.worker = ?) AND (? IS NULL OR j.device_pk = ?) \
             AND (? IS NULL OR j.id < ?) \
             ORDER BY j.id DESC LIMIT ?"
        )))
        .bind(tenant.0)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.worker.as_ref().map(|w| w.as_str().to_owned()))
        .bind(filter.worker.as_ref().map(|w| w.as_str().to_owned()))
        .bind(filter.device.map(|d| d.0))
        .bind(filter.device.map(|d| d.0))
        .bind(filter.before.as_ref().map(|b| b.as_str().to_owned()))
        .bind(filter.before.as_ref().map(|b| b.as_str().to_owned()))
        .bind(i64::from(filter.limit.clamp(1, 1000)))
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter().map(job_row).collect::<Result<_, _>>().read()
    }

    async fn worker_jobs(&self, tenant: TenantPk, worker: &PhoneNumber, open_only: bool, limit: u32) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE j.tenant_pk = ? AND j.worker = ? AND (? = 0 OR j.status != 'DONE') ORDER BY j.id DESC LIMIT ?"
        )))
        .bind(tenant.0)
        .bind(worker.as_str())
        .bind(i64::from(open_only))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter().map(job_row).collect::<Result<_, _>>().read()
    }

    async fn job_for_message(&self, tenant: TenantPk, message: &MessageId) -> StoreResult<Option<Job>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE j.tenant_pk = ? AND j.pk = (SELECT job_pk FROM job_timeline WHERE message_id = ? \
             UNION ALL SELECT job_pk FROM job_timeline WHERE inbound_id = ? LIMIT 1)"
        )))
        .bind(tenant.0)
        .bind(message.as_str())
        .bind(message.as_str())
        .fetch_optional(self.read())
        .await
        .read()?;
        row.as_ref().map(job_row).transpose().read()
    }

    async fn inbound_recorded(&self, message: &MessageId) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS hit FROM job_timeline WHERE inbound_id = ?")
            .bind(message.as_str())
            .fetch_optional(self.read())
            .await
            .read()?;
        Ok(row.is_some())
    }

    async fn job_timeline(&self, job: JobPk, limit: u32) -> StoreResult<Vec<TimelineEntry>> {
        let rows = sqlx::query(
            "SELECT t.*, m.status AS message_status FROM job_timeline t LEFT JOIN messages m ON m.id = t.message_id \
             WHERE t.job_pk = ? ORDER BY t.pk LIMIT ?",
        )
        .bind(job.0)
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter().map(entry_row).collect::<Result<_, _>>().read()
    }

    async fn record_job(&self, record: JobRecord) -> StoreResult<RecordOutcome> {
        self.writer().call(record, record_op).await
    }

    async fn update_entry_detail(&self, job: JobPk, seq: i64, detail: Value, at: Timestamp) -> StoreResult<bool> {
        self.writer().call((job, seq, detail, at), detail_op).await
    }

    async fn next_delay_end(&self) -> StoreResult<Option<Timestamp>> {
        let row = sqlx::query("SELECT min(delay_until) AS at FROM jobs WHERE status = 'DELAYED'").fetch_one(self.read()).await.read()?;
        opt_time(&row, "at").read()
    }

    async fn due_delays(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE j.status = 'DELAYED' AND j.delay_until <= ? ORDER BY j.delay_until LIMIT ?"
        )))
        .bind(ms(now))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter().map(job_row).collect::<Result<_, _>>().read()
    }
}
