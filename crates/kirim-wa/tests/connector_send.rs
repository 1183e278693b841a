//! Kirim's outbound messages as WhatsApp messages, field by field, and library errors as
//! connector errors.

use std::sync::Arc;
use std::time::Duration;

use kirim_core::connector::ConnectorError;
use kirim_core::id::MessageId;
use kirim_core::media::{MediaFile, MediaKind};
use kirim_core::message::{ContactCard, LocationContent, MediaContent, MessageContent, MessageTarget, TextContent};
use kirim_core::{PhoneNumber, Recipient};
use kirim_wa::connector::MediaRef;
use kirim_wa::connector::errors::{iq_error, send_error, server_refusal, upload_error};
use kirim_wa::connector::media::{media_type, no_media_source};
use kirim_wa::connector::send::{
    Quoted, contact_message, location_message, media_message, network_id, quote_context, recipient_jid, target_key, text_message,
    vcard as vcard_of, with_mentions,
};
use whatsapp_rust::download::MediaType;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{ClientError, IqError, SendError};

#[test]
fn message_ids_become_whatsapp_shaped_ids_deterministically() {
    let id: MessageId = "msg_01jd3w5x8mq2v7h4k9r6t0b1cz".parse().unwrap();
    let wa_id = network_id(&id);
    assert_eq!(wa_id.len(), 22);
    assert!(wa_id.starts_with("3EB0") && wa_id[4..].bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)), "{wa_id}");
    assert_eq!(network_id(&id), wa_id, "a retry after a crash sends the same id");
    assert_ne!(network_id(&"msg_01jd3w5x8mq2v7h4k9r6t0b1cy".parse().unwrap()), wa_id);
    assert_eq!(
        wa_id, "3EB048FC75EB6D015361CC",
        "SHA-256 of the id (as `sha256sum` gives it); stable across releases, since stored receipts refer to it"
    );
}

#[test]
fn recipients_become_jids() {
    let phone = Recipient::Phone(PhoneNumber::parse("+60123456789", None).unwrap());
    assert_eq!(recipient_jid(&phone).unwrap().to_string(), "60123456789@s.whatsapp.net");
    let group = Recipient::group("120363025246125888").unwrap();
    assert_eq!(recipient_jid(&group).unwrap().to_string(), "120363025246125888@g.us");
    let odd = Recipient::from_stored("12345@broadcast@g.us".into());
    assert!(matches!(recipient_jid(&odd), Err(ConnectorError::Permanent(_))));
}

#[test]
fn text_is_a_conversation_until_it_quotes() {
    let body = TextContent { body: "hello".into(), preview_url: true, mentions: Vec::new() };
    let plain = text_message(&body, None);
    assert_eq!(plain.conversation.as_deref(), Some("hello"));
    assert!(plain.extended_text_message.is_unset());

    let quoted = Quoted {
        participant: "60111111111@s.whatsapp.net".into(),
        message: Arc::new(wa::Message { conversation: Some("the question".into()), ..Default::default() }),
    };
    let reply = text_message(&body, Some(quote_context("3EB0QUESTION", Some(&quoted))));
    assert_eq!(reply.conversation, None);
    let extended = reply.extended_text_message.as_option().expect("an extended text");
    assert_eq!(extended.text.as_deref(), Some("hello"));
    let context = extended.context_info.as_option().unwrap();
    assert_eq!((context.stanza_id.as_deref(), context.participant.as_deref()), (Some("3EB0QUESTION"), Some("60111111111@s.whatsapp.net")));
    assert_eq!(context.quoted_message.as_option().and_then(|m| m.conversation.as_deref()), Some("the question"));
}

#[test]
fn a_reply_to_an_unknown_message_carries_only_its_id() {
    let context = quote_context("3EB0GONE", None);
    assert_eq!(context.stanza_id.as_deref(), Some("3EB0GONE"));
    assert_eq!(context.participant, None);
    assert!(context.quoted_message.is_unset());
}

#[test]
fn a_location_is_a_pin() {
    let location = LocationContent { latitude: -6.2, longitude: 106.8, name: Some("Monas".into()), address: None };
    let message = location_message(&location, Some(quote_context("3EB0X", None)));
    let pin = message.location_message.as_option().unwrap();
    assert_eq!((pin.degrees_latitude, pin.degrees_longitude), (Some(-6.2), Some(106.8)));
    assert_eq!((pin.name.as_deref(), pin.address.as_deref()), (Some("Monas"), None));
    assert_eq!(pin.context_info.as_option().and_then(|c| c.stanza_id.as_deref()), Some("3EB0X"));
}

