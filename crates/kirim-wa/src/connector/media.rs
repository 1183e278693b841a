//! Files on WhatsApp's CDN, and where outgoing files come from.
//!
//! WhatsApp Web never sends a file inline: the sender encrypts it with a fresh media key,
//! uploads the ciphertext, and sends the key with the CDN path in the message. So a received
//! file is fully described by a [`MediaRef`] (path, key, hashes, size), and Kirim's
//! [`MediaContent`] has no field for that. The reference is kept in `MediaContent::id`, "the
//! network's id for the file", as a self-contained string (`wa1.` + base64url JSON): it outlives
//! the device's session, lets a later download decrypt the file, and lets the same file be sent
//! again without fetching or uploading it.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kirim_core::connector::ConnectorError;
use kirim_core::message::{MediaContent, MessageContent};
use serde::{Deserialize, Serialize};
use whatsapp_rust::download::MediaType;
use whatsapp_rust::upload::UploadResponse;

/// Prefix of an encoded [`MediaRef`]; the version lets the encoding change later.
pub const MEDIA_REF_PREFIX: &str = "wa1.";

/// An encrypted file on WhatsApp's CDN: everything needed to download and decrypt it, or to
/// send it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// The full CDN URL the sender's client reported, where it gave one.
    pub url: Option<String>,
    /// The path on WhatsApp's media hosts (`/v/t62.7118-24/…`).
    pub direct_path: String,
    /// The 32-byte key the file is encrypted with.
    pub media_key: Vec<u8>,
    /// SHA-256 of the plaintext file.
    pub file_sha256: Vec<u8>,
    /// SHA-256 of the encrypted file, which the CDN checks.
    pub file_enc_sha256: Vec<u8>,
    /// The plaintext size in bytes.
    pub file_length: u64,
    /// When the media key was made (unix seconds), if known.
    pub media_key_timestamp: Option<i64>,
    /// Seek table of an audio or video upload. Not part of the encoded reference (it can be
    /// long, and a file sent again plays without it).
    pub streaming_sidecar: Option<Vec<u8>>,
}

/// The JSON form of a [`MediaRef`]: one-letter keys and base64 bytes, so the id stays short.
#[derive(Serialize, Deserialize)]
struct Encoded {
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(rename = "p")]
    direct_path: String,
    #[serde(rename = "k")]
    media_key: String,
    #[serde(rename = "s")]
    file_sha256: String,
    #[serde(rename = "e")]
    file_enc_sha256: String,
    #[serde(rename = "l")]
    file_length: u64,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    media_key_timestamp: Option<i64>,
}

