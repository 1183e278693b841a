//! `WaConnector` end to end against the in-process fake WhatsApp server: what the app's sink
//! sees while a device links, reconnects, is replaced, logged out or stopped, and what is left
//! in the session store afterwards.
//!
//! The tests run on a paused clock (as the fake server's own linking tests do): the library
//! waits on timers of its own after login, and the fake answers at once, so virtual time only
//! moves while everything is idle. Every wait is bounded, in virtual time.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kirim_core::PhoneNumber;
use kirim_core::connector::{Connector, ConnectorError, LinkMethod};
use kirim_core::device::DeviceStatus;
use kirim_core::message::{MediaContent, MessageContent, MessageStatus};
use kirim_core::session::SessionStore;
use kirim_wa::connector::{ACCOUNT_KEY, NAMESPACE, load_account};
use kirim_wa::fake::{FakeServer, FakeServerConfig, LoginReply, nodes};
use whatsapp_rust::NodeBuilder;
use whatsapp_rust::async_channel;
use whatsapp_rust::transport::{Transport, TransportEvent, TransportFactory};
use whatsapp_rust::wacore_binary::SERVER_JID;

mod world;
use world::{LID, LONG, PHONE, Seen, World, device, text_to};

/// Linking by QR code: the app sees `connecting` as soon as `connect` returns, then a QR code
/// (with its expiry), then `connected` with the account's number once the phone scans; the
/// account, with its LID, is in the session store under the connector's namespace.
#[tokio::test(start_paused = true)]
async fn qr_linking_reports_the_code_and_the_linked_number() {
    let world = World::new(FakeServer::new());
    let device = device(1);
    world.connector.connect(&device, LinkMethod::Qr).await.unwrap();
    assert_eq!(world.sink.links().first().map(|l| l.status), Some(DeviceStatus::Connecting), "reported before connect returns");

    let (awaiting, next) = world.sink.wait_status(0, DeviceStatus::AwaitingScan).await;
    let qr = awaiting.qr.expect("a QR code");
    assert!(qr.code.starts_with(&world.server.issued_refs()[0]), "the code shows the server's first ref");
    assert!(qr.expires_at > chrono::Utc::now() + chrono::Duration::seconds(50), "the first code lasts about a minute");
    assert_eq!(awaiting.pair_code, None);

    world.server.scan_qr(&qr.code).unwrap();
    let (connected, next) = world.sink.wait_status(next, DeviceStatus::Connected).await;
    assert_eq!(connected.phone.as_ref().map(PhoneNumber::as_str), Some(PHONE));
    world.logged_in(&device, next).await;

    let account = load_account(&world.sessions(), device.pk).await.unwrap().expect("linked");
    assert_eq!((account.pn.to_string(), account.lid.map(|l| l.to_string())), ("15550001234@s.whatsapp.net".into(), Some(LID.into())));
    let raw = world.store.session_get(device.pk, NAMESPACE, ACCOUNT_KEY).await.unwrap().expect("the connector's own record");
    assert!(String::from_utf8(raw).unwrap().contains(LID));
    world.connector.stop(device.pk).await;
}

/// `stop` closes the connection and nothing is reported afterwards; the session stays, so
/// `start` resumes it (Noise IK, no new code) and the device is connected again.
#[tokio::test(start_paused = true)]
async fn stop_is_quiet_and_start_resumes_the_linked_session() {
    let world = World::new(FakeServer::new());
    let device = device(2);
    let next = world.link(&device).await;
    let next = world.logged_in(&device, next).await;
    let connections = world.server.connections();

    world.connector.stop(device.pk).await;
    world.server.wait_for_connection_end(connections, LONG).await.expect("the client closes its connection");
    world.sink.assert_quiet(Duration::from_secs(120)).await;
    assert_eq!(world.server.connections(), connections, "a stopped session does not reconnect");
    assert!(world.connector.metrics(device.pk).is_none(), "a stopped device is forgotten");

    world.connector.start(&device).await.unwrap();
    let (_, next) = world.sink.wait_status(next, DeviceStatus::Connecting).await;
    let (connected, _) = world.sink.wait_status(next, DeviceStatus::Connected).await;
    assert_eq!(connected.phone.as_ref().map(PhoneNumber::as_str), Some(PHONE), "the number comes from the stored account");
    let resumed = world.server.handshakes().pop().unwrap();
    assert!(!resumed.is_registration(), "the stored session logs in; it does not link anew");
    assert!(world.server.issued_refs().len() <= 6, "no new QR codes");
    world.connector.stop(device.pk).await;
}

