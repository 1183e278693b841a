//! Wablas's queue calls: scheduled messages (v1: one text to a phone list at a date, time
//! and zone; v2: `data: […]` of any category at `scheduled_at`), changing, cancelling and
//! deleting them, and resend, cancel, cancel-all and revoke by message id.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use kirim_core::MessageId;
use kirim_core::message::{Message, MessageContent, RevokeContent};
use serde_json::{Value, json};

use super::send::{Kind, listed};
use super::{Call, Caller, chat_name, fail, refusal, text};
use crate::app::AppState;
use crate::compat::body::Fields;
use crate::http::error::ApiError;
use crate::services::messages::{self, SendInput, UnsentChange};
use crate::services::{Actor, schedule, sending};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/schedule", post(schedule_v1))
        .route("/api/schedule/{id}", put(update_v1).delete(delete_one))
        .route("/api/schedule-cancel/{id}", put(cancel_schedule))
        .route("/api/v2/schedule", post(schedule_v2))
        .route("/api/v2/schedule/{id}", put(update_v2))
        .route("/api/v2/delete-schedule", delete(delete_many))
        .route("/api/resend-message", get(resend).post(resend))
        .route("/api/cancel-message", get(cancel).post(cancel))
        .route("/api/cancel-all-message", get(cancel_all).post(cancel_all))
        .route("/api/revoke-message", get(revoke).post(revoke))
}

