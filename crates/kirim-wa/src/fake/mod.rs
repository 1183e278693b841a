//! An in-process fake WhatsApp server, so the unmodified whatsapp-rust client can be driven end to
//! end in tests without the network.
//!
//! [`FakeServer::transport_factory`] plugs into `Bot::builder().with_transport_factory(..)`. Every
//! transport the client opens is served by a task speaking the real start of the protocol: the
//! `WA` connection header, Noise XX as responder (IK when a paired client resumes), a certificate
//! chain with zeroed signatures — accepted only because the `fake-server` feature turns on
//! whatsapp-rust's `danger-skip-cert-chain-verify` — the encrypted `ClientPayload`, and then binary
//! nodes. A registering client is sent `pair-device` refs, so it emits real
//! `Event::PairingQrCode`s; [`FakeServer::scan_qr`] plays the phone and completes the link; a
//! logging-in client is answered per [`LoginReply`], and its post-login queries get empty but
//! well-formed answers, so it reaches `Event::Connected`. The handle's other controls stand in for
//! the server's side of the session: more refs, a dropped or refused socket, stream errors
//! (`StreamReplaced`, `LoggedOut`), arbitrary nodes. Use `.with_version(..)` on the builder so the
//! client does not try to fetch the current WhatsApp Web version over HTTP.

mod conn;
pub mod nodes;
mod phone;

pub use phone::LinkedDevice;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, bail};
use tokio::sync::{mpsc, watch};
use whatsapp_rust::async_channel;
use whatsapp_rust::async_trait;
use whatsapp_rust::buffa::{Message as _, MessageField};
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::transport::{DisconnectReason, Transport, TransportEvent, TransportFactory};
use whatsapp_rust::wacore::libsignal::protocol::KeyPair;
use whatsapp_rust::wacore_binary::Node;
use whatsapp_rust::waproto::whatsapp as wa;

use conn::{Command, FromClient, Pipe};
use phone::{Phone, ScannedCode};

/// How the fake answers connections; see [`FakeServer::with_config`].
#[derive(Clone, Debug)]
pub struct FakeServerConfig {
    /// How many refs the `pair-device` iq sent to each registering connection carries. The real
    /// server sends 6 (one QR code for 60 s, then five for 20 s each); 0 sends no iq at all.
    pub refs_per_pairing: usize,
    /// What a client that is already paired (its `ClientPayload` has a username) is told; can be
    /// changed later with [`FakeServer::set_login_reply`].
    pub login: LoginReply,
    /// Whether client iqs of type `get`/`set` are answered (an empty `result`, or an empty app
    /// state for sync queries), keeping keepalive pings and the post-login queries from stalling.
    /// Off, they go unanswered.
    pub answer_iqs: bool,
    /// The phone number of the account [`FakeServer::scan_qr`] links devices to.
    pub phone_number: String,
    /// That account's LID user.
    pub lid: String,
}

impl Default for FakeServerConfig {
    fn default() -> Self {
        Self {
            refs_per_pairing: 6,
            login: LoginReply::Success,
            answer_iqs: true,
            phone_number: "15550001234".into(),
            lid: "100000000000001".into(),
        }
    }
}

/// The fake server's answer to a paired client's login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginReply {
    /// `<success/>`: the session is up.
    Success,
    /// `<failure reason="…"/>`; 401 is "logged out while offline".
    Failure(u16),
    /// Nothing: the connection stays open and quiet.
    Silent,
}

/// Which Noise pattern a connection's handshake used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoisePattern {
    /// Full handshake: first connect, and every connect of an unpaired client.
    Xx,
    /// Resumption with the server static key a paired client cached from an earlier XX.
    Ik,
    /// IK the server could not complete (unknown cached key), finished as XX.
    XxFallback,
}

/// A completed handshake, as the server saw it.
#[derive(Clone, Debug)]
pub struct Handshake {
    /// 1-based ordinal of the connection (transport) it happened on.
    pub connection: usize,
    pub pattern: NoisePattern,
    /// The client's static Noise public key (the `noise-pub` of its QR codes).
    pub client_static_key: [u8; 32],
    /// The decrypted `ClientPayload`.
    pub payload: wa::ClientPayload,
}

