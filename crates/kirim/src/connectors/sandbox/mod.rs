//! The sandbox: a simulated WhatsApp network inside the process, for demos, tests and
//! benchmarks.
//!
//! To the rest of Kirim it is a network like any other: it implements [`Connector`] and
//! reports link changes, receipts and inbound messages through the [`ConnectorSink`] it was
//! opened with. Its other face is the simulated world — phones that scan QR codes, people
//! who write to a device, connections that drop — driven through [`Sandbox::scan`],
//! [`Sandbox::inbound`] and [`Sandbox::drop_connection`].
//!
//! Linked sessions and every accepted message are journaled in `state_dir`, so the network
//! outlives the process: sessions resume at `start`, and a message id accepted before a crash
//! is recognised when it is sent again (the receipt is the same, nothing is recorded twice).
//! Two sandbox devices of one server can write to each other.
//!
//! [`ConnectorSink`]: kirim_core::connector::ConnectorSink

mod codes;
mod files;
mod groups;
mod ledger;
mod linking;
mod network;
mod profile;
mod signals;
mod traffic;
mod types;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use kirim_core::PhoneNumber;
use kirim_core::connector::{Connector, ConnectorError, LinkMethod, OutboundMessage, SendReceipt, SharedSink};
use kirim_core::device::{ConnectorKind, Device};
use kirim_core::group::{CreatedGroup, GroupInfo, GroupJid, NumberCheck, ParticipantAction, ParticipantResult};
use kirim_core::id::DevicePk;

use groups::GroupBook;
use ledger::Ledger;
use network::Network;
pub use signals::{CallOutcome, PresenceShown, SimulatedCall};
pub use types::{NetworkMessage, SandboxConfig, SandboxError, SimulatedInbound};

/// The simulated network. Open it once per process; it is shared by all sandbox devices.
pub struct Sandbox {
    network: Arc<Network>,
    files: files::FileHost,
    signals: signals::Signals,
    profiles: profile::Profiles,
}

impl Sandbox {
    /// Opens the network, replaying its journal in `config.state_dir` (created if missing).
    pub async fn open(config: SandboxConfig, sink: SharedSink) -> anyhow::Result<Arc<Self>> {
        let config = config.sanitized();
        let dir = config.state_dir.clone();
        let (loaded, groups) = tokio::task::spawn_blocking(move || Ledger::open(&dir).and_then(|l| Ok((l, GroupBook::open(&dir)?))))
            .await
            .context("opening the sandbox network state")?
            .with_context(|| format!("opening the sandbox network state in {}", config.state_dir.display()))?;
        let (groups, skipped_groups) = groups;
        if skipped_groups > 0 {
            tracing::warn!(skipped = skipped_groups, "sandbox: some groups in the groups journal could not be read and were dropped");
        }
        if loaded.skipped > 0 {
            tracing::warn!(
                skipped = loaded.skipped,
                dir = %config.state_dir.display(),
                "sandbox: some lines of the network journal could not be read and were skipped"
            );
        }
        let files = files::FileHost::new(&config.state_dir);
        let network = Arc::new(Network::new(config, sink, loaded.ledger, groups, loaded.sessions));
        tokio::spawn(network.clone().report_reads());
        Ok(Arc::new(Self { network, files, signals: signals::Signals::default(), profiles: profile::Profiles::default() }))
    }

    /// The phone scans the device's current QR code, or enters its pairing code. The device
    /// must be linking (after `connect`). It is linked to the pairing code's number, else to
    /// `phone`, else to a number generated for it (`+6011…`, the same for the same device).
    /// A number linked to another device is refused with [`SandboxError::PhoneInUse`].
    /// Returns the linked number.
    pub async fn scan(&self, device: &Device, phone: Option<PhoneNumber>) -> Result<PhoneNumber, SandboxError> {
        self.network.scan(device.pk, device.id.as_str(), phone).await
    }

    /// `message.from` writes to the device (in `message.group`, if given). Returns the
    /// message's network id once the app has stored it; a `Sink` error means it was not
    /// stored, and the same `network_id` can be given again.
    pub async fn inbound(&self, device: &Device, mut message: SimulatedInbound) -> Result<String, SandboxError> {
        if let Some(bytes) = message.file.take() {
            if self.network.connected_phone(device.pk).is_none() {
                return Err(SandboxError::NotConnected);
            }
            let size = bytes.len() as u64;
            let (reference, sha256) = self.files.put(bytes).await.map_err(|e| SandboxError::Io(e.to_string()))?;
            if let Some(media) = message.content.media_content_mut() {
                (media.id, media.sha256, media.size) = (Some(reference), Some(sha256), Some(size));
            }
        }
        self.network.inbound(device.pk, message).await
    }

