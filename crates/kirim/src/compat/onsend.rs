//! OnSend's API (reference 002): a per-device API authenticated by the device's token as
//! `Authorization: Bearer`, with `GET /api/v1/status` and `POST /api/v1/send` (text, image,
//! video, document) and Laravel-shaped errors. Translation only: a send becomes the native
//! `SendInput` and goes through `services::messages::accept`, so it is queued, paced, retried
//! and reported like any other message.
//!
//! Where Kirim and OnSend differ, OnSend's clients get what they expect: a send from a device
//! that is not connected is refused (OnSend does not queue), and `message_id` is a number (the
//! message's row number; its Kirim id is in `id`).

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kirim_core::PhoneNumber;
use kirim_core::device::DeviceStatus;
use kirim_core::message::{MediaContent, MessageContent};
use serde_json::json;

use super::body::{BodyError, Fields};
use super::laravel::{self, Validation, attribute};
use crate::app::AppState;
use crate::http::auth::TenantAuth;
use crate::http::error::ApiError;
use crate::services::Actor;
use crate::services::messages::{self, SendInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/status", get(status))
        // The form one of OnSend's own examples uses.
        .route("/api/status", get(status))
        .route("/api/v1/send", post(send))
}

/// The caller's device, from its token.
struct DeviceToken(TenantAuth);

impl FromRequestParts<AppState> for DeviceToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match TenantAuth::from_request_parts(parts, state).await {
            Ok(auth) if auth.device.is_some() => Ok(Self(auth)),
            Ok(_) => Err(laravel::message(
                StatusCode::FORBIDDEN,
                "This API takes a device's token: send `Authorization: Bearer <device token>` for the device to use.",
                None,
            )),
            Err(error) => Err(refusal(error)),
        }
    }
}

/// A native refusal in OnSend's words.
fn refusal(error: ApiError) -> Response {
    let (status, retry) = (error.status, error.retry_after_secs);
    match (status, error.detail.code) {
        (StatusCode::UNAUTHORIZED, _) => laravel::message(status, "Unauthenticated.", None),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited") => laravel::message(status, "Too Many Attempts.", retry),
        (_, "device_expired" | "device_quota_exhausted" | "token_budget_exhausted") => {
            laravel::message(StatusCode::FORBIDDEN, "This device does not have an active subscription.", None)
        }
        _ => laravel::message(status, error.detail.message, retry),
    }
}

/// OnSend's device statuses.
fn status_word(status: DeviceStatus, ever_linked: bool) -> &'static str {
    match status {
        DeviceStatus::Connected => "connected",
        DeviceStatus::Connecting | DeviceStatus::AwaitingScan | DeviceStatus::AwaitingPairCode => "connecting",
        DeviceStatus::LoggedOut => "logged_out",
        DeviceStatus::Banned => "disabled",
        DeviceStatus::Disconnected | DeviceStatus::Conflict | DeviceStatus::Outdated if ever_linked => "disconnected",
        DeviceStatus::Disconnected | DeviceStatus::Conflict | DeviceStatus::Outdated | DeviceStatus::LinkExpired => "not_connected",
    }
}

/// `GET /api/v1/status`: `{name, phone_number, status}`.
async fn status(State(state): State<AppState>, DeviceToken(auth): DeviceToken) -> Response {
    let Some(device) = auth.device.as_ref().and_then(|(pk, _)| state.devices.get(*pk)).map(|e| e.snapshot()) else {
        return laravel::message(StatusCode::NOT_FOUND, "This device no longer exists.", None);
    };
    let phone = device.phone.as_ref().map(|p| p.digits().to_owned());
    let word = status_word(device.status, device.phone.is_some());
    Json(json!({"name": device.name, "phone_number": phone, "status": word})).into_response()
}

const TYPES: [&str; 4] = ["text", "image", "video", "document"];
/// WhatsApp's longest text and caption.
const MAX_MESSAGE_CHARS: usize = 4096;
const MAX_FILENAME_CHARS: usize = 255;

