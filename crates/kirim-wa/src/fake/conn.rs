//! One connection of the fake server: the connection header, the Noise handshake as responder,
//! then encrypted binary nodes both ways until either side closes.

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use tokio::sync::mpsc;
use whatsapp_rust::async_channel;
use whatsapp_rust::buffa::{Message as _, MessageField};
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::transport::{DisconnectReason, TransportEvent};
use whatsapp_rust::wacore::framing::{FrameDecoder, encode_frame};
use whatsapp_rust::wacore::handshake::{NoiseCipher, NoiseHandshake};
use whatsapp_rust::wacore::libsignal::protocol::KeyPair;
use whatsapp_rust::wacore_binary::consts::{NOISE_PATTERN_IK, NOISE_PATTERN_XX, NOISE_PATTERN_XXFALLBACK, WA_CONN_HEADER};
use whatsapp_rust::wacore_binary::{Node, marshal, marshal::unmarshal_ref, util::unpack};
use whatsapp_rust::waproto::whatsapp as wa;

use super::{ConnectionEnd, Handshake, Inner, NoisePattern, nodes};

/// What the client's [`Transport`](whatsapp_rust::transport::Transport) hands the server.
pub(super) enum FromClient {
    Data(Bytes),
    Close,
}

/// What a test (through [`super::FakeServer`]) asks a live connection to do.
pub(super) enum Command {
    Send(Node),
    Close(DisconnectReason),
}

/// The two directions of one connection, seen from the server.
pub(super) struct Pipe {
    pub(super) from_client: mpsc::UnboundedReceiver<FromClient>,
    pub(super) to_client: async_channel::Sender<TransportEvent>,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
}

/// Runs connection `id` to its end and records how it ended.
pub(super) async fn serve(server: Arc<Inner>, id: usize, mut pipe: Pipe) {
    let end = match run(&server, id, &mut pipe).await {
        Ok(end) => end,
        Err(e) => ConnectionEnd::Failed(format!("{e:#}")),
    };
    // A server-side end tells the client why, like the WebSocket read pump does; a client-side one
    // still reports `Disconnected` (the real transport does too, with an unknown reason).
    let reason = match &end {
        ConnectionEnd::ByServer(reason) => reason.clone(),
        ConnectionEnd::ByClient => DisconnectReason::Unknown,
        ConnectionEnd::Failed(e) => DisconnectReason::ReadError(e.clone()),
    };
    let _ = pipe.to_client.send(TransportEvent::Disconnected(reason)).await;
    server.connection_ended(id, end);
}

async fn run(server: &Inner, id: usize, pipe: &mut Pipe) -> anyhow::Result<ConnectionEnd> {
    let mut wire = Wire { from_client: &mut pipe.from_client, buffered: Vec::new(), decoder: FrameDecoder::new() };
    let Some(()) = wire.read_connection_header().await? else { return Ok(ConnectionEnd::ByClient) };
    let Some(hello) = wire.next_frame().await? else { return Ok(ConnectionEnd::ByClient) };
    let hello = wa::HandshakeMessage::decode_from_slice(&hello).context("decoding ClientHello")?;
    let hello = hello.client_hello.into_option().context("first handshake message has no ClientHello")?;
    let client_ephemeral: [u8; 32] = key32(hello.ephemeral.as_deref(), "client ephemeral")?;

    let established = match (hello.r#static.as_deref(), hello.payload.as_deref()) {
        (Some(sealed_static), Some(sealed_payload)) => {
            match respond_ik(server, &client_ephemeral, sealed_static, sealed_payload) {
                Ok((established, server_hello)) => {
                    send_raw(&pipe.to_client, &server_hello).await?;
                    established
                }
                // The client resumed against a static key this server doesn't hold (a session made
                // elsewhere, or another fake): answer the way WhatsApp does, with XX fallback.
                Err(_) => respond_xx(server, &mut wire, &pipe.to_client, &client_ephemeral, NoisePattern::XxFallback).await?,
            }
        }
        _ => respond_xx(server, &mut wire, &pipe.to_client, &client_ephemeral, NoisePattern::Xx).await?,
    };
    let Some(Established { read, write, pattern, client_static, payload }) = established else {
        return Ok(ConnectionEnd::ByClient);
    };
    let payload = wa::ClientPayload::decode_from_slice(&payload).context("decoding ClientPayload")?;
    let mut session = Session { read, read_counter: 0, write, write_counter: 0, to_client: pipe.to_client.clone() };

    let handshake = Handshake { connection: id, pattern, client_static_key: client_static, payload };
    for node in server.handshake_completed(&handshake) {
        session.send(&node).await?;
    }

    loop {
        tokio::select! {
            signal = wire.from_client.recv() => match signal {
                Some(FromClient::Data(data)) => {
                    wire.decoder.feed(&data);
                    while let Some(frame) = wire.decoder.decode_frame() {
                        let node = session.open(frame.to_vec())?;
                        for reply in server.node_received(id, &node) {
                            session.send(&reply).await?;
                        }
                    }
                }
                Some(FromClient::Close) | None => return Ok(ConnectionEnd::ByClient),
            },
            command = pipe.commands.recv() => match command {
                Some(Command::Send(node)) => session.send(&node).await?,
                Some(Command::Close(reason)) => return Ok(ConnectionEnd::ByServer(reason)),
                None => return Ok(ConnectionEnd::ByServer(DisconnectReason::StreamEnded)),
            },
        }
    }
}

