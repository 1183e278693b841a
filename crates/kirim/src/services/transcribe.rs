//! Voice-note transcription through an OpenAI-compatible `POST /v1/audio/transcriptions`
//! endpoint (multipart: `file`, `model`; answer `{"text": "…"}`), which whisper.cpp's
//! server, faster-whisper servers and hosted services all speak. The endpoint is the
//! operator's (configuration, not a tenant's input), so it is called directly rather than
//! through the outbound guard, with a total timeout and no redirects.

use std::time::Duration;

use rand::RngCore;

use crate::config::TranscriptionConfig;

/// The longest transcription kept (a voice note of several minutes fits easily).
const MAX_TEXT_CHARS: usize = 20_000;

pub struct Transcriber {
    client: reqwest::Client,
    url: url::Url,
    model: String,
    api_key: Option<kirim_core::Secret>,
}

impl Transcriber {
    /// `None` when no endpoint is configured.
    pub fn from_config(config: &TranscriptionConfig) -> Option<Self> {
        let url = config.url.clone()?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        Some(Self { client, url, model: config.model.clone(), api_key: config.api_key.clone() })
    }

    /// The text of the recording, or why there is none (for the timeline, never secret).
    pub async fn transcribe(&self, bytes: &[u8], mime_type: &str, filename: &str) -> Result<String, String> {
        let mut random = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut random);
        let boundary = format!("kirim-{}", hex::encode(random));
        let body = multipart(&boundary, bytes, mime_type, filename, &self.model);
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                "the transcriber did not answer in time".to_owned()
            } else {
                format!("the transcriber could not be reached: {e}")
            }
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("the transcriber's answer could not be read: {e}"))?;
        if !status.is_success() {
            let snippet: String = text.chars().take(200).collect();
            return Err(format!("the transcriber answered {status}: {snippet}"));
        }
        let transcript = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(json) => json
                .get("text")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
                .ok_or_else(|| "the transcriber's answer has no `text`".to_owned())?,
            // `response_format=text` servers answer the bare text.
            Err(_) => text,
        };
        Ok(transcript.trim().chars().take(MAX_TEXT_CHARS).collect())
    }
}

/// A `multipart/form-data` body with the file and the model.
fn multipart(boundary: &str, bytes: &[u8], mime_type: &str, filename: &str, model: &str) -> Vec<u8> {
    let safe = |s: &str| s.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect::<String>();
    let mut body = Vec::with_capacity(bytes.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
            safe(filename),
            safe(mime_type)
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{}\r\n--{boundary}\r\n\
             Content-Disposition: form-data; name=\"response_format\"\r\n\r\njson\r\n--{boundary}--\r\n",
            safe(model)
        )
        .as_bytes(),
    );
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_file_and_the_model() {
        let body = String::from_utf8(multipart("b", b"OggS", "audio/ogg", "note\".ogg", "whisper-1")).unwrap();
        assert!(body.starts_with(
            "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.ogg\"\r\nContent-Type: audio/ogg\r\n\r\nOggS\r\n"
        ));
        assert!(body.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"));
        assert!(body.ends_with("--b--\r\n"));
    }
}
