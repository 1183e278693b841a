//! Building and running the gateway: one [`AppState`] passed explicitly, a cancellation token
//! for shutdown, and the API, send lanes and housekeeping as sibling tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kirim_core::store::Store;
use kirim_core::{Clock, Secret, SystemClock, TokenHash};
use kirim_store_sqlite::{Durability, SqliteConfig, SqliteStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, DatabaseUrl};
use crate::connectors::Connectors;
use crate::connectors::sandbox::{Sandbox, SandboxConfig};
use crate::connectors::sink::AppSink;
use crate::http::auth::AuthCache;
use crate::media::MediaFiles;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::runtime::{DeviceRegistry, InFlight};
use crate::webhooks::WebhookRuntime;
use crate::workers::send::{Lanes, SendWorker};

/// The setting under which the admin token's SHA-256 (hex) is stored.
pub const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";

/// Everything a handler, service or worker needs, passed explicitly (no globals). One `Arc`:
/// every request, task and lane holds a clone, and cloning each of the parts (an atomic
/// increment apiece, and as many decrements on drop) was a visible share of the CPU under load.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub devices: Arc<DeviceRegistry>,
    pub connectors: Arc<Connectors>,
    pub sandbox: Option<Arc<Sandbox>>,
    /// The WhatsApp Web connector, typed, for its session metrics.
    #[cfg(feature = "whatsapp-web")]
    pub whatsapp_web: Option<Arc<kirim_wa::connector::WaConnector>>,
    pub auth: Arc<AuthCache>,
    pub rate_limiter: Arc<crate::http::rate_limit::RateLimiter>,
    pub metrics: Arc<Metrics>,
    pub lanes: Arc<Lanes>,
    pub webhooks: Arc<WebhookRuntime>,
    pub scheduler: Arc<crate::workers::schedule::SchedulerWake>,
    /// Stored inbound messages, waiting to be matched against the auto-reply rules.
    pub auto_replies: Arc<crate::services::auto_replies::Inbox>,
    /// Stored inbound messages waiting to be read as job replies, and the delay worker's wake-up.
    pub jobs: Arc<crate::services::jobs::JobsRuntime>,
    /// Replies to declined calls, waiting to be sent.
    pub call_replies: Arc<crate::services::calls::Inbox>,
    /// The media folder (`<data_dir>/media`).
    pub media: Arc<MediaFiles>,
    pub shutdown: CancellationToken,
}

/// What the caller of [`build`] needs to know once.
pub struct Built {
    pub state: AppState,
    sqlite: SqliteStore,
    /// A newly generated admin token, to be shown to the operator exactly once.
    pub generated_admin_token: Option<Secret>,
}

impl Built {
    /// Flushes and closes the store without serving (offline admin commands).
    pub async fn close(self) {
        self.sqlite.close().await;
    }
}

/// Opens the SQLite store described by the configuration.
pub async fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    if let DatabaseUrl::Postgres(_) = &config.database.url {
        anyhow::bail!("PostgreSQL is not available in this build yet; leave database.url empty to use SQLite");
    }
    let mut sqlite = SqliteConfig::new(config.database_path());
    sqlite.durability = match config.database.durability {
        crate::config::Durability::Full => Durability::Full,
        crate::config::Durability::Normal => Durability::Normal,
    };
    sqlite.max_batch = config.database.max_batch;
    SqliteStore::open(sqlite).await.with_context(|| format!("opening the database at {}", config.database_path().display()))
}

/// Makes sure an admin token exists: the configured one, or one generated on first start.
async fn admin_token(config: &Config, store: &dyn Store) -> anyhow::Result<(TokenHash, Option<Secret>)> {
    if let Some(token) = &config.admin_token {
        store.put_setting(ADMIN_TOKEN_SETTING, &hex::encode(token.hash().0)).await?;
        return Ok((token.hash(), None));
    }
    if let Some(stored) = store.get_setting(ADMIN_TOKEN_SETTING).await? {
        let bytes = hex::decode(stored.trim()).ok().and_then(|b| TokenHash::from_slice(&b));
        if let Some(hash) = bytes {
            return Ok((hash, None));
        }
    }
    let token = Secret::generate("ka_");
    store.put_setting(ADMIN_TOKEN_SETTING, &hex::encode(token.hash().0)).await?;
    Ok((token.hash(), Some(token)))
}

pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Built> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data folder {} (set KIRIM_DATA_DIR to a writable folder)", config.data_dir.display()))?;
    let sqlite = open_store(&config).await?;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let (admin_hash, generated_admin_token) = admin_token(&config, store.as_ref()).await?;

    let released = store.release_in_flight(None).await?;
    if released > 0 {
        tracing::info!(released, "messages in flight when the last process stopped are queued again");
    }
    let devices = Arc::new(DeviceRegistry::default());
    for device in store.list_all_devices().await? {
        devices.upsert(device);
    }
    let metrics = Arc::new(Metrics::new());
    let in_flight = Arc::new(InFlight::default());
    let auto_replies = Arc::new(crate::services::auto_replies::Inbox::default());
    let jobs =
        Arc::new(crate::services::jobs::JobsRuntime::new(crate::services::transcribe::Transcriber::from_config(&config.transcription)));
    let call_replies = Arc::new(crate::services::calls::Inbox::default());
    let sink = Arc::new(AppSink {
        store: store.clone(),
        devices: devices.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        in_flight: in_flight.clone(),
        receipt_wait: Duration::from_millis(config.sending.send_timeout_ms) + Duration::from_secs(30),
        auto_replies: Some(auto_replies.sender()),
        jobs: Some(jobs.sender()),
        call_replies: Some(call_replies.sender()),
    });

    let mut connectors = Connectors::default();
    let sandbox = if config.sandbox.enabled {
        let s = &config.sandbox;
        let sandbox = Sandbox::open(
            SandboxConfig {
                state_dir: config.data_dir.join("sandbox"),
                delivered_after: Duration::from_millis(s.delivered_after_ms),
                read_after: Duration::from_millis(s.read_after_ms),
                receipts: s.receipts,
                failure_rate: s.failure_rate,
                not_on_whatsapp: s.not_on_whatsapp.clone(),
                auto_scan_after: (s.auto_scan_ms > 0).then(|| Duration::from_millis(s.auto_scan_ms)),
                qr_refresh: Duration::from_millis(s.qr_refresh_ms),
                qr_max_codes: s.qr_max_codes,
            },
            sink.clone(),
        )
        .await
        .context("starting the sandbox network")?;
        connectors.add(sandbox.clone());
        Some(sandbox)
    } else {
        None
    };
    #[cfg(feature = "whatsapp-web")]
    let whatsapp_web = config.whatsapp_web.enabled.then(|| {
        // Linked phones' session keys live in the same store as everything else.
        let sessions: Arc<dyn kirim_core::session::SessionStore> = store.clone();
        let typing = &config.whatsapp_web;
        let options = kirim_wa::connector::WaOptions::default()
            .with_typing_pause(Duration::from_millis(typing.typing_pause_ms), Duration::from_millis(typing.typing_pause_max_ms));
        let connector = Arc::new(kirim_wa::connector::WaConnector::new(sink.clone(), sessions, options));
        connectors.add(connector.clone());
        connector
    });
    let connectors = Arc::new(connectors);

    let media_dir = config.data_dir.join("media");
    let media = Arc::new(
        MediaFiles::open(media_dir.clone())
            .with_context(|| format!("opening the media folder {} (it must be writable)", media_dir.display()))?,
    );
    let shutdown = CancellationToken::new();
    let worker = Arc::new(SendWorker {
        store: store.clone(),
        connectors: connectors.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        sending: config.sending.clone(),
        in_flight,
        media: media.clone(),
    });
    let lanes = Arc::new(Lanes::new(worker, devices.clone(), shutdown.clone()));
    let outbound = Outbound::from_config(&config);
    let rate_limiter = Arc::new(crate::http::rate_limit::RateLimiter::new(&config.rate_limits));
    let state = AppState(Arc::new(Shared {
        config: Arc::new(config),
        store,
        clock,
        devices,
        connectors,
        sandbox,
        #[cfg(feature = "whatsapp-web")]
        whatsapp_web,
        auth: Arc::new(AuthCache::new(Some(admin_hash))),
        rate_limiter,
        metrics,
        lanes,
        webhooks: Arc::new(WebhookRuntime::new(outbound)),
        scheduler: Arc::default(),
        auto_replies,
        jobs,
        call_replies,
        media,
        shutdown,
    }));
    Ok(Built { state, sqlite, generated_admin_token })
}

