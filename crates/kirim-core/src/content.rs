//! What a message carries: one type per kind of WhatsApp message, in the Cloud API's JSON
//! shape (`{"type": "image", "image": {...}}`), so clients and the stored rows read alike.
//! Limits are WhatsApp's own, so a message Kirim accepts is one the network will take.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest text WhatsApp accepts in one message.
pub const MAX_TEXT_CHARS: usize = 4096;
/// The longest caption WhatsApp accepts with a media message.
pub const MAX_CAPTION_CHARS: usize = 1024;

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextContent {
    /// The text, at most 4,096 characters.
    pub body: String,
    /// Show a preview of the first link in the text.
    #[serde(default, skip_serializing_if = "is_false")]
    pub preview_url: bool,
    /// Numbers mentioned in a group (E.164); write `@60123456789` in the text where each goes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

/// A photo, video, audio clip, document or sticker, as the Cloud API describes one: where the
/// file is (Kirim's `media_id`, a `link` Kirim fetches, the bytes in `base64`, or the
/// network's media `id`) and what is known about it.
/// Every field is optional because networks report different subsets (a sticker has no
/// caption, a WhatsApp Web download has a hash and size but no public link).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MediaContent {
    /// Where the file can be downloaded (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The network's id for the file, where it has one instead of (or besides) a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The file's MIME type, e.g. `image/jpeg`, `application/pdf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The text written with the file, at most 1,024 characters (not for audio or stickers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The file name, for documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// SHA-256 of the file, hex or base64 as the network gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The file's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// An audio message recorded as a voice note (push-to-talk) rather than sent as a file.
    #[serde(default, skip_serializing_if = "is_false")]
    pub voice: bool,
    /// Kirim's id for the file (`med_…`): an upload, or a link or base64 file Kirim fetched and
    /// stored when the message was accepted, so a send after a restart has the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// The file itself, base64-encoded (standard or URL-safe alphabet, with or without
    /// padding; a `data:` URL prefix is allowed). Kirim stores it when the message is
    /// accepted and keeps only `media_id`, so stored messages never hold the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

/// A place on the map, as WhatsApp shares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LocationContent {
    /// Degrees north (−90 to 90).
    pub latitude: f64,
    /// Degrees east (−180 to 180).
    pub longitude: f64,
    /// The place's name, e.g. `Menara KL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The place's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A contact card (vCard) to share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContactCard {
    /// The name shown on the card.
    pub name: String,
    /// The contact's number (E.164 once accepted); WhatsApp offers to message it.
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

/// A message with a menu: a button opens a list of rows grouped in sections; the recipient
/// picks one and its `id` comes back in the reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListContent {
    /// A short title above the body (at most 60 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The message text (at most 4,096 characters).
    pub body: String,
    /// Small print under the body (at most 60 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    /// The label of the button that opens the list (at most 20 characters).
    pub button: String,
    /// 1 to 10 sections holding at most 10 rows in all.
    pub sections: Vec<ListSection>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListSection {
    /// Required when there are several sections (at most 24 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListRow {
    /// Returned when the row is picked (at most 200 characters); defaults to the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// At most 24 characters.
    pub title: String,
    /// At most 72 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A message with buttons under it (the template-style message of WhatsApp gateways): quick
/// replies, links and call buttons, with an optional text or media header and a footer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ButtonsContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<ButtonsHeader>,
    /// The message text (at most 1,024 characters).
    pub body: String,
    /// Small print under the body (at most 60 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    /// 1 to 10 buttons, at most 3 of them quick replies.
    pub buttons: Vec<Button>,
}

/// The header of a buttons message: a line of text or a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ButtonsHeader {
    Text { text: String },
    Image { image: MediaContent },
    Video { video: MediaContent },
    Document { document: MediaContent },
}

