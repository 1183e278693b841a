//! Kirim's outbound messages as WhatsApp messages.
//!
//! The pure part ([`network_id`], [`recipient_jid`], [`text_message`], [`location_message`],
//! [`media_message`], [`quote_context`]) builds protocol messages and is tested field by field;
//! `prepare` adds the I/O a media message needs (fetching the bytes, uploading them).
//!
//! Media messages are built here from a [`MediaRef`] rather than with the library's
//! `media::*_message` builders: those take an `UploadResponse`, which cannot be constructed
//! outside the library, so a message built from a file received earlier (and every test) would
//! need a second path anyway. The fields are the ones those builders set.

use std::sync::Arc;

use kirim_core::Recipient;
use kirim_core::connector::ConnectorError;
use kirim_core::id::MessageId;
use kirim_core::media::MediaFile;
use kirim_core::message::{ContactCard, LocationContent, MediaContent, MessageContent, MessageTarget, TextContent};
use sha2::{Digest, Sha256};
use whatsapp_rust::Client;
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::proto_helpers::{MessageBuilderExt, MessageExt};
use whatsapp_rust::upload::UploadOptions;
use whatsapp_rust::wacore_binary::{Jid, JidExt};
use whatsapp_rust::waproto::whatsapp as wa;

use super::errors;
use super::media::{MediaRef, MediaSource, media_type, no_media_source};

/// WhatsApp Web's message ids are `3EB0` and 18 upper-case hex digits.
const ID_PREFIX: &str = "3EB0";