fn file() -> MediaRef {
    MediaRef {
        url: Some("https://mmg.whatsapp.net/d/f/abc.enc".into()),
        direct_path: "/d/f/abc.enc".into(),
        media_key: vec![3; 32],
        file_sha256: vec![4; 32],
        file_enc_sha256: vec![5; 32],
        file_length: 2048,
        media_key_timestamp: Some(1_700_000_000),
        streaming_sidecar: Some(vec![6; 10]),
    }
}

#[test]
fn an_image_carries_the_cdn_file_and_its_caption() {
    let content = MessageContent::Image { image: MediaContent { caption: Some("look".into()), ..MediaContent::default() } };
    let message = media_message(&content, &file(), None).unwrap();
    let image = message.image_message.as_option().unwrap();
    assert_eq!((image.url.as_deref(), image.direct_path.as_deref()), (Some("https://mmg.whatsapp.net/d/f/abc.enc"), Some("/d/f/abc.enc")));
    assert_eq!(
        (image.media_key.clone(), image.file_sha256.clone(), image.file_enc_sha256.clone()),
        (Some(vec![3; 32]), Some(vec![4; 32]), Some(vec![5; 32]))
    );
    assert_eq!((image.file_length, image.media_key_timestamp), (Some(2048), Some(1_700_000_000)));
    assert_eq!((image.mimetype.as_deref(), image.caption.as_deref()), (Some("image/jpeg"), Some("look")), "WhatsApp's default type");
}

