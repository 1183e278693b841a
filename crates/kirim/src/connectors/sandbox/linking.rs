//! Linking a device to a simulated phone: QR codes that refresh and run out, pairing codes
//! that expire, the phone scanning, sessions that resume, drop, or are logged out.

use std::sync::Arc;
use std::time::Duration;

use kirim_core::connector::{ConnectorError, LinkMethod};
use kirim_core::device::{DeviceStatus, LinkCode, LinkState};
use kirim_core::id::DevicePk;
use kirim_core::{PhoneNumber, Timestamp};
use tokio_util::sync::CancellationToken;

use super::codes::{self, QrKeys};
use super::network::{Conn, Network, Slot, state};
use super::types::SandboxError;

/// How long a pairing code can be entered, as on WhatsApp.
pub(super) const PAIR_CODE_LIFETIME: Duration = Duration::from_secs(180);
pub(super) const QR_EXPIRED: &str = "QR codes expired without a scan";
pub(super) const PAIR_CODE_EXPIRED: &str = "the pairing code expired without being entered";
pub(super) const CONNECTION_LOST: &str = "connection lost";
pub(super) const PAIR_PHONE_IN_USE: &str =
    "this number is already linked to another device on the sandbox network; request the pairing code for another number";

fn after(delay: Duration) -> Timestamp {
    chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::days(3650))
}

fn connected(phone: &PhoneNumber) -> LinkState {
    LinkState { phone: Some(phone.clone()), ..LinkState::status(DeviceStatus::Connected) }
}

fn awaiting_scan(keys: &QrKeys, lifetime: Duration) -> LinkState {
    LinkState { qr: Some(LinkCode { code: keys.code(), expires_at: after(lifetime) }), ..LinkState::status(DeviceStatus::AwaitingScan) }
}

impl Network {
    /// Starts linking; a device whose session is still linked just reconnects. A pairing code
    /// is refused for a number linked to another device, as that device's messages would
    /// come here once the code is entered.
    pub(super) async fn connect(self: &Arc<Self>, device: DevicePk, device_id: &str, method: LinkMethod) -> Result<(), ConnectorError> {
        let slot = self.slot(device);
        let guard = slot.transition.lock().await;
        if let Some(phone) = self.session(device) {
            self.go_online(&slot, device, &phone).await;
            drop(guard);
            self.after_online(device, &phone);
            return Ok(());
        }
        if let LinkMethod::PairCode { phone } = &method
            && self.linked_elsewhere(phone, device)
        {
            return Err(ConnectorError::PhoneInUse(PAIR_PHONE_IN_USE.to_owned()));
        }
        // Replacing a previous attempt stops its timers.
        let timers = self.closed.child_token();
        let pair_phone = match &method {
            LinkMethod::Qr => None,
            LinkMethod::PairCode { phone } => Some(phone.clone()),
        };
        slot.set(Conn::Linking { pair_phone, timers: timers.clone() });
        self.report(device, state(DeviceStatus::Connecting, None)).await;
        match method {
            LinkMethod::Qr => {
                let keys = QrKeys::generate();
                self.report(device, awaiting_scan(&keys, self.config.qr_refresh)).await;
                tokio::spawn(self.clone().refresh_qr(slot.clone(), device, keys, timers.clone()));
            }
            LinkMethod::PairCode { .. } => {
                let code = LinkCode { code: codes::pair_code(), expires_at: after(PAIR_CODE_LIFETIME) };
                let awaiting = LinkState { pair_code: Some(code), ..LinkState::status(DeviceStatus::AwaitingPairCode) };
                self.report(device, awaiting).await;
                tokio::spawn(self.clone().expire_pair_code(slot.clone(), device, timers.clone()));
            }
        }
        drop(guard);
        if let Some(delay) = self.config.auto_scan_after {
            tokio::spawn(self.clone().auto_scan(device, device_id.to_owned(), delay, timers));
        }
        Ok(())
    }

    /// Shows a new QR code every `qr_refresh`, and gives up after `qr_max_codes` of them.
    async fn refresh_qr(self: Arc<Self>, slot: Arc<Slot>, device: DevicePk, keys: QrKeys, timers: CancellationToken) {
        let lifetime = self.config.qr_refresh;
        for shown in 1..=self.config.qr_max_codes {
            tokio::select! {
                _ = timers.cancelled() => return,
                _ = tokio::time::sleep(lifetime) => {}
            }
            let _guard = slot.transition.lock().await;
            if timers.is_cancelled() {
                return;
            }
            if shown == self.config.qr_max_codes {
                slot.set(Conn::Offline);
                self.report(device, state(DeviceStatus::Disconnected, Some(QR_EXPIRED))).await;
                return;
            }
            self.report(device, awaiting_scan(&keys, lifetime)).await;
        }
    }

    async fn expire_pair_code(self: Arc<Self>, slot: Arc<Slot>, device: DevicePk, timers: CancellationToken) {
        tokio::select! {
            _ = timers.cancelled() => return,
            _ = tokio::time::sleep(PAIR_CODE_LIFETIME) => {}
        }
        let _guard = slot.transition.lock().await;
        if !timers.is_cancelled() {
            slot.set(Conn::Offline);
            self.report(device, state(DeviceStatus::Disconnected, Some(PAIR_CODE_EXPIRED))).await;
        }
    }

