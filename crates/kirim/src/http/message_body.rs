//! A message's content given on its own (a reminder's message, an auto-reply's reply), in the
//! same shape as `POST /v1/messages`: `{"type": "text", "text": "Hello"}`.

use kirim_core::message::{ButtonsContent, ContactCard, ListContent, LocationContent, MediaContent, MessageContent, PollContent};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiResult;
use super::send::TextInput;

/// What to send: `type` names the field that holds the content (it may be left out when
/// only one is given). Reactions, edits and revokes are sent at once, never from here.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// text, image, video, audio, document, sticker, location, contact, list, buttons or poll.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub text: Option<TextInput>,
    pub image: Option<MediaContent>,
    pub video: Option<MediaContent>,
    pub audio: Option<MediaContent>,
    pub document: Option<MediaContent>,
    pub sticker: Option<MediaContent>,
    pub location: Option<LocationContent>,
    pub contact: Option<ContactCard>,
    pub list: Option<ListContent>,
    pub buttons: Option<ButtonsContent>,
    pub poll: Option<PollContent>,
}

impl MessageBody {
    /// The one content given, checked against `type` (field names are prefixed with `field`).
    pub fn content(self, field: &str) -> ApiResult<MessageContent> {
        let media = |kind: &str, m: Option<MediaContent>| m.and_then(|m| MessageContent::media(kind, m));
        let given: Vec<MessageContent> = [
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
        ]
        .into_iter()
        .flatten()
        .collect();
        super::send::content(self.kind.as_deref(), given).map_err(|mut e| {
            if let Some(f) = e.detail.field.take() {
                e.detail.field = Some(format!("{field}.{f}"));
            }
            e
        })
    }
}
