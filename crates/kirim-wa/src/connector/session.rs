//! One device's supervised client.
//!
//! Each device runs in a task of its own: a supervisor that builds a whatsapp-rust client over
//! the device's stored session, turns its events into link states, and decides what happens when
//! the client stops. A panic anywhere in that task is caught and treated like a crash, so one
//! device's failure never reaches another. A crashed or refused linked session is restarted
//! with backoff; a session that ended for a reason a person has to act on (logged out,
//! replaced, banned, outdated, linking expired) is not.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use kirim_core::device::{DeviceStatus, LinkState};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use whatsapp_rust::Client;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::futures::FutureExt as _;
use whatsapp_rust::http::UreqHttpClient;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::{Event, EventHandler, EventInterest, EventKind};
use whatsapp_rust::wacore::store::DevicePropsOverride;

use super::hook::InboundHook;
use super::inbound::map_receipt;
use super::link::{Effect, End, Linking, map_event};
use super::options::{SharedHttp, SharedTransport};
use super::report::ReceiptReporter;
use super::state::{Account, DeviceState, load_account, save_account};
use crate::storage::KirimBackend;

/// What a session sets out to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) linking: Linking,
    /// For pairing-code linking: the phone's number, digits only.
    pub(crate) pair_phone: Option<String>,
}

/// How one run of the client ended.
enum Outcome {
    /// Asked to stop.
    Stopped,
    /// Over for good; the state still to report (a logout is reported once the session is
    /// cleared, so the two are never seen apart).
    Ended(End, Option<LinkState>),
    /// Crashed or refused; `was_up` says whether it had connected (which resets the backoff).
    Failed { why: String, was_up: bool },
}

/// A running supervisor.
pub(crate) struct Running {
    pub(crate) plan: Plan,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    pub(crate) fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the client (letting it flush) and waits for the supervisor to end; aborts it if
    /// it does not within `grace` and a margin.
    pub(crate) async fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(grace * 2 + Duration::from_secs(2), &mut self.task).await.is_err() {
            tracing::warn!("whatsapp-web: a session did not stop in time; aborting it");
            self.task.abort();
        }
    }
}