/// `id` as a comma list of message ids.
fn ids(call: &Call) -> Result<Vec<String>, Response> {
    let raw = call
        .text("id")
        .ok_or_else(|| fail(StatusCode::UNPROCESSABLE_ENTITY, "`id` is required: the message id (a comma list for several)"))?;
    Ok(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

/// The schedule of a v1 call: `date` (YYYY-MM-DD) and `time` (hh:mm:ss) in `timezone`.
fn v1_schedule(state: &AppState, call: &Call) -> Result<kirim_core::message::Schedule, ApiError> {
    let date = call.text("date").ok_or_else(|| ApiError::field("date", "`date` is required: the day to send, e.g. 2026-05-20"))?;
    let time = call.text("time").ok_or_else(|| ApiError::field("time", "`time` is required: the time to send, e.g. 13:20:00"))?;
    let zone = call.text("timezone").ok_or_else(|| ApiError::field("timezone", "`timezone` is required, e.g. Asia/Jakarta"))?;
    future(state, &format!("{date} {time}"), Some(&zone))
}

/// A time to send at that is in the future (a time just past would send now: Wablas's
/// schedule calls always schedule).
fn future(state: &AppState, at: &str, zone: Option<&str>) -> Result<kirim_core::message::Schedule, ApiError> {
    match schedule::parse(Some(at), zone, state.clock.now()) {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(ApiError::field("scheduled_at", format!("{at} has already passed; send it now with send-message instead"))),
        Err(e) => Err(e),
    }
}

/// A scheduled message as Wablas lists it.
fn scheduled(message: &Message) -> Value {
    let mut out = listed(message);
    let at = message.schedule.as_ref();
    out["status"] = json!(true);
    out["timezone"] = json!(at.and_then(|s| s.timezone.clone()).unwrap_or_else(|| "UTC".to_owned()));
    out["schedule_at"] = json!(at.map(|s| schedule::local_time(s).unwrap_or_else(|| s.at.format("%Y-%m-%d %H:%M:%S").to_string())));
    out
}

/// `POST /api/schedule`: one text to each phone of `phone` at `date` `time` in `timezone`.
async fn schedule_v1(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let when = or_answer!(v1_schedule(&state, &call).map_err(super::refusal));
    let body = or_answer!(
        call.fields
            .string("message")
            .and_then(Result::ok)
            .ok_or_else(|| { fail(StatusCode::UNPROCESSABLE_ENTITY, "`message` is required: the text to send") })
    );
    let phones =
        or_answer!(call.text("phone").ok_or_else(|| fail(StatusCode::UNPROCESSABLE_ENTITY, "`phone` is required: the number to send to")));
    let group = call.flag("isGroup");
    let to: Vec<String> = phones
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| if group { format!("{p}@g.us") } else { p.to_owned() })
        .collect();
    let mut input = SendInput::plain(Some(caller.device.id.clone()), String::new(), MessageContent::text(body));
    input.to = None;
    input.schedule = Some(when);
    match sending::send_many(&state, &caller.actor(), input, to, None).await {
        Ok(b) => Json(json!({
            "status": true,
            "category": "text",
            "message": "Scheduled Messages is succesfully saved and waiting to be processed",
            "phones list": phones.split(',').map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>(),
            "messages": b.accepted.iter().map(|a| scheduled(&a.message)).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => refusal(e),
    }
}

/// The content of a v2 schedule item by its `category`: `text` (a string) or the
/// structured categories (an object), files by `url`.
fn v2_content(item: &Fields) -> Result<MessageContent, ApiError> {
    let category = text(item, "category").ok_or_else(|| {
        ApiError::field("category", "`category` is required: text, image, video, audio, document, button, template, list or location")
    })?;
    let mut fields = Fields(item.0.clone());
    let kind = match category.as_str() {
        "text" => {
            if let Some(t) = item.get("text") {
                fields.0.insert("message".into(), t.clone());
            }
            Kind::Text
        }
        "image" | "video" | "audio" | "document" => {
            let kind: &'static str = match category.as_str() {
                "image" => "image",
                "video" => "video",
                "audio" => "audio",
                _ => "document",
            };
            if let Some(url) = item.get("url") {
                fields.0.insert(kind.into(), Value::String(url.as_str().unwrap_or_default().trim().to_owned()));
            }
            if let Some(t) = item.get("text") {
                fields.0.insert("caption".into(), t.clone());
            }
            Kind::Url(kind)
        }
        "location" => {
            fields.0.insert("message".into(), item.get("text").cloned().unwrap_or(Value::Null));
            Kind::Location
        }
        "button" | "template" | "list" => {
            // Same fields as an auto-reply item, whose structured `message` is `text` here.
            let reply = json!({"category": category, "message": item.get("text").cloned().unwrap_or(Value::Null)});
            return super::content::reply_item(&reply).map_err(|c| {
                ApiError::field("text", format!("`text` does not hold a {c} message; see the documented fields of the `{c}` category"))
            });
        }
        other => {
            return Err(ApiError::field(
                "category",
                format!(
                    "`category` `{other}` is not one Kirim sends; use text, image, video, audio, document, button, template, list or location"
                ),
            ));
        }
    };
    super::send::item_content(&fields, kind)
}

/// One v2 schedule item as a native send (its `phone` and `scheduled_at` read too).
fn v2_input(state: &AppState, caller: &Caller, item: &Fields) -> Result<SendInput, ApiError> {
    let content = v2_content(item)?;
    let phone = text(item, "phone").ok_or_else(|| ApiError::field("phone", "`phone` is required: the number to send to"))?;
    let at = text(item, "scheduled_at")
        .ok_or_else(|| ApiError::field("scheduled_at", "`scheduled_at` is required, e.g. 2026-05-20 13:20:00"))?;
    let when = future(state, &at, text(item, "timezone").as_deref())?;
    let to = if super::flag(item, "isGroup") && !phone.ends_with("@g.us") { format!("{phone}@g.us") } else { phone };
    let mut input = SendInput::plain(Some(caller.device.id.clone()), to, content);
    input.schedule = Some(when);
    input.ref_id = text(item, "ref_id");
    Ok(input)
}

fn v2_listed(message: &Message) -> Value {
    let media = message.content.media_content();
    let words = match &message.content {
        MessageContent::Text { text } => Some(text.body.clone()),
        _ => media.and_then(|m| m.caption.clone()),
    };
    json!({
        "id": message.id,
        "phone": chat_name(&message.chat),
        "messages": words,
        "file": media.and_then(|m| m.link.clone()),
        "timezone": message.schedule.as_ref().and_then(|s| s.timezone.clone()).unwrap_or_else(|| "UTC".to_owned()),
        "schedule_at": scheduled(message)["schedule_at"],
    })
}

/// `POST /api/v2/schedule`: each item of `data` scheduled on its own.
async fn schedule_v2(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let items = or_answer!(super::send::items(&call));
    let inputs = items.iter().map(|item| v2_input(&state, &caller, item)).collect();
    let results = match sending::batch(&state, &caller.actor(), inputs).await {
        Ok(r) => r,
        Err(e) => return refusal(e),
    };
    let mut messages = Vec::new();
    let mut errors = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(a) => messages.push(v2_listed(&a.message)),
            Err(e) => errors
                .push(json!({"phone": text(&items[i], "phone"), "message": format!("data[{i}]: {}", e.detail.message), "status": false})),
        }
    }
    if messages.is_empty() {
        let why = errors.first().and_then(|e| e["message"].as_str()).unwrap_or("nothing was scheduled").to_owned();
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"status": false, "message": why, "data": {"messages": errors}})))
            .into_response();
    }
    messages.extend(errors);
    super::ok("Message is pending and waiting to be processed", json!({"messages": messages}))
}

