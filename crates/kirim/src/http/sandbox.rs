//! `/v1/sandbox/…`: the simulated phone and world around the sandbox network — scan a QR,
//! write to a device, drop its connection, see what the network accepted. These act only on
//! the caller's own sandbox devices.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use kirim_core::PhoneNumber;
use kirim_core::device::{ConnectorKind, Device};
use kirim_core::message::{LocationContent, MAX_CAPTION_CHARS, MAX_TEXT_CHARS, MediaContent, MessageContent, TextContent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use crate::app::AppState;
use crate::connectors::sandbox::{NetworkMessage, Sandbox, SandboxError, SimulatedInbound};
use crate::services::devices;

pub(super) async fn sandbox_device(state: &AppState, auth: &TenantAuth, id: &str) -> ApiResult<(Arc<Sandbox>, Device)> {
    let id = id.parse().map_err(|_| ApiError::not_found("device"))?;
    let device = devices::get(state, auth, &id).await?;
    if device.connector != ConnectorKind::Sandbox {
        return Err(ApiError::conflict("not_a_sandbox_device", "this device is not on the sandbox network"));
    }
    let sandbox =
        state.sandbox.clone().ok_or_else(|| ApiError::conflict("connector_disabled", "the sandbox is disabled on this server"))?;
    Ok((sandbox, device))
}

pub(super) fn sandbox_error(e: SandboxError) -> ApiError {
    match e {
        SandboxError::NotLinking => ApiError::conflict("not_linking", e.to_string()),
        SandboxError::NotConnected => ApiError::conflict("device_not_connected", e.to_string()),
        SandboxError::PhoneInUse => ApiError::conflict("phone_in_use", e.to_string()).with_field("phone"),
        other => ApiError::unavailable(other.to_string()),
    }
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ScanRequest {
    /// The number the simulated phone has; a valid number is made up when omitted.
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScanResult {
    /// The number the device is now linked to.
    pub phone: String,
}

/// The simulated phone scans the device's QR code (or enters its pairing code).
#[utoipa::path(post, path = "/v1/sandbox/devices/{id}/scan", tag = "sandbox", params(("id" = String, Path)), request_body = ScanRequest,
    responses((status = 200, body = ScanResult), (status = 409, body = ErrorBody, description = "`not_linking`, or `phone_in_use`: the number is linked to another device"), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn scan(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: ApiJson<ScanRequest>,
) -> ApiResult<Json<ScanResult>> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    let phone = match body.value.phone {
        Some(raw) => {
            Some(PhoneNumber::parse(&raw, state.config.default_country).map_err(|e| ApiError::field("phone", format!("`phone` {e}")))?)
        }
        None => None,
    };
    let linked = sandbox.scan(&device, phone).await.map_err(sandbox_error)?;
    Ok(Json(ScanResult { phone: linked.to_string() }))
}

/// What the simulated person sends; `text` when only `text` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum InboundType {
    Text,
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    Location,
}

impl InboundType {
    const ALL: [InboundType; 7] = [Self::Text, Self::Image, Self::Video, Self::Audio, Self::Document, Self::Sticker, Self::Location];

    /// Read as a string first, so that a wrong type is a field error rather than unreadable JSON.
    fn parse(raw: &str) -> ApiResult<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
            ApiError::field("type", format!("`type` `{raw}` is not a message type the sandbox can write; use one of {}", known.join(", ")))
        })
    }

    /// The name of the type, which is also the name of the field holding its content.
    fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::Location => "location",
        }
    }
}

/// A file someone sends. Kirim records the link and never fetches it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundMedia {
    /// Where the file is, an `http` or `https` URL; recorded, never fetched.
    #[schema(example = "https://example.com/receipt.jpg")]
    pub link: Option<String>,
    /// The file itself, base64-encoded: the sandbox network hosts it, and Kirim gives the
    /// message's file a `media_id` that `GET /v1/media/{id}` downloads. Give this or `link`.
    pub base64: Option<String>,
    /// The file's MIME type, matching the message type: `image/…` for image, `video/…`,
    /// `audio/…`, `image/webp` for a sticker; a document may be any type.
    pub mime_type: Option<String>,
    /// Text written with the file, at most 1,024 characters (not for audio or stickers).
    pub caption: Option<String>,
    /// The file name (documents only).
    pub filename: Option<String>,
    /// Audio only: recorded as a voice note.
    pub voice: Option<bool>,
}