impl ButtonsHeader {
    pub fn media(&self) -> Option<(&'static str, &MediaContent)> {
        match self {
            Self::Text { .. } => None,
            Self::Image { image } => Some(("image", image)),
            Self::Video { video } => Some(("video", video)),
            Self::Document { document } => Some(("document", document)),
        }
    }

    pub fn media_mut(&mut self) -> Option<(&'static str, &mut MediaContent)> {
        match self {
            Self::Text { .. } => None,
            Self::Image { image } => Some(("image", image)),
            Self::Video { video } => Some(("video", video)),
            Self::Document { document } => Some(("document", document)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Button {
    /// A quick reply: the recipient taps it and its `id` (or title) comes back as a message.
    Reply {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        title: String,
    },
    /// Opens a web page.
    Url { title: String, url: String },
    /// Calls a number.
    Call { title: String, phone: String },
}

impl Button {
    pub fn title(&self) -> &str {
        match self {
            Self::Reply { title, .. } | Self::Url { title, .. } | Self::Call { title, .. } => title,
        }
    }
}

/// A poll the recipients vote in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PollContent {
    /// At most 255 characters.
    pub question: String,
    /// 2 to 12 distinct options, each at most 100 characters.
    pub options: Vec<String>,
    /// How many options one person may pick: 1 (default) up to the number of options.
    #[serde(default = "one")]
    pub max_selections: u32,
}

fn one() -> u32 {
    1
}

/// An emoji reaction to an earlier message; an empty `emoji` removes the reaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReactionContent {
    /// The Kirim id (`msg_…`) of the message reacted to, sent or received by the same device.
    pub message_id: String,
    pub emoji: String,
}

/// A new text for a text message this device sent (WhatsApp allows it for 15 minutes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EditContent {
    /// The Kirim id (`msg_…`) of the message to change.
    pub message_id: String,
    /// The new text (at most 4,096 characters).
    pub text: String,
}

/// Deletes a message this device sent, for everyone in the chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevokeContent {
    /// The Kirim id (`msg_…`) of the message to delete.
    pub message_id: String,
}

/// The earlier message a reaction, edit or revoke refers to, as the network knows it. The send
/// worker looks it up just before sending, because the target may have left only moments ago.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTarget {
    /// The target's network id.
    pub network_id: String,
    /// Whether this device sent it (else it was received).
    pub from_me: bool,
    /// In a group, who wrote a received target.
    pub sender: Option<String>,
}

/// What a message carries. The JSON form is `{"type": "text", "text": {...}}`: the type names
/// the field that holds the content, as in the WhatsApp Cloud API (`{"type": "image", "image":
/// {"link": …, "caption": …}}`), so clients and the stored JSON read the same way for every type.
/// The five media types share [`MediaContent`]: they differ only in how WhatsApp shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    Text { text: TextContent },
    Image { image: MediaContent },
    Video { video: MediaContent },
    Audio { audio: MediaContent },
    Document { document: MediaContent },
    Sticker { sticker: MediaContent },
    Location { location: LocationContent },
    Contact { contact: ContactCard },
    List { list: ListContent },
    Buttons { buttons: ButtonsContent },
    Poll { poll: PollContent },
    Reaction { reaction: ReactionContent },
    Edit { edit: EditContent },
    Revoke { revoke: RevokeContent },
}

