//! Messages on the network: accepting sends (once per id), delivering them to sandbox
//! devices, reporting receipts, and messages the simulated world writes to a device.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kirim_core::connector::{ConnectorError, InboundMessage, OutboundMessage, Receipt, SendReceipt};
use kirim_core::id::DevicePk;
use kirim_core::message::MessageStatus;
use kirim_core::{PhoneNumber, Recipient};
use rand::Rng;
use sha2::Digest as _;

use super::codes;
use super::ledger::{Accepted, Stage};
use super::network::{Network, lock};
use super::types::{NetworkMessage, SandboxError, SimulatedInbound};

/// Messages accepted this recently whose receipts were not reported (the process stopped)
/// are reported when their device resumes.
const RESUME_WINDOW: chrono::Duration = chrono::Duration::minutes(15);
/// Tries to hand a message to a recipient device whose sink fails, before waiting for the
/// device's next connection.
const HANDOVER_TRIES: u32 = 5;

async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

impl Network {
    pub(super) async fn send(self: &Arc<Self>, device: DevicePk, message: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let phone = self.connected_phone(device).ok_or(ConnectorError::NotConnected)?;
        if let Recipient::Phone(to) = &message.to
            && self.is_not_on_whatsapp(to)
        {
            return Err(ConnectorError::NotOnWhatsapp);
        }
        // A group the network knows takes messages from its members only, as on WhatsApp; any
        // other group id stands for a group of the simulated world.
        if let Recipient::Group(jid) = &message.to
            && self.groups.members(jid).is_some_and(|members| !members.contains(&phone))
        {
            return Err(ConnectorError::Permanent("this device's number is not in the group".into()));
        }
        let rate = self.config.failure_rate;
        if rate > 0.0 && rand::thread_rng().gen_bool(rate) {
            return Err(ConnectorError::Transient("the connection to the sandbox network failed (simulated)".into()));
        }
        let network_id = message.id.as_str().to_owned();
        // On the wire a reaction, edit or revoke names its target by the network's id.
        let mut content = message.content.clone();
        if let (Some(target), Some(id)) = (&message.target, content.target_id_mut()) {
            *id = target.network_id.clone();
        }
        // The network records the file as it arrived: its type, size and SHA-256 computed from
        // the bytes handed over, so a test can tell exactly which bytes were sent.
        if let Some(file) = &message.media {
            let media = content.files_mut().into_iter().next().map(|(_, m)| m);
            let Some(media) = media else {
                return Err(ConnectorError::Permanent(format!("a {} message carries no file", content.kind())));
            };
            media.mime_type = Some(file.mime_type.clone());
            media.size = Some(file.bytes.len() as u64);
            media.sha256 = Some(hex::encode(sha2::Sha256::digest(&file.bytes)));
        }
        let accepted = Accepted {
            message: NetworkMessage {
                network_id: network_id.clone(),
                from_device: device,
                to: message.to.clone(),
                content,
                at: Utc::now(),
            },
            from_phone: phone,
            reply_to: message.reply_to.clone(),
        };
        // Without receipts there is only work to do for messages between sandbox devices.
        let deliver = self.config.receipts || !self.recipient_devices(&message.to, device).is_empty();
        match self.ledger.accept(accepted, deliver) {
            Ok(Some(accepted)) if deliver => self.spawn_delivery(accepted, Stage::Accepted, true),
            // New without anything to deliver, or a repeat: the network already has it.
            Ok(_) => {}
            Err(error) => {
                return Err(ConnectorError::Transient(format!("the sandbox network could not record the message: {error}")));
            }
        }
        Ok(SendReceipt { network_id })
    }

    /// Delivers a claimed message from `stage` on, in the background, until the sandbox closes.
    /// `wait`: first wait `delivered_after` (false when a waiting recipient just came online).
    pub(super) fn spawn_delivery(self: &Arc<Self>, accepted: Arc<Accepted>, stage: Stage, wait: bool) {
        let network = self.clone();
        tokio::spawn(async move {
            let closed = network.closed.clone();
            tokio::select! {
                _ = closed.cancelled() => {}
                _ = network.deliver(&accepted, stage, wait) => {}
            }
        });
    }

    async fn deliver(&self, accepted: &Accepted, stage: Stage, wait: bool) {
        let id = accepted.message.network_id.as_str();
        if stage == Stage::Accepted {
            if wait {
                pause(self.config.delivered_after).await;
            }
            if !self.hand_over(accepted).await {
                return; // waits in the mailbox for the recipient, still claimed
            }
            self.emit(accepted, Stage::Delivered).await;
        }
        if !self.config.receipts {
            self.ledger.release(id);
            return;
        }
        if self.config.read_after.is_zero() {
            self.emit(accepted, Stage::Read).await;
            return;
        }
        // The message stays claimed until its read receipt is reported.
        lock(&self.reads).push_back((tokio::time::Instant::now() + self.config.read_after, id.to_owned()));
        self.reads_added.notify_one();
    }