/// `start` leaves a device that was never linked alone: no client, no report.
#[tokio::test(start_paused = true)]
async fn start_skips_a_device_that_was_never_linked() {
    let world = World::new(FakeServer::new());
    world.connector.start(&device(3)).await.unwrap();
    world.sink.assert_quiet(Duration::from_secs(60)).await;
    assert_eq!(world.server.connections(), 0);
}

/// `logout` tells WhatsApp to remove the device, reports `logged_out`, and the session is gone:
/// a later `start` does nothing.
#[tokio::test(start_paused = true)]
async fn logout_unlinks_and_clears_the_session() {
    let world = World::new(FakeServer::new());
    let device = device(4);
    let next = world.link(&device).await;
    world.logged_in(&device, next).await;

    world.connector.logout(&device).await.unwrap();
    let last = world.sink.links().pop().unwrap();
    assert_eq!((last.status, last.detail), (DeviceStatus::LoggedOut, None), "reported before logout returns, and WhatsApp was told");
    world
        .server
        .wait_for_node(LONG, "remove-companion-device", |n| n.node.get_optional_child("remove-companion-device").is_some())
        .await
        .expect("the client asks WhatsApp to remove it");
    assert_eq!(load_account(&world.sessions(), device.pk).await.unwrap(), None);
    assert_eq!(world.store.session_get(device.pk, "meta", "device").await.unwrap(), None, "the library's identity is gone too");

    let connections = world.server.connections();
    world.connector.start(&device).await.unwrap();
    world.sink.assert_quiet(Duration::from_secs(60)).await;
    assert_eq!(world.server.connections(), connections);
}

/// The phone unlinks the device: `logged_out`, reported only once the session is cleared, and
/// no reconnect.
#[tokio::test(start_paused = true)]
async fn unlinked_from_the_phone_is_logged_out_and_cleared() {
    let world = World::new(FakeServer::new());
    let device = device(5);
    let next = world.link(&device).await;
    let next = world.logged_in(&device, next).await;
    let connections = world.server.connections();

    world.server.remove_device().unwrap();
    world.sink.wait_status(next, DeviceStatus::LoggedOut).await;
    assert_eq!(load_account(&world.sessions(), device.pk).await.unwrap(), None, "cleared before it was reported");
    world.sink.assert_quiet(Duration::from_secs(120)).await;
    assert_eq!(world.server.connections(), connections, "no reconnect after a logout");
    world.connector.stop(device.pk).await;
}

/// Another client takes the session over: `conflict`, and the connector does not fight back.
#[tokio::test(start_paused = true)]
async fn a_replaced_session_is_a_conflict_and_is_not_retried() {
    let world = World::new(FakeServer::new());
    let device = device(6);
    let next = world.link(&device).await;
    let next = world.logged_in(&device, next).await;
    let connections = world.server.connections();

    world.server.replace_stream().unwrap();
    let (conflict, _) = world.sink.wait_status(next, DeviceStatus::Conflict).await;
    assert!(conflict.detail.unwrap().contains("took over"));
    world.sink.assert_quiet(Duration::from_secs(120)).await;
    assert_eq!(world.server.connections(), connections);
    assert!(load_account(&world.sessions(), device.pk).await.unwrap().is_some(), "the session is kept: connect takes it back");
    world.connector.stop(device.pk).await;
}

