//! The live view of devices this process drives: a snapshot of each device and the
//! notifier that wakes its send lane. The store stays the source of truth; this avoids
//! a database read on every accepted message.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use kirim_core::device::{Device, DeviceStatus};
use kirim_core::id::{DeviceId, DevicePk, TenantPk};
use tokio::sync::Notify;

pub struct DeviceEntry {
    pub pk: DevicePk,
    pub id: DeviceId,
    pub tenant_pk: TenantPk,
    snapshot: RwLock<Device>,
    /// Wakes the device's send lane: a message was queued, or the device connected.
    pub wake: Notify,
}

impl DeviceEntry {
    pub fn snapshot(&self) -> Device {
        self.snapshot.read().expect("device lock").clone()
    }

    pub fn status(&self) -> DeviceStatus {
        self.snapshot.read().expect("device lock").status
    }

    /// Takes a newer copy from the store. Copies can arrive out of order (a PATCH and a
    /// link-state change race), so an older copy never replaces a newer one.
    fn replace(&self, device: Device) {
        let mut current = self.snapshot.write().expect("device lock");
        if device.updated_at >= current.updated_at {
            *current = device;
        }
    }

    /// Applies the fields a PATCH changes, leaving the link state to the connector's reports.
    /// Takes the PATCH's time too, so a link-state copy committed before it cannot undo it.
    pub fn set_profile(&self, device: &Device) {
        let mut current = self.snapshot.write().expect("device lock");
        current.name = device.name.clone();
        current.settings = device.settings.clone();
        current.workspace = device.workspace.clone();
        current.updated_at = current.updated_at.max(device.updated_at);
    }
}

#[derive(Default)]
struct Index {
    by_pk: HashMap<DevicePk, Arc<DeviceEntry>>,
    by_id: HashMap<DeviceId, DevicePk>,
    /// Each tenant's devices in creation order, for picking one without scanning everybody's.
    by_tenant: HashMap<TenantPk, Vec<DevicePk>>,
    /// Deleted devices: a late report about one must not bring it back.
    removed: HashSet<DevicePk>,
}

#[derive(Default)]
pub struct DeviceRegistry {
    index: RwLock<Index>,
    /// Per-tenant turn counters for spreading sends over connected devices.
    turns: Mutex<HashMap<TenantPk, Arc<AtomicUsize>>>,
}

impl DeviceRegistry {
    /// Adds or refreshes a device; returns its entry, or `None` for a deleted device.
    pub fn upsert(&self, device: Device) -> Option<Arc<DeviceEntry>> {
        if let Some(entry) = self.get(device.pk) {
            entry.replace(device);
            return Some(entry);
        }
        let mut index = self.index.write().expect("registry lock");
        if index.removed.contains(&device.pk) {
            return None;
        }
        if let Some(entry) = index.by_pk.get(&device.pk) {
            entry.replace(device);
            return Some(entry.clone());
        }
        let entry = Arc::new(DeviceEntry {
            pk: device.pk,
            id: device.id.clone(),
            tenant_pk: device.tenant_pk,
            snapshot: RwLock::new(device),
            wake: Notify::new(),
        });
        index.by_id.insert(entry.id.clone(), entry.pk);
        index.by_pk.insert(entry.pk, entry.clone());
        let own = index.by_tenant.entry(entry.tenant_pk).or_default();
        let at = own.partition_point(|pk| *pk < entry.pk);
        own.insert(at, entry.pk);
        Some(entry)
    }

    pub fn remove(&self, pk: DevicePk) -> Option<Arc<DeviceEntry>> {
        let mut index = self.index.write().expect("registry lock");
        index.removed.insert(pk);
        let entry = index.by_pk.remove(&pk)?;
        index.by_id.remove(&entry.id);
        if let Some(own) = index.by_tenant.get_mut(&entry.tenant_pk) {
            own.retain(|p| *p != pk);
        }
        Some(entry)
    }

    pub fn get(&self, pk: DevicePk) -> Option<Arc<DeviceEntry>> {
        self.index.read().expect("registry lock").by_pk.get(&pk).cloned()
    }

    /// The tenant's device with this id; another tenant's device is `None`.
    pub fn get_for_tenant(&self, tenant: TenantPk, id: &DeviceId) -> Option<Arc<DeviceEntry>> {
        let index = self.index.read().expect("registry lock");
        let pk = index.by_id.get(id)?;
        index.by_pk.get(pk).filter(|e| e.tenant_pk == tenant).cloned()
    }