    /// The simulated phone scanning by itself (`auto_scan_after`).
    async fn auto_scan(self: Arc<Self>, device: DevicePk, device_id: String, delay: Duration, timers: CancellationToken) {
        tokio::select! {
            _ = timers.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        if let Err(error) = self.scan(device, &device_id, None).await {
            tracing::debug!(%error, device = device.0, "sandbox: the automatic scan found nothing to scan");
        }
    }

    /// The phone scans the QR code or enters the pairing code: the session is linked (and
    /// remembered) and the device is connected. A number already linked to another device is
    /// refused (`PhoneInUse`), whoever that device belongs to: otherwise one tenant could take
    /// the messages written to another tenant's number. The device may link its own number again.
    pub(super) async fn scan(
        self: &Arc<Self>,
        device: DevicePk,
        device_id: &str,
        phone: Option<PhoneNumber>,
    ) -> Result<PhoneNumber, SandboxError> {
        let slot = self.find_slot(device).ok_or(SandboxError::NotLinking)?;
        let guard = slot.transition.lock().await;
        let pair_phone = slot.linking().ok_or(SandboxError::NotLinking)?;
        // A pairing code belongs to the number it was requested for.
        let phone = match pair_phone.or(phone) {
            Some(phone) => phone,
            None => self.generated_phone(device, device_id),
        };
        let previous = self.session(device);
        if !self.claim_session(device, &phone) {
            return Err(SandboxError::PhoneInUse);
        }
        if let Err(error) = self.ledger.link(device, &phone) {
            // Not journaled, so not linked: undo the claim.
            match previous {
                Some(previous) => self.add_session(device, previous),
                None => self.remove_session(device),
            }
            return Err(SandboxError::Io(error.to_string()));
        }
        slot.set(Conn::Connected(phone.clone()));
        self.report(device, connected(&phone)).await;
        drop(guard);
        self.after_online(device, &phone);
        Ok(phone)
    }

    /// A number for a phone that scans without saying which it is: stable per device, not
    /// linked to another device, and on WhatsApp.
    fn generated_phone(&self, device: DevicePk, device_id: &str) -> PhoneNumber {
        (0..1000)
            .filter_map(|attempt| codes::phone_for(device_id, attempt))
            .find(|phone| !self.linked_elsewhere(phone, device) && !self.is_not_on_whatsapp(phone))
            .unwrap_or_else(|| PhoneNumber::from_stored(format!("+60112{:07}", device.0.rem_euclid(10_000_000))))
    }

    /// Reports a linked session coming back: connecting, then connected. The caller holds
    /// the slot's transition lock.
    async fn go_online(&self, slot: &Slot, device: DevicePk, phone: &PhoneNumber) {
        self.report(device, state(DeviceStatus::Connecting, None)).await;
        slot.set(Conn::Connected(phone.clone()));
        self.report(device, connected(phone)).await;
    }

    /// Resumes a linked session (at start-up); a device that is not linked, or already
    /// connected, is left as it is.
    pub(super) async fn start(self: &Arc<Self>, device: DevicePk) {
        let Some(phone) = self.session(device) else {
            return;
        };
        let slot = self.slot(device);
        let guard = slot.transition.lock().await;
        if slot.connected_phone().is_some() {
            return;
        }
        self.go_online(&slot, device, &phone).await;
        drop(guard);
        self.after_online(device, &phone);
    }

    /// The connection drops; the session stays linked, so `connect` resumes it without a code.
    pub(super) async fn drop_connection(&self, device: DevicePk) -> Result<(), SandboxError> {
        let slot = self.find_slot(device).ok_or(SandboxError::NotConnected)?;
        let _guard = slot.transition.lock().await;
        if slot.connected_phone().is_none() {
            return Err(SandboxError::NotConnected);
        }
        slot.set(Conn::Offline);
        self.report(device, state(DeviceStatus::Disconnected, Some(CONNECTION_LOST))).await;
        Ok(())
    }

    /// Unlinks the device from its phone and forgets the session.
    pub(super) async fn logout(&self, device: DevicePk) -> Result<(), ConnectorError> {
        let slot = self.slot(device);
        let _guard = slot.transition.lock().await;
        if self.session(device).is_some() {
            self.ledger.unlink(device).map_err(|e| ConnectorError::Transient(format!("the sandbox could not record the logout: {e}")))?;
            self.remove_session(device);
        }
        slot.set(Conn::Offline);
        self.report(device, state(DeviceStatus::LoggedOut, None)).await;
        Ok(())
    }

    /// Forgets the device's connection and stops its timers; the session stays linked.
    pub(super) async fn stop(&self, device: DevicePk) {
        if let Some(slot) = self.remove_slot(device) {
            let _guard = slot.transition.lock().await;
            slot.set(Conn::Offline);
        }
        self.ledger.flush();
    }
}
