//! Linking: QR codes, pairing codes, scans, dropped connections, logouts.

use std::time::Duration;

use kirim_core::PhoneNumber;
use kirim_core::connector::{Connector, ConnectorError, LinkMethod};
use kirim_core::device::DeviceStatus::*;

use super::{Net, device, eventually, phone, sleep, text_to};
use crate::connectors::sandbox::SandboxError;

#[tokio::test]
async fn qr_codes_refresh_then_run_out() {
    let net = Net::new(|c| {
        c.qr_refresh = Duration::from_millis(200);
        c.qr_max_codes = 3;
    })
    .await;
    let dev = device(1);
    net.sandbox.connect(&dev, LinkMethod::Qr).await.unwrap();
    assert_eq!(net.sink.statuses(dev.pk), [Connecting, AwaitingScan]);
    let first = net.sink.last_link(dev.pk).qr.expect("a QR code to show");
    assert!(first.code.starts_with("2@") && first.code.split(',').count() == 4, "{}", first.code);
    let lifetime = first.expires_at - chrono::Utc::now();
    assert!(lifetime > chrono::Duration::milliseconds(100) && lifetime <= chrono::Duration::milliseconds(200));

    eventually("a new code", || net.sink.statuses(dev.pk).len() == 3).await;
    let second = net.sink.last_link(dev.pk).qr.expect("a new QR code");
    assert_ne!(second.code, first.code, "a refresh replaces the code");

    eventually("linking gives up", || net.sink.last_link(dev.pk).status == Disconnected).await;
    assert_eq!(net.sink.statuses(dev.pk), [Connecting, AwaitingScan, AwaitingScan, AwaitingScan, Disconnected]);
    let last = net.sink.last_link(dev.pk);
    assert_eq!(last.detail.as_deref(), Some("QR codes expired without a scan"));
    assert_eq!(last.qr, None, "the dead code is cleared");
    assert_eq!(net.sandbox.scan(&dev, None).await, Err(SandboxError::NotLinking));

    sleep(500).await;
    assert_eq!(net.sink.links(dev.pk).len(), 5, "nothing more after giving up");
}

#[tokio::test]
async fn scanning_links_the_device_to_a_valid_number() {
    let net = Net::new(|c| c.qr_refresh = Duration::from_millis(100)).await;
    let dev = device(1);
    net.sandbox.connect(&dev, LinkMethod::Qr).await.unwrap();
    let linked = net.sandbox.scan(&dev, None).await.unwrap();
    assert_eq!(PhoneNumber::parse(linked.as_str(), None), Ok(linked.clone()), "a real, valid number");
    assert!(linked.as_str().starts_with("+6011"));

    let state = net.sink.last_link(dev.pk);
    assert_eq!((state.status, state.phone.as_ref()), (Connected, Some(&linked)));
    assert_eq!((state.qr, state.pair_code), (None, None));
    assert_eq!(net.sandbox.scan(&dev, None).await, Err(SandboxError::NotLinking), "nothing left to scan");

    sleep(300).await;
    assert_eq!(net.sink.statuses(dev.pk), [Connecting, AwaitingScan, Connected], "QR refresh stopped");
    net.sandbox.send(&dev, &text_to(&phone("+60123456789"), "hi")).await.expect("a linked device sends");

    // Each device gets its own number; a scan may also name the phone.
    let other = device(2);
    assert_ne!(net.link(&other).await, linked);
    let named = device(3);
    net.link_as(&named, &phone("+6281234567890")).await;
}

#[tokio::test]
async fn scanning_needs_a_linking_device() {
    let net = Net::new(|_| {}).await;
    assert_eq!(net.sandbox.scan(&device(1), None).await, Err(SandboxError::NotLinking));
}

#[tokio::test]
async fn a_pairing_code_links_the_number_it_was_asked_for() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    let number = phone("+60123456789");
    net.sandbox.connect(&dev, LinkMethod::PairCode { phone: number.clone() }).await.unwrap();
    assert_eq!(net.sink.statuses(dev.pk), [Connecting, AwaitingPairCode]);
    let code = net.sink.last_link(dev.pk).pair_code.expect("a pairing code to show");
    assert_eq!(code.code.len(), 9);
    assert_eq!(code.code.as_bytes()[4], b'-');
    assert!(code.code.chars().all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert!(!code.code.contains(['0', 'O', '1', 'I']), "no look-alike characters: {}", code.code);
    assert!(code.expires_at - chrono::Utc::now() > chrono::Duration::seconds(170));

    assert_eq!(net.sandbox.scan(&dev, None).await, Ok(number.clone()));
    let state = net.sink.last_link(dev.pk);
    assert_eq!((state.status, state.phone, state.pair_code), (Connected, Some(number), None));
}

