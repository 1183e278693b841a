//! Reminders: validate a plan, store it with its first occurrence as the cursor, and make
//! occurrences into scheduled messages (see `workers::reminders`).

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use kirim_core::id::DeviceId;
use kirim_core::message::MessageContent;
use kirim_core::reminder::{
    MAX_EVERY_DAYS, NewReminder, Occurrence, Recurrence, Reminder, ReminderChange, ReminderEnd, ReminderPlan, ReminderStatus,
};
use kirim_core::rules_store::ReminderFilter;
use kirim_core::{ReminderId, Timestamp};

use super::messages::parse_recipient;
use super::{Actor, content, schedule};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

pub const MAX_TITLE: usize = 255;
/// The most occurrences a series may be limited to.
pub const MAX_COUNT: u32 = 100_000;
/// A start this far in the past is still taken (clocks differ, requests take time).
const GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// Occurrences listed with a reminder.
pub const OCCURRENCES_SHOWN: u32 = 50;

const LOCAL_FORMATS: [&str; 4] = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"];

/// How the client said the reminder repeats.
#[derive(Debug, Clone, Default)]
pub struct RepeatInput {
    pub every: String,
    pub days: Option<u32>,
}

/// Every field of a reminder as the client gave it; on a change, `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ReminderInput {
    pub device_id: Option<DeviceId>,
    pub to: Option<String>,
    pub title: Option<Option<String>>,
    pub content: Option<MessageContent>,
    pub start_at: Option<String>,
    pub timezone: Option<String>,
    pub repeat: Option<RepeatInput>,
    pub until: Option<Option<String>>,
    pub count: Option<Option<u32>>,
    /// `active` or `paused` (changes only).
    pub status: Option<String>,
}

/// A reminder with its newest occurrences.
#[derive(Debug, Clone)]
pub struct ReminderDetail {
    pub reminder: Reminder,
    pub occurrences: Vec<Occurrence>,
}

fn recurrence(repeat: &RepeatInput) -> ApiResult<Recurrence> {
    let days = |field: &str| {
        let days = repeat.days.ok_or_else(|| {
            ApiError::field(field, format!("`{field}` is required with `every: \"days\"`: repeat every 1 to {MAX_EVERY_DAYS} days"))
        })?;
        if !(1..=MAX_EVERY_DAYS).contains(&days) {
            return Err(ApiError::field(field, format!("`{field}` must be 1 to {MAX_EVERY_DAYS} (7 is weekly)")));
        }
        Ok(days)
    };
    let r = match repeat.every.trim() {
        "daily" => Recurrence::Daily,
        "weekly" => Recurrence::Days { days: 7 },
        "monthly" => Recurrence::Monthly,
        "yearly" => Recurrence::Yearly,
        "days" => Recurrence::Days { days: days("repeat.days")? },
        other => {
            return Err(ApiError::field(
                "repeat.every",
                format!("`repeat.every` `{other}` is not a recurrence; use daily, weekly, monthly, yearly, or days (with `days`)"),
            ));
        }
    };
    if repeat.days.is_some() && !matches!(r, Recurrence::Days { .. }) {
        return Err(ApiError::field("repeat.days", "`repeat.days` goes only with `every: \"days\"`"));
    }
    Ok(r)
}

/// The start as a wall-clock time in `tz`: `2026-05-20 13:20:00`, or an exact time with an
/// offset (then converted to the zone's wall clock, which the series keeps).
fn start(raw: &str, tz: Tz) -> ApiResult<NaiveDateTime> {
    if let Ok(exact) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(exact.with_timezone(&tz).naive_local());
    }
    LOCAL_FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(raw.trim(), f).ok()).ok_or_else(|| {
        ApiError::field(
            "start_at",
            "`start_at` must be a time such as 2026-05-20 13:20:00 (read in `timezone`) or 2026-05-20T13:20:00+07:00",
        )
    })
}