impl Handshake {
    /// Whether the client is registering (unpaired, sends pairing data) rather than logging in.
    pub fn is_registration(&self) -> bool {
        self.payload.device_pairing_data.is_set()
    }

    /// The identity public key a registering client announced (the `identity-pub` of its QR codes).
    pub fn identity_key(&self) -> Option<&[u8]> {
        self.payload.device_pairing_data.as_option()?.e_ident.as_deref()
    }
}

/// A node the client sent, with the connection it came on.
#[derive(Clone, Debug)]
pub struct ReceivedNode {
    pub connection: usize,
    pub node: Node,
}

/// How a connection ended.
#[derive(Clone, Debug)]
pub enum ConnectionEnd {
    /// The client closed its transport (or dropped it).
    ByClient,
    /// The server closed it, telling the client this reason.
    ByServer(DisconnectReason),
    /// The server gave up on a protocol error (bad header, failed handshake, undecryptable frame).
    Failed(String),
}

/// A cloneable handle on one fake server; clones share its connections and state.
#[derive(Clone)]
pub struct FakeServer {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    static_key: KeyPair,
    cert_chain: Vec<u8>,
    config: FakeServerConfig,
    state: Mutex<State>,
    /// Bumped on every state change, so waits are notifications rather than polls.
    changed: watch::Sender<u64>,
}

struct State {
    accepting: bool,
    refused: usize,
    login: LoginReply,
    phone: Phone,
    linked: Vec<LinkedDevice>,
    connections: Vec<Slot>,
    handshakes: Vec<Handshake>,
    received: Vec<ReceivedNode>,
    issued_refs: Vec<String>,
    next_id: u64,
}

struct Slot {
    commands: mpsc::UnboundedSender<Command>,
    ready: bool,
    ended: Option<ConnectionEnd>,
}

impl Default for FakeServer {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeServer {
    /// A server with [`FakeServerConfig::default`].
    pub fn new() -> Self {
        Self::with_config(FakeServerConfig::default())
    }

    pub fn with_config(config: FakeServerConfig) -> Self {
        let static_key = KeyPair::generate(&mut rand_wa::rng());
        let cert_chain = certificate_chain(static_key.public_key.public_key_bytes());
        let state = State {
            accepting: true,
            refused: 0,
            login: config.login.clone(),
            phone: Phone::new(&config.phone_number, &config.lid),
            linked: Vec::new(),
            connections: Vec::new(),
            handshakes: Vec::new(),
            received: Vec::new(),
            issued_refs: Vec::new(),
            next_id: 1,
        };
        let inner = Inner { static_key, cert_chain, config, state: Mutex::new(state), changed: watch::channel(0).0 };
        Self { inner: Arc::new(inner) }
    }

    /// The factory to hand to `Bot::builder().with_transport_factory(..)`.
    pub fn transport_factory(&self) -> FakeTransportFactory {
        FakeTransportFactory { server: self.clone() }
    }

    /// Stops (or resumes) accepting connections: while refused, `create_transport` fails the way
    /// an unreachable network does and the client retries with backoff.
    pub fn set_accepting(&self, accepting: bool) {
        self.inner.update(|state| state.accepting = accepting);
    }

    /// Waits until the client has been refused `count` connections in all (see
    /// [`set_accepting`](Self::set_accepting)).
    pub async fn wait_for_refusals(&self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        self.wait_until(timeout, &format!("{count} refused connections"), |state| (state.refused >= count).then_some(())).await
    }

    /// Changes what later logins of paired clients are told, e.g. `LoginReply::Failure(401)` to
    /// have the device found logged out when it next connects.
    pub fn set_login_reply(&self, reply: LoginReply) {
        self.inner.update(|state| state.login = reply);
    }