/// Starts a supervisor for `device`.
pub(crate) fn spawn(device: Arc<DeviceState>, plan: Plan) -> Running {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(supervise(device, plan.clone(), stopped));
    Running { plan, stop, task }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Resolves once a stop was asked for (or the connector forgot the session).
async fn stop_asked(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn supervise(device: Arc<DeviceState>, mut plan: Plan, mut stop: watch::Receiver<bool>) {
    let mut failures = 0;
    loop {
        let run = AssertUnwindSafe(run_once(&device, &mut plan, &mut stop)).catch_unwind().await;
        let outcome = run.unwrap_or_else(|panic| Outcome::Failed {
            why: format!("the WhatsApp client panicked: {}", panic_text(&*panic)),
            was_up: false,
        });
        device.set_client(None);
        device.counters.set_connected(false);
        match outcome {
            Outcome::Stopped => return,
            Outcome::Ended(end, pending) => return finish(&device, end, pending).await,
            Outcome::Failed { why, was_up } => {
                if plan.linking != Linking::Resume {
                    tracing::warn!(device = device.pk.0, %why, "whatsapp-web: linking stopped");
                    device.links.report(LinkState::status(DeviceStatus::Disconnected).with_detail(format!("linking stopped: {why}")));
                    return;
                }
                failures = if was_up { 1 } else { failures + 1 };
                let delay = device.options.backoff.delay(failures);
                tracing::warn!(device = device.pk.0, %why, ?delay, "whatsapp-web: restarting the session");
                let detail = format!("{why}; restarting in {}", super::link::human_duration(delay));
                device.links.report(LinkState::status(DeviceStatus::Disconnected).with_detail(detail));
                device.counters.add(|c| &c.restarts);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop_asked(&mut stop) => return,
                }
                device.links.report(LinkState::status(DeviceStatus::Connecting));
            }
        }
    }
}

/// Ends a session for good. A logout forgets the session before it is reported, so a device
/// seen `logged_out` never still holds keys.
async fn finish(device: &DeviceState, end: End, pending: Option<LinkState>) {
    device.set_ended(Some(end));
    if end == End::LoggedOut {
        device.forget();
        let mut state = pending.unwrap_or_else(|| LinkState::status(DeviceStatus::LoggedOut));
        if let Err(error) = device.sessions.session_clear(device.pk).await {
            tracing::error!(device = device.pk.0, %error, "whatsapp-web: could not clear the session of a logged-out device");
            state.detail = Some(format!("{}; clearing the stored session failed: {error}", state.detail.unwrap_or_default()));
        }
        device.links.report(state);
    }
}

/// Builds the library's client for `device`. Events go to `events` (none for a client that only
/// logs out); inbound messages always go through the durability hook, so even a short-lived
/// client never acknowledges a message Kirim has not stored.
pub(crate) async fn build(
    device: &Arc<DeviceState>,
    plan: &Plan,
    events: Option<EventForwarder>,
) -> Result<Bot, whatsapp_rust::bot::BotBuilderError> {
    let options = &device.options;
    let transport = options.transport.clone().unwrap_or_else(|| Arc::new(TokioWebSocketTransportFactory::new()));
    let http = options.http.clone().unwrap_or_else(|| Arc::new(UreqHttpClient::new()));
    let mut builder = Bot::builder()
        .with_backend(KirimBackend::new(device.sessions.clone(), device.pk))
        .with_transport_factory(SharedTransport(transport))
        .with_http_client(SharedHttp(http))
        .with_inbound_durability_hook(InboundHook { device: device.clone() })
        .with_device_props(DevicePropsOverride::new().with_os(options.device_name.clone()));
    if let Some(events) = events {
        builder = builder.with_event_handler(events);
    }
    if !options.history_sync {
        builder = builder.skip_history_sync();
    }
    if let Some(version) = options.version {
        builder = builder.with_version(version);
    }
    if let (Linking::PairCode, Some(phone)) = (plan.linking, &plan.pair_phone) {
        builder = builder.with_pair_code(pair_code_options(phone));
    }
    builder.build().await
}

fn pair_code_options(phone: &str) -> PairCodeOptions {
    PairCodeOptions { phone_number: phone.to_owned(), ..PairCodeOptions::default() }
}

/// Asks for a (new) pairing code, once the connection is up. Failures arrive as
/// `PairingCodeError` events like any other pairing-code failure.
fn request_pair_code(client: Arc<Client>, phone: String, wait: Duration) {
    tokio::spawn(async move {
        if client.wait_for_socket(wait).await.is_ok()
            && let Err(error) = client.pair_with_code(pair_code_options(&phone)).await
        {
            tracing::debug!(%error, "whatsapp-web: requesting a new pairing code failed");
        }
    });
}

/// Hands the library's events to the session (link events) and the receipt queue. Runs inline
/// on the library's dispatch path, so it only queues.
pub(crate) struct EventForwarder {
    events: mpsc::UnboundedSender<Arc<Event>>,
    receipts: ReceiptReporter,
}

impl EventHandler for EventForwarder {
    fn handle_event(&self, event: Arc<Event>) {
        if let Event::Receipt(receipt) = &*event {
            for receipt in map_receipt(receipt) {
                self.receipts.report(receipt);
            }
            return;
        }
        let _ = self.events.send(event);
    }

    fn interest(&self) -> EventInterest {
        EventInterest::of(&[
            EventKind::Connected,
            EventKind::Disconnected,
            EventKind::PairSuccess,
            EventKind::PairError,
            EventKind::LoggedOut,
            EventKind::PairingQrCode,
            EventKind::PairingCode,
            EventKind::PairingCodeRefresh,
            EventKind::PairingCodeError,
            EventKind::PairingQrCodesExhausted,
            EventKind::ClientOutdated,
            EventKind::StreamReplaced,
            EventKind::TemporaryBan,
            EventKind::ConnectFailure,
            EventKind::Receipt,
            EventKind::IncomingCall,
        ])
    }
}

/// Waits for `at`, or forever without one (for optional timers in `select!`).
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Asks the client to close and waits for its run loop to end, aborting it after `grace`.
async fn shut_down(handle: &mut BotHandle, grace: Duration) {
    let client = handle.client();
    let _ = tokio::time::timeout(grace, client.disconnect()).await;
    if tokio::time::timeout(grace, &mut *handle).await.is_err() {
        handle.abort();
    }
}

/// The timers and findings of one run of the client.
struct Run<'a> {
    device: &'a Arc<DeviceState>,
    client: Arc<Client>,
    /// Until WhatsApp answers (a code, or a login) the device is `connecting`; if it stays so
    /// past the grace it is reported `disconnected`, while the library keeps trying.
    watchdog: Option<Instant>,
    pair_code_deadline: Option<Instant>,
    /// Once the session has ended: when to give up waiting for the client to stop.
    stop_deadline: Option<Instant>,
    ended: Option<(End, Option<LinkState>)>,
    /// Why the server refused the connection, when the library gave up on it.
    refused: Option<String>,
    was_up: bool,
}