fn plan_of(state: &AppState, input: &ReminderInput, current: Option<&ReminderPlan>) -> ApiResult<ReminderPlan> {
    let timezone = match (&input.timezone, current) {
        (Some(raw), _) => raw.trim().to_owned(),
        (None, Some(plan)) => plan.timezone.clone(),
        (None, None) => "UTC".to_owned(),
    };
    let tz = schedule::zone("timezone", &timezone)?;
    let to = match (&input.to, current) {
        (Some(raw), _) => parse_recipient(state, "to", raw)?,
        (None, Some(plan)) => plan.to.clone(),
        (None, None) => return Err(ApiError::field("to", "`to` is required: the phone number or group to remind")),
    };
    let content = match (&input.content, current) {
        (Some(c), _) => {
            let mut c = c.clone();
            content::validate(&mut c, state.config.default_country)?;
            if c.target_id().is_some() {
                return Err(ApiError::field("message.type", "a reminder cannot be a reaction, edit or revoke; send those at once"));
            }
            c
        }
        (None, Some(plan)) => plan.content.clone(),
        (None, None) => {
            return Err(ApiError::field("message", "`message` is required: what to send, e.g. {\"type\": \"text\", \"text\": \"…\"}"));
        }
    };
    let start = match (&input.start_at, current) {
        (Some(raw), _) => start(raw, tz)?,
        (None, Some(plan)) if input.timezone.is_none() => plan.start,
        (None, Some(_)) => return Err(ApiError::field("start_at", "give `start_at` again with a new `timezone`")),
        (None, None) => return Err(ApiError::field("start_at", "`start_at` is required: when the first reminder goes out")),
    };
    let recurrence = match (&input.repeat, current) {
        (Some(r), _) => recurrence(r)?,
        (None, Some(plan)) => plan.recurrence,
        (None, None) => return Err(ApiError::field("repeat", "`repeat` is required, e.g. {\"every\": \"daily\"}")),
    };
    let title = match (&input.title, current) {
        (Some(t), _) => t.as_ref().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
        (None, Some(plan)) => plan.title.clone(),
        (None, None) => None,
    };
    if title.as_ref().is_some_and(|t| t.chars().count() > MAX_TITLE) {
        return Err(ApiError::field("title", format!("`title` is at most {MAX_TITLE} characters")));
    }
    let until = match (&input.until, current) {
        (Some(Some(raw)), _) => Some(
            NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
                .map_err(|_| ApiError::field("until", "`until` must be a date such as 2026-12-31 (the last day, in `timezone`)"))?,
        ),
        (Some(None), _) => None,
        (None, Some(plan)) => plan.end.until,
        (None, None) => None,
    };
    if until.is_some_and(|u| u < start.date()) {
        return Err(ApiError::field("until", "`until` is before `start_at`: the series would have no occurrence"));
    }
    let count = match (&input.count, current) {
        (Some(c), _) => *c,
        (None, Some(plan)) => plan.end.count,
        (None, None) => None,
    };
    if count.is_some_and(|c| !(1..=MAX_COUNT).contains(&c)) {
        return Err(ApiError::field("count", format!("`count` must be 1 to {MAX_COUNT} occurrences (or left out: no limit)")));
    }
    Ok(ReminderPlan { title, to, content, start, timezone, recurrence, end: ReminderEnd { until, count } })
}

/// The first occurrence still to come, refusing a plan whose start has passed.
fn first_due(plan: &ReminderPlan, now: Timestamp) -> ApiResult<Timestamp> {
    let at = plan.due(0).ok_or_else(|| ApiError::field("start_at", "`start_at` is not a time that exists in `timezone`"))?;
    if at < now - GRACE {
        return Err(ApiError::field("start_at", format!("`start_at` ({at}) is in the past; give a time from now on")));
    }
    Ok(at)
}

pub async fn create(state: &AppState, auth: &Actor, input: ReminderInput) -> ApiResult<Reminder> {
    let plan = plan_of(state, &input, None)?;
    super::blacklist::refuse_blacklisted(state, auth.tenant_pk(), &plan.to).await?;
    let now = state.clock.now();
    let next_at = first_due(&plan, now)?;
    let entry = match (&auth.device, &input.device_id) {
        (Some((_, own)), Some(asked)) if own != asked => {
            return Err(
                ApiError::forbidden("this device token can set reminders only on its own device; omit `device_id`").with_field("device_id")
            );
        }
        (Some((_, own)), _) => state.devices.get_for_tenant(auth.tenant_pk(), own),
        (None, Some(id)) => state.devices.get_for_tenant(auth.tenant_pk(), id),
        (None, None) => Some(state.devices.pick_for_send(auth.tenant_pk()).ok_or_else(|| {
            ApiError::conflict("no_connected_device", "this account has no linked device; name the `device_id` that sends the reminder")
        })?),
    };
    let entry = entry.ok_or_else(|| ApiError::not_found("device").with_field("device_id"))?;
    let new = NewReminder {
        id: ReminderId::generate(),
        tenant_pk: auth.tenant_pk(),
        device_pk: entry.pk,
        plan,
        next_index: 0,
        next_at,
        created_at: now,
    };
    let reminder = state.store.create_reminder(new).await?;
    crate::workers::reminders::make_due(state, &reminder).await;
    Ok(state.store.get_reminder(auth.tenant_pk(), &reminder.id).await?.unwrap_or(reminder))
}