    /// Plays the phone scanning `code` (an `Event::PairingQrCode` payload): links a new device to
    /// the configured account and sends `pair-success` on the connection that shows the code. The
    /// client verifies it, answers `pair-device-sign` and emits `Event::PairSuccess`; the server
    /// then restarts the stream (515) and the client logs in on a new connection, answered per
    /// the [`LoginReply`] (by default `<success/>`, leading to `Event::Connected`).
    pub fn scan_qr(&self, code: &str) -> anyhow::Result<LinkedDevice> {
        let code = ScannedCode::parse(code)?;
        let (linked, iq, commands) = self.inner.update(|state| {
            if !state.issued_refs.contains(&code.reference) {
                bail!("ref {} was never issued by this server", code.reference);
            }
            // The server routes the scan to the connection whose Noise key the code shows.
            let connection = state
                .handshakes
                .iter()
                .rev()
                .find(|h| h.client_static_key == code.noise_key && h.is_registration())
                .map(|h| h.connection)
                .ok_or_else(|| anyhow!("no registering connection uses the code's noise key"))?;
            let slot = &state.connections[connection - 1];
            if slot.ended.is_some() {
                bail!("the connection showing this code has ended");
            }
            let commands = slot.commands.clone();
            let iq_id = state.next_id();
            let (linked, iq) = state.phone.link(&code, &iq_id)?;
            state.linked.push(linked.clone());
            Ok((linked, iq, commands))
        })?;
        commands.send(Command::Send(iq)).map_err(|_| anyhow!("the connection showing this code has just ended"))?;
        Ok(linked)
    }

    /// Every device [`scan_qr`](Self::scan_qr) linked, oldest first.
    pub fn linked_devices(&self) -> Vec<LinkedDevice> {
        self.inner.lock().linked.clone()
    }

    /// How many transports the client has opened.
    pub fn connections(&self) -> usize {
        self.inner.lock().connections.len()
    }

    /// Every completed handshake, oldest first.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.inner.lock().handshakes.clone()
    }

    /// Every ref sent in a `pair-device` iq, oldest first.
    pub fn issued_refs(&self) -> Vec<String> {
        self.inner.lock().issued_refs.clone()
    }

    /// Every node the client sent, oldest first.
    pub fn received(&self) -> Vec<ReceivedNode> {
        self.inner.lock().received.clone()
    }

    /// How connection `connection` (1-based) ended, if it has.
    pub fn connection_end(&self, connection: usize) -> Option<ConnectionEnd> {
        self.inner.lock().connections.get(connection.checked_sub(1)?)?.ended.clone()
    }

    /// Waits until `count` handshakes have completed and returns the `count`th.
    pub async fn wait_for_handshake(&self, count: usize, timeout: Duration) -> anyhow::Result<Handshake> {
        self.wait_until(timeout, &format!("handshake #{count}"), |state| state.handshakes.get(count.wrapping_sub(1)).cloned()).await
    }

