//! Wablas's webhooks: a device's incoming-message URL and tracking URL, set with
//! `change-webhook-url` and `change-tracking-url`, become webhook endpoints of the device
//! whose bodies have Wablas's shapes (format `wablas`). They are delivered like every
//! endpoint: persisted, retried, signed with Standard Webhooks headers; the incoming URL's
//! answer can carry auto-replies, as Wablas's "Get Auto Reply From Webhook" does.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use kirim_core::event::types;
use kirim_core::webhook::{DeliveryJob, WebhookFormat};
use serde_json::{Value, json};

use super::{Call, Caller, digits, fail, refusal, status_name};
use crate::app::AppState;
use crate::services::{Actor, webhooks};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/device/change-webhook-url", post(change_webhook_url))
        .route("/api/device/change-tracking-url", post(change_tracking_url))
}

/// The message events a tracking URL receives: every status after the send was accepted.
const TRACKING: [&str; 6] = [
    types::MESSAGE_SENT,
    types::MESSAGE_DELIVERED,
    types::MESSAGE_READ,
    types::MESSAGE_PLAYED,
    types::MESSAGE_FAILED,
    types::MESSAGE_CANCELLED,
];

/// Sets (or replaces) one of the device's Wablas endpoints, found again by its description.
async fn set_endpoint(
    state: &AppState,
    caller: &Caller,
    field: &str,
    purpose: &str,
    events: &[&str],
    auto_reply: bool,
    url: String,
) -> Response {
    let actor = Actor::from(or_answer!(caller.manager()));
    let tag = format!("Wablas {purpose} URL of {}", caller.device.id);
    let input = webhooks::WebhookInput {
        url: Some(url),
        description: Some(Some(tag)),
        event_types: Some(Some(events.iter().map(|t| (*t).to_owned()).collect())),
        device_ids: Some(Some(vec![caller.device.id.to_string()])),
        auto_reply: Some(auto_reply),
        enabled: Some(true),
        format: Some(WebhookFormat::Wablas),
    };
    match webhooks::put_tagged(state, &actor, input).await {
        Ok(_) => super::ok(format!("{purpose} url successfully changed"), Value::Null),
        Err(e) if e.detail.field.as_deref() == Some("url") => {
            fail(e.status, format!("`{field}`: {}", e.detail.message.trim_start_matches("`url`: ")))
        }
        Err(e) => refusal(e),
    }
}

/// `POST /api/device/change-webhook-url {webhook_url}`: where incoming messages go.
async fn change_webhook_url(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let Some(url) = call.text("webhook_url") else {
        return fail(StatusCode::UNPROCESSABLE_ENTITY, "`webhook_url` is required: the URL incoming messages are posted to");
    };
    set_endpoint(&state, &caller, "webhook_url", "webhook", &[types::MESSAGE_RECEIVED], true, url).await
}

/// `POST /api/device/change-tracking-url {tracking_url}`: where message statuses go.
async fn change_tracking_url(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let Some(url) = call.text("tracking_url") else {
        return fail(StatusCode::UNPROCESSABLE_ENTITY, "`tracking_url` is required: the URL message statuses are posted to");
    };
    set_endpoint(&state, &caller, "tracking_url", "tracking", &TRACKING, false, url).await
}

fn str_of<'a>(data: &'a Value, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The device of a delivery: its id, name and number as Wablas shows them.
fn device_of(state: &AppState, job: &DeliveryJob) -> (String, String, String) {
    let device = job.device.and_then(|pk| state.devices.get(pk)).map(|e| e.snapshot());
    match device {
        Some(d) => (d.id.to_string(), d.name.clone(), d.phone.map(|p| p.digits().to_owned()).unwrap_or_default()),
        None => (String::new(), String::new(), String::new()),
    }
}

