//! Media: storing files (uploads, base64 inside a message, links fetched when a message is
//! accepted), reading them back checked, and deleting them. A message's content ends up
//! naming its file by `media_id`, so every attempt, also after a restart, sends the same bytes.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use kirim_core::MediaId;
use kirim_core::id::TenantPk;
use kirim_core::media::{Media, MediaDirection, MediaFile, MediaKind, NewMedia};
use kirim_core::message::{MediaContent, MessageContent};

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::media::fetch::{self, FetchError};
use crate::media::formats::{self, Format};
use crate::media::{self as files, Fields, ReadError};
use crate::outbound::OutboundUrl;

/// The longest file name kept.
pub const MAX_FILENAME_CHARS: usize = 255;

/// A file a client sends.
#[derive(Debug, Clone)]
pub struct Upload {
    /// What it is sent as; `None`: what its bytes say.
    pub kind: Option<MediaKind>,
    pub bytes: Vec<u8>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
}

fn check_filename(field: &str, name: Option<String>) -> ApiResult<Option<String>> {
    let Some(name) = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) else { return Ok(None) };
    if name.chars().count() > MAX_FILENAME_CHARS || name.contains(['/', '\\', '\0']) || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            format!("`{field}` must be a file name without folders, at most {MAX_FILENAME_CHARS} characters"),
        ));
    }
    Ok(Some(name))
}

/// A file on its way into the store.
struct Incoming<'a> {
    kind: MediaKind,
    direction: MediaDirection,
    bytes: Vec<u8>,
    /// The type the client (or a `data:` URL) says it is.
    declared: Option<&'a str>,
    filename: Option<String>,
}

/// Checks and stores a file: the bytes on disk first, then the record.
async fn store(state: &AppState, tenant: TenantPk, incoming: Incoming<'_>, fields: &Fields) -> ApiResult<(Media, Format)> {
    let Incoming { kind, direction, bytes, declared, filename } = incoming;
    let filename = check_filename(&fields.filename, filename)?;
    let format = files::check(kind, &bytes, declared, filename.as_deref(), state.config.media.max_bytes(kind), fields)?;
    let id = MediaId::generate();
    let sha256 = files::sha256_hex(&bytes);
    let size = bytes.len() as u64;
    let bytes: Arc<[u8]> = bytes.into();
    state.media.write(&id, bytes).await.map_err(|error| {
        tracing::error!(%error, "could not write a media file");
        ApiError::unavailable("the file could not be saved (the media folder is not writable); nothing was stored, try again")
    })?;
    let new = NewMedia {
        id: id.clone(),
        tenant_pk: tenant,
        kind,
        direction,
        mime_type: format.mime.to_owned(),
        filename,
        size,
        sha256,
        created_at: state.clock.now(),
    };
    match state.store.insert_media(new).await {
        Ok(media) => Ok((media, format)),
        Err(error) => {
            let _ = state.media.remove(&id).await;
            Err(error.into())
        }
    }
}

/// `POST /v1/media`: stores an uploaded file.
pub async fn upload(state: &AppState, tenant: TenantPk, upload: Upload, fields: &Fields) -> ApiResult<Media> {
    let kind = match upload.kind {
        Some(kind) => kind,
        // Only files of some kind can be sniffed; `check` then explains what was wrong.
        None => formats::sniff(&upload.bytes).first().map_or(MediaKind::Document, |f| f.kind),
    };
    let incoming = Incoming {
        kind,
        direction: MediaDirection::Upload,
        bytes: upload.bytes,
        declared: upload.mime_type.as_deref(),
        filename: upload.filename,
    };
    let (media, _) = store(state, tenant, incoming, fields).await?;
    Ok(media)
}

/// A stored file's record; a received file is downloaded first (see `received_media`).
pub async fn get(state: &AppState, tenant: TenantPk, raw: &str) -> ApiResult<Media> {
    let id: MediaId = raw.parse().map_err(|_| ApiError::not_found("media"))?;
    super::received_media::record(state, tenant, &id).await
}

pub async fn list(state: &AppState, tenant: TenantPk, after: Option<&str>, limit: u32) -> ApiResult<Vec<Media>> {
    let after = match after {
        None => None,
        Some(raw) => {
            Some(raw.parse::<MediaId>().map_err(|_| ApiError::field("after", "`after` must be a media id (`next` of the previous page)"))?)
        }
    };
    Ok(state.store.list_media(tenant, after.as_ref(), limit).await?)
}

/// How large a request carrying the largest file may be: base64 makes it a third larger,
/// and the rest of the request (multipart framing, a message's other fields) needs room too.
pub fn body_limit(config: &crate::config::Config) -> usize {
    let largest = config.media.largest() as usize;
    config.http.body_limit_bytes.max(largest / 3 * 4 + 4 + 64 * 1024)
}

/// The record and the bytes, checked against the recorded SHA-256.
pub async fn download(state: &AppState, tenant: TenantPk, raw: &str) -> ApiResult<(Media, MediaFile)> {
    let media = get(state, tenant, raw).await?;
    let file = state.media.read(&media).await.map_err(read_error)?;
    Ok((media, file))
}