    /// The device's connection drops: it is reported disconnected ("connection lost") and
    /// cannot send until `connect`, which resumes the still-linked session without a code.
    pub async fn drop_connection(&self, device: &Device) -> Result<(), SandboxError> {
        self.network.drop_connection(device.pk).await
    }

    /// What the network accepted from the device, in order, each message id once.
    pub fn received(&self, device: DevicePk) -> Vec<NetworkMessage> {
        self.network.ledger.received(device)
    }

    /// The chat states ("typing…") the device showed, oldest first (the last 100).
    pub fn presences(&self, device: DevicePk) -> Vec<PresenceShown> {
        self.signals.presences(device)
    }

    /// `call.from` calls the device; returns once the app recorded the call, saying whether
    /// the device declined it.
    pub async fn call(&self, device: &Device, call: SimulatedCall) -> Result<CallOutcome, SandboxError> {
        self.signals.call(&self.network, device.pk, call).await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Background work (QR timers, deliveries) ends with the sandbox, as with a process exit.
        self.network.closed.cancel();
        self.network.ledger.flush();
        self.network.groups.flush();
    }
}

#[async_trait]
impl Connector for Sandbox {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sandbox
    }

    async fn start(&self, device: &Device) -> Result<(), ConnectorError> {
        self.network.start(device.pk).await;
        Ok(())
    }

    async fn connect(&self, device: &Device, method: LinkMethod) -> Result<(), ConnectorError> {
        self.network.connect(device.pk, device.id.as_str(), method).await
    }

    async fn logout(&self, device: &Device) -> Result<(), ConnectorError> {
        self.network.logout(device.pk).await
    }

    async fn stop(&self, device: DevicePk) {
        self.network.stop(device).await;
    }

    async fn send(&self, device: &Device, message: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        self.network.send(device.pk, message).await
    }

    /// The simulated network takes every type of message, so demos and tests can use them all.
    fn can_send(&self, _kind: &str) -> bool {
        true
    }

    async fn list_groups(&self, device: &Device) -> Result<Vec<GroupInfo>, ConnectorError> {
        self.network.list_groups(device.pk)
    }

    async fn group_info(&self, device: &Device, group: &GroupJid) -> Result<GroupInfo, ConnectorError> {
        self.network.group_info(device.pk, group)
    }

    async fn create_group(&self, device: &Device, subject: &str, participants: &[PhoneNumber]) -> Result<CreatedGroup, ConnectorError> {
        self.network.create_group(device.pk, subject, participants)
    }

    async fn update_participants(
        &self,
        device: &Device,
        group: &GroupJid,
        action: ParticipantAction,
        phones: &[PhoneNumber],
    ) -> Result<Vec<ParticipantResult>, ConnectorError> {
        self.network.update_participants(device.pk, group, action, phones)
    }

    async fn group_invite_link(&self, device: &Device, group: &GroupJid, reset: bool) -> Result<String, ConnectorError> {
        self.network.group_invite_link(device.pk, group, reset)
    }

    async fn leave_group(&self, device: &Device, group: &GroupJid) -> Result<(), ConnectorError> {
        self.network.leave_group(device.pk, group)
    }

    /// Files people sent to the device, by the reference their message carries.
    async fn download_media(&self, device: &Device, content: &kirim_core::message::MessageContent) -> Result<Vec<u8>, ConnectorError> {
        if self.network.connected_phone(device.pk).is_none() {
            return Err(ConnectorError::NotConnected);
        }
        let reference = content.media_content().and_then(|m| m.id.as_deref()).unwrap_or_default();
        match self.files.get(reference).await {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(ConnectorError::NotFound(format!("the sandbox network has no file `{reference}`"))),
            Err(e) => Err(ConnectorError::Transient(format!("the sandbox network could not read the file: {e}"))),
        }
    }

    async fn send_presence(
        &self,
        device: &Device,
        to: &kirim_core::Recipient,
        presence: kirim_core::connector::Presence,
    ) -> Result<(), ConnectorError> {
        self.signals.presence(&self.network, device.pk, to, presence)
    }

    async fn set_profile_name(&self, device: &Device, name: &str) -> Result<(), ConnectorError> {
        self.profiles.set_name(&self.network, device.pk, name)
    }

    async fn blocklist(&self, device: &Device) -> Result<Vec<String>, ConnectorError> {
        self.profiles.blocklist(&self.network, device.pk)
    }

    async fn set_blocked(&self, device: &Device, phone: &PhoneNumber, blocked: bool) -> Result<(), ConnectorError> {
        self.profiles.set_blocked(&self.network, device.pk, phone, blocked)
    }

    /// Every number is on WhatsApp except those of `not_on_whatsapp`.
    async fn check_numbers(&self, device: &Device, phones: &[PhoneNumber]) -> Result<Vec<NumberCheck>, ConnectorError> {
        self.network.check_numbers(device.pk, phones)
    }
}
