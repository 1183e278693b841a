//! The connector boundary: everything Kirim knows about a WhatsApp network goes through here.
//! The sandbox, WhatsApp Web and the Cloud API each implement [`Connector`]; what they observe
//! (link changes, receipts, inbound messages) they hand to a [`ConnectorSink`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::device::{ConnectorKind, Device, LinkState};
use crate::group::{CreatedGroup, GroupInfo, GroupJid, NumberCheck, ParticipantAction, ParticipantResult};
use crate::id::{DevicePk, MessageId};
use crate::media::MediaFile;
use crate::message::{MessageContent, MessageStatus, MessageTarget};
use crate::{PhoneNumber, Recipient, Timestamp};

/// A message handed to a connector. `id` is stable across attempts and is used as the
/// network's message id where the network allows, so a repeat after a crash is recognisable.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub id: MessageId,
    pub to: Recipient,
    pub content: MessageContent,
    pub reply_to: Option<String>,
    /// For a reaction, edit or revoke: the message it refers to, as the network knows it.
    pub target: Option<MessageTarget>,
    /// The file the message carries (a media message, or a buttons message's header), read
    /// from Kirim's media store just before the send, so every attempt sends the same bytes.
    pub media: Option<MediaFile>,
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// The id the network gave the message (equal to Kirim's id where the network allows).
    pub network_id: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying (timeouts, a dropped connection).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help.
    #[error("{0}")]
    Permanent(String),
    #[error("the recipient is not on WhatsApp")]
    NotOnWhatsapp,
    #[error("the network is rate limiting this device")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the device is not connected")]
    NotConnected,
    #[error("the number is banned")]
    Banned,
    #[error("this connector cannot {0}")]
    Unsupported(String),
    /// Linking refused: the number is linked to a device this gateway does not let the caller use.
    #[error("{0}")]
    PhoneInUse(String),
    /// The thing asked about (a group) does not exist, or this device is not in it.
    #[error("{0}")]
    NotFound(String),
    /// The device may not do this (e.g. change a group it is not an admin of).
    #[error("{0}")]
    Forbidden(String),
}

impl ConnectorError {
    /// Whether the send worker should try again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient(_) | Self::RateLimited { .. } | Self::NotConnected)
    }
}

/// How the user links a device.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkMethod {
    /// Show a QR code to scan with the phone.
    Qr,
    /// Show an 8-character code to type into the phone with this number.
    PairCode { phone: PhoneNumber },
}

/// A delivery report from the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub network_id: String,
    pub status: MessageStatus,
    pub at: Timestamp,
}

/// A message the network delivered to a device.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    pub network_id: String,
    /// The chat it arrived in: the sender's number, or a group.
    pub chat: Recipient,
    /// In a group, the member who wrote it.
    pub sender: Option<String>,
    pub content: MessageContent,
    pub reply_to: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("could not record the connector event: {0}")]
pub struct SinkError(pub String);

/// A chat state shown to the other side of a chat: "typing…", "recording audio…", or
/// neither (`Paused` clears the other two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    Typing,
    Recording,
    Paused,
}

impl Presence {
    pub const ALL: [Presence; 3] = [Self::Typing, Self::Recording, Self::Paused];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Typing => "typing",
            Self::Recording => "recording",
            Self::Paused => "paused",
        }
    }
}

impl std::str::FromStr for Presence {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or(())
    }
}

/// What a device does with the calls that ring on it, from its settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallPolicy {
    /// Decline every call (a gateway number has nobody to answer it).
    pub reject: bool,
}

/// A call that rang on a device, and what the connector did with it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingCall {
    /// The network's id for the call.
    pub call_id: String,
    /// Who called: an E.164 number where the network gives one, else its own address.
    pub from: String,
    pub video: bool,
    /// A group call: the group it belongs to, where the network names it.
    pub group: Option<String>,
    /// Whether the connector declined the call.
    pub rejected: bool,
    pub at: Timestamp,
}

/// Where connectors report what they observe. `inbound` returns only after the message is
/// stored, so a connector acknowledges to the network only what Kirim will not lose.
///
/// A receipt may be reported before the `send` that produced it returns (networks are fast),
/// or under an id the network chose that Kirim learns only from `send`'s result; the sink then
/// holds it until the device's send in flight has its outcome stored. So a connector must never
/// await a sink call inside `send`, nor on a task that `send` waits for — report from a task of
/// its own. Inbound messages may be reported
/// more than once; the sink de-duplicates them by device, chat, sender and network id.
/// `InboundMessage::sender` is an E.164 number.
#[async_trait]
pub trait ConnectorSink: Send + Sync {
    async fn link_state(&self, device: DevicePk, state: LinkState) -> Result<(), SinkError>;
    async fn receipt(&self, device: DevicePk, receipt: Receipt) -> Result<(), SinkError>;
    async fn inbound(&self, device: DevicePk, message: InboundMessage) -> Result<(), SinkError>;

    /// What to do with a call ringing on the device now (the device's settings may have
    /// changed since its session started, so a connector asks per call).
    async fn call_policy(&self, _device: DevicePk) -> Result<CallPolicy, SinkError> {
        Ok(CallPolicy::default())
    }

    /// A call rang on the device (and was declined, if `rejected`): recorded as an event.
    async fn call(&self, _device: DevicePk, _call: IncomingCall) -> Result<(), SinkError> {
        Ok(())
    }
}

