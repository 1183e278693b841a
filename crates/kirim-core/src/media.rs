//! Stored media files: what Kirim knows about each file (the bytes live beside the database,
//! named by the id), and the [`MediaStore`] that keeps those records, scoped by tenant.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Timestamp;
use crate::id::{MediaId, MediaPk, TenantPk};
use crate::store::StoreResult;

/// How WhatsApp shows a file; each kind has its own formats and size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl MediaKind {
    pub const ALL: [MediaKind; 5] = [Self::Image, Self::Video, Self::Audio, Self::Document, Self::Sticker];

    /// The name, which is also the message `type` that sends a file of this kind.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
        }
    }
}

impl FromStr for MediaKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a stored file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaDirection {
    /// Sent to Kirim by the client (`POST /v1/media`, or base64 inside a message).
    Upload,
    /// Downloaded by Kirim from a message's `link` when the message was accepted.
    Fetched,
    /// Received from WhatsApp with an inbound message.
    Inbound,
}

impl MediaDirection {
    pub const ALL: [MediaDirection; 3] = [Self::Upload, Self::Fetched, Self::Inbound];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Fetched => "fetched",
            Self::Inbound => "inbound",
        }
    }
}

impl FromStr for MediaDirection {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

/// A file to record. Its bytes are already on disk under `id` (written first, so a record
/// never names a file that is not there).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMedia {
    pub id: MediaId,
    pub tenant_pk: TenantPk,
    pub kind: MediaKind,
    pub direction: MediaDirection,
    /// The type the bytes were recognised as, e.g. `image/jpeg`, `audio/ogg; codecs=opus`.
    pub mime_type: String,
    pub filename: Option<String>,
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex: checked again on every read.
    pub sha256: String,
    pub created_at: Timestamp,
}

/// A stored file's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub pk: MediaPk,
    pub id: MediaId,
    pub tenant_pk: TenantPk,
    pub kind: MediaKind,
    pub direction: MediaDirection,
    pub mime_type: String,
    pub filename: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub created_at: Timestamp,
}

/// A file's bytes with what a connector needs to send them, loaded (and checked against
/// their checksum) by the send lane just before the send.
#[derive(Clone, PartialEq)]
pub struct MediaFile {
    pub id: MediaId,
    pub kind: MediaKind,
    pub mime_type: String,
    pub filename: Option<String>,
    /// SHA-256 of `bytes`, lowercase hex.
    pub sha256: String,
    pub bytes: Arc<[u8]>,
}

impl fmt::Debug for MediaFile {
    // The bytes would flood every log line that shows a message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaFile")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("mime_type", &self.mime_type)
            .field("filename", &self.filename)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// Records of stored files. The files themselves are the app's (they live in
/// `<data_dir>/media`); the store keeps what is known about them, per tenant.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// `Conflict` when the id exists.
    async fn insert_media(&self, media: NewMedia) -> StoreResult<Media>;
    async fn get_media(&self, tenant: TenantPk, id: &MediaId) -> StoreResult<Option<Media>>;
    /// By id (oldest first), after the cursor.
    async fn list_media(&self, tenant: TenantPk, after: Option<&MediaId>, limit: u32) -> StoreResult<Vec<Media>>;
    /// Deletes the record (and its received-file entry) and returns it; `None` when the tenant
    /// has no such stored file (a received file not downloaded yet is left to
    /// `delete_received_media`).
    async fn delete_media(&self, tenant: TenantPk, id: &MediaId) -> StoreResult<Option<Media>>;
    /// The inbound message whose content names this not-yet-downloaded received file by
    /// `media_id` (entries are written with the message, see `insert_inbound`).
    async fn get_received_media(&self, tenant: TenantPk, id: &MediaId) -> StoreResult<Option<crate::message::Message>>;
    /// Forgets a received file that was never downloaded; `false` when there is none.
    async fn delete_received_media(&self, tenant: TenantPk, id: &MediaId) -> StoreResult<bool>;
}