/// The bytes of file `id`, checked; a received file is downloaded through its device first
/// (what the job-reply and transcription paths read voice notes and photos with).
pub async fn inbound_file(state: &AppState, tenant: TenantPk, id: &MediaId) -> ApiResult<MediaFile> {
    let media = super::received_media::record(state, tenant, id).await?;
    state.media.read(&media).await.map_err(read_error)
}

fn read_error(error: ReadError) -> ApiError {
    tracing::error!(%error, "a stored media file could not be read");
    match error {
        ReadError::Missing(_) => ApiError::new(StatusCode::GONE, "media_missing", format!("{error}; upload it again")),
        // The bytes no longer match their checksum: as good as gone, and never served.
        ReadError::Damaged(_) => ApiError::new(StatusCode::GONE, "media_damaged", format!("{error}; upload it again")),
        ReadError::Io(..) => ApiError::unavailable(format!("{error}; try again")),
    }
}

/// The deleted record; `None` for a received file that was never downloaded.
pub async fn delete(state: &AppState, tenant: TenantPk, raw: &str) -> ApiResult<Option<Media>> {
    let id: MediaId = raw.parse().map_err(|_| ApiError::not_found("media"))?;
    let Some(media) = state.store.delete_media(tenant, &id).await? else {
        // A received file never downloaded has no record yet; forgetting it is the delete.
        if state.store.delete_received_media(tenant, &id).await? {
            return Ok(None);
        }
        return Err(ApiError::not_found("media"));
    };
    // The record is gone first: a file left behind by a failure here is never served.
    if let Err(error) = state.media.remove(&id).await {
        tracing::warn!(%error, media = %id, "could not remove a deleted media file");
    }
    Ok(Some(media))
}

/// Deletes files stored for a message that was not accepted after all.
pub async fn forget(state: &AppState, tenant: TenantPk, ids: &[MediaId]) {
    for id in ids {
        if let Ok(Some(_)) = state.store.delete_media(tenant, id).await {
            let _ = state.media.remove(id).await;
        }
    }
}

/// Decodes base64 as clients write it: standard or URL-safe, padded or not, line breaks
/// allowed, maybe behind a `data:<type>;base64,` prefix (whose type is returned).
pub fn decode_base64(field: &str, text: &str) -> ApiResult<(Vec<u8>, Option<String>)> {
    let (declared, data) = match text.trim().strip_prefix("data:").and_then(|rest| rest.split_once(',')) {
        Some((head, data)) => (head.strip_suffix(";base64").map(str::to_owned), data),
        None => (None, text.trim()),
    };
    let clean: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let unpadded = clean.trim_end_matches('=');
    let engines = [base64::engine::general_purpose::STANDARD_NO_PAD, base64::engine::general_purpose::URL_SAFE_NO_PAD];
    for engine in engines {
        if let Ok(bytes) = engine.decode(unpadded) {
            return Ok((bytes, declared.filter(|d| !d.is_empty())));
        }
    }
    Err(ApiError::field(field, format!("`{field}` is not valid base64; send the file's bytes base64-encoded")))
}

/// Stores every file a message carries that is not stored yet (base64 bytes, a link) and
/// checks those named by `media_id`, so the content names each file by `media_id` with its
/// real type, size and SHA-256. Returns the ids stored now (to forget if the message is not
/// accepted after all).
pub async fn attach(state: &AppState, tenant: TenantPk, content: &mut MessageContent) -> ApiResult<Vec<MediaId>> {
    let in_buttons = content.kind() == "buttons";
    let mut stored = Vec::new();
    for (kind_name, media) in content.files_mut() {
        let prefix = if in_buttons { format!("buttons.header.{kind_name}") } else { kind_name.to_owned() };
        let kind: MediaKind = kind_name.parse().map_err(|_| ApiError::field(&prefix, "unknown media type"))?;
        match attach_one(state, tenant, kind, &prefix, media).await {
            Ok(Some(id)) => stored.push(id),
            Ok(None) => {}
            Err(error) => {
                forget(state, tenant, &stored).await;
                return Err(error);
            }
        }
    }
    Ok(stored)
}

/// The tenant's stored file a link names, when it is this server's URL for it
/// (`…/v1/media/med_…`, what the compat layers answer an upload with). Such a link is taken
/// as the file itself: fetching it would mean the server calling itself, without credentials.
async fn stored_link(state: &AppState, tenant: TenantPk, link: &str) -> ApiResult<Option<MediaId>> {
    let Ok(url) = url::Url::parse(link.trim()) else { return Ok(None) };
    let segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
    let [.., "v1", "media", id] = segments.as_slice() else { return Ok(None) };
    let Ok(id) = id.parse::<MediaId>() else { return Ok(None) };
    Ok(state.store.get_media(tenant, &id).await?.map(|media| media.id))
}

