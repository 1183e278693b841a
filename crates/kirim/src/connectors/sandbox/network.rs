//! The shared state of the simulated network: who is linked to which number, which devices
//! are connected right now, and messages waiting for an offline recipient.
//!
//! Locks here are `std` locks held for a few map operations, never across `.await`. The one
//! async lock, [`Slot::transition`], serialises a single device's link changes with their
//! reports, so the app never sees them out of order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use kirim_core::PhoneNumber;
use kirim_core::connector::SharedSink;
use kirim_core::device::{DeviceStatus, LinkState};
use kirim_core::id::DevicePk;
use tokio_util::sync::CancellationToken;

use super::groups::GroupBook;
use super::ledger::Ledger;
use super::types::SandboxConfig;

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a device's connection to the network stands.
#[derive(Debug)]
pub(super) enum Conn {
    Offline,
    /// Showing a QR code or pairing code. Cancelling `timers` stops its refresh, expiry and
    /// auto-scan tasks.
    Linking {
        pair_phone: Option<PhoneNumber>,
        timers: CancellationToken,
    },
    Connected(PhoneNumber),
}

/// One device as the network sees it.
pub(super) struct Slot {
    /// Held while a device's link state changes and is reported.
    pub transition: tokio::sync::Mutex<()>,
    conn: Mutex<Conn>,
}

impl Slot {
    fn new() -> Self {
        Self { transition: tokio::sync::Mutex::new(()), conn: Mutex::new(Conn::Offline) }
    }

    /// Replaces the connection state; leaving a linking attempt stops its timers.
    pub(super) fn set(&self, conn: Conn) {
        let old = std::mem::replace(&mut *lock(&self.conn), conn);
        if let Conn::Linking { timers, .. } = old {
            timers.cancel();
        }
    }

    pub(super) fn connected_phone(&self) -> Option<PhoneNumber> {
        match &*lock(&self.conn) {
            Conn::Connected(phone) => Some(phone.clone()),
            _ => None,
        }
    }

