//! Messages: content, direction and the forward-only status machine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{DeviceId, DevicePk, MessageId, MessagePk, TenantPk};
use crate::{Recipient, Timestamp};

/// The longest text WhatsApp accepts in one message.
pub const MAX_TEXT_CHARS: usize = 4096;
/// The longest caption WhatsApp accepts with a media message.
pub const MAX_CAPTION_CHARS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Direction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        }
    }
}

impl FromStr for Direction {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "outbound" => Ok(Self::Outbound),
            "inbound" => Ok(Self::Inbound),
            _ => Err(()),
        }
    }
}

/// `pending → sending → sent → delivered → read (→ played)`, or `failed` / `cancelled`;
/// inbound messages are `received` (then `read` once the device reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Pending,
    Sending,
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
    Cancelled,
    Received,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 9] = [
        Self::Pending,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Played,
        Self::Failed,
        Self::Cancelled,
        Self::Received,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Received => "received",
        }
    }

    /// Position on the delivery path; receipts may only raise it.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Sending => 1,
            Self::Sent | Self::Received => 2,
            Self::Delivered => 3,
            Self::Read => 4,
            Self::Played => 5,
            Self::Failed | Self::Cancelled => 9,
        }
    }

    /// A receipt (`sent`, `delivered`, `read`, `played`) applies only if it moves the message forward,
    /// so a late `delivered` never overwrites `read`.
    pub fn accepts_receipt(&self, receipt: MessageStatus) -> bool {
        matches!(receipt, Self::Sent | Self::Delivered | Self::Read | Self::Played)
            && !matches!(self, Self::Failed | Self::Cancelled | Self::Pending)
            && receipt.rank() > self.rank()
    }

    pub fn is_final(&self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled | Self::Read | Self::Played)
    }
}

impl FromStr for MessageStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or(())
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextContent {
    /// The text, at most 4,096 characters.
    pub body: String,
    /// Show a preview of the first link in the text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview_url: bool,
}

/// A photo, video, audio clip, document or sticker, as the Cloud API describes one: where the
/// file is (`link`, or the network's media `id`) and what is known about it. Kirim records
/// these fields; it does not download the file, so a receiver fetches it from `link` itself.
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
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub voice: bool,
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
        }
    }

    pub fn text(body: impl Into<String>) -> Self {
        Self::Text { text: TextContent { body: body.into(), preview_url: false } }
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
            Self::Text { .. } | Self::Location { .. } => None,
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
            _ => self.media_content().and_then(|m| m.caption.as_deref()),
        }
    }
}

/// One step of a message's history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: MessageStatus,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub pk: MessagePk,
    pub id: MessageId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub device_id: DeviceId,
    pub direction: Direction,
    /// The other side: the recipient of an outbound message, the chat of an inbound one.
    pub chat: Recipient,
    /// In a group chat, the member who wrote an inbound message.
    pub sender: Option<String>,
    pub content: MessageContent,
    pub status: MessageStatus,
    pub priority: i32,
    pub ref_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request that created it, to tell an idempotent retry from a conflicting reuse.
    pub request_hash: Option<String>,
    /// The id the network knows this message by.
    pub network_id: Option<String>,
    /// The network id of the message this one replies to.
    pub reply_to: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    pub played_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl Message {
    /// Every status the message went through, with its time, oldest first.
    pub fn history(&self) -> Vec<StatusChange> {
        let first = match self.direction {
            Direction::Outbound => MessageStatus::Pending,
            Direction::Inbound => MessageStatus::Received,
        };
        let mut steps = vec![StatusChange { status: first, at: self.created_at }];
        let later = [
            (MessageStatus::Sent, self.sent_at),
            (MessageStatus::Delivered, self.delivered_at),
            (MessageStatus::Read, self.read_at),
            (MessageStatus::Played, self.played_at),
            (MessageStatus::Failed, self.failed_at),
            (MessageStatus::Cancelled, self.cancelled_at),
        ];
        for (status, at) in later {
            if let Some(at) = at
                && status != first
            {
                steps.push(StatusChange { status, at });
            }
        }
        steps.sort_by_key(|s| s.at);
        steps
    }
}

/// An outbound message to insert; the store assigns `pk` and writes the `message.queued` event.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub id: MessageId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub chat: Recipient,
    pub content: MessageContent,
    pub priority: i32,
    pub ref_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub reply_to: Option<String>,
    pub max_attempts: u32,
    /// When the message may first be tried (now, or a scheduled time).
    pub not_before: Timestamp,
    pub created_at: Timestamp,
}

/// A message a device received; stored before the connector acknowledges it.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub id: MessageId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub network_id: String,
    pub chat: Recipient,
    pub sender: Option<String>,
    pub content: MessageContent,
    pub reply_to: Option<String>,
    pub received_at: Timestamp,
}

/// How one attempt to send ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Sent {
        network_id: String,
    },
    /// Back to pending, to be tried again at `at`.
    Retry {
        at: Timestamp,
        error: String,
    },
    Failed {
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_only_move_forward() {
        use MessageStatus::*;
        assert!(Sending.accepts_receipt(Sent));
        assert!(Sent.accepts_receipt(Delivered));
        assert!(Sent.accepts_receipt(Read), "a read may arrive without a delivered");
        assert!(!Read.accepts_receipt(Delivered), "a late delivered never overwrites read");
        assert!(!Failed.accepts_receipt(Delivered));
        assert!(!Delivered.accepts_receipt(Pending));
        for s in MessageStatus::ALL {
            assert_eq!(s.as_str().parse::<MessageStatus>(), Ok(s));
        }
    }

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
    }
}