#[async_trait]
pub trait Connector: Send + Sync {
    fn kind(&self) -> ConnectorKind;

    /// Resumes a device's session (at start-up, or after the device was linked). A device that
    /// was never linked stays disconnected.
    async fn start(&self, device: &Device) -> Result<(), ConnectorError>;

    /// Starts linking; progress (QR codes, pairing codes, connected) arrives through the sink.
    async fn connect(&self, device: &Device, method: LinkMethod) -> Result<(), ConnectorError>;

    /// Unlinks the device from the phone; its session is forgotten.
    async fn logout(&self, device: &Device) -> Result<(), ConnectorError>;

    /// Stops the device's session without unlinking (shutdown, or the device was deleted).
    async fn stop(&self, device: DevicePk);

    async fn send(&self, device: &Device, message: &OutboundMessage) -> Result<SendReceipt, ConnectorError>;

    /// Whether this connector can send messages of this `type` (see [`MessageContent::KINDS`]).
    /// Asked when a message is accepted, so a client learns at once (`capability_unsupported`)
    /// rather than from a failed send later.
    fn can_send(&self, kind: &str) -> bool;

    // Groups and number checks. They act on the network directly (nothing is queued), so they
    // need the device connected: `NotConnected` otherwise. A group the device is not in is
    // `NotFound`; a change only admins may make is `Forbidden` for other members. A connector
    // without the capability keeps these defaults.

    /// The groups the device's number is in, with their members.
    async fn list_groups(&self, _device: &Device) -> Result<Vec<GroupInfo>, ConnectorError> {
        Err(ConnectorError::Unsupported("list WhatsApp groups".into()))
    }

    async fn group_info(&self, _device: &Device, _group: &GroupJid) -> Result<GroupInfo, ConnectorError> {
        Err(ConnectorError::Unsupported("read WhatsApp groups".into()))
    }

    /// Creates a group with the device's number as its admin. `participants` are distinct.
    async fn create_group(&self, _device: &Device, _subject: &str, _participants: &[PhoneNumber]) -> Result<CreatedGroup, ConnectorError> {
        Err(ConnectorError::Unsupported("create WhatsApp groups".into()))
    }

    /// Adds, removes, promotes or demotes members; one result per number, in order.
    async fn update_participants(
        &self,
        _device: &Device,
        _group: &GroupJid,
        _action: ParticipantAction,
        _phones: &[PhoneNumber],
    ) -> Result<Vec<ParticipantResult>, ConnectorError> {
        Err(ConnectorError::Unsupported("change the members of WhatsApp groups".into()))
    }

    /// The group's invite link; `reset` revokes the current one and returns its replacement.
    async fn group_invite_link(&self, _device: &Device, _group: &GroupJid, _reset: bool) -> Result<String, ConnectorError> {
        Err(ConnectorError::Unsupported("get WhatsApp group invite links".into()))
    }

    async fn leave_group(&self, _device: &Device, _group: &GroupJid) -> Result<(), ConnectorError> {
        Err(ConnectorError::Unsupported("leave WhatsApp groups".into()))
    }

    /// Shows `presence` ("typing…", "recording audio…", or neither) in the chat with `to`.
    /// Nothing is queued: it needs the device connected (`NotConnected` otherwise).
    async fn send_presence(&self, _device: &Device, _to: &Recipient, _presence: Presence) -> Result<(), ConnectorError> {
        Err(ConnectorError::Unsupported("show typing indicators".into()))
    }

    /// Sets the name the device's contacts see (WhatsApp's "push name").
    async fn set_profile_name(&self, _device: &Device, _name: &str) -> Result<(), ConnectorError> {
        Err(ConnectorError::Unsupported("set the profile name".into()))
    }

    /// The numbers the device's account has blocked: E.164 numbers, or the network's id for a
    /// contact it knows only by that (a WhatsApp LID).
    async fn blocklist(&self, _device: &Device) -> Result<Vec<String>, ConnectorError> {
        Err(ConnectorError::Unsupported("read the block list".into()))
    }

    /// Blocks (or, with `blocked: false`, unblocks) a number for the device's account.
    async fn set_blocked(&self, _device: &Device, _phone: &PhoneNumber, _blocked: bool) -> Result<(), ConnectorError> {
        Err(ConnectorError::Unsupported("block numbers".into()))
    }

    /// Whether each number has a WhatsApp account; one result per number, in order.
    async fn check_numbers(&self, _device: &Device, _phones: &[PhoneNumber]) -> Result<Vec<NumberCheck>, ConnectorError> {
        Err(ConnectorError::Unsupported("check numbers on WhatsApp".into()))
    }

    /// The bytes of the file in a message the device received, from the network's reference to
    /// it (`MediaContent::id`, which this connector put there when it reported the message).
    /// Files are fetched on demand, not when the message arrives, so storing an inbound message
    /// never waits for a download. A file the network no longer has is `NotFound`.
    async fn download_media(&self, _device: &Device, _content: &MessageContent) -> Result<Vec<u8>, ConnectorError> {
        Err(ConnectorError::Unsupported("download received files".into()))
    }
}

/// Builds a connector once the sink (the app's side of the boundary) exists.
pub type SharedSink = Arc<dyn ConnectorSink>;
