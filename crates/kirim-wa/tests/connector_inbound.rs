//! WhatsApp messages and receipts as Kirim sees them, built from the library's protobuf
//! messages and message metadata.

use std::sync::Arc;

use kirim_core::message::{LocationContent, MediaContent, MessageContent, MessageStatus};
use kirim_core::{PhoneNumber, Recipient, Timestamp};
use kirim_wa::connector::MediaRef;
use kirim_wa::connector::inbound::{Skip, lids_to_resolve, map_message, map_receipt};
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::types::events::Receipt;
use whatsapp_rust::types::message::{MessageInfo, MessageSource};
use whatsapp_rust::types::presence::ReceiptType;
use whatsapp_rust::wacore_binary::Jid;
use whatsapp_rust::waproto::whatsapp as wa;

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

    let reaction = wa::Message {
        reaction_message: MessageField::some(wa::message::ReactionMessage { text: Some("👍".into()), ..Default::default() }),
        ..Default::default()
    };
    assert_eq!(map_message(&reaction, &dm(Jid::pn("60123456789")), &no_lookup), Err(Skip::Unsupported("reaction")));
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
