//! Wablas's API (reference 001), v1 and v2. Its clients name their device by its token:
//! `Authorization: {token}` or `{token}.{secret_key}`, or a `token` query parameter holding
//! either. Here the token is the device's Kirim token (`kd_…`) and the secret key is the
//! tenant's API key (`kk_…`): calls that Wablas guards with the secret key (device
//! management) need it, and it must be the key of the device's own tenant. Bodies are forms
//! (what PHP's `http_build_query` sends), JSON or multipart; answers are
//! `{"status": true|false, "message": …, "data"?: …}`. Translation only: each call goes
//! through the same services as `/v1`.

// A step fails with the product's answer itself: built once, on the error path, so its size
// does not matter.
#![allow(clippy::result_large_err)]

mod account;
pub mod content;
pub mod hooks;
mod queue;
mod reports;
mod send;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use kirim_core::Recipient;
use kirim_core::device::Device;
use kirim_core::message::MessageStatus;
use serde_json::{Value, json};

use super::body::Fields;
use crate::app::AppState;
use crate::config::Config;
use crate::http::auth::{self, Principal, TenantAuth};
use crate::http::error::ApiError;
use crate::http::multipart::{self, Part};
use crate::services::Actor;

/// Every Wablas route, with a body limit that fits a file sent "from local" (base64 in a
/// form grows a third, so the limit is the media limit plus half again).
pub fn router(config: &Config) -> Router<AppState> {
    let limit = crate::services::media::body_limit(config).saturating_mul(3) / 2;
    Router::new()
        .merge(send::routes())
        .merge(queue::routes())
        .merge(reports::routes())
        .merge(hooks::routes())
        .merge(account::router())
        .layer(DefaultBodyLimit::max(limit))
}

/// `{"status": false, "message": …}` with an HTTP status that says the same.
pub fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"status": false, "message": message.into()}))).into_response()
}

/// A native refusal in Wablas's shape; its message already names the field and the fix.
pub fn refusal(error: ApiError) -> Response {
    let mut response = fail(error.status, error.detail.message);
    if let Some(secs) = error.retry_after_secs {
        response.headers_mut().insert(RETRY_AFTER, secs.into());
    }
    response
}

/// `{"status": true, "message": …, "data": …}` (without `data` when it is null).
pub fn ok(message: impl Into<String>, data: Value) -> Response {
    let mut body = json!({"status": true, "message": message.into()});
    if !data.is_null() {
        body["data"] = data;
    }
    Json(body).into_response()
}

/// A call: its query and body fields together (the body wins), the files of a multipart
/// body, and its head for the credential checks.
pub struct Call {
    pub parts: Parts,
    pub fields: Fields,
    pub files: Vec<Part>,
}

impl FromRequest<AppState> for Call {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                fail(StatusCode::PAYLOAD_TOO_LARGE, "the request is too large; files sent from local may be at most the media size limit")
            } else {
                fail(StatusCode::BAD_REQUEST, format!("the request body could not be read: {}", e.body_text()))
            }
        })?;
        let mut fields =
            Fields::parse(Some("application/x-www-form-urlencoded"), parts.uri.query().unwrap_or_default().as_bytes()).unwrap_or_default();
        let mut files = Vec::new();
        if let Some(boundary) = multipart::boundary(&content_type) {
            let form = multipart::parse(&bytes, &boundary)
                .map_err(|why| fail(StatusCode::BAD_REQUEST, format!("the form could not be read: {why}")))?;
            for part in form {
                match (&part.filename, std::str::from_utf8(&part.data)) {
                    (None, Ok(text)) => {
                        fields.0.insert(part.name.clone(), Value::String(text.to_owned()));
                    }
                    _ => files.push(part),
                }
            }
        } else {
            let body = Fields::parse(Some(&content_type).filter(|c| !c.is_empty()).map(String::as_str), &bytes)
                .map_err(|_| fail(StatusCode::BAD_REQUEST, "the body must be a form or a JSON object"))?;
            fields.0.extend(body.0);
        }
        Ok(Self { parts, fields, files })
    }
}

/// Who is calling: the device the token names, with the device's rights; and, when the
/// secret key (the tenant's API key) came too, the tenant's.
pub struct Caller {
    pub device: Device,
    /// Limited to the device, as its token is on `/v1`.
    pub auth: TenantAuth,
    /// The tenant's API key, when given as the secret key.
    pub manager: Option<TenantAuth>,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::from(&self.auth)
    }

    /// The tenant's rights, for what Wablas guards with the secret key.
    pub fn manager(&self) -> Result<&TenantAuth, Response> {
        self.manager.as_ref().ok_or_else(|| {
            fail(
                StatusCode::UNAUTHORIZED,
                "this call needs the secret key: send `Authorization: {token}.{secret_key}`, the secret key being the account's API key",
            )
        })
    }
}