/// Bytes from the client before the Noise transport keys exist.
struct Wire<'a> {
    from_client: &'a mut mpsc::UnboundedReceiver<FromClient>,
    buffered: Vec<u8>,
    decoder: FrameDecoder,
}

impl Wire<'_> {
    /// Waits for at least `n` buffered bytes; `None` when the client went away first.
    async fn fill(&mut self, n: usize) -> Option<()> {
        while self.buffered.len() < n {
            match self.from_client.recv().await? {
                FromClient::Data(data) => self.buffered.extend_from_slice(&data),
                FromClient::Close => return None,
            }
        }
        Some(())
    }

    /// Consumes the optional edge-routing pre-intro (`ED\0\1` + 3-byte length + data) and the
    /// 4-byte `WA` connection header, which must match the one the client's Noise prologue uses.
    async fn read_connection_header(&mut self) -> anyhow::Result<Option<()>> {
        if self.fill(4).await.is_none() {
            return Ok(None);
        }
        if self.buffered.starts_with(b"ED\x00\x01") {
            if self.fill(7).await.is_none() {
                return Ok(None);
            }
            let len = usize::from(self.buffered[4]) << 16 | usize::from(self.buffered[5]) << 8 | usize::from(self.buffered[6]);
            if self.fill(7 + len).await.is_none() {
                return Ok(None);
            }
            self.buffered.drain(..7 + len);
        }
        if self.fill(WA_CONN_HEADER.len()).await.is_none() {
            return Ok(None);
        }
        if self.buffered[..WA_CONN_HEADER.len()] != WA_CONN_HEADER {
            bail!("bad connection header {:02x?}", &self.buffered[..WA_CONN_HEADER.len()]);
        }
        let rest: Vec<u8> = self.buffered.drain(..).skip(WA_CONN_HEADER.len()).collect();
        self.decoder.feed(&rest);
        Ok(Some(()))
    }

    /// The next length-prefixed frame; `None` when the client went away first.
    async fn next_frame(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        loop {
            if let Some(frame) = self.decoder.decode_frame() {
                return Ok(Some(frame.to_vec()));
            }
            match self.from_client.recv().await {
                Some(FromClient::Data(data)) => self.decoder.feed(&data),
                Some(FromClient::Close) | None => return Ok(None),
            }
        }
    }
}

struct Established {
    /// Decrypts client→server frames (the first key of the split).
    read: NoiseCipher,
    write: NoiseCipher,
    pattern: NoisePattern,
    client_static: [u8; 32],
    payload: Vec<u8>,
}

/// Responder side of XX (`<- e, ee, s, es` then `-> s, se`), or of XXfallback after a rejected IK
/// attempt, which is the same exchange under another protocol name with the client's ephemeral
/// already on the wire. The server's certificate chain is the encrypted ServerHello payload.
async fn respond_xx(
    server: &Inner,
    wire: &mut Wire<'_>,
    to_client: &async_channel::Sender<TransportEvent>,
    client_ephemeral: &[u8; 32],
    pattern: NoisePattern,
) -> anyhow::Result<Option<Established>> {
    let protocol = if pattern == NoisePattern::XxFallback { NOISE_PATTERN_XXFALLBACK } else { NOISE_PATTERN_XX };
    let mut noise = NoiseHandshake::new(protocol, &WA_CONN_HEADER)?;
    noise.authenticate(client_ephemeral);
    let ephemeral = KeyPair::generate(&mut rand_wa::rng());
    noise.authenticate(ephemeral.public_key.public_key_bytes());
    noise.mix_shared_secret(ephemeral.private_key.serialize(), client_ephemeral)?;
    let sealed_static = noise.encrypt(server.static_key.public_key.public_key_bytes())?;
    noise.mix_shared_secret(server.static_key.private_key.serialize(), client_ephemeral)?;
    let sealed_certificate = noise.encrypt(&server.cert_chain)?;
    let server_hello = server_hello(ephemeral.public_key.public_key_bytes(), Some(sealed_static), sealed_certificate);
    send_raw(to_client, &server_hello).await?;

    let Some(finish) = wire.next_frame().await? else { return Ok(None) };
    let finish = wa::HandshakeMessage::decode_from_slice(&finish).context("decoding ClientFinish")?;
    let finish = finish.client_finish.into_option().context("second handshake message has no ClientFinish")?;
    let client_static = noise.decrypt(finish.r#static.as_deref().context("ClientFinish without static")?)?;
    let client_static = key32(Some(&client_static), "client static")?;
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_static)?;
    let payload = noise.decrypt(finish.payload.as_deref().context("ClientFinish without payload")?)?;
    let (read, write) = noise.finish()?;
    Ok(Some(Established { read, write, pattern, client_static, payload }))
}

