//! What `kirim-bench wa` measures, against the in-process fake server: the memory an idle
//! connected session costs, and how long linked devices take to be connected again at start.
//!
//! Devices are linked for real once (QR code, pairing, login) and that session's stored state
//! is copied to the others, so every device resumes from a complete session of its own in the
//! store, as after a restart, without pairing each one (the fake server accepts any
//! identity), and with the push name a real account has after its first sync. The
//! measurements include the fake server's side of each connection, so they are
//! an upper bound for the connector alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_trait::async_trait;
use kirim_core::connector::{Connector, ConnectorSink, InboundMessage, LinkMethod, Receipt, SinkError};
use kirim_core::device::{ConnectorKind, Device, DeviceSettings, DeviceStatus, LinkState, NewDevice};
use kirim_core::id::DevicePk;
use kirim_core::session::{SessionStore, SessionWrite};
use kirim_core::store::Store;
use kirim_core::tenant::NewTenant;
use kirim_core::{DeviceId, Secret, TenantId};
use tokio::sync::watch;

use crate::connector::{NAMESPACE, WaConnector, WaOptions};
use crate::fake::FakeServer;
use crate::storage::KirimBackend;
use whatsapp_rust::wacore::store::traits::DeviceStore as _;

/// The WhatsApp Web version the fake server is told (no version lookup).
const VERSION: (u32, u32, u32) = (2, 3000, 1_023_000_000);

/// A sink that keeps each device's latest link state and says when it changes.
#[derive(Default)]
pub struct Board {
    latest: Mutex<HashMap<DevicePk, LinkState>>,
    changed: watch::Sender<u64>,
}

impl Board {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DevicePk, LinkState>> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many of `devices` are connected now.
    pub fn connected(&self, devices: &[DevicePk]) -> usize {
        let latest = self.lock();
        devices.iter().filter(|d| latest.get(d).is_some_and(|s| s.status == DeviceStatus::Connected)).count()
    }

    /// Waits (at most `limit`) until `pick` finds what it wants in the latest states.
    pub async fn wait<T>(
        &self,
        limit: Duration,
        what: &str,
        pick: impl Fn(&HashMap<DevicePk, LinkState>) -> Option<T>,
    ) -> anyhow::Result<T> {
        let mut changed = self.changed.subscribe();
        let found = tokio::time::timeout(limit, async {
            loop {
                if let Some(found) = pick(&self.lock()) {
                    return found;
                }
                let _ = changed.changed().await;
            }
        });
        found.await.with_context(|| format!("no {what} within {limit:?}"))
    }
}

#[async_trait]
impl ConnectorSink for Board {
    async fn link_state(&self, device: DevicePk, state: LinkState) -> Result<(), SinkError> {
        self.lock().insert(device, state);
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn receipt(&self, _device: DevicePk, _receipt: Receipt) -> Result<(), SinkError> {
        Ok(())
    }

    async fn inbound(&self, _device: DevicePk, _message: InboundMessage) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The resident memory of this process, in bytes (Linux; `None` elsewhere).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A connector over the fake server's transport, reporting to `board`.
pub fn connector(server: &FakeServer, board: Arc<Board>, sessions: Arc<dyn SessionStore>) -> WaConnector {
    let options = WaOptions::default().with_transport(server.transport_factory()).with_version(VERSION).with_recipient_check(false);
    WaConnector::new(board, sessions, options)
}

/// Creates `count` WhatsApp Web devices in `store` (a tenant of their own), links the first
/// through `server` by QR code, and copies its session to the others. Returns the devices.
pub async fn linked_devices(store: Arc<dyn Store>, server: &FakeServer, count: usize) -> anyhow::Result<Vec<Device>> {
    if count == 0 {
        bail!("at least one device is needed");
    }
    let now = chrono::Utc::now();
    let tenant =
        store.create_tenant(NewTenant { id: TenantId::generate(), name: "bench".into(), created_at: now, daily_token_limit: None }).await?;
    let mut devices = Vec::with_capacity(count);
    for n in 0..count {
        let new = NewDevice {
            id: DeviceId::generate(),
            tenant_pk: tenant.pk,
            name: format!("bench {n}"),
            connector: ConnectorKind::WhatsappWeb,
            settings: DeviceSettings::default(),
            connector_config: serde_json::Value::Null,
            token_hash: Secret::generate("dt_").hash(),
            created_at: now,
        };
        devices.push(store.create_device(new).await?);
    }
    let sessions: Arc<dyn SessionStore> = store.clone();
    let board = Board::new();
    let linker = connector(server, board.clone(), sessions.clone());
    let first = &devices[0];
    linker.connect(first, LinkMethod::Qr).await?;
    let qr =
        board.wait(Duration::from_secs(60), "QR code", |l| l.get(&first.pk).and_then(|s| s.qr.as_ref()).map(|q| q.code.clone())).await?;
    server.scan_qr(&qr)?;
    board.wait(Duration::from_secs(60), "linked session", |_| linker.metrics(first.pk).filter(|m| m.connected == 1)).await?;
    linker.stop(first.pk).await;
    // A real account gets its push name in its first app-state sync; the fake one never does,
    // and without one the library takes the first-sync path (with a 10 s wait for keys the
    // phone never shares) on every connect. Give it the name a phone would have synced.
    let backend = KirimBackend::new(sessions.clone(), first.pk);
    if let Some(mut identity) = backend.load().await?
        && identity.push_name.is_empty()
    {
        identity.push_name = "Kirim bench".into();
        backend.save(&identity).await?;
    }

    let mut state = Vec::new();
    for namespace in crate::storage::NAMESPACES.iter().copied().chain([NAMESPACE]) {
        for (key, value) in sessions.session_scan(first.pk, namespace, "").await? {
            state.push(SessionWrite::Put { namespace: namespace.to_owned(), key, value });
        }
    }
    for device in &devices[1..] {
        sessions.session_write(device.pk, state.clone()).await?;
    }
    Ok(devices)
}

/// Starts every device's session (as Kirim does at boot) and waits until all are connected.
/// Returns how long that took.
pub async fn start_all(connector: &WaConnector, board: &Board, devices: &[Device], limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for device in devices {
        connector.start(device).await?;
    }
    let pks: Vec<DevicePk> = devices.iter().map(|d| d.pk).collect();
    let all = || connector.totals().connected as usize == pks.len();
    board
        .wait(limit, "connection of every session", |_| all().then_some(()))
        .await
        .with_context(|| format!("{} of {} sessions connected", connector.totals().connected, pks.len()))?;
    Ok(started.elapsed())
}

/// Reads every device's stored session, as resuming must at least: the floor under start-up.
pub async fn read_all(sessions: &dyn SessionStore, devices: &[Device]) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut bytes = 0u64;
    for device in devices {
        for namespace in crate::storage::NAMESPACES.iter().copied().chain([NAMESPACE]) {
            for (key, value) in sessions.session_scan(device.pk, namespace, "").await? {
                bytes += (key.len() + value.len()) as u64;
            }
        }
    }
    Ok((started.elapsed(), bytes))
}
