//! Messages: sending, receipts, exactly-once acceptance, devices writing to each other, and
//! what the simulated world writes to a device.

use std::sync::atomic::Ordering;
use std::time::Duration;

use kirim_core::connector::{Connector, ConnectorError, LinkMethod, OutboundMessage};
use kirim_core::message::{LocationContent, MediaContent, MessageContent, MessageStatus::*};
use kirim_core::{PhoneNumber, Recipient};

use super::{Net, device, eventually, phone, sleep, text_to};
use crate::connectors::sandbox::{SandboxError, SimulatedInbound};

fn written_by(from: &PhoneNumber, body: &str) -> SimulatedInbound {
    SimulatedInbound { from: from.clone(), group: None, content: MessageContent::text(body), reply_to: None, network_id: None, file: None }
}

#[tokio::test]
async fn a_sent_message_is_delivered_then_read() {
    let net = Net::new(|c| {
        c.delivered_after = Duration::from_millis(100);
        c.read_after = Duration::from_millis(100);
    })
    .await;
    let dev = device(1);
    net.link(&dev).await;
    let msg = text_to(&phone("+60123456789"), "hello");
    let receipt = net.sandbox.send(&dev, &msg).await.unwrap();
    assert_eq!(receipt.network_id, msg.id.as_str(), "the network uses Kirim's id");

    let received = net.sandbox.received(dev.pk);
    assert_eq!(received.len(), 1);
    assert_eq!((received[0].to.clone(), received[0].content.clone()), (msg.to.clone(), msg.content.clone()));
    assert!(net.sink.receipts(dev.pk).is_empty(), "not delivered yet");

    eventually("delivered", || !net.sink.receipts(dev.pk).is_empty()).await;
    assert_eq!(net.sink.receipts(dev.pk), [(receipt.network_id.clone(), Delivered)], "read comes later");
    eventually("read", || net.sink.receipts(dev.pk).len() == 2).await;
    assert_eq!(net.sink.receipts(dev.pk), [(receipt.network_id.clone(), Delivered), (receipt.network_id, Read)]);
}

#[tokio::test]
async fn a_repeated_message_id_is_accepted_once() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    net.link(&dev).await;
    let msg = text_to(&phone("+60123456789"), "hello");
    let first = net.sandbox.send(&dev, &msg).await.unwrap();
    let retry = kirim_core::connector::OutboundMessage { attempt: 2, ..msg.clone() };
    assert_eq!(net.sandbox.send(&dev, &retry).await.unwrap(), first, "a retry gets the same receipt");
    assert_eq!(net.sandbox.received(dev.pk).len(), 1, "the network has it once");

    eventually("read", || net.sink.receipts(dev.pk).len() >= 2).await;
    sleep(200).await;
    assert_eq!(net.sink.receipts(dev.pk).len(), 2, "one delivered and one read, not two of each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_id_are_accepted_once() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    net.link(&dev).await;
    let msg = text_to(&phone("+60123456789"), "hello");
    let sends = (0..32).map(|_| {
        let (sandbox, dev, msg) = (net.sandbox.clone(), dev.clone(), msg.clone());
        tokio::spawn(async move { sandbox.send(&dev, &msg).await })
    });
    for send in futures::future::join_all(sends).await {
        assert_eq!(send.unwrap().unwrap().network_id, msg.id.as_str());
    }
    assert_eq!(net.sandbox.received(dev.pk).len(), 1);
}

#[tokio::test]
async fn numbers_not_on_whatsapp_are_refused() {
    let net = Net::new(|c| c.not_on_whatsapp = vec!["+6019999".into(), "60100000".into()]).await;
    let dev = device(1);
    net.link(&dev).await;
    for number in ["+60199998888", "+601000001234"] {
        let msg = text_to(&PhoneNumber::from_stored(number.into()), "hi");
        assert_eq!(net.sandbox.send(&dev, &msg).await, Err(ConnectorError::NotOnWhatsapp), "{number}");
    }
    assert!(net.sandbox.received(dev.pk).is_empty());
    net.sandbox.send(&dev, &text_to(&phone("+60123456789"), "hi")).await.expect("other numbers are fine");
}

#[tokio::test]
async fn a_failing_network_fails_sends_temporarily() {
    let net = Net::new(|c| c.failure_rate = 1.0).await;
    let dev = device(1);
    net.link(&dev).await;
    for _ in 0..10 {
        let error = net.sandbox.send(&dev, &text_to(&phone("+60123456789"), "hi")).await.unwrap_err();
        assert!(matches!(error, ConnectorError::Transient(_)), "{error:?}");
        assert!(error.is_retryable());
    }
    assert!(net.sandbox.received(dev.pk).is_empty(), "a failed send is not on the network");
}

