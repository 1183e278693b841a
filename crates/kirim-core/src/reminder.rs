//! Reminders: a message repeated daily, monthly, yearly or every N days, from a start time
//! given as a wall clock in an IANA zone. Each occurrence becomes an ordinary scheduled
//! message; the reminder only remembers how many it has made and when the next one is due.
//!
//! Occurrences are computed from the start, never from the previous occurrence, so a monthly
//! reminder on the 31st falls on the 30th in April and on the 31st again in May (clamped,
//! not drifting), and a DST change never shifts the wall-clock time.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{DeviceId, DevicePk, ReminderId, ReminderPk, TenantPk};
use crate::message::{MessageContent, MessageStatus, NewOutbound};
use crate::{MessageId, Recipient, Timestamp};

/// The most days between two occurrences of an "every N days" reminder.
pub const MAX_EVERY_DAYS: u32 = 1000;

/// How a reminder repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "every")]
pub enum Recurrence {
    Daily,
    /// On the start's day of the month; a short month takes its last day.
    Monthly,
    /// On the start's day and month; 29 February takes 28 February in other years.
    Yearly,
    /// Every `days` days (1 to 1,000): `7` is weekly.
    Days {
        days: u32,
    },
}

impl Recurrence {
    /// The wall-clock time of occurrence `n` (0 is the start).
    pub fn occurrence(&self, start: NaiveDateTime, n: u32) -> Option<NaiveDateTime> {
        let time = start.time();
        let date = start.date();
        let day = match self {
            Self::Daily => date.checked_add_signed(Duration::days(i64::from(n)))?,
            Self::Days { days } => date.checked_add_signed(Duration::days(i64::from(n) * i64::from(*days)))?,
            Self::Monthly => {
                let months = i64::from(date.month0()) + i64::from(n);
                let year = date.year() + i32::try_from(months / 12).ok()?;
                clamped(year, (months % 12) as u32 + 1, date.day())?
            }
            Self::Yearly => clamped(date.year().checked_add(i32::try_from(n).ok()?)?, date.month(), date.day())?,
        };
        Some(day.and_time(time))
    }
}

/// `day` of the month, or the month's last day when it has fewer.
fn clamped(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    (1..=day).rev().find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

/// The instant a wall-clock time names in `tz`. A time that happens twice (clocks going back)
/// is its first occurrence; a time the clocks skip is taken as the same time on the old
/// offset, which lands the hour after the gap (02:30 becomes 03:30).
pub fn resolve(tz: Tz, local: NaiveDateTime) -> Option<Timestamp> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            let before = tz.from_local_datetime(&(local - Duration::hours(3))).earliest()?;
            let offset = before.naive_local() - before.naive_utc();
            Some(Utc.from_utc_datetime(&(local - offset)))
        }
    }
}

/// Whether a reminder makes occurrences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReminderStatus {
    Active,
    /// Makes no occurrences until resumed; occurrences due meanwhile are skipped.
    Paused,
    /// Its last occurrence was made (end date or count reached).
    Finished,
}

impl ReminderStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Finished => "finished",
        }
    }
}

impl FromStr for ReminderStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [Self::Active, Self::Paused, Self::Finished].into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