/// The send request, checked with OnSend's rules, as Kirim content.
fn read_send(state: &AppState, fields: &Fields) -> Result<(PhoneNumber, MessageContent), Validation> {
    let mut v = Validation::default();
    let required = |f: &str| format!("The {} field is required.", attribute(f));
    let string = |f: &str| format!("The {} field must be a string.", attribute(f));

    let phone = match fields.text("phone_number") {
        None => {
            v.add("phone_number", required("phone_number"));
            None
        }
        Some(Err(())) => {
            v.add("phone_number", string("phone_number"));
            None
        }
        Some(Ok(raw)) => match PhoneNumber::parse(&raw, state.config.default_country) {
            Ok(phone) => Some(phone),
            Err(_) => {
                v.add("phone_number", "The phone number field must be a valid phone number.");
                None
            }
        },
    };
    let kind = match fields.string("type") {
        None => "text".to_owned(),
        Some(Ok(t)) if TYPES.contains(&t.trim().to_ascii_lowercase().as_str()) => t.trim().to_ascii_lowercase(),
        // Rules that depend on the type ("required when type is text") do not apply to an
        // unknown one, as in Laravel.
        Some(given) => {
            v.add("type", "The selected type is invalid.");
            given.map_or_else(|()| "?".to_owned(), |t| t.trim().to_ascii_lowercase())
        }
    };
    let message = match fields.string("message") {
        None if kind == "text" => {
            v.add("message", format!("The message field is required when type is {kind}."));
            None
        }
        None => None,
        Some(Err(())) => {
            v.add("message", string("message"));
            None
        }
        Some(Ok(m)) if m.chars().count() > MAX_MESSAGE_CHARS => {
            v.add("message", format!("The message field must not be greater than {MAX_MESSAGE_CHARS} characters."));
            None
        }
        Some(Ok(m)) => Some(m),
    };
    let url = match fields.string("url") {
        None if TYPES[1..].contains(&kind.as_str()) => {
            v.add("url", format!("The url field is required when type is {kind}."));
            None
        }
        None => None,
        Some(Err(())) => {
            v.add("url", string("url"));
            None
        }
        Some(Ok(u)) => match url::Url::parse(u.trim()) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Some(u.trim().to_owned()),
            _ => {
                v.add("url", "The url field must be a valid URL.");
                None
            }
        },
    };
    let mimetype = match fields.string("mimetype") {
        None if kind == "document" => {
            v.add("mimetype", "The mimetype field is required when type is document.");
            None
        }
        None => None,
        Some(Err(())) => {
            v.add("mimetype", string("mimetype"));
            None
        }
        Some(Ok(m)) => Some(m.trim().to_owned()),
    };
    let filename = match fields.string("filename") {
        None => None,
        Some(Ok(f)) if f.chars().count() <= MAX_FILENAME_CHARS => Some(f.trim().to_owned()),
        Some(Ok(_)) => {
            v.add("filename", format!("The filename field must not be greater than {MAX_FILENAME_CHARS} characters."));
            None
        }
        Some(Err(())) => {
            v.add("filename", string("filename"));
            None
        }
    };
    if !v.is_empty() {
        return Err(v);
    }
    let phone = phone.expect("checked above");
    let content = match kind.as_str() {
        "text" => MessageContent::text(message.expect("checked above")),
        kind => {
            let media = MediaContent {
                link: url,
                caption: message,
                // Only a document's type is the client's to say; an image's is what its bytes are.
                mime_type: if kind == "document" { mimetype } else { None },
                filename: if kind == "document" { filename } else { None },
                ..MediaContent::default()
            };
            MessageContent::media(kind, media).expect("one of the media types")
        }
    };
    Ok((phone, content))
}

/// A native field name (`to`, `image.link`, `document.mime_type`) as OnSend's.
fn onsend_field(native: &str) -> &'static str {
    let last = native.rsplit('.').next().unwrap_or(native);
    match last {
        "to" => "phone_number",
        "link" | "media_id" | "base64" => "url",
        "mime_type" => "mimetype",
        "filename" => "filename",
        _ => "message",
    }
}

/// `POST /api/v1/send`: `{success, message, message_id}`.
async fn send(State(state): State<AppState>, DeviceToken(auth): DeviceToken, body: Result<Fields, BodyError>) -> Response {
    let fields = match body {
        Ok(fields) => fields,
        Err(BodyError::TooLarge) => return laravel::message(StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.", None),
        Err(_) => return laravel::message(StatusCode::BAD_REQUEST, "The request body must be JSON or a form.", None),
    };
    let (phone, content) = match read_send(&state, &fields) {
        Ok(read) => read,
        Err(validation) => return validation.into_response(),
    };
    // `DeviceToken` admits device tokens only; answered rather than assumed all the same.
    let Some((device_pk, device_id)) = auth.device.clone() else {
        return laravel::message(StatusCode::FORBIDDEN, "This API takes a device's token.", None);
    };
    let connected = state.devices.get(device_pk).is_some_and(|e| matches!(e.status(), DeviceStatus::Connected | DeviceStatus::Connecting));
    if !connected {
        return laravel::message(StatusCode::BAD_REQUEST, "This device is not connected.", None);
    }
    let input = SendInput::plain(Some(device_id), phone.to_string(), content);
    match messages::accept(&state, &Actor::from(&auth), input).await {
        Ok(accepted) => Json(json!({
            "success": true,
            "message": "The message was accepted and will be sent shortly.",
            "message_id": accepted.message.pk.0,
            "id": accepted.message.id,
        }))
        .into_response(),
        Err(error) if error.status == StatusCode::UNPROCESSABLE_ENTITY || error.status == StatusCode::PAYLOAD_TOO_LARGE => {
            let mut v = Validation::default();
            v.add(onsend_field(error.detail.field.as_deref().unwrap_or("message")), error.detail.message);
            v.into_response()
        }
        Err(error) => refusal(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kirim_status_has_an_onsend_word() {
        for status in DeviceStatus::ALL {
            assert!(
                ["connected", "not_connected", "connecting", "disabled", "disconnected", "logged_out"].contains(&status_word(status, true))
            );
        }
        assert_eq!(status_word(DeviceStatus::Disconnected, false), "not_connected", "never linked");
        assert_eq!(status_word(DeviceStatus::Disconnected, true), "disconnected", "linked, connection lost");
        assert_eq!(onsend_field("image.link"), "url");
        assert_eq!(onsend_field("document.mime_type"), "mimetype");
        assert_eq!(onsend_field("to"), "phone_number");
    }
}