/// A place someone shares.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundLocation {
    /// −90 to 90.
    pub latitude: f64,
    /// −180 to 180.
    pub longitude: f64,
    pub name: Option<String>,
    pub address: Option<String>,
}

/// A message written to the device: `from`, and one content — `text`, or `type` with the
/// object of that name (`image`, `video`, `audio`, `document`, `sticker`, `location`), shaped
/// like the WhatsApp Cloud API's incoming messages.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundRequest {
    /// Who writes to the device.
    #[serde(deserialize_with = "super::string_or_number")]
    pub from: String,
    /// The message type; may be left out when only one content field is given.
    #[serde(rename = "type")]
    #[schema(value_type = Option<InboundType>)]
    pub kind: Option<String>,
    /// The text they write, at most 4,096 characters.
    pub text: Option<String>,
    pub image: Option<InboundMedia>,
    pub video: Option<InboundMedia>,
    pub audio: Option<InboundMedia>,
    pub document: Option<InboundMedia>,
    pub sticker: Option<InboundMedia>,
    pub location: Option<InboundLocation>,
    /// A group JID: the message is written in that group.
    pub group: Option<String>,
    /// The network id of the message this one replies to (1 to 128 characters).
    pub reply_to: Option<String>,
    /// Give an id (1 to 128 characters) to simulate the network delivering the same message twice.
    pub network_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboundResult {
    pub network_id: String,
}

/// The longest network id (`reply_to`, `network_id`) accepted; WhatsApp's are about 20 to 40.
const MAX_NETWORK_ID_CHARS: usize = 128;
/// The longest link, file name, MIME type and place name or address accepted.
const MAX_LINK_CHARS: usize = 2048;
const MAX_FILENAME_CHARS: usize = 255;
const MAX_MIME_CHARS: usize = 255;
const MAX_PLACE_CHARS: usize = 1024;

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Text that must have something in it and fit `max` characters.
fn check_text(field: &str, value: &str, max: usize, hint: &str) -> ApiResult<()> {
    if value.trim().is_empty() {
        return Err(ApiError::field(field, format!("`{field}` is empty; {hint}")));
    }
    let n = chars(value);
    if n > max {
        return Err(ApiError::field(field, format!("`{field}` has {n} characters; at most {max} are accepted")));
    }
    Ok(())
}

/// A network id: 1 to 128 characters, no spaces or control characters.
fn check_network_id(field: &str, value: &Option<String>) -> ApiResult<()> {
    let Some(value) = value else {
        return Ok(());
    };
    let n = chars(value);
    if n == 0 || n > MAX_NETWORK_ID_CHARS || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::field(
            field,
            format!("`{field}` must be a message id of 1 to {MAX_NETWORK_ID_CHARS} characters without spaces"),
        ));
    }
    Ok(())
}

fn check_link(field: &str, link: &str) -> ApiResult<()> {
    let bad = || ApiError::field(field, format!("`{field}` must be an http or https URL, e.g. https://example.com/photo.jpg"));
    if link.is_empty() || chars(link) > MAX_LINK_CHARS {
        return Err(bad());
    }
    let uri: axum::http::Uri = link.parse().map_err(|_| bad())?;
    let scheme_ok = uri.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if !scheme_ok || !host_ok {
        return Err(bad());
    }
    Ok(())
}

/// `type/subtype` (with optional `; parameters`), where `type` suits a message of `kind`.
fn check_mime(field: &str, kind: InboundType, mime: &str) -> ApiResult<()> {
    let essence = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c));
    let well_formed = chars(mime) <= MAX_MIME_CHARS
        && !mime.chars().any(char::is_control)
        && essence.split_once('/').is_some_and(|(top, sub)| token(top) && token(sub));
    if !well_formed {
        return Err(ApiError::field(field, format!("`{field}` `{mime}` is not a MIME type; write it like `image/jpeg`")));
    }
    let top = essence.split('/').next().unwrap_or("");
    let (fits, expected) = match kind {
        InboundType::Image => (top == "image", "an `image/…` type such as `image/jpeg`"),
        InboundType::Video => (top == "video", "a `video/…` type such as `video/mp4`"),
        InboundType::Audio => (top == "audio", "an `audio/…` type such as `audio/ogg`"),
        InboundType::Sticker => (essence == "image/webp", "`image/webp` (WhatsApp stickers are WebP images)"),
        // Any file can be sent as a document, photos included.
        InboundType::Document | InboundType::Text | InboundType::Location => (true, ""),
    };
    if !fits {
        return Err(ApiError::field(field, format!("`{field}` `{mime}` does not fit a `{}` message; use {expected}", kind.as_str())));
    }
    Ok(())
}

