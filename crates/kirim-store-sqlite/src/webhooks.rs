//! Webhook endpoints, the fan-out of committed events into deliveries, and delivery attempts.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use kirim_core::event::NewEvent;
use kirim_core::id::{DeliveryPk, DevicePk, TenantPk, WebhookPk};
use kirim_core::store::{DeliveryFilter, FanOut, PRUNE_BATCH, StoreError, StoreResult, WebhookStore};
use kirim_core::webhook::{
    Attempt, AttemptResult, Delivery, DeliveryJob, DeliveryOutcome, DeliveryStatus, NewWebhook, Streak, Webhook, WebhookFormat,
    WebhookPatch, own_types,
};
use kirim_core::{DeliveryId, DeviceId, EventId, Secret, Timestamp, WebhookId};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};

use crate::SqliteStore;
use crate::error::{Bad, OpError, ReadResult, WriteError, decode};
use crate::events::append;
use crate::outbound::{CHUNKS, chunk_sizes, multi_row};
use crate::rows::{self, Cols, ms, opt_json, opt_time, parsed, time, trunc};
use crate::writer::Ctx;

const CURSOR_KEY: &str = "webhooks.fan_out_seq";

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, OpError> {
    serde_json::to_string(value).map_err(|e| OpError::Refuse(StoreError::Conflict(format!("unstorable JSON: {e}"))))
}

