//! What the connector tests share: a sink that records what it is told and lets a test wait
//! for it, a device, and a connector wired to a fake WhatsApp server.
#![allow(dead_code)] // each test binary uses its own part

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kirim_core::connector::Connector as _;
use kirim_core::connector::{CallPolicy, ConnectorSink, InboundMessage, IncomingCall, LinkMethod, OutboundMessage, Receipt, SinkError};
use kirim_core::device::{ConnectorKind, Device, DeviceSettings, DeviceStatus, LinkState};
use kirim_core::id::{DevicePk, TenantPk};
use kirim_core::message::MessageContent;
use kirim_core::session::{MemorySessionStore, SessionStore};
use kirim_core::{DeviceId, MessageId, PhoneNumber, Recipient, TokenHash};
use kirim_wa::connector::{WaConnector, WaOptions};
use kirim_wa::fake::FakeServer;
use tokio::sync::watch;

/// Bound on every wait, in virtual time: longer than anything the client waits for by itself.
pub const LONG: Duration = Duration::from_secs(600);
/// The fake's account.
pub const PHONE: &str = "+15550001234";
pub const LID: &str = "100000000000001@lid";

#[derive(Debug, Clone)]
pub enum Seen {
    Link(LinkState),
    Receipt(Receipt),
    Call(IncomingCall),
}

/// A sink that records everything and lets a test wait for what it expects.
pub struct Recorder {
    seen: Mutex<Vec<(DevicePk, Seen)>>,
    changed: watch::Sender<usize>,
    /// What `call_policy` answers: the devices' `reject_calls`.
    pub reject_calls: Mutex<bool>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { seen: Mutex::new(Vec::new()), changed: watch::channel(0).0, reject_calls: Mutex::new(false) })
    }

    pub fn record(&self, device: DevicePk, seen: Seen) {
        let mut all = self.seen.lock().unwrap();
        all.push((device, seen));
        self.changed.send_replace(all.len());
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn links(&self) -> Vec<LinkState> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter_map(|(_, s)| if let Seen::Link(l) = s { Some(l.clone()) } else { None }).collect()
    }

    /// Waits for a report at index `from` or later that `pick` accepts; returns it and the
    /// index after it.
    pub async fn wait<T>(&self, from: usize, what: &str, pick: impl Fn(&Seen) -> Option<T>) -> (T, usize) {
        self.wait_in(from, None, what, pick).await
    }

    /// [`wait`](Self::wait), for reports about `device` only (or any device for `None`).
    pub async fn wait_in<T>(&self, from: usize, device: Option<DevicePk>, what: &str, pick: impl Fn(&Seen) -> Option<T>) -> (T, usize) {
        let mut changed = self.changed.subscribe();
        let found = tokio::time::timeout(LONG, async {
            loop {
                {
                    let seen = self.seen.lock().unwrap();
                    if let Some((i, found)) = seen
                        .iter()
                        .enumerate()
                        .skip(from)
                        .find_map(|(i, (d, s))| device.is_none_or(|want| want == *d).then(|| pick(s)).flatten().map(|f| (i, f)))
                    {
                        return (found, i + 1);
                    }
                }
                changed.changed().await.unwrap();
            }
        });
        found.await.unwrap_or_else(|_| {
            panic!("no {what} within {LONG:?}; saw {:?}", self.links().iter().map(|l| (l.status, l.detail.clone())).collect::<Vec<_>>())
        })
    }

    pub async fn wait_status(&self, from: usize, status: DeviceStatus) -> (LinkState, usize) {
        self.wait_status_in(from, None, status).await
    }

    pub async fn wait_status_in(&self, from: usize, device: Option<DevicePk>, status: DeviceStatus) -> (LinkState, usize) {
        self.wait_in(from, device, status.as_str(), |s| match s {
            Seen::Link(l) if l.status == status => Some(l.clone()),
            _ => None,
        })
        .await
    }

    /// The link states reported for `device`, in order.
    pub fn links_of(&self, device: DevicePk) -> Vec<LinkState> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|(d, _)| *d == device).filter_map(|(_, s)| if let Seen::Link(l) = s { Some(l.clone()) } else { None }).collect()
    }

    /// Asserts nothing more is reported for `quiet` (virtual time).
    pub async fn assert_quiet(&self, quiet: Duration) {
        let before = self.count();
        let mut changed = self.changed.subscribe();
        let more = tokio::time::timeout(quiet, changed.wait_for(|n| *n > before)).await;
        assert!(more.is_err(), "reported after the stop: {:?}", &self.seen.lock().unwrap()[before..]);
    }
}

