//! Reports: the message report (filters, numbered pages, a total), today's realtime report
//! and counts by status per day, each read in a time zone the client names (UTC by default).
//! Local days become instant ranges here, so the store never does time-zone arithmetic and a
//! day that is 23 or 25 hours long (daylight saving) is counted exactly.

use chrono::{NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use kirim_core::id::{DeviceId, DevicePk};
use kirim_core::message::{Message, MessageContent, MessageStatus};
use kirim_core::report::{DayRange, ReportFilter, StatusCount};
use kirim_core::{MessageId, Timestamp};

use super::Actor;
use super::schedule::zone;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

/// The longest range `daily` covers.
pub const MAX_DAYS: i64 = 366;
/// Most message ids in one `message_id` filter.
pub const MAX_IDS: usize = 100;
pub const MAX_PER_PAGE: u32 = 1000;
pub const DEFAULT_PER_PAGE: u32 = 50;

const DATE_FORMAT: &str = "%Y-%m-%d";

/// A numbered page: `page` counts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
}

impl Paging {
    pub fn parse(page: Option<&str>, per_page: Option<&str>) -> ApiResult<Self> {
        let page = match page {
            None => 1,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| ApiError::field("page", format!("`page` `{raw}` must be a whole number from 1 (the first page)")))?,
        };
        let per_page = match per_page {
            None => DEFAULT_PER_PAGE,
            Some(raw) => raw.trim().parse::<u32>().ok().filter(|n| (1..=MAX_PER_PAGE).contains(n)).ok_or_else(|| {
                ApiError::field("per_page", format!("`per_page` `{raw}` must be a whole number from 1 to {MAX_PER_PAGE}"))
            })?,
        };
        Ok(Self { page, per_page })
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    pub fn total_pages(&self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.per_page))
    }
}

/// The zone reports are read in; UTC when none is given.
pub fn timezone(raw: Option<&str>) -> ApiResult<Tz> {
    raw.map_or(Ok(Tz::UTC), |tz| zone("timezone", tz))
}

pub fn parse_date(field: &str, raw: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), DATE_FORMAT)
        .map_err(|_| ApiError::field(field, format!("`{field}` `{raw}` must be a date such as 2026-05-20 (YYYY-MM-DD)")))
}

/// The first instant of `date` in `tz`. Where midnight does not exist (clocks skip it), the
/// day starts at the first local time that does.
pub fn day_start(tz: Tz, date: NaiveDate) -> Timestamp {
    (0..24)
        .find_map(|hour| {
            let local = date.and_time(NaiveTime::from_hms_opt(hour, 0, 0)?);
            tz.from_local_datetime(&local).earliest()
        })
        .map_or_else(|| date.and_time(NaiveTime::MIN).and_utc(), |t| t.to_utc())
}

pub fn day(tz: Tz, date: NaiveDate) -> DayRange {
    let next = date.succ_opt().unwrap_or(date);
    DayRange { date, start: day_start(tz, date), end: day_start(tz, next) }
}

/// Today in `tz`, as the clock says.
pub fn today(state: &AppState, tz: Tz) -> DayRange {
    day(tz, state.clock.now().with_timezone(&tz).date_naive())
}

/// A range bound: a date (read in the zone) or an RFC 3339 instant. A date as `to` includes
/// that whole day.
fn bound(field: &str, raw: &str, tz: Tz, end: bool) -> ApiResult<Timestamp> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(t.to_utc());
    }
    let date = NaiveDate::parse_from_str(raw.trim(), DATE_FORMAT).map_err(|_| {
        ApiError::field(field, format!("`{field}` `{raw}` must be a date such as 2026-05-20, or a time such as 2026-05-20T09:00:00Z"))
    })?;
    let d = day(tz, date);
    Ok(if end { d.end } else { d.start })
}

/// The raw filters of a report request, as the query string gave them.
#[derive(Debug, Default)]
pub struct RawFilter<'a> {
    pub status: Option<&'a str>,
    pub device_id: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub ref_id: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub direction: Option<&'a str>,
    pub message_ids: Option<&'a str>,
    pub date: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

