//! The unmodified whatsapp-rust `Bot` against the in-process fake server: QR linking, QR refresh
//! and exhaustion, server-dropped connections, stream replacement and logout.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kirim_wa::fake::{ConnectionEnd, FakeServer, FakeServerConfig, Handshake, LinkedDevice, LoginReply, NoisePattern};
use tokio::sync::mpsc;
use whatsapp_rust::bot::{Bot, BotHandle, EventDelivery};
use whatsapp_rust::transport::DisconnectReason;
use whatsapp_rust::types::events::{ConnectFailureReason, Event};
use whatsapp_rust::wacore::store::InMemoryBackend;

/// Bound on every wait in real time; generous for a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(20);

/// A running bot and the events it emitted, in order.
struct Client {
    bot: BotHandle,
    events: mpsc::UnboundedReceiver<Arc<Event>>,
}

/// Starts an unpaired bot whose only way out is `server`. `.with_version` keeps it from fetching
/// the current WhatsApp Web version over HTTP.
async fn start(server: &FakeServer) -> Client {
    let (tx, events) = mpsc::unbounded_channel();
    let bot = Bot::builder()
        .with_backend(InMemoryBackend::new())
        .with_transport_factory(server.transport_factory())
        .with_version((2, 3000, 1_023_000_000))
        .with_event_delivery(EventDelivery::Ordered { capacity: 1024 })
        .on_event(move |event, _client| {
            let _ = tx.send(event);
            async {}
        })
        .build()
        .await
        .expect("the bot builds");
    Client { bot: bot.spawn(), events }
}

impl Client {
    /// The next event `pick` accepts, skipping the others; panics after `within`.
    async fn next<T>(&mut self, within: Duration, what: &str, pick: impl Fn(&Event) -> Option<T>) -> T {
        let found = tokio::time::timeout(within, async {
            while let Some(event) = self.events.recv().await {
                if let Some(found) = pick(&event) {
                    return Some(found);
                }
            }
            None
        });
        match found.await {
            Ok(Some(found)) => found,
            Ok(None) => panic!("the event stream ended before {what}"),
            Err(_) => panic!("no {what} within {within:?}"),
        }
    }

    async fn next_qr(&mut self, within: Duration) -> (String, Duration) {
        self.next(within, "a QR code", |event| match event {
            Event::PairingQrCode(qr) => Some((qr.code.clone(), qr.timeout)),
            _ => None,
        })
        .await
    }

    /// Waits for the bot's run loop to exit on its own (it stopped reconnecting).
    async fn stopped(self, within: Duration) {
        tokio::time::timeout(within, self.bot).await.expect("the bot stops by itself");
    }
}

/// The QR payload's comma-separated fields.
struct Qr {
    reference: String,
    noise_key: Vec<u8>,
    identity_key: Vec<u8>,
    adv_secret: Vec<u8>,
    client_type: String,
}

fn parse_qr(code: &str) -> Qr {
    let fields: Vec<&str> = code.split(',').collect();
    assert_eq!(fields.len(), 5, "ref,noise-pub,identity-pub,adv-secret,client-type: {code}");
    let decode = |field: &str| BASE64.decode(field).unwrap_or_else(|e| panic!("{field} is not base64: {e}"));
    Qr {
        reference: fields[0].to_owned(),
        noise_key: decode(fields[1]),
        identity_key: decode(fields[2]),
        adv_secret: decode(fields[3]),
        client_type: fields[4].to_owned(),
    }
}

async fn registration(server: &FakeServer, count: usize) -> Handshake {
    let handshake = server.wait_for_handshake(count, WAIT).await.expect("the client completes the handshake");
    assert!(handshake.is_registration(), "an unpaired client registers");
    handshake
}

