//! WhatsApp messages and receipts as Kirim sees them.
//!
//! [`map_message`] and [`map_receipt`] are pure; the session resolves what needs I/O first
//! (which phone number an `@lid` sender has) and hands the answers in as a lookup.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kirim_core::connector::{InboundMessage, Receipt};
use kirim_core::message::{LocationContent, MediaContent, MessageContent, MessageStatus, TextContent};
use kirim_core::{PhoneNumber, Recipient};
use whatsapp_rust::proto_helpers::MessageExt;
use whatsapp_rust::types::events;
use whatsapp_rust::types::message::MessageInfo;
use whatsapp_rust::types::presence::ReceiptType;
use whatsapp_rust::wacore_binary::{Jid, JidExt};
use whatsapp_rust::waproto::whatsapp as wa;

use super::inbound_kinds;
pub use super::inbound_kinds::open_encrypted_edit;
use super::link::phone_of;
use super::media::MediaRef;

/// Why a message is acknowledged without being handed to Kirim. Each is something Kirim's
/// message model has no place for; acknowledging keeps the server from redelivering it forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Written by this account (from the phone or another linked device): Kirim records what
    /// the device receives, and its own sends it knows already.
    FromMe,
    /// A status update, broadcast list or channel post, not a chat.
    NotAChat,
    /// A kind of message Kirim does not model (poll votes, payments, events …), or one too
    /// incomplete to record (a reaction that names no message).
    Unsupported(&'static str),
    /// The sender is known only by a LID with no phone number on record, and Kirim addresses
    /// people by number.
    UnknownSender(String),
    /// The chat's JID is not one Kirim can address.
    BadChat(String),
}

/// The phone number of a user JID: its own digits for a phone-number JID, else what `lookup`
/// knows (for a LID). `alt` is the JID the server gave alongside (`sender_alt`), which for a
/// LID-addressed sender is usually its phone-number JID.
fn phone_for(jid: &Jid, alt: Option<&Jid>, lookup: &dyn Fn(&Jid) -> Option<PhoneNumber>) -> Option<PhoneNumber> {
    phone_of(jid).or_else(|| alt.and_then(phone_of)).or_else(|| lookup(jid))
}

/// The JIDs of `info` that need a lookup to become phone numbers: LIDs the message itself does
/// not pair with a phone-number JID.
pub fn lids_to_resolve(info: &MessageInfo) -> Vec<Jid> {
    let source = &info.source;
    let has_alt = source.sender_alt.as_ref().is_some_and(Jid::is_pn);
    let mut out = Vec::new();
    if source.sender.is_lid() && !has_alt {
        out.push(source.sender.to_non_ad());
    }
    if !source.chat.is_group() && source.chat.is_lid() && !source.chat.is_same_user_as(&source.sender) {
        out.push(source.chat.to_non_ad());
    }
    out
}

/// Maps one decrypted message. `lookup` gives the phone number of a LID (see
/// [`lids_to_resolve`]).
pub fn map_message(
    message: &wa::Message,
    info: &MessageInfo,
    lookup: &dyn Fn(&Jid) -> Option<PhoneNumber>,
) -> Result<InboundMessage, Skip> {
    let source = &info.source;
    if source.is_from_me {
        return Err(Skip::FromMe);
    }
    if source.chat.is_status_broadcast() || source.chat.is_broadcast_list() || source.chat.is_newsletter() {
        return Err(Skip::NotAChat);
    }
    let base = message.get_base_message();
    let content = content_of(base)?;
    let sender_phone = phone_for(&source.sender, source.sender_alt.as_ref(), lookup);
    let (chat, sender) = if source.chat.is_group() {
        let group = source.chat.to_non_ad().to_string();
        let chat = Recipient::group(&group).map_err(|_| Skip::BadChat(group))?;
        let phone = sender_phone.ok_or_else(|| Skip::UnknownSender(source.sender.to_non_ad().to_string()))?;
        (chat, Some(phone.to_string()))
    } else {
        // In a one-to-one chat the chat is the other person, who is also the sender.
        let phone = sender_phone
            .or_else(|| phone_for(&source.chat, None, lookup))
            .ok_or_else(|| Skip::UnknownSender(source.sender.to_non_ad().to_string()))?;
        (Recipient::Phone(phone), None)
    };
    let reply_to = context_of(base).and_then(|c| c.stanza_id.clone()).filter(|id| !id.is_empty());
    Ok(InboundMessage { network_id: info.id.clone(), chat, sender, content, reply_to, at: info.timestamp })
}

/// The context (reply, mentions) of whichever kind of message `base` is.
fn context_of(base: &wa::Message) -> Option<&wa::ContextInfo> {
    let contexts = [
        base.extended_text_message.as_option().and_then(|m| m.context_info.as_option()),
        base.image_message.as_option().and_then(|m| m.context_info.as_option()),
        base.video_message.as_option().and_then(|m| m.context_info.as_option()),
        base.audio_message.as_option().and_then(|m| m.context_info.as_option()),
        base.document_message.as_option().and_then(|m| m.context_info.as_option()),
        base.sticker_message.as_option().and_then(|m| m.context_info.as_option()),
        base.location_message.as_option().and_then(|m| m.context_info.as_option()),
        base.live_location_message.as_option().and_then(|m| m.context_info.as_option()),
        base.contact_message.as_option().and_then(|m| m.context_info.as_option()),
        base.poll_creation_message.as_option().and_then(|m| m.context_info.as_option()),
        base.poll_creation_message_v3.as_option().and_then(|m| m.context_info.as_option()),
    ];
    contexts.into_iter().flatten().next()
}