pub fn parse_status(raw: &str) -> ApiResult<MessageStatus> {
    raw.trim().parse().map_err(|_| {
        let known: Vec<&str> = MessageStatus::ALL.iter().map(MessageStatus::as_str).collect();
        ApiError::field("status", format!("`status` `{raw}` is not a message status; use one of {}", known.join(", ")))
    })
}

fn parse_kind(raw: &str) -> ApiResult<&'static str> {
    let wanted = raw.trim().to_ascii_lowercase();
    MessageContent::KINDS.iter().copied().find(|k| *k == wanted).ok_or_else(|| {
        ApiError::field("type", format!("`type` `{raw}` is not a message type; use one of {}", MessageContent::KINDS.join(", ")))
    })
}

fn parse_ids(raw: &str) -> ApiResult<Vec<MessageId>> {
    let ids: Vec<&str> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(ApiError::field("message_id", format!("`message_id` takes 1 to {MAX_IDS} message ids separated by commas")));
    }
    ids.into_iter()
        .map(|id| id.parse().map_err(|_| ApiError::field("message_id", format!("`message_id` `{id}` is not a message id (msg_…)"))))
        .collect()
}

/// The device a report is narrowed to: the one named (which must be the caller's), or a
/// device token's own device.
pub async fn device_filter(state: &AppState, actor: &Actor, raw: Option<&str>) -> ApiResult<Option<DevicePk>> {
    let raw = match (raw, &actor.device) {
        (Some(raw), _) => raw.trim().to_owned(),
        (None, Some((pk, _))) => return Ok(Some(*pk)),
        (None, None) => return Ok(None),
    };
    let not_found = || ApiError::not_found("device").with_field("device_id");
    let id: DeviceId = raw.parse().map_err(|_| ApiError::field("device_id", format!("`device_id` `{raw}` is not a device id (dev_…)")))?;
    if !actor.may_use_device(&id) {
        return Err(not_found());
    }
    if let Some(entry) = state.devices.get_for_tenant(actor.tenant_pk(), &id) {
        return Ok(Some(entry.pk));
    }
    Ok(Some(state.store.get_device(actor.tenant_pk(), &id).await?.ok_or_else(not_found)?.pk))
}

/// Parses every filter; `from`/`to` bounds are dates in `tz` or instants.
pub async fn filter(state: &AppState, actor: &Actor, raw: &RawFilter<'_>, tz: Tz) -> ApiResult<ReportFilter> {
    let mut f = ReportFilter {
        status: raw.status.map(parse_status).transpose()?,
        device: device_filter(state, actor, raw.device_id).await?,
        chat: raw.phone.map(|p| super::messages::parse_recipient(state, "phone", p)).transpose()?,
        ref_id: raw.ref_id.map(str::to_owned),
        kind: raw.kind.map(parse_kind).transpose()?,
        direction: raw
            .direction
            .map(|d| d.trim().parse().map_err(|_| ApiError::field("direction", "`direction` must be `outbound` or `inbound`")))
            .transpose()?,
        ids: raw.message_ids.map(parse_ids).transpose()?.unwrap_or_default(),
        from: None,
        to: None,
    };
    if let Some(date) = raw.date {
        if raw.from.is_some() || raw.to.is_some() {
            return Err(ApiError::field("date", "give either `date` (one day) or `from`/`to` (a range), not both"));
        }
        let d = day(tz, parse_date("date", date)?);
        (f.from, f.to) = (Some(d.start), Some(d.end));
    }
    if let Some(from) = raw.from {
        f.from = Some(bound("from", from, tz, false)?);
    }
    if let Some(to) = raw.to {
        f.to = Some(bound("to", to, tz, true)?);
    }
    // A `to` date covers its whole day, so `to` the day before `from` ends where `from` starts.
    if let (Some(from), Some(to)) = (f.from, f.to)
        && to <= from
    {
        return Err(ApiError::field("to", "`to` is before `from`; give a range that ends after it starts"));
    }
    Ok(f)
}

