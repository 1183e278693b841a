//! The device's link to its phone: the QR page, changing the number, disconnecting and
//! restarting.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use kirim_core::PhoneNumber;
use kirim_core::connector::LinkMethod;
use kirim_core::device::{Device, DeviceStatus};
use serde_json::json;

use super::{bad_field, refused, required};
use crate::app::AppState;
use crate::compat::wablas::{Call, ok, refusal};
use crate::http::qr;
use crate::services::devices;

/// Seconds between reloads of the QR page: often enough to show each new code (WhatsApp's
/// last about 20 s) and to say "linked" soon after the scan.
const REFRESH_SECS: u32 = 5;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A small page; `refresh` reloads it (the link carries the token, so the reload does too).
fn page(status: StatusCode, title: &str, body: &str, refresh: bool) -> Response {
    let meta = if refresh { format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">") } else { String::new() };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">{meta}<title>{title}</title>\
         <style>body{{font-family:sans-serif;text-align:center;margin:2em}}img{{width:280px;height:280px}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-store")], html).into_response()
}

/// `GET /api/device/scan?token=`: a page with the QR code to scan, reloading itself until the
/// phone has linked. Linking starts here when it is not under way.
pub async fn scan(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let mut device = caller.device.clone();
    let name = escape(&device.name);
    if device.status == DeviceStatus::Connected {
        let number = device.phone.as_ref().map_or_else(String::new, |p| p.digits().to_owned());
        return page(StatusCode::OK, "Device connected", &format!("<p>{name} is linked to {number}; there is nothing to scan.</p>"), false);
    }
    if !matches!(device.status, DeviceStatus::Connecting | DeviceStatus::AwaitingScan) {
        device = match devices::connect(&state, &caller.auth, &device.id, LinkMethod::Qr).await {
            Ok(d) => d,
            Err(e) => {
                let why = escape(&e.detail.message);
                return page(e.status, "Cannot link the device", &format!("<p>{why}</p>"), false);
            }
        };
    }
    match device.qr.as_ref().and_then(|code| qr::png_data_url(&code.code)) {
        Some(image) => page(
            StatusCode::OK,
            "Scan QR Code",
            &format!(
                "<p>Open WhatsApp on the phone for {name}: Linked devices, Link a device, and scan this code.</p>\
                 <img alt=\"QR code\" src=\"{image}\">"
            ),
            true,
        ),
        None => page(StatusCode::OK, "Preparing the QR code", &format!("<p>{name} is connecting; the code appears in a moment.</p>"), true),
    }
}

/// `POST /api/device/change-number {phone}`: a device's number is the phone linked to it, so
/// a new number means linking that phone. The current session is logged out and linking by
/// pairing code starts for the new number: the answer's `pair_code` is entered on that
/// phone (WhatsApp, Linked devices, Link with phone number). The same number changes nothing.
pub async fn change_number(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let raw = or_answer!(required(&call, "phone", "the device's new number"));
    let phone = match PhoneNumber::parse(&raw, state.config.default_country) {
        Ok(p) => p,
        Err(e) => return bad_field("phone", e),
    };
    let device = caller.device;
    if device.status == DeviceStatus::Connected && device.phone.as_ref() == Some(&phone) {
        return ok("number unchanged: the device is linked to it", json!({"phone": phone.digits(), "status": "connected"}));
    }
    if linked(&device)
        && let Err(e) = devices::logout(&state, &caller.auth, &device.id).await
    {
        return refusal(e);
    }
    match devices::connect(&state, &caller.auth, &device.id, LinkMethod::PairCode { phone: phone.clone() }).await {
        Ok(d) => ok(
            "number successfully changed; enter the pairing code on the new phone to link it",
            json!({"phone": phone.digits(), "status": d.status, "pair_code": d.pair_code.map(|c| c.code)}),
        ),
        Err(e) => refused(e, &[]),
    }
}

/// Whether the device has a session with a phone to end first.
fn linked(device: &Device) -> bool {
    device.phone.is_some() && !matches!(device.status, DeviceStatus::LoggedOut | DeviceStatus::Banned)
}

/// `GET /api/device/disconnect`: unlinks the device from its phone (a new scan links it again).
pub async fn disconnect(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    match devices::logout(&state, &caller.auth, &caller.device.id).await {
        Ok(d) => ok(format!("your device {} succesfully disconnected", d.id), json!({"status": d.status})),
        Err(e) => refusal(e),
    }
}

/// `GET /api/device/restart`: connects again; a linked session resumes without a scan (a
/// device never linked starts linking: scan its QR code).
pub async fn restart(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    match devices::connect(&state, &caller.auth, &caller.device.id, LinkMethod::Qr).await {
        Ok(d) => ok(format!("restart device {} successfully", d.id), json!({"status": d.status})),
        Err(e) => refusal(e),
    }
}
