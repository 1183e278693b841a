//! A local file server for media links: serves small files of every kind, and misbehaves on
//! request (a body that never ends, a huge `Content-Length`, a redirect), counting what it
//! sent so a test can show Kirim stopped reading early.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The most the misbehaving routes would send: far beyond any limit.
pub const ENDLESS_BYTES: u64 = 1 << 30;
const CHUNK: usize = 64 * 1024;

/// Small files whose first bytes are what their names say.
pub fn jpeg() -> Vec<u8> {
    let mut bytes = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01".to_vec();
    bytes.extend((0..2000u32).map(|i| (i * 7 % 251) as u8));
    bytes
}

pub fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..500u32).map(|i| (i % 13) as u8));
    bytes
}

pub fn pdf() -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', 1000));
    bytes
}

pub fn mp4() -> Vec<u8> {
    let mut bytes = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 800));
    bytes
}

pub fn opus() -> Vec<u8> {
    let mut bytes = b"OggS\0\x02\0\0\0\0\0\0\0\0\x01\x02\x03\x04\0\0\0\0\x05\x06\x07\x08\x01\x13OpusHead\x01\x01\x38\x01".to_vec();
    bytes.extend(std::iter::repeat_n(1u8, 600));
    bytes
}

pub fn mp3() -> Vec<u8> {
    let mut bytes = b"ID3\x04\0\0\0\0\0\0".to_vec();
    bytes.extend(std::iter::repeat_n(2u8, 600));
    bytes
}

pub fn webp() -> Vec<u8> {
    let mut bytes = b"RIFF\x10\x00\x00\x00WEBPVP8 ".to_vec();
    bytes.extend(std::iter::repeat_n(3u8, 300));
    bytes
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A served file: its content type and bytes.
type Served = (String, Vec<u8>);

#[derive(Clone, Default)]
struct Shared {
    files: Arc<std::sync::Mutex<HashMap<String, Served>>>,
    /// Bytes the misbehaving routes have handed to the connection.
    sent: Arc<AtomicU64>,
}

pub struct FileServer {
    pub base: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn file(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    match s.files.lock().unwrap().get(&name).cloned() {
        Some((content_type, bytes)) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// JPEG-looking chunks, counted as they are handed over, until the client goes away.
fn endless(sent: Arc<AtomicU64>) -> Body {
    let mut first = jpeg();
    first.resize(CHUNK, 0);
    let stream = futures::stream::unfold((0u64, sent), move |(n, sent)| {
        let chunk = if n == 0 { first.clone() } else { vec![0x55u8; CHUNK] };
        async move {
            if n >= ENDLESS_BYTES {
                return None;
            }
            sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)), (n + CHUNK as u64, sent)))
        }
    });
    Body::from_stream(stream)
}

async fn streaming(State(s): State<Shared>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg")], endless(s.sent.clone())).into_response()
}

async fn declared_huge(State(s): State<Shared>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg".to_owned()), (header::CONTENT_LENGTH, ENDLESS_BYTES.to_string())], endless(s.sent.clone()))
        .into_response()
}

async fn redirect() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/f/photo.jpg")]).into_response()
}

impl FileServer {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/f/{name}", axum::routing::get(file))
            .route("/endless.jpg", axum::routing::get(streaming))
            .route("/huge.jpg", axum::routing::get(declared_huge))
            .route("/moved.jpg", axum::routing::get(redirect))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, shared, task }
    }

    /// Serves `bytes` at `/f/<name>` (`name` as it appears in the URL, `%20` for a space);
    /// returns its URL.
    pub fn serve(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> String {
        let decoded = name.replace("%20", " ");
        self.shared.files.lock().unwrap().insert(decoded, (content_type.to_owned(), bytes));
        self.url(&format!("/f/{name}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the misbehaving routes have sent so far.
    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::SeqCst)
    }
}

/// The boundary of the forms [`multipart`] builds.
pub const MULTIPART_BOUNDARY: &str = "kirim-test-boundary-7d1f";

/// A `multipart/form-data` body (boundary [`MULTIPART_BOUNDARY`]): the text fields, then the
/// file as the field `file`, as browsers and PHP's `CURLFile` send them.
pub fn multipart(fields: &[(&str, &str)], bytes: &[u8], name: &str, mime: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").into_bytes());
    }
    body.extend(
        format!(
            "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .into_bytes(),
    );
    body.extend(bytes);
    body.extend(format!("\r\n--{MULTIPART_BOUNDARY}--\r\n").into_bytes());
    body
}