impl Run<'_> {
    fn grace(&self) -> Duration {
        self.device.options.reconnect_grace
    }

    /// The session is over: remember why and have the client close.
    fn end(&mut self, end: End, pending: Option<LinkState>) {
        self.watchdog = None;
        self.pair_code_deadline = None;
        self.device.counters.set_connected(false);
        self.ended = Some((end, pending));
        let closing = self.client.clone();
        tokio::spawn(async move { closing.disconnect().await });
        self.stop_deadline = Some(Instant::now() + self.device.options.stop_grace);
    }

    async fn on_event(&mut self, event: &Event, plan: &mut Plan) {
        let device = self.device;
        if let Event::IncomingCall(call) = event {
            return super::calls::spawn(device.clone(), self.client.clone(), call.clone());
        }
        let Some(change) = map_event(event, plan.linking, chrono::Utc::now()) else { return };
        let mut state = change.state;
        match state.as_ref().map(|s| s.status) {
            Some(DeviceStatus::AwaitingScan) => self.watchdog = None,
            Some(DeviceStatus::AwaitingPairCode) => {
                self.watchdog = None;
                self.pair_code_deadline = Some(Instant::now() + device.options.pair_code_lifetime);
            }
            _ => {}
        }
        match change.effect {
            Effect::None => {}
            Effect::Paired { pn, lid } => {
                let account = Account { pn, lid: Some(lid) };
                if let Err(error) = save_account(&device.sessions, device.pk, &account).await {
                    tracing::warn!(device = device.pk.0, %error, "whatsapp-web: could not record the linked account");
                }
                device.set_account(Some(account));
                // From here on a restart resumes the session instead of linking anew.
                *plan = Plan { linking: Linking::Resume, pair_phone: None };
                self.pair_code_deadline = None;
                self.watchdog = None;
                self.was_up = true;
            }
            Effect::Up => {
                self.watchdog = None;
                self.was_up = true;
                device.counters.set_connected(true);
                if let Some(s) = state.as_mut() {
                    s.phone = device.account().and_then(|a| super::link::phone_of(&a.pn));
                }
            }
            Effect::Down => {
                device.counters.add(|c| &c.reconnects);
                device.counters.set_connected(false);
                self.watchdog = Some(Instant::now() + self.grace());
                // A pairing code belongs to the connection that asked for it.
                if let (Linking::PairCode, Some(phone)) = (plan.linking, &plan.pair_phone) {
                    request_pair_code(self.client.clone(), phone.clone(), self.grace() * 2);
                }
            }
            Effect::Refused { library_retries } => {
                device.counters.set_connected(false);
                if library_retries {
                    self.watchdog = None;
                } else {
                    self.refused = state.as_ref().and_then(|s| s.detail.clone());
                }
            }
            Effect::RefreshPairCode => {
                if let Some(phone) = &plan.pair_phone {
                    request_pair_code(self.client.clone(), phone.clone(), self.grace());
                }
            }
            Effect::End(end) => {
                let pending = if end == End::LoggedOut { state.take() } else { None };
                self.end(end, pending);
            }
        }
        if let Some(state) = state {
            device.links.report(state);
        }
    }

    fn outcome(self) -> Outcome {
        match self.ended {
            Some((end, pending)) => Outcome::Ended(end, pending),
            None => Outcome::Failed {
                why: self.refused.unwrap_or_else(|| "the WhatsApp client stopped unexpectedly".into()),
                was_up: self.was_up,
            },
        }
    }
}

