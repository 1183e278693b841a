//! Reports: reads only, on the pool. Every query is the tenant's messages narrowed by the
//! same conditions; a date range (or a day) is a range of `messages_report`
//! (`tenant_pk, created_at`), so a day's report reads that day's rows and no others.

use async_trait::async_trait;
use chrono::NaiveDate;
use kirim_core::id::TenantPk;
use kirim_core::message::{Message, MessageStatus};
use kirim_core::report::{DayRange, ReportFilter, ReportStore, StatusCount};
use kirim_core::store::StoreResult;

use crate::SqliteStore;
use crate::contacts::{Arg, bind_all};
use crate::error::{ReadResult, decode};
use crate::rows::{self, Cols, ms, parsed, select_message};

/// The most ids one `ids` filter takes (well under SQLite's limit on bound values).
pub const MAX_IDS: usize = 500;

/// Appends the filter's conditions (table alias `m`) and their values. `with_range` is false
/// for per-day counts, whose days are the range.
fn conditions(tenant: TenantPk, f: &ReportFilter, with_range: bool, sql: &mut String, args: &mut Vec<Arg>) {
    sql.push_str(" WHERE m.tenant_pk = ?");
    args.push(Arg::Int(tenant.0));
    let mut text = |clause: &str, value: Option<String>| {
        if let Some(v) = value {
            sql.push_str(clause);
            args.push(Arg::Text(v));
        }
    };
    text(" AND m.status = ?", f.status.map(|s| s.as_str().to_owned()));
    text(" AND m.chat = ?", f.chat.as_ref().map(|c| c.as_str().to_owned()));
    text(" AND m.ref_id = ?", f.ref_id.clone());
    text(" AND m.kind = ?", f.kind.map(str::to_owned));
    text(" AND m.direction = ?", f.direction.map(|d| d.as_str().to_owned()));
    if let Some(d) = f.device {
        sql.push_str(" AND m.device_pk = ?");
        args.push(Arg::Int(d.0));
    }
    if !f.ids.is_empty() {
        let ids = &f.ids[..f.ids.len().min(MAX_IDS)];
        sql.push_str(" AND m.id IN (");
        sql.push_str(&vec!["?"; ids.len()].join(", "));
        sql.push(')');
        args.extend(ids.iter().map(|id| Arg::Text(id.as_str().to_owned())));
    }
    if with_range {
        if let Some(from) = f.from {
            sql.push_str(" AND m.created_at >= ?");
            args.push(Arg::Int(ms(from)));
        }
        if let Some(to) = f.to {
            sql.push_str(" AND m.created_at < ?");
            args.push(Arg::Int(ms(to)));
        }
    }
}

fn status_count(row: &impl Cols) -> Result<StatusCount, crate::error::Bad> {
    let count = u64::try_from(row.int("n")?).map_err(|_| decode("a negative count"))?;
    Ok(StatusCount { status: parsed::<MessageStatus>(row, "status")?, count })
}

#[async_trait]
impl ReportStore for SqliteStore {
    async fn report_messages(&self, tenant: TenantPk, filter: &ReportFilter, offset: u64, limit: u32) -> StoreResult<Vec<Message>> {
        let mut sql = String::from(select_message!());
        let mut args = Vec::new();
        conditions(tenant, filter, true, &mut sql, &mut args);
        sql.push_str(" ORDER BY m.created_at DESC, m.pk DESC LIMIT ? OFFSET ?");
        args.push(Arg::Int(i64::from(limit.clamp(1, 1000))));
        args.push(Arg::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        // Only fixed fragments and placeholders are concatenated; every value is bound.
        let found = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_all(self.read()).await.read()?;
        found.iter().map(|r| rows::message(r, None)).collect::<Result<_, _>>().read()
    }

    async fn report_counts(&self, tenant: TenantPk, filter: &ReportFilter) -> StoreResult<Vec<StatusCount>> {
        let mut sql = String::from("SELECT m.status, count(*) AS n FROM messages m");
        let mut args = Vec::new();
        conditions(tenant, filter, true, &mut sql, &mut args);
        sql.push_str(" GROUP BY m.status");
        // Only fixed fragments and placeholders are concatenated; every value is bound.
        let found = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_all(self.read()).await.read()?;
        found.iter().map(status_count).collect::<Result<_, _>>().read()
    }

    async fn report_days(&self, tenant: TenantPk, filter: &ReportFilter, days: &[DayRange]) -> StoreResult<Vec<(NaiveDate, StatusCount)>> {
        if days.is_empty() {
            return Ok(Vec::new());
        }
        // The days arrive as one JSON array and join the index range by range: each day is
        // one seek into `messages_report`, and no time-zone arithmetic happens in SQL.
        let ranges: Vec<serde_json::Value> =
            days.iter().map(|d| serde_json::json!([d.date.format("%Y-%m-%d").to_string(), ms(d.start), ms(d.end)])).collect();
        let mut sql = String::from(
            "WITH days (day, start_ms, end_ms) AS \
             (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)) \
             SELECT days.day, m.status, count(*) AS n FROM days JOIN messages m \
             ON m.tenant_pk = ? AND m.created_at >= days.start_ms AND m.created_at < days.end_ms",
        );
        let mut args = vec![Arg::Text(serde_json::Value::Array(ranges).to_string())];
        conditions(tenant, filter, false, &mut sql, &mut args);
        // `conditions` repeats the tenant (as WHERE); the join needs it to seek the index.
        args.insert(1, Arg::Int(tenant.0));
        sql.push_str(" GROUP BY days.day, m.status ORDER BY days.day");
        // Only fixed fragments and placeholders are concatenated; every value is bound.
        let found = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_all(self.read()).await.read()?;
        let mut out = Vec::with_capacity(found.len());
        for row in &found {
            let raw = row.text("day").read()?;
            let date = NaiveDate::parse_from_str(&raw, "%Y-%m-%d").map_err(|_| decode(format!("bad day `{raw}`"))).read()?;
            out.push((date, status_count(row).read()?));
        }
        Ok(out)
    }
}
