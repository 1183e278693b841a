//! Reading a client's "send this at …": an RFC 3339 time, or a wall-clock time in a named
//! zone (`2026-05-20 13:20:00` in `Asia/Jakarta`), as WhatsApp gateways take it.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use kirim_core::Timestamp;
use kirim_core::message::Schedule;

use crate::http::error::{ApiError, ApiResult};

/// A time this far in the past is still taken as "now" (clocks differ, requests take time).
const GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// The furthest ahead a message may be scheduled.
const HORIZON: chrono::TimeDelta = chrono::TimeDelta::days(366);

const LOCAL_FORMATS: [&str; 4] = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"];

/// An IANA time-zone name, e.g. `Asia/Jakarta`.
pub fn zone(field: &str, raw: &str) -> ApiResult<Tz> {
    raw.trim().parse::<Tz>().map_err(|_| {
        ApiError::field(
            field,
            format!("`{field}` `{raw}` is not a time zone; use an IANA name such as Asia/Jakarta, Asia/Kuala_Lumpur or UTC"),
        )
    })
}

fn wall_clock(raw: &str) -> Option<NaiveDateTime> {
    LOCAL_FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(raw.trim(), f).ok())
}

/// The instant `raw` names: with an offset it is exact; a wall-clock time is read in
/// `timezone` (UTC when none is given).
pub fn parse_time(raw: &str, timezone: Option<&str>) -> ApiResult<Timestamp> {
    if let Ok(exact) = DateTime::parse_from_rfc3339(raw.trim()) {
        if let Some(tz) = timezone {
            zone("timezone", tz)?;
        }
        return Ok(exact.with_timezone(&Utc));
    }
    let Some(local) = wall_clock(raw) else {
        return Err(ApiError::field(
            "scheduled_at",
            "`scheduled_at` must be a time such as 2026-05-20T13:20:00+07:00, or 2026-05-20 13:20:00 with a `timezone`",
        ));
    };
    let tz = match timezone {
        Some(name) => zone("timezone", name)?,
        None => Tz::UTC,
    };
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        // A wall-clock time that happens twice (clocks going back) means its first occurrence.
        LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        LocalResult::None => {
            Err(ApiError::field("scheduled_at", format!("{raw} does not exist in {tz} (the clocks skip it that day); pick another time")))
        }
    }
}

/// The schedule of a send: `None` to send now (no time given, or a time that has just passed).
pub fn parse(scheduled_at: Option<&str>, timezone: Option<&str>, now: Timestamp) -> ApiResult<Option<Schedule>> {
    let Some(raw) = scheduled_at else {
        if let Some(tz) = timezone {
            zone("timezone", tz)?;
        }
        return Ok(None);
    };
    let at = parse_time(raw, timezone)?;
    if at < now - GRACE {
        return Err(ApiError::field("scheduled_at", format!("`scheduled_at` ({at}) is in the past; leave it out to send now")));
    }
    if at > now + HORIZON {
        return Err(ApiError::field("scheduled_at", "`scheduled_at` is more than a year ahead; use a reminder for far-off dates"));
    }
    if at <= now {
        return Ok(None);
    }
    Ok(Some(Schedule { at, timezone: timezone.map(|t| t.trim().to_owned()) }))
}

/// The due time as the client would read it: in the schedule's zone, without offset.
pub fn local_time(schedule: &Schedule) -> Option<String> {
    let tz: Tz = schedule.timezone.as_deref()?.parse().ok()?;
    Some(schedule.at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-05-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn wall_clock_times_are_read_in_their_zone() {
        let s = parse(Some("2026-05-20 13:20:00"), Some("Asia/Jakarta"), now()).unwrap().unwrap();
        assert_eq!(s.at, "2026-05-20T06:20:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(s.timezone.as_deref(), Some("Asia/Jakarta"));
        assert_eq!(local_time(&s).as_deref(), Some("2026-05-20 13:20:00"));
        let utc = parse(Some("2026-05-20T13:20"), None, now()).unwrap().unwrap();
        assert_eq!(utc.at, "2026-05-20T13:20:00Z".parse::<Timestamp>().unwrap());
        let exact = parse(Some("2026-05-20T13:20:00+08:00"), None, now()).unwrap().unwrap();
        assert_eq!(exact.at, "2026-05-20T05:20:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn daylight_saving_gaps_and_overlaps_are_handled() {
        // New York skips 02:00–03:00 on 2026-03-08 and repeats 01:00–02:00 on 2026-11-01.
        let early: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let gap = parse(Some("2026-03-08 02:30:00"), Some("America/New_York"), early).unwrap_err();
        assert_eq!(gap.detail.field.as_deref(), Some("scheduled_at"));
        let twice = parse(Some("2026-11-01 01:30:00"), Some("America/New_York"), early).unwrap().unwrap();
        assert_eq!(twice.at, "2026-11-01T05:30:00Z".parse::<Timestamp>().unwrap(), "the first 01:30 (EDT)");
    }

    #[test]
    fn bad_times_say_which_field_and_why() {
        for (at, tz, field) in [
            (Some("tomorrow"), None, "scheduled_at"),
            (Some("2026-05-20 13:20:00"), Some("Mars/Olympus"), "timezone"),
            (Some("2026-04-30T23:00:00Z"), None, "scheduled_at"),
            (Some("2030-01-01T00:00:00Z"), None, "scheduled_at"),
            (None, Some("nowhere"), "timezone"),
        ] {
            let e = parse(at, tz, now()).unwrap_err();
            assert_eq!(e.detail.field.as_deref(), Some(field), "{at:?} {tz:?}");
        }
        assert_eq!(parse(Some("2026-04-30T23:59:30Z"), None, now()).unwrap(), None, "just passed: send now");
        assert_eq!(parse(None, None, now()).unwrap(), None);
    }
}
