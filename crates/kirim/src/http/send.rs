//! `POST /v1/messages`: the request of a send, and its mapping onto the message content.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kirim_core::id::DeviceId;
use kirim_core::message::{
    ButtonsContent, ContactCard, EditContent, ListContent, LocationContent, MediaContent, MessageContent, PollContent, ReactionContent,
    RevokeContent, TextContent,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use super::messages::MessageView;
use crate::app::AppState;
use crate::services::messages::{self, SendInput};
use crate::services::schedule;

/// A text as a plain string (`"text": "Hello"`) or with options (`"text": {"body": "Hello", "preview_url": true}`).
#[derive(Debug, Clone, ToSchema)]
pub enum TextInput {
    Plain(String),
    Full(TextContent),
}

/// By hand rather than `untagged`, so an error inside the object still names its field
/// (`text.body`) instead of "did not match any variant".
impl<'de> Deserialize<'de> for TextInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TextInput;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the text as a string, or an object such as {\"body\": \"Hello\"}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TextInput, E> {
                Ok(TextInput::Plain(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TextInput, A::Error> {
                TextContent::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(TextInput::Full)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl From<TextInput> for TextContent {
    fn from(input: TextInput) -> Self {
        match input {
            TextInput::Plain(body) => TextContent { body, preview_url: false, mentions: Vec::new() },
            TextInput::Full(text) => text,
        }
    }
}

/// A message to send: `type` names the field that holds the content, e.g.
/// `{"to": "+60123456789", "type": "image", "image": {"link": "https://…/a.jpg", "caption": "Hi"}}`.
/// `type` may be left out when exactly one content field is given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The device to send from. Omit to let Kirim pick a connected device (a device token always uses its own).
    pub device_id: Option<String>,
    /// The recipient: a phone number in any common form (`+60 12-345 6789`, `60123456789`,
    /// `012-345 6789` with a default country) or a group JID (`…@g.us`). A reaction, edit or
    /// revoke may leave it out: it goes to the chat of the message it refers to.
    #[serde(default, deserialize_with = "super::opt_string_or_number")]
    #[schema(value_type = Option<String>, example = "+60123456789")]
    pub to: Option<String>,
    /// text, image, video, audio, document, sticker, location, contact, list, buttons, poll,
    /// reaction, edit or revoke.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub text: Option<TextInput>,
    pub image: Option<MediaContent>,
    pub video: Option<MediaContent>,
    /// Set `voice: true` to send a voice note.
    pub audio: Option<MediaContent>,
    pub document: Option<MediaContent>,
    pub sticker: Option<MediaContent>,
    pub location: Option<LocationContent>,
    pub contact: Option<ContactCard>,
    pub list: Option<ListContent>,
    pub buttons: Option<ButtonsContent>,
    pub poll: Option<PollContent>,
    pub reaction: Option<ReactionContent>,
    pub edit: Option<EditContent>,
    pub revoke: Option<RevokeContent>,
    /// Your own reference, returned in events and usable as an idempotency key.
    pub ref_id: Option<String>,
    /// 0 (normal, default) to 10 (most urgent): higher priority messages leave first.
    pub priority: Option<i32>,
    /// The network id of a message to reply to (quote).
    pub reply_to: Option<String>,
    /// Send later: `2026-05-20T13:20:00+07:00`, or `2026-05-20 13:20:00` read in `timezone`.
    /// The message is `scheduled` until then. A time that has just passed sends now.
    pub scheduled_at: Option<String>,
    /// The IANA time zone of a wall-clock `scheduled_at` (default UTC), e.g. `Asia/Jakarta`.
    pub timezone: Option<String>,
}

impl SendMessage {
    /// Every content field that was given, with its type.
    fn given(self) -> Vec<MessageContent> {
        let media = |kind: &str, m: Option<MediaContent>| m.and_then(|m| MessageContent::media(kind, m));
        [
            self.text.map(|text| MessageContent::Text { text: text.into() }),
            media("image", self.image),
            media("video", self.video),
            media("audio", self.audio),
            media("document", self.document),
            media("sticker", self.sticker),
            self.location.map(|location| MessageContent::Location { location }),
            self.contact.map(|contact| MessageContent::Contact { contact }),
            self.list.map(|list| MessageContent::List { list }),
            self.buttons.map(|buttons| MessageContent::Buttons { buttons }),
            self.poll.map(|poll| MessageContent::Poll { poll }),
            self.reaction.map(|reaction| MessageContent::Reaction { reaction }),
            self.edit.map(|edit| MessageContent::Edit { edit }),
            self.revoke.map(|revoke| MessageContent::Revoke { revoke }),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The content named by `type`, which must be the only content field given.
pub fn content(kind: Option<&str>, given: Vec<MessageContent>) -> ApiResult<MessageContent> {
    let kinds = MessageContent::KINDS.join(", ");
    if let Some(kind) = kind
        && !MessageContent::KINDS.contains(&kind)
    {
        return Err(ApiError::field("type", format!("`type` `{kind}` is not a message type; use one of {kinds}")));
    }
    let mut given = given;
    match (kind, given.len()) {
        (None, 0) => Err(ApiError::field(
            "type",
            format!("say what to send: `type` ({kinds}) and its field, e.g. {{\"type\": \"text\", \"text\": \"Hello\"}}"),
        )),
        (None, 1) => Ok(given.remove(0)),
        (None, _) => {
            let names: Vec<&str> = given.iter().map(|c| c.kind()).collect();
            Err(ApiError::field(
                "type",
                format!("several contents given ({}); send one per message and name it in `type`", names.join(", ")),
            ))
        }
        (Some(kind), _) => {
            if let Some(other) = given.iter().find(|c| c.kind() != kind) {
                let other = other.kind();
                return Err(ApiError::field(other, format!("`{other}` does not go with `type` `{kind}`; send one content per message")));
            }
            given.pop().ok_or_else(|| ApiError::field(kind, format!("`{kind}` is required when `type` is `{kind}`")))
        }
    }
}

/// Queue a message. `202` means it is committed: it will be sent even if the server restarts.
/// Repeating a request with the same `Idempotency-Key` (or `ref_id`) returns the original message.
#[utoipa::path(post, path = "/v1/messages", tag = "messages", request_body = SendMessage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body return the original message")),
    responses((status = 202, body = MessageView), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn send(State(state): State<AppState>, auth: TenantAuth, headers: HeaderMap, body: ApiJson<SendMessage>) -> ApiResult<Response> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::field("Idempotency-Key", "`Idempotency-Key` must be visible ASCII"))?.to_owned()),
        None => None,
    };
    let mut request = body.value;
    let device_id = match request.device_id.take() {
        Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
        None => None,
    };
    let (to, ref_id, priority, reply_to, kind) =
        (request.to.take(), request.ref_id.take(), request.priority.take(), request.reply_to.take(), request.kind.take());
    let schedule = schedule::parse(request.scheduled_at.take().as_deref(), request.timezone.take().as_deref(), state.clock.now())?;
    let input = SendInput {
        content: content(kind.as_deref(), request.given())?,
        device_id,
        to,
        ref_id,
        priority: priority.unwrap_or(0),
        idempotency_key,
        request_hash: body.body_hash,
        reply_to,
        schedule,
    };
    let accepted = messages::accept(&state, &(&auth).into(), input).await?;
    let mut response = (StatusCode::ACCEPTED, Json(MessageView::new(accepted.message, false))).into_response();
    if accepted.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