/// A dropped connection: `connecting` with the reason, then `connected` again once the library
/// has reconnected by itself, and the drop is counted.
#[tokio::test(start_paused = true)]
async fn a_dropped_connection_is_reported_counted_and_recovered() {
    let world = World::new(FakeServer::new());
    let device = device(7);
    let next = world.link(&device).await;
    let next = world.logged_in(&device, next).await;

    world.server.drop_connection().unwrap();
    let (lost, next) = world.sink.wait_status(next, DeviceStatus::Connecting).await;
    assert!(lost.detail.unwrap().contains("connection lost"));
    world.sink.wait_status(next, DeviceStatus::Connected).await;
    let metrics = world.connector.metrics(device.pk).unwrap();
    assert_eq!((metrics.reconnects, metrics.connected), (1, 1));
    assert_eq!(world.connector.totals().reconnects, 1);
    world.connector.stop(device.pk).await;
}

/// WhatsApp stays unreachable: the device does not sit in `connecting` forever; after the grace
/// it is reported `disconnected` (the library keeps trying), and `connected` once it gets through.
#[tokio::test(start_paused = true)]
async fn an_unreachable_server_is_reported_disconnected_until_it_answers() {
    let world = World::new(FakeServer::new());
    let device = device(8);
    let next = world.link(&device).await;
    let next = world.logged_in(&device, next).await;
    world.connector.stop(device.pk).await;

    world.server.set_accepting(false);
    world.connector.start(&device).await.unwrap();
    let (down, next) = world.sink.wait_status(next, DeviceStatus::Disconnected).await;
    assert!(down.detail.unwrap().contains("has not answered"));
    world.server.set_accepting(true);
    world.sink.wait_status(next, DeviceStatus::Connected).await;
    world.connector.stop(device.pk).await;
}

/// QR codes that all expire: `link_expired`, and the connector does not start over by itself.
#[tokio::test(start_paused = true)]
async fn unscanned_qr_codes_expire_the_link() {
    let world = World::new(FakeServer::with_config(FakeServerConfig { refs_per_pairing: 2, ..FakeServerConfig::default() }));
    let device = device(9);
    world.connector.connect(&device, LinkMethod::Qr).await.unwrap();
    let (expired, _) = world.sink.wait_status(0, DeviceStatus::LinkExpired).await;
    assert!(expired.detail.unwrap().contains("QR"));
    world.sink.assert_quiet(Duration::from_secs(120)).await;
    assert_eq!(world.server.connections(), 1);
    world.connector.stop(device.pk).await;
}

/// Read receipts from the recipient reach the sink, one per message id, from the receipt queue.
#[tokio::test(start_paused = true)]
async fn receipts_reach_the_sink() {
    let world = World::new(FakeServer::new());
    let device = device(10);
    let next = world.link(&device).await;
    let next = world.logged_in(&device, next).await;

    let receipt = NodeBuilder::new("receipt")
        .attr("id", "3EB0AAAAAAAAAAAAAAAAAA")
        .attr("from", "15551112222@s.whatsapp.net")
        .attr("type", "read")
        .attr("t", "1700000000")
        .build();
    world.server.send_node(receipt).unwrap();
    let (read, _) = world
        .sink
        .wait(next, "a receipt", |s| match s {
            Seen::Receipt(r) => Some(r.clone()),
            _ => None,
        })
        .await;
    assert_eq!((read.network_id.as_str(), read.status), ("3EB0AAAAAAAAAAAAAAAAAA", MessageStatus::Read));
    assert_eq!(read.at.timestamp(), 1_700_000_000);
    world.connector.stop(device.pk).await;
}

