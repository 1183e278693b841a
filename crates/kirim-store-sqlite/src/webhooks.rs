//! Webhook endpoints, the fan-out of committed events into deliveries, and delivery attempts.

use std::collections::HashMap;

use async_trait::async_trait;
use kirim_core::event::NewEvent;
use kirim_core::id::{DeliveryPk, DevicePk, TenantPk, WebhookPk};
use kirim_core::store::{DeliveryFilter, FanOut, PRUNE_BATCH, StoreError, StoreResult, WebhookStore};
use kirim_core::webhook::{
    Attempt, AttemptResult, Delivery, DeliveryJob, DeliveryOutcome, DeliveryStatus, NewWebhook, Streak, Webhook, WebhookPatch, own_types,
};
use kirim_core::{DeliveryId, DeviceId, EventId, Secret, Timestamp, WebhookId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::error::{OpError, ReadResult, decode};
use crate::events::append;
use crate::rows::{self, ms, opt_time, parsed, time, trunc};
use crate::writer::Ctx;

const CURSOR_KEY: &str = "webhooks.fan_out_seq";

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, OpError> {
    serde_json::to_string(value).map_err(|e| OpError::Refuse(StoreError::Conflict(format!("unstorable JSON: {e}"))))
}

fn opt_json<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<Option<T>, sqlx::Error> {
    match row.try_get::<Option<String>, _>(col)? {
        Some(raw) => serde_json::from_str(&raw).map(Some).map_err(|e| decode(format!("column {col} holds bad JSON: {e}"))),
        None => Ok(None),
    }
}

fn webhook(row: &SqliteRow) -> Result<Webhook, sqlx::Error> {
    let previous_secret = match (row.try_get::<Option<String>, _>("previous_secret")?, opt_time(row, "previous_expires_at")?) {
        (Some(secret), Some(until)) => Some((Secret::new(secret), until)),
        _ => None,
    };
    let devices: Option<Vec<String>> = opt_json(row, "devices")?;
    let devices = devices
        .map(|ids| ids.iter().map(|raw| raw.parse::<DeviceId>().map_err(|_| decode(format!("bad device id `{raw}`")))).collect())
        .transpose()?;
    Ok(Webhook {
        pk: WebhookPk(row.try_get("pk")?),
        id: parsed::<WebhookId>(row, "id")?,
        tenant_pk: TenantPk(row.try_get("tenant_pk")?),
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        event_types: opt_json(row, "event_types")?,
        devices,
        secret: Secret::new(row.try_get::<String, _>("secret")?),
        previous_secret,
        auto_reply: row.try_get("auto_reply")?,
        enabled: row.try_get("enabled")?,
        disabled_reason: row.try_get("disabled_reason")?,
        failing_since: opt_time(row, "failing_since")?,
        last_failure_at: opt_time(row, "last_failure_at")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn delivery(row: &SqliteRow) -> Result<Delivery, sqlx::Error> {
    let raw: String = row.try_get("status")?;
    Ok(Delivery {
        pk: DeliveryPk(row.try_get("pk")?),
        id: parsed::<DeliveryId>(row, "id")?,
        webhook_pk: WebhookPk(row.try_get("webhook_pk")?),
        tenant_pk: TenantPk(row.try_get("tenant_pk")?),
        event_id: parsed::<EventId>(row, "event_id")?,
        event_seq: row.try_get("event_seq")?,
        event_type: row.try_get("event_type")?,
        status: DeliveryStatus::parse(&raw).ok_or_else(|| decode(format!("unknown delivery status `{raw}`")))?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        next_attempt_at: opt_time(row, "next_attempt_at")?,
        last_status_code: row.try_get::<Option<i64>, _>("last_status_code")?.map(|c| c as u16),
        last_error: row.try_get("last_error")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn attempt(row: &SqliteRow) -> Result<Attempt, sqlx::Error> {
    Ok(Attempt {
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        at: time(row, "at")?,
        status_code: row.try_get::<Option<i64>, _>("status_code")?.map(|c| c as u16),
        duration_ms: row.try_get::<i64, _>("duration_ms")?.max(0) as u64,
        error: row.try_get("error")?,
        response: row.try_get("response")?,
    })
}

async fn create(ctx: &mut Ctx, w: &NewWebhook) -> Result<Webhook, OpError> {
    let event_types = w.event_types.as_ref().map(to_json).transpose()?;
    let devices = w.devices.as_ref().map(to_json).transpose()?;
    let row = sqlx::query(
        "INSERT INTO webhooks (id, tenant_pk, url, description, event_types, devices, secret, auto_reply, from_seq, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) + 1, ?, ?) RETURNING *",
    )
    .bind(w.id.as_str())
    .bind(w.tenant_pk.0)
    .bind(w.url.as_str())
    .bind(w.description.clone())
    .bind(event_types)
    .bind(devices)
    .bind(w.secret.expose())
    .bind(w.auto_reply)
    .bind(ms(w.created_at))
    .bind(ms(w.created_at))
    .fetch_one(&mut ctx.conn)
    .await?;
    Ok(webhook(&row)?)
}

async fn update(
    ctx: &mut Ctx,
    (tenant, id, patch, at): &(TenantPk, WebhookId, WebhookPatch, Timestamp),
) -> Result<Option<Webhook>, OpError> {
    let event_types = patch.event_types.as_ref().map(|t| t.as_ref().map(to_json).transpose()).transpose()?;
    let devices = patch.devices.as_ref().map(|d| d.as_ref().map(to_json).transpose()).transpose()?;
    let (new_secret, previous_until) = match &patch.rotate_secret {
        Some((secret, until)) => (Some(secret.expose().to_owned()), Some(ms(*until))),
        None => (None, None),
    };
    let row = sqlx::query(
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
           updated_at = ?12 \
         WHERE tenant_pk = ?13 AND id = ?14 AND deleted_at IS NULL RETURNING *",
    )
    .bind(patch.url.clone())
    .bind(patch.description.is_some())
    .bind(patch.description.clone().flatten())
    .bind(event_types.is_some())
    .bind(event_types.flatten())
    .bind(devices.is_some())
    .bind(devices.flatten())
    .bind(patch.auto_reply)
    .bind(patch.enabled)
    .bind(new_secret)
    .bind(previous_until)
    .bind(ms(*at))
    .bind(tenant.0)
    .bind(id.as_str())
    .fetch_optional(&mut ctx.conn)
    .await?;
    Ok(row.as_ref().map(webhook).transpose()?)
}

/// Fails an endpoint's pending deliveries (it was disabled or deleted).
async fn fail_pending(ctx: &mut Ctx, webhook: WebhookPk, reason: &str, at: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ?, updated_at = ? \
         WHERE webhook_pk = ? AND status = 'pending'",
    )
    .bind(reason)
    .bind(ms(at))
    .bind(webhook.0)
    .execute(&mut ctx.conn)
    .await?;
    Ok(())
}

async fn delete(ctx: &mut Ctx, (tenant, id, at): &(TenantPk, WebhookId, Timestamp)) -> Result<Option<Webhook>, OpError> {
    let row = sqlx::query("UPDATE webhooks SET deleted_at = ? WHERE tenant_pk = ? AND id = ? AND deleted_at IS NULL RETURNING *")
        .bind(ms(*at))
        .bind(tenant.0)
        .bind(id.as_str())
        .fetch_optional(&mut ctx.conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let hook = webhook(&row)?;
    fail_pending(ctx, hook.pk, "the endpoint was deleted", *at).await?;
    Ok(Some(hook))
}

async fn fan_out(ctx: &mut Ctx, (limit, now): &(u32, Timestamp)) -> Result<FanOut, OpError> {
    let cursor: i64 = match sqlx::query("SELECT value FROM settings WHERE key = ?").bind(CURSOR_KEY).fetch_optional(&mut ctx.conn).await? {
        Some(row) => row.try_get::<String, _>("value")?.parse().map_err(|_| decode("bad webhook fan-out cursor"))?,
        None => 0,
    };
    let mut hooks: HashMap<i64, Vec<(Webhook, i64)>> = HashMap::new();
    for row in sqlx::query("SELECT * FROM webhooks WHERE deleted_at IS NULL AND enabled = 1").fetch_all(&mut ctx.conn).await? {
        let from_seq: i64 = row.try_get("from_seq")?;
        let hook = webhook(&row)?;
        hooks.entry(hook.tenant_pk.0).or_default().push((hook, from_seq));
    }
    if hooks.is_empty() {
        // Nobody to deliver to: catch the cursor up without reading the events.
        sqlx::query("UPDATE settings SET value = (SELECT coalesce(max(seq), 0) FROM events) WHERE key = ? AND CAST(value AS INTEGER) < (SELECT coalesce(max(seq), 0) FROM events)")
            .bind(CURSOR_KEY)
            .execute(&mut ctx.conn)
            .await?;
        return Ok(FanOut::default());
    }
    let events = sqlx::query(
        "SELECT e.seq, e.id, e.tenant_pk, e.type, e.data, d.id AS device_id FROM events e \
         LEFT JOIN devices d ON d.pk = e.device_pk WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
    )
    .bind(cursor)
    .bind(i64::from((*limit).max(1)))
    .fetch_all(&mut ctx.conn)
    .await?;
    let Some(last) = events.last() else { return Ok(FanOut::default()) };
    let last_seq: i64 = last.try_get("seq")?;
    let at = ms(*now);
    let mut touched = Vec::new();
    // (webhook, tenant, seq, event id, type) of every delivery to write.
    let mut rows: Vec<(i64, i64, i64, String, String)> = Vec::new();
    for event in &events {
        let tenant: i64 = event.try_get("tenant_pk")?;
        let Some(candidates) = hooks.get(&tenant) else { continue };
        let seq: i64 = event.try_get("seq")?;
        let event_type: String = event.try_get("type")?;
        let device = match event.try_get::<Option<String>, _>("device_id")? {
            Some(raw) => Some(raw.parse::<DeviceId>().map_err(|_| decode(format!("bad device id `{raw}`")))?),
            None => None,
        };
        // Only a test event needs its data to be matched.
        let data = if event_type == own_types::TEST { rows::json(event, "data")? } else { serde_json::Value::Null };
        for (hook, from_seq) in candidates {
            if seq < *from_seq || !hook.wants(&event_type, device.as_ref(), &data) {
                continue;
            }
            rows.push((hook.pk.0, tenant, seq, event.try_get::<String, _>("id")?, event_type.clone()));
            if !touched.contains(&hook.pk) {
                touched.push(hook.pk);
            }
        }
    }
    // Many rows per statement: one round trip per hundred deliveries, not one each.
    for chunk in rows.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO webhook_deliveries (id, webhook_pk, tenant_pk, event_seq, event_id, event_type, status, next_attempt_at, created_at, updated_at) VALUES ",
        );
        sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)"; chunk.len()].join(", "));
        // Only fixed fragments are concatenated; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (webhook, tenant, seq, event_id, event_type) in chunk {
            query = query
                .bind(DeliveryId::generate().as_str().to_owned())
                .bind(*webhook)
                .bind(*tenant)
                .bind(*seq)
                .bind(event_id.clone())
                .bind(event_type.clone())
                .bind(at)
                .bind(at)
                .bind(at);
        }
        query.execute(&mut ctx.conn).await?;
    }
    sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(CURSOR_KEY)
        .bind(last_seq.to_string())
        .execute(&mut ctx.conn)
        .await?;
    Ok(FanOut { events: events.len() as u32, webhooks: touched })
}

async fn claim(ctx: &mut Ctx, (hook, now, lease, limit): &(WebhookPk, Timestamp, Timestamp, u32)) -> Result<Vec<DeliveryJob>, OpError> {
    let rows = sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = ?, updated_at = ? WHERE pk IN \
         (SELECT pk FROM webhook_deliveries WHERE webhook_pk = ? AND status = 'pending' AND next_attempt_at <= ? \
          ORDER BY next_attempt_at, pk LIMIT ?) RETURNING *",
    )
    .bind(ms(*lease))
    .bind(ms(*now))
    .bind(hook.0)
    .bind(ms(*now))
    .bind(i64::from((*limit).max(1)))
    .fetch_all(&mut ctx.conn)
    .await?;
    let deliveries: Vec<Delivery> = rows.iter().map(delivery).collect::<Result<_, _>>()?;
    // The events of the whole batch in one query (the seqs are integers, inlined).
    let seqs: Vec<String> = deliveries.iter().map(|d| d.event_seq.to_string()).collect();
    let mut events: HashMap<i64, SqliteRow> = HashMap::with_capacity(seqs.len());
    if !seqs.is_empty() {
        let sql = format!("SELECT seq, created_at, device_pk, data FROM events WHERE seq IN ({})", seqs.join(","));
        for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut ctx.conn).await? {
            events.insert(row.try_get("seq")?, row);
        }
    }
    let mut jobs = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let (event_created_at, device, data) = match events.get(&delivery.event_seq) {
            Some(e) => (time(e, "created_at")?, e.try_get::<Option<i64>, _>("device_pk")?.map(DevicePk), Some(rows::json(e, "data")?)),
            None => (delivery.created_at, None, None),
        };
        jobs.push(DeliveryJob { delivery, event_created_at, device, data });
    }
    jobs.sort_by_key(|j| (j.delivery.next_attempt_at, j.delivery.pk));
    Ok(jobs)
}