fn message_id(raw: &str) -> Result<MessageId, Response> {
    raw.trim().parse().map_err(|_| fail(StatusCode::NOT_FOUND, format!("schedule {raw} was not found")))
}

/// `PUT /api/schedule/{id}`: a new phone, text and time for a scheduled text.
async fn update_v1(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let id = or_answer!(message_id(&id));
    let when = or_answer!(v1_schedule(&state, &call).map_err(refusal));
    let content = call.fields.string("message").and_then(Result::ok).map(MessageContent::text);
    let to = call.text("phone").map(|p| if call.flag("isGroup") { format!("{p}@g.us") } else { p });
    let change = UnsentChange { schedule: Some(when), to, content };
    match messages::update_scheduled(&state, &caller.auth, &id, change).await {
        Ok(m) => Json(json!({
            "status": true,
            "id": m.id,
            "category": m.content.kind(),
            "message": "Scheduled Messages is succesfully saved and waiting to be processed",
            "timezone": m.schedule.as_ref().and_then(|s| s.timezone.clone()),
            "schedule_at": scheduled(&m)["schedule_at"],
            "device": {"serial": caller.device.id, "name": caller.device.name},
            "phones list": [chat_name(&m.chat)],
            "messages": listed(&m)["message"],
        }))
        .into_response(),
        Err(e) => refusal(e),
    }
}

/// `PUT /api/v2/schedule/{id}`: the first item of `data` replaces the scheduled message.
async fn update_v2(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let id = or_answer!(message_id(&id));
    let items = or_answer!(super::send::items(&call));
    let item = &items[0];
    let input = or_answer!(v2_input(&state, &caller, item).map_err(refusal));
    let change = UnsentChange { schedule: input.schedule, to: input.to, content: Some(input.content) };
    match messages::update_scheduled(&state, &caller.auth, &id, change).await {
        Ok(m) => {
            let mut body = v2_listed(&m);
            body["status"] = json!(true);
            body["category"] = json!(m.content.kind());
            body["message"] = json!("Scheduled Messages is succesfully Updated");
            Json(body).into_response()
        }
        Err(e) => refusal(e),
    }
}

/// `PUT /api/schedule-cancel/{id}`.
async fn cancel_schedule(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let id = or_answer!(message_id(&id));
    match messages::cancel(&state, &caller.auth, &id).await {
        Ok(_) => super::ok("schedule canceled successfully", Value::Null),
        Err(e) => refusal(e),
    }
}

/// `DELETE /api/schedule/{id}`.
async fn delete_one(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let id = or_answer!(message_id(&id));
    match messages::delete_unsent(&state, &caller.auth, &id).await {
        Ok(()) => super::ok("schedule deleted successfully", Value::Null),
        Err(e) => refusal(e),
    }
}

/// `DELETE /api/v2/delete-schedule?id=a,b`: each deleted, or why not.
async fn delete_many(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let ids = or_answer!(ids(&call));
    let mut failed = Vec::new();
    for raw in &ids {
        let outcome = match raw.parse::<MessageId>() {
            Ok(id) => messages::delete_unsent(&state, &caller.auth, &id).await,
            Err(_) => Err(ApiError::not_found("message")),
        };
        if let Err(e) = outcome {
            failed.push(json!({"id": raw, "message": e.detail.message, "status": false}));
        }
    }
    if failed.len() == ids.len() {
        let why = failed[0]["message"].as_str().unwrap_or_default().to_owned();
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"status": false, "message": why, "data": failed}))).into_response();
    }
    let body = if failed.is_empty() { Value::Null } else { json!({"failed": failed}) };
    super::ok("schedules deleted successfully", body)
}

