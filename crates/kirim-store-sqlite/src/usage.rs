//! Usage tokens and device limits, checked and debited inside the writer's transaction.
//!
//! The accept path ([`crate::outbound`]) asks [`check`] which of a batch's messages may be
//! inserted, in order, then [`settle`]s the debits of those it did insert. Because the single
//! writer runs both in the same transaction as the insert, concurrent sends can never spend
//! the same token or quota unit twice, and a restart loses nothing: the counters are rows.
//! Refunds are triggers (migration 0012), so every statement that ends a message gives its
//! charge back in that statement's transaction.
//!
//! Cost on the hot path: a tenant without a limit and a device without limits add no read;
//! each tenant with a limit adds one indexed read per batch, each limited device one more;
//! every batch that charged anything adds one upsert per tenant and day.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use kirim_core::id::{DevicePk, TenantPk};
use kirim_core::message::NewOutbound;
use kirim_core::store::StoreResult;
use kirim_core::usage::{DayUsage, DeviceLimits, Refusal, UsageStore, date_of, day_of, resets_at};
use kirim_core::{DeviceId, Timestamp};
use rusqlite::params;

use crate::SqliteStore;
use crate::error::{OpError, ReadResult, WriteError};
use crate::rows::{Cols, ms, opt_time};
use crate::tenants::clamp_i64;
use crate::writer::Ctx;

/// What one accepted message was charged: stored on its row, so a refund gives back exactly this.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Debit {
    pub tokens: u32,
    pub day: i64,
    /// One unit of the device's quota was taken.
    pub quota: bool,
}

struct TenantDay {
    /// Charged minus refunded, plus what this pass debited so far.
    used: u64,
    /// The pass's messages could overrun the budget: refusals are possible.
    tight: bool,
}

struct DeviceState {
    quota: Option<u64>,
    expires_at: Option<Timestamp>,
    taken: u64,
    tight: bool,
}

/// Decides, in order, what each candidate (a message, and whether its device has limits) may do: `Ok(debit)` to insert it (a debit of nothing
/// for a repeat of an idempotency key, which will not be inserted), `Err` to refuse it alone.
pub(crate) fn check(ctx: &Ctx, candidates: &[(&NewOutbound, bool)]) -> Result<Vec<Result<Debit, Refusal>>, WriteError> {
    let mut tenants: HashMap<(TenantPk, i64), (u64, u64)> = HashMap::new(); // (tokens asked, smallest limit)
    let mut devices: HashMap<DevicePk, (u64, Timestamp)> = HashMap::new(); // (messages asked, latest)
    for (m, limited_device) in candidates {
        if let Some(limit) = m.charge.daily_limit {
            let e = tenants.entry((m.tenant_pk, day_of(m.created_at))).or_insert((0, u64::MAX));
            e.0 += u64::from(m.charge.tokens);
            e.1 = e.1.min(limit);
        }
        if *limited_device {
            let e = devices.entry(m.device_pk).or_insert((0, m.created_at));
            e.0 += 1;
            e.1 = e.1.max(m.created_at);
        }
    }
    let mut days = HashMap::with_capacity(tenants.len());
    for ((tenant, day), (asked, limit)) in tenants {
        let used = ctx
            .opt("SELECT charged - refunded AS used FROM token_usage WHERE tenant_pk = ? AND day = ?", params![tenant.0, day], |row| {
                Ok(row.int("used")?)
            })?
            .unwrap_or(0)
            .max(0) as u64;
        days.insert((tenant, day), TenantDay { used, tight: used.saturating_add(asked) > limit });
    }
    let mut limited = HashMap::with_capacity(devices.len());
    for (pk, (asked, latest)) in devices {
        let (quota, expires_at) = ctx
            .opt("SELECT quota, expires_at FROM devices WHERE pk = ?", [pk.0], |row| {
                Ok((row.opt_int("quota")?.map(|q| q.max(0) as u64), opt_time(row, "expires_at")?))
            })?
            .unwrap_or((None, None));
        let tight = quota.is_some_and(|q| asked > q) || expires_at.is_some_and(|at| latest >= at);
        limited.insert(pk, DeviceState { quota, expires_at, taken: 0, tight });
    }
    // A message that repeats an idempotency key is never refused: it answers with the original.
    // Only needed where a refusal is possible; elsewhere every message fits anyway.
    let careful_anywhere = days.values().any(|t| t.tight) || limited.values().any(|d| d.tight);
    let mut keys: HashSet<(TenantPk, &str)> = HashSet::new();

    let mut out = Vec::with_capacity(candidates.len());
    for (m, _) in candidates {
        let day = day_of(m.created_at);
        let mut tenant = days.get_mut(&(m.tenant_pk, day));
        let mut device = limited.get_mut(&m.device_pk);
        let careful = tenant.as_ref().is_some_and(|t| t.tight) || device.as_ref().is_some_and(|d| d.tight);
        if careful
            && let Some(key) = m.idempotency_key.as_deref()
            && (keys.contains(&(m.tenant_pk, key)) || key_taken(ctx, m.tenant_pk, key)?)
        {
            out.push(Ok(Debit::default()));
            continue;
        }
        let cost = u64::from(m.charge.tokens);
        let refusal = if let Some(d) = device.as_ref().filter(|d| d.expires_at.is_some_and(|at| m.created_at >= at)) {
            Some(Refusal::DeviceExpired { device: m_device(ctx, m)?, expired_at: d.expires_at.unwrap_or(m.created_at) })
        } else if let (Some(t), Some(limit)) = (tenant.as_ref(), m.charge.daily_limit)
            && cost > limit.saturating_sub(t.used)
        {
            Some(Refusal::TokenBudget {
                cost: m.charge.tokens,
                remaining: limit.saturating_sub(t.used),
                limit,
                resets_at: resets_at(m.created_at),
            })
        } else if device.as_ref().is_some_and(|d| d.quota.is_some_and(|q| d.taken >= q)) {
            Some(Refusal::DeviceQuota { device: m_device(ctx, m)? })
        } else {
            None
        };
        if let Some(refusal) = refusal {
            out.push(Err(refusal));
            continue;
        }
        if let Some(t) = tenant.as_mut() {
            t.used += cost;
        }
        let quota = match device.as_mut() {
            Some(d) if d.quota.is_some() => {
                d.taken += 1;
                true
            }
            _ => false,
        };
        if careful_anywhere && let Some(key) = m.idempotency_key.as_deref() {
            keys.insert((m.tenant_pk, key));
        }
        out.push(Ok(Debit { tokens: m.charge.tokens, day, quota }));
    }
    Ok(out)
}

