//! The sandbox's public vocabulary: its configuration, what the simulated world can do to a
//! device, what the network remembers, and how those operations fail.

use std::path::PathBuf;
use std::time::Duration;

use kirim_core::id::DevicePk;
use kirim_core::message::MessageContent;
use kirim_core::{PhoneNumber, Recipient, Timestamp};
use serde::Serialize;

/// How the simulated network behaves.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where the network keeps its own state (linked sessions, accepted messages), e.g.
    /// `<data_dir>/sandbox`. Created if missing.
    pub state_dir: PathBuf,
    /// Time from a message being accepted to its `delivered` receipt.
    pub delivered_after: Duration,
    /// Time from `delivered` to `read`. Zero for both makes receipts immediate.
    pub read_after: Duration,
    /// Whether the network reports delivered/read receipts at all.
    pub receipts: bool,
    /// Probability (0.0 to 1.0) that a send fails with a temporary error.
    pub failure_rate: f64,
    /// E.164 prefixes of numbers that are not on WhatsApp.
    pub not_on_whatsapp: Vec<String>,
    /// If set, the simulated phone scans the QR code (or enters the pairing code) by itself
    /// after this delay.
    pub auto_scan_after: Option<Duration>,
    /// How long a QR code lives before a new one replaces it.
    pub qr_refresh: Duration,
    /// How many QR codes are shown without a scan before linking gives up.
    pub qr_max_codes: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from("./kirim-data/sandbox"),
            delivered_after: Duration::from_millis(300),
            read_after: Duration::from_secs(1),
            receipts: true,
            failure_rate: 0.0,
            not_on_whatsapp: vec!["+6019999".to_owned()],
            auto_scan_after: None,
            qr_refresh: Duration::from_secs(20),
            qr_max_codes: 6,
        }
    }
}

impl SandboxConfig {
    /// Brings out-of-range values back to something the network can use.
    pub(super) fn sanitized(mut self) -> Self {
        self.failure_rate = if self.failure_rate.is_nan() { 0.0 } else { self.failure_rate.clamp(0.0, 1.0) };
        self.qr_max_codes = self.qr_max_codes.max(1);
        self.not_on_whatsapp = self
            .not_on_whatsapp
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| if p.starts_with('+') { p.to_owned() } else { format!("+{p}") })
            .collect();
        self
    }
}

/// A message someone in the simulated world writes to a device.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedInbound {
    /// Who writes.
    pub from: PhoneNumber,
    /// A group JID (`…@g.us`, or the bare id): the message is written in that group by `from`.
    pub group: Option<String>,
    pub content: MessageContent,
    /// The network id of the message this one replies to.
    pub reply_to: Option<String>,
    /// The network id to use; given, a test can deliver the same message twice.
    pub network_id: Option<String>,
    /// The bytes of the file `content` carries: the network hosts them, and the message
    /// names them by reference, downloadable through the connector.
    pub file: Option<Vec<u8>>,
}

/// A message the network accepted from a device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkMessage {
    pub network_id: String,
    pub from_device: DevicePk,
    pub to: Recipient,
    pub content: MessageContent,
    pub at: Timestamp,
}

/// Why an operation of the simulated world failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("the device is not waiting to be linked; start linking with connect (QR code or pairing code), then scan")]
    NotLinking,
    #[error("the device is not connected to the sandbox network; link it (connect, then scan) or reconnect it first")]
    NotConnected,
    /// The number is linked to another device (possibly another tenant's): linking it again
    /// would hand that device's messages to this one.
    #[error("this number is already linked to another device on the sandbox network; scan with another number or omit `phone`")]
    PhoneInUse,
    #[error("the device could not store the message, so it was not delivered; retry with the same network_id ({0})")]
    Sink(String),
    #[error("the sandbox network could not write its state: {0}")]
    Io(String),
}