#[test]
fn a_voice_note_is_sent_as_push_to_talk() {
    let voice = MessageContent::Audio { audio: MediaContent { voice: true, caption: Some("ignored".into()), ..MediaContent::default() } };
    let audio = media_message(&voice, &file(), None).unwrap().audio_message.into_option().unwrap();
    assert_eq!(audio.ptt, Some(true));
    assert_eq!(audio.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
    assert_eq!(audio.streaming_sidecar, Some(vec![6; 10]), "the upload's seek table");
    let clip = MessageContent::Audio { audio: MediaContent { mime_type: Some("audio/mpeg".into()), ..MediaContent::default() } };
    let audio = media_message(&clip, &file(), None).unwrap().audio_message.into_option().unwrap();
    assert_eq!((audio.ptt, audio.mimetype.as_deref()), (None, Some("audio/mpeg")));
}

#[test]
fn a_document_keeps_its_file_name() {
    let content = MessageContent::Document {
        document: MediaContent {
            filename: Some("invoice.pdf".into()),
            mime_type: Some("application/pdf".into()),
            caption: Some("June".into()),
            ..MediaContent::default()
        },
    };
    let message = media_message(&content, &file(), Some(quote_context("3EB0Q", None))).unwrap();
    let document = message.document_message.as_option().unwrap();
    assert_eq!(
        (document.file_name.as_deref(), document.mimetype.as_deref(), document.caption.as_deref()),
        (Some("invoice.pdf"), Some("application/pdf"), Some("June"))
    );
    assert_eq!(document.context_info.as_option().and_then(|c| c.stanza_id.as_deref()), Some("3EB0Q"));
}

#[test]
fn videos_and_stickers_get_their_own_messages() {
    let video = MessageContent::Video { video: MediaContent::default() };
    let message = media_message(&video, &file(), None).unwrap();
    assert_eq!(message.video_message.as_option().and_then(|v| v.mimetype.as_deref()), Some("video/mp4"));
    let sticker = MessageContent::Sticker { sticker: MediaContent::default() };
    let message = media_message(&sticker, &file(), None).unwrap();
    let sticker = message.sticker_message.as_option().unwrap();
    assert_eq!((sticker.mimetype.as_deref(), sticker.direct_path.as_deref()), (Some("image/webp"), Some("/d/f/abc.enc")));
    assert!(message.image_message.is_unset());
    assert!(media_message(&MessageContent::text("no file"), &file(), None).is_err());
}

#[test]
fn media_kinds_pick_their_encryption() {
    let media = MediaContent::default();
    assert_eq!(media_type(&MessageContent::media("image", media.clone()).unwrap()), Some(MediaType::Image));
    assert_eq!(media_type(&MessageContent::media("sticker", media.clone()).unwrap()), Some(MediaType::Sticker));
    assert_eq!(media_type(&MessageContent::media("document", media).unwrap()), Some(MediaType::Document));
    assert_eq!(media_type(&MessageContent::text("x")), None);
    let refused = no_media_source("image");
    assert!(matches!(&refused, ConnectorError::Unsupported(why) if why.contains("image") && why.contains("media source")));
    assert!(!refused.is_retryable());
}

#[test]
fn connection_problems_wait_for_the_device() {
    assert_eq!(send_error(&SendError::NotLoggedIn), ConnectorError::NotConnected);
    assert_eq!(send_error(&SendError::Client(ClientError::NotConnected)), ConnectorError::NotConnected);
    assert_eq!(send_error(&SendError::Iq(IqError::NotConnected)), ConnectorError::NotConnected);
    assert_eq!(iq_error(&IqError::InternalChannelClosed), ConnectorError::NotConnected);
    assert!(send_error(&SendError::NotLoggedIn).is_retryable());
}

#[test]
fn server_refusals_are_permanent_unless_they_say_to_slow_down() {
    let refusal = |code, backoff| IqError::ServerError { code, text: "item-not-found".into(), error_type: None, backoff };
    assert!(
        matches!(iq_error(&refusal(404, None)), ConnectorError::Permanent(why) if why.contains("404") && why.contains("item-not-found"))
    );
    assert_eq!(iq_error(&refusal(429, None)), ConnectorError::RateLimited { retry_after: None });
    assert_eq!(iq_error(&refusal(400, Some(30))), ConnectorError::RateLimited { retry_after: Some(Duration::from_secs(30)) });
    assert!(matches!(iq_error(&refusal(503, Some(30))), ConnectorError::Transient(_)), "a failing server passes");
    assert!(matches!(server_refusal(500, "", None), ConnectorError::Transient(why) if why.contains("code 500")));
    assert!(matches!(iq_error(&IqError::Timeout), ConnectorError::Transient(_)));
}

#[test]
fn invalid_requests_are_permanent_and_the_rest_is_transient() {
    assert!(
        matches!(send_error(&SendError::InvalidRequest("empty id".into())), ConnectorError::Permanent(why) if why.contains("empty id"))
    );
    let internal = send_error(&SendError::Internal(anyhow::anyhow!("sender key missing")));
    assert!(matches!(&internal, ConnectorError::Transient(why) if why.contains("sender key missing")));
    assert!(internal.is_retryable());
    assert!(matches!(upload_error(&anyhow::anyhow!("all media hosts failed")), ConnectorError::Transient(_)));
    assert_eq!(upload_error(&anyhow::Error::new(ClientError::NotConnected)), ConnectorError::NotConnected);
}

#[test]
fn only_files_kirim_can_get_at_are_sendable() {
    use kirim_wa::connector::send::check_file;
    let linked =
        MessageContent::Image { image: MediaContent { link: Some("https://example.com/a.jpg".into()), ..MediaContent::default() } };
    assert!(matches!(check_file(&linked, false), Err(ConnectorError::Unsupported(_))));
    assert_eq!(check_file(&linked, true), Ok(()), "a media source fetches it");
    let received = MessageContent::Image { image: MediaContent { id: Some(file().encode()), ..MediaContent::default() } };
    assert_eq!(check_file(&received, false), Ok(()), "already on WhatsApp's CDN");
    assert_eq!(check_file(&MessageContent::text("x"), false), Ok(()));
}

/// A file Kirim stored, as the send lane hands it over.
fn stored(kind: MediaKind, mime: &str, filename: Option<&str>) -> MediaFile {
    MediaFile {
        id: "med_01jd3w5x8mq2v7h4k9r6t0b1cz".parse().unwrap(),
        kind,
        mime_type: mime.into(),
        filename: filename.map(str::to_owned),
        sha256: "00".repeat(32),
        bytes: vec![1u8, 2, 3].into(),
    }
}

#[test]
fn a_stored_file_is_sent_as_what_kirim_recognised() {
    use kirim_wa::connector::send::with_file_details;
    // The client said nothing of the type; the stored file's type and name are what WhatsApp shows.
    let document = MessageContent::Document {
        document: MediaContent {
            media_id: Some("med_01jd3w5x8mq2v7h4k9r6t0b1cz".into()),
            caption: Some("June".into()),
            ..MediaContent::default()
        },
    };
    let file_of_it = stored(MediaKind::Document, "application/pdf", Some("invoice.pdf"));
    let filled = with_file_details(&document, Some(&file_of_it));
    let message = media_message(&filled, &file(), None).unwrap();
    let sent = message.document_message.as_option().unwrap();
    assert_eq!(
        (sent.mimetype.as_deref(), sent.file_name.as_deref(), sent.caption.as_deref()),
        (Some("application/pdf"), Some("invoice.pdf"), Some("June"))
    );
    // A name the client gave wins over the stored one.
    let named = MessageContent::Document { document: MediaContent { filename: Some("mine.pdf".into()), ..MediaContent::default() } };
    let message = media_message(&with_file_details(&named, Some(&file_of_it)), &file(), None).unwrap();
    assert_eq!(message.document_message.as_option().unwrap().file_name.as_deref(), Some("mine.pdf"));
    // A voice note from an Opus upload is push-to-talk with the recording's type.
    let voice = MessageContent::Audio { audio: MediaContent { voice: true, ..MediaContent::default() } };
    let opus = stored(MediaKind::Audio, "audio/ogg; codecs=opus", None);
    let audio = media_message(&with_file_details(&voice, Some(&opus)), &file(), None).unwrap().audio_message.into_option().unwrap();
    assert_eq!((audio.ptt, audio.mimetype.as_deref()), (Some(true), Some("audio/ogg; codecs=opus")));
    let photo = MessageContent::Image { image: MediaContent::default() };
    let png = stored(MediaKind::Image, "image/png", None);
    let image = media_message(&with_file_details(&photo, Some(&png)), &file(), None).unwrap().image_message.into_option().unwrap();
    assert_eq!(image.mimetype.as_deref(), Some("image/png"));
    assert_eq!(with_file_details(&photo, None), photo, "without a stored file nothing changes");
}

#[test]
fn contact_cards_are_vcards_with_a_tappable_number() {
    let card = ContactCard {
        name: "Siti; Ops, KL".into(),
        phone: "+60123456789".into(),
        email: Some("siti@example.com".into()),
        organization: Some("Acme".into()),
    };
    let message = contact_message(&card, None);
    let contact = message.contact_message.as_option().expect("a contact message");
    assert_eq!(contact.display_name.as_deref(), Some("Siti; Ops, KL"));
    let vcard = contact.vcard.as_deref().unwrap();
    assert_eq!(vcard, vcard_of(&card));
    assert!(vcard.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{vcard}");
    assert!(vcard.contains("FN:Siti\\; Ops\\, KL\r\n"), "special characters are escaped: {vcard}");
    assert!(vcard.contains("TEL;type=CELL;waid=60123456789:+60123456789\r\n"), "{vcard}");
    assert!(vcard.contains("ORG:Acme\r\n") && vcard.contains("EMAIL:siti@example.com\r\n") && vcard.ends_with("END:VCARD"));
}

#[test]
fn mentions_ride_in_the_context_beside_a_quote() {
    let text = TextContent { body: "hi @60123456789".into(), preview_url: false, mentions: vec!["+60123456789".into()] };
    let context = with_mentions(&text, Some(quote_context("3EB0AA", None))).expect("a context");
    assert_eq!(context.mentioned_jid, vec!["60123456789@s.whatsapp.net".to_owned()]);
    assert_eq!(context.stanza_id.as_deref(), Some("3EB0AA"), "the quote is kept");
    let message = text_message(&text, Some(context));
    let extended = message.extended_text_message.as_option().expect("mentions need an extended text");
    assert_eq!(extended.context_info.as_option().unwrap().mentioned_jid.len(), 1);
    let plain = TextContent { mentions: Vec::new(), ..text };
    assert!(with_mentions(&plain, None).is_none(), "no mentions, no context");
}

#[test]
fn a_reaction_names_a_group_members_message_by_its_author() {
    let group: whatsapp_rust::wacore_binary::Jid = "120363025246125888@g.us".parse().unwrap();
    let theirs = MessageTarget { network_id: "3EB0BB".into(), from_me: false, sender: Some("+60129998888".into()) };
    let key = target_key(&group, &theirs);
    assert_eq!((key.id.as_deref(), key.from_me, key.remote_jid.as_deref()), (Some("3EB0BB"), Some(false), Some("120363025246125888@g.us")));
    assert_eq!(key.participant.as_deref(), Some("60129998888@s.whatsapp.net"));
    let mine = MessageTarget { from_me: true, ..theirs.clone() };
    assert_eq!(target_key(&group, &mine).participant, None, "our own message needs no author");
    let chat: whatsapp_rust::wacore_binary::Jid = "60129998888@s.whatsapp.net".parse().unwrap();
    assert_eq!(target_key(&chat, &theirs).participant, None, "nor does a message in a one-to-one chat");
}
