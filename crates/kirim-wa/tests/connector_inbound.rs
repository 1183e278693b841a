//! WhatsApp messages and receipts as Kirim sees them, built from the library's protobuf
//! messages and message metadata.

use std::sync::Arc;

use kirim_core::message::{
    ContactCard, EditContent, LocationContent, MediaContent, MessageContent, MessageStatus, PollContent, ReactionContent, RevokeContent,
};
use kirim_core::{PhoneNumber, Recipient, Timestamp};
use kirim_wa::connector::MediaRef;
use kirim_wa::connector::inbound::{Skip, lids_to_resolve, map_message, map_receipt, open_encrypted_edit};
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::types::events::Receipt;
use whatsapp_rust::types::message::{MessageInfo, MessageSource};
use whatsapp_rust::types::presence::ReceiptType;
use whatsapp_rust::wacore::message_edit::{MessageEditContext, encrypt_message_edit};
use whatsapp_rust::wacore_binary::Jid;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::waproto::whatsapp::message::protocol_message::Type as ProtocolType;

const GROUP: &str = "120363025246125888@g.us";

fn at() -> Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn phone(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164, None).unwrap()
}

/// A direct message from `sender` (the chat is the sender).
fn dm(sender: Jid) -> MessageInfo {
    MessageInfo {
        source: MessageSource { chat: sender.to_non_ad(), sender, ..Default::default() },
        id: "3EB0C0FFEE".into(),
        timestamp: at(),
        ..Default::default()
    }
}

fn group_message(sender: Jid) -> MessageInfo {
    MessageInfo {
        source: MessageSource { chat: GROUP.parse().unwrap(), sender, is_group: true, ..Default::default() },
        id: "3EB0GROUP1".into(),
        timestamp: at(),
        ..Default::default()
    }
}

fn no_lookup(_: &Jid) -> Option<PhoneNumber> {
    None
}

fn text(body: &str) -> wa::Message {
    wa::Message { conversation: Some(body.into()), ..Default::default() }
}

#[test]
fn a_direct_text_comes_from_the_senders_number() {
    let message = map_message(&text("halo"), &dm(Jid::pn_device("60123456789", 2)), &no_lookup).unwrap();
    assert_eq!(message.network_id, "3EB0C0FFEE");
    assert_eq!(message.chat, Recipient::Phone(phone("+60123456789")));
    assert_eq!(message.sender, None, "in a one-to-one chat the chat is the sender");
    assert_eq!(message.content, MessageContent::text("halo"));
    assert_eq!((message.reply_to, message.at), (None, at()));
}