/// Linking starts: the client speaks XX with the fake, registers, acknowledges `pair-device` and
/// shows a QR code for the first ref, built from the very keys it used in the handshake.
#[tokio::test]
async fn the_client_shows_a_qr_code_for_the_servers_ref() {
    let server = FakeServer::new();
    let mut client = start(&server).await;

    let handshake = registration(&server, 1).await;
    assert_eq!(handshake.pattern, NoisePattern::Xx);
    let (code, timeout) = client.next_qr(WAIT).await;

    let qr = parse_qr(&code);
    let refs = server.issued_refs();
    assert_eq!(refs.len(), 6, "the default pair-device carries six refs, like WhatsApp's");
    assert_eq!(qr.reference, refs[0]);
    assert_eq!(qr.noise_key, handshake.client_static_key, "noise-pub is the handshake's static key");
    assert_eq!(Some(qr.identity_key.as_slice()), handshake.identity_key(), "identity-pub is the registered identity");
    assert_eq!(qr.adv_secret.len(), 32);
    assert_eq!(qr.client_type.len(), 1);
    assert!(timeout <= Duration::from_secs(60) && timeout > Duration::from_secs(50), "first code lasts 60 s: {timeout:?}");

    // The client acknowledged the pair-device iq with an empty result.
    let ack = server
        .wait_for_node(WAIT, "the pair-device ack", |n| {
            n.node.tag == "iq" && n.node.attrs.get("type").is_some_and(|t| t.as_str() == "result")
        })
        .await
        .expect("the client acks pair-device");
    assert_eq!(ack.connection, 1);
    client.bot.shutdown().await;
}

/// QR refresh: a new `pair-device` replaces the rotation, and the client shows the new ref at once
/// with the same keys.
#[tokio::test]
async fn new_refs_produce_a_new_code() {
    let server = FakeServer::new();
    let mut client = start(&server).await;
    let first = parse_qr(&client.next_qr(WAIT).await.0);

    let refs = server.send_pair_refs(3).expect("the connection is up");
    let (code, timeout) = client.next_qr(WAIT).await;
    let refreshed = parse_qr(&code);

    assert_eq!(refreshed.reference, refs[0]);
    assert_ne!(refreshed.reference, first.reference);
    assert_eq!((refreshed.noise_key, refreshed.identity_key), (first.noise_key, first.identity_key));
    assert!(timeout > Duration::from_secs(50), "a new batch starts with a 60 s code: {timeout:?}");
    assert_eq!(server.connections(), 1, "refreshing needs no new connection");
    client.bot.shutdown().await;
}

/// QR expiry: each ref is shown until it lapses (60 s, then 20 s), and after the last one the
/// client reports `PairingQrCodesExhausted` and disconnects. Runs on a paused clock, so the 80
/// virtual seconds take no real time; the bounds are virtual too, so they exceed the rotation.
#[tokio::test(start_paused = true)]
async fn qr_codes_expire_and_run_out() {
    let long = Duration::from_secs(600);
    let server = FakeServer::with_config(FakeServerConfig { refs_per_pairing: 2, ..FakeServerConfig::default() });
    let mut client = start(&server).await;

    let (first, first_timeout) = client.next_qr(long).await;
    let (second, second_timeout) = client.next_qr(long).await;
    let refs = server.issued_refs();
    assert_eq!((parse_qr(&first).reference, parse_qr(&second).reference), (refs[0].clone(), refs[1].clone()));
    // The advertised validity counts down on the real clock, so allow for the test's own run time.
    let about = |d: Duration, secs: u64| d <= Duration::from_secs(secs) && d > Duration::from_secs(secs - 5);
    assert!(about(first_timeout, 60) && about(second_timeout, 20), "60 s, then 20 s: {first_timeout:?}, {second_timeout:?}");

    let disconnected = client
        .next(long, "PairingQrCodesExhausted", |event| match event {
            Event::PairingQrCodesExhausted(exhausted) => Some(exhausted.disconnected),
            _ => None,
        })
        .await;
    assert!(disconnected, "with no pair-code flow the client closes the socket itself");
    let end = server.wait_for_connection_end(1, long).await.expect("the client closes");
    assert!(matches!(end, ConnectionEnd::ByClient), "{end:?}");
    client.stopped(long).await;
    assert_eq!(server.connections(), 1, "running out of codes does not reconnect");
}

