//! Media files on disk, and what a file must be to be stored.
//!
//! Bytes live in `<data_dir>/media/<media id>`; their records (kind, type, size, SHA-256) are
//! in the store. A file is written to a temporary name, flushed to disk and renamed, so a
//! crash never leaves a half-written file under a real name, and the record is written only
//! after the rename, so a record never names a missing file. Every read checks the bytes
//! against the recorded SHA-256, so a file damaged on disk is never sent.

pub mod fetch;
pub mod formats;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kirim_core::MediaId;
use kirim_core::media::{Media, MediaFile, MediaKind};
use sha2::{Digest, Sha256};

use crate::http::error::{ApiError, ApiResult};
use formats::Format;

/// Prefix of files being written; they are removed at start (a crash left them).
const PARTIAL_PREFIX: &str = ".partial-";

/// Why a stored file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the file of media {0} is missing from the media folder")]
    Missing(MediaId),
    #[error("the file of media {0} is damaged (its SHA-256 no longer matches)")]
    Damaged(MediaId),
    #[error("could not read media {0}: {1}")]
    Io(MediaId, std::io::Error),
}

/// The media folder.
#[derive(Debug, Clone)]
pub struct MediaFiles {
    dir: PathBuf,
}

impl MediaFiles {
    /// Opens (creating) the folder and removes files a crash left half-written.
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(PARTIAL_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self { dir })
    }

    fn path(&self, id: &MediaId) -> PathBuf {
        // An id is a prefix and base32: safe as a file name, never a path.
        self.dir.join(id.as_str())
    }

    /// Writes `bytes` as the file of `id`: temporary file, fsync, rename, fsync of the folder.
    pub async fn write(&self, id: &MediaId, bytes: Arc<[u8]>) -> std::io::Result<()> {
        let (dir, path) = (self.dir.clone(), self.path(id));
        let partial = self.dir.join(format!("{PARTIAL_PREFIX}{id}"));
        tokio::task::spawn_blocking(move || {
            let result = (|| {
                let mut file = std::fs::File::create(&partial)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                drop(file);
                std::fs::rename(&partial, &path)?;
                sync_dir(&dir)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            result
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The bytes of `media`, checked against its SHA-256.
    pub async fn read(&self, media: &Media) -> Result<MediaFile, ReadError> {
        let (path, id) = (self.path(&media.id), media.id.clone());
        let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .map_err(|e| ReadError::Io(id.clone(), std::io::Error::other(e)))?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => ReadError::Missing(media.id.clone()),
                _ => ReadError::Io(media.id.clone(), e),
            })?;
        if sha256_hex(&bytes) != media.sha256 {
            return Err(ReadError::Damaged(media.id.clone()));
        }
        Ok(MediaFile {
            id: media.id.clone(),
            kind: media.kind,
            mime_type: media.mime_type.clone(),
            filename: media.filename.clone(),
            sha256: media.sha256.clone(),
            bytes: bytes.into(),
        })
    }

    /// Removes the file of `id` (gone already is fine).
    pub async fn remove(&self, id: &MediaId) -> std::io::Result<()> {
        let path = self.path(id);
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Makes a rename durable: the folder's entry is flushed too (a no-op where folders cannot
/// be opened, as on Windows).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::File::open(dir) {
        Ok(handle) => handle.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where the parts of a file came from in the request, to name them in errors.
#[derive(Debug, Clone)]
pub struct Fields {
    /// The bytes (`file`, `data`, `image.base64`, `image.link`).
    pub bytes: String,
    pub mime_type: String,
    pub filename: String,
}

/// What a file must be: of `kind`, within its size limit, and what its declared type and
/// name say it is. Returns the format it was recognised as.
pub fn check(
    kind: MediaKind,
    bytes: &[u8],
    declared: Option<&str>,
    filename: Option<&str>,
    max: u64,
    fields: &Fields,
) -> ApiResult<Format> {
    if bytes.len() as u64 > max {
        return Err(too_large(&fields.bytes, kind, max));
    }
    if bytes.is_empty() {
        return Err(ApiError::field(&fields.bytes, format!("`{}` is empty; send the file's bytes", fields.bytes)));
    }
    let candidates = formats::sniff(bytes);
    let Some(found) = candidates.first().copied() else {
        return Err(wrong_type(&fields.bytes, format!("`{}` is not a file type WhatsApp takes as {kind}", fields.bytes), kind));
    };
    let of_kind: Vec<Format> = candidates.into_iter().filter(|f| f.kind == kind).collect();
    if of_kind.is_empty() {
        return Err(wrong_type(&fields.bytes, format!("`{}` is {}, not {}", fields.bytes, found.name, article(kind)), kind));
    }
    let declared = declared.map(str::trim).filter(|d| !d.is_empty());
    if let Some(declared) = declared
        && !of_kind.iter().any(|f| formats::mime_matches(f, declared))
    {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "media_type_mismatch",
            format!("`{}` says {declared}, but the file is {}; give its real type or leave it out", fields.mime_type, of_kind[0].name),
        )
        .with_field(&fields.mime_type));
    }
    let ext = filename.and_then(formats::extension);
    if let Some(ext) = &ext
        && !of_kind.iter().any(|f| f.exts.contains(&ext.as_str()))
    {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "media_type_mismatch",
            format!("`{}` ends in .{ext}, but the file is {}; name it .{}", fields.filename, of_kind[0].name, of_kind[0].exts[0]),
        )
        .with_field(&fields.filename));
    }
    let exact = declared.and_then(|d| of_kind.iter().find(|f| formats::essence(f.mime) == formats::essence(d)));
    let by_ext = ext.and_then(|e| of_kind.iter().find(|f| f.exts.contains(&e.as_str())));
    let loose = declared.and_then(|d| of_kind.iter().find(|f| formats::mime_matches(f, d)));
    Ok(*exact.or(by_ext).or(loose).unwrap_or(&of_kind[0]))
}