impl MessageContent {
    /// The `type` of the JSON form; also stored in its own column to filter and count by type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::Video { .. } => "video",
            Self::Audio { .. } => "audio",
            Self::Document { .. } => "document",
            Self::Sticker { .. } => "sticker",
            Self::Location { .. } => "location",
            Self::Contact { .. } => "contact",
            Self::List { .. } => "list",
            Self::Buttons { .. } => "buttons",
            Self::Poll { .. } => "poll",
            Self::Reaction { .. } => "reaction",
            Self::Edit { .. } => "edit",
            Self::Revoke { .. } => "revoke",
        }
    }

    /// Every `type`, in the order the API documents them.
    pub const KINDS: [&'static str; 14] = [
        "text", "image", "video", "audio", "document", "sticker", "location", "contact", "list", "buttons", "poll", "reaction", "edit",
        "revoke",
    ];

    /// The Kirim id of the earlier message a reaction, edit or revoke refers to.
    pub fn target_id(&self) -> Option<&str> {
        match self {
            Self::Reaction { reaction } => Some(&reaction.message_id),
            Self::Edit { edit } => Some(&edit.message_id),
            Self::Revoke { revoke } => Some(&revoke.message_id),
            _ => None,
        }
    }

    /// The reference to the earlier message, to rewrite it: connectors hand inbound
    /// reactions, edits and revokes over naming their target by its network id, which Kirim
    /// turns into its own id where it knows the message.
    pub fn target_id_mut(&mut self) -> Option<&mut String> {
        match self {
            Self::Reaction { reaction } => Some(&mut reaction.message_id),
            Self::Edit { edit } => Some(&mut edit.message_id),
            Self::Revoke { revoke } => Some(&mut revoke.message_id),
            _ => None,
        }
    }

    /// Every file the message carries (the media itself, or a buttons message's header), with
    /// the media type it is sent as.
    pub fn files_mut(&mut self) -> Vec<(&'static str, &mut MediaContent)> {
        match self {
            Self::Image { image: m } => vec![("image", m)],
            Self::Video { video: m } => vec![("video", m)],
            Self::Audio { audio: m } => vec![("audio", m)],
            Self::Document { document: m } => vec![("document", m)],
            Self::Sticker { sticker: m } => vec![("sticker", m)],
            Self::Buttons { buttons } => buttons.header.as_mut().and_then(ButtonsHeader::media_mut).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    pub fn text(body: impl Into<String>) -> Self {
        Self::Text { text: TextContent { body: body.into(), preview_url: false, mentions: Vec::new() } }
    }

    /// A media message of type `kind` (`image`, `video`, `audio`, `document` or `sticker`);
    /// `None` for any other type.
    pub fn media(kind: &str, media: MediaContent) -> Option<Self> {
        Some(match kind {
            "image" => Self::Image { image: media },
            "video" => Self::Video { video: media },
            "audio" => Self::Audio { audio: media },
            "document" => Self::Document { document: media },
            "sticker" => Self::Sticker { sticker: media },
            _ => return None,
        })
    }

    /// The file of a media message.
    pub fn media_content(&self) -> Option<&MediaContent> {
        match self {
            Self::Image { image: m }
            | Self::Video { video: m }
            | Self::Audio { audio: m }
            | Self::Document { document: m }
            | Self::Sticker { sticker: m } => Some(m),
            _ => None,
        }
    }

    pub fn media_content_mut(&mut self) -> Option<&mut MediaContent> {
        match self {
            Self::Image { image: m }
            | Self::Video { video: m }
            | Self::Audio { audio: m }
            | Self::Document { document: m }
            | Self::Sticker { sticker: m } => Some(m),
            _ => None,
        }
    }

    /// The text of the message, if it has one (for previews, auto-replies and reports): what
    /// a person would read in the chat list. For media that is the caption the sender wrote
    /// (not the file name, which is metadata); for a location its name, else its address;
    /// a media message without a caption, or a bare pin, has none.
    pub fn body(&self) -> Option<&str> {
        match self {
            Self::Text { text } => Some(&text.body),
            Self::Location { location } => location.name.as_deref().or(location.address.as_deref()),
            Self::Contact { contact } => Some(&contact.name),
            Self::List { list } => Some(&list.body),
            Self::Buttons { buttons } => Some(&buttons.body),
            Self::Poll { poll } => Some(&poll.question),
            Self::Reaction { reaction } => Some(&reaction.emoji),
            Self::Edit { edit } => Some(&edit.text),
            Self::Revoke { .. } => None,
            _ => self.media_content().and_then(|m| m.caption.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_json_names_its_type() {
        let json = serde_json::to_value(MessageContent::text("hi")).unwrap();
        assert_eq!(json, serde_json::json!({"type": "text", "text": {"body": "hi"}}));
        let back: MessageContent = serde_json::from_value(json).unwrap();
        assert_eq!(back.body(), Some("hi"));
    }

    #[test]
    fn media_json_is_shaped_like_the_cloud_api_and_round_trips() {
        let image = MessageContent::Image {
            image: MediaContent {
                link: Some("https://example.com/a.jpg".into()),
                mime_type: Some("image/jpeg".into()),
                caption: Some("the receipt".into()),
                ..MediaContent::default()
            },
        };
        let json = serde_json::to_value(&image).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "image", "image": {"link": "https://example.com/a.jpg", "mime_type": "image/jpeg", "caption": "the receipt"}}),
            "unset fields are left out"
        );
        assert_eq!(serde_json::from_value::<MessageContent>(json).unwrap(), image);
        assert_eq!((image.kind(), image.body()), ("image", Some("the receipt")));

        let voice = MessageContent::Audio {
            audio: MediaContent {
                id: Some("wamid-media-1".into()),
                mime_type: Some("audio/ogg; codecs=opus".into()),
                sha256: Some("ab12".into()),
                size: Some(4096),
                voice: true,
                ..MediaContent::default()
            },
        };
        let json = serde_json::to_value(&voice).unwrap();
        assert_eq!(json["type"], "audio");
        assert_eq!(json["audio"]["voice"], true);
        assert_eq!(json["audio"]["size"], 4096);
        assert_eq!(serde_json::from_value::<MessageContent>(json).unwrap(), voice);
        assert_eq!(voice.body(), None, "no caption, no text");

        for kind in ["image", "video", "audio", "document", "sticker"] {
            let media = MediaContent { filename: Some("f".into()), ..MediaContent::default() };
            let content = MessageContent::media(kind, media.clone()).unwrap();
            assert_eq!(content.kind(), kind);
            assert_eq!(content.media_content(), Some(&media));
            let json = serde_json::to_value(&content).unwrap();
            assert_eq!(json, serde_json::json!({"type": kind, kind: {"filename": "f"}}));
            assert_eq!(serde_json::from_value::<MessageContent>(json).unwrap(), content);
        }
        assert_eq!(MessageContent::media("text", MediaContent::default()), None);
        assert_eq!(MessageContent::text("x").media_content(), None);
    }

    #[test]
    fn location_json_round_trips_and_reads_as_its_name() {
        let pin = MessageContent::Location {
            location: LocationContent {
                latitude: 3.1578,
                longitude: 101.7119,
                name: Some("KLCC".into()),
                address: Some("Jalan Ampang".into()),
            },
        };
        let json = serde_json::to_value(&pin).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "location", "location": {"latitude": 3.1578, "longitude": 101.7119, "name": "KLCC", "address": "Jalan Ampang"}})
        );
        assert_eq!(serde_json::from_value::<MessageContent>(json).unwrap(), pin);
        assert_eq!((pin.kind(), pin.body()), ("location", Some("KLCC")));

        let bare: MessageContent =
            serde_json::from_value(serde_json::json!({"type": "location", "location": {"latitude": -6.2, "longitude": 106.8}})).unwrap();
        assert_eq!(bare.body(), None);
        assert_eq!(serde_json::to_value(&bare).unwrap()["location"], serde_json::json!({"latitude": -6.2, "longitude": 106.8}));
        let address_only = MessageContent::Location {
            location: LocationContent { latitude: 0.0, longitude: 0.0, name: None, address: Some("somewhere".into()) },
        };
        assert_eq!(address_only.body(), Some("somewhere"));
    }

    #[test]
    fn stored_content_with_unknown_media_fields_still_reads() {
        // Stored rows outlive the code that wrote them: a field added later must not break reading.
        let json = serde_json::json!({"type": "video", "video": {"link": "https://e.com/v.mp4", "duration": 12}});
        let content: MessageContent = serde_json::from_value(json).unwrap();
        assert_eq!(content.media_content().and_then(|m| m.link.as_deref()), Some("https://e.com/v.mp4"));
        assert!(serde_json::from_value::<MessageContent>(serde_json::json!({"type": "poll", "poll": {}})).is_err());
        assert!(serde_json::from_value::<MessageContent>(serde_json::json!({"type": "hologram", "hologram": {}})).is_err());
    }
}