/// The content, and the bytes of the file when it was given as `base64`.
fn media_content(kind: InboundType, media: InboundMedia) -> ApiResult<(MessageContent, Option<Vec<u8>>)> {
    let name = kind.as_str();
    let field = |f: &str| format!("{name}.{f}");
    let file = match (&media.link, &media.base64) {
        (Some(link), None) => {
            check_link(&field("link"), link)?;
            None
        }
        (None, Some(data)) => {
            let (bytes, _) = crate::services::media::decode_base64(&field("base64"), data)?;
            if bytes.is_empty() {
                return Err(ApiError::field(field("base64"), format!("`{}` is empty; give the file's bytes", field("base64"))));
            }
            Some(bytes)
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::field(field("base64"), format!("give `{}` or `{}`, not both", field("link"), field("base64"))));
        }
        (None, None) => {
            return Err(ApiError::field(
                field("link"),
                format!("give the file: `{}` (an http or https URL) or `{}` (its bytes, base64)", field("link"), field("base64")),
            ));
        }
    };
    if let Some(mime) = &media.mime_type {
        check_mime(&field("mime_type"), kind, mime)?;
    }
    if let Some(caption) = &media.caption {
        if matches!(kind, InboundType::Audio | InboundType::Sticker) {
            return Err(ApiError::field(
                field("caption"),
                format!("`{}` is not possible: WhatsApp {name}s have no caption", field("caption")),
            ));
        }
        check_text(&field("caption"), caption, MAX_CAPTION_CHARS, "leave it out or write the caption")?;
    }
    if let Some(filename) = &media.filename {
        if kind != InboundType::Document {
            return Err(ApiError::field(
                field("filename"),
                format!("`{}` is not possible: only documents have a file name", field("filename")),
            ));
        }
        check_text(&field("filename"), filename, MAX_FILENAME_CHARS, "leave it out or give the file's name")?;
        if filename.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
            return Err(ApiError::field(field("filename"), format!("`{}` must be a file name without a folder", field("filename"))));
        }
    }
    if media.voice.is_some() && kind != InboundType::Audio {
        return Err(ApiError::field(field("voice"), format!("`{}` is not possible: only audio can be a voice note", field("voice"))));
    }
    let content = MediaContent {
        link: media.link,
        mime_type: media.mime_type.map(|m| m.trim().to_owned()),
        caption: media.caption,
        filename: media.filename,
        voice: media.voice.unwrap_or(false),
        ..MediaContent::default()
    };
    Ok((MessageContent::media(name, content).expect("a media type"), file))
}

fn location_content(location: InboundLocation) -> ApiResult<MessageContent> {
    if !(-90.0..=90.0).contains(&location.latitude) {
        return Err(ApiError::field("location.latitude", "`location.latitude` must be between -90 and 90 degrees"));
    }
    if !(-180.0..=180.0).contains(&location.longitude) {
        return Err(ApiError::field("location.longitude", "`location.longitude` must be between -180 and 180 degrees"));
    }
    for (field, value) in [("location.name", &location.name), ("location.address", &location.address)] {
        if let Some(value) = value {
            check_text(field, value, MAX_PLACE_CHARS, "leave it out or fill it in")?;
        }
    }
    let InboundLocation { latitude, longitude, name, address } = location;
    Ok(MessageContent::Location { location: LocationContent { latitude, longitude, name, address } })
}

