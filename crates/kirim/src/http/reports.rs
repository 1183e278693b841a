//! `/v1/reports`: the message report (filters, numbered pages with a total), today's realtime
//! report, and counts by status per day. Dates are read in `timezone` (UTC by default).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use kirim_core::message::MessageStatus;
use kirim_core::report::{DayRange, StatusCount};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiResult, ErrorBody};
use super::extract::ApiQuery;
use super::messages::MessageView;
use crate::app::AppState;
use crate::services::Actor;
use crate::services::reports::{self as service, Paging, RawFilter};

/// How many messages have each status (every status is present, 0 when none).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StatusCounts {
    pub scheduled: u64,
    pub pending: u64,
    pub sending: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub played: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub received: u64,
}

impl StatusCounts {
    fn of(counts: &[StatusCount]) -> (u64, Self) {
        let mut c = Self::default();
        for sc in counts {
            let slot = match sc.status {
                MessageStatus::Scheduled => &mut c.scheduled,
                MessageStatus::Pending => &mut c.pending,
                MessageStatus::Sending => &mut c.sending,
                MessageStatus::Sent => &mut c.sent,
                MessageStatus::Delivered => &mut c.delivered,
                MessageStatus::Read => &mut c.read,
                MessageStatus::Played => &mut c.played,
                MessageStatus::Failed => &mut c.failed,
                MessageStatus::Cancelled => &mut c.cancelled,
                MessageStatus::Received => &mut c.received,
            };
            *slot += sc.count;
        }
        (counts.iter().map(|sc| sc.count).sum(), c)
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// scheduled, pending, sending, sent, delivered, read, played, failed, cancelled, received
    pub status: Option<String>,
    pub device_id: Option<String>,
    /// The other side of the chat, in any phone form or a group JID.
    pub phone: Option<String>,
    pub ref_id: Option<String>,
    /// The message type: text, image, video, audio, document, sticker, location, contact, list,
    /// buttons, poll, reaction, edit, revoke.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// outbound or inbound
    pub direction: Option<String>,
    /// Message ids separated by commas (up to 100).
    pub message_id: Option<String>,
    /// One day (YYYY-MM-DD) in `timezone`.
    pub date: Option<String>,
    /// From this date (its start, in `timezone`) or RFC 3339 time.
    pub from: Option<String>,
    /// Up to this date (its end, in `timezone`: inclusive) or before this RFC 3339 time.
    pub to: Option<String>,
    /// An IANA zone such as Asia/Jakarta; UTC by default.
    pub timezone: Option<String>,
    /// From 1; default 1.
    pub page: Option<String>,
    /// 1–1000, default 50.
    #[serde(alias = "perPage")]
    pub per_page: Option<String>,
}

impl ReportQuery {
    fn raw(&self) -> RawFilter<'_> {
        RawFilter {
            status: self.status.as_deref(),
            device_id: self.device_id.as_deref(),
            phone: self.phone.as_deref(),
            ref_id: self.ref_id.as_deref(),
            kind: self.kind.as_deref(),
            direction: self.direction.as_deref(),
            message_ids: self.message_id.as_deref(),
            date: self.date.as_deref(),
            from: self.from.as_deref(),
            to: self.to.as_deref(),
        }
    }
}

/// A numbered page of messages and how many the filters cover.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportPage {
    pub data: Vec<MessageView>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
    pub total_pages: u64,
}

