//! Device management: create, info, the server list, token rotation, delete, send speed and
//! the closing message. Everything but `info` and `list-server` needs the secret key.

use axum::Json;
use axum::extract::State;
use axum::http::header::HOST;
use axum::response::{IntoResponse, Response};
use kirim_core::PhoneNumber;
use kirim_core::auto_reply::{AutoReply, MatchKind};
use kirim_core::device::{ConnectorKind, DeviceStatus, SettingsPatch};
use kirim_core::message::MessageContent;
use serde_json::{Value, json};

use super::{bad_field, refused, required};
use crate::app::AppState;
use crate::compat::wablas::{Call, ok, quota, refusal};
use crate::services::auto_replies::{self, RuleInput};
use crate::services::devices;

/// Wablas's send speed: a pause of 10 to 120 seconds after each batch of this many messages.
const BATCH: u64 = 5;
const DELAY_SECS: std::ops::RangeInclusive<u64> = 10..=120;

/// The connector a device made here gets: the one named, else the calling device's (an
/// account on WhatsApp Web adds WhatsApp Web devices, a sandbox demo sandbox ones), else
/// WhatsApp Web (what a Wablas device is), else the sandbox, else whatever this server has.
fn connector(state: &AppState, call: &Call, calling: ConnectorKind) -> Result<ConnectorKind, Response> {
    let available = state.connectors.kinds();
    if let Some(raw) = call.text("connector") {
        return raw.parse().map_err(|_| bad_field("connector", "must be whatsapp-web, cloud-api or sandbox"));
    }
    let preferred = [calling, ConnectorKind::WhatsappWeb, ConnectorKind::Sandbox].into_iter().find(|k| available.contains(k));
    preferred.or_else(|| available.first().copied()).ok_or_else(|| bad_field("connector", "cannot be chosen: this server has none"))
}

/// `POST /api/device/create {name, phone, bank, periode, product}`: a new device of the
/// account, with its token (shown once). Kirim bills nothing: `bank`, `periode` and `product`
/// are taken and answered back, with no invoice. The number is the phone that links it.
/// The connector is `connector` when given, else the calling device's.
pub async fn create(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let manager = or_answer!(caller.manager());
    let name = or_answer!(required(&call, "name", "the device's name"));
    let phone = match call.text("phone") {
        Some(raw) => match PhoneNumber::parse(&raw, state.config.default_country) {
            Ok(p) => Some(p.digits().to_owned()),
            Err(e) => return bad_field("phone", e),
        },
        None => None,
    };
    let kind = or_answer!(connector(&state, &call, caller.device.connector));
    let created = match devices::create(&state, manager, &name, kind, None, Value::Null).await {
        Ok(c) => c,
        Err(e) => return refused(e, &[]),
    };
    let d = created.device;
    ok(
        "device created; link it by scanning the QR code at /api/device/scan?token={token}",
        json!({
            "device_name": d.name,
            "device": d.id,
            "token": created.token.expose(),
            "phone": phone,
            "connector": d.connector.as_str(),
            "product": call.text("product"),
            "periode": call.text("periode").unwrap_or_else(|| "monthly".to_owned()),
            "bank": call.text("bank"),
            "numberInvoice": null,
            "discount": null,
            "total": 0,
            "due_date": null,
        }),
    )
}

/// `GET /api/device/info?token=`: name, serial (the device id), sender (its number), quota,
/// expiry, whether it may send (`active`) and whether it is connected.
pub async fn info(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    // The link status is the registry's (live); quota and expiry are the store's, where
    // the operator sets them and sends use them up.
    let mut d = caller.device.clone();
    match devices::get(&state, &caller.auth, &d.id).await {
        Ok(stored) => d.limits = stored.limits,
        Err(e) => return refusal(e),
    }
    let d = &d;
    let now = state.clock.now();
    let active = d.limits.expires_at.is_none_or(|at| at > now) && d.limits.quota != Some(0) && d.status != DeviceStatus::Banned;
    ok(
        "device info",
        json!({
            "name": d.name,
            "serial": d.id,
            "sender": d.phone.as_ref().map(|p| p.digits().to_owned()),
            "quota": quota(d),
            "expired_date": d.limits.expires_at.map(|at| at.format("%Y-%m-%d").to_string()),
            "active": active,
            "status": if d.status == DeviceStatus::Connected { "connected" } else { "disconnected" },
        }),
    )
}