async fn attach_one(state: &AppState, tenant: TenantPk, kind: MediaKind, prefix: &str, m: &mut MediaContent) -> ApiResult<Option<MediaId>> {
    if m.base64.is_none()
        && let Some(link) = &m.link
        && let Some(id) = stored_link(state, tenant, link).await?
    {
        m.link = None;
        m.media_id = Some(id.to_string());
    }
    let fields = |bytes: &str| Fields {
        bytes: format!("{prefix}.{bytes}"),
        mime_type: format!("{prefix}.mime_type"),
        filename: format!("{prefix}.filename"),
    };
    let (media, format, new) = if let Some(text) = m.base64.take() {
        let fields = fields("base64");
        let (bytes, data_url_type) = decode_base64(&fields.bytes, &text)?;
        let declared = m.mime_type.clone().or(data_url_type);
        let incoming =
            Incoming { kind, direction: MediaDirection::Upload, bytes, declared: declared.as_deref(), filename: m.filename.clone() };
        let (media, format) = store(state, tenant, incoming, &fields).await?;
        (media, format, true)
    } else if let Some(link) = m.link.clone() {
        let fields = fields("link");
        let fetched = fetch_link(state, kind, &fields.bytes, &link).await?;
        // A document keeps the name in its link when that name fits what the bytes are.
        let fits = |name: &String| {
            let ext = formats::extension(name).unwrap_or_default();
            kind == MediaKind::Document && formats::sniff(&fetched.bytes).iter().any(|f| f.kind == kind && f.exts.contains(&ext.as_str()))
        };
        let filename = m.filename.clone().or(fetched.filename.clone().filter(fits));
        let incoming =
            Incoming { kind, direction: MediaDirection::Fetched, bytes: fetched.bytes, declared: m.mime_type.as_deref(), filename };
        let (media, format) = store(state, tenant, incoming, &fields).await?;
        (media, format, true)
    } else if let Some(raw) = m.media_id.clone() {
        let field = format!("{prefix}.media_id");
        let not_found = || ApiError::not_found("media").with_field(field.clone());
        let id: MediaId = raw.parse().map_err(|_| not_found())?;
        // A received file is downloaded first, so it can be forwarded by its id.
        let media = match state.store.get_media(tenant, &id).await? {
            Some(media) => media,
            None if state.store.get_received_media(tenant, &id).await?.is_some() => {
                super::received_media::record(state, tenant, &id).await.map_err(|e| e.with_field(field.clone()))?
            }
            None => return Err(not_found()),
        };
        if media.kind != kind {
            return Err(ApiError::field(
                field,
                format!("media {id} was stored as {}; send it as a `{}` message, or upload it again as {kind}", media.kind, media.kind),
            ));
        }
        let format = formats::ALL.iter().find(|f| f.mime == media.mime_type && f.kind == kind).copied();
        match format {
            Some(format) => (media, format, false),
            None => return Err(ApiError::field(field, format!("media {id} has a type ({}) WhatsApp does not take", media.mime_type))),
        }
    } else {
        return Ok(None); // the network's own file id: the connector resolves it
    };
    if m.voice && format != formats::OPUS {
        let error = ApiError::field(
            format!("{prefix}.voice"),
            format!("a voice note must be an Ogg Opus recording; this file is {} (send it without `voice`)", format.name),
        );
        if new {
            forget(state, tenant, std::slice::from_ref(&media.id)).await;
        }
        return Err(error);
    }
    m.media_id = Some(media.id.to_string());
    m.mime_type = Some(media.mime_type.clone());
    m.size = Some(media.size);
    m.sha256 = Some(media.sha256.clone());
    if m.filename.is_none() {
        m.filename.clone_from(&media.filename);
    }
    Ok(new.then_some(media.id))
}

/// Downloads a message's link, with each refusal naming the field.
async fn fetch_link(state: &AppState, kind: MediaKind, field: &str, link: &str) -> ApiResult<fetch::Fetched> {
    let url = OutboundUrl::parse(link).map_err(|e| ApiError::field(field, format!("`{field}`: {e}")))?;
    let outbound = &state.webhooks.outbound;
    let not_allowed = |blocked: crate::outbound::Blocked| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed", format!("`{field}`: {blocked}")).with_field(field)
    };
    outbound.guard().check_url(&url).await.map_err(not_allowed)?;
    let max = state.config.media.max_bytes(kind);
    let timeout = Duration::from_millis(state.config.media.fetch_timeout_ms);
    let unreachable = |why: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "media_unreachable", format!("`{field}` could not be downloaded: {why}"))
            .with_field(field)
    };
    fetch::fetch(outbound, &url, kind, max, timeout).await.map_err(|error| match error {
        FetchError::Blocked(blocked) => not_allowed(blocked),
        FetchError::TooLarge => files::too_large(field, kind, max),
        FetchError::WrongType(found) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "media_type_unsupported",
            format!(
                "`{field}` is {}, not a file WhatsApp takes as {kind} (one of: {})",
                found.unwrap_or("no file type WhatsApp takes"),
                formats::accepted(kind)
            ),
        )
        .with_field(field),
        other => unreachable(other.to_string()),
    })
}
