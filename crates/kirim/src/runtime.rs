//! The live view of devices this process drives: a snapshot of each device and the
//! notifier that wakes its send lane. The store stays the source of truth; this avoids
//! a database read on every accepted message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

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

    pub fn replace(&self, device: Device) {
        *self.snapshot.write().expect("device lock") = device;
    }
}

#[derive(Default)]
pub struct DeviceRegistry {
    by_pk: RwLock<HashMap<DevicePk, Arc<DeviceEntry>>>,
    by_id: RwLock<HashMap<DeviceId, DevicePk>>,
    round_robin: std::sync::atomic::AtomicUsize,
}

impl DeviceRegistry {
    /// Adds or refreshes a device; returns its entry.
    pub fn upsert(&self, device: Device) -> Arc<DeviceEntry> {
        if let Some(entry) = self.get(device.pk) {
            entry.replace(device);
            return entry;
        }
        let entry = Arc::new(DeviceEntry {
            pk: device.pk,
            id: device.id.clone(),
            tenant_pk: device.tenant_pk,
            snapshot: RwLock::new(device),
            wake: Notify::new(),
        });
        self.by_id.write().expect("registry lock").insert(entry.id.clone(), entry.pk);
        self.by_pk.write().expect("registry lock").insert(entry.pk, entry.clone());
        entry
    }

    pub fn remove(&self, pk: DevicePk) -> Option<Arc<DeviceEntry>> {
        let entry = self.by_pk.write().expect("registry lock").remove(&pk)?;
        self.by_id.write().expect("registry lock").remove(&entry.id);
        Some(entry)
    }

    pub fn get(&self, pk: DevicePk) -> Option<Arc<DeviceEntry>> {
        self.by_pk.read().expect("registry lock").get(&pk).cloned()
    }

    /// The tenant's device with this id; another tenant's device is `None`.
    pub fn get_for_tenant(&self, tenant: TenantPk, id: &DeviceId) -> Option<Arc<DeviceEntry>> {
        let pk = *self.by_id.read().expect("registry lock").get(id)?;
        self.get(pk).filter(|e| e.tenant_pk == tenant)
    }

    /// The device to send from when the request names none: a connected device, taking turns
    /// between them; failing that, a device that was linked and is only offline for now (the
    /// message waits for it). Never a device that was logged out or banned.
    pub fn pick_for_send(&self, tenant: TenantPk) -> Option<Arc<DeviceEntry>> {
        let map = self.by_pk.read().expect("registry lock");
        let mut own: Vec<&Arc<DeviceEntry>> = map.values().filter(|e| e.tenant_pk == tenant).collect();
        own.sort_by_key(|e| e.pk);
        let connected: Vec<_> = own.iter().filter(|e| e.status() == DeviceStatus::Connected).collect();
        if !connected.is_empty() {
            let turn = self.round_robin.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Some((*connected[turn % connected.len()]).clone());
        }
        own.into_iter()
            .find(|e| {
                let d = e.snapshot.read().expect("device lock");
                d.phone.is_some() && !matches!(d.status, DeviceStatus::LoggedOut | DeviceStatus::Banned)
            })
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<DeviceEntry>> {
        self.by_pk.read().expect("registry lock").values().cloned().collect()
    }

    pub fn count_by_status(&self) -> HashMap<DeviceStatus, u64> {
        let mut counts = HashMap::new();
        for entry in self.by_pk.read().expect("registry lock").values() {
            *counts.entry(entry.status()).or_insert(0) += 1;
        }
        counts
    }
}

/// Messages handed to a connector whose outcome is not recorded yet. A network may report a
/// receipt before `send` returns; the sink waits here so the receipt finds the message `sent`
/// (with its network id) instead of being lost.
#[derive(Default)]
pub struct InFlight {
    ids: Mutex<HashMap<String, Arc<Notify>>>,
}

impl InFlight {
    pub fn begin(&self, id: &str) {
        self.ids.lock().expect("in-flight lock").insert(id.to_owned(), Arc::new(Notify::new()));
    }

    pub fn end(&self, id: &str) {
        if let Some(done) = self.ids.lock().expect("in-flight lock").remove(id) {
            done.notify_waiters();
        }
    }

    /// Returns once the message with this id is not in flight.
    pub async fn settled(&self, id: &str) {
        loop {
            let Some(done) = self.ids.lock().expect("in-flight lock").get(id).cloned() else { return };
            let notified = done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.ids.lock().expect("in-flight lock").contains_key(id) {
                return;
            }
            notified.await;
        }
    }
}