#[cfg(test)]
mod kinds {
    use serde_json::json;

    use super::*;

    /// One example of every type, as a client would write it.
    pub fn examples() -> Vec<serde_json::Value> {
        vec![
            json!({"type": "text", "text": {"body": "hi @60123456789", "mentions": ["+60123456789"]}}),
            json!({"type": "image", "image": {"link": "https://e.com/a.jpg"}}),
            json!({"type": "video", "video": {"media_id": "med_1"}}),
            json!({"type": "audio", "audio": {"media_id": "med_1", "voice": true}}),
            json!({"type": "document", "document": {"media_id": "med_1", "filename": "a.pdf"}}),
            json!({"type": "sticker", "sticker": {"media_id": "med_1"}}),
            json!({"type": "location", "location": {"latitude": 1.5, "longitude": 2.5}}),
            json!({"type": "contact", "contact": {"name": "Siti", "phone": "+60123456789"}}),
            json!({"type": "list", "list": {"body": "Pick", "button": "Menu", "sections": [{"rows": [{"id": "a", "title": "A"}]}]}}),
            json!({"type": "buttons", "buttons": {"header": {"type": "text", "text": "Hi"}, "body": "Go?", "buttons": [
                {"type": "reply", "id": "yes", "title": "Yes"}, {"type": "url", "title": "Site", "url": "https://e.com"},
                {"type": "call", "title": "Call us", "phone": "+60123456789"}]}}),
            json!({"type": "poll", "poll": {"question": "When?", "options": ["Mon", "Tue"], "max_selections": 1}}),
            json!({"type": "reaction", "reaction": {"message_id": "msg_1", "emoji": "👍"}}),
            json!({"type": "edit", "edit": {"message_id": "msg_1", "text": "fixed"}}),
            json!({"type": "revoke", "revoke": {"message_id": "msg_1"}}),
        ]
    }