/// `GET /api/list-server`: Kirim is one server, named by the host it is called at. Read-only
/// and naming nothing secret, so the device token is enough.
pub async fn list_server(State(state): State<AppState>, call: Call) -> Response {
    or_answer!(call.caller(&state).await);
    let host = call.parts.headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("kirim");
    let name = host.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(host, |(h, _)| h);
    Json(json!({"status": true, "message": "available servers", "server": [name]})).into_response()
}

/// `GET /api/device/generate-token`: a new device token; the old one stops working at once.
pub async fn generate_token(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let manager = or_answer!(caller.manager());
    match devices::rotate_token(&state, manager, &caller.device.id).await {
        Ok(c) => {
            ok("token successfully changed", json!({"device_name": c.device.name, "device_serial": c.device.id, "token": c.token.expose()}))
        }
        Err(e) => refusal(e),
    }
}

/// `DELETE /api/device/delete`: the device is unlinked and deleted; its token stops working.
pub async fn delete(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let manager = or_answer!(caller.manager());
    match devices::delete(&state, manager, &caller.device.id).await {
        Ok(d) => ok("your device succesfully deleted", json!({"device": d.id})),
        Err(e) => refusal(e),
    }
}

/// `POST /api/device/speed {delay}`: `delay` seconds per 5 messages becomes the device's
/// pacing, a fifth of it between two messages (its random extra pause stays as it is).
pub async fn speed(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let manager = or_answer!(caller.manager());
    let raw = or_answer!(required(&call, "delay", "seconds to wait per 5 messages, 10 to 120"));
    let Some(delay) = raw.parse::<u64>().ok().filter(|d| DELAY_SECS.contains(d)) else {
        return bad_field("delay", format!("must be a whole number of seconds from 10 to 120 (got `{raw}`)"));
    };
    let patch = SettingsPatch { pacing_ms: Some(delay * 1000 / BATCH), ..SettingsPatch::default() };
    match devices::update(&state, manager, &caller.device.id, None, Some(patch), None).await {
        Ok(d) => {
            let message = format!("delay sending message per {BATCH} messages set to {delay} second");
            let body = json!({"status": true, "message": message, "data": {"deviceId": d.id, "message": message}});
            Json(body).into_response()
        }
        Err(e) => refused(e, &[("settings.pacing_ms", "delay")]),
    }
}

/// The device's own closing rule: its `fallback` auto-reply, if it has one.
async fn closing_rule(
    state: &AppState,
    call_actor: &crate::services::Actor,
    device: &kirim_core::id::DeviceId,
) -> Result<Option<AutoReply>, Response> {
    let mut after = None;
    loop {
        let page = auto_replies::list(state, call_actor, Some(device), after.as_ref(), 200).await.map_err(refusal)?;
        let found = page.iter().find(|r| r.spec.match_kind == MatchKind::Fallback && r.device.as_ref().is_some_and(|(_, id)| id == device));
        if let Some(rule) = found {
            return Ok(Some(rule.clone()));
        }
        match page.last() {
            Some(last) if page.len() == 200 => after = Some(last.id.clone()),
            _ => return Ok(None),
        }
    }
}

/// `POST /api/device/change-closing {closing}`: Kirim's closing message is the device's
/// `fallback` auto-reply (answers what no keyword matched, once a day per chat); this sets it.
pub async fn change_closing(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let closing = match call.fields.text("closing").and_then(Result::ok).filter(|c| !c.trim().is_empty()) {
        Some(c) => c,
        None => return bad_field("closing", "is required: the closing message's text"),
    };
    let actor = caller.actor();
    let existing = or_answer!(closing_rule(&state, &actor, &caller.device.id).await);
    let reply = Some(MessageContent::text(closing));
    let saved = match existing {
        Some(rule) => auto_replies::update(&state, &actor, &rule.id, RuleInput { reply, ..RuleInput::default() }).await,
        None => {
            let input = RuleInput { match_kind: Some(MatchKind::Fallback.as_str().to_owned()), reply, ..RuleInput::default() };
            auto_replies::create(&state, &actor, input).await
        }
    };
    match saved {
        Ok(rule) => ok("closing message successfully changed", json!({"id": rule.id, "device": caller.device.id})),
        Err(e) => refused(e, &[("reply", "closing"), ("reply.text.body", "closing"), ("text.body", "closing")]),
    }
}