#[tokio::test]
async fn connecting_again_restarts_the_qr_cycle() {
    let net = Net::new(|c| {
        c.qr_refresh = Duration::from_millis(800);
        c.qr_max_codes = 2;
    })
    .await;
    let dev = device(1);
    net.sandbox.connect(&dev, LinkMethod::Qr).await.unwrap();
    sleep(50).await;
    net.sandbox.connect(&dev, LinkMethod::Qr).await.unwrap();
    eventually("linking gives up", || net.sink.last_link(dev.pk).status == Disconnected).await;
    sleep(1_000).await; // past the end the first cycle would have had
    // The first cycle shows no more codes and does not give up on its own.
    assert_eq!(net.sink.statuses(dev.pk), [Connecting, AwaitingScan, Connecting, AwaitingScan, AwaitingScan, Disconnected]);
}

#[tokio::test]
async fn the_phone_can_scan_by_itself() {
    let net = Net::new(|c| c.auto_scan_after = Some(Duration::from_millis(100))).await;
    let dev = device(1);
    net.sandbox.connect(&dev, LinkMethod::Qr).await.unwrap();
    assert_eq!(net.sink.last_link(dev.pk).status, AwaitingScan);
    eventually("the phone scans", || net.sink.last_link(dev.pk).status == Connected).await;
    assert!(net.sink.last_link(dev.pk).phone.is_some());
}

#[tokio::test]
async fn a_dropped_connection_resumes_without_a_new_code() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    let linked = net.link(&dev).await;
    net.sandbox.drop_connection(&dev).await.unwrap();
    let state = net.sink.last_link(dev.pk);
    assert_eq!((state.status, state.detail.as_deref()), (Disconnected, Some("connection lost")));
    let to = phone("+60123456789");
    assert_eq!(net.sandbox.send(&dev, &text_to(&to, "hi")).await, Err(ConnectorError::NotConnected));
    assert_eq!(net.sandbox.drop_connection(&dev).await, Err(SandboxError::NotConnected));

    let before = net.sink.links(dev.pk).len();
    net.sandbox.connect(&dev, LinkMethod::Qr).await.unwrap();
    let resumed = &net.sink.links(dev.pk)[before..];
    assert_eq!(resumed.iter().map(|s| s.status).collect::<Vec<_>>(), [Connecting, Connected]);
    assert_eq!(resumed[1].phone, Some(linked), "the same number, no QR code");
    assert_eq!(resumed[1].qr, None);
    net.sandbox.send(&dev, &text_to(&to, "hi")).await.expect("sends again");
}

#[tokio::test]
async fn logging_out_forgets_the_session() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    net.link(&dev).await;
    net.sandbox.logout(&dev).await.unwrap();
    assert_eq!(net.sink.last_link(dev.pk).status, LoggedOut);
    let to = phone("+60123456789");
    assert_eq!(net.sandbox.send(&dev, &text_to(&to, "hi")).await, Err(ConnectorError::NotConnected));

    let before = net.sink.links(dev.pk).len();
    net.sandbox.start(&dev).await.unwrap();
    assert_eq!(net.sink.links(dev.pk).len(), before, "nothing to resume");
    net.sandbox.connect(&dev, LinkMethod::Qr).await.unwrap();
    assert_eq!(net.sink.last_link(dev.pk).status, AwaitingScan, "linking starts over");
}

#[tokio::test]
async fn starting_a_device_that_was_never_linked_does_nothing() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    net.sandbox.start(&dev).await.unwrap();
    assert!(net.sink.links(dev.pk).is_empty());
    let to = phone("+60123456789");
    assert_eq!(net.sandbox.send(&dev, &text_to(&to, "hi")).await, Err(ConnectorError::NotConnected));
}

#[tokio::test]
async fn stopping_a_linking_device_stops_its_codes() {
    let net = Net::new(|c| c.qr_refresh = Duration::from_millis(100)).await;
    let dev = device(1);
    net.sandbox.connect(&dev, LinkMethod::Qr).await.unwrap();
    net.sandbox.stop(dev.pk).await;
    sleep(400).await;
    assert_eq!(net.sink.statuses(dev.pk), [Connecting, AwaitingScan]);
    assert_eq!(net.sandbox.scan(&dev, None).await, Err(SandboxError::NotLinking));
}