/// An incoming message as Wablas posts it to the webhook URL.
fn incoming(data: &Value, device: (String, String, String)) -> Value {
    let (device_id, _, device_phone) = device;
    let from = str_of(data, "from");
    let is_group = from.ends_with("@g.us");
    let content = data.get("content").cloned().unwrap_or(Value::Null);
    let kind = content.get("type").and_then(Value::as_str).unwrap_or("text").to_owned();
    let body = content.get(&kind).cloned().unwrap_or(Value::Null);
    let (message, file, url, mime) = match kind.as_str() {
        "text" => (str_of(&body, "body").to_owned(), String::new(), String::new(), String::new()),
        "location" => (serde_json::to_string(&body).unwrap_or_default(), String::new(), String::new(), String::new()),
        _ => (
            str_of(&body, "caption").to_owned(),
            body.get("filename").or_else(|| body.get("media_id")).and_then(Value::as_str).unwrap_or_default().to_owned(),
            str_of(&body, "link").to_owned(),
            str_of(&body, "mime_type").to_owned(),
        ),
    };
    let sender = data.get("sender").and_then(Value::as_str).map(digits);
    json!({
        "id": data.get("id"),
        "pushName": "",
        "isGroup": is_group,
        "group": {
            "sender": if is_group { sender.clone().unwrap_or_default() } else { String::new() },
            "subject": "",
            "owner": "",
            "desc": "",
            "participants": null,
        },
        "message": message,
        "phone": if is_group { from.trim_end_matches("@g.us").to_owned() } else { digits(from) },
        "messageType": kind,
        "file": file,
        "url": url,
        "mimeType": mime,
        "mediaId": body.get("media_id"),
        "deviceId": device_id,
        "sender": device_phone,
        "isFromMe": false,
        "timestamp": data.get("timestamp").cloned().unwrap_or(Value::Null),
        "profileImage": "",
        "replyTo": data.get("reply_to"),
    })
}

/// A message status as Wablas posts it to the tracking URL.
fn tracking(data: &Value, device: (String, String, String)) -> Value {
    let (device_id, _, device_phone) = device;
    let status = str_of(data, "status").parse().map(status_name).unwrap_or("pending");
    let to = str_of(data, "to");
    json!({
        "id": data.get("id"),
        "phone": if to.ends_with("@g.us") { to.trim_end_matches("@g.us").to_owned() } else { digits(to) },
        "status": status,
        "note": data.get("error").and_then(Value::as_str).unwrap_or_default(),
        "deviceId": device_id,
        "sender": device_phone,
        "ref_id": data.get("ref_id"),
    })
}

/// A device status as Wablas posts it to the device URL.
fn device_status(data: &Value, device: (String, String, String), at: &str) -> Value {
    let (device_id, name, phone) = device;
    let connected = str_of(data, "status") == "connected";
    let note = match data.get("detail").and_then(Value::as_str) {
        Some(d) => d.to_owned(),
        None if connected => "ready to use".to_owned(),
        None => "whatsapp sender not connected, need scan qr code again".to_owned(),
    };
    json!({
        "deviceId": device_id,
        "deviceName": name,
        "sender": phone,
        "status": if connected { "connected" } else { "disconnected" },
        "note": note,
        "timestamp": at,
    })
}

/// The body of a delivery to a `wablas` endpoint; `None` for an event Wablas has no shape
/// for (the standard body is sent instead).
pub fn payload(state: &AppState, job: &DeliveryJob) -> Option<Bytes> {
    let data = job.data.as_ref()?;
    let at = job.event_created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let device = device_of(state, job);
    let body = match job.delivery.event_type.as_str() {
        types::MESSAGE_RECEIVED => {
            let mut data = data.clone();
            data["timestamp"] = json!(at);
            incoming(&data, device)
        }
        t if TRACKING.contains(&t) => tracking(data, device),
        types::DEVICE_STATUS => device_status(data, device, &at),
        _ => return None,
    };
    serde_json::to_vec(&body).ok().map(Bytes::from)
}