fn m_device(ctx: &Ctx, m: &NewOutbound) -> Result<DeviceId, WriteError> {
    ctx.device_id(m.device_pk)
}

fn key_taken(ctx: &Ctx, tenant: TenantPk, key: &str) -> Result<bool, WriteError> {
    let hit = ctx.opt("SELECT 1 AS hit FROM messages WHERE tenant_pk = ? AND idempotency_key = ?", params![tenant.0, key], |row| {
        Ok(row.int("hit")?)
    })?;
    Ok(hit.is_some())
}

/// Records the debits of the messages that were inserted (repeats were not, and pay nothing).
pub(crate) fn settle<'a>(ctx: &Ctx, inserted: impl Iterator<Item = (&'a NewOutbound, Debit)>) -> Result<(), WriteError> {
    let mut days: HashMap<(i64, i64), (u64, u64)> = HashMap::new();
    let mut quotas: HashMap<i64, u64> = HashMap::new();
    for (m, debit) in inserted {
        if debit.tokens > 0 {
            let e = days.entry((m.tenant_pk.0, debit.day)).or_default();
            e.0 += u64::from(debit.tokens);
            e.1 += 1;
        }
        if debit.quota {
            *quotas.entry(m.device_pk.0).or_default() += 1;
        }
    }
    for ((tenant, day), (tokens, messages)) in days {
        ctx.exec(
            "INSERT INTO token_usage (tenant_pk, day, charged, messages) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tenant_pk, day) DO UPDATE SET charged = charged + excluded.charged, messages = messages + excluded.messages",
            params![tenant, day, clamp_i64(tokens), clamp_i64(messages)],
        )?;
    }
    for (device, n) in quotas {
        ctx.exec("UPDATE devices SET quota = max(quota - ?, 0) WHERE pk = ? AND quota IS NOT NULL", params![clamp_i64(n), device])?;
    }
    Ok(())
}

fn set_daily_token_limit(ctx: &mut Ctx, (tenant, limit): &(TenantPk, Option<u64>)) -> Result<bool, OpError> {
    Ok(ctx.exec("UPDATE tenants SET daily_token_limit = ? WHERE pk = ?", params![limit.map(clamp_i64), tenant.0])? > 0)
}

fn set_device_limits(ctx: &mut Ctx, (id, limits, at): &(DeviceId, DeviceLimits, Timestamp)) -> Result<Option<TenantPk>, OpError> {
    let found = ctx.opt(
        "UPDATE devices SET quota = ?, expires_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL RETURNING pk, tenant_pk",
        params![limits.quota.map(clamp_i64), limits.expires_at.map(ms), ms(*at), id.as_str()],
        |row| Ok((DevicePk(row.int("pk")?), TenantPk(row.int("tenant_pk")?))),
    )?;
    // The transaction's device cache says whether the device is limited: it must ask again.
    Ok(found.map(|(pk, tenant)| {
        ctx.device_deleted(pk);
        tenant
    }))
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn usage_days(&self, tenant: TenantPk, from: i64, to: i64) -> StoreResult<Vec<DayUsage>> {
        let rows = sqlx::query("SELECT * FROM token_usage WHERE tenant_pk = ? AND day >= ? AND day <= ? ORDER BY day")
            .bind(tenant.0)
            .bind(from)
            .bind(to)
            .fetch_all(self.read())
            .await
            .read()?;
        rows.iter()
            .map(|r| {
                let count = |c: &str| r.int(c).map(|n| n.max(0) as u64);
                Ok(DayUsage {
                    date: date_of(r.int("day")?),
                    charged: count("charged")?,
                    refunded: count("refunded")?,
                    messages: count("messages")?,
                })
            })
            .collect::<Result<_, crate::error::Bad>>()
            .read()
    }

    async fn set_daily_token_limit(&self, tenant: TenantPk, limit: Option<u64>) -> StoreResult<bool> {
        self.writer().call((tenant, limit), set_daily_token_limit).await
    }

    async fn set_device_limits(&self, device: &DeviceId, limits: DeviceLimits, at: Timestamp) -> StoreResult<Option<TenantPk>> {
        self.writer().call((device.clone(), limits, at), set_device_limits).await
    }
}