    /// Reports read receipts as they fall due, until the sandbox closes. Entries are due in
    /// the order they were added (the delay is the same for all).
    pub(super) async fn report_reads(self: Arc<Self>) {
        loop {
            let next = lock(&self.reads).front().map(|(due, _)| *due);
            let wait = async {
                match next {
                    Some(due) => tokio::time::sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.closed.cancelled() => return,
                _ = self.reads_added.notified() => continue,
                _ = wait => {}
            }
            let now = tokio::time::Instant::now();
            let due: Vec<String> = {
                let mut reads = lock(&self.reads);
                let mut due = Vec::new();
                while reads.front().is_some_and(|(at, _)| *at <= now) {
                    due.extend(reads.pop_front().map(|(_, id)| id));
                }
                due
            };
            for id in due {
                // A message the network has forgotten meanwhile gets no receipt.
                let Some((accepted, _)) = self.ledger.get(&id) else { continue };
                let network = self.clone();
                tokio::spawn(async move { network.emit(&accepted, Stage::Read).await });
            }
        }
    }

    /// Reports a receipt (if receipts are on), then records it.
    async fn emit(&self, accepted: &Accepted, stage: Stage) {
        let id = &accepted.message.network_id;
        let status = if stage == Stage::Read { MessageStatus::Read } else { MessageStatus::Delivered };
        if self.config.receipts {
            let receipt = Receipt { network_id: id.clone(), status, at: Utc::now() };
            if let Err(error) = self.sink.receipt(accepted.message.from_device, receipt).await {
                tracing::warn!(%error, id, %status, "sandbox: could not report a receipt");
            }
        }
        self.ledger.advance(id, stage);
    }

    /// The sandbox devices a message to `to` reaches: those linked to the number, or to the
    /// numbers of the group's members; never the sender.
    fn recipient_devices(&self, to: &Recipient, sender: DevicePk) -> Vec<DevicePk> {
        let phones = match to {
            Recipient::Phone(phone) => vec![phone.clone()],
            Recipient::Group(jid) => self.groups.members(jid).unwrap_or_default(),
        };
        phones.iter().flat_map(|p| self.devices_of(p)).filter(|d| *d != sender).collect()
    }

    /// Hands the message to the sandbox devices it reaches (see `recipient_devices`).
    /// `false`: none of them is online, or they could not store it, so it waits in the mailbox
    /// for the recipient's next connection. A group message reaches the members' devices
    /// online at the time (a group has no single recipient to wait for); it is delivered once
    /// the network has handed it on.
    async fn hand_over(&self, accepted: &Accepted) -> bool {
        let message = &accepted.message;
        let (chat, sender, waits_for) = match &message.to {
            Recipient::Phone(to) => (Recipient::Phone(accepted.from_phone.clone()), None, Some(to)),
            Recipient::Group(jid) => (Recipient::Group(jid.clone()), Some(accepted.from_phone.as_str().to_owned()), None),
        };
        let mut pending = self.recipient_devices(&message.to, message.from_device);
        if pending.is_empty() {
            return true; // a phone outside the sandbox's devices: the simulated world received it
        }
        let inbound = InboundMessage {
            network_id: message.network_id.clone(),
            chat,
            sender,
            content: message.content.clone(),
            reply_to: accepted.reply_to.clone(),
            at: Utc::now(),
        };
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=HANDOVER_TRIES {
            let online = {
                // Checked under the mailbox lock: a device coming online empties the mailbox
                // after it is marked connected, so nothing is left behind.
                let mut mailbox = lock(&self.mailbox);
                let online: Vec<DevicePk> = pending.iter().copied().filter(|d| self.connected_phone(*d).is_some()).collect();
                if online.is_empty() {
                    let Some(to) = waits_for else { return true };
                    mailbox.entry(to.clone()).or_default().push(message.network_id.clone());
                    return false;
                }
                online
            };
            pending.clear();
            for device in online {
                if let Err(error) = self.sink.inbound(device, inbound.clone()).await {
                    tracing::warn!(%error, device = device.0, id = %message.network_id, attempt, "sandbox: a device could not store a message sent to it");
                    pending.push(device);
                }
            }
            if pending.is_empty() {
                return true;
            }
            if attempt < HANDOVER_TRIES {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        let Some(to) = waits_for else { return true };
        lock(&self.mailbox).entry(to.clone()).or_default().push(message.network_id.clone());
        false
    }

    /// A device came online as `phone`: deliver what waited for it, and finish the deliveries
    /// of its own recent messages that an earlier process did not finish.
    pub(super) fn after_online(self: &Arc<Self>, device: DevicePk, phone: &PhoneNumber) {
        let waiting = lock(&self.mailbox).remove(phone).unwrap_or_default();
        for id in waiting {
            if let Some((accepted, stage)) = self.ledger.get(&id) {
                self.spawn_delivery(accepted, stage, false);
            }
        }
        let since = Utc::now() - RESUME_WINDOW;
        for (accepted, stage) in self.ledger.claim_unfinished(device, since, self.config.receipts) {
            self.spawn_delivery(accepted, stage, true);
        }
    }

    /// Someone writes to the device; returns once the app stored the message.
    pub(super) async fn inbound(&self, device: DevicePk, message: SimulatedInbound) -> Result<String, SandboxError> {
        if self.connected_phone(device).is_none() {
            return Err(SandboxError::NotConnected);
        }
        let network_id = message.network_id.unwrap_or_else(codes::inbound_id);
        let (chat, sender) = match message.group {
            Some(group) => {
                let jid = if group.ends_with("@g.us") { group } else { format!("{group}@g.us") };
                (Recipient::Group(jid), Some(message.from.as_str().to_owned()))
            }
            None => (Recipient::Phone(message.from), None),
        };
        let inbound = InboundMessage {
            network_id: network_id.clone(),
            chat,
            sender,
            content: message.content,
            reply_to: message.reply_to,
            at: Utc::now(),
        };
        self.sink.inbound(device, inbound).await.map_err(|e| SandboxError::Sink(e.0))?;
        Ok(network_id)
    }
}
