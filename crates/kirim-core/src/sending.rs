//! Options a send carries beyond its content (secret, source tag, resend link), what a
//! secret message keeps once sent, and the store operations on many messages at once.

use async_trait::async_trait;

use crate::Timestamp;
use crate::id::{DevicePk, MessageId, TenantPk};
use crate::message::{ButtonsContent, ListContent, LocationContent, MediaContent, Message, MessageContent, PollContent, TextContent};
use crate::store::{CancelOutcome, StoreResult};

/// Longest `source` tag accepted.
pub const MAX_SOURCE_LEN: usize = 64;

/// What a send asks beyond its content; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Erase the content once the message is sent: only its metadata stays.
    pub secret: bool,
    /// A free tag to group sends by where they come from (`blog`, `crm`, …); filterable.
    pub source: Option<String>,
    /// The message this one sends again.
    pub resend_of: Option<MessageId>,
}

impl MessageContent {
    /// The same type of message with everything a person wrote or shared removed: what a
    /// secret message keeps after it was sent. Its type, a file's MIME type and the id of
    /// the message a reaction, edit or revoke refers to (metadata, not content) stay.
    pub fn erased(&self) -> MessageContent {
        let media = |m: &MediaContent| MediaContent { mime_type: m.mime_type.clone(), voice: m.voice, ..MediaContent::default() };
        match self {
            Self::Text { .. } => Self::Text { text: TextContent { body: String::new(), preview_url: false, mentions: Vec::new() } },
            Self::Image { image } => Self::Image { image: media(image) },
            Self::Video { video } => Self::Video { video: media(video) },
            Self::Audio { audio } => Self::Audio { audio: media(audio) },
            Self::Document { document } => Self::Document { document: media(document) },
            Self::Sticker { sticker } => Self::Sticker { sticker: media(sticker) },
            Self::Location { .. } => {
                Self::Location { location: LocationContent { latitude: 0.0, longitude: 0.0, name: None, address: None } }
            }
            Self::Contact { .. } => Self::Contact {
                contact: crate::message::ContactCard { name: String::new(), phone: String::new(), email: None, organization: None },
            },
            Self::List { .. } => Self::List {
                list: ListContent { header: None, body: String::new(), footer: None, button: String::new(), sections: Vec::new() },
            },
            Self::Buttons { .. } => {
                Self::Buttons { buttons: ButtonsContent { header: None, body: String::new(), footer: None, buttons: Vec::new() } }
            }
            Self::Poll { poll } => {
                Self::Poll { poll: PollContent { question: String::new(), options: Vec::new(), max_selections: poll.max_selections } }
            }
            Self::Reaction { reaction } => {
                let mut reaction = reaction.clone();
                reaction.emoji.clear();
                Self::Reaction { reaction }
            }
            Self::Edit { edit } => {
                let mut edit = edit.clone();
                edit.text.clear();
                Self::Edit { edit }
            }
            Self::Revoke { revoke } => Self::Revoke { revoke: revoke.clone() },
        }
    }
}

/// Operations on many of a tenant's messages at once, each in one transaction.
#[async_trait]
pub trait SendingStore: Send + Sync {
    /// Cancels each `scheduled` or `pending` message, with its `message.cancelled` event, and
    /// answers per id in the order given. With `device`, another device's message is `NotFound`
    /// (what a device token may see).
    async fn cancel_messages(
        &self,
        tenant: TenantPk,
        device: Option<DevicePk>,
        ids: Vec<MessageId>,
        at: Timestamp,
    ) -> StoreResult<Vec<CancelOutcome>>;
    /// Cancels up to `limit` of the tenant's `pending` messages (of one device, or all), oldest
    /// first, each with its `message.cancelled` event; returns them. Scheduled messages stay.
    async fn cancel_pending(&self, tenant: TenantPk, device: Option<DevicePk>, limit: u32, at: Timestamp) -> StoreResult<Vec<Message>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erased_content_keeps_its_type_and_nothing_written() {
        let text = MessageContent::text("my one-time code is 1234");
        assert_eq!(text.erased().kind(), "text");
        assert_eq!(text.erased().body(), Some(""));
        let image = MessageContent::media(
            "image",
            MediaContent {
                link: Some("https://x/a.jpg".into()),
                caption: Some("secret".into()),
                mime_type: Some("image/jpeg".into()),
                ..MediaContent::default()
            },
        )
        .expect("image");
        let erased = image.erased();
        let media = erased.media_content().expect("still an image");
        assert_eq!((media.link.as_deref(), media.caption.as_deref(), media.mime_type.as_deref()), (None, None, Some("image/jpeg")));
        for content in [text.erased(), erased] {
            let json = serde_json::to_string(&content).expect("json");
            assert_eq!(serde_json::from_str::<MessageContent>(&json).ok(), Some(content), "an erased content is still storable");
        }
    }
}
