//! The WhatsApp Web connector: Kirim's [`Connector`] over whatsapp-rust, one supervised client
//! per linked device, its session state in Kirim's [`SessionStore`].
//!
//! * `session`: the supervisor of one device's client (restarts, timers, link events).
//! * [`link`]: library events → Kirim link states (pure).
//! * [`send`]: Kirim messages → WhatsApp messages (pure, plus the upload step).
//! * [`inbound`]: WhatsApp messages and receipts → Kirim's (pure; reactions, edits, deletions,
//!   polls and contact cards in `inbound_kinds`); `hook` feeds it.
//! * [`errors`]: library errors → [`ConnectorError`].
//! * [`media`]: files on WhatsApp's CDN ([`MediaRef`]) and where outgoing files come from.
//!
//! What the connector reports goes to the sink from queues drained by tasks of their own
//! (`report`), never from inside [`Connector::send`]: see [`ConnectorSink`].
//!
//! [`ConnectorSink`]: kirim_core::connector::ConnectorSink

mod actions;
pub mod calls;
pub mod errors;
pub mod groups;
mod hook;
pub mod inbound;
mod inbound_kinds;
pub mod link;
pub mod media;
pub mod options;
pub mod presence;
mod profile;
mod report;
pub mod send;
mod session;
mod state;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kirim_core::connector::{Connector, ConnectorError, LinkMethod, OutboundMessage, Presence, SendReceipt, SharedSink};
use kirim_core::device::{ConnectorKind, Device, DeviceStatus, LinkState};
use kirim_core::group::{CreatedGroup, GroupInfo, GroupJid, NumberCheck, ParticipantAction, ParticipantResult};
use kirim_core::id::DevicePk;
use kirim_core::message::MessageContent;
use kirim_core::session::SessionStore;
use kirim_core::{PhoneNumber, Recipient};
use whatsapp_rust::futures::FutureExt as _;
use whatsapp_rust::send::SendOptions;

pub use link::{End, Linking};
pub use media::{MediaRef, MediaSource};
pub use options::{Backoff, WaOptions};
pub use presence::TypingPause;
pub use report::SessionMetrics;
pub use state::{ACCOUNT_KEY, Account, NAMESPACE, load_account};

use report::Cells;
use session::{Plan, Running};
use state::DeviceState;

/// How long `connect` and `logout` wait for their link state to reach the sink, so the device
/// the API returns right after already shows it.
const REPORT_WAIT: Duration = Duration::from_secs(5);

/// One device's slot: its state, and its running session behind a lock that serialises
/// start, connect, logout and stop of that device.
struct Slot {
    state: Arc<DeviceState>,
    running: tokio::sync::Mutex<Option<Running>>,
}

/// The WhatsApp Web connector. Construct it once per process with the app's sink and session
/// store; it runs one client per device that is linked or linking.
pub struct WaConnector {
    sink: SharedSink,
    sessions: Arc<dyn SessionStore>,
    options: Arc<WaOptions>,
    totals: Arc<Cells>,
    devices: Mutex<HashMap<DevicePk, Arc<Slot>>>,
}

impl WaConnector {
    pub fn new(sink: SharedSink, sessions: Arc<dyn SessionStore>, options: WaOptions) -> Self {
        Self { sink, sessions, options: Arc::new(options), totals: Arc::default(), devices: Mutex::new(HashMap::new()) }
    }

    fn devices(&self) -> std::sync::MutexGuard<'_, HashMap<DevicePk, Arc<Slot>>> {
        self.devices.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The device's slot, made on first use with the status Kirim has for it.
    fn slot(&self, device: DevicePk, status: DeviceStatus) -> Arc<Slot> {
        self.devices()
            .entry(device)
            .or_insert_with(|| {
                let state =
                    DeviceState::new(device, status, self.sink.clone(), self.sessions.clone(), self.options.clone(), self.totals.clone());
                Arc::new(Slot { state: Arc::new(state), running: tokio::sync::Mutex::new(None) })
            })
            .clone()
    }

    fn find(&self, device: DevicePk) -> Option<Arc<Slot>> {
        self.devices().get(&device).cloned()
    }

    /// What the connector counted for one device (since it was first started or connected in
    /// this process), `None` for a device it does not run.
    pub fn metrics(&self, device: DevicePk) -> Option<SessionMetrics> {
        self.find(device).map(|slot| slot.state.counters.snapshot())
    }

    /// What the connector counted for all devices; `connected` is how many are connected now.
    pub fn totals(&self) -> SessionMetrics {
        let mut totals = report::snapshot(&self.totals);
        totals.connected = self.devices().values().filter(|slot| slot.state.counters.is_connected()).count() as u64;
        totals
    }