    /// The device to send from when the request names none: a connected device, taking turns
    /// between them; failing that, a device that was linked and is only offline for now (the
    /// message waits for it). Never a device that was logged out or banned.
    pub fn pick_for_send(&self, tenant: TenantPk) -> Option<Arc<DeviceEntry>> {
        let own: Vec<Arc<DeviceEntry>> = {
            let index = self.index.read().expect("registry lock");
            let pks = index.by_tenant.get(&tenant)?;
            pks.iter().filter_map(|pk| index.by_pk.get(pk).cloned()).collect()
        };
        let connected: Vec<&Arc<DeviceEntry>> = own.iter().filter(|e| e.status() == DeviceStatus::Connected).collect();
        if !connected.is_empty() {
            let counter = self.turns.lock().expect("registry lock").entry(tenant).or_default().clone();
            let turn = counter.fetch_add(1, Ordering::Relaxed);
            return Some(connected[turn % connected.len()].clone());
        }
        own.into_iter().find(|e| {
            let d = e.snapshot.read().expect("device lock");
            d.phone.is_some() && !matches!(d.status, DeviceStatus::LoggedOut | DeviceStatus::Banned)
        })
    }

    /// Like [`Self::pick_for_send`], but a connected device chosen at random (the reference
    /// APIs' `random` sender), so no pattern of which device sends what shows on the network.
    pub fn pick_random_for_send(&self, tenant: TenantPk) -> Option<Arc<DeviceEntry>> {
        let connected: Vec<Arc<DeviceEntry>> = {
            let index = self.index.read().expect("registry lock");
            let pks = index.by_tenant.get(&tenant)?;
            pks.iter().filter_map(|pk| index.by_pk.get(pk)).filter(|e| e.status() == DeviceStatus::Connected).cloned().collect()
        };
        if connected.is_empty() {
            return self.pick_for_send(tenant);
        }
        let at = rand::Rng::gen_range(&mut rand::thread_rng(), 0..connected.len());
        connected.get(at).cloned()
    }

    pub fn all(&self) -> Vec<Arc<DeviceEntry>> {
        self.index.read().expect("registry lock").by_pk.values().cloned().collect()
    }

    pub fn count_by_status(&self) -> HashMap<DeviceStatus, u64> {
        let mut counts = HashMap::new();
        for entry in self.index.read().expect("registry lock").by_pk.values() {
            *counts.entry(entry.status()).or_insert(0) += 1;
        }
        counts
    }
}

/// Sends handed to a connector whose outcome is not recorded yet, one per device (a lane
/// has at most one send in flight). A network may report a receipt before `send` returns,
/// and with an id the store does not know yet (the Cloud API names messages itself); such a
/// receipt waits here until the outcome, with the network's id, is stored.
#[derive(Default)]
pub struct InFlight {
    devices: Mutex<HashMap<DevicePk, Arc<Notify>>>,
}

/// Marks a device's send in flight until dropped, so the mark is cleared however the send
/// ends (outcome stored, error, panic, cancelled future).
pub struct InFlightGuard<'a> {
    in_flight: &'a InFlight,
    device: DevicePk,
    done: Arc<Notify>,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut devices = self.in_flight.devices.lock().expect("in-flight lock");
        if devices.get(&self.device).is_some_and(|n| Arc::ptr_eq(n, &self.done)) {
            devices.remove(&self.device);
        }
        drop(devices);
        self.done.notify_waiters();
    }
}

impl InFlight {
    pub fn begin(&self, device: DevicePk) -> InFlightGuard<'_> {
        let done = Arc::new(Notify::new());
        self.devices.lock().expect("in-flight lock").insert(device, done.clone());
        InFlightGuard { in_flight: self, device, done }
    }

    pub fn is_busy(&self, device: DevicePk) -> bool {
        self.devices.lock().expect("in-flight lock").contains_key(&device)
    }

    /// Returns once the send that is in flight on the device now has ended, or after `limit`.
    /// Later sends are not waited for.
    pub async fn settled(&self, device: DevicePk, limit: Duration) {
        let Some(done) = self.devices.lock().expect("in-flight lock").get(&device).cloned() else { return };
        let notified = done.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let still = self.devices.lock().expect("in-flight lock").get(&device).is_some_and(|n| Arc::ptr_eq(n, &done));
        if still {
            let _ = tokio::time::timeout(limit, notified).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_receipt_waits_only_for_the_send_in_flight_when_it_arrived() {
        let in_flight = Arc::new(InFlight::default());
        let device = DevicePk(7);
        let first = in_flight.begin(device);
        let waiter = {
            let in_flight = in_flight.clone();
            tokio::spawn(async move { in_flight.settled(device, Duration::from_secs(30)).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        let _second = in_flight.begin(device);
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("not held by the next send").unwrap();
        assert!(in_flight.is_busy(device));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_send_holds_a_receipt_only_up_to_the_limit() {
        let in_flight = InFlight::default();
        let _stuck = in_flight.begin(DevicePk(1));
        in_flight.settled(DevicePk(1), Duration::from_secs(5)).await;
        in_flight.settled(DevicePk(2), Duration::from_secs(5)).await;
    }
}