async fn own(state: &AppState, auth: &Actor, id: &ReminderId) -> ApiResult<Reminder> {
    let found = state.store.get_reminder(auth.tenant_pk(), id).await?;
    found.filter(|r| auth.may_use_device(&r.device_id)).ok_or_else(|| ApiError::not_found("reminder"))
}

pub async fn get(state: &AppState, auth: &Actor, id: &ReminderId) -> ApiResult<ReminderDetail> {
    let reminder = own(state, auth, id).await?;
    let occurrences = state.store.reminder_occurrences(reminder.pk, OCCURRENCES_SHOWN).await?;
    Ok(ReminderDetail { reminder, occurrences })
}

pub async fn list(
    state: &AppState,
    auth: &Actor,
    device: Option<&DeviceId>,
    after: Option<ReminderId>,
    limit: u32,
) -> ApiResult<Vec<Reminder>> {
    let device = match (device, &auth.device) {
        (Some(asked), Some((_, own))) if asked != own => return Err(ApiError::not_found("device").with_field("device_id")),
        (_, Some((pk, _))) => Some(*pk),
        (Some(id), None) => match state.devices.get_for_tenant(auth.tenant_pk(), id) {
            Some(entry) => Some(entry.pk),
            None => return Err(ApiError::not_found("device").with_field("device_id")),
        },
        (None, None) => None,
    };
    Ok(state.store.list_reminders(auth.tenant_pk(), &ReminderFilter { device, after, limit }).await?)
}

/// Changes the plan (the series then restarts at its first occurrence from now on, and
/// occurrences already scheduled are cancelled) and/or pauses or resumes it.
pub async fn update(state: &AppState, auth: &Actor, id: &ReminderId, input: ReminderInput) -> ApiResult<Reminder> {
    let current = own(state, auth, id).await?;
    if input.device_id.is_some() {
        return Err(ApiError::field("device_id", "a reminder stays on its device; delete it and create one on the other device"));
    }
    let status = match input.status.as_deref().map(str::trim) {
        None => current.status,
        Some("active") => ReminderStatus::Active,
        Some("paused") => ReminderStatus::Paused,
        Some(other) => return Err(ApiError::field("status", format!("`status` `{other}` cannot be set; use active or paused"))),
    };
    let plan_changed = input.to.is_some()
        || input.title.is_some()
        || input.content.is_some()
        || input.start_at.is_some()
        || input.timezone.is_some()
        || input.repeat.is_some()
        || input.until.is_some()
        || input.count.is_some();
    let plan = plan_of(state, &input, Some(&current.plan))?;
    if input.to.is_some() {
        super::blacklist::refuse_blacklisted(state, auth.tenant_pk(), &plan.to).await?;
    }
    let now = state.clock.now();
    let schedule_changed = plan.start != current.plan.start
        || plan.timezone != current.plan.timezone
        || plan.recurrence != current.plan.recurrence
        || plan.end != current.plan.end;
    if input.start_at.is_some() && schedule_changed {
        first_due(&plan, now)?;
    }
    // A changed plan, a pause or a resume goes on at the first occurrence still to come
    // (occurrences already scheduled are cancelled and made again from the new plan);
    // otherwise the series goes on where it was.
    let restart = plan_changed || status != current.status;
    let from = if restart { 0 } else { current.next_index };
    let (status, next_index, next_at) = match plan.next_from(from, now) {
        // A finished series whose plan now has more to come is active again.
        Some((n, at)) => (if status == ReminderStatus::Finished { ReminderStatus::Active } else { status }, n, Some(at)),
        None => (ReminderStatus::Finished, current.next_index, None),
    };
    let change = ReminderChange { plan, status, next_index, next_at, cancel_scheduled: restart, at: now };
    let updated = state.store.update_reminder(auth.tenant_pk(), id, change).await?.ok_or_else(|| ApiError::not_found("reminder"))?;
    crate::workers::reminders::make_due(state, &updated).await;
    Ok(state.store.get_reminder(auth.tenant_pk(), id).await?.unwrap_or(updated))
}

/// Deletes the reminder and cancels its occurrences not yet queued; sent ones stay.
pub async fn delete(state: &AppState, auth: &Actor, id: &ReminderId) -> ApiResult<Reminder> {
    own(state, auth, id).await?;
    state.store.delete_reminder(auth.tenant_pk(), id, state.clock.now()).await?.ok_or_else(|| ApiError::not_found("reminder"))
}

/// The due time as the client reads it: in the reminder's zone, without offset.
pub fn local(reminder: &Reminder, at: Timestamp) -> Option<String> {
    let tz: Tz = reminder.plan.tz()?;
    Some(at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
}