/// The WhatsApp id of a Kirim message. Kirim's ids (`msg_…`, base32) are not in WhatsApp Web's
/// format, and the network is only guaranteed to accept ids of its own shape, so the id is
/// derived: the same Kirim id always gives the same WhatsApp id, which keeps a repeat after a
/// crash recognisable, and 72 bits of SHA-256 keep two messages from sharing one.
pub fn network_id(id: &MessageId) -> String {
    let digest = Sha256::digest(id.as_str().as_bytes());
    let mut out = String::with_capacity(22);
    out.push_str(ID_PREFIX);
    for byte in &digest[..9] {
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

/// The JID a recipient is reached at: `digits@s.whatsapp.net` for a number, the group's JID as is.
pub fn recipient_jid(to: &Recipient) -> Result<Jid, ConnectorError> {
    match to {
        Recipient::Phone(phone) => Ok(Jid::pn(phone.digits())),
        Recipient::Group(group) => match group.parse::<Jid>() {
            Ok(jid) if jid.is_group() => Ok(jid),
            _ => Err(ConnectorError::Permanent(format!("`{group}` is not a WhatsApp group id"))),
        },
    }
}

/// A message that can be quoted: who wrote it (their JID) and what it said.
#[derive(Debug, Clone)]
pub struct Quoted {
    pub participant: String,
    pub message: Arc<wa::Message>,
}

/// The reply context for a message answering `reply_to` (a WhatsApp message id). With the
/// quoted message at hand (it passed through this session recently), the reply shows the quote
/// as WhatsApp clients do; without it, only the id is sent, which links the reply to the
/// message on phones that still have it.
pub fn quote_context(reply_to: &str, quoted: Option<&Quoted>) -> wa::ContextInfo {
    let mut context = wa::ContextInfo { stanza_id: Some(reply_to.to_owned()), ..Default::default() };
    if let Some(quoted) = quoted {
        context.participant = Some(quoted.participant.clone());
        context.quoted_message = MessageField::from_box(quoted.message.prepare_for_quote());
    }
    context
}

/// The JIDs of the numbers a text mentions (E.164, as Kirim stores them).
pub fn mention_jids(mentions: &[String]) -> Vec<String> {
    mentions.iter().map(|m| Jid::pn(m.trim_start_matches('+')).to_string()).collect()
}

/// Adds the mentions of `text` to the reply context (or to a new one): WhatsApp carries both
/// in the same `ContextInfo`.
pub fn with_mentions(text: &TextContent, context: Option<wa::ContextInfo>) -> Option<wa::ContextInfo> {
    if text.mentions.is_empty() {
        return context;
    }
    let mut context = context.unwrap_or_default();
    context.mentioned_jid = mention_jids(&text.mentions);
    Some(context)
}

/// A text message: a plain `conversation`, or an extended text once it carries a reply context
/// or mentions (as WhatsApp Web does). Link previews are not generated: WhatsApp Web builds them on the
/// sender's side from the fetched page, which Kirim does not fetch.
pub fn text_message(text: &TextContent, context: Option<wa::ContextInfo>) -> wa::Message {
    match context {
        Some(context) => wa::Message::text_with_context(text.body.clone(), context),
        None => wa::Message::text(text.body.clone()),
    }
}

/// Escapes a vCard value (RFC 6350 §3.4: backslash, comma, semicolon and newlines).
fn vcard_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The vCard WhatsApp shows as a contact card; `waid` makes the number tappable to chat.
pub fn vcard(card: &ContactCard) -> String {
    let digits = card.phone.trim_start_matches('+');
    let mut v = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{}\r\n", vcard_escape(&card.name));
    if let Some(org) = &card.organization {
        v.push_str(&format!("ORG:{}\r\n", vcard_escape(org)));
    }
    v.push_str(&format!("TEL;type=CELL;waid={digits}:{}\r\n", card.phone));
    if let Some(email) = &card.email {
        v.push_str(&format!("EMAIL:{}\r\n", vcard_escape(email)));
    }
    v.push_str("END:VCARD");
    v
}

/// A contact card.
pub fn contact_message(card: &ContactCard, context: Option<wa::ContextInfo>) -> wa::Message {
    wa::Message {
        contact_message: MessageField::some(wa::message::ContactMessage {
            display_name: Some(card.name.clone()),
            vcard: Some(vcard(card)),
            context_info: context.map(MessageField::some).unwrap_or_default(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The key of the message a reaction points at: in a group, a received message also names its
/// author, or phones cannot attribute it.
pub fn target_key(chat: &Jid, target: &MessageTarget) -> wa::MessageKey {
    wa::MessageKey {
        remote_jid: Some(chat.to_string()),
        from_me: Some(target.from_me),
        id: Some(target.network_id.clone()),
        participant: match (&target.sender, target.from_me, chat.is_group()) {
            (Some(sender), false, true) => Some(Jid::pn(sender.trim_start_matches('+')).to_string()),
            _ => None,
        },
    }
}

/// A location pin.
pub fn location_message(location: &LocationContent, context: Option<wa::ContextInfo>) -> wa::Message {
    wa::Message {
        location_message: MessageField::some(wa::message::LocationMessage {
            degrees_latitude: Some(location.latitude),
            degrees_longitude: Some(location.longitude),
            name: location.name.clone(),
            address: location.address.clone(),
            context_info: context.map(MessageField::some).unwrap_or_default(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A media message for `content` whose file is `file` on the CDN. Unset MIME types get
/// WhatsApp's defaults for the kind; an audio marked `voice` is sent as a voice note (PTT).
/// Captions go where WhatsApp shows them (image, video, document); audio and stickers have none.
pub fn media_message(content: &MessageContent, file: &MediaRef, context: Option<wa::ContextInfo>) -> Result<wa::Message, ConnectorError> {
    let media = content.media_content().ok_or_else(|| ConnectorError::Permanent(format!("a {} message has no file", content.kind())))?;
    let mime = |default: &str| Some(media.mime_type.clone().unwrap_or_else(|| default.to_owned()));
    let context = || context.clone().map(MessageField::some).unwrap_or_default();
    let mut message = wa::Message::default();
    match content {
        MessageContent::Image { .. } => {
            message.image_message = MessageField::some(wa::message::ImageMessage {
                url: file.url.clone(),
                direct_path: Some(file.direct_path.clone()),
                media_key: Some(file.media_key.clone()),
                file_sha256: Some(file.file_sha256.clone()),
                file_enc_sha256: Some(file.file_enc_sha256.clone()),
                file_length: Some(file.file_length),
                media_key_timestamp: file.media_key_timestamp,
                mimetype: mime("image/jpeg"),
                caption: media.caption.clone(),
                context_info: context(),
                ..Default::default()
            });
        }
        MessageContent::Video { .. } => {
            message.video_message = MessageField::some(wa::message::VideoMessage {
                url: file.url.clone(),
                direct_path: Some(file.direct_path.clone()),
                media_key: Some(file.media_key.clone()),
                file_sha256: Some(file.file_sha256.clone()),
                file_enc_sha256: Some(file.file_enc_sha256.clone()),
                file_length: Some(file.file_length),
                media_key_timestamp: file.media_key_timestamp,
                streaming_sidecar: file.streaming_sidecar.clone(),
                mimetype: mime("video/mp4"),
                caption: media.caption.clone(),
                context_info: context(),
                ..Default::default()
            });
        }
        MessageContent::Audio { .. } => {
            message.audio_message = MessageField::some(wa::message::AudioMessage {
                url: file.url.clone(),
                direct_path: Some(file.direct_path.clone()),
                media_key: Some(file.media_key.clone()),
                file_sha256: Some(file.file_sha256.clone()),
                file_enc_sha256: Some(file.file_enc_sha256.clone()),
                file_length: Some(file.file_length),
                media_key_timestamp: file.media_key_timestamp,
                streaming_sidecar: file.streaming_sidecar.clone(),
                mimetype: mime("audio/ogg; codecs=opus"),
                ptt: media.voice.then_some(true),
                context_info: context(),
                ..Default::default()
            });
        }
        MessageContent::Document { .. } => {
            message.document_message = MessageField::some(wa::message::DocumentMessage {
                url: file.url.clone(),
                direct_path: Some(file.direct_path.clone()),
                media_key: Some(file.media_key.clone()),
                file_sha256: Some(file.file_sha256.clone()),
                file_enc_sha256: Some(file.file_enc_sha256.clone()),
                file_length: Some(file.file_length),
                media_key_timestamp: file.media_key_timestamp,
                mimetype: mime("application/octet-stream"),
                file_name: media.filename.clone(),
                title: media.filename.clone(),
                caption: media.caption.clone(),
                context_info: context(),
                ..Default::default()
            });
        }
        MessageContent::Sticker { .. } => {
            message.sticker_message = MessageField::some(wa::message::StickerMessage {
                url: file.url.clone(),
                direct_path: Some(file.direct_path.clone()),
                media_key: Some(file.media_key.clone()),
                file_sha256: Some(file.file_sha256.clone()),
                file_enc_sha256: Some(file.file_enc_sha256.clone()),
                file_length: Some(file.file_length),
                media_key_timestamp: file.media_key_timestamp,
                mimetype: mime("image/webp"),
                context_info: context(),
                ..Default::default()
            });
        }
        _ => return Err(ConnectorError::Permanent(format!("a {} message has no file", content.kind()))),
    }
    Ok(message)
}

/// The content with what Kirim knows of its stored file filled in (the type its bytes were
/// recognised as, a document's file name), so WhatsApp shows the file as what it is.
pub fn with_file_details(content: &MessageContent, file: Option<&MediaFile>) -> MessageContent {
    let mut content = content.clone();
    if let (Some(file), Some((_, media))) = (file, content.files_mut().into_iter().next()) {
        media.mime_type = Some(file.mime_type.clone());
        if media.filename.is_none() {
            media.filename.clone_from(&file.filename);
        }
    }
    content
}

/// Whether the file of `content` (if it has one) can be sent: it is on WhatsApp's CDN already
/// (a [`MediaRef`]), or a media source can fetch it.
pub fn check_file(content: &MessageContent, have_source: bool) -> Result<(), ConnectorError> {
    match content.media_content() {
        Some(media) if !have_source && MediaRef::of(media).is_none() => Err(no_media_source(content.kind())),
        _ => Ok(()),
    }
}

/// The protocol message for `content`, uploading its file first if it has to be.
///
/// A file that names a [`MediaRef`] (received through WhatsApp) is sent again from the CDN as
/// is; any other file is uploaded from the bytes Kirim stored (`file`), or else from what
/// `source` fetches, and without either the message is refused with `Unsupported` rather
/// than sent without its file.
pub(crate) async fn prepare(
    client: &Client,
    content: &MessageContent,
    context: Option<wa::ContextInfo>,
    file: Option<&MediaFile>,
    source: Option<&dyn MediaSource>,
) -> Result<wa::Message, ConnectorError> {
    match content {
        MessageContent::Text { text } => Ok(text_message(text, with_mentions(text, context))),
        MessageContent::Location { location } => Ok(location_message(location, context)),
        MessageContent::Contact { contact } => Ok(contact_message(contact, context)),
        MessageContent::Image { .. }
        | MessageContent::Video { .. }
        | MessageContent::Audio { .. }
        | MessageContent::Document { .. }
        | MessageContent::Sticker { .. } => {
            let media: &MediaContent = content.media_content().expect("every other kind is media");
            let uploaded = match MediaRef::of(media) {
                Some(uploaded) => uploaded,
                None => {
                    let bytes = match (file, source) {
                        (Some(file), _) => file.bytes.to_vec(),
                        (None, Some(source)) => source.fetch(media).await?,
                        (None, None) => return Err(no_media_source(content.kind())),
                    };
                    let kind = media_type(content).expect("a media kind");
                    let upload = client.upload(bytes, kind, UploadOptions::default()).await.map_err(|e| errors::upload_error(&e))?;
                    MediaRef::from(&upload)
                }
            };
            let content = with_file_details(content, file);
            media_message(&content, &uploaded, context)
        }
        other => Err(ConnectorError::Unsupported(format!("send a {} message through WhatsApp Web", other.kind()))),
    }
}
