//! The self-hosted wa-gateway's API (reference 004). Session calls name their device by
//! `token` in the body or the query (here: the device's Kirim token, `kd_…`, a secret like the
//! gateway's own); management calls ("protected") also need the tenant's API key in an
//! `apikey` header. Answers are `{"status": true|false, "message"?, …}`. Translation only:
//! every call goes through the same services as `/v1`.

// A step fails with the product's answer itself: built once, on the error path, so its size
// does not matter.
#![allow(clippy::result_large_err)]

use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use kirim_core::PhoneNumber;
use kirim_core::connector::LinkMethod;
use kirim_core::device::{Device, DeviceStatus};
use kirim_core::message::{MediaContent, MessageContent};
use serde_json::{Value, json};

use super::body::Fields;
use crate::app::AppState;
use crate::http::auth::{self, Principal, TenantAuth};
use crate::http::error::ApiError;
use crate::services::messages::{self, SendInput};
use crate::services::{Actor, contacts, devices, groups, webhooks};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/start", post(start))
        .route("/api/qrcode", post(qrcode).get(qrcode))
        .route("/api/status", get(status))
        .route("/api/send", post(send))
        .route("/api/contacts", get(contacts_list))
        .route("/api/groups", get(groups_list))
        .route("/api/logout", post(logout))
        .route("/api/reconnect", post(reconnect))
        .route("/api/devices", get(devices_list))
        .route("/api/device", delete(device_delete))
        .route("/api/webhook", post(webhook))
        .route("/api/workspace", post(workspace))
        .route("/api/workspaces", get(workspaces))
}

/// `{"status": false, "message": …}`.
fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"status": false, "message": message.into()}))).into_response()
}

fn refusal(error: ApiError) -> Response {
    let mut response = fail(error.status, error.detail.message);
    if let Some(secs) = error.retry_after_secs {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    response
}

/// A call: its query and body fields together (the body wins), and its head for the
/// credential checks.
struct Call {
    parts: Parts,
    fields: Fields,
}

impl FromRequest<AppState> for Call {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|_| fail(StatusCode::PAYLOAD_TOO_LARGE, "the request is too large"))?;
        let body = Fields::parse(content_type.as_deref(), &bytes)
            .map_err(|_| fail(StatusCode::BAD_REQUEST, "the body must be a JSON object or a form"))?;
        let mut fields = Fields::parse(Some("application/x-www-form-urlencoded"), query.as_bytes()).unwrap_or_default();
        fields.0.extend(body.0);
        Ok(Self { parts, fields })
    }
}

impl Call {
    fn text(&self, key: &str) -> Option<String> {
        self.fields.text(key).and_then(Result::ok).map(|s| s.trim().to_owned())
    }

    /// The device named by `token`, counted against its rate limits.
    async fn device(&self, state: &AppState) -> Result<TenantAuth, Response> {
        let token = self.text("token").ok_or_else(|| fail(StatusCode::BAD_REQUEST, "token is required"))?;
        let principal = auth::principal_for(state, &token).await.map_err(|_| fail(StatusCode::UNAUTHORIZED, "invalid token"))?;
        crate::http::rate_limit::enforce(state, &self.parts, &principal).map_err(refusal)?;
        match principal {
            Principal::Device { tenant, device, device_id } => Ok(TenantAuth { tenant, device: Some((device, device_id)), key: None }),
            _ => Err(fail(StatusCode::UNAUTHORIZED, "invalid token: use the device's token")),
        }
    }

    /// The tenant of the `apikey` header (protected calls).
    async fn tenant(&self, state: &AppState) -> Result<TenantAuth, Response> {
        let key = self.parts.headers.get("apikey").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty());
        let key = key.ok_or_else(|| fail(StatusCode::UNAUTHORIZED, "the apikey header is required"))?;
        let principal = auth::principal_for(state, key).await.map_err(|_| fail(StatusCode::UNAUTHORIZED, "invalid apikey"))?;
        crate::http::rate_limit::enforce(state, &self.parts, &principal).map_err(refusal)?;
        match principal {
            Principal::Tenant { tenant, key } => Ok(TenantAuth { tenant, device: None, key: Some(key) }),
            _ => Err(fail(StatusCode::UNAUTHORIZED, "invalid apikey: use the account's API key")),
        }
    }

    /// A protected call's device: `token` must be one of the `apikey` tenant's devices.
    async fn managed_device(&self, state: &AppState) -> Result<(TenantAuth, Device), Response> {
        let tenant = self.tenant(state).await?;
        let token = self.text("token").ok_or_else(|| fail(StatusCode::BAD_REQUEST, "token is required"))?;
        let device = match auth::principal_for(state, &token).await {
            Ok(Principal::Device { tenant: owner, device, .. }) if owner.pk == tenant.tenant_pk() => state.devices.get(device),
            _ => None,
        };
        let device = device.ok_or_else(|| fail(StatusCode::NOT_FOUND, "device not found"))?;
        Ok((tenant, device.snapshot()))
    }
}