    #[test]
    fn every_kind_round_trips_in_its_documented_shape() {
        let examples = examples();
        assert_eq!(examples.len(), MessageContent::KINDS.len());
        for (json, kind) in examples.into_iter().zip(MessageContent::KINDS) {
            let content: MessageContent = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(content.kind(), kind);
            assert_eq!(serde_json::to_value(&content).unwrap(), json, "{kind} reads back as written");
        }
    }

    #[test]
    fn targets_and_files_are_found_where_they_live() {
        let reaction: MessageContent = serde_json::from_value(examples()[11].clone()).unwrap();
        assert_eq!(reaction.target_id(), Some("msg_1"));
        assert_eq!(MessageContent::text("x").target_id(), None);
        let mut buttons: MessageContent = serde_json::from_value(json!({"type": "buttons", "buttons": {
            "header": {"type": "document", "document": {"link": "https://e.com/a.pdf"}}, "body": "b", "buttons": [{"type": "reply", "title": "ok"}]}}))
        .unwrap();
        let files = buttons.files_mut();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "document");
        let poll: MessageContent =
            serde_json::from_value(json!({"type": "poll", "poll": {"question": "q", "options": ["a", "b"]}})).unwrap();
        assert!(matches!(poll, MessageContent::Poll { poll } if poll.max_selections == 1), "one choice unless told otherwise");
    }
}
