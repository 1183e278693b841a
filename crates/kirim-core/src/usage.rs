//! Usage tokens and device limits: what a send costs, what it may spend, and why it was refused.
//!
//! Each tenant has a daily token budget (`daily_token_limit`, `None`: unlimited) that resets
//! at 00:00 UTC; each message type costs a configured number of tokens. A device may have a
//! `quota` (messages left) and an `expires_at`. The store checks and debits all three inside
//! the transaction that inserts the message, so concurrent sends never overspend; a message
//! that ends `cancelled` or permanently `failed` gets its tokens (and its quota unit) back, on
//! the day it was charged.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::Timestamp;
use crate::id::{DeviceId, TenantPk};
use crate::store::StoreResult;

const DAY_MS: i64 = 86_400_000;

/// The UTC day a moment falls on, as days since 1970-01-01: the usage table's key.
pub fn day_of(at: Timestamp) -> i64 {
    at.timestamp_millis().div_euclid(DAY_MS)
}

/// The calendar date of a day number.
pub fn date_of(day: i64) -> NaiveDate {
    DateTime::<Utc>::UNIX_EPOCH.date_naive() + TimeDelta::days(day)
}

/// When the budget of the day `at` falls on is renewed: the next 00:00 UTC.
pub fn resets_at(at: Timestamp) -> Timestamp {
    DateTime::<Utc>::from_timestamp_millis((day_of(at) + 1) * DAY_MS).unwrap_or(at)
}

/// What one message spends, decided at accept time from configuration and the tenant (both in
/// memory), and applied by the store. The default charges nothing and checks nothing (system
/// replies, reminders' own sends are charged the same way when their callers set it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Charge {
    /// Tokens this message costs.
    pub tokens: u32,
    /// The tenant's daily budget; `None`: unlimited (the use is still counted).
    pub daily_limit: Option<u64>,
}

/// Why the store refused one message of an `insert_outbound`; the others are unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Today's budget cannot pay for this message.
    TokenBudget { cost: u32, remaining: u64, limit: u64, resets_at: Timestamp },
    /// The device's `expires_at` has passed.
    DeviceExpired { device: DeviceId, expired_at: Timestamp },
    /// The device's `quota` is used up.
    DeviceQuota { device: DeviceId },
}

impl Refusal {
    /// The stable error code the API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TokenBudget { .. } => "token_budget_exhausted",
            Self::DeviceExpired { .. } => "device_expired",
            Self::DeviceQuota { .. } => "device_quota_exhausted",
        }
    }
}

/// One tenant's use on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayUsage {
    pub date: NaiveDate,
    /// Tokens debited by accepted messages.
    pub charged: u64,
    /// Tokens given back (cancelled or permanently failed messages charged that day).
    pub refunded: u64,
    /// Messages charged that day (refunded ones included).
    pub messages: u64,
}

impl DayUsage {
    /// What counts against the day's budget.
    pub fn used(&self) -> u64 {
        self.charged.saturating_sub(self.refunded)
    }
}

/// The limits the operator sets on a device; `None` clears one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceLimits {
    /// Messages the device may still send.
    pub quota: Option<u64>,
    pub expires_at: Option<Timestamp>,
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    /// The tenant's use on the days from `from` to `to` (day numbers, both included), oldest
    /// first; days with no use are left out.
    async fn usage_days(&self, tenant: TenantPk, from: i64, to: i64) -> StoreResult<Vec<DayUsage>>;
    /// Sets a tenant's daily budget (`None`: unlimited). `false` when the tenant is unknown.
    async fn set_daily_token_limit(&self, tenant: TenantPk, limit: Option<u64>) -> StoreResult<bool>;
    /// Sets (replaces) a live device's quota and expiry, whatever its tenant (the operator).
    /// Returns the device's tenant, or `None` when there is no such live device.
    async fn set_device_limits(&self, device: &DeviceId, limits: DeviceLimits, at: Timestamp) -> StoreResult<Option<TenantPk>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_turn_at_midnight_utc() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(day_of(t("1970-01-01T23:59:59.999Z")), 0);
        assert_eq!(day_of(t("1970-01-02T00:00:00Z")), 1);
        assert_eq!(day_of(t("1969-12-31T23:00:00Z")), -1);
        assert_eq!(resets_at(t("2026-03-01T17:30:00Z")), t("2026-03-02T00:00:00Z"));
        assert_eq!(resets_at(t("2026-03-02T00:00:00Z")), t("2026-03-03T00:00:00Z"));
        assert_eq!(date_of(day_of(t("2026-03-01T17:30:00Z"))).to_string(), "2026-03-01");
    }
}