/// The caller's device as it is now.
fn device_of(state: &AppState, auth: &TenantAuth) -> Result<Device, Response> {
    auth.device
        .as_ref()
        .and_then(|(pk, _)| state.devices.get(*pk))
        .map(|e| e.snapshot())
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "device not found"))
}

fn phone_digits(device: &Device) -> Option<String> {
    device.phone.as_ref().map(|p| p.digits().to_owned())
}

fn authenticated(device: &Device) -> Value {
    json!({"status": true, "message": "AUTHENTICATED", "name": device.name, "phone": phone_digits(device)})
}

/// `POST /api/start {token}`: starts linking (a QR code follows) unless already linked.
async fn start(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.device(&state).await);
    let device = or_answer!(device_of(&state, &auth));
    // `reject_call`: decline WhatsApp calls on this device (a device setting, kept).
    let reject = match call.fields.get("reject_call") {
        Some(Value::Bool(b)) => Some(*b),
        _ => call.text("reject_call").map(|f| matches!(f.to_ascii_lowercase().as_str(), "y" | "yes" | "true" | "1")),
    };
    // `reject_message`: what a declined caller is sent.
    let reply = call.fields.text("reject_message").and_then(Result::ok);
    if let Some(reject) = reject.or(reply.as_ref().map(|_| device.settings.reject_calls))
        && let Err(e) = crate::services::calls::set_reject_calls(&state, &device, reject, reply).await
    {
        return refusal(e);
    }
    if device.status == DeviceStatus::Connected {
        return Json(authenticated(&device)).into_response();
    }
    if !matches!(device.status, DeviceStatus::Connecting | DeviceStatus::AwaitingScan)
        && let Err(e) = devices::connect(&state, &auth, &device.id, LinkMethod::Qr).await
    {
        return refusal(e);
    }
    Json(json!({"status": true, "message": "session started; get the QR code from /api/qrcode"})).into_response()
}

/// `POST /api/qrcode {token}`: the QR as a PNG data URL, or the account when already linked.
async fn qrcode(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.device(&state).await);
    let device = or_answer!(device_of(&state, &auth));
    if device.status == DeviceStatus::Connected {
        return Json(authenticated(&device)).into_response();
    }
    match &device.qr {
        Some(code) => match crate::http::qr::png_data_url(&code.code) {
            Some(image) => Json(json!({"status": true, "qrcode": image})).into_response(),
            None => fail(StatusCode::SERVICE_UNAVAILABLE, "the QR code could not be rendered; try again"),
        },
        None if matches!(device.status, DeviceStatus::Connecting) => {
            fail(StatusCode::CONFLICT, "the QR code is not ready yet; try again in a moment")
        }
        None => fail(StatusCode::CONFLICT, "no session is linking; call /api/start first"),
    }
}

/// `GET /api/status?token=`.
async fn status(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.device(&state).await);
    let device = or_answer!(device_of(&state, &auth));
    let connected = device.status == DeviceStatus::Connected;
    let phone = phone_digits(&device);
    let jid = phone.as_ref().map(|p| format!("{p}@s.whatsapp.net"));
    Json(json!({
        "status": connected,
        "message": if connected { "AUTHENTICATED" } else { "DISCONNECTED" },
        "name": device.name,
        "phone": phone,
        "pic": null,
        "data": {"id": jid, "lid": "", "name": device.name},
    }))
    .into_response()
}

/// The message type of a file, from the extension of its name or URL.
fn file_kind(name: &str) -> &'static str {
    let path = name.split(['?', '#']).next().unwrap_or(name);
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "gif" => "image",
        "mp4" | "3gp" | "mpeg" | "mpg" => "video",
        "mp3" | "ogg" | "opus" | "aac" | "m4a" | "amr" => "audio",
        _ => "document",
    }
}