    /// The device's client, if it is connected and logged in: group requests and number checks
    /// go straight to the network, nothing waits for a reconnect.
    fn live_client(&self, device: &Device) -> Result<Arc<whatsapp_rust::Client>, ConnectorError> {
        let slot = self.find(device.pk).ok_or(ConnectorError::NotConnected)?;
        if slot.state.ended() == Some(End::Banned) {
            return Err(ConnectorError::Banned);
        }
        slot.state.client().filter(|c| c.is_connected() && c.is_logged_in()).ok_or(ConnectorError::NotConnected)
    }

    async fn send_inner(&self, state: &DeviceState, message: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        if state.ended() == Some(End::Banned) {
            return Err(ConnectorError::Banned);
        }
        let client = state.client().filter(|c| c.is_connected() && c.is_logged_in()).ok_or(ConnectorError::NotConnected)?;
        let to = send::recipient_jid(&message.to)?;
        let source = self.options.media.as_deref();
        // Refused before any round trip: a file Kirim cannot get at will not become sendable.
        send::check_file(&message.content, source.is_some() || message.media.is_some())?;
        state.ensure_on_whatsapp(&client, &to).await?;
        if let Some(result) = actions::send_special(&client, to.clone(), message).await {
            return result;
        }
        if let MessageContent::Text { text } = &message.content {
            presence::type_for(&client, &to, self.options.typing.for_text(&text.body)).await;
        }
        let context = message.reply_to.as_deref().map(|id| send::quote_context(id, state.quoted(id).as_ref()));
        let wa_message = send::prepare(&client, &message.content, context, message.media.as_ref(), source).await?;
        let options = SendOptions::default().with_message_id(send::network_id(&message.id));
        let sent = client.send_message_with_options(to, wa_message.clone(), options).await.map_err(|e| errors::send_error(&e))?;
        if let Some(own) = client.pn() {
            state.remember(sent.message_id.clone(), own.to_non_ad().to_string(), Arc::new(wa_message));
        }
        Ok(SendReceipt { network_id: sent.message_id })
    }
}