/// A field as trimmed text (numbers read as text); blank is absent.
pub fn text(fields: &Fields, key: &str) -> Option<String> {
    fields.text(key).and_then(Result::ok).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Wablas's booleans arrive as `true`, `"true"` (its documentation stresses: a string), `1`.
pub fn flag(fields: &Fields, key: &str) -> bool {
    match fields.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "y" | "on"),
        _ => false,
    }
}

impl Call {
    pub fn text(&self, key: &str) -> Option<String> {
        text(&self.fields, key)
    }

    pub fn flag(&self, key: &str) -> bool {
        flag(&self.fields, key)
    }

    /// The credential: the `Authorization` header (a `Bearer ` prefix is tolerated), else the
    /// `token` parameter; split into the token and, after the first dot, the secret key.
    fn credential(&self) -> Option<(String, Option<String>)> {
        let header = self.parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
        let raw = match header {
            Some(h) => h.strip_prefix("Bearer ").unwrap_or(h).trim().to_owned(),
            None => self.text("token")?,
        };
        let (token, secret) = match raw.split_once('.') {
            Some((t, s)) => (t.to_owned(), Some(s.to_owned()).filter(|s| !s.is_empty())),
            None => (raw, None),
        };
        let secret = secret.or_else(|| self.text("secret_key"));
        Some((token, secret))
    }

    /// The device the token names (counted against its rate limits), and the tenant when
    /// the secret key came too.
    pub async fn caller(&self, state: &AppState) -> Result<Caller, Response> {
        let (token, secret) = self.credential().ok_or_else(|| {
            fail(StatusCode::UNAUTHORIZED, "the device token is required: send `Authorization: {token}` or the `token` parameter")
        })?;
        let invalid = || fail(StatusCode::UNAUTHORIZED, "invalid token: use the device's token (kd_…) from Kirim");
        let principal = auth::principal_for(state, &token).await.map_err(|_| invalid())?;
        crate::http::rate_limit::enforce(state, &self.parts, &principal).map_err(refusal)?;
        let Principal::Device { tenant, device, device_id } = principal else { return Err(invalid()) };
        let snapshot = state.devices.get(device).map(|e| e.snapshot()).ok_or_else(invalid)?;
        let manager = match secret {
            None => None,
            Some(secret) => match auth::principal_for(state, &secret).await {
                Ok(Principal::Tenant { tenant: owner, key }) if owner.pk == tenant.pk => {
                    Some(TenantAuth { tenant: owner, device: None, key: Some(key) })
                }
                _ => return Err(fail(StatusCode::UNAUTHORIZED, "invalid secret key: use the API key (kk_…) of the device's account")),
            },
        };
        Ok(Caller { device: snapshot, auth: TenantAuth { tenant, device: Some((device, device_id)), key: None }, manager })
    }

    /// A caller that must have given the secret key.
    pub async fn manager(&self, state: &AppState) -> Result<Caller, Response> {
        let caller = self.caller(state).await?;
        caller.manager()?;
        Ok(caller)
    }
}

/// A device's quota as Wablas shows it: the messages left, or `"unlimited"`.
pub fn quota(device: &Device) -> Value {
    device.limits.quota.map_or_else(|| json!("unlimited"), |q| json!(q))
}

/// A message's status in Wablas's words (its tracking URL's: pending, sent, received, read,
/// cancel, reject).
pub fn status_name(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Scheduled | MessageStatus::Pending | MessageStatus::Sending => "pending",
        MessageStatus::Sent => "sent",
        MessageStatus::Delivered | MessageStatus::Received => "received",
        MessageStatus::Read | MessageStatus::Played => "read",
        MessageStatus::Cancelled => "cancel",
        MessageStatus::Failed => "reject",
    }
}

/// A chat as Wablas shows it: a number's digits, or a group's bare id.
pub fn chat_name(chat: &Recipient) -> String {
    match chat {
        Recipient::Phone(p) => p.digits().to_owned(),
        Recipient::Group(g) => g.trim_end_matches("@g.us").to_owned(),
    }
}

/// A phone as Wablas shows it: the digits with the country code, no `+`.
pub fn digits(phone: &str) -> String {
    phone.trim_start_matches('+').to_owned()
}