    /// Waits for a client node (any connection, sent at any time) matching `matches`.
    pub async fn wait_for_node(
        &self,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&ReceivedNode) -> bool,
    ) -> anyhow::Result<ReceivedNode> {
        self.wait_until(timeout, what, |state| state.received.iter().find(|n| matches(n)).cloned()).await
    }

    /// Waits until connection `connection` (1-based) has ended and says how.
    pub async fn wait_for_connection_end(&self, connection: usize, timeout: Duration) -> anyhow::Result<ConnectionEnd> {
        self.wait_until(timeout, &format!("connection #{connection} to end"), |state| {
            state.connections.get(connection.wrapping_sub(1))?.ended.clone()
        })
        .await
    }

    /// Sends a fresh `pair-device` iq with `count` new refs on the current connection, which
    /// makes the client drop its current QR rotation and emit a code for the first new ref at
    /// once. Returns the refs.
    pub fn send_pair_refs(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let (node, refs) = self.inner.update(|state| state.pair_device(count));
        self.send_node(node)?;
        Ok(refs)
    }

    /// Sends `node` on the current connection (the newest one that completed its handshake and is
    /// still open).
    pub fn send_node(&self, node: Node) -> anyhow::Result<()> {
        self.command(Command::Send(node))
    }

    /// Ends the current connection as a clean server stream end (EOF). The client reports
    /// `Event::Disconnected` and reconnects after its backoff (about a second the first time).
    pub fn drop_connection(&self) -> anyhow::Result<()> {
        self.close_connection(DisconnectReason::StreamEnded)
    }

    /// Ends the current connection with `reason` (e.g. `DisconnectReason::ReadError(..)` for an
    /// abrupt failure).
    pub fn close_connection(&self, reason: DisconnectReason) -> anyhow::Result<()> {
        self.command(Command::Close(reason))
    }

    /// `<stream:error><conflict type="replaced"/>`: the client emits `Event::StreamReplaced`,
    /// closes the connection and stops reconnecting.
    pub fn replace_stream(&self) -> anyhow::Result<()> {
        self.send_node(nodes::stream_replaced())
    }

    /// `<stream:error code="401"><conflict type="device_removed"/>`: the device was unlinked from
    /// the phone. The client emits `Event::LoggedOut`, closes and stops reconnecting.
    pub fn remove_device(&self) -> anyhow::Result<()> {
        self.send_node(nodes::device_removed())
    }

    fn command(&self, command: Command) -> anyhow::Result<()> {
        let state = self.inner.lock();
        let slot = state.connections.iter().rev().find(|slot| slot.ready && slot.ended.is_none());
        let slot = slot.ok_or_else(|| anyhow!("the fake server has no open, handshaken connection"))?;
        slot.commands.send(command).map_err(|_| anyhow!("the current connection has just ended"))
    }

    async fn wait_until<T>(&self, timeout: Duration, what: &str, mut check: impl FnMut(&State) -> Option<T>) -> anyhow::Result<T> {
        // Subscribed before the first check, so a change between check and wait is not missed.
        let mut changed = self.inner.changed.subscribe();
        let wait = async {
            loop {
                if let Some(found) = check(&self.inner.lock()) {
                    return found;
                }
                // The sender lives as long as `self.inner`, so this cannot fail.
                let _ = changed.changed().await;
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| anyhow!("timed out after {timeout:?} waiting for {what}"))
    }

    fn open(&self) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        let (to_server, from_client) = mpsc::unbounded_channel();
        let (to_client, events) = async_channel::unbounded();
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let id = self.inner.update(|state| {
            if !state.accepting {
                state.refused += 1;
                bail!("the fake server is refusing connections");
            }
            state.connections.push(Slot { commands: commands_tx, ready: false, ended: None });
            Ok(state.connections.len())
        })?;
        // Queued before any data, as the WebSocket transport does.
        let _ = to_client.try_send(TransportEvent::Connected);
        tokio::spawn(conn::serve(self.inner.clone(), id, Pipe { from_client, to_client, commands }));
        Ok((Arc::new(FakeTransport { to_server }), events))
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let result = change(&mut self.lock());
        self.changed.send_modify(|version| *version += 1);
        result
    }

    /// Records the handshake and returns what the server says first.
    fn handshake_completed(&self, handshake: &Handshake) -> Vec<Node> {
        let refs = self.config.refs_per_pairing;
        self.update(|state| {
            state.handshakes.push(handshake.clone());
            state.connections[handshake.connection - 1].ready = true;
            if handshake.is_registration() {
                if refs == 0 { vec![] } else { vec![state.pair_device(refs).0] }
            } else {
                match state.login {
                    LoginReply::Success => vec![nodes::success(&format!("{}@lid", state.phone.lid))],
                    LoginReply::Failure(reason) => vec![nodes::connect_failure(reason)],
                    LoginReply::Silent => vec![],
                }
            }
        })
    }

    /// Records a client node and returns the server's automatic answers to it.
    fn node_received(&self, connection: usize, node: &Node) -> Vec<Node> {
        tracing::debug!(target: "kirim_wa::fake", node = %nodes::describe(node), "client -> server");
        self.update(|state| state.received.push(ReceivedNode { connection, node: node.clone() }));
        if node.tag != "iq" {
            return vec![];
        }
        // The companion signed its identity: pairing is done, restart the stream so it logs in.
        if node.get_optional_child("pair-device-sign").is_some() {
            return vec![nodes::stream_error(515)];
        }
        let is_request = matches!(nodes::attr(node, "type").as_deref(), Some("get" | "set"));
        let Some(id) = nodes::attr(node, "id").filter(|_| is_request && self.config.answer_iqs) else { return vec![] };
        match nodes::attr(node, "xmlns").as_deref() {
            Some("w:sync:app:state") => vec![nodes::empty_app_state(&id, node)],
            // Going active is what starts offline delivery; an empty one ends at once.
            Some("passive") if node.get_optional_child("active").is_some() => vec![nodes::iq_result(&id), nodes::offline_done()],
            _ => vec![nodes::iq_result(&id)],
        }
    }

    fn connection_ended(&self, connection: usize, end: ConnectionEnd) {
        tracing::debug!(target: "kirim_wa::fake", connection, ?end, "connection ended");
        self.update(|state| state.connections[connection - 1].ended = Some(end));
    }
}