/// One id's failure as Wablas lists it in `data.messages`.
fn id_failure(raw: &str, error: &ApiError) -> Value {
    json!({"id": raw, "message": error.detail.message, "status": false})
}

/// `GET /api/resend-message?id=a,b`.
async fn resend(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let ids = or_answer!(ids(&call));
    let results = match sending::resend_many(&state, &caller.actor(), &ids, None).await {
        Ok(r) => r,
        Err(e) => return refusal(e),
    };
    let messages: Vec<Value> =
        results.iter().zip(&ids).map(|(r, raw)| r.as_ref().map_or_else(|e| id_failure(raw, e), |a| listed(&a.message))).collect();
    id_answer(&caller, results.iter().any(Result::is_ok), messages, "Resend Message is pending and waiting to be processed")
}

/// `GET /api/cancel-message?id=a,b`: pending (or scheduled) messages cancelled.
async fn cancel(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let ids = or_answer!(ids(&call));
    let results = match sending::cancel_many(&state, &caller.actor(), &ids).await {
        Ok(r) => r,
        Err(e) => return refusal(e),
    };
    let messages: Vec<Value> = results
        .iter()
        .zip(&ids)
        .map(|(r, raw)| match r {
            Ok(m) => listed(m),
            Err(_) => json!({"id": raw, "message": "Id Invalid or message is not pending anymore", "status": false}),
        })
        .collect();
    id_answer(&caller, results.iter().any(Result::is_ok), messages, "Message is canceled and waiting to be processed")
}

/// Per-id answers: a success when any id succeeded (the others say why), else a 422.
fn id_answer(caller: &Caller, any: bool, messages: Vec<Value>, message: &str) -> Response {
    if !any {
        let why = messages.first().and_then(|m| m["message"].as_str()).unwrap_or("no message was found").to_owned();
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"status": false, "message": why, "data": {"messages": messages}})))
            .into_response();
    }
    super::ok(message, json!({"device_id": caller.device.id, "messages": messages}))
}

/// `GET /api/cancel-all-message`: every pending message of the device.
async fn cancel_all(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    match sending::cancel_all_pending(&state, &caller.actor(), Some(&caller.device.id)).await {
        Ok(cancelled) => super::ok(
            format!("Cancel {} pending messages", cancelled.len()),
            json!({"messages": cancelled.iter().map(|m| json!({"id": m.id})).collect::<Vec<_>>()}),
        ),
        Err(e) => refusal(e),
    }
}

/// `GET /api/revoke-message?id=a,b`: each sent message deleted for everyone (a revoke is a
/// message of its own, queued like any send).
async fn revoke(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let ids = or_answer!(ids(&call));
    let actor: Actor = caller.actor();
    let mut messages = Vec::with_capacity(ids.len());
    let mut any = false;
    for raw in &ids {
        let original = match raw.parse::<MessageId>() {
            Ok(id) => messages::get(&state, &caller.auth, &id).await,
            Err(_) => Err(ApiError::not_found("message")),
        };
        let original = match original {
            Ok(m) => m,
            Err(e) => {
                messages.push(id_failure(raw, &e));
                continue;
            }
        };
        let content = MessageContent::Revoke { revoke: RevokeContent { message_id: original.id.to_string() } };
        let mut input = SendInput::plain(Some(caller.device.id.clone()), String::new(), content);
        input.to = None;
        match messages::accept(&state, &actor, input).await {
            Ok(_) => {
                any = true;
                let mut item = listed(&original);
                item["status"] = json!("revoke");
                messages.push(item);
            }
            Err(e) => messages.push(id_failure(raw, &e)),
        }
    }
    id_answer(&caller, any, messages, "Message is being deleted and waiting to be processed")
}