    /// `Some(pair_phone)` while linking (the number given for a pairing code, if any).
    pub(super) fn linking(&self) -> Option<Option<PhoneNumber>> {
        match &*lock(&self.conn) {
            Conn::Linking { pair_phone, .. } => Some(pair_phone.clone()),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Sessions {
    by_device: HashMap<DevicePk, PhoneNumber>,
    by_phone: HashMap<PhoneNumber, Vec<DevicePk>>,
}

pub(super) struct Network {
    pub config: SandboxConfig,
    pub sink: SharedSink,
    pub ledger: Ledger,
    pub groups: GroupBook,
    /// Cancelled when the sandbox closes: its background tasks end with it.
    pub closed: CancellationToken,
    slots: RwLock<HashMap<DevicePk, Arc<Slot>>>,
    sessions: RwLock<Sessions>,
    /// Network ids of messages waiting for a number whose devices are all offline.
    pub mailbox: Mutex<HashMap<PhoneNumber, Vec<String>>>,
    /// Read receipts to report, in due order: one small entry per message instead of one
    /// sleeping task each (read receipts may be an hour away).
    pub reads: Mutex<std::collections::VecDeque<(tokio::time::Instant, String)>>,
    pub reads_added: tokio::sync::Notify,
}

impl Network {
    pub(super) fn new(
        config: SandboxConfig,
        sink: SharedSink,
        ledger: Ledger,
        groups: GroupBook,
        linked: HashMap<DevicePk, PhoneNumber>,
    ) -> Self {
        let mut sessions = Sessions::default();
        for (device, phone) in linked {
            sessions.by_phone.entry(phone.clone()).or_default().push(device);
            sessions.by_device.insert(device, phone);
        }
        Self {
            config,
            sink,
            ledger,
            groups,
            closed: CancellationToken::new(),
            slots: RwLock::new(HashMap::new()),
            sessions: RwLock::new(sessions),
            mailbox: Mutex::new(HashMap::new()),
            reads: Mutex::new(std::collections::VecDeque::new()),
            reads_added: tokio::sync::Notify::new(),
        }
    }

    /// The device's slot, created on first use.
    pub(super) fn slot(&self, device: DevicePk) -> Arc<Slot> {
        if let Some(slot) = self.find_slot(device) {
            return slot;
        }
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        slots.entry(device).or_insert_with(|| Arc::new(Slot::new())).clone()
    }

    pub(super) fn find_slot(&self, device: DevicePk) -> Option<Arc<Slot>> {
        self.slots.read().unwrap_or_else(PoisonError::into_inner).get(&device).cloned()
    }

    pub(super) fn remove_slot(&self, device: DevicePk) -> Option<Arc<Slot>> {
        self.slots.write().unwrap_or_else(PoisonError::into_inner).remove(&device)
    }

    /// The number the device is connected as, if it is connected.
    pub(super) fn connected_phone(&self, device: DevicePk) -> Option<PhoneNumber> {
        self.find_slot(device).and_then(|slot| slot.connected_phone())
    }

    /// The number the device's session is linked to (connected or not).
    pub(super) fn session(&self, device: DevicePk) -> Option<PhoneNumber> {
        self.sessions.read().unwrap_or_else(PoisonError::into_inner).by_device.get(&device).cloned()
    }

    /// The devices linked to `phone` (a number may have several linked devices).
    pub(super) fn devices_of(&self, phone: &PhoneNumber) -> Vec<DevicePk> {
        self.sessions.read().unwrap_or_else(PoisonError::into_inner).by_phone.get(phone).cloned().unwrap_or_default()
    }

    /// Whether a device other than `device` is linked to `phone`.
    pub(super) fn linked_elsewhere(&self, phone: &PhoneNumber, device: DevicePk) -> bool {
        self.devices_of(phone).iter().any(|d| *d != device)
    }

    pub(super) fn add_session(&self, device: DevicePk, phone: PhoneNumber) {
        let mut sessions = self.sessions.write().unwrap_or_else(PoisonError::into_inner);
        Self::unindex(&mut sessions, device);
        let devices = sessions.by_phone.entry(phone.clone()).or_default();
        devices.push(device);
        sessions.by_device.insert(device, phone);
    }

    /// Links `device` to `phone` unless another device is linked to it (`false` then). The
    /// check and the change happen under one lock, so two devices scanning with the same number
    /// at the same moment cannot both get it.
    pub(super) fn claim_session(&self, device: DevicePk, phone: &PhoneNumber) -> bool {
        let mut sessions = self.sessions.write().unwrap_or_else(PoisonError::into_inner);
        if sessions.by_phone.get(phone).is_some_and(|devices| devices.iter().any(|d| *d != device)) {
            return false;
        }
        Self::unindex(&mut sessions, device);
        sessions.by_phone.entry(phone.clone()).or_default().push(device);
        sessions.by_device.insert(device, phone.clone());
        true
    }

    pub(super) fn remove_session(&self, device: DevicePk) {
        let mut sessions = self.sessions.write().unwrap_or_else(PoisonError::into_inner);
        Self::unindex(&mut sessions, device);
    }

    fn unindex(sessions: &mut Sessions, device: DevicePk) {
        if let Some(old) = sessions.by_device.remove(&device)
            && let Some(devices) = sessions.by_phone.get_mut(&old)
        {
            devices.retain(|d| *d != device);
            if devices.is_empty() {
                sessions.by_phone.remove(&old);
            }
        }
    }

    pub(super) fn is_not_on_whatsapp(&self, phone: &PhoneNumber) -> bool {
        self.config.not_on_whatsapp.iter().any(|prefix| phone.as_str().starts_with(prefix.as_str()))
    }

    /// Tells the app about a link change. A sink failure is logged: the network moves on.
    pub(super) async fn report(&self, device: DevicePk, state: LinkState) {
        let status = state.status;
        if let Err(error) = self.sink.link_state(device, state).await {
            tracing::warn!(%error, device = device.0, %status, "sandbox: could not report a link change");
        }
    }
}

/// A link state with only a status and a detail.
pub(super) fn state(status: DeviceStatus, detail: Option<&str>) -> LinkState {
    let state = LinkState::status(status);
    match detail {
        Some(detail) => state.with_detail(detail),
        None => state,
    }
}