#[tokio::test]
async fn the_network_carries_on_when_the_app_cannot_record_a_report() {
    let net = Net::new(|_| {}).await;
    net.sink.fail_reports.store(true, Ordering::SeqCst);
    let dev = device(1);
    net.link(&dev).await;
    let msg = text_to(&phone("+60123456789"), "hello");
    net.sandbox.send(&dev, &msg).await.expect("linked although the app missed the reports");
    eventually("both receipts attempted", || net.sink.receipts(dev.pk).len() == 2).await;
}

#[tokio::test]
async fn without_receipts_nothing_is_reported() {
    let net = Net::new(|c| c.receipts = false).await;
    let dev = device(1);
    net.link(&dev).await;
    net.sandbox.send(&dev, &text_to(&phone("+60123456789"), "hi")).await.unwrap();
    sleep(300).await;
    assert!(net.sink.receipts(dev.pk).is_empty());
    assert_eq!(net.sandbox.received(dev.pk).len(), 1);
}

#[tokio::test]
async fn two_sandbox_devices_write_to_each_other() {
    let net = Net::new(|_| {}).await;
    let (alice, bob) = (device(1), device(2));
    let (alice_phone, bob_phone) = (phone("+60123456789"), phone("+60129876543"));
    net.link_as(&alice, &alice_phone).await;
    net.link_as(&bob, &bob_phone).await;

    let hello = text_to(&bob_phone, "hi bob");
    net.sandbox.send(&alice, &hello).await.unwrap();
    eventually("bob receives", || !net.sink.inbound(bob.pk).is_empty()).await;
    let at_bob = net.sink.inbound(bob.pk);
    assert_eq!(at_bob.len(), 1);
    assert_eq!(at_bob[0].chat, Recipient::Phone(alice_phone.clone()), "the chat is the sender's number");
    assert_eq!((at_bob[0].network_id.as_str(), at_bob[0].content.body()), (hello.id.as_str(), Some("hi bob")));
    eventually("alice learns it was delivered", || !net.sink.receipts(alice.pk).is_empty()).await;
    assert_eq!(net.sink.receipts(alice.pk)[0], (hello.id.to_string(), Delivered));

    let mut reply = text_to(&alice_phone, "hi alice");
    reply.reply_to = Some(hello.id.to_string());
    net.sandbox.send(&bob, &reply).await.unwrap();
    eventually("alice receives", || !net.sink.inbound(alice.pk).is_empty()).await;
    eventually("bob learns it was read", || net.sink.receipts(bob.pk).len() == 2).await;
    let at_alice = net.sink.inbound(alice.pk);
    assert_eq!(at_alice.len(), 1);
    assert_eq!(at_alice[0].chat, Recipient::Phone(bob_phone));
    assert_eq!(at_alice[0].reply_to.as_deref(), Some(hello.id.as_str()));
    assert_eq!(net.sink.inbound(bob.pk).len(), 1, "nothing delivered twice");
}

#[tokio::test]
async fn a_message_to_an_offline_device_waits_until_it_connects() {
    let net = Net::new(|_| {}).await;
    let (alice, bob) = (device(1), device(2));
    net.link(&alice).await;
    let bob_phone = net.link(&bob).await;
    net.sandbox.drop_connection(&bob).await.unwrap();

    let msg = text_to(&bob_phone, "are you there?");
    net.sandbox.send(&alice, &msg).await.unwrap();
    sleep(300).await;
    assert!(net.sink.inbound(bob.pk).is_empty());
    assert!(net.sink.receipts(alice.pk).is_empty(), "sent, but not delivered while bob is offline");

    net.sandbox.connect(&bob, LinkMethod::Qr).await.unwrap();
    eventually("bob receives", || !net.sink.inbound(bob.pk).is_empty()).await;
    assert_eq!(net.sink.inbound(bob.pk)[0].network_id, msg.id.as_str());
    eventually("alice learns it was delivered", || !net.sink.receipts(alice.pk).is_empty()).await;
    assert_eq!(net.sink.receipts(alice.pk)[0], (msg.id.to_string(), Delivered));
}

#[tokio::test]
async fn someone_writes_to_the_device() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    net.link(&dev).await;
    let friend = phone("+60123456789");
    let id = net.sandbox.inbound(&dev, written_by(&friend, "hello there")).await.unwrap();
    let got = net.sink.inbound(dev.pk);
    assert_eq!(got.len(), 1, "stored before inbound() returned");
    assert_eq!(
        (got[0].network_id.as_str(), &got[0].chat, got[0].sender.as_deref()),
        (id.as_str(), &Recipient::Phone(friend.clone()), None)
    );
    assert_eq!(got[0].content.body(), Some("hello there"));

    let in_group = SimulatedInbound { group: Some("120363025246125888".into()), ..written_by(&friend, "hi all") };
    net.sandbox.inbound(&dev, in_group).await.unwrap();
    let got = net.sink.inbound(dev.pk).pop().unwrap();
    assert_eq!(got.chat, Recipient::Group("120363025246125888@g.us".into()));
    assert_eq!(got.sender.as_deref(), Some(friend.as_str()), "the member who wrote it");
    assert_ne!(got.network_id, id);
}