/// Responder side of IK (`-> e, es, s, ss` then `<- e, ee, se`), used when a paired client has
/// cached this server's certificate chain. Returns the established keys and the ServerHello.
fn respond_ik(
    server: &Inner,
    client_ephemeral: &[u8; 32],
    sealed_static: &[u8],
    sealed_payload: &[u8],
) -> anyhow::Result<(Option<Established>, Vec<u8>)> {
    let static_private = server.static_key.private_key.serialize();
    let mut noise = NoiseHandshake::new(NOISE_PATTERN_IK, &WA_CONN_HEADER)?;
    noise.authenticate(server.static_key.public_key.public_key_bytes());
    noise.authenticate(client_ephemeral);
    noise.mix_shared_secret(static_private, client_ephemeral)?;
    let client_static = key32(Some(&noise.decrypt(sealed_static)?), "client static")?;
    noise.mix_shared_secret(static_private, &client_static)?;
    let payload = noise.decrypt(sealed_payload)?;
    let ephemeral = KeyPair::generate(&mut rand_wa::rng());
    noise.authenticate(ephemeral.public_key.public_key_bytes());
    noise.mix_shared_secret(ephemeral.private_key.serialize(), client_ephemeral)?;
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_static)?;
    let sealed_certificate = noise.encrypt(&server.cert_chain)?;
    let server_hello = server_hello(ephemeral.public_key.public_key_bytes(), None, sealed_certificate);
    let (read, write) = noise.finish()?;
    Ok((Some(Established { read, write, pattern: NoisePattern::Ik, client_static, payload }), server_hello))
}

fn server_hello(ephemeral: &[u8], sealed_static: Option<Vec<u8>>, sealed_certificate: Vec<u8>) -> Vec<u8> {
    wa::HandshakeMessage {
        server_hello: MessageField::some(wa::handshake_message::ServerHello {
            ephemeral: Some(ephemeral.to_vec()),
            r#static: sealed_static,
            payload: Some(sealed_certificate),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Sends one unencrypted handshake frame.
async fn send_raw(to_client: &async_channel::Sender<TransportEvent>, payload: &[u8]) -> anyhow::Result<()> {
    let frame = encode_frame(payload, None)?;
    to_client.send(TransportEvent::DataReceived(frame.into())).await.map_err(|_| anyhow!("client event channel closed"))
}

fn key32(bytes: Option<&[u8]>, what: &str) -> anyhow::Result<[u8; 32]> {
    bytes.context(format!("missing {what}"))?.try_into().map_err(|_| anyhow!("{what} is not 32 bytes"))
}

/// The Noise transport phase: each frame is one AES-GCM message whose nonce is a per-direction
/// counter, carrying a binary node behind a one-byte flags header (0: not compressed).
struct Session {
    read: NoiseCipher,
    read_counter: u32,
    write: NoiseCipher,
    write_counter: u32,
    to_client: async_channel::Sender<TransportEvent>,
}

impl Session {
    fn open(&mut self, mut frame: Vec<u8>) -> anyhow::Result<Node> {
        self.read.decrypt_in_place_with_counter(self.read_counter, &mut frame)?;
        self.read_counter += 1;
        let plain = unpack(&frame)?;
        Ok(unmarshal_ref(&plain)?.to_owned())
    }

    async fn send(&mut self, node: &Node) -> anyhow::Result<()> {
        tracing::debug!(target: "kirim_wa::fake", node = %nodes::describe(node), "server -> client");
        let sealed = self.write.encrypt_with_counter(self.write_counter, &marshal(node)?)?;
        self.write_counter += 1;
        send_raw(&self.to_client, &sealed).await
    }
}
