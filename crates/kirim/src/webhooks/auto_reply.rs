//! Auto-reply from the webhook response (the reference 001 behaviour): when an endpoint has
//! it on, a 2xx answer to `message.received` may carry replies, which Kirim sends back to the
//! chat from the device that received the message. The answer is either plain text (one
//! reply) or JSON `{"data": [{"category": "text", "message": "…"}, …]}` with the categories
//! text, image, video, audio, document (`urlFile`, `caption`), button, template and list.
//!
//! Each reply's idempotency key is derived from the delivery, so an attempt made twice (a
//! crash between the answer and its record) does not reply twice.

use kirim_core::event::types;
use kirim_core::message::{MAX_TEXT_CHARS, MessageContent};
use kirim_core::webhook::{DeliveryJob, Webhook};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::outbound::OutboundResponse;
use crate::services::Actor;
use crate::services::messages::{self, SendInput};

/// Replies in one answer, at most.
pub const MAX_REPLIES: usize = 10;

/// What an answer asks Kirim to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text(String),
    Content(Box<MessageContent>),
    /// An unknown category, or one missing what it needs.
    Unsupported(String),
}

/// Reads the replies out of an endpoint's answer.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Vec<Reply> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Vec::new();
    }
    // Only a body meant as text is sent as text: never an HTML page or broken JSON.
    let plain = content_type.is_none_or(|c| c.trim_start().to_ascii_lowercase().starts_with("text/plain"));
    match serde_json::from_str::<Value>(trimmed) {
        Ok(value) => replies_of(&value),
        Err(_) if plain && !trimmed.starts_with(['<', '{', '[']) => vec![Reply::Text(trimmed.chars().take(MAX_TEXT_CHARS).collect())],
        Err(_) => Vec::new(),
    }
    .into_iter()
    .take(MAX_REPLIES)
    .collect()
}

fn replies_of(value: &Value) -> Vec<Reply> {
    let Some(items) = value.get("data").and_then(Value::as_array) else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| {
            let category = item.get("category").and_then(Value::as_str).unwrap_or("text");
            match category {
                "text" => {
                    let message = item.get("message").and_then(Value::as_str)?.trim();
                    (!message.is_empty()).then(|| Reply::Text(message.chars().take(MAX_TEXT_CHARS).collect()))
                }
                _ => Some(match crate::compat::wablas::content::reply_item(item) {
                    Ok(content) => Reply::Content(Box::new(content)),
                    Err(category) => Reply::Unsupported(category),
                }),
            }
        })
        .collect()
}

pub async fn maybe_reply(state: &AppState, webhook: &Webhook, job: &DeliveryJob, response: &OutboundResponse) {
    if !webhook.auto_reply || !state.config.webhooks.auto_reply || job.delivery.event_type != types::MESSAGE_RECEIVED {
        return;
    }
    let (Some(device_pk), Some(data)) = (job.device, job.data.as_ref()) else { return };
    if response.body_truncated {
        tracing::warn!(webhook = %webhook.id, "an auto-reply answer over 64 KiB was ignored");
        return;
    }
    let Some(entry) = state.devices.get(device_pk) else { return };
    let Some(chat) = data.get("from").and_then(Value::as_str) else { return };
    let content_type = response.headers.get("content-type").and_then(|v| v.to_str().ok());
    let actor = Actor { tenant_pk: webhook.tenant_pk, device: Some((device_pk, entry.id.clone())), daily_token_limit: None };
    for (i, reply) in parse(&response.body, content_type).into_iter().enumerate() {
        let content = match reply {
            Reply::Text(body) => MessageContent::text(body),
            Reply::Content(content) => *content,
            Reply::Unsupported(category) => {
                tracing::warn!(webhook = %webhook.id, %category, "an auto-reply of an unknown category, or without what it needs, was skipped");
                continue;
            }
        };
        let key = format!("auto-reply:{}:{i}", job.delivery.id);
        let input = SendInput {
            device_id: Some(entry.id.clone()),
            to: Some(chat.to_owned()),
            content,
            ref_id: None,
            priority: 5,
            request_hash: hex::encode(Sha256::digest(key.as_bytes())),
            idempotency_key: Some(key),
            reply_to: None,
            schedule: None,
            choices: Default::default(),
        };
        if let Err(error) = messages::accept(state, &actor, input).await {
            tracing::warn!(webhook = %webhook.id, error = %error.detail.message, "an auto-reply could not be queued");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_the_wablas_list_are_read() {
        assert_eq!(parse(b"  Hello too.\n", Some("text/plain")), vec![Reply::Text("Hello too.".into())]);
        assert!(parse(b"", None).is_empty());
        assert!(parse(b"null", Some("text/plain")).is_empty(), "PHP's `echo null`");
        let json = br#"{"data":[{"category":"text","message":"one"},{"category":"image","urlFile":"https://x/y.jpg"},{"message":"two"}]}"#;
        assert_eq!(
            parse(json, Some("application/json")),
            vec![
                Reply::Text("one".into()),
                Reply::Content(Box::new(
                    MessageContent::media(
                        "image",
                        kirim_core::message::MediaContent { link: Some("https://x/y.jpg".into()), ..Default::default() }
                    )
                    .unwrap()
                )),
                Reply::Text("two".into())
            ]
        );
        assert!(parse(br#"{"ok":true}"#, Some("application/json")).is_empty(), "JSON without data is an acknowledgement");
        assert!(parse(b"<oops", Some("application/json")).is_empty());
        assert!(parse(b"<html><body>Server error</body></html>", Some("text/html")).is_empty(), "never an HTML page");
        assert!(parse(b"<p>hi</p>", None).is_empty());
        assert!(parse(b"{\"broken\": ", Some("text/plain")).is_empty(), "nor broken JSON");
        assert!(parse(b"OK", Some("application/octet-stream")).is_empty());
        let many: Vec<String> = (0..20).map(|i| format!(r#"{{"category":"text","message":"m{i}"}}"#)).collect();
        assert_eq!(parse(format!(r#"{{"data":[{}]}}"#, many.join(",")).as_bytes(), None).len(), MAX_REPLIES);
    }
}
