//! Tests of the sandbox as the app sees it: through `Connector` and what reaches the sink.

mod groups;
mod linking;
mod messaging;
mod persistence;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kirim_core::connector::{Connector, ConnectorSink, InboundMessage, LinkMethod, OutboundMessage, Receipt, SharedSink, SinkError};
use kirim_core::device::{ConnectorKind, Device, DeviceSettings, DeviceStatus, LinkState};
use kirim_core::id::{DevicePk, TenantPk};
use kirim_core::message::{MessageContent, MessageStatus};
use kirim_core::{DeviceId, MessageId, PhoneNumber, Recipient, TokenHash};

use super::{Sandbox, SandboxConfig};

/// Everything the sandbox reported, in order.
#[derive(Default)]
pub(super) struct Recorder {
    links: Mutex<Vec<(DevicePk, LinkState)>>,
    receipts: Mutex<Vec<(DevicePk, Receipt)>>,
    inbound: Mutex<Vec<(DevicePk, InboundMessage)>>,
    /// Makes `inbound` fail, as when the app cannot store a message.
    pub fail_inbound: AtomicBool,
    /// Makes `link_state` and `receipt` fail (after recording the attempt).
    pub fail_reports: AtomicBool,
}

impl Recorder {
    fn report_result(&self) -> Result<(), SinkError> {
        match self.fail_reports.load(Ordering::SeqCst) {
            true => Err(SinkError("disk full".into())),
            false => Ok(()),
        }
    }
}

impl Recorder {
    pub fn links(&self, device: DevicePk) -> Vec<LinkState> {
        self.links.lock().unwrap().iter().filter(|(d, _)| *d == device).map(|(_, s)| s.clone()).collect()
    }

    pub fn statuses(&self, device: DevicePk) -> Vec<DeviceStatus> {
        self.links(device).iter().map(|s| s.status).collect()
    }

    pub fn last_link(&self, device: DevicePk) -> LinkState {
        self.links(device).pop().expect("a link state was reported")
    }

    pub fn receipts(&self, device: DevicePk) -> Vec<(String, MessageStatus)> {
        let receipts = self.receipts.lock().unwrap();
        receipts.iter().filter(|(d, _)| *d == device).map(|(_, r)| (r.network_id.clone(), r.status)).collect()
    }

    pub fn inbound(&self, device: DevicePk) -> Vec<InboundMessage> {
        self.inbound.lock().unwrap().iter().filter(|(d, _)| *d == device).map(|(_, m)| m.clone()).collect()
    }
}

#[async_trait]
impl ConnectorSink for Recorder {
    async fn link_state(&self, device: DevicePk, state: LinkState) -> Result<(), SinkError> {
        self.links.lock().unwrap().push((device, state));
        self.report_result()
    }

    async fn receipt(&self, device: DevicePk, receipt: Receipt) -> Result<(), SinkError> {
        self.receipts.lock().unwrap().push((device, receipt));
        self.report_result()
    }

    async fn inbound(&self, device: DevicePk, message: InboundMessage) -> Result<(), SinkError> {
        if self.fail_inbound.load(Ordering::SeqCst) {
            return Err(SinkError("database is locked".into()));
        }
        self.inbound.lock().unwrap().push((device, message));
        Ok(())
    }
}

/// A sandbox on a fresh state directory, with the sink it reports to.
pub(super) struct Net {
    pub sandbox: Arc<Sandbox>,
    pub sink: Arc<Recorder>,
    pub dir: Arc<tempfile::TempDir>,
}

impl Net {
    pub async fn new(tweak: impl FnOnce(&mut SandboxConfig)) -> Self {
        Self::on(Arc::new(tempfile::tempdir().unwrap()), tweak).await
    }

    /// A sandbox on an existing state directory (a restarted process).
    pub async fn on(dir: Arc<tempfile::TempDir>, tweak: impl FnOnce(&mut SandboxConfig)) -> Self {
        // Real time, kept short: tokio's paused clock needs its `test-util` feature.
        let mut config = SandboxConfig {
            state_dir: dir.path().to_owned(),
            delivered_after: Duration::from_millis(30),
            read_after: Duration::from_millis(30),
            ..SandboxConfig::default()
        };
        tweak(&mut config);
        let sink = Arc::new(Recorder::default());
        let shared: SharedSink = sink.clone();
        let sandbox = Sandbox::open(config, shared).await.unwrap();
        Self { sandbox, sink, dir }
    }

    /// Connects with a QR code and scans it; returns the linked number.
    pub async fn link(&self, device: &Device) -> PhoneNumber {
        self.sandbox.connect(device, LinkMethod::Qr).await.unwrap();
        self.sandbox.scan(device, None).await.unwrap()
    }

    /// Links the device to a given number.
    pub async fn link_as(&self, device: &Device, phone: &PhoneNumber) {
        self.sandbox.connect(device, LinkMethod::Qr).await.unwrap();
        assert_eq!(&self.sandbox.scan(device, Some(phone.clone())).await.unwrap(), phone);
    }
}

pub(super) fn device(pk: i64) -> Device {
    let now = chrono::Utc::now();
    Device {
        pk: DevicePk(pk),
        id: DeviceId::generate(),
        tenant_pk: TenantPk(1),
        name: format!("device {pk}"),
        connector: ConnectorKind::Sandbox,
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

pub(super) fn phone(number: &str) -> PhoneNumber {
    PhoneNumber::parse(number, None).unwrap()
}

pub(super) fn text_to(to: &PhoneNumber, body: &str) -> OutboundMessage {
    OutboundMessage {
        id: MessageId::generate(),
        to: Recipient::Phone(to.clone()),
        content: MessageContent::text(body),
        reply_to: None,
        target: None,
        media: None,
        attempt: 1,
    }
}

pub(super) async fn sleep(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Waits (up to 10 s) until `done` holds.
pub(super) async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        sleep(5).await;
    }
}