/// Runs the client once, until it stops or is stopped.
async fn run_once(device: &Arc<DeviceState>, plan: &mut Plan, stop: &mut watch::Receiver<bool>) -> Outcome {
    let options = device.options.clone();
    if device.account().is_none()
        && let Ok(Some(account)) = load_account(&device.sessions, device.pk).await
    {
        device.set_account(Some(account));
    }
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let forwarder = EventForwarder { events: events_tx, receipts: device.receipts.clone() };
    let bot = tokio::select! {
        built = build(device, plan, Some(forwarder)) => built,
        _ = stop_asked(stop) => return Outcome::Stopped,
    };
    let bot = match bot {
        Ok(bot) => bot,
        Err(error) => return Outcome::Failed { why: format!("the WhatsApp client could not start: {error}"), was_up: false },
    };
    let mut handle = bot.spawn();
    let client = handle.client();
    device.set_client(Some(client.clone()));
    let mut run = Run {
        device,
        client,
        watchdog: Some(Instant::now() + options.reconnect_grace),
        pair_code_deadline: None,
        stop_deadline: None,
        ended: None,
        refused: None,
        was_up: false,
    };
    loop {
        tokio::select! {
            biased;
            _ = stop_asked(stop) => {
                shut_down(&mut handle, options.stop_grace).await;
                return Outcome::Stopped;
            }
            Some(event) = events.recv() => run.on_event(&event, plan).await,
            () = &mut handle => {
                // The events that made the client stop were queued before it stopped.
                while let Ok(event) = events.try_recv() {
                    run.on_event(&event, plan).await;
                }
                return run.outcome();
            }
            _ = until(run.watchdog) => {
                run.watchdog = None;
                let detail = format!("WhatsApp has not answered for {}; still trying", super::link::human_duration(options.reconnect_grace));
                device.links.report(LinkState::status(DeviceStatus::Disconnected).with_detail(detail));
            }
            _ = until(run.pair_code_deadline) => {
                let state = LinkState::status(DeviceStatus::LinkExpired).with_detail("the pairing code expired without being entered; connect again for a new one");
                device.links.report(state);
                run.end(End::LinkExpired, None);
            }
            _ = until(run.stop_deadline) => {
                run.stop_deadline = None;
                tracing::warn!(device = device.pk.0, "whatsapp-web: the client did not stop after its session ended; aborting it");
                handle.abort();
            }
        }
    }
}

/// Unlinks a device whose session is not running: connects with the stored session just long
/// enough to tell WhatsApp to remove it. Best effort within `grace`; `false` if that was not
/// possible (the device then stays listed on the phone until it is removed there).
pub(crate) async fn deregister(device: &Arc<DeviceState>, grace: Duration) -> bool {
    let plan = Plan { linking: Linking::Resume, pair_phone: None };
    let Ok(bot) = build(device, &plan, None).await else { return false };
    let mut handle = bot.spawn();
    let client = handle.client();
    // Logged in is enough to send the removal; full readiness also waits for app-state sync.
    let connected = client.wait_for_connected(grace).await.is_ok() || client.is_logged_in();
    if connected {
        let _ = tokio::time::timeout(grace, client.logout()).await;
    }
    shut_down(&mut handle, grace).await;
    connected
}