#[tokio::test]
async fn an_inbound_message_the_app_cannot_store_is_an_error() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    net.link(&dev).await;
    let message = SimulatedInbound { network_id: Some("3EB0AAAABBBBCCCCDDDD".into()), ..written_by(&phone("+60123456789"), "hi") };
    net.sink.fail_inbound.store(true, Ordering::SeqCst);
    let error = net.sandbox.inbound(&dev, message.clone()).await.unwrap_err();
    assert!(matches!(error, SandboxError::Sink(ref e) if e.contains("database is locked")), "{error:?}");

    net.sink.fail_inbound.store(false, Ordering::SeqCst);
    assert_eq!(net.sandbox.inbound(&dev, message).await.as_deref(), Ok("3EB0AAAABBBBCCCCDDDD"), "a retry keeps its id");
    assert_eq!(net.sink.inbound(dev.pk).len(), 1);
}

#[tokio::test]
async fn only_connected_devices_receive() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    let written = written_by(&phone("+60123456789"), "hi");
    assert_eq!(net.sandbox.inbound(&dev, written.clone()).await, Err(SandboxError::NotConnected));
    net.link(&dev).await;
    net.sandbox.drop_connection(&dev).await.unwrap();
    assert_eq!(net.sandbox.inbound(&dev, written).await, Err(SandboxError::NotConnected));
    assert!(net.sink.inbound(dev.pk).is_empty());
}

#[tokio::test]
async fn media_and_locations_travel_between_devices_unchanged() {
    let net = Net::new(|_| {}).await;
    let (alice, bob) = (device(1), device(2));
    let (alice_phone, bob_phone) = (phone("+60123456789"), phone("+60129876543"));
    net.link_as(&alice, &alice_phone).await;
    net.link_as(&bob, &bob_phone).await;

    let photo = MessageContent::Image {
        image: MediaContent {
            link: Some("https://example.com/proof.jpg".into()),
            mime_type: Some("image/jpeg".into()),
            caption: Some("job done".into()),
            ..MediaContent::default()
        },
    };
    let pin = MessageContent::Location {
        location: LocationContent { latitude: 3.1578, longitude: 101.7119, name: Some("KLCC".into()), address: None },
    };
    let mut sent = Vec::new();
    for content in [photo, pin] {
        let msg = OutboundMessage { content, ..text_to(&bob_phone, "") };
        net.sandbox.send(&alice, &msg).await.unwrap();
        sent.push(msg);
    }
    eventually("bob receives both", || net.sink.inbound(bob.pk).len() == 2).await;
    let mut at_bob = net.sink.inbound(bob.pk);
    at_bob.sort_by_key(|m| sent.iter().position(|s| s.id.as_str() == m.network_id));
    for (got, msg) in at_bob.iter().zip(&sent) {
        assert_eq!((&got.network_id, &got.content), (&msg.id.to_string(), &msg.content));
        assert_eq!(got.chat, Recipient::Phone(alice_phone.clone()));
    }
    assert_eq!(at_bob[0].content.body(), Some("job done"));
    let accepted: Vec<MessageContent> = net.sandbox.received(alice.pk).into_iter().map(|m| m.content).collect();
    assert_eq!(accepted, sent.iter().map(|m| m.content.clone()).collect::<Vec<_>>(), "the network recorded the content");
}

#[tokio::test]
async fn someone_sends_a_photo_as_a_reply_in_a_group() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    net.link(&dev).await;
    let friend = phone("+60123456789");
    let photo = MessageContent::Image {
        image: MediaContent { link: Some("https://example.com/a.jpg".into()), caption: Some("here".into()), ..MediaContent::default() },
    };
    let written = SimulatedInbound {
        group: Some("120363025246125888@g.us".into()),
        content: photo.clone(),
        reply_to: Some("msg_original".into()),
        ..written_by(&friend, "")
    };
    net.sandbox.inbound(&dev, written).await.unwrap();
    let got = net.sink.inbound(dev.pk).pop().unwrap();
    assert_eq!((got.content, got.reply_to.as_deref()), (photo, Some("msg_original")));
    assert_eq!((got.chat, got.sender), (Recipient::Group("120363025246125888@g.us".into()), Some(friend.to_string())));
}