#[async_trait]
impl Connector for WaConnector {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::WhatsappWeb
    }

    /// Resumes the device's session if it has one; a device that was never linked (or was
    /// logged out) stays as it is. A session already running is left alone.
    async fn start(&self, device: &Device) -> Result<(), ConnectorError> {
        // Checked first so that a device that was never linked costs nothing, not even a slot.
        if load_account(&self.sessions, device.pk).await?.is_none() {
            return Ok(());
        }
        let slot = self.slot(device.pk, device.status);
        let mut running = slot.running.lock().await;
        if running.as_ref().is_some_and(|r| !r.is_finished()) {
            return Ok(());
        }
        slot.state.set_ended(None);
        slot.state.links.report(LinkState::status(DeviceStatus::Connecting));
        *running = Some(session::spawn(slot.state.clone(), Plan { linking: Linking::Resume, pair_phone: None }));
        Ok(())
    }

    /// Links the device (QR codes or a pairing code, reported as they come), or resumes it if
    /// it is linked already. A linking attempt in progress is replaced.
    async fn connect(&self, device: &Device, method: LinkMethod) -> Result<(), ConnectorError> {
        let slot = self.slot(device.pk, device.status);
        let mut running = slot.running.lock().await;
        let linked = load_account(&self.sessions, device.pk).await?;
        if let Some(current) = running.as_ref().filter(|r| !r.is_finished())
            && current.plan.linking == Linking::Resume
            && linked.is_some()
        {
            // Already running: say where it stands (a session reconnecting reports by itself).
            if slot.state.counters.is_connected() {
                let phone = linked.as_ref().and_then(|a| link::phone_of(&a.pn));
                slot.state.links.report(LinkState { phone, ..LinkState::status(DeviceStatus::Connected) });
            }
            slot.state.links.flush(REPORT_WAIT).await;
            return Ok(());
        }
        if let Some(previous) = running.take() {
            previous.stop(self.options.stop_grace).await;
        }
        let plan = match (&linked, method) {
            (Some(_), _) => Plan { linking: Linking::Resume, pair_phone: None },
            (None, LinkMethod::Qr) => Plan { linking: Linking::Qr, pair_phone: None },
            (None, LinkMethod::PairCode { phone }) => Plan { linking: Linking::PairCode, pair_phone: Some(phone.digits().to_owned()) },
        };
        slot.state.set_ended(None);
        slot.state.links.report(LinkState::status(DeviceStatus::Connecting));
        *running = Some(session::spawn(slot.state.clone(), plan));
        slot.state.links.flush(REPORT_WAIT).await;
        Ok(())
    }

    /// Unlinks the device from the phone (through the running client, or a short-lived one if
    /// none is running), then forgets its session. The local session is forgotten even if
    /// WhatsApp could not be told; the detail then says so.
    async fn logout(&self, device: &Device) -> Result<(), ConnectorError> {
        let slot = self.slot(device.pk, device.status);
        let mut running = slot.running.lock().await;
        let grace = self.options.stop_grace;
        let mut told = false;
        if let Some(current) = running.take() {
            if let Some(client) = slot.state.client().filter(|c| c.is_connected() && c.is_logged_in()) {
                told = tokio::time::timeout(grace, client.logout()).await.is_ok();
            }
            current.stop(grace).await;
        }
        if !told && load_account(&self.sessions, device.pk).await?.is_some() {
            told = session::deregister(&slot.state, grace).await;
        }
        self.sessions
            .session_clear(device.pk)
            .await
            .map_err(|e| ConnectorError::Transient(format!("could not forget the WhatsApp session: {e}")))?;
        slot.state.forget();
        slot.state.set_ended(Some(End::LoggedOut));
        let mut state = LinkState::status(DeviceStatus::LoggedOut);
        if !told {
            state.detail =
                Some("logged out here; WhatsApp could not be reached, so the phone may list the device until it is removed there".into());
        }
        slot.state.links.report(state);
        slot.state.links.flush(REPORT_WAIT).await;
        Ok(())
    }

    /// Stops the device's session (its client flushes and closes) and forgets the device; the
    /// stored session stays, so `start` resumes it. Link states reported before the stop still
    /// reach the sink; nothing is reported after.
    async fn stop(&self, device: DevicePk) {
        let Some(slot) = self.devices().remove(&device) else { return };
        let mut running = slot.running.lock().await;
        if let Some(current) = running.take() {
            current.stop(self.options.stop_grace).await;
        }
        slot.state.links.flush(REPORT_WAIT).await;
    }

    /// List and buttons messages are not offered: WhatsApp renders them only for business
    /// accounts of the Cloud API, and phones show linked-device ones as unsupported.
    fn can_send(&self, kind: &str) -> bool {
        !matches!(kind, "list" | "buttons")
    }

    async fn list_groups(&self, device: &Device) -> Result<Vec<GroupInfo>, ConnectorError> {
        let client = self.live_client(device)?;
        groups::list(&client).await
    }

    async fn group_info(&self, device: &Device, group: &GroupJid) -> Result<GroupInfo, ConnectorError> {
        let client = self.live_client(device)?;
        groups::info(&client, group).await
    }

    async fn create_group(&self, device: &Device, subject: &str, participants: &[PhoneNumber]) -> Result<CreatedGroup, ConnectorError> {
        let client = self.live_client(device)?;
        groups::create(&client, subject, participants).await
    }

    async fn update_participants(
        &self,
        device: &Device,
        group: &GroupJid,
        action: ParticipantAction,
        phones: &[PhoneNumber],
    ) -> Result<Vec<ParticipantResult>, ConnectorError> {
        let client = self.live_client(device)?;
        groups::update(&client, group, action, phones).await
    }

    async fn group_invite_link(&self, device: &Device, group: &GroupJid, reset: bool) -> Result<String, ConnectorError> {
        let client = self.live_client(device)?;
        groups::invite_link(&client, group, reset).await
    }

    async fn leave_group(&self, device: &Device, group: &GroupJid) -> Result<(), ConnectorError> {
        let client = self.live_client(device)?;
        groups::leave(&client, group).await
    }

    async fn check_numbers(&self, device: &Device, phones: &[PhoneNumber]) -> Result<Vec<NumberCheck>, ConnectorError> {
        let client = self.live_client(device)?;
        groups::check(&client, phones).await
    }

    async fn send_presence(&self, device: &Device, to: &Recipient, presence: Presence) -> Result<(), ConnectorError> {
        let client = self.live_client(device)?;
        presence::show(&client, &send::recipient_jid(to)?, presence).await
    }

    async fn set_profile_name(&self, device: &Device, name: &str) -> Result<(), ConnectorError> {
        let client = self.live_client(device)?;
        profile::set_name(&client, name).await
    }

    async fn blocklist(&self, device: &Device) -> Result<Vec<String>, ConnectorError> {
        let client = self.live_client(device)?;
        profile::blocklist(&client).await
    }

    async fn set_blocked(&self, device: &Device, phone: &PhoneNumber, blocked: bool) -> Result<(), ConnectorError> {
        let client = self.live_client(device)?;
        profile::set_blocked(&client, phone, blocked).await
    }

    async fn download_media(&self, device: &Device, content: &MessageContent) -> Result<Vec<u8>, ConnectorError> {
        let client = self.live_client(device)?;
        media::download(&client, content).await
    }

    async fn send(&self, device: &Device, message: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let Some(slot) = self.find(device.pk) else { return Err(ConnectorError::NotConnected) };
        let state = &slot.state;
        let result = AssertUnwindSafe(self.send_inner(state, message))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(ConnectorError::Transient("the WhatsApp client panicked while sending".into())));
        match &result {
            Ok(_) => state.counters.add(|c| &c.sent),
            Err(_) => state.counters.add(|c| &c.send_failures),
        }
        result
    }
}