/// Linking by pairing code: the code is requested for the number's digits, shown with its
/// expiry, and the QR codes the server still rotates on the same connection are not shown (they
/// would replace the code being typed). A code never entered expires the link.
#[tokio::test(start_paused = true)]
async fn pair_code_linking_shows_the_code_until_it_expires() {
    // The fake does not play the pairing-code server, so the test answers the request itself.
    let world = World::new(FakeServer::with_config(FakeServerConfig { answer_iqs: false, ..FakeServerConfig::default() }));
    let device = device(11);
    let phone = PhoneNumber::parse("+60123456789", None).unwrap();
    world.connector.connect(&device, LinkMethod::PairCode { phone }).await.unwrap();

    let hello = world
        .server
        .wait_for_node(LONG, "the pairing-code request", |n| n.node.get_optional_child("link_code_companion_reg").is_some())
        .await
        .expect("the client asks for a pairing code");
    let registration = hello.node.get_optional_child("link_code_companion_reg").unwrap();
    assert_eq!(nodes::attr(registration, "jid").as_deref(), Some("60123456789@s.whatsapp.net"), "digits, without the plus");
    let answer = NodeBuilder::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "result")
        .attr("id", nodes::attr(&hello.node, "id").unwrap())
        .children([NodeBuilder::new("link_code_companion_reg")
            .children([NodeBuilder::new("link_code_pairing_ref").bytes(b"fake-pairing-ref".to_vec()).build()])
            .build()])
        .build();
    world.server.send_node(answer).unwrap();

    let (awaiting, next) = world.sink.wait_status(0, DeviceStatus::AwaitingPairCode).await;
    let code = awaiting.pair_code.expect("a pairing code to show");
    assert_eq!(code.code.chars().filter(char::is_ascii_alphanumeric).count(), 8, "{}", code.code);
    assert!(code.expires_at > chrono::Utc::now() + chrono::Duration::seconds(60));
    assert_eq!(awaiting.qr, None);

    let (expired, _) = world.sink.wait_status(next, DeviceStatus::LinkExpired).await;
    assert!(expired.detail.unwrap().contains("pairing code"));
    assert!(world.sink.links().iter().all(|l| l.status != DeviceStatus::AwaitingScan), "no QR code replaced the pairing code");
    world.connector.stop(device.pk).await;
}

/// A device without a running session cannot send; the send worker retries later.
#[tokio::test(start_paused = true)]
async fn sending_without_a_session_is_not_connected() {
    let world = World::new(FakeServer::new());
    let error = world.connector.send(&device(12), &text_to("+60123456789")).await.unwrap_err();
    assert_eq!(error, ConnectorError::NotConnected);
    assert!(error.is_retryable());
}

/// The first message to a number asks WhatsApp whether the number is on it; an answer that
/// cannot be read (the fake answers every query with an empty result) is a retryable failure,
/// and the failure is counted.
#[tokio::test(start_paused = true)]
async fn the_first_send_to_a_number_checks_it_is_on_whatsapp() {
    let world = World::new(FakeServer::new());
    let device = device(13);
    let next = world.link(&device).await;
    world.logged_in(&device, next).await;

    let error = world.connector.send(&device, &text_to("+60123456789")).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    world
        .server
        .wait_for_node(LONG, "the existence check for the recipient", |n| {
            n.node.attrs.get("xmlns").is_some_and(|x| x.as_str() == "usync")
                && nodes::describe(&n.node).contains("<contact>+60123456789</contact>")
        })
        .await
        .expect("WhatsApp is asked about the recipient");
    assert_eq!(world.connector.metrics(device.pk).unwrap().send_failures, 1);
    world.connector.stop(device.pk).await;
}

/// A file Kirim has only a link to cannot be sent without a media source: `Unsupported`, before
/// anything goes to WhatsApp.
#[tokio::test(start_paused = true)]
async fn media_without_a_source_is_unsupported() {
    let world = World::new(FakeServer::new());
    let device = device(14);
    let next = world.link(&device).await;
    world.logged_in(&device, next).await;

    let mut message = text_to("+60123456789");
    message.content =
        MessageContent::Image { image: MediaContent { link: Some("https://example.com/a.jpg".into()), ..MediaContent::default() } };
    let sent_before = world.server.received().len();
    let error = world.connector.send(&device, &message).await.unwrap_err();
    assert!(matches!(&error, ConnectorError::Unsupported(why) if why.contains("media source")), "{error:?}");
    assert!(!error.is_retryable());
    let after = &world.server.received()[sent_before..];
    assert!(
        after.iter().all(|n| n.node.tag != "message" && !nodes::describe(&n.node).contains("60123456789")),
        "nothing was sent, not even the existence check"
    );
    world.connector.stop(device.pk).await;
}