#[test]
fn an_extended_text_with_a_quote_is_a_reply() {
    let message = wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some("see https://example.com".into()),
            matched_text: Some("https://example.com".into()),
            context_info: MessageField::some(wa::ContextInfo {
                stanza_id: Some("3EB0ORIGINAL".into()),
                participant: Some("60111111111@s.whatsapp.net".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mapped = map_message(&message, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    assert_eq!(mapped.reply_to.as_deref(), Some("3EB0ORIGINAL"));
    let MessageContent::Text { text } = mapped.content else { panic!("a text") };
    assert_eq!((text.body.as_str(), text.preview_url), ("see https://example.com", true));
}

#[test]
fn a_location_keeps_its_name_and_address() {
    let message = wa::Message {
        location_message: MessageField::some(wa::message::LocationMessage {
            degrees_latitude: Some(3.1578),
            degrees_longitude: Some(101.7119),
            name: Some("KLCC".into()),
            address: Some("Jalan Ampang".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mapped = map_message(&message, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    let expected =
        LocationContent { latitude: 3.1578, longitude: 101.7119, name: Some("KLCC".into()), address: Some("Jalan Ampang".into()) };
    assert_eq!(mapped.content, MessageContent::Location { location: expected });

    let blank = wa::Message { location_message: MessageField::some(Default::default()), ..Default::default() };
    assert!(matches!(map_message(&blank, &dm(Jid::pn("60123456789")), &no_lookup), Err(Skip::Unsupported(_))));
}

#[test]
fn a_group_message_is_in_the_group_from_its_participant() {
    let mapped = map_message(&text("hi all"), &group_message(Jid::pn_device("60123456789", 4)), &no_lookup).unwrap();
    assert_eq!(mapped.chat, Recipient::group(GROUP).unwrap());
    assert_eq!(mapped.sender.as_deref(), Some("+60123456789"));
}

#[test]
fn a_lid_sender_is_named_by_the_number_the_server_paired_it_with() {
    let mut info = group_message(Jid::lid_device("100000000000042", 1));
    info.source.sender_alt = Some(Jid::pn("60199999999"));
    assert!(lids_to_resolve(&info).is_empty(), "the message itself names the number");
    let mapped = map_message(&text("x"), &info, &no_lookup).unwrap();
    assert_eq!(mapped.sender.as_deref(), Some("+60199999999"));
}

#[test]
fn a_lid_sender_without_a_number_is_looked_up_or_skipped() {
    let info = dm(Jid::lid("100000000000042"));
    assert_eq!(lids_to_resolve(&info), vec![Jid::lid("100000000000042")]);
    let known = |jid: &Jid| (jid.user == "100000000000042").then(|| phone("+60123450001"));
    let mapped = map_message(&text("x"), &info, &known).unwrap();
    assert_eq!(mapped.chat, Recipient::Phone(phone("+60123450001")));
    assert_eq!(map_message(&text("x"), &info, &no_lookup), Err(Skip::UnknownSender("100000000000042@lid".into())));
}

#[test]
fn wrappers_are_unwrapped() {
    let ephemeral = wa::Message {
        ephemeral_message: MessageField::some(wa::message::FutureProofMessage { message: MessageField::some(text("disappearing")) }),
        ..Default::default()
    };
    let mapped = map_message(&ephemeral, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    assert_eq!(mapped.content, MessageContent::text("disappearing"));
}

fn cdn_fields() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    (vec![7; 32], vec![1; 32], vec![2; 32])
}

#[test]
fn media_is_described_with_what_a_download_needs() {
    let (key, sha, enc) = cdn_fields();
    let image = wa::Message {
        image_message: MessageField::some(wa::message::ImageMessage {
            url: Some("https://mmg.whatsapp.net/v/t62/abc.enc".into()),
            direct_path: Some("/v/t62/abc.enc".into()),
            media_key: Some(key.clone()),
            file_sha256: Some(sha.clone()),
            file_enc_sha256: Some(enc.clone()),
            file_length: Some(48_213),
            media_key_timestamp: Some(1_700_000_000),
            mimetype: Some("image/jpeg".into()),
            caption: Some("the receipt".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mapped = map_message(&image, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    let MessageContent::Image { image: media } = &mapped.content else { panic!("an image") };
    assert_eq!(media.link, None, "the CDN file is encrypted: no link a receiver could use");
    assert_eq!((media.mime_type.as_deref(), media.caption.as_deref(), media.size), (Some("image/jpeg"), Some("the receipt"), Some(48_213)));
    assert_eq!(media.sha256.as_deref(), Some("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="), "base64, as WhatsApp gives it");
    let reference = MediaRef::of(media).expect("the file's CDN reference");
    assert_eq!(reference.direct_path, "/v/t62/abc.enc");
    assert_eq!((reference.media_key, reference.file_sha256, reference.file_enc_sha256), (key, sha, enc));
    assert_eq!((reference.file_length, reference.media_key_timestamp), (48_213, Some(1_700_000_000)));
    assert_eq!(reference.url.as_deref(), Some("https://mmg.whatsapp.net/v/t62/abc.enc"));
}

#[test]
fn voice_notes_documents_and_stickers_keep_their_kind() {
    let (key, sha, enc) = cdn_fields();
    let voice = wa::Message {
        audio_message: MessageField::some(wa::message::AudioMessage {
            direct_path: Some("/v/voice".into()),
            media_key: Some(key.clone()),
            file_sha256: Some(sha.clone()),
            file_enc_sha256: Some(enc.clone()),
            mimetype: Some("audio/ogg; codecs=opus".into()),
            ptt: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mapped = map_message(&voice, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    assert!(matches!(&mapped.content, MessageContent::Audio { audio } if audio.voice && audio.id.is_some()));

    let document = wa::Message {
        document_message: MessageField::some(wa::message::DocumentMessage {
            direct_path: Some("/v/doc".into()),
            media_key: Some(key.clone()),
            mimetype: Some("application/pdf".into()),
            file_name: Some("invoice.pdf".into()),
            caption: Some("".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mapped = map_message(&document, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    let MessageContent::Document { document } = &mapped.content else { panic!("a document") };
    assert_eq!((document.filename.as_deref(), document.caption.as_deref()), (Some("invoice.pdf"), None), "an empty caption is no caption");

    let sticker = wa::Message {
        sticker_message: MessageField::some(wa::message::StickerMessage { mimetype: Some("image/webp".into()), ..Default::default() }),
        ..Default::default()
    };
    let mapped = map_message(&sticker, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    let MessageContent::Sticker { sticker } = &mapped.content else { panic!("a sticker") };
    assert_eq!(sticker.id, None, "without a path and key there is nothing to reference");
}

#[test]
fn what_kirim_does_not_model_is_skipped() {
    let mut mine = dm(Jid::pn("60123456789"));
    mine.source.is_from_me = true;
    assert_eq!(map_message(&text("sent from the phone"), &mine, &no_lookup), Err(Skip::FromMe));

    let status = MessageInfo {
        source: MessageSource { chat: "status@broadcast".parse().unwrap(), sender: Jid::pn("60123456789"), ..Default::default() },
        ..Default::default()
    };
    assert_eq!(map_message(&text("my story"), &status, &no_lookup), Err(Skip::NotAChat));

    let vote = wa::Message {
        poll_update_message: MessageField::some(wa::message::PollUpdateMessage {
            poll_creation_message_key: MessageField::some(key("3EB0POLL")),
            vote: MessageField::some(wa::message::PollEncValue { enc_payload: Some(vec![1; 16]), enc_iv: Some(vec![2; 12]) }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let skipped = map_message(&vote, &dm(Jid::pn("60123456789")), &no_lookup);
    assert!(matches!(skipped, Err(Skip::Unsupported(why)) if why.contains("poll vote")), "{skipped:?}");

    let setting = wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            r#type: Some(ProtocolType::EPHEMERAL_SETTING),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(map_message(&setting, &dm(Jid::pn("60123456789")), &no_lookup), Err(Skip::Unsupported(_))));
}

#[test]
fn a_media_reference_round_trips_and_nothing_else_reads_as_one() {
    let reference = MediaRef {
        url: None,
        direct_path: "/v/t62.7118-24/x".into(),
        media_key: vec![9; 32],
        file_sha256: vec![1, 2, 3],
        file_enc_sha256: vec![4, 5, 6],
        file_length: 10,
        media_key_timestamp: None,
        streaming_sidecar: None,
    };
    let id = reference.encode();
    assert!(id.starts_with("wa1.") && !id.contains(['+', '/', '=']), "URL-safe: {id}");
    assert_eq!(MediaRef::decode(&id), Some(reference.clone()));
    let media = MediaContent { id: Some(id), ..MediaContent::default() };
    assert_eq!(MediaRef::of(&media), Some(reference));
    assert_eq!(MediaRef::decode("wamid.HBgLNjAxMjM0NTY3ODkVAgARGBI"), None, "a Cloud API media id is not a reference");
    assert_eq!(MediaRef::decode("wa1.!!!"), None);
}

fn receipt(kind: ReceiptType, ids: &[&str]) -> Receipt {
    let source = MessageSource { chat: Jid::pn("60123456789"), sender: Jid::pn("60123456789"), ..Default::default() };
    Receipt::builder()
        .source(source)
        .message_ids(ids.iter().map(|s| s.to_string()).collect())
        .timestamp(at())
        .r#type(kind)
        .offline(false)
        .build()
}

#[test]
fn delivery_reports_become_receipts_per_message() {
    let read = map_receipt(&receipt(ReceiptType::Read, &["3EB0A", "3EB0B"]));
    let ids: Vec<(&str, MessageStatus)> = read.iter().map(|r| (r.network_id.as_str(), r.status)).collect();
    assert_eq!(ids, [("3EB0A", MessageStatus::Read), ("3EB0B", MessageStatus::Read)]);
    assert!(read.iter().all(|r| r.at == at()));
    assert_eq!(map_receipt(&receipt(ReceiptType::Delivered, &["x"]))[0].status, MessageStatus::Delivered);
    assert_eq!(map_receipt(&receipt(ReceiptType::Played, &["x"]))[0].status, MessageStatus::Played);
    for not_a_report in [ReceiptType::ReadSelf, ReceiptType::PlayedSelf, ReceiptType::Retry, ReceiptType::Sender, ReceiptType::Sent] {
        assert!(map_receipt(&receipt(not_a_report, &["x"])).is_empty());
    }
}

#[test]
fn message_arcs_from_the_library_map_the_same() {
    // The hook hands messages over as `Arc<wa::Message>`; mapping borrows through it.
    let shared = Arc::new(text("shared"));
    assert_eq!(map_message(&shared, &dm(Jid::pn("60123456789")), &no_lookup).unwrap().content, MessageContent::text("shared"));
}

/// The key of an earlier message in the chat, as reactions, edits and deletions name it.
fn key(id: &str) -> wa::MessageKey {
    wa::MessageKey { remote_jid: Some("60123456789@s.whatsapp.net".into()), from_me: Some(true), id: Some(id.into()), ..Default::default() }
}

/// A reaction names its target by WhatsApp id (the sink turns it into Kirim's id); an empty
/// emoji takes the reaction back, as in Kirim's own reactions.
#[test]
fn a_reaction_points_at_its_message_by_network_id() {
    let reaction = |emoji: &str| wa::Message {
        reaction_message: MessageField::some(wa::message::ReactionMessage {
            key: MessageField::some(key("3EB0SENT")),
            text: Some(emoji.into()),
            sender_timestamp_ms: Some(1_700_000_000_000),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mapped = map_message(&reaction("👍"), &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    assert_eq!(
        mapped.content,
        MessageContent::Reaction { reaction: ReactionContent { message_id: "3EB0SENT".into(), emoji: "👍".into() } }
    );
    assert_eq!(mapped.reply_to, None, "a reaction is not a reply");
    let removed = map_message(&reaction(""), &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    assert!(matches!(removed.content, MessageContent::Reaction { reaction } if reaction.emoji.is_empty()));

    let blind = wa::Message {
        reaction_message: MessageField::some(wa::message::ReactionMessage { text: Some("x".into()), ..Default::default() }),
        ..Default::default()
    };
    assert!(matches!(map_message(&blind, &dm(Jid::pn("60123456789")), &no_lookup), Err(Skip::Unsupported(_))), "no message to react to");
}

fn protocol(kind: ProtocolType, target: &str, edited: Option<wa::Message>) -> wa::message::ProtocolMessage {
    wa::message::ProtocolMessage {
        key: MessageField::some(key(target)),
        r#type: Some(kind),
        edited_message: edited.map(MessageField::some).unwrap_or_default(),
        timestamp_ms: Some(1_700_000_000_000),
        ..Default::default()
    }
}

/// An edit arrives wrapped (`editedMessage`) around a protocol message naming the target; a
/// deletion for everyone is a bare protocol message. A group's come from the member.
#[test]
fn edits_and_deletions_name_their_message() {
    let edit = wa::Message {
        edited_message: MessageField::some(wa::message::FutureProofMessage {
            message: MessageField::some(wa::Message {
                protocol_message: MessageField::some(protocol(ProtocolType::MESSAGE_EDIT, "3EB0FIRST", Some(text("see you at 10")))),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let mapped = map_message(&edit, &group_message(Jid::pn_device("60123456789", 3)), &no_lookup).unwrap();
    assert_eq!(mapped.content, MessageContent::Edit { edit: EditContent { message_id: "3EB0FIRST".into(), text: "see you at 10".into() } });
    assert_eq!(mapped.sender.as_deref(), Some("+60123456789"));

    let caption = wa::Message {
        image_message: MessageField::some(wa::message::ImageMessage { caption: Some("the new caption".into()), ..Default::default() }),
        ..Default::default()
    };
    let edited_caption = wa::Message {
        protocol_message: MessageField::some(protocol(ProtocolType::MESSAGE_EDIT, "3EB0PHOTO", Some(caption))),
        ..Default::default()
    };
    let mapped = map_message(&edited_caption, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    assert!(matches!(&mapped.content, MessageContent::Edit { edit } if edit.text == "the new caption" && edit.message_id == "3EB0PHOTO"));

    let revoke =
        wa::Message { protocol_message: MessageField::some(protocol(ProtocolType::REVOKE, "3EB0GONE", None)), ..Default::default() };
    let mapped = map_message(&revoke, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    assert_eq!(mapped.content, MessageContent::Revoke { revoke: RevokeContent { message_id: "3EB0GONE".into() } });

    let empty_edit =
        wa::Message { protocol_message: MessageField::some(protocol(ProtocolType::MESSAGE_EDIT, "3EB0X", None)), ..Default::default() };
    assert!(matches!(map_message(&empty_edit, &dm(Jid::pn("60123456789")), &no_lookup), Err(Skip::Unsupported(_))));
}

/// Newer phones encrypt an edit with the secret of the message it edits; the connector opens
/// it with the message it remembers, and an edit of a message it does not remember is skipped.
#[test]
fn an_encrypted_edit_opens_with_its_messages_secret() {
    let secret = vec![42u8; 32];
    let sender = Jid::pn_device("60123456789", 2);
    let original = Arc::new(wa::Message {
        conversation: Some("see you at 9".into()),
        message_context_info: MessageField::some(wa::MessageContextInfo { message_secret: Some(secret.clone()), ..Default::default() }),
        ..Default::default()
    });
    let inner = wa::Message {
        protocol_message: MessageField::some(protocol(ProtocolType::MESSAGE_EDIT, "3EB0ORIG", Some(text("see you at 10")))),
        ..Default::default()
    };
    let author = sender.to_non_ad().to_string();
    let context = MessageEditContext { original_msg_id: "3EB0ORIG", original_sender_jid: &author, editor_jid: &author };
    let (payload, iv) = encrypt_message_edit(&inner, &secret, &context).unwrap();
    let envelope = wa::Message {
        secret_encrypted_message: MessageField::some(wa::message::SecretEncryptedMessage {
            target_message_key: MessageField::some(wa::MessageKey {
                from_me: Some(true),
                id: Some("3EB0ORIG".into()),
                ..Default::default()
            }),
            enc_payload: Some(payload),
            enc_iv: Some(iv.to_vec()),
            secret_enc_type: Some(wa::message::secret_encrypted_message::SecretEncType::MESSAGE_EDIT),
            ..Default::default()
        }),
        ..Default::default()
    };
    let info = dm(sender);
    let remembered = |id: &str| (id == "3EB0ORIG").then(|| original.clone());
    let opened = open_encrypted_edit(&envelope, &info, &remembered).expect("an encrypted edit").unwrap();
    let mapped = map_message(&opened, &info, &no_lookup).unwrap();
    assert_eq!(mapped.content, MessageContent::Edit { edit: EditContent { message_id: "3EB0ORIG".into(), text: "see you at 10".into() } });

    let forgotten = open_encrypted_edit(&envelope, &info, &|_: &str| None).expect("an encrypted edit");
    assert!(matches!(forgotten, Err(Skip::Unsupported(why)) if why.contains("no longer remembers")));
    let wrong_secret = Arc::new(wa::Message {
        message_context_info: MessageField::some(wa::MessageContextInfo { message_secret: Some(vec![7; 32]), ..Default::default() }),
        ..Default::default()
    });
    assert!(matches!(open_encrypted_edit(&envelope, &info, &|_: &str| Some(wrong_secret.clone())), Some(Err(_))));
    assert!(open_encrypted_edit(&text("plain"), &info, &remembered).is_none(), "not an encrypted edit");
}

/// A poll someone created: its question and options; "any number" of choices (0) is all.
#[test]
fn a_poll_keeps_its_question_options_and_choices() {
    let poll = |count: u32| wa::message::PollCreationMessage {
        name: Some("Lunch?".into()),
        options: ["Nasi lemak", "Roti canai", "Laksa"]
            .iter()
            .map(|o| wa::message::poll_creation_message::Option { option_name: Some((*o).into()), ..Default::default() })
            .collect(),
        selectable_options_count: Some(count),
        ..Default::default()
    };
    let single = wa::Message { poll_creation_message_v3: MessageField::some(poll(1)), ..Default::default() };
    let mapped = map_message(&single, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    let expected = PollContent {
        question: "Lunch?".into(),
        options: vec!["Nasi lemak".into(), "Roti canai".into(), "Laksa".into()],
        max_selections: 1,
    };
    assert_eq!(mapped.content, MessageContent::Poll { poll: expected.clone() });

    let any = wa::Message { poll_creation_message: MessageField::some(poll(0)), ..Default::default() };
    let mapped = map_message(&any, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    assert_eq!(mapped.content, MessageContent::Poll { poll: PollContent { max_selections: 3, ..expected } });
}

/// A shared contact card: its name, and the number WhatsApp tags with `waid`.
#[test]
fn a_contact_card_gives_its_name_and_number() {
    let vcard = "BEGIN:VCARD\nVERSION:3.0\nN:Tan;Mei Ling;;;\nFN:Mei Ling Tan\nORG:Kedai Runcit;\nitem1.TEL;waid=60123450009:+60 12-345 0009\nitem1.X-ABLabel:Mobile\nEMAIL;type=INTERNET:mei@example.com\nEND:VCARD";
    let card = wa::Message {
        contact_message: MessageField::some(wa::message::ContactMessage {
            display_name: Some("Mei Ling".into()),
            vcard: Some(vcard.into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mapped = map_message(&card, &dm(Jid::pn("60123456789")), &no_lookup).unwrap();
    let expected = ContactCard {
        name: "Mei Ling".into(),
        phone: "+60123450009".into(),
        email: Some("mei@example.com".into()),
        organization: Some("Kedai Runcit".into()),
    };
    assert_eq!(mapped.content, MessageContent::Contact { contact: expected });

    let no_number = wa::Message {
        contact_message: MessageField::some(wa::message::ContactMessage {
            vcard: Some("BEGIN:VCARD\nFN:Nobody\nEND:VCARD".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(map_message(&no_number, &dm(Jid::pn("60123456789")), &no_lookup), Err(Skip::Unsupported(_))));
}