impl State {
    fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("fake-{}", self.next_id)
    }

    /// A `pair-device` iq with `count` new refs (recorded as issued).
    fn pair_device(&mut self, count: usize) -> (Node, Vec<String>) {
        let refs: Vec<String> = (0..count).map(|_| format!("2@{}", self.next_id())).collect();
        self.issued_refs.extend(refs.iter().cloned());
        (nodes::pair_device(&self.next_id(), &refs), refs)
    }
}

/// The [`TransportFactory`] of a [`FakeServer`]: each transport is an in-memory pipe to a new
/// server-side connection task.
pub struct FakeTransportFactory {
    server: FakeServer,
}

#[async_trait]
impl TransportFactory for FakeTransportFactory {
    async fn create_transport(&self) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        self.server.open()
    }
}

struct FakeTransport {
    to_server: mpsc::UnboundedSender<FromClient>,
}

#[async_trait]
impl Transport for FakeTransport {
    async fn send(&self, data: Bytes) -> anyhow::Result<()> {
        self.to_server.send(FromClient::Data(data)).map_err(|_| anyhow!("fake connection is closed"))
    }

    async fn disconnect(&self) {
        let _ = self.to_server.send(FromClient::Close);
    }
}

/// A `CertChain` whose leaf certifies `static_key`, issued by an intermediate with issuer serial 0
/// as the client requires. The signatures are zeros: the client only accepts the chain because
/// `danger-skip-cert-chain-verify` skips their XEdDSA checks. Valid from an hour ago for a year,
/// so the IK resumption window (which checks the dates) is open.
fn certificate_chain(static_key: &[u8]) -> Vec<u8> {
    use wa::cert_chain::{NoiseCertificate, noise_certificate::Details};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (not_before, not_after) = (now - 3600, now + 365 * 24 * 3600);
    let certificate = |serial, issuer_serial, key: Vec<u8>| NoiseCertificate {
        details: Some(
            Details {
                serial: Some(serial),
                issuer_serial: Some(issuer_serial),
                key: Some(key),
                not_before: Some(not_before),
                not_after: Some(not_after),
            }
            .encode_to_vec(),
        ),
        signature: Some(vec![0; 64]),
    };
    let intermediate_key = KeyPair::generate(&mut rand_wa::rng()).public_key.public_key_bytes().to_vec();
    wa::CertChain {
        leaf: MessageField::some(certificate(2, 1, static_key.to_vec())),
        intermediate: MessageField::some(certificate(1, 0, intermediate_key)),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_chain_certifies_the_static_key() {
        let server = FakeServer::new();
        let static_key: [u8; 32] = server.inner.static_key.public_key.public_key_bytes().try_into().unwrap();
        let verified = whatsapp_rust::wacore::handshake::HandshakeUtils::verify_server_cert(&server.inner.cert_chain, &static_key)
            .expect("the client accepts the chain with cert verification skipped");
        assert_eq!(verified.leaf_key, static_key);
    }
}