/// `logout` of a linked device whose session is not running still unlinks it: a short-lived
/// client logs in just to ask WhatsApp to remove the device, then the session is cleared.
#[tokio::test(start_paused = true)]
async fn logout_of_a_stopped_device_still_tells_whatsapp() {
    let world = World::new(FakeServer::new());
    let device = device(15);
    let next = world.link(&device).await;
    world.logged_in(&device, next).await;
    world.connector.stop(device.pk).await;
    let connections = world.server.connections();

    world.connector.logout(&device).await.unwrap();
    assert_eq!(world.server.connections(), connections + 1, "one connection to deregister");
    let removal = world
        .server
        .wait_for_node(LONG, "remove-companion-device", |n| n.node.get_optional_child("remove-companion-device").is_some())
        .await
        .expect("WhatsApp is asked to remove the device");
    assert_eq!(removal.connection, connections + 1);
    let last = world.sink.links().pop().unwrap();
    assert_eq!((last.status, last.detail), (DeviceStatus::LoggedOut, None));
    assert_eq!(load_account(&world.sessions(), device.pk).await.unwrap(), None);
}

/// A login the server refuses without the library retrying (a `400` failure) is restarted by
/// the supervisor with backoff, reported `disconnected` with the reason meanwhile, and comes
/// back once the server accepts it.
#[tokio::test(start_paused = true)]
async fn a_refused_login_is_restarted_with_backoff() {
    let world = World::new(FakeServer::new());
    let device = device(16);
    let next = world.link(&device).await;
    let next = world.logged_in(&device, next).await;
    world.connector.stop(device.pk).await;

    world.server.set_login_reply(LoginReply::Failure(400));
    world.connector.start(&device).await.unwrap();
    let (refused, next) = world
        .sink
        .wait(next, "a restart", |s| match s {
            Seen::Link(l) if l.detail.as_deref().is_some_and(|d| d.contains("restarting in")) => Some(l.clone()),
            _ => None,
        })
        .await;
    assert_eq!(refused.status, DeviceStatus::Disconnected);
    assert!(refused.detail.unwrap().contains("refused the connection"));
    assert!(world.connector.metrics(device.pk).unwrap().restarts >= 1);

    world.server.set_login_reply(LoginReply::Success);
    world.sink.wait_status(next, DeviceStatus::Connected).await;
    world.connector.stop(device.pk).await;
}

/// A transport factory that panics once when armed, as a bug deep in a client would.
struct PanicOnce {
    inner: kirim_wa::fake::FakeTransportFactory,
    armed: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl TransportFactory for PanicOnce {
    async fn create_transport(&self) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("a bug in the transport");
        }
        self.inner.create_transport().await
    }
}

/// A client that panics takes only its own device down: the supervisor restarts it with
/// backoff, while another device of the same connector stays connected throughout.
#[tokio::test(start_paused = true)]
async fn a_panicking_client_is_restarted_without_touching_other_devices() {
    let server = FakeServer::new();
    let factory = Arc::new(PanicOnce { inner: server.transport_factory(), armed: false.into() });
    let world = World::with(server, |options| options.with_transport_arc(factory.clone()));
    let (steady, crashing) = (device(17), device(18));
    let next = world.link(&steady).await;
    world.logged_in(&steady, next).await;
    let next = world.link(&crashing).await;
    let next = world.logged_in(&crashing, next).await;
    let steady_reports = world.sink.links_of(steady.pk).len();

    factory.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    world.server.drop_connection().expect("the newest connection is the crashing device's");
    let (restart, next) = world
        .sink
        .wait_in(next, Some(crashing.pk), "a restart", |s| match s {
            Seen::Link(l) if l.detail.as_deref().is_some_and(|d| d.contains("restarting in")) => Some(l.clone()),
            _ => None,
        })
        .await;
    assert_eq!(restart.status, DeviceStatus::Disconnected);
    world.sink.wait_status_in(next, Some(crashing.pk), DeviceStatus::Connected).await;
    assert_eq!(world.connector.metrics(crashing.pk).unwrap().restarts, 1);

    assert_eq!(world.sink.links_of(steady.pk).len(), steady_reports, "the other device saw nothing");
    assert_eq!(world.connector.metrics(steady.pk).unwrap().connected, 1);
    assert_eq!(world.connector.totals().connected, 2);
    world.connector.stop(steady.pk).await;
    world.connector.stop(crashing.pk).await;
}