/// The message report: newest first, filtered, paged by number with a total.
#[utoipa::path(get, path = "/v1/reports/messages", tag = "reports", params(ReportQuery),
    responses((status = 200, body = ReportPage), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn messages(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<ReportQuery>) -> ApiResult<Json<ReportPage>> {
    let actor: Actor = (&auth).into();
    let paging = Paging::parse(q.page.as_deref(), q.per_page.as_deref())?;
    let tz = service::timezone(q.timezone.as_deref())?;
    let filter = service::filter(&state, &actor, &q.raw(), tz).await?;
    let (rows, total) = service::messages(&state, &actor, &filter, paging).await?;
    Ok(Json(ReportPage {
        data: rows.into_iter().map(|m| MessageView::new(m, false)).collect(),
        page: paging.page,
        per_page: paging.per_page,
        total,
        total_pages: paging.total_pages(total),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RealtimeQuery {
    /// The zone whose "today" is reported; UTC by default.
    pub timezone: Option<String>,
    pub device_id: Option<String>,
    pub status: Option<String>,
    /// The message type (see the message report).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub direction: Option<String>,
    /// Message ids separated by commas (up to 100).
    pub message_id: Option<String>,
    pub page: Option<String>,
    /// 1–1000, default 50.
    #[serde(alias = "perPage", alias = "limit")]
    pub per_page: Option<String>,
}

/// Today's messages: counts by status and the latest ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct RealtimeReport {
    /// Today, in `timezone`.
    #[schema(value_type = String, example = "2026-05-20")]
    pub date: NaiveDate,
    pub timezone: String,
    /// When today started and ends, as instants.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub total: u64,
    pub counts: StatusCounts,
    /// The latest messages, newest first, paged like the message report.
    pub data: Vec<MessageView>,
    pub page: u32,
    pub per_page: u32,
    pub total_pages: u64,
}

/// Today's report: counts by status and the latest messages, "today" in `timezone`.
#[utoipa::path(get, path = "/v1/reports/realtime", tag = "reports", params(RealtimeQuery),
    responses((status = 200, body = RealtimeReport), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn realtime(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiQuery(q): ApiQuery<RealtimeQuery>,
) -> ApiResult<Json<RealtimeReport>> {
    let actor: Actor = (&auth).into();
    let paging = Paging::parse(q.page.as_deref(), q.per_page.as_deref())?;
    let tz = service::timezone(q.timezone.as_deref())?;
    let raw = RawFilter {
        status: q.status.as_deref(),
        device_id: q.device_id.as_deref(),
        kind: q.kind.as_deref(),
        direction: q.direction.as_deref(),
        message_ids: q.message_id.as_deref(),
        ..RawFilter::default()
    };
    let mut filter = service::filter(&state, &actor, &raw, tz).await?;
    let today = service::today(&state, tz);
    (filter.from, filter.to) = (Some(today.start), Some(today.end));
    let (total, counts) = StatusCounts::of(&service::counts(&state, &actor, &filter).await?);
    let rows = state.store.report_messages(actor.tenant_pk(), &filter, paging.offset(), paging.per_page).await?;
    Ok(Json(RealtimeReport {
        date: today.date,
        timezone: tz.name().to_owned(),
        from: today.start,
        to: today.end,
        total,
        counts,
        data: rows.into_iter().map(|m| MessageView::new(m, false)).collect(),
        page: paging.page,
        per_page: paging.per_page,
        total_pages: paging.total_pages(total),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DailyQuery {
    /// The first day (YYYY-MM-DD), in `timezone`.
    pub from: Option<String>,
    /// The last day, included (at most 366 days in all).
    pub to: Option<String>,
    /// An IANA zone such as Asia/Jakarta; UTC by default.
    pub timezone: Option<String>,
    pub device_id: Option<String>,
    /// The message type (see the message report).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub direction: Option<String>,
    pub phone: Option<String>,
    pub ref_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayView {
    #[schema(value_type = String, example = "2026-05-20")]
    pub date: NaiveDate,
    /// When the day starts and ends in the zone (23 or 25 hours on daylight-saving days).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub total: u64,
    pub counts: StatusCounts,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyReport {
    pub timezone: String,
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    /// Every day of the range, in order, days without messages included.
    pub days: Vec<DayView>,
    pub total: u64,
    pub counts: StatusCounts,
}

/// Counts by status per day, each day read in `timezone`.
#[utoipa::path(get, path = "/v1/reports/daily", tag = "reports", params(DailyQuery),
    responses((status = 200, body = DailyReport), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn daily(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<DailyQuery>) -> ApiResult<Json<DailyReport>> {
    let actor: Actor = (&auth).into();
    let tz = service::timezone(q.timezone.as_deref())?;
    let required = |field: &str, v: &Option<String>| {
        v.as_deref().map(|raw| service::parse_date(field, raw)).unwrap_or_else(|| {
            Err(super::error::ApiError::field(field, format!("`{field}` is required: a date such as 2026-05-20 (YYYY-MM-DD)")))
        })
    };
    let (from, to) = (required("from", &q.from)?, required("to", &q.to)?);
    let days = service::days(tz, from, to)?;
    let raw = RawFilter {
        device_id: q.device_id.as_deref(),
        kind: q.kind.as_deref(),
        direction: q.direction.as_deref(),
        phone: q.phone.as_deref(),
        ref_id: q.ref_id.as_deref(),
        ..RawFilter::default()
    };
    let filter = service::filter(&state, &actor, &raw, tz).await?;
    let per_day = service::daily(&state, &actor, &filter, &days).await?;
    let all: Vec<StatusCount> = per_day.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let (total, counts) = StatusCounts::of(&all);
    let days = per_day.into_iter().map(|(d, c)| day_view(d, &c)).collect();
    Ok(Json(DailyReport { timezone: tz.name().to_owned(), from, to, days, total, counts }))
}

fn day_view(d: DayRange, counts: &[StatusCount]) -> DayView {
    let (total, counts) = StatusCounts::of(counts);
    DayView { date: d.date, from: d.start, to: d.end, total, counts }
}