/// One page of the report, with the total the filter covers.
pub async fn messages(state: &AppState, actor: &Actor, filter: &ReportFilter, paging: Paging) -> ApiResult<(Vec<Message>, u64)> {
    let counts = state.store.report_counts(actor.tenant_pk(), filter).await?;
    let total = counts.iter().map(|c| c.count).sum();
    let rows = state.store.report_messages(actor.tenant_pk(), filter, paging.offset(), paging.per_page).await?;
    Ok((rows, total))
}

/// Counts by status (statuses without messages left out).
pub async fn counts(state: &AppState, actor: &Actor, filter: &ReportFilter) -> ApiResult<Vec<StatusCount>> {
    Ok(state.store.report_counts(actor.tenant_pk(), filter).await?)
}

/// The days `from..=to` in `tz`, checked.
pub fn days(tz: Tz, from: NaiveDate, to: NaiveDate) -> ApiResult<Vec<DayRange>> {
    if to < from {
        return Err(ApiError::field("to", "`to` is before `from`; give a range that ends after it starts"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::field("to", format!("a daily report covers at most {MAX_DAYS} days; ask for a shorter range")));
    }
    Ok(from.iter_days().take_while(|d| *d <= to).map(|d| day(tz, d)).collect())
}

/// Counts by status for each day (every day of the range, days without messages included).
pub async fn daily(
    state: &AppState,
    actor: &Actor,
    filter: &ReportFilter,
    days: &[DayRange],
) -> ApiResult<Vec<(DayRange, Vec<StatusCount>)>> {
    let found = state.store.report_days(actor.tenant_pk(), filter, days).await?;
    Ok(days.iter().map(|d| (*d, found.iter().filter(|(date, _)| *date == d.date).map(|(_, c)| *c).collect())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, DATE_FORMAT).unwrap()
    }

    #[test]
    fn days_follow_the_zone_and_its_clock_changes() {
        let jakarta: Tz = "Asia/Jakarta".parse().unwrap();
        let d = day(jakarta, date("2026-05-20"));
        assert_eq!(d.start.to_rfc3339(), "2026-05-19T17:00:00+00:00");
        assert_eq!((d.end - d.start).num_hours(), 24);
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let spring = day(berlin, date("2026-03-29"));
        assert_eq!((spring.end - spring.start).num_hours(), 23, "the day the clocks go forward");
        let autumn = day(berlin, date("2026-10-25"));
        assert_eq!((autumn.end - autumn.start).num_hours(), 25);
        // Where midnight is skipped (Havana, clocks forward at 00:00), the day starts at 01:00.
        let havana: Tz = "America/Havana".parse().unwrap();
        assert_eq!(day(havana, date("2026-03-08")).start.to_rfc3339(), "2026-03-08T05:00:00+00:00");
    }

    #[test]
    fn paging_and_ranges_are_checked() {
        assert_eq!(Paging::parse(None, None).unwrap(), Paging { page: 1, per_page: DEFAULT_PER_PAGE });
        assert_eq!(Paging::parse(Some("3"), Some("10")).unwrap().offset(), 20);
        assert_eq!(Paging { page: 1, per_page: 10 }.total_pages(21), 3);
        assert_eq!(Paging::parse(Some("0"), None).unwrap_err().detail.field.as_deref(), Some("page"));
        assert_eq!(Paging::parse(None, Some("1001")).unwrap_err().detail.field.as_deref(), Some("per_page"));
        assert_eq!(days(Tz::UTC, date("2026-01-01"), date("2026-01-03")).unwrap().len(), 3);
        assert!(days(Tz::UTC, date("2026-01-02"), date("2026-01-01")).is_err());
        assert_eq!(days(Tz::UTC, date("2025-01-01"), date("2026-01-01")).unwrap().len(), 366);
        assert!(days(Tz::UTC, date("2025-01-01"), date("2026-01-02")).is_err(), "367 days");
    }
}
