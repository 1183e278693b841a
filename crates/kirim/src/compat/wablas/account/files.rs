//! Files: uploading one to send later, deleting one, and the other-network channels Kirim
//! does not have.
//!
//! An upload is answered with the URL Kirim serves the file at (`/v1/media/{id}`, read with
//! the device token or API key). Given back to any send as the file's URL, Kirim takes that
//! URL as the stored file itself (by its id, nothing is downloaded): see `services::media`.

use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use kirim_core::MessageId;
use kirim_core::media::MediaKind;
use kirim_core::message::MessageStatus;
use serde_json::json;

use super::{bad_field, refused};
use crate::app::AppState;
use crate::compat::wablas::{Call, fail, ok, refusal};
use crate::media::Fields;
use crate::services::media::{self, Upload};
use crate::services::messages;

/// `scheme://host` the client called, for the URLs it is given back (behind a proxy that
/// terminates TLS, `X-Forwarded-Proto` says the scheme).
fn origin(call: &Call) -> String {
    let header = |name: &str| call.parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let scheme = header("x-forwarded-proto").and_then(|p| p.split(',').next()).map_or("http", str::trim);
    let host = header(HOST.as_str()).unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// `POST /api/upload/{type}` (multipart, the file in `file`): stores the file as `type`
/// (image, video, audio or document) and answers the URL to send it by.
pub async fn upload(State(state): State<AppState>, Path(kind): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let kind = match kind.to_ascii_lowercase().parse::<MediaKind>() {
        Ok(k) if k != MediaKind::Sticker => k,
        _ => return bad_field("type", format!("`{kind}` is not a file type: use image, video, audio or document")),
    };
    let Some(file) = call.files.iter().find(|p| p.name == "file").or(call.files.first()) else {
        return bad_field("file", "is required: send the file as the multipart field `file`");
    };
    let upload =
        Upload { kind: Some(kind), bytes: file.data.to_vec(), mime_type: file.content_type.clone(), filename: file.filename.clone() };
    let fields = Fields { bytes: "file".into(), mime_type: "file".into(), filename: "file".into() };
    match media::upload(&state, caller.auth.tenant_pk(), upload, &fields).await {
        Ok(m) => {
            let url = format!("{}/v1/media/{}", origin(&call), m.id);
            ok("Upload file successfully", json!({"messages": [{"url": url, "id": m.id, "type": m.kind, "size": m.size}]}))
        }
        Err(e) => refused(e, &[]),
    }
}

/// `DELETE /api/v2/media/delete/{id}`: deletes a stored file, named by its id (`med_…`, from
/// an upload) or by the message that sent it (`msg_…`: that message's files, once it is sent).
pub async fn media_delete(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let tenant = caller.auth.tenant_pk();
    let id = id.trim();
    if !id.starts_with("msg_") {
        return match media::delete(&state, tenant, id).await {
            Ok(m) => {
                let kind = m.as_ref().map_or("file".to_owned(), |m| m.kind.to_string());
                ok(format!("{kind} file succesfully removed"), json!({"id": id}))
            }
            Err(e) => refusal(e),
        };
    }
    let Ok(message_id) = id.parse::<MessageId>() else { return fail(StatusCode::NOT_FOUND, "message not found") };
    let message = match messages::get(&state, &caller.auth, &message_id).await {
        Ok(m) => m,
        Err(e) => return refusal(e),
    };
    if matches!(message.status, MessageStatus::Scheduled | MessageStatus::Pending | MessageStatus::Sending) {
        return fail(StatusCode::CONFLICT, "the message is not sent yet and needs its file; cancel it first (/api/cancel-message)");
    }
    let mut content = message.content;
    let ids: Vec<String> = content.files_mut().into_iter().filter_map(|(_, m)| m.media_id.clone()).collect();
    if ids.is_empty() {
        return fail(StatusCode::NOT_FOUND, "that message has no file");
    }
    let kind = content.kind();
    for media_id in &ids {
        match media::delete(&state, tenant, media_id).await {
            // Deleted earlier: nothing left to remove.
            Ok(_) => {}
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return refusal(e),
        }
    }
    ok(format!("{kind} file succesfully removed"), json!({"id": id, "media": ids}))
}

/// Wablas's example deletes with the method `DEL`; any other method here is not allowed.
pub async fn media_delete_other(method: Method, state: State<AppState>, id: Path<String>, call: Call) -> Response {
    if method.as_str() == "DEL" {
        return media_delete(state, id, call).await;
    }
    fail(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed here: use DELETE"))
}

/// `POST /api/channel/{name}` (Telegram, LINE, Facebook, Twitter): Kirim is a WhatsApp
/// gateway and has no other channel.
pub async fn channel(State(state): State<AppState>, Path(name): Path<String>, call: Call) -> Response {
    or_answer!(call.caller(&state).await);
    bad_field("channel", format!("`{name}` is not available: Kirim sends WhatsApp only; send to WhatsApp numbers with /api/send-message"))
}