/// `POST /api/send {token, phone, message, file_url?, file_name?}`.
async fn send(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.device(&state).await);
    let device = or_answer!(device_of(&state, &auth));
    let Some(raw_phone) = call.text("phone") else { return fail(StatusCode::BAD_REQUEST, "phone is required") };
    let phone = match PhoneNumber::parse(&raw_phone, state.config.default_country) {
        Ok(p) => p,
        Err(e) => return fail(StatusCode::BAD_REQUEST, format!("phone {e}")),
    };
    let message = call.fields.text("message").and_then(Result::ok);
    let content = match call.text("file_url") {
        None => match message {
            Some(text) => MessageContent::text(text),
            None => return fail(StatusCode::BAD_REQUEST, "message is required (or file_url)"),
        },
        Some(url) => {
            let name = call.text("file_name");
            let mut kind = file_kind(name.as_deref().unwrap_or(&url));
            // WhatsApp audio has no caption: with a message, the file goes as a document.
            if kind == "audio" && message.is_some() {
                kind = "document";
            }
            let media = MediaContent {
                link: Some(url),
                caption: message,
                filename: if kind == "document" { name } else { None },
                ..MediaContent::default()
            };
            MessageContent::media(kind, media).expect("a media type")
        }
    };
    // Kirim queues for a linked device that is offline; one never linked cannot send.
    if device.phone.is_none() || device.status == DeviceStatus::LoggedOut {
        return fail(StatusCode::CONFLICT, "the session is not connected; scan the QR code first (/api/start, /api/qrcode)");
    }
    let input = SendInput::plain(Some(device.id.clone()), phone.to_string(), content);
    match messages::accept(&state, &Actor::from(&auth), input).await {
        Ok(accepted) => {
            let m = accepted.message;
            Json(json!({"status": true, "message": "message queued", "data": {"id": m.id, "to": phone.digits(), "status": m.status}}))
                .into_response()
        }
        Err(error) if error.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let field = match error.detail.field.as_deref().and_then(|f| f.rsplit('.').next()) {
                Some("to") => "phone",
                Some("link" | "mime_type" | "base64") => "file_url",
                Some("filename") => "file_name",
                _ => "message",
            };
            fail(StatusCode::BAD_REQUEST, format!("{field}: {}", error.detail.message))
        }
        Err(error) => refusal(error),
    }
}

/// `GET /api/contacts?token=`: the account's contacts.
async fn contacts_list(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.device(&state).await);
    let input = contacts::ListInput { search: None, group: None, after: None, limit: 1000 };
    match contacts::list(&state, &Actor::from(&auth), input).await {
        Ok(list) => {
            let data: Vec<Value> = list
                .into_iter()
                .map(|c| json!({"id": format!("{}@s.whatsapp.net", c.phone.digits()), "name": c.name, "phone": c.phone.digits()}))
                .collect();
            Json(json!({"status": true, "data": data})).into_response()
        }
        Err(e) => refusal(e),
    }
}

/// `GET /api/groups?token=`: the groups the device's number is in, from the network.
async fn groups_list(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.device(&state).await);
    let Some((_, id)) = auth.device.clone() else { return fail(StatusCode::UNAUTHORIZED, "invalid token") };
    match groups::list(&state, &Actor::from(&auth), &id).await {
        Ok((_, list)) => {
            let data: Vec<Value> = list
                .into_iter()
                .map(|g| {
                    let participants: Vec<Value> = g
                        .participants
                        .iter()
                        .map(|p| json!({"id": p.jid, "phone": p.phone.as_ref().map(|n| n.digits().to_owned()), "admin": p.role.is_admin()}))
                        .collect();
                    json!({"id": g.jid.as_str(), "subject": g.subject, "size": g.participants.len(), "participants": participants})
                })
                .collect();
            Json(json!({"status": true, "data": data})).into_response()
        }
        Err(e) => refusal(e),
    }
}

/// `POST /api/logout?token=`.
async fn logout(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.device(&state).await);
    let Some((_, id)) = auth.device.clone() else { return fail(StatusCode::UNAUTHORIZED, "invalid token") };
    match devices::logout(&state, &auth, &id).await {
        Ok(_) => Json(json!({"status": true, "message": "logged out"})).into_response(),
        Err(e) => refusal(e),
    }
}

/// `POST /api/reconnect?token=`: connects again (a linked session resumes without a scan).
async fn reconnect(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.device(&state).await);
    let Some((_, id)) = auth.device.clone() else { return fail(StatusCode::UNAUTHORIZED, "invalid token") };
    match devices::connect(&state, &auth, &id, LinkMethod::Qr).await {
        Ok(device) => Json(json!({"status": true, "message": "reconnecting", "data": {"status": device.status}})).into_response(),
        Err(e) => refusal(e),
    }
}

fn whole(call: &Call, key: &str, default: usize, max: usize) -> Result<usize, Response> {
    match call.text(key) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| fail(StatusCode::BAD_REQUEST, format!("{key} must be a whole number from 1 to {max}"))),
    }
}