fn webhook(row: &impl Cols) -> Result<Webhook, Bad> {
    let previous_secret = match (row.opt_text("previous_secret")?, opt_time(row, "previous_expires_at")?) {
        (Some(secret), Some(until)) => Some((Secret::new(secret), until)),
        _ => None,
    };
    let devices: Option<Vec<String>> = opt_json(row, "devices")?;
    let devices = devices
        .map(|ids| ids.iter().map(|raw| raw.parse::<DeviceId>().map_err(|_| decode(format!("bad device id `{raw}`")))).collect())
        .transpose()?;
    Ok(Webhook {
        pk: WebhookPk(row.int("pk")?),
        id: parsed::<WebhookId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        url: row.text("url")?,
        description: row.opt_text("description")?,
        event_types: opt_json(row, "event_types")?,
        devices,
        secret: Secret::new(row.text("secret")?),
        previous_secret,
        auto_reply: row.flag("auto_reply")?,
        format: {
            let raw = row.text("format")?;
            WebhookFormat::parse(&raw).ok_or_else(|| decode(format!("bad webhook format `{raw}`")))?
        },
        enabled: row.flag("enabled")?,
        disabled_reason: row.opt_text("disabled_reason")?,
        failing_since: opt_time(row, "failing_since")?,
        last_failure_at: opt_time(row, "last_failure_at")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn delivery(row: &impl Cols) -> Result<Delivery, Bad> {
    let raw = row.text("status")?;
    Ok(Delivery {
        pk: DeliveryPk(row.int("pk")?),
        id: parsed::<DeliveryId>(row, "id")?,
        webhook_pk: WebhookPk(row.int("webhook_pk")?),
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        event_id: parsed::<EventId>(row, "event_id")?,
        event_seq: row.int("event_seq")?,
        event_type: row.text("event_type")?,
        status: DeliveryStatus::parse(&raw).ok_or_else(|| decode(format!("unknown delivery status `{raw}`")))?,
        attempts: row.int("attempts")? as u32,
        next_attempt_at: opt_time(row, "next_attempt_at")?,
        last_status_code: row.opt_int("last_status_code")?.map(|c| c as u16),
        last_error: row.opt_text("last_error")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn attempt(row: &impl Cols) -> Result<Attempt, Bad> {
    Ok(Attempt {
        attempt: row.int("attempt")? as u32,
        at: time(row, "at")?,
        status_code: row.opt_int("status_code")?.map(|c| c as u16),
        duration_ms: row.int("duration_ms")?.max(0) as u64,
        error: row.opt_text("error")?,
        response: row.opt_text("response")?,
    })
}

fn create(ctx: &mut Ctx, w: &NewWebhook) -> Result<Webhook, OpError> {
    let event_types = w.event_types.as_ref().map(to_json).transpose()?;
    let devices = w.devices.as_ref().map(to_json).transpose()?;
    let hook = ctx.one(
        "INSERT INTO webhooks (id, tenant_pk, url, description, event_types, devices, secret, auto_reply, from_seq, created_at, updated_at, format) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) + 1, ?9, ?9, ?10) RETURNING *",
        params![
            w.id.as_str(),
            w.tenant_pk.0,
            w.url.as_str(),
            w.description.as_deref(),
            event_types,
            devices,
            w.secret.expose(),
            w.auto_reply,
            ms(w.created_at),
            w.format.as_str(),
        ],
        |row| Ok(webhook(row)?),
    )?;
    Ok(hook)
}

fn update(ctx: &mut Ctx, (tenant, id, patch, at): &(TenantPk, WebhookId, WebhookPatch, Timestamp)) -> Result<Option<Webhook>, OpError> {
    let event_types = patch.event_types.as_ref().map(|t| t.as_ref().map(to_json).transpose()).transpose()?;
    let devices = patch.devices.as_ref().map(|d| d.as_ref().map(to_json).transpose()).transpose()?;
    let (new_secret, previous_until) = match &patch.rotate_secret {
        Some((secret, until)) => (Some(secret.expose().to_owned()), Some(ms(*until))),
        None => (None, None),
    };
    let hook = ctx.opt(
        "UPDATE webhooks SET \
           url = coalesce(?1, url), \
           description = CASE WHEN ?2 THEN ?3 ELSE description END, \
           event_types = CASE WHEN ?4 THEN ?5 ELSE event_types END, \
           devices = CASE WHEN ?6 THEN ?7 ELSE devices END, \
           auto_reply = coalesce(?8, auto_reply), \
           disabled_reason = CASE WHEN ?9 = 1 THEN NULL ELSE disabled_reason END, \
           failing_since = CASE WHEN ?9 = 1 AND enabled = 0 THEN NULL ELSE failing_since END, \
           last_failure_at = CASE WHEN ?9 = 1 AND enabled = 0 THEN NULL ELSE last_failure_at END, \
           enabled = coalesce(?9, enabled), \
           previous_secret = CASE WHEN ?10 IS NULL THEN previous_secret ELSE secret END, \
           previous_expires_at = CASE WHEN ?10 IS NULL THEN previous_expires_at ELSE ?11 END, \
           secret = coalesce(?10, secret), \
           updated_at = ?12, \
           format = coalesce(?15, format) \
         WHERE tenant_pk = ?13 AND id = ?14 AND deleted_at IS NULL RETURNING *",
        params![
            patch.url.as_deref(),
            patch.description.is_some(),
            patch.description.clone().flatten(),
            event_types.is_some(),
            event_types.flatten(),
            devices.is_some(),
            devices.flatten(),
            patch.auto_reply,
            patch.enabled,
            new_secret,
            previous_until,
            ms(*at),
            tenant.0,
            id.as_str(),
            patch.format.map(|f| f.as_str()),
        ],
        |row| Ok(webhook(row)?),
    )?;
    Ok(hook)
}

/// Fails an endpoint's pending deliveries (it was disabled or deleted).
fn fail_pending(ctx: &Ctx, webhook: WebhookPk, reason: &str, at: Timestamp) -> Result<(), WriteError> {
    ctx.exec(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ?, updated_at = ? \
         WHERE webhook_pk = ? AND status = 'pending'",
        params![reason, ms(at), webhook.0],
    )?;
    Ok(())
}

fn delete(ctx: &mut Ctx, (tenant, id, at): &(TenantPk, WebhookId, Timestamp)) -> Result<Option<Webhook>, OpError> {
    let hook = ctx.opt(
        "UPDATE webhooks SET deleted_at = ? WHERE tenant_pk = ? AND id = ? AND deleted_at IS NULL RETURNING *",
        params![ms(*at), tenant.0, id.as_str()],
        |row| Ok(webhook(row)?),
    )?;
    let Some(hook) = hook else { return Ok(None) };
    fail_pending(ctx, hook.pk, "the endpoint was deleted", *at)?;
    Ok(Some(hook))
}

/// An event the fan-out reads.
struct Logged {
    seq: i64,
    id: String,
    tenant: i64,
    event_type: String,
    device: Option<DeviceId>,
    /// Only a test event needs its data to be matched.
    data: serde_json::Value,
}

fn fan_out(ctx: &mut Ctx, (limit, now): &(u32, Timestamp)) -> Result<FanOut, OpError> {
    let cursor = ctx.opt("SELECT value FROM settings WHERE key = ?", [CURSOR_KEY], |row| Ok(row.text("value")?))?;
    let cursor: i64 = match cursor {
        Some(raw) => raw.parse().map_err(|_| decode("bad webhook fan-out cursor"))?,
        None => 0,
    };
    let mut hooks: HashMap<i64, Vec<(Webhook, i64)>> = HashMap::new();
    for (hook, from_seq) in
        ctx.all("SELECT * FROM webhooks WHERE deleted_at IS NULL AND enabled = 1", [], |row| Ok((webhook(row)?, row.int("from_seq")?)))?
    {
        hooks.entry(hook.tenant_pk.0).or_default().push((hook, from_seq));
    }
    if hooks.is_empty() {
        // Nobody to deliver to: catch the cursor up without reading the events.
        ctx.exec(
            "UPDATE settings SET value = (SELECT coalesce(max(seq), 0) FROM events) \
             WHERE key = ? AND CAST(value AS INTEGER) < (SELECT coalesce(max(seq), 0) FROM events)",
            [CURSOR_KEY],
        )?;
        return Ok(FanOut::default());
    }
    let events = ctx.all(
        "SELECT e.seq, e.id, e.tenant_pk, e.type, e.data, d.id AS device_id FROM events e \
         LEFT JOIN devices d ON d.pk = e.device_pk WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
        params![cursor, i64::from((*limit).max(1))],
        |row| {
            let event_type = row.text("type")?;
            let device = match row.opt_text("device_id")? {
                Some(raw) => Some(raw.parse::<DeviceId>().map_err(|_| decode(format!("bad device id `{raw}`")))?),
                None => None,
            };
            let data = if event_type == own_types::TEST { rows::json(row, "data")? } else { serde_json::Value::Null };
            Ok(Logged { seq: row.int("seq")?, id: row.text("id")?, tenant: row.int("tenant_pk")?, event_type, device, data })
        },
    )?;
    let Some(last) = events.last() else { return Ok(FanOut::default()) };
    let last_seq = last.seq;
    let at = ms(*now);
    let mut touched = Vec::new();
    let mut rows: Vec<(i64, &Logged)> = Vec::new();
    for event in &events {
        let Some(candidates) = hooks.get(&event.tenant) else { continue };
        for (hook, from_seq) in candidates {
            if event.seq < *from_seq || !hook.wants(&event.event_type, event.device.as_ref(), &event.data) {
                continue;
            }
            rows.push((hook.pk.0, event));
            if !touched.contains(&hook.pk) {
                touched.push(hook.pk);
            }
        }
    }
    // Many rows per statement: a few statement shapes, each prepared once.
    let mut start = 0;
    for size in chunk_sizes(rows.len()) {
        let mut values: Vec<Value> = Vec::with_capacity(size * 9);
        for (webhook, event) in &rows[start..start + size] {
            values.extend([
                DeliveryId::generate().as_str().to_owned().into(),
                (*webhook).into(),
                event.tenant.into(),
                event.seq.into(),
                event.id.clone().into(),
                event.event_type.clone().into(),
                at.into(),
                at.into(),
                at.into(),
            ]);
        }
        ctx.exec(fan_out_sql(size), params_from_iter(values))?;
        start += size;
    }
    ctx.exec(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![CURSOR_KEY, last_seq.to_string()],
    )?;
    Ok(FanOut { events: events.len() as u32, webhooks: touched })
}

static FAN_OUT_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    CHUNKS
        .iter()
        .map(|n| {
            multi_row(
                "INSERT INTO webhook_deliveries (id, webhook_pk, tenant_pk, event_seq, event_id, event_type, status, next_attempt_at, \
                 created_at, updated_at) VALUES ",
                "(?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                *n,
                "",
            )
        })
        .collect()
});

fn fan_out_sql(rows: usize) -> &'static str {
    let at = CHUNKS.iter().position(|n| *n == rows).unwrap_or(CHUNKS.len() - 1);
    FAN_OUT_SQL.get(at).map_or("", String::as_str)
}

/// What a delivery needs of its event.
struct EventPart {
    created_at: Timestamp,
    device: Option<DevicePk>,
    data: serde_json::Value,
}

fn claim(ctx: &mut Ctx, (hook, now, lease, limit): &(WebhookPk, Timestamp, Timestamp, u32)) -> Result<Vec<DeliveryJob>, OpError> {
    let deliveries = ctx.all(
        "UPDATE webhook_deliveries SET next_attempt_at = ?1, updated_at = ?2 WHERE pk IN \
         (SELECT pk FROM webhook_deliveries WHERE webhook_pk = ?3 AND status = 'pending' AND next_attempt_at <= ?2 \
          ORDER BY next_attempt_at, pk LIMIT ?4) RETURNING *",
        params![ms(*lease), ms(*now), hook.0, i64::from((*limit).max(1))],
        |row| Ok(delivery(row)?),
    )?;
    let mut events: HashMap<i64, EventPart> = HashMap::with_capacity(deliveries.len());
    for d in &deliveries {
        if events.contains_key(&d.event_seq) {
            continue;
        }
        let part = ctx.opt("SELECT created_at, device_pk, data FROM events WHERE seq = ?", [d.event_seq], |e| {
            Ok(EventPart {
                created_at: time(e, "created_at")?,
                device: e.opt_int("device_pk")?.map(DevicePk),
                data: rows::json(e, "data")?,
            })
        })?;
        if let Some(part) = part {
            events.insert(d.event_seq, part);
        }
    }
    let mut jobs: Vec<DeliveryJob> = deliveries
        .into_iter()
        .map(|delivery| match events.get(&delivery.event_seq) {
            Some(e) => DeliveryJob { event_created_at: e.created_at, device: e.device, data: Some(e.data.clone()), delivery },
            // Pruned from the log while waiting: the delivery fails for want of its event.
            None => DeliveryJob { event_created_at: delivery.created_at, device: None, data: None, delivery },
        })
        .collect();
    jobs.sort_by_key(|j| (j.delivery.next_attempt_at, j.delivery.pk));
    Ok(jobs)
}

fn record(ctx: &mut Ctx, (pk, result): &(DeliveryPk, AttemptResult)) -> Result<Option<Delivery>, OpError> {
    let a = &result.attempt;
    let at = ms(a.at);
    let (status, next) = match &result.outcome {
        DeliveryOutcome::Succeeded => (DeliveryStatus::Succeeded, None),
        DeliveryOutcome::Retry { at } => (DeliveryStatus::Pending, Some(ms(*at))),
        DeliveryOutcome::Failed => (DeliveryStatus::Failed, None),
    };
    let updated = ctx.opt(
        "UPDATE webhook_deliveries SET status = ?, attempts = max(attempts, ?), next_attempt_at = ?, last_status_code = ?, \
         last_error = ?, updated_at = ? WHERE pk = ? AND status = 'pending' RETURNING *",
        params![status.as_str(), i64::from(a.attempt), next, a.status_code.map(i64::from), a.error.as_deref(), at, pk.0],
        |row| Ok(delivery(row)?),
    )?;
    // A delivery that is no longer pending (finished, or its endpoint went away) keeps its record.
    let Some(delivery) = updated else { return Ok(None) };
    ctx.exec(
        "INSERT INTO webhook_attempts (delivery_pk, attempt, at, status_code, duration_ms, error, response) VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![
            pk.0,
            i64::from(a.attempt),
            at,
            a.status_code.map(i64::from),
            a.duration_ms as i64,
            a.error.as_deref(),
            a.response.as_deref()
        ],
    )?;
    match result.streak {
        Streak::Ended => {
            ctx.exec("UPDATE webhooks SET failing_since = NULL WHERE pk = ? AND failing_since IS NOT NULL", [delivery.webhook_pk.0])?;
        }
        Streak::Failing { since } => {
            ctx.exec(
                "UPDATE webhooks SET failing_since = ?, last_failure_at = ? WHERE pk = ?",
                params![ms(since), at, delivery.webhook_pk.0],
            )?;
        }
        Streak::Unchanged => {}
    }
    if let Some(reason) = &result.disable {
        let disabled = ctx.opt(
            "UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE pk = ? AND enabled = 1 AND deleted_at IS NULL RETURNING *",
            params![reason.as_str(), at, delivery.webhook_pk.0],
            |row| Ok(webhook(row)?),
        )?;
        if let Some(hook) = disabled {
            fail_pending(ctx, hook.pk, &format!("the endpoint was disabled: {reason}"), a.at)?;
            // The URL without its query: a token in it is not for every reader of the log.
            let url = hook.url.split(['?', '#']).next().unwrap_or_default();
            let data = serde_json::json!({"webhook_id": hook.id, "url": url, "reason": reason});
            let event = NewEvent {
                id: EventId::generate(),
                tenant_pk: hook.tenant_pk,
                device_pk: None,
                event_type: own_types::DISABLED,
                data,
                created_at: trunc(a.at),
            };
            append(ctx, event);
        }
    }
    Ok(Some(delivery))
}

fn retry(ctx: &mut Ctx, (tenant, id, now): &(TenantPk, DeliveryId, Timestamp)) -> Result<Option<Delivery>, OpError> {
    let found = ctx.opt(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?1, updated_at = ?1 WHERE tenant_pk = ?2 AND id = ?3 RETURNING *",
        params![ms(*now), tenant.0, id.as_str()],
        |row| Ok(delivery(row)?),
    )?;
    Ok(found)
}

fn prune(ctx: &mut Ctx, before: &Timestamp) -> Result<u64, OpError> {
    let pks = ctx.all(
        "SELECT pk FROM webhook_deliveries WHERE created_at < ? AND status != 'pending' ORDER BY pk LIMIT ?",
        params![ms(*before), PRUNE_BATCH as i64],
        |row| Ok(row.int("pk")?),
    )?;
    for pk in &pks {
        ctx.exec("DELETE FROM webhook_attempts WHERE delivery_pk = ?", [pk])?;
        ctx.exec("DELETE FROM webhook_deliveries WHERE pk = ?", [pk])?;
    }
    Ok(pks.len() as u64)
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, webhook: NewWebhook) -> StoreResult<Webhook> {
        self.writer().call(webhook, create).await
    }

    async fn get_webhook(&self, tenant: TenantPk, id: &WebhookId) -> StoreResult<Option<Webhook>> {
        let row = sqlx::query("SELECT * FROM webhooks WHERE tenant_pk = ? AND id = ? AND deleted_at IS NULL")
            .bind(tenant.0)
            .bind(id.as_str())
            .fetch_optional(self.read())
            .await
            .read()?;
        row.as_ref().map(webhook).transpose().read()
    }

    async fn list_webhooks(&self, tenant: TenantPk) -> StoreResult<Vec<Webhook>> {
        let rows = sqlx::query("SELECT * FROM webhooks WHERE tenant_pk = ? AND deleted_at IS NULL ORDER BY pk")
            .bind(tenant.0)
            .fetch_all(self.read())
            .await
            .read()?;
        rows.iter().map(webhook).collect::<Result<_, _>>().read()
    }

    async fn list_all_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        let rows = sqlx::query("SELECT * FROM webhooks WHERE deleted_at IS NULL ORDER BY pk").fetch_all(self.read()).await.read()?;
        rows.iter().map(webhook).collect::<Result<_, _>>().read()
    }

    async fn update_webhook(&self, tenant: TenantPk, id: &WebhookId, patch: WebhookPatch, at: Timestamp) -> StoreResult<Option<Webhook>> {
        self.writer().call((tenant, id.clone(), patch, at), update).await
    }

    async fn delete_webhook(&self, tenant: TenantPk, id: &WebhookId, at: Timestamp) -> StoreResult<Option<Webhook>> {
        self.writer().call((tenant, id.clone(), at), delete).await
    }

    async fn fan_out(&self, limit: u32, now: Timestamp) -> StoreResult<FanOut> {
        self.writer().call((limit, now), fan_out).await
    }

    async fn claim_deliveries(
        &self,
        webhook: WebhookPk,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryJob>> {
        self.writer().call((webhook, now, lease_until, limit), claim).await
    }

    /// Asked after every short claim: an inline point read (see [`crate::quick`]).
    async fn next_delivery_due(&self, webhook: WebhookPk) -> StoreResult<Option<Timestamp>> {
        let due: Option<i64> = self.quick().with(|conn| {
            conn.prepare_cached("SELECT min(next_attempt_at) FROM webhook_deliveries WHERE webhook_pk = ?1 AND status = 'pending'")?
                .query_row([webhook.0], |row| row.get(0))
        })?;
        due.map(rows::from_ms).transpose().read()
    }

    async fn record_attempt(&self, delivery: DeliveryPk, result: AttemptResult) -> StoreResult<Option<Delivery>> {
        self.writer().call((delivery, result), record).await
    }

    async fn list_deliveries(&self, tenant: TenantPk, webhook: WebhookPk, filter: &DeliveryFilter) -> StoreResult<Vec<Delivery>> {
        let mut sql = String::from("SELECT * FROM webhook_deliveries WHERE tenant_pk = ? AND webhook_pk = ?");
        if filter.status.is_some() {
            sql.push_str(" AND status = ?");
        }
        if filter.event_type.is_some() {
            sql.push_str(" AND event_type = ?");
        }
        if filter.before.is_some() {
            sql.push_str(" AND pk < coalesce((SELECT pk FROM webhook_deliveries WHERE id = ? AND tenant_pk = ? AND webhook_pk = ?), 0)");
        }
        sql.push_str(" ORDER BY pk DESC LIMIT ?");
        // Only fixed fragments are concatenated above; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(webhook.0);
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        if let Some(t) = &filter.event_type {
            query = query.bind(t.clone());
        }
        if let Some(before) = &filter.before {
            query = query.bind(before.as_str().to_owned()).bind(tenant.0).bind(webhook.0);
        }
        let rows = query.bind(i64::from(filter.limit.clamp(1, 500))).fetch_all(self.read()).await.read()?;
        rows.iter().map(delivery).collect::<Result<_, _>>().read()
    }

    async fn get_delivery(&self, tenant: TenantPk, id: &DeliveryId) -> StoreResult<Option<(Delivery, Vec<Attempt>)>> {
        let row = sqlx::query("SELECT * FROM webhook_deliveries WHERE tenant_pk = ? AND id = ?")
            .bind(tenant.0)
            .bind(id.as_str())
            .fetch_optional(self.read())
            .await
            .read()?;
        let Some(row) = row else { return Ok(None) };
        let found = delivery(&row).read()?;
        let attempts = sqlx::query("SELECT * FROM webhook_attempts WHERE delivery_pk = ? ORDER BY attempt, pk")
            .bind(found.pk.0)
            .fetch_all(self.read())
            .await
            .read()?;
        let attempts = attempts.iter().map(attempt).collect::<Result<_, _>>().read()?;
        Ok(Some((found, attempts)))
    }

    async fn retry_delivery(&self, tenant: TenantPk, id: &DeliveryId, now: Timestamp) -> StoreResult<Option<Delivery>> {
        self.writer().call((tenant, id.clone(), now), retry).await
    }

    async fn prune_deliveries(&self, before: Timestamp) -> StoreResult<u64> {
        self.writer().call(before, prune).await
    }
}