async fn record(ctx: &mut Ctx, (pk, result): &(DeliveryPk, AttemptResult)) -> Result<Option<Delivery>, OpError> {
    let a = &result.attempt;
    let at = ms(a.at);
    let (status, next) = match &result.outcome {
        DeliveryOutcome::Succeeded => (DeliveryStatus::Succeeded, None),
        DeliveryOutcome::Retry { at } => (DeliveryStatus::Pending, Some(ms(*at))),
        DeliveryOutcome::Failed => (DeliveryStatus::Failed, None),
    };
    let row = sqlx::query(
        "UPDATE webhook_deliveries SET status = ?, attempts = max(attempts, ?), next_attempt_at = ?, last_status_code = ?, \
         last_error = ?, updated_at = ? WHERE pk = ? AND status = 'pending' RETURNING *",
    )
    .bind(status.as_str())
    .bind(i64::from(a.attempt))
    .bind(next)
    .bind(a.status_code.map(i64::from))
    .bind(a.error.clone())
    .bind(at)
    .bind(pk.0)
    .fetch_optional(&mut ctx.conn)
    .await?;
    // A delivery that is no longer pending (finished, or its endpoint went away) keeps its record.
    let Some(row) = row else { return Ok(None) };
    let delivery = delivery(&row)?;
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_pk, attempt, at, status_code, duration_ms, error, response) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(pk.0)
    .bind(i64::from(a.attempt))
    .bind(at)
    .bind(a.status_code.map(i64::from))
    .bind(a.duration_ms as i64)
    .bind(a.error.clone())
    .bind(a.response.clone())
    .execute(&mut ctx.conn)
    .await?;
    match result.streak {
        Streak::Ended => {
            sqlx::query("UPDATE webhooks SET failing_since = NULL WHERE pk = ?").bind(delivery.webhook_pk.0).execute(&mut ctx.conn).await?;
        }
        Streak::Failing { since } => {
            sqlx::query("UPDATE webhooks SET failing_since = ?, last_failure_at = ? WHERE pk = ?")
                .bind(ms(since))
                .bind(at)
                .bind(delivery.webhook_pk.0)
                .execute(&mut ctx.conn)
                .await?;
        }
        Streak::Unchanged => {}
    }
    if let Some(reason) = &result.disable {
        let disabled = sqlx::query(
            "UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE pk = ? AND enabled = 1 AND deleted_at IS NULL RETURNING *",
        )
        .bind(reason.as_str())
        .bind(at)
        .bind(delivery.webhook_pk.0)
        .fetch_optional(&mut ctx.conn)
        .await?;
        if let Some(row) = disabled {
            let hook = webhook(&row)?;
            fail_pending(ctx, hook.pk, &format!("the endpoint was disabled: {reason}"), a.at).await?;
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
            append(ctx, &event).await?;
        }
    }
    Ok(Some(delivery))
}

