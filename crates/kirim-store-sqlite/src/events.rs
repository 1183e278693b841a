//! The event log (the outbox): appended by the writer in the same transaction as each change.

use std::sync::LazyLock;

use async_trait::async_trait;
use kirim_core::Timestamp;
use kirim_core::event::{Event, NewEvent};
use kirim_core::id::TenantPk;
use kirim_core::store::{EventFilter, EventStore, StoreResult};
use sqlx::Row;

use crate::SqliteStore;
use crate::error::{OpError, ReadResult};
use crate::outbound::{CHUNKS, chunk_sizes, multi_row};
use crate::rows::{self, ms};
use crate::writer::Ctx;

/// Appends one event; called by write operations inside their batch. Events are written
/// together, with few multi-row statements, when the batch commits ([`flush`]).
pub(crate) async fn append(ctx: &mut Ctx, event: &NewEvent) -> Result<(), sqlx::Error> {
    ctx.pending_events.push(event.clone());
    Ok(())
}

static APPEND_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    CHUNKS
        .iter()
        .map(|n| multi_row("INSERT INTO events (id, tenant_pk, device_pk, type, data, created_at) VALUES ", "(?, ?, ?, ?, ?, ?)", *n, ""))
        .collect()
});

/// Appends many events, in order (the hot path's `message.queued`).
pub(crate) async fn append_many(ctx: &mut Ctx, events: &[NewEvent]) -> Result<(), sqlx::Error> {
    ctx.pending_events.extend_from_slice(events);
    Ok(())
}

/// Writes the batch's events, in the order they were appended, with few statements: the
/// last step of every transaction, so their sequence numbers follow commit order.
pub(crate) async fn flush(ctx: &mut Ctx) -> Result<(), sqlx::Error> {
    let events = std::mem::take(&mut ctx.pending_events);
    ctx.events_appended |= !events.is_empty();
    let mut start = 0;
    for size in chunk_sizes(events.len()) {
        let at = CHUNKS.iter().position(|n| *n == size).unwrap_or(CHUNKS.len() - 1);
        let mut query = sqlx::query(APPEND_SQL.get(at).map_or("", String::as_str));
        for event in &events[start..start + size] {
            query = query
                .bind(event.id.as_str())
                .bind(event.tenant_pk.0)
                .bind(event.device_pk.map(|d| d.0))
                .bind(event.event_type)
                .bind(event.data.to_string())
                .bind(ms(event.created_at));
        }
        query.execute(&mut ctx.conn).await?;
        start += size;
    }
    Ok(())
}

async fn prune(ctx: &mut Ctx, before: &Timestamp) -> Result<u64, OpError> {
    // Sequence numbers grow with time, so the oldest events are the lowest `seq`s.
    let done = sqlx::query("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE created_at < ? ORDER BY seq LIMIT ?)")
        .bind(ms(*before))
        .bind(kirim_core::store::PRUNE_BATCH as i64)
        .execute(&mut ctx.conn)
        .await?;
    Ok(done.rows_affected())
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
        self.writer().call(before, |c, b| Box::pin(prune(c, b))).await
    }

    async fn append_event(&self, event: NewEvent) -> StoreResult<()> {
        self.writer().call(event, |c, e| Box::pin(async move { Ok(append(c, e).await?) })).await
    }

    fn event_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.writer().event_commits()
    }
}