impl fmt::Display for ReminderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the series ends (both may be given: whichever comes first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderEnd {
    /// The last local date an occurrence may fall on (inclusive).
    pub until: Option<NaiveDate>,
    /// How many occurrences at most.
    pub count: Option<u32>,
}

/// What a reminder sends and when.
#[derive(Debug, Clone, PartialEq)]
pub struct ReminderPlan {
    pub title: Option<String>,
    pub to: Recipient,
    pub content: MessageContent,
    /// The wall-clock time of the first occurrence, read in `timezone`.
    pub start: NaiveDateTime,
    /// An IANA zone name.
    pub timezone: String,
    pub recurrence: Recurrence,
    pub end: ReminderEnd,
}

impl ReminderPlan {
    pub fn tz(&self) -> Option<Tz> {
        self.timezone.parse().ok()
    }

    /// When occurrence `n` is due, or `None` once the series has ended.
    pub fn due(&self, n: u32) -> Option<Timestamp> {
        if self.end.count.is_some_and(|count| n >= count) {
            return None;
        }
        let local = self.recurrence.occurrence(self.start, n)?;
        if self.end.until.is_some_and(|until| local.date() > until) {
            return None;
        }
        resolve(self.tz()?, local)
    }

    /// The first occurrence due at or after `now`, with its number, from occurrence `from` on.
    pub fn next_from(&self, from: u32, now: Timestamp) -> Option<(u32, Timestamp)> {
        let mut n = from;
        loop {
            let at = self.due(n)?;
            if at >= now {
                return Some((n, at));
            }
            n = n.checked_add(1)?;
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reminder {
    pub pk: ReminderPk,
    pub id: ReminderId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub device_id: DeviceId,
    pub plan: ReminderPlan,
    pub status: ReminderStatus,
    /// The number of the next occurrence to make (= how many were made or skipped).
    pub next_index: u32,
    /// When it is due; `None` once finished.
    pub next_at: Option<Timestamp>,
    /// How many occurrences became messages.
    pub sent_count: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewReminder {
    pub id: ReminderId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub plan: ReminderPlan,
    /// The first occurrence to make and when (the service computes it from the plan).
    pub next_index: u32,
    pub next_at: Timestamp,
    pub created_at: Timestamp,
}

/// A change: a new plan (the series restarts from the first occurrence at or after now), a
/// new status, or both. The service computes the new cursor.
#[derive(Debug, Clone)]
pub struct ReminderChange {
    pub plan: ReminderPlan,
    pub status: ReminderStatus,
    pub next_index: u32,
    pub next_at: Option<Timestamp>,
    /// The occurrence messages still `scheduled` are cancelled (the plan changed).
    pub cancel_scheduled: bool,
    pub at: Timestamp,
}

/// One occurrence made into a message (or skipped). `index` is its number in the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub index: u32,
    pub due_at: Timestamp,
    /// `None` when it was skipped (see `skipped`).
    pub message_id: Option<MessageId>,
    /// The message's status as it is now.
    pub status: Option<MessageStatus>,
    /// Why no message was made, e.g. `blacklisted`.
    pub skipped: Option<String>,
}

/// What the worker asks the store to do with a due occurrence, in one transaction.
#[derive(Debug, Clone)]
pub struct Materialise {
    pub reminder: ReminderPk,
    /// The occurrence number the worker read; nothing happens if the reminder moved on.
    pub index: u32,
    /// The reminder's `updated_at` as the worker read it: a plan changed meanwhile wins.
    pub seen_updated_at: Timestamp,
    pub due_at: Timestamp,
    /// The message to insert (`scheduled` at `due_at`), or `None` to skip it with `skipped`.
    pub message: Option<NewOutbound>,
    pub skipped: Option<String>,
    /// The occurrence after it, or `None` when this was the last.
    pub next_at: Option<Timestamp>,
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn monthly_on_the_31st_clamps_without_drifting() {
        let start = local("2026-01-31 09:00");
        let got: Vec<String> = (0..5).map(|n| Recurrence::Monthly.occurrence(start, n).unwrap().to_string()).collect();
        assert_eq!(
            got,
            ["2026-01-31 09:00:00", "2026-02-28 09:00:00", "2026-03-31 09:00:00", "2026-04-30 09:00:00", "2026-05-31 09:00:00"]
        );
        let leap = local("2028-02-29 08:00");
        assert_eq!(Recurrence::Yearly.occurrence(leap, 1).unwrap(), local("2029-02-28 08:00"));
        assert_eq!(Recurrence::Yearly.occurrence(leap, 4).unwrap(), local("2032-02-29 08:00"));
        assert_eq!(Recurrence::Days { days: 7 }.occurrence(start, 2).unwrap(), local("2026-02-14 09:00"));
        assert_eq!(Recurrence::Monthly.occurrence(local("2026-11-15 09:00"), 3).unwrap(), local("2027-02-15 09:00"));
    }

    #[test]
    fn daylight_saving_keeps_the_wall_clock_time() {
        let plan = ReminderPlan {
            title: None,
            to: Recipient::parse("+60123456789", None).unwrap(),
            content: MessageContent::text("hi"),
            start: local("2026-03-07 09:00"),
            timezone: "America/New_York".into(),
            recurrence: Recurrence::Daily,
            end: ReminderEnd { until: None, count: Some(2) },
        };
        assert_eq!(plan.due(0).unwrap(), "2026-03-07T14:00:00Z".parse::<Timestamp>().unwrap(), "EST");
        assert_eq!(plan.due(1).unwrap(), "2026-03-08T13:00:00Z".parse::<Timestamp>().unwrap(), "EDT, still 09:00");
        assert_eq!(plan.due(2), None, "count reached");
        let gap = resolve(Tz::America__New_York, local("2026-03-08 02:30")).unwrap();
        assert_eq!(gap, "2026-03-08T07:30:00Z".parse::<Timestamp>().unwrap(), "03:30 EDT");
        let until = ReminderPlan { end: ReminderEnd { until: Some(NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()), count: None }, ..plan };
        assert!(until.due(0).is_some() && until.due(1).is_none(), "until is inclusive");
    }
}