/// Resumes linked sessions and starts a send lane per device.
pub async fn start_devices(state: &AppState) {
    for entry in state.devices.all() {
        let device = entry.snapshot();
        if let Some(connector) = state.connectors.get(device.connector)
            && let Err(error) = connector.start(&device).await
        {
            tracing::warn!(device = %device.id, %error, "could not resume the device's session");
        }
        state.lanes.ensure(entry.pk);
    }
}

/// A running gateway: its address and the handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops gracefully: no new requests, in-flight requests and sends finish, the store is flushed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.state.shutdown.cancel();
        self.task.await.context("the server task panicked")?
    }

    /// Waits until the server stops (after a signal or `shutdown.cancel()`).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the server task panicked")?
    }
}

/// Binds, starts every task and returns once the gateway is accepting requests.
pub async fn start(built: Built, listener: TcpListener) -> anyhow::Result<Running> {
    let Built { state, sqlite, .. } = built;
    let addr = listener.local_addr()?;
    start_devices(&state).await;
    let housekeeping = tokio::spawn(crate::workers::housekeeping::run(state.clone(), state.shutdown.clone()));
    let webhooks = tokio::spawn(crate::webhooks::worker::run(state.clone(), state.shutdown.clone()));
    let scheduler = tokio::spawn(crate::workers::schedule::run(state.clone(), state.scheduler.clone(), state.shutdown.clone()));
    let reminders = tokio::spawn(crate::workers::reminders::run(state.clone(), state.shutdown.clone()));
    let auto_replies = tokio::spawn(crate::services::auto_replies::run(state.clone(), state.shutdown.clone()));
    let job_replies = tokio::spawn(crate::services::job_inbox::run(state.clone(), state.shutdown.clone()));
    let job_delays = tokio::spawn(crate::workers::jobs::run(state.clone(), state.shutdown.clone()));
    let call_replies = tokio::spawn(crate::services::calls::run(state.clone(), state.shutdown.clone()));
    let router = crate::http::router(state.clone());
    let shutdown = state.shutdown.clone();
    let run_state = state.clone();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, router.into_make_service()).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let grace = Duration::from_secs(run_state.config.http.shutdown_grace_secs);
        let result = server.await.context("serving HTTP");
        shutdown.cancel();
        if !run_state.lanes.drain(grace).await {
            tracing::warn!("some sends did not finish within the shutdown grace period; they will be retried on the next start");
        }
        for connector in run_state.connectors.all() {
            for entry in run_state.devices.all() {
                connector.stop(entry.pk).await;
            }
        }
        let _ = webhooks.await;
        if !run_state.webhooks.drain(grace).await {
            tracing::warn!("some webhook deliveries did not finish within the shutdown grace period; they will be made again");
        }
        let _ = housekeeping.await;
        let _ = scheduler.await;
        let _ = reminders.await;
        let _ = auto_replies.await;
        let _ = job_replies.await;
        let _ = job_delays.await;
        let _ = call_replies.await;
        sqlite.close().await;
        result
    });
    Ok(Running { addr, state, task })
}

/// `kirim serve`: build, bind, run until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let built = build(config, Arc::new(SystemClock)).await?;
    if let Some(token) = &built.generated_admin_token {
        eprintln!(
            "\n  Kirim generated an admin token. It is shown only this once; store it safely:\n\n    {}\n\n  (set KIRIM_ADMIN_TOKEN to choose your own)\n",
            token.expose()
        );
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (is another process using it? set KIRIM_LISTEN to another address)"))?;
    let running = start(built, listener).await?;
    tracing::info!(addr = %running.addr, "Kirim is listening");
    let shutdown = running.state.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and sends");
        shutdown.cancel();
    });
    running.wait().await
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