fn article(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "an image",
        MediaKind::Video => "a video",
        MediaKind::Audio => "an audio file",
        MediaKind::Document => "a document",
        MediaKind::Sticker => "a sticker",
    }
}

fn wrong_type(field: &str, what: String, kind: MediaKind) -> ApiError {
    let hint = if kind == MediaKind::Image { " (send WebP images as a sticker)" } else { "" };
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "media_type_unsupported",
        format!("{what}; {} must be one of: {}{hint}", article(kind), formats::accepted(kind)),
    )
    .with_field(field)
}

/// The error for a file over its kind's limit.
pub fn too_large(field: &str, kind: MediaKind, max: u64) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "media_too_large",
        format!("`{field}` is larger than {}, the most this server accepts for {}", human(max), article(kind)),
    )
    .with_field(field)
}

/// `2097152` → `2 MB`, `512000` → `500 KB`.
pub fn human(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KB", bytes / 1024)
    } else if bytes >= 1000 && bytes.is_multiple_of(1000) {
        format!("{} KB", bytes / 1000)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields { bytes: "file".into(), mime_type: "mime_type".into(), filename: "filename".into() }
    }

    fn refused(kind: MediaKind, bytes: &[u8], declared: Option<&str>, name: Option<&str>, max: u64) -> (u16, String, String) {
        let e = check(kind, bytes, declared, name, max, &fields()).unwrap_err();
        (e.status.as_u16(), e.code().to_owned(), e.detail.field.unwrap_or_default())
    }

    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n";
    const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00";

    #[test]
    fn a_file_is_what_its_bytes_say() {
        assert_eq!(check(MediaKind::Image, JPEG, Some("image/jpeg"), Some("a.jpg"), 1000, &fields()).unwrap().mime, "image/jpeg");
        assert_eq!(check(MediaKind::Document, PDF, None, None, 1000, &fields()).unwrap().mime, "application/pdf");
        assert_eq!(check(MediaKind::Document, b"a,b\n1,2\n", Some("text/csv"), None, 1000, &fields()).unwrap().mime, "text/csv");
        assert_eq!(check(MediaKind::Document, b"a,b\n1,2\n", None, Some("list.csv"), 1000, &fields()).unwrap().mime, "text/csv");
        assert_eq!(
            refused(MediaKind::Image, PDF, Some("image/jpeg"), None, 1000),
            (422, "media_type_unsupported".into(), "file".into()),
            "a PDF is not an image, whatever its type says"
        );
        assert_eq!(refused(MediaKind::Image, JPEG, Some("image/png"), None, 1000), (422, "media_type_mismatch".into(), "mime_type".into()));
        assert_eq!(refused(MediaKind::Image, JPEG, None, Some("a.pdf"), 1000), (422, "media_type_mismatch".into(), "filename".into()));
        assert_eq!(refused(MediaKind::Image, JPEG, None, None, 4), (413, "media_too_large".into(), "file".into()));
        assert_eq!(refused(MediaKind::Document, b"\x00\x01\x02\x03", None, None, 100).2, "file");
        assert_eq!(refused(MediaKind::Audio, b"", None, None, 100).0, 422);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(2 * 1024 * 1024), "2 MB");
        assert_eq!(human(512_000), "500 KB");
        assert_eq!(human(1500), "1500 bytes");
    }
}
