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
use kirim_core::sending::SendOptions;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use super::messages::MessageView;
use crate::app::AppState;
use crate::services::messages::{self, SendInput};
use crate::services::schedule;
use crate::services::sending::{self, DeviceChoice, SendChoices};

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
    /// Several recipients (at most 100) as a comma list (`"60123456789,60198765432"`) or an
    /// array: one message each, and the response lists them all.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "+60123456789")]
    pub to: Option<ToInput>,
    /// A contact group (its id or name) to broadcast to: one message per member; blacklisted
    /// members are skipped and listed in `skipped`. May be combined with `to`.
    pub to_contact_group: Option<String>,
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
    /// Erase the content once the message is sent: the API then shows it as erased
    /// (`content: null`), keeping its metadata.
    pub secret: Option<bool>,
    /// A tag to group sends by where they come from (`crm`, `blog`; at most 64 characters);
    /// `GET /v1/messages?source=…` filters by it.
    pub source: Option<String>,
    /// Retries on transient failures: `true` (the device's `max_attempts`, the default),
    /// `false` (one attempt only), or the most attempts (1 to 100).
    #[schema(value_type = Option<u32>)]
    pub retry: Option<RetryInput>,
    /// How Kirim picks the device when `device_id` is left out: `auto` (connected devices
    /// take turns, the default) or `random`.
    pub device: Option<String>,
    /// Expand spintax (`{Hi|Hello}`) and contact placeholders (`{name}`, `{email}`,
    /// `{address}`, `{birthday}`, `{phone}`, custom fields) for each recipient. Off by default.
    pub spintax: Option<bool>,
}

/// `to` as one string (maybe a comma list), a number, or an array of them.
#[derive(Debug, Clone)]
pub enum ToInput {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for ToInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ToInput;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a phone number or group as a string, a comma list, or an array of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ToInput, E> {
                Ok(ToInput::One(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ToInput, E> {
                Ok(ToInput::One(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ToInput, E> {
                Ok(ToInput::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ToInput, A::Error> {
                #[derive(Deserialize)]
                struct One(#[serde(deserialize_with = "super::string_or_number")] String);
                let mut all = Vec::new();
                while let Some(One(item)) = seq.next_element()? {
                    all.push(item);
                }
                Ok(ToInput::Many(all))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl ToInput {
    /// The recipients, and whether the client asked for a list (an array or a comma list).
    pub fn recipients(self) -> (Vec<String>, bool) {
        match self {
            Self::One(raw) if raw.contains(',') => {
                (raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(), true)
            }
            Self::One(raw) => (vec![raw], false),
            Self::Many(all) => (all, true),
        }
    }
}

/// `retry`: a flag or the most attempts.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum RetryInput {
    Flag(bool),
    Attempts(u32),
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

/// The `Idempotency-Key` header, if given.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        Some(v) => {
            Ok(Some(v.to_str().map_err(|_| ApiError::field("Idempotency-Key", "`Idempotency-Key` must be visible ASCII"))?.to_owned()))
        }
        None => Ok(None),
    }
}

/// A request's options, checked.
fn choices(request: &mut SendMessage) -> ApiResult<SendChoices> {
    let device = match request.device.take() {
        Some(_) if request.device_id.is_some() => {
            return Err(ApiError::field("device", "give `device_id` (that device) or `device` (how Kirim picks one), not both"));
        }
        Some(raw) => DeviceChoice::parse(&raw)?,
        None => DeviceChoice::Auto,
    };
    let max_attempts = match request.retry.take() {
        None | Some(RetryInput::Flag(true)) => None,
        Some(RetryInput::Flag(false)) => Some(1),
        Some(RetryInput::Attempts(n)) => Some(n),
    };
    let choices = SendChoices {
        options: SendOptions { secret: request.secret.take().unwrap_or(false), source: request.source.take(), resend_of: None },
        max_attempts,
        device,
        spintax: request.spintax.take().unwrap_or(false),
    };
    choices.check()?;
    Ok(choices)
}

/// What a send request asks, apart from its recipients: the input of every message it makes.
pub fn input(state: &AppState, mut request: SendMessage, idempotency_key: Option<String>, request_hash: String) -> ApiResult<SendInput> {
    let choices = choices(&mut request)?;
    let device_id = match request.device_id.take() {
        Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
        None => None,
    };
    let (ref_id, priority, reply_to, kind) = (request.ref_id.take(), request.priority.take(), request.reply_to.take(), request.kind.take());
    let schedule = schedule::parse(request.scheduled_at.take().as_deref(), request.timezone.take().as_deref(), state.clock.now())?;
    Ok(SendInput {
        content: content(kind.as_deref(), request.given())?,
        device_id,
        to: None,
        ref_id,
        priority: priority.unwrap_or(0),
        idempotency_key,
        request_hash,
        reply_to,
        schedule,
        choices,
    })
}

/// The answer to a send: the message for one recipient, or the list for several.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Sent {
    One(Box<MessageView>),
    Many(SentMany),
}

/// Several messages accepted by one request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentMany {
    /// One message per recipient, in the order given (a contact group's members after `to`).
    pub data: Vec<MessageView>,
    /// Recipients left out: `blacklisted`, `duplicate` (named twice), or
    /// `idempotency_key_reused`.
    pub skipped: Vec<SkippedView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedView {
    pub to: String,
    pub reason: &'static str,
}

/// Queue a message. `202` means it is committed: it will be sent even if the server restarts.
/// Repeating a request with the same `Idempotency-Key` (or `ref_id`) returns the original message.
/// With several recipients (a comma list, an array, or `to_contact_group`) the response is
/// `{"data": [...], "skipped": [...]}`, every message committed together.
#[utoipa::path(post, path = "/v1/messages", tag = "messages", request_body = SendMessage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body return the original message")),
    responses((status = 202, body = Sent, description = "The message, or for several recipients `{\"data\": [...], \"skipped\": [...]}`"),
        (status = 422, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn send(State(state): State<AppState>, auth: TenantAuth, headers: HeaderMap, body: ApiJson<SendMessage>) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let mut request = body.value;
    let (mut recipients, listed) = request.to.take().map(ToInput::recipients).unwrap_or_default();
    let group = request.to_contact_group.take();
    let mut input = input(&state, request, key, body.body_hash)?;
    let actor: crate::services::Actor = (&auth).into();
    if group.is_none() && !listed && recipients.len() <= 1 {
        input.to = recipients.pop();
        let accepted = messages::accept(&state, &actor, input).await?;
        let mut response = (StatusCode::ACCEPTED, Json(Sent::One(Box::new(MessageView::new(accepted.message, false))))).into_response();
        if accepted.replayed {
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        return Ok(response);
    }
    let sent = sending::send_many(&state, &actor, input, recipients, group.as_deref()).await?;
    let replayed = !sent.accepted.is_empty() && sent.accepted.iter().all(|a| a.replayed);
    let body = SentMany {
        data: sent.accepted.into_iter().map(|a| MessageView::new(a.message, false)).collect(),
        skipped: sent.skipped.into_iter().map(|s| SkippedView { to: s.to.to_string(), reason: s.reason }).collect(),
    };
    let mut response = (StatusCode::ACCEPTED, Json(Sent::Many(body))).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
