//! Wablas's reports: `GET /api/report/message` (filters and numbered pages) and
//! `GET /api/report-realtime` (today's messages), over the native report service.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kirim_core::message::{Message, MessageContent, MessageStatus};
use serde_json::{Value, json};

use super::{Call, Caller, chat_name, fail, refusal, status_name};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::services::Actor;
use crate::services::reports::{self, Paging, RawFilter};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/report/message", get(message_report)).route("/api/report-realtime", get(realtime))
}

/// A Wablas status name as Kirim's (its reports filter on pending, cancel, read, sent).
fn status_filter(raw: &str) -> Result<&'static str, ApiError> {
    Ok(match raw.trim().to_ascii_lowercase().as_str() {
        "pending" => MessageStatus::Pending.as_str(),
        "sent" => MessageStatus::Sent.as_str(),
        "received" | "delivered" => MessageStatus::Delivered.as_str(),
        "read" => MessageStatus::Read.as_str(),
        "cancel" | "canceled" | "cancelled" => MessageStatus::Cancelled.as_str(),
        "reject" | "failed" => MessageStatus::Failed.as_str(),
        _ => {
            return Err(ApiError::field("status", format!("`status` `{raw}` is not one of pending, sent, received, read, cancel, reject")));
        }
    })
}

/// Whose messages: the caller's device; another device of the account (`device`=its id), or
/// every device (`all`), with the secret key.
fn scope(caller: &Caller, device: Option<&str>) -> Result<(Actor, Option<String>), Response> {
    match device.map(str::trim) {
        None => Ok((caller.actor(), None)),
        Some(d) if d == caller.device.id.as_str() => Ok((caller.actor(), None)),
        Some(d) => {
            let manager = caller.manager()?;
            Ok((Actor::from(manager), if d.eq_ignore_ascii_case("all") { None } else { Some(d.to_owned()) }))
        }
    }
}

fn time(t: kirim_core::Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The words and file of a message, as its report row shows them.
fn words_and_file(message: &Message) -> (Option<String>, Option<String>) {
    match &message.content {
        MessageContent::Text { text } => (Some(text.body.clone()), None),
        content => match content.media_content() {
            Some(media) => (media.caption.clone(), media.link.clone().or_else(|| media.media_id.clone())),
            None => (serde_json::to_value(content).ok().map(|v| v.to_string()), None),
        },
    }
}

/// `from` and `to` of a row: the device's number and the chat, by direction.
fn ends(message: &Message, device_phone: Option<String>) -> Value {
    let chat = chat_name(&message.chat);
    match message.direction {
        kirim_core::message::Direction::Outbound => json!({"from": device_phone, "to": chat}),
        kirim_core::message::Direction::Inbound => json!({"from": chat, "to": device_phone}),
    }
}

fn device_phone(state: &AppState, message: &Message) -> Option<String> {
    state.devices.get(message.device_pk).and_then(|e| e.snapshot().phone.map(|p| p.digits().to_owned()))
}

fn row(state: &AppState, message: &Message, realtime: bool) -> Value {
    let (words, file) = words_and_file(message);
    let mut out = json!({
        "id": message.id,
        "phone": ends(message, device_phone(state, message)),
        "category": message.content.kind(),
        "status": status_name(message.status),
        "type": message.options.source.clone().unwrap_or_else(|| "api".to_owned()),
        "ref_id": message.ref_id,
        "date": {"created_at": time(message.created_at), "updated_at": time(message.updated_at)},
    });
    if realtime {
        out["message"] = json!(words);
        out["file"] = json!(file);
    } else {
        out["text"] = json!(words);
        out["URL_file"] = json!(file);
    }
    out
}

/// `GET /api/report/message?phone&device&perPage&ref_id&page&status&date&message_id&type`.
async fn message_report(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let (actor, device) = or_answer!(scope(&caller, call.text("device").as_deref()));
    let per_page = call.text("perPage").or_else(|| call.text("per_page"));
    let paging = or_answer!(
        Paging::parse(call.text("page").as_deref(), per_page.as_deref())
            .map_err(|e| { refusal(if e.detail.field.as_deref() == Some("per_page") { e.with_field("perPage") } else { e }) })
    );
    let status = or_answer!(call.text("status").map(|s| status_filter(&s)).transpose().map_err(refusal));
    let (phone, ref_id, date, ids, kind) =
        (call.text("phone"), call.text("ref_id"), call.text("date"), call.text("message_id"), call.text("type"));
    let raw = RawFilter {
        status,
        device_id: device.as_deref(),
        phone: phone.as_deref(),
        ref_id: ref_id.as_deref(),
        kind: kind.as_deref(),
        message_ids: ids.as_deref(),
        date: date.as_deref(),
        ..RawFilter::default()
    };
    let tz = or_answer!(reports::timezone(call.text("timezone").as_deref()).map_err(refusal));
    let filter = or_answer!(reports::filter(&state, &actor, &raw, tz).await.map_err(refusal));
    let (rows, total) = or_answer!(reports::messages(&state, &actor, &filter, paging).await.map_err(refusal));
    Json(json!({
        "status": true,
        "totalData": total,
        "perPage": paging.per_page.to_string(),
        "page": paging.page.to_string(),
        "totalPage": paging.total_pages(total),
        "message": rows.iter().map(|m| row(&state, m, false)).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// `GET /api/report-realtime?page&limit&message_id`: today's messages of the device.
async fn realtime(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let paging = or_answer!(
        Paging::parse(call.text("page").as_deref(), call.text("limit").as_deref())
            .map_err(|e| { refusal(if e.detail.field.as_deref() == Some("per_page") { e.with_field("limit") } else { e }) })
    );
    let actor = caller.actor();
    let ids = call.text("message_id");
    let raw = RawFilter { message_ids: ids.as_deref(), ..RawFilter::default() };
    let tz = or_answer!(reports::timezone(call.text("timezone").as_deref()).map_err(refusal));
    let mut filter = or_answer!(reports::filter(&state, &actor, &raw, tz).await.map_err(refusal));
    let today = reports::today(&state, tz);
    (filter.from, filter.to) = (Some(today.start), Some(today.end));
    let (rows, total) = match reports::messages(&state, &actor, &filter, paging).await {
        Ok(r) => r,
        Err(e) => return refusal(e),
    };
    if paging.page > 1 && rows.is_empty() && total > 0 {
        return fail(StatusCode::NOT_FOUND, format!("page {} is past the last page ({})", paging.page, paging.total_pages(total)));
    }
    // Wablas's answer has `message` twice (a note, then the rows); JSON keeps the rows.
    Json(json!({
        "status": true,
        "device_id": caller.device.id,
        "page": paging.page.to_string(),
        "totalPage": paging.total_pages(total),
        "totalData": total,
        "message": rows.iter().map(|m| row(&state, m, true)).collect::<Vec<_>>(),
    }))
    .into_response()
}