/// A server-dropped connection: the client reports `Disconnected` with the clean stream-end reason,
/// reconnects on its own with a new handshake, and links again with the new connection's refs.
#[tokio::test]
async fn the_client_reconnects_after_the_server_drops_it() {
    let server = FakeServer::new();
    let mut client = start(&server).await;
    client.next_qr(WAIT).await;

    server.drop_connection().expect("the connection is up");
    let reason = client
        .next(WAIT, "Disconnected", |event| match event {
            Event::Disconnected(disconnected) => Some(disconnected.reason.clone()),
            _ => None,
        })
        .await;
    assert!(matches!(reason, DisconnectReason::StreamEnded), "{reason:?}");
    assert!(matches!(server.connection_end(1), Some(ConnectionEnd::ByServer(DisconnectReason::StreamEnded))));

    let second = registration(&server, 2).await;
    assert_eq!(second.connection, 2);
    assert_eq!(second.pattern, NoisePattern::Xx, "an unpaired client never resumes with IK");
    let new_refs: Vec<String> = server.issued_refs().split_off(6);
    let code = client
        .next(WAIT, "a QR code for the new connection", |event| match event {
            Event::PairingQrCode(qr) if new_refs.contains(&parse_qr(&qr.code).reference) => Some(qr.code.clone()),
            _ => None,
        })
        .await;
    assert_eq!(parse_qr(&code).noise_key, second.client_static_key);
    client.bot.shutdown().await;
}

/// `<stream:error><conflict type="replaced"/>`: `StreamReplaced`, the client closes the socket and
/// does not come back.
#[tokio::test]
async fn a_replaced_stream_ends_the_session() {
    let server = FakeServer::new();
    let mut client = start(&server).await;
    client.next_qr(WAIT).await;

    server.replace_stream().expect("the connection is up");
    client.next(WAIT, "StreamReplaced", |event| matches!(event, Event::StreamReplaced(_)).then_some(())).await;
    let end = server.wait_for_connection_end(1, WAIT).await.expect("the client closes");
    assert!(matches!(end, ConnectionEnd::ByClient), "{end:?}");
    client.stopped(WAIT).await;
    assert_eq!(server.connections(), 1, "no reconnect after being replaced");
}

/// `<stream:error code="401"><conflict type="device_removed"/>`: `LoggedOut` (not on connect), the
/// client closes the socket and does not come back.
#[tokio::test]
async fn a_removed_device_is_logged_out() {
    let server = FakeServer::new();
    let mut client = start(&server).await;
    client.next_qr(WAIT).await;

    server.remove_device().expect("the connection is up");
    let (on_connect, reason) = client
        .next(WAIT, "LoggedOut", |event| match event {
            Event::LoggedOut(logged_out) => Some((logged_out.on_connect, logged_out.reason)),
            _ => None,
        })
        .await;
    assert!(!on_connect);
    assert_eq!(reason, ConnectFailureReason::LoggedOut);
    server.wait_for_connection_end(1, WAIT).await.expect("the client closes");
    client.stopped(WAIT).await;
    assert_eq!(server.connections(), 1, "no reconnect after logout");
}

/// A refused connection is retried: the client keeps trying (with backoff) until the server
/// accepts again.
#[tokio::test]
async fn refused_connections_are_retried() {
    let server = FakeServer::new();
    server.set_accepting(false);
    let mut client = start(&server).await;
    server.wait_for_refusals(1, WAIT).await.expect("the client tries to connect");
    server.set_accepting(true);
    client.next_qr(WAIT).await;
    assert_eq!(server.connections(), 1, "refused attempts open no connection");
    client.bot.shutdown().await;
}

/// Bound on waits in the paused-clock tests, in virtual time: longer than anything the client
/// waits for on its own (a QR rotation, the 10 s app-state key grace), so it only trips on a hang.
const LONG: Duration = Duration::from_secs(600);

/// Scans the client's first QR code with the fake phone and waits for the client to report the
/// pairing and then, after the post-pairing restart and login, `Connected`.
async fn link(server: &FakeServer, client: &mut Client) -> LinkedDevice {
    let (code, _) = client.next_qr(LONG).await;
    let linked = server.scan_qr(&code).expect("the phone scans the code");
    let paired = client
        .next(LONG, "PairSuccess", |event| match event {
            Event::PairSuccess(success) => Some((success.id.clone(), success.lid.clone())),
            _ => None,
        })
        .await;
    assert_eq!(paired, (linked.jid.clone(), linked.lid.clone()));
    client.next(LONG, "Connected", |event| matches!(event, Event::Connected(_)).then_some(())).await;
    linked
}

