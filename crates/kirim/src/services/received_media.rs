//! Files that arrive in inbound messages. Storing an inbound message never waits for a
//! download: the sink gives each file a `media_id` and the message keeps the network's
//! reference to it. The first `GET /v1/media/{media_id}` downloads the file through the
//! connector of the device that received it and stores it like any other file; later reads
//! come from the media folder.
//!
//! Two first reads at once may both download; both write the same bytes under the same id and
//! one record wins, so the result is the same file either way.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use kirim_core::MediaId;
use kirim_core::id::TenantPk;
use kirim_core::media::{Media, MediaDirection, MediaKind, NewMedia};
use kirim_core::store::StoreError;

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::media::{self as files, formats};
use crate::services::groups::{connect_target, connector_error};

/// How long one download from the network may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// The record of file `id`: stored already, or a received file downloaded now.
pub async fn record(state: &AppState, tenant: TenantPk, id: &MediaId) -> ApiResult<Media> {
    if let Some(media) = state.store.get_media(tenant, id).await? {
        return Ok(media);
    }
    let message = state.store.get_received_media(tenant, id).await?.ok_or_else(|| ApiError::not_found("media"))?;
    let Some(file) = message.content.media_content() else {
        return Err(ApiError::not_found("media"));
    };
    let kind: MediaKind = message.content.kind().parse().map_err(|_| ApiError::not_found("media"))?;
    let device = match state.devices.get(message.device_pk) {
        Some(entry) => entry.snapshot(),
        None => state.store.get_device_by_pk(message.device_pk).await?.ok_or_else(gone_with_device)?,
    };
    let target = connect_target(state, device)?;
    let bytes = match tokio::time::timeout(DOWNLOAD_TIMEOUT, target.connector.download_media(&target.device, &message.content)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(kirim_core::connector::ConnectorError::NotFound(why))) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "media_expired",
                format!("WhatsApp no longer has this file ({why}); ask the sender to send it again"),
            ));
        }
        Ok(Err(error)) => return Err(connector_error(error)),
        Err(_) => {
            let mut e = ApiError::unavailable("downloading the file from WhatsApp took too long; try again");
            e.retry_after_secs = Some(5);
            return Err(e);
        }
    };
    // The network's type is what the sender's app said; the bytes say it better where known.
    let mime_type = formats::sniff(&bytes)
        .into_iter()
        .find(|f| f.kind == kind || kind == MediaKind::Document)
        .map(|f| f.mime.to_owned())
        .or_else(|| file.mime_type.clone())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let new = NewMedia {
        id: id.clone(),
        tenant_pk: tenant,
        kind,
        direction: MediaDirection::Inbound,
        mime_type,
        filename: file.filename.clone(),
        size: bytes.len() as u64,
        sha256: files::sha256_hex(&bytes),
        created_at: state.clock.now(),
    };
    let bytes: Arc<[u8]> = bytes.into();
    state.media.write(id, bytes).await.map_err(|error| {
        tracing::error!(%error, "could not write a received media file");
        ApiError::unavailable("the file could not be saved (the media folder is not writable); try again")
    })?;
    match state.store.insert_media(new).await {
        Ok(media) => Ok(media),
        // Another read downloaded it first: its record names the same bytes.
        Err(StoreError::Conflict(_)) => state.store.get_media(tenant, id).await?.ok_or_else(|| ApiError::not_found("media")),
        Err(error) => Err(error.into()),
    }
}

fn gone_with_device() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "media_unavailable",
        "the device that received this file was deleted, so it can no longer be downloaded",
    )
}
