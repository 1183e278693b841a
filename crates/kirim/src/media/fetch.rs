//! Downloading a message's media `link` through the outbound guard, bounded three ways: by
//! time (all of it), by size (a `Content-Length` over the limit is refused before the body,
//! and the body is counted while it streams, so a server that lies or never ends is cut off
//! at the limit), and by type (the first bytes are sniffed as they arrive, so a web page
//! where a photo was expected is refused at once).

use std::time::Duration;

use kirim_core::media::MediaKind;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, Request};

use super::formats;
use crate::outbound::{Blocked, Outbound, OutboundError, OutboundUrl};

/// How many bytes are enough to recognise every format Kirim accepts.
const SNIFF_BYTES: usize = 4096;

/// A downloaded file.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The server's `Content-Type`, if it sent one.
    pub content_type: Option<String>,
    /// The last segment of the URL's path, when it looks like a file name.
    pub filename: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Blocked(Blocked),
    #[error("the file is larger than the limit")]
    TooLarge,
    /// The first bytes are none of the formats of the kind; what they are instead, if known.
    #[error("the file is not of the expected kind")]
    WrongType(Option<&'static str>),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the server redirects to another address; Kirim does not follow redirects, give the final address of the file")]
    Redirect,
    #[error("the download did not finish within {0} ms")]
    Timeout(u128),
    #[error("{0}")]
    Failed(String),
}

/// Downloads `url`, refusing anything over `max` bytes or not of `kind`.
pub async fn fetch(outbound: &Outbound, url: &OutboundUrl, kind: MediaKind, max: u64, timeout: Duration) -> Result<Fetched, FetchError> {
    let exchange = async {
        let mut request = Request::new(Method::GET, url.as_url().clone());
        *request.timeout_mut() = Some(timeout);
        let mut response = outbound.send(request).await.map_err(from_outbound)?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(FetchError::Redirect);
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::Status(status));
        }
        let declared_length = response.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|n| n > max) {
            return Err(FetchError::TooLarge);
        }
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut bytes = Vec::with_capacity(declared_length.unwrap_or(0).min(max) as usize);
        let mut sniffed = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| from_outbound(OutboundError::Other(e.without_url().to_string())))? {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(FetchError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
            if !sniffed && bytes.len() >= SNIFF_BYTES {
                sniffed = true;
                refuse_other_kinds(&bytes, kind)?;
            }
        }
        if !sniffed {
            refuse_other_kinds(&bytes, kind)?;
        }
        Ok(Fetched { bytes, content_type, filename: filename_of(url) })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout(timeout.as_millis())),
    }
}

/// Stops a download whose first bytes cannot be a file of `kind`.
fn refuse_other_kinds(head: &[u8], kind: MediaKind) -> Result<(), FetchError> {
    let found = formats::sniff(head);
    if found.iter().any(|f| f.kind == kind) {
        return Ok(());
    }
    Err(FetchError::WrongType(found.first().map(|f| f.name)))
}

fn from_outbound(error: OutboundError) -> FetchError {
    match error {
        OutboundError::Blocked(blocked) => FetchError::Blocked(blocked),
        OutboundError::Timeout => FetchError::Failed("the server did not answer in time".into()),
        OutboundError::Connect(why) => FetchError::Failed(format!("could not connect: {why}")),
        OutboundError::Other(why) => FetchError::Failed(why),
    }
}

/// `https://e.com/files/Invoice%20June.pdf?x=1` → `Invoice June.pdf`.
fn filename_of(url: &OutboundUrl) -> Option<String> {
    let segment = url.as_url().path_segments()?.next_back()?;
    let decoded = percent_decode(segment);
    let ok = formats::extension(&decoded).is_some() && decoded.len() <= 255 && !decoded.contains(['/', '\\', '\0']);
    ok.then_some(decoded)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_last_path_segment() {
        let url = |s: &str| OutboundUrl::parse(s).unwrap();
        assert_eq!(filename_of(&url("https://e.com/files/Invoice%20June.pdf?x=1")).as_deref(), Some("Invoice June.pdf"));
        assert_eq!(filename_of(&url("https://e.com/download")), None);
        assert_eq!(filename_of(&url("https://e.com/")), None);
        assert_eq!(filename_of(&url("https://e.com/a%2Fb.pdf")), None, "no folders sneak in");
    }
}
