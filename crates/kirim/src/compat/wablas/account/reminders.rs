//! Reminders: a text sent from the caller's device daily, monthly, yearly, or every N days
//! (`periode: custom` with `custom_day`; Wablas's documentation also calls it `custom_date`).
//! `start_date` is a wall-clock time read in `timezone` (UTC when none is given).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kirim_core::ReminderId;
use kirim_core::message::MessageContent;
use kirim_core::reminder::{Recurrence, Reminder};
use serde_json::{Value, json};

use super::{bad_field, refused};
use crate::app::AppState;
use crate::compat::wablas::{Call, chat_name, fail, ok, refusal};
use crate::services::reminders::{self as service, ReminderInput, RepeatInput};

/// Wablas's names for the native reminder fields.
const NAMES: [(&str, &str); 8] = [
    ("to", "phone"),
    ("start_at", "start_date"),
    ("repeat.every", "periode"),
    ("repeat.days", "custom_day"),
    ("repeat", "periode"),
    ("message", "message"),
    ("text.body", "message"),
    ("message.text.body", "message"),
];

fn kind(recurrence: Recurrence) -> String {
    match recurrence {
        Recurrence::Daily => "daily".to_owned(),
        Recurrence::Monthly => "monthly".to_owned(),
        Recurrence::Yearly => "yearly".to_owned(),
        Recurrence::Days { days } => format!("custom: send every {days} days"),
    }
}

fn view(r: &Reminder) -> Value {
    let plan = &r.plan;
    let message = match &plan.content {
        MessageContent::Text { text } => text.body.clone(),
        other => other.media_content().and_then(|m| m.caption.clone()).unwrap_or_default(),
    };
    json!({
        "id": r.id,
        "phone": chat_name(&plan.to),
        "title": plan.title,
        "message": message,
        "timezone": plan.timezone,
        "start_at": plan.start.format("%Y-%m-%d %H:%M:%S").to_string(),
        "reminder_type": kind(plan.recurrence),
        "status": r.status,
        "next_at": r.next_at.and_then(|at| service::local(r, at)),
    })
}

fn reminder_id(raw: &str) -> Result<ReminderId, Response> {
    raw.trim().parse().map_err(|_| fail(StatusCode::NOT_FOUND, "reminder not found"))
}

/// `periode` (and `custom_day` or `custom_date`) as the native recurrence; `None` when not given.
fn repeat(call: &Call) -> Result<Option<RepeatInput>, Response> {
    let days_raw = call.text("custom_day").or_else(|| call.text("custom_date"));
    let Some(periode) = call.text("periode") else {
        return match days_raw {
            Some(_) => Err(bad_field("periode", "is required with `custom_day`: use custom")),
            None => Ok(None),
        };
    };
    let every = match periode.to_ascii_lowercase().as_str() {
        p @ ("daily" | "weekly" | "monthly" | "yearly") => p.to_owned(),
        "custom" => "days".to_owned(),
        _ => return Err(bad_field("periode", format!("`{periode}` is not a periode: use daily, monthly, yearly or custom"))),
    };
    let days = match (every.as_str(), days_raw) {
        ("days", None) => return Err(bad_field("custom_day", "is required with `periode: custom`: repeat every 1 to 1000 days")),
        ("days", Some(raw)) => Some(
            raw.parse::<u32>()
                .map_err(|_| bad_field("custom_day", format!("must be a whole number of days from 1 to 1000 (got `{raw}`)")))?,
        ),
        // A day count with another periode says nothing more; it is left out.
        _ => None,
    };
    Ok(Some(RepeatInput { every, days }))
}

fn input(call: &Call) -> Result<ReminderInput, Response> {
    Ok(ReminderInput {
        to: call.text("phone"),
        title: call.fields.get("title").map(|_| call.text("title")),
        content: call.fields.text("message").and_then(Result::ok).filter(|m| !m.trim().is_empty()).map(MessageContent::text),
        start_at: call.text("start_date"),
        timezone: call.text("timezone"),
        repeat: repeat(call)?,
        ..ReminderInput::default()
    })
}

/// `POST /api/reminder {phone, start_date, message, periode, custom_day?, title?, timezone?}`.
pub async fn create(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let input = or_answer!(input(&call));
    match service::create(&state, &caller.actor(), input).await {
        Ok(r) => answer("Reminder Messages is succesfully saved and waiting to be processed", &r),
        Err(e) => refused(e, &NAMES),
    }
}

/// `POST /api/reminder/{id} {phone?, start_date?, message?, title?, periode?, custom_day?}`:
/// the fields given change; the series restarts at its first occurrence from now on.
pub async fn update(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let id = or_answer!(reminder_id(&id));
    let input = or_answer!(input(&call));
    match service::update(&state, &caller.actor(), &id, input).await {
        Ok(r) => answer("Reminder Messages is succesfully updated", &r),
        Err(e) => refused(e, &NAMES),
    }
}

/// `GET /api/reminder/info/{id}`. Read-only: the device token is enough.
pub async fn info(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let id = or_answer!(reminder_id(&id));
    match service::get(&state, &caller.actor(), &id).await {
        Ok(detail) => answer("Reminder Messages info", &detail.reminder),
        Err(e) => refusal(e),
    }
}

/// `DELETE /api/reminder/{id}`: occurrences not yet sent are cancelled.
pub async fn remove(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let id = or_answer!(reminder_id(&id));
    match service::delete(&state, &caller.actor(), &id).await {
        Ok(r) => ok(format!("Reminder {} is succesfully deleted", r.id), Value::Null),
        Err(e) => refusal(e),
    }
}

/// Wablas's reminder answer: `category` (always `text` here) next to `status`.
fn answer(message: &str, r: &Reminder) -> Response {
    Json(json!({"status": true, "category": "text", "message": message, "data": view(r)})).into_response()
}