/// The one content of the request, validated: `type` picks it (or the only one given).
fn inbound_content(b: &mut InboundRequest) -> ApiResult<(MessageContent, Option<Vec<u8>>)> {
    let given: Vec<InboundType> = InboundType::ALL
        .into_iter()
        .filter(|t| match t {
            InboundType::Text => b.text.is_some(),
            InboundType::Image => b.image.is_some(),
            InboundType::Video => b.video.is_some(),
            InboundType::Audio => b.audio.is_some(),
            InboundType::Document => b.document.is_some(),
            InboundType::Sticker => b.sticker.is_some(),
            InboundType::Location => b.location.is_some(),
        })
        .collect();
    let asked = b.kind.as_deref().map(InboundType::parse).transpose()?;
    let kind = match (asked, given.as_slice()) {
        (Some(kind), _) if !given.contains(&kind) => {
            let name = kind.as_str();
            let example = match kind {
                InboundType::Text => "\"Hello\"",
                InboundType::Location => "{\"latitude\": 3.15, \"longitude\": 101.71}",
                _ => "{\"link\": \"https://…\"}",
            };
            return Err(ApiError::field(name, format!("`{name}` is required when `type` is `{name}`: \"{name}\": {example}")));
        }
        (Some(kind), _) => kind,
        (None, [only]) => *only,
        (None, []) => {
            return Err(ApiError::field(
                "text",
                "give the message's content: `text`, or `type` with its object (`image`, `video`, `audio`, `document`, `sticker` or `location`)",
            ));
        }
        (None, [first, ..]) => *first,
    };
    if let Some(extra) = given.iter().find(|t| **t != kind) {
        let (name, extra) = (kind.as_str(), extra.as_str());
        return Err(ApiError::field(
            extra,
            format!(
                "a message carries one content: `{extra}` cannot go with `{name}`; send it as another message (or as `{name}.caption` for text with media)"
            ),
        ));
    }
    match kind {
        InboundType::Text => {
            let text = b.text.take().unwrap_or_default();
            check_text("text", &text, MAX_TEXT_CHARS, "write the message text")?;
            Ok((MessageContent::Text { text: TextContent { body: text, preview_url: false, mentions: Vec::new() } }, None))
        }
        InboundType::Location => Ok((location_content(b.location.take().expect("checked above"))?, None)),
        media => {
            let file = match media {
                InboundType::Image => b.image.take(),
                InboundType::Video => b.video.take(),
                InboundType::Audio => b.audio.take(),
                InboundType::Document => b.document.take(),
                _ => b.sticker.take(),
            };
            media_content(media, file.expect("checked above"))
        }
    }
}

/// Someone writes to the device: text, a file (recorded by its link, never fetched), or a
/// location; in a group with `group`, as a reply with `reply_to`. Returns once Kirim has
/// stored the message (`GET /v1/messages?direction=inbound`, event `message.received`).
#[utoipa::path(post, path = "/v1/sandbox/devices/{id}/inbound", tag = "sandbox", params(("id" = String, Path)), request_body = InboundRequest,
    responses((status = 200, body = InboundResult), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn inbound(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: ApiJson<InboundRequest>,
) -> ApiResult<Json<InboundResult>> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    let mut b = body.value;
    let from = PhoneNumber::parse(&b.from, state.config.default_country).map_err(|e| ApiError::field("from", format!("`from` {e}")))?;
    let (content, file) = inbound_content(&mut b)?;
    let group = match b.group {
        Some(g) => Some(kirim_core::Recipient::group(&g).map_err(|e| ApiError::field("group", format!("`group` {e}")))?.to_string()),
        None => None,
    };
    check_network_id("reply_to", &b.reply_to)?;
    check_network_id("network_id", &b.network_id)?;
    let message = SimulatedInbound { from, group, content, reply_to: b.reply_to, network_id: b.network_id, file };
    let network_id = sandbox.inbound(&device, message).await.map_err(sandbox_error)?;
    Ok(Json(InboundResult { network_id }))
}

/// The device's connection drops; it reconnects with POST /v1/devices/{id}/connect.
#[utoipa::path(post, path = "/v1/sandbox/devices/{id}/disconnect", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn disconnect(State(state): State<AppState>, auth: TenantAuth, Path(id): Path<String>) -> ApiResult<axum::http::StatusCode> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    sandbox.drop_connection(&device).await.map_err(sandbox_error)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<NetworkMessage>,
}

/// What the network accepted from the device, in order, each message id once.
#[utoipa::path(get, path = "/v1/sandbox/devices/{id}/received", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Received)), security(("bearer" = [])))]
pub async fn received(State(state): State<AppState>, auth: TenantAuth, Path(id): Path<String>) -> ApiResult<Json<Received>> {
    let (sandbox, device) = sandbox_device(&state, &auth, &id).await?;
    Ok(Json(Received { data: sandbox.received(device.pk) }))
}