/// Linking end to end: the phone scans the code, the client verifies the signed device identity
/// and reports `PairSuccess`, the server restarts the stream (515), and the client logs in on a
/// new connection as the linked device and reports `Connected`.
#[tokio::test(start_paused = true)]
async fn scanning_the_code_links_the_device() {
    let server = FakeServer::new();
    let mut client = start(&server).await;
    let linked = link(&server, &mut client).await;

    assert_eq!(linked.jid.to_string(), "15550001234:1@s.whatsapp.net");
    assert_eq!(linked.lid.to_string(), "100000000000001:1@lid");
    let signed = server
        .wait_for_node(LONG, "pair-device-sign", |n| n.node.get_optional_child("pair-device-sign").is_some())
        .await
        .expect("the client signs its identity");
    assert_eq!(signed.connection, 1);
    assert!(matches!(server.connection_end(1), Some(ConnectionEnd::ByClient)), "the client closes after the 515");

    let login = server.wait_for_handshake(2, LONG).await.expect("the client logs in");
    assert!(!login.is_registration(), "the second connection is a login");
    assert_eq!((login.payload.username, login.payload.device), (Some(15_550_001_234), Some(1)));
    assert_eq!(login.pattern, NoisePattern::Xx, "nothing was cached while unpaired");
    client.bot.shutdown().await;
}

/// A linked client that loses its connection comes back on its own, now resuming with Noise IK
/// (it cached the server's certificate chain on its first paired login), and reconnects.
#[tokio::test(start_paused = true)]
async fn a_linked_device_reconnects_with_ik() {
    let server = FakeServer::new();
    let mut client = start(&server).await;
    link(&server, &mut client).await;

    server.drop_connection().expect("the connection is up");
    client.next(LONG, "Disconnected", |event| matches!(event, Event::Disconnected(_)).then_some(())).await;
    let resumed = server.wait_for_handshake(3, LONG).await.expect("the client reconnects");
    assert_eq!(resumed.pattern, NoisePattern::Ik);
    assert_eq!(resumed.payload.username, Some(15_550_001_234));
    client.next(LONG, "Connected again", |event| matches!(event, Event::Connected(_)).then_some(())).await;
    client.bot.shutdown().await;
}

/// A linked device unlinked from the phone while connected: `LoggedOut` (not on connect), no
/// reconnect.
#[tokio::test(start_paused = true)]
async fn a_linked_device_removed_from_the_phone_is_logged_out() {
    let server = FakeServer::new();
    let mut client = start(&server).await;
    link(&server, &mut client).await;

    server.remove_device().expect("the connection is up");
    let on_connect = client
        .next(LONG, "LoggedOut", |event| match event {
            Event::LoggedOut(logged_out) => Some(logged_out.on_connect),
            _ => None,
        })
        .await;
    assert!(!on_connect);
    client.stopped(LONG).await;
    assert_eq!(server.connections(), 2, "no reconnect after logout");
}

/// A linked device that was unlinked while it was offline: its next login is refused with
/// `<failure reason="401"/>`, which the client reports as `LoggedOut` on connect, and it stops.
#[tokio::test(start_paused = true)]
async fn a_linked_device_logged_out_while_offline_is_told_on_connect() {
    let server = FakeServer::new();
    let mut client = start(&server).await;
    link(&server, &mut client).await;

    server.set_login_reply(LoginReply::Failure(401));
    server.drop_connection().expect("the connection is up");
    let (on_connect, reason) = client
        .next(LONG, "LoggedOut", |event| match event {
            Event::LoggedOut(logged_out) => Some((logged_out.on_connect, logged_out.reason)),
            _ => None,
        })
        .await;
    assert!(on_connect);
    assert_eq!(reason, ConnectFailureReason::LoggedOut);
    client.stopped(LONG).await;
    assert_eq!(server.connections(), 3, "no reconnect after the refused login");
}