#[tokio::test]
async fn a_number_linked_to_another_device_is_refused() {
    let net = Net::new(|_| {}).await;
    let (alice, mallory) = (device(1), device(2));
    let taken = phone("+60121111111");
    net.link_as(&alice, &taken).await;

    net.sandbox.connect(&mallory, LinkMethod::Qr).await.unwrap();
    let refused = net.sandbox.scan(&mallory, Some(taken.clone())).await;
    assert_eq!(refused, Err(SandboxError::PhoneInUse));
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("already linked to another device") && message.contains("omit `phone`"), "{message}");
    assert_eq!(net.sink.statuses(mallory.pk), [Connecting, AwaitingScan], "still waiting for a scan, not linked");

    // Messages for the number still reach only its own device.
    let (carol, carol_phone) = (device(3), phone("+60123456789"));
    net.link_as(&carol, &carol_phone).await;
    net.sandbox.send(&carol, &text_to(&taken, "for alice")).await.unwrap();
    eventually("alice receives", || !net.sink.inbound(alice.pk).is_empty()).await;
    sleep(100).await;
    assert!(net.sink.inbound(mallory.pk).is_empty());

    // Another number (or none) links as usual.
    let other = net.sandbox.scan(&mallory, None).await.unwrap();
    assert_ne!(other, taken);
    assert_eq!(net.sink.last_link(mallory.pk).status, Connected);
}

#[tokio::test]
async fn a_device_links_its_own_number_again_and_a_freed_number_can_be_taken() {
    let net = Net::new(|_| {}).await;
    let (alice, bob) = (device(1), device(2));
    let number = phone("+60121111111");
    net.link_as(&alice, &number).await;
    net.sandbox.logout(&alice).await.unwrap();
    net.link_as(&alice, &number).await; // the same device, its own number

    net.sandbox.logout(&alice).await.unwrap();
    net.link_as(&bob, &number).await; // free once alice logged out
    net.sandbox.connect(&alice, LinkMethod::Qr).await.unwrap();
    assert_eq!(net.sandbox.scan(&alice, Some(number)).await, Err(SandboxError::PhoneInUse), "now bob's");
}

#[tokio::test]
async fn a_pairing_code_for_a_number_linked_elsewhere_is_refused() {
    let net = Net::new(|_| {}).await;
    let (alice, mallory) = (device(1), device(2));
    let taken = phone("+60121111111");
    net.link_as(&alice, &taken).await;

    let refused = net.sandbox.connect(&mallory, LinkMethod::PairCode { phone: taken.clone() }).await;
    assert!(matches!(&refused, Err(ConnectorError::PhoneInUse(m)) if m.contains("already linked to another device")), "{refused:?}");
    assert!(net.sink.links(mallory.pk).is_empty(), "no code shown");
    assert_eq!(net.sandbox.scan(&mallory, None).await, Err(SandboxError::NotLinking));

    // The owner's own device may ask for a code for its number (it just resumes while linked).
    net.sandbox.connect(&alice, LinkMethod::PairCode { phone: taken.clone() }).await.unwrap();
    assert_eq!(net.sink.last_link(alice.pk).phone, Some(taken));
}

#[tokio::test]
async fn a_pairing_code_whose_number_is_taken_meanwhile_cannot_be_entered() {
    let net = Net::new(|_| {}).await;
    let (alice, bob) = (device(1), device(2));
    let number = phone("+60121111111");
    net.sandbox.connect(&bob, LinkMethod::PairCode { phone: number.clone() }).await.unwrap();
    net.link_as(&alice, &number).await;
    assert_eq!(net.sandbox.scan(&bob, None).await, Err(SandboxError::PhoneInUse));
    assert_eq!(net.sink.last_link(bob.pk).status, AwaitingPairCode);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_devices_scanning_with_one_number_at_once_cannot_both_link_it() {
    for round in 0..20 {
        let net = Net::new(|_| {}).await;
        let number = phone("+60121111111");
        let devices: Vec<_> = (1..=4).map(|pk| device(round * 10 + pk)).collect();
        for dev in &devices {
            net.sandbox.connect(dev, LinkMethod::Qr).await.unwrap();
        }
        let scans = devices.iter().map(|dev| {
            let (sandbox, dev, number) = (net.sandbox.clone(), dev.clone(), number.clone());
            tokio::spawn(async move { sandbox.scan(&dev, Some(number)).await })
        });
        let results: Vec<_> = futures::future::join_all(scans).await.into_iter().map(Result::unwrap).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
        assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(SandboxError::PhoneInUse))), "{results:?}");
    }
}