/// The CDN reference of a received file, when the message carries enough to fetch it.
fn media_ref(
    url: &Option<String>,
    direct_path: &Option<String>,
    media_key: &Option<Vec<u8>>,
    sha: &Option<Vec<u8>>,
    enc_sha: &Option<Vec<u8>>,
    length: Option<u64>,
    key_time: Option<i64>,
) -> Option<String> {
    let reference = MediaRef {
        url: url.clone(),
        direct_path: direct_path.clone().filter(|p| !p.is_empty())?,
        media_key: media_key.clone().filter(|k| k.len() == 32)?,
        file_sha256: sha.clone().unwrap_or_default(),
        file_enc_sha256: enc_sha.clone().unwrap_or_default(),
        file_length: length.unwrap_or_default(),
        media_key_timestamp: key_time,
        streaming_sidecar: None,
    };
    Some(reference.encode())
}

macro_rules! media_content {
    ($m:expr, caption: $caption:expr, filename: $filename:expr, voice: $voice:expr) => {
        MediaContent {
            link: None,
            media_id: None,
            id: media_ref(
                &$m.url,
                &$m.direct_path,
                &$m.media_key,
                &$m.file_sha256,
                &$m.file_enc_sha256,
                $m.file_length,
                $m.media_key_timestamp,
            ),
            mime_type: $m.mimetype.clone(),
            caption: $caption,
            filename: $filename,
            sha256: $m.file_sha256.as_ref().map(|s| STANDARD.encode(s)),
            size: $m.file_length,
            voice: $voice,
            base64: None,
        }
    };
}

/// The content of an unwrapped message. Files are described, not fetched: the [`MediaRef`] in
/// `MediaContent::id` is what a later download needs. Live locations arrive as their first
/// position (later updates are not messages Kirim records).
fn content_of(base: &wa::Message) -> Result<MessageContent, Skip> {
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    if let Some(text) = base.conversation.as_deref() {
        return Ok(MessageContent::text(text));
    }
    if let Some(m) = base.extended_text_message.as_option() {
        let body = m.text.clone().unwrap_or_default();
        let preview_url = m.matched_text.is_some();
        return Ok(MessageContent::Text { text: TextContent { body, preview_url, mentions: Vec::new() } });
    }
    if let Some(m) = base.image_message.as_option() {
        return Ok(MessageContent::Image { image: media_content!(m, caption: nonempty(&m.caption), filename: None, voice: false) });
    }
    if let Some(m) = base.video_message.as_option() {
        return Ok(MessageContent::Video { video: media_content!(m, caption: nonempty(&m.caption), filename: None, voice: false) });
    }
    if let Some(m) = base.audio_message.as_option() {
        let voice = m.ptt.unwrap_or(false);
        return Ok(MessageContent::Audio { audio: media_content!(m, caption: None, filename: None, voice: voice) });
    }
    if let Some(m) = base.document_message.as_option() {
        let doc = media_content!(m, caption: nonempty(&m.caption), filename: nonempty(&m.file_name), voice: false);
        return Ok(MessageContent::Document { document: doc });
    }
    if let Some(m) = base.sticker_message.as_option() {
        return Ok(MessageContent::Sticker { sticker: media_content!(m, caption: None, filename: None, voice: false) });
    }
    if let Some(m) = base.location_message.as_option() {
        let (Some(latitude), Some(longitude)) = (m.degrees_latitude, m.degrees_longitude) else {
            return Err(Skip::Unsupported("location without coordinates"));
        };
        let location = LocationContent { latitude, longitude, name: nonempty(&m.name), address: nonempty(&m.address) };
        return Ok(MessageContent::Location { location });
    }
    if let Some(m) = base.live_location_message.as_option() {
        let (Some(latitude), Some(longitude)) = (m.degrees_latitude, m.degrees_longitude) else {
            return Err(Skip::Unsupported("live location without coordinates"));
        };
        return Ok(MessageContent::Location { location: LocationContent { latitude, longitude, name: None, address: None } });
    }
    inbound_kinds::content_of(base).unwrap_or(Err(Skip::Unsupported("message type")))
}

/// The delivery reports a receipt makes, one per message it names. Only the recipient's
/// reports count (`delivered`, `read`, `played`); this account's own reads on other devices,
/// retry requests and server errors are not delivery reports.
pub fn map_receipt(receipt: &events::Receipt) -> Vec<Receipt> {
    let status = match receipt.r#type {
        ReceiptType::Delivered => MessageStatus::Delivered,
        ReceiptType::Read => MessageStatus::Read,
        ReceiptType::Played => MessageStatus::Played,
        _ => return Vec::new(),
    };
    receipt.message_ids.iter().map(|id| Receipt { network_id: id.clone(), status, at: receipt.timestamp }).collect()
}
