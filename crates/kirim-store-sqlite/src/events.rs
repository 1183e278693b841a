//! The event log (the outbox): appended by the writer in the same transaction as each change.

use std::sync::LazyLock;

use async_trait::async_trait;
use kirim_core::Timestamp;
use kirim_core::event::{Event, NewEvent};
use kirim_core::id::TenantPk;
use kirim_core::store::{EventFilter, EventStore, StoreResult};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};
use sqlx::Row;

use crate::SqliteStore;
use crate::error::{OpError, ReadResult, WriteError};
use crate::outbound::{CHUNKS, chunk_sizes, multi_row};
use crate::rows::{self, ms};
use crate::writer::Ctx;

/// Appends one event; called by write operations inside their batch. Events are written
/// together, with few multi-row statements, when the batch commits ([`flush`]).
pub(crate) fn append(ctx: &mut Ctx, event: NewEvent) {
    ctx.pending_events.push(event);
}

static APPEND_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    CHUNKS
        .iter()
        .map(|n| multi_row("INSERT INTO events (id, tenant_pk, device_pk, type, data, created_at) VALUES ", "(?, ?, ?, ?, ?, ?)", *n, ""))
        .collect()
});

/// Writes the batch's events, in the order they were appended, with few statements: the
/// last step of every transaction, so their sequence numbers follow commit order.
pub(crate) fn flush(ctx: &mut Ctx) -> Result<(), WriteError> {
    let events = std::mem::take(&mut ctx.pending_events);
    ctx.events_appended |= !events.is_empty();
    let mut start = 0;
    for size in chunk_sizes(events.len()) {
        let at = CHUNKS.iter().position(|n| *n == size).unwrap_or(CHUNKS.len() - 1);
        let mut values: Vec<Value> = Vec::with_capacity(size * 6);
        for event in &events[start..start + size] {
            values.push(event.id.as_str().to_owned().into());
            values.push(event.tenant_pk.0.into());
            values.push(event.device_pk.map(|d| d.0).into());
            values.push(event.event_type.to_owned().into());
            values.push(event.data.to_string().into());
            values.push(ms(event.created_at).into());
        }
        ctx.exec(APPEND_SQL.get(at).map_or("", String::as_str), params_from_iter(values))?;
        start += size;
    }
    Ok(())
}

fn prune(ctx: &mut Ctx, before: &Timestamp) -> Result<u64, OpError> {
    // Sequence numbers grow with time, so the oldest events are the lowest `seq`s.
    let done = ctx.exec(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE created_at < ? ORDER BY seq LIMIT ?)",
        params![ms(*before), kirim_core::store::PRUNE_BATCH as i64],
    )?;
    Ok(done as u64)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn list_events(&self, tenant: TenantPk, filter: &EventFilter) -> StoreResult<Vec<Event>> {
        let mut sql =
            String::from("SELECT e.*, d.id AS device_id FROM events e LEFT JOIN devices d ON d.pk = e.device_pk WHERE e.tenant_pk = ?");
        if filter.after.is_some() {
            sql.push_str(" AND e.seq > ?");
        }
        if filter.event_type.is_some() {
            sql.push_str(" AND e.type = ?");
        }
        if filter.device.is_some() {
            sql.push_str(" AND e.device_pk = ?");
        }
        sql.push_str(" ORDER BY e.seq LIMIT ?");
        // Only fixed fragments are concatenated above; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
        if let Some(after) = filter.after {
            query = query.bind(after);
        }
        if let Some(t) = &filter.event_type {
            query = query.bind(t.clone());
        }
        if let Some(d) = filter.device {
            query = query.bind(d.0);
        }
        let rows = query.bind(i64::from(filter.limit.clamp(1, 1000))).fetch_all(self.read()).await.read()?;
        rows.iter().map(rows::event).collect::<Result<_, _>>().read()
    }

    async fn last_event_seq(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT coalesce(max(seq), 0) AS seq FROM events").fetch_one(self.read()).await.read()?;
        row.try_get("seq").read()
    }

    async fn prune_events(&self, before: Timestamp) -> StoreResult<u64> {
        self.writer().call(before, prune).await
    }

    async fn append_event(&self, event: NewEvent) -> StoreResult<()> {
        self.writer()
            .call(event, |c, e| {
                append(c, e.clone());
                Ok(())
            })
            .await
    }

    fn event_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.writer().event_commits()
    }
}