#[async_trait]
impl ConnectorSink for Recorder {
    async fn link_state(&self, device: DevicePk, state: LinkState) -> Result<(), SinkError> {
        self.record(device, Seen::Link(state));
        Ok(())
    }

    async fn receipt(&self, device: DevicePk, receipt: Receipt) -> Result<(), SinkError> {
        self.record(device, Seen::Receipt(receipt));
        Ok(())
    }

    async fn inbound(&self, _device: DevicePk, _message: InboundMessage) -> Result<(), SinkError> {
        Ok(())
    }

    async fn call_policy(&self, _device: DevicePk) -> Result<CallPolicy, SinkError> {
        Ok(CallPolicy { reject: *self.reject_calls.lock().unwrap() })
    }

    async fn call(&self, device: DevicePk, call: IncomingCall) -> Result<(), SinkError> {
        self.record(device, Seen::Call(call));
        Ok(())
    }
}

pub fn device(pk: i64) -> Device {
    let now = chrono::Utc::now();
    Device {
        pk: DevicePk(pk),
        id: DeviceId::generate(),
        tenant_pk: TenantPk(1),
        name: format!("device {pk}"),
        connector: ConnectorKind::WhatsappWeb,
        status: DeviceStatus::Disconnected,
        status_detail: None,
        phone: None,
        qr: None,
        pair_code: None,
        settings: DeviceSettings::default(),
        connector_config: serde_json::Value::Null,
        token_hash: TokenHash([0; 32]),
        created_at: now,
        updated_at: now,
        limits: Default::default(),
        workspace: None,
    }
}

pub struct World {
    pub server: FakeServer,
    pub sink: Arc<Recorder>,
    pub store: Arc<MemorySessionStore>,
    pub connector: WaConnector,
}

impl World {
    pub fn new(server: FakeServer) -> Self {
        Self::with(server, |options| options)
    }

    pub fn with(server: FakeServer, tweak: impl FnOnce(WaOptions) -> WaOptions) -> Self {
        let sink = Recorder::new();
        let store = Arc::new(MemorySessionStore::new());
        let options = WaOptions::default()
            .with_transport(server.transport_factory())
            .with_version((2, 3000, 1_023_000_000))
            .with_reconnect_grace(Duration::from_secs(30));
        let connector = WaConnector::new(sink.clone(), store.clone(), tweak(options));
        Self { server, sink, store, connector }
    }

    pub fn sessions(&self) -> Arc<dyn SessionStore> {
        self.store.clone()
    }

    /// Links `device` by QR code; returns the index after the `connected` report.
    pub async fn link(&self, device: &Device) -> usize {
        self.connector.connect(device, LinkMethod::Qr).await.expect("linking starts");
        let (awaiting, next) = self.sink.wait_status_in(0, Some(device.pk), DeviceStatus::AwaitingScan).await;
        let qr = awaiting.qr.expect("a QR code to show");
        self.server.scan_qr(&qr.code).expect("the phone scans the code");
        let (connected, next) = self.sink.wait_status_in(next, Some(device.pk), DeviceStatus::Connected).await;
        assert_eq!(connected.phone.as_ref().map(PhoneNumber::as_str), Some(PHONE));
        next
    }

    /// Waits until the device's client is logged in (after the post-pairing restart).
    pub async fn logged_in(&self, device: &Device, from: usize) -> usize {
        let (_, next) = self.sink.wait_status_in(from, Some(device.pk), DeviceStatus::Connected).await;
        let metrics = self.connector.metrics(device.pk).expect("the device runs");
        assert_eq!(metrics.connected, 1);
        next
    }
}

/// A text "hi" to `number`.
pub fn text_to(number: &str) -> OutboundMessage {
    OutboundMessage {
        id: MessageId::generate(),
        to: Recipient::Phone(PhoneNumber::parse(number, None).unwrap()),
        content: MessageContent::text("hi"),
        reply_to: None,
        target: None,
        media: None,
        attempt: 1,
    }
}