/// `GET /api/devices?page=&limit=&q=` (protected). Kirim keeps only a hash of each device
/// token, so a device is listed by its id; its token is shown once, when it is created.
async fn devices_list(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.tenant(&state).await);
    let (page, limit) = match (whole(&call, "page", 1, 100_000), whole(&call, "limit", 10, 100)) {
        (Ok(p), Ok(l)) => (p, l),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let rows = match state.store.list_devices(auth.tenant_pk()).await {
        Ok(rows) => rows,
        Err(e) => return refusal(e.into()),
    };
    let q = call.text("q").map(|q| q.to_lowercase());
    let workspace = call.text("workspace");
    let matching: Vec<Device> = rows
        .into_iter()
        .filter(|d| workspace.as_ref().is_none_or(|w| d.workspace.as_ref() == Some(w)))
        .filter(|d| {
            q.as_ref().is_none_or(|q| {
                d.name.to_lowercase().contains(q)
                    || d.id.as_str().contains(q.as_str())
                    || phone_digits(d).is_some_and(|p| p.contains(q.as_str()))
            })
        })
        .collect();
    let total = matching.len();
    let data: Vec<Value> = matching
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|d| {
            json!({"id": d.id, "name": d.name, "phone": phone_digits(&d), "status": d.status,
                   "connected": d.status == DeviceStatus::Connected, "workspace": d.workspace, "created_at": d.created_at})
        })
        .collect();
    Json(json!({"status": true, "data": data, "page": page, "limit": limit, "total": total})).into_response()
}

/// `DELETE /api/device?token=` (protected).
async fn device_delete(State(state): State<AppState>, call: Call) -> Response {
    let (auth, device) = or_answer!(call.managed_device(&state).await);
    match devices::delete(&state, &auth, &device.id).await {
        Ok(_) => Json(json!({"status": true, "message": "device deleted"})).into_response(),
        Err(e) => refusal(e),
    }
}

/// `POST /api/webhook {token, url}` (protected): the device's webhook endpoint, one per
/// device (kept as a native endpoint for that device's events, found again by its description).
async fn webhook(State(state): State<AppState>, call: Call) -> Response {
    let (auth, device) = or_answer!(call.managed_device(&state).await);
    let Some(url) = call.text("url") else { return fail(StatusCode::BAD_REQUEST, "url is required") };
    let actor = Actor::from(&auth);
    let tag = format!("wa-gateway webhook of {}", device.id);
    let input = webhooks::WebhookInput {
        url: Some(url),
        description: Some(Some(tag)),
        event_types: None,
        device_ids: Some(Some(vec![device.id.to_string()])),
        auto_reply: None,
        enabled: Some(true),
        format: None,
    };
    match webhooks::put_tagged(&state, &actor, input).await {
        Ok((w, secret)) => {
            let mut body = json!({"status": true, "message": "webhook updated", "data": {"id": w.id, "url": w.url}});
            if let Some(secret) = secret {
                // Shown once, as on the native API: Kirim signs every delivery (Standard Webhooks).
                body["data"]["secret"] = json!(secret.expose());
            }
            Json(body).into_response()
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => fail(StatusCode::BAD_REQUEST, format!("url: {}", e.detail.message)),
        Err(e) => refusal(e),
    }
}

/// `POST /api/workspace {token, workspace}` (protected): the device's workspace (blank clears it).
async fn workspace(State(state): State<AppState>, call: Call) -> Response {
    let (auth, device) = or_answer!(call.managed_device(&state).await);
    let label = call.fields.text("workspace").and_then(Result::ok).unwrap_or_default();
    match devices::update(&state, &auth, &device.id, None, None, Some(Some(label))).await {
        Ok(d) => Json(json!({"status": true, "message": "workspace updated", "data": {"token_device": d.id, "workspace": d.workspace}}))
            .into_response(),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => fail(StatusCode::BAD_REQUEST, e.detail.message),
        Err(e) => refusal(e),
    }
}

/// `GET /api/workspaces` (protected): the account's workspaces, each with its device count.
async fn workspaces(State(state): State<AppState>, call: Call) -> Response {
    let auth = or_answer!(call.tenant(&state).await);
    let rows = match state.store.list_devices(auth.tenant_pk()).await {
        Ok(rows) => rows,
        Err(e) => return refusal(e.into()),
    };
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for label in rows.into_iter().filter_map(|d| d.workspace) {
        *counts.entry(label).or_default() += 1;
    }
    let data: Vec<Value> = counts.into_iter().map(|(name, devices)| json!({"name": name, "devices": devices})).collect();
    Json(json!({"status": true, "data": data})).into_response()
}

#[cfg(test)]
mod tests {
    use super::file_kind;

    #[test]
    fn a_file_is_sent_as_what_its_extension_says() {
        assert_eq!(file_kind("https://example.com/image.jpg"), "image");
        assert_eq!(file_kind("https://example.com/a.PNG?size=2"), "image");
        assert_eq!(file_kind("clip.mp4"), "video");
        assert_eq!(file_kind("note.ogg"), "audio");
        assert_eq!(file_kind("invoice.pdf"), "document");
        assert_eq!(file_kind("https://example.com/download"), "document");
    }
}
