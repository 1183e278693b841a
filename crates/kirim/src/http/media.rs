//! `/v1/media`: upload a file once (multipart, or JSON with base64) and send it by `media_id`;
//! download it, read what Kirim knows about it, delete it.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kirim_core::MediaId;
use kirim_core::media::{Media, MediaDirection, MediaKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::media::Fields;
use crate::services::media::{self as service, Upload};

/// What Kirim knows about a stored file.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    pub id: MediaId,
    /// How WhatsApp shows it: `image`, `video`, `audio`, `document` or `sticker`.
    #[serde(rename = "type")]
    pub kind: MediaKind,
    /// `upload` (sent to Kirim), `fetched` (downloaded from a message's link) or `inbound`.
    pub direction: MediaDirection,
    /// The type its bytes were recognised as.
    #[schema(example = "image/jpeg")]
    pub mime_type: String,
    pub filename: Option<String>,
    /// In bytes.
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex; checked on every read.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

impl From<Media> for MediaView {
    fn from(m: Media) -> Self {
        Self {
            id: m.id,
            kind: m.kind,
            direction: m.direction,
            mime_type: m.mime_type,
            filename: m.filename,
            size: m.size,
            sha256: m.sha256,
            created_at: m.created_at,
        }
    }
}

/// A file as JSON, for clients that cannot send multipart.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Base64Upload {
    /// The file, base64-encoded (a `data:` URL is fine too).
    pub data: String,
    /// `image`, `video`, `audio`, `document` or `sticker`; default: what the bytes are.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The file name (shown with documents), e.g. `invoice.pdf`.
    pub filename: Option<String>,
    /// The file's type, e.g. `application/pdf`; checked against the bytes.
    pub mime_type: Option<String>,
}

fn parse_kind(raw: Option<&str>) -> ApiResult<Option<MediaKind>> {
    match raw.map(str::trim).filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(k) => k.to_ascii_lowercase().parse().map(Some).map_err(|_| {
            ApiError::field("type", format!("`type` is `{k}`; use one of image, video, audio, document, sticker (or leave it out)"))
        }),
    }
}

fn multipart_boundary(request: &Request) -> Option<String> {
    request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(super::multipart::boundary)
}

/// Reads `file` (the bytes, with the part's file name and type) and the text fields `type`,
/// `filename` and `mime_type`, which override what the part says.
async fn read_multipart(state: &AppState, request: Request, boundary: &str) -> ApiResult<Upload> {
    let body = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the upload is larger than this server accepts (see media.max_*_bytes); send a smaller file",
            )
        } else {
            ApiError::bad_request("unreadable_body", format!("could not read the request body: {rejection}"))
        }
    })?;
    let parts = super::multipart::parse(&body, boundary)
        .map_err(|why| ApiError::bad_request("unreadable_body", format!("the multipart body is malformed: {why}")))?;
    let (mut file, mut kind, mut filename, mut mime_type) = (None, None, None, None);
    for part in parts {
        let text =
            || String::from_utf8(part.data.to_vec()).map_err(|_| ApiError::field(&part.name, format!("`{}` must be text", part.name)));
        match part.name.as_str() {
            "file" => file = Some(part.clone()),
            "type" => kind = Some(text()?),
            "filename" => filename = Some(text()?),
            "mime_type" => mime_type = Some(text()?),
            other => {
                return Err(ApiError::field(
                    other,
                    format!("unknown field `{other}`; send `file`, and optionally `type`, `filename`, `mime_type`"),
                ));
            }
        }
    }
    let file = file.ok_or_else(|| ApiError::field("file", "`file` is missing: send the file as the multipart field `file`"))?;
    Ok(Upload {
        kind: parse_kind(kind.as_deref())?,
        bytes: file.data.to_vec(),
        mime_type: mime_type.filter(|m| !m.trim().is_empty()).or(file.content_type),
        filename: filename.filter(|f| !f.trim().is_empty()).or(file.filename),
    })
}

/// Store a file: `multipart/form-data` with the file in the field `file` (and optionally
/// `type`, `filename`, `mime_type`), or JSON `{"data": "<base64>", …}`. The bytes decide what
/// the file is; a declared type or name that disagrees is refused. Send it with
/// `{"type": "image", "image": {"media_id": "med_…"}}`.
#[utoipa::path(post, path = "/v1/media", tag = "media", request_body(content = Base64Upload, description = "JSON with base64, or multipart/form-data with `file`"),
    responses((status = 201, body = MediaView), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn upload(State(state): State<AppState>, auth: TenantAuth, request: Request) -> ApiResult<(StatusCode, Json<MediaView>)> {
    let (upload, fields) = if let Some(boundary) = multipart_boundary(&request) {
        let upload = read_multipart(&state, request, &boundary).await?;
        (upload, Fields { bytes: "file".into(), mime_type: "mime_type".into(), filename: "filename".into() })
    } else {
        let body = ApiJson::<Base64Upload>::from_request(request, &state).await?.value;
        let (bytes, data_url_type) = service::decode_base64("data", &body.data)?;
        let upload =
            Upload { kind: parse_kind(body.kind.as_deref())?, bytes, mime_type: body.mime_type.or(data_url_type), filename: body.filename };
        (upload, Fields { bytes: "data".into(), mime_type: "mime_type".into(), filename: "filename".into() })
    };
    let media = service::upload(&state, auth.tenant_pk(), upload, &fields).await?;
    Ok((StatusCode::CREATED, Json(media.into())))
}

/// The file itself, with its type as `Content-Type` (and its name, where it has one).
#[utoipa::path(get, path = "/v1/media/{id}", tag = "media", params(("id" = String, Path)),
    responses((status = 200, description = "The file's bytes, with its type as `Content-Type`"), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn download(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Response> {
    let (media, file) = service::download(&state, auth.tenant_pk(), &id).await?;
    let mut response = Response::new(Body::from(bytes::Bytes::from_owner(file.bytes)));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&media.mime_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(media.size));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(name) = &media.filename
        && let Ok(value) = HeaderValue::from_str(&content_disposition(name))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response.into_response())
}

/// `attachment; filename="…"; filename*=UTF-8''…`, safe for any name.
fn content_disposition(name: &str) -> String {
    let ascii: String = name.chars().map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// What Kirim knows about a file, without its bytes.
#[utoipa::path(get, path = "/v1/media/{id}/info", tag = "media", params(("id" = String, Path)),
    responses((status = 200, body = MediaView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn info(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<MediaView>> {
    Ok(Json(service::get(&state, auth.tenant_pk(), &id).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// The account's files, oldest first.
#[utoipa::path(get, path = "/v1/media", tag = "media", params(ListQuery),
    responses((status = 200, body = List<MediaView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<List<MediaView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let rows = service::list(&state, auth.tenant_pk(), q.after.as_deref(), limit).await?;
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|m| m.id.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(MediaView::from).collect(), next }))
}

/// Delete a file. Messages already accepted with it fail rather than send without it.
#[utoipa::path(delete, path = "/v1/media/{id}", tag = "media", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    service::delete(&state, auth.tenant_pk(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