impl MediaRef {
    /// The reference as kept in `MediaContent::id`.
    pub fn encode(&self) -> String {
        let encoded = Encoded {
            url: self.url.clone(),
            direct_path: self.direct_path.clone(),
            media_key: STANDARD.encode(&self.media_key),
            file_sha256: STANDARD.encode(&self.file_sha256),
            file_enc_sha256: STANDARD.encode(&self.file_enc_sha256),
            file_length: self.file_length,
            media_key_timestamp: self.media_key_timestamp,
        };
        let json = serde_json::to_vec(&encoded).expect("a struct of strings and numbers serializes");
        format!("{MEDIA_REF_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Reads a reference written by [`encode`](Self::encode); `None` for any other id.
    pub fn decode(id: &str) -> Option<Self> {
        let json = URL_SAFE_NO_PAD.decode(id.strip_prefix(MEDIA_REF_PREFIX)?).ok()?;
        let e: Encoded = serde_json::from_slice(&json).ok()?;
        let bytes = |text: &str| STANDARD.decode(text).ok();
        let media_key = bytes(&e.media_key).filter(|k| k.len() == 32)?;
        Some(Self {
            url: e.url,
            direct_path: e.direct_path,
            media_key,
            file_sha256: bytes(&e.file_sha256)?,
            file_enc_sha256: bytes(&e.file_enc_sha256)?,
            file_length: e.file_length,
            media_key_timestamp: e.media_key_timestamp,
            streaming_sidecar: None,
        })
    }

    /// The reference of a media message's content, if it names a file on WhatsApp's CDN.
    pub fn of(media: &MediaContent) -> Option<Self> {
        media.id.as_deref().and_then(Self::decode)
    }
}

impl From<&UploadResponse> for MediaRef {
    fn from(upload: &UploadResponse) -> Self {
        Self {
            url: Some(upload.url.clone()),
            direct_path: upload.direct_path.clone(),
            media_key: upload.media_key.to_vec(),
            file_sha256: upload.file_sha256.to_vec(),
            file_enc_sha256: upload.file_enc_sha256.to_vec(),
            file_length: upload.file_length,
            media_key_timestamp: Some(upload.media_key_timestamp),
            streaming_sidecar: upload.streaming_sidecar.clone(),
        }
    }
}

/// How WhatsApp encrypts and files a media message of this content (the key derivation differs
/// per type); `None` for text and locations.
pub fn media_type(content: &MessageContent) -> Option<MediaType> {
    Some(match content {
        MessageContent::Image { .. } => MediaType::Image,
        MessageContent::Video { .. } => MediaType::Video,
        MessageContent::Audio { .. } => MediaType::Audio,
        MessageContent::Document { .. } => MediaType::Document,
        MessageContent::Sticker { .. } => MediaType::Sticker,
        _ => return None,
    })
}

/// Downloads and decrypts the file of a received message from WhatsApp's CDN. The library
/// checks the ciphertext's MAC and hashes; a file the CDN no longer has (media expires after
/// some weeks) is `NotFound`.
pub async fn download(client: &whatsapp_rust::Client, content: &MessageContent) -> Result<Vec<u8>, ConnectorError> {
    let (Some(kind), Some(reference)) = (media_type(content), content.media_content().and_then(MediaRef::of)) else {
        return Err(ConnectorError::NotFound("the message names no file on WhatsApp's media servers".into()));
    };
    let params = whatsapp_rust::download::DownloadParams::encrypted(
        reference.direct_path,
        &reference.media_key,
        &reference.file_sha256,
        &reference.file_enc_sha256,
        reference.file_length,
        kind,
    );
    client.download_from_params(&params).await.map_err(|error| {
        let status = error.chain().find_map(|c| c.downcast_ref::<whatsapp_rust::http::HttpStatusError>()).map(|e| e.status);
        match status {
            Some(404 | 410) => ConnectorError::NotFound(format!("the file has expired on WhatsApp's servers ({error})")),
            Some(_) | None => ConnectorError::Transient(format!("downloading the file failed: {error:#}")),
        }
    })
}

/// Where the bytes of an outgoing file come from when the message does not carry them.
///
/// Kirim's send lane hands the connector the stored bytes of every file it accepted
/// (`OutboundMessage::media`); a source is the fallback for content that names a file only by
/// its `link` (an embedder without Kirim's media store). Without either, media can only be
/// sent again from a [`MediaRef`] (a file received earlier).
#[async_trait]
pub trait MediaSource: Send + Sync {
    /// The file's bytes. Errors are reported to the send worker as they are, so a source
    /// decides what is worth retrying (an unreachable host) and what is not (a 404).
    async fn fetch(&self, media: &MediaContent) -> Result<Vec<u8>, ConnectorError>;
}

/// The error for media that cannot be sent: no [`MediaRef`], no stored bytes and no [`MediaSource`].
pub fn no_media_source(kind: &str) -> ConnectorError {
    ConnectorError::Unsupported(format!(
        "send this {kind}: WhatsApp Web uploads files from their bytes, and this message carries none \
         (no stored file, and no media source to fetch its link; a file received through WhatsApp can be sent again by its id)"
    ))
}
