//! Usage tokens: what a send costs, the refusals the store gives, and the usage report.
//!
//! The cost and the tenant's budget come from memory (configuration and the authenticated
//! tenant), so accepting a message reads nothing more; the store checks and debits them in the
//! transaction of the insert (see `kirim_core::usage`).

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use kirim_core::Timestamp;
use kirim_core::message::MessageContent;
use kirim_core::tenant::Tenant;
use kirim_core::usage::{Charge, DayUsage, Refusal, date_of, day_of, resets_at};
use serde_json::json;

use super::Actor;
use crate::app::AppState;
use crate::config::UsageCosts;
use crate::http::error::{ApiError, ApiResult};

/// The most days `GET /v1/usage` reports.
pub const MAX_DAYS: u32 = 90;

/// Tokens one message of this content costs.
pub fn cost(costs: &UsageCosts, content: &MessageContent) -> u32 {
    match content {
        MessageContent::Text { .. } => costs.text,
        MessageContent::Image { .. } => costs.image,
        MessageContent::Audio { audio } if audio.voice => costs.voice,
        MessageContent::Audio { .. } => costs.audio,
        MessageContent::Video { .. } => costs.video,
        MessageContent::Document { .. } => costs.document,
        MessageContent::Sticker { .. } => costs.sticker,
        MessageContent::Reaction { .. } | MessageContent::Edit { .. } | MessageContent::Revoke { .. } => costs.action,
        MessageContent::Location { .. }
        | MessageContent::Contact { .. }
        | MessageContent::List { .. }
        | MessageContent::Buttons { .. }
        | MessageContent::Poll { .. } => costs.other,
    }
}

/// What a message of this actor costs and may spend.
pub fn charge(state: &AppState, actor: &Actor, content: &MessageContent) -> Charge {
    Charge { tokens: cost(&state.config.usage.costs, content), daily_limit: actor.daily_token_limit }
}

/// The error a client gets for a message the store refused.
pub fn refused(refusal: Refusal, now: Timestamp) -> ApiError {
    match refusal {
        // 429, not 422: the request is valid and the same request succeeds after the reset;
        // clients already back off on 429 and honour Retry-After, which points at the reset.
        Refusal::TokenBudget { cost, remaining, limit, resets_at } => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "token_budget_exhausted",
                format!(
                    "this message costs {cost} tokens but only {remaining} of today's {limit} are left; the budget renews at {} (00:00 UTC)",
                    resets_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            )
            .with_details(json!({"cost": cost, "remaining": remaining, "limit": limit, "resets_at": resets_at}));
            e.retry_after_secs = Some((resets_at - now).num_seconds().max(1) as u64);
            e
        }
        // 403: no retry helps until the operator renews the device.
        Refusal::DeviceExpired { device, expired_at } => ApiError::new(
            StatusCode::FORBIDDEN,
            "device_expired",
            format!(
                "device {device} expired at {}; ask the operator to extend it, or send from another device",
                expired_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )
        .with_field("device_id")
        .with_details(json!({"expired_at": expired_at})),
        Refusal::DeviceQuota { device } => ApiError::new(
            StatusCode::FORBIDDEN,
            "device_quota_exhausted",
            format!("device {device} has used up its message quota; ask the operator for more, or send from another device"),
        )
        .with_field("device_id")
        .with_details(json!({"quota": 0})),
    }
}

/// One day of the report.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DayView {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// Tokens that count against the day's budget: charged minus refunded.
    pub used: u64,
    pub charged: u64,
    /// Given back for messages charged that day that were cancelled or failed for good.
    pub refunded: u64,
    /// Messages charged that day.
    pub messages: u64,
}

impl DayView {
    fn from_usage(u: &DayUsage) -> Self {
        Self { date: u.date, used: u.used(), charged: u.charged, refunded: u.refunded, messages: u.messages }
    }

    fn empty(date: NaiveDate) -> Self {
        Self { date, used: 0, charged: 0, refunded: 0, messages: 0 }
    }
}

/// `GET /v1/usage`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    /// Tokens per UTC day; `null`: unlimited.
    pub daily_token_limit: Option<u64>,
    /// Today's tokens used (UTC).
    pub used: u64,
    /// What is left today; `null` when unlimited.
    pub remaining: Option<u64>,
    /// When the budget renews: the next 00:00 UTC.
    pub resets_at: DateTime<Utc>,
    /// Tokens per message type.
    #[schema(value_type = Object)]
    pub costs: serde_json::Value,
    /// The last `days` days, today first; days without use show zeros.
    pub history: Vec<DayView>,
}

pub fn parse_days(raw: Option<&str>) -> ApiResult<u32> {
    match raw {
        None => Ok(7),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_DAYS).contains(n))
            .ok_or_else(|| ApiError::field("days", format!("`days` must be a whole number from 1 to {MAX_DAYS}"))),
    }
}

pub async fn report(state: &AppState, tenant: &Tenant, days: u32) -> ApiResult<UsageReport> {
    let now = state.clock.now();
    let today = day_of(now);
    let from = today - i64::from(days.clamp(1, MAX_DAYS)) + 1;
    let rows = state.store.usage_days(tenant.pk, from, today).await?;
    let history: Vec<DayView> = (from..=today)
        .rev()
        .map(|day| {
            let date = date_of(day);
            rows.iter().find(|u| u.date == date).map_or_else(|| DayView::empty(date), DayView::from_usage)
        })
        .collect();
    let used = history.first().map_or(0, |d| d.used);
    let c = &state.config.usage.costs;
    Ok(UsageReport {
        daily_token_limit: tenant.daily_token_limit,
        used,
        remaining: tenant.daily_token_limit.map(|l| l.saturating_sub(used)),
        resets_at: resets_at(now),
        costs: json!({
            "text": c.text, "image": c.image, "voice": c.voice, "audio": c.audio, "video": c.video, "document": c.document,
            "sticker": c.sticker, "location": c.other, "contact": c.other, "list": c.other, "buttons": c.other, "poll": c.other,
            "reaction": c.action, "edit": c.action, "revoke": c.action,
        }),
        history,
    })
}