async fn retry(ctx: &mut Ctx, (tenant, id, now): &(TenantPk, DeliveryId, Timestamp)) -> Result<Option<Delivery>, OpError> {
    let row = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE tenant_pk = ? AND id = ? RETURNING *",
    )
    .bind(ms(*now))
    .bind(ms(*now))
    .bind(tenant.0)
    .bind(id.as_str())
    .fetch_optional(&mut ctx.conn)
    .await?;
    Ok(row.as_ref().map(delivery).transpose()?)
}

async fn prune(ctx: &mut Ctx, before: &Timestamp) -> Result<u64, OpError> {
    let pks: Vec<i64> = sqlx::query("SELECT pk FROM webhook_deliveries WHERE created_at < ? AND status != 'pending' ORDER BY pk LIMIT ?")
        .bind(ms(*before))
        .bind(PRUNE_BATCH as i64)
        .fetch_all(&mut ctx.conn)
        .await?
        .iter()
        .map(|r| r.try_get("pk"))
        .collect::<Result<_, _>>()?;
    for pk in &pks {
        sqlx::query("DELETE FROM webhook_attempts WHERE delivery_pk = ?").bind(pk).execute(&mut ctx.conn).await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE pk = ?").bind(pk).execute(&mut ctx.conn).await?;
    }
    Ok(pks.len() as u64)
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, webhook: NewWebhook) -> StoreResult<Webhook> {
        self.writer().call(webhook, |c, w| Box::pin(create(c, w))).await
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
        self.writer().call((tenant, id.clone(), patch, at), |c, i| Box::pin(update(c, i))).await
    }

    async fn delete_webhook(&self, tenant: TenantPk, id: &WebhookId, at: Timestamp) -> StoreResult<Option<Webhook>> {
        self.writer().call((tenant, id.clone(), at), |c, i| Box::pin(delete(c, i))).await
    }

    async fn fan_out(&self, limit: u32, now: Timestamp) -> StoreResult<FanOut> {
        self.writer().call((limit, now), |c, i| Box::pin(fan_out(c, i))).await
    }

    async fn claim_deliveries(
        &self,
        webhook: WebhookPk,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryJob>> {
        self.writer().call((webhook, now, lease_until, limit), |c, i| Box::pin(claim(c, i))).await
    }

    async fn next_delivery_due(&self, webhook: WebhookPk) -> StoreResult<Option<Timestamp>> {
        let row = sqlx::query("SELECT min(next_attempt_at) AS due FROM webhook_deliveries WHERE webhook_pk = ? AND status = 'pending'")
            .bind(webhook.0)
            .fetch_one(self.read())
            .await
            .read()?;
        let due: Option<i64> = row.try_get("due").read()?;
        due.map(rows::from_ms).transpose().read()
    }

    async fn record_attempt(&self, delivery: DeliveryPk, result: AttemptResult) -> StoreResult<Option<Delivery>> {
        self.writer().call((delivery, result), |c, i| Box::pin(record(c, i))).await
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
        self.writer().call((tenant, id.clone(), now), |c, i| Box::pin(retry(c, i))).await
    }

    async fn prune_deliveries(&self, before: Timestamp) -> StoreResult<u64> {
        self.writer().call(before, |c, b| Box::pin(prune(c, b))).await
    }
}
