//! The typed configuration. Every value is parsed before the app sees it; the `Default`
//! impls mirror `config/defaults.toml` (a test keeps the two equal).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use kirim_core::Secret;
use kirim_core::phone::DefaultCountry;

/// The SQLite file used when `database.url` is empty, inside `data_dir`.
pub(super) const DEFAULT_SQLITE_FILE: &str = "kirim.db";

/// The effective configuration. `Debug` never shows a secret (they are [`Secret`]s).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Where the SQLite database, media and sandbox state live.
    pub data_dir: PathBuf,
    /// The operator token; `None`: generated on first start, printed once, stored hashed.
    pub admin_token: Option<Secret>,
    /// The country for phone numbers written in national form (`012-345 6789`).
    pub default_country: Option<DefaultCountry>,
    pub log: LogConfig,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub sending: SendingConfig,
    pub events: EventsConfig,
    pub webhooks: WebhooksConfig,
    pub outbound: OutboundConfig,
    pub media: MediaConfig,
    pub metrics: MetricsConfig,
    pub rate_limits: RateLimitsConfig,
    pub usage: UsageConfig,
    pub sandbox: SandboxSettings,
    pub whatsapp_web: WhatsappWebSettings,
    pub compat: CompatConfig,
    pub transcription: TranscriptionConfig,
}

/// `[compat]`: where each reference product's API is served (`None`: not at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatConfig {
    pub onsend: Option<MountPrefix>,
    pub wa_gateway: Option<MountPrefix>,
    pub onebloc: Option<MountPrefix>,
    pub propops: Option<MountPrefix>,
    pub wablas: Option<MountPrefix>,
}

impl CompatConfig {
    /// Each layer's key and mount, for checks that go over all of them.
    pub fn mounts(&self) -> [(&'static str, Option<&MountPrefix>); 5] {
        [
            ("compat.onsend", self.onsend.as_ref()),
            ("compat.wa_gateway", self.wa_gateway.as_ref()),
            ("compat.onebloc", self.onebloc.as_ref()),
            ("compat.propops", self.propops.as_ref()),
            ("compat.wablas", self.wablas.as_ref()),
        ]
    }
}

impl Default for CompatConfig {
    fn default() -> Self {
        Self {
            onsend: Some(MountPrefix("/compat/onsend".to_owned())),
            wa_gateway: Some(MountPrefix("/compat/wa-gateway".to_owned())),
            onebloc: Some(MountPrefix("/compat/onebloc".to_owned())),
            propops: Some(MountPrefix("/compat/propops".to_owned())),
            wablas: Some(MountPrefix("/compat/wablas".to_owned())),
        }
    }
}

/// A path prefix a compat layer is mounted under: empty for the root, else `/a/b` (no
/// trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPrefix(pub String);

/// `[whatsapp_web]`: the WhatsApp Web connector (linked phones), when this build has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsappWebSettings {
    /// The connector is available for new devices, and linked devices resume at start.
    pub enabled: bool,
    /// "Typing…" before each text: this long per started 100 characters (0: off) …
    pub typing_pause_ms: u64,
    /// … and at most this long.
    pub typing_pause_max_ms: u64,
}

impl Default for WhatsappWebSettings {
    fn default() -> Self {
        Self { enabled: true, typing_pause_ms: 0, typing_pause_max_ms: 5000 }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A `tracing` filter directive (`info`, `kirim=debug,info`).
    pub level: String,
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `[database]`
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub durability: Durability,
    /// The most writes per group commit.
    pub max_batch: usize,
}

/// Which database backend, from `database.url`'s scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file; a relative path is inside `data_dir` (see [`Config::database_path`]).
    Sqlite(PathBuf),
    /// `postgres://…`: reserved for the PostgreSQL backend (not available yet). The whole
    /// URL is a secret because it usually holds a password.
    Postgres(Secret),
}

/// How hard a commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync on every group commit: nothing acknowledged is lost.
    Full,
    /// WAL with `synchronous=NORMAL`: a power cut may lose the last commits; a process
    /// crash loses nothing.
    Normal,
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    /// How long in-flight requests and sends get to finish on SIGINT/SIGTERM.
    pub shutdown_grace_secs: u64,
}

/// `[sending]`: the defaults for new devices and the retry schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingConfig {
    /// The pause between two sends of a device (per-device settings override it).
    pub pacing_ms: u64,
    /// A random extra pause of up to this much.
    pub pacing_jitter_ms: u64,
    /// Attempts before a message is marked failed (1..=100).
    pub max_attempts: u32,
    /// The first retry delay, doubled each attempt.
    pub retry_base_ms: u64,
    /// The longest retry delay (at least `retry_base_ms`).
    pub retry_max_ms: u64,
    /// How long one connector send may take before it counts as a temporary failure.
    pub send_timeout_ms: u64,
}

/// `[events]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Events older than this are pruned; 0 keeps them forever.
    pub retention_days: u32,
}

/// `[webhooks]`: delivering events to tenants' endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhooksConfig {
    /// How long an endpoint gets to answer one delivery (1000..=120000 ms).
    pub timeout_ms: u64,
    /// The delays between the attempts of a failed delivery (1 to 20 of them).
    pub retry_schedule: Vec<Duration>,
    /// Deliveries under way to one endpoint at once (1..=64).
    pub concurrency_per_endpoint: u32,
    /// An endpoint failing every delivery for this many days is disabled (1..=30).
    pub disable_after_days: u32,
    /// Delivery attempts older than this are pruned; 0 keeps them forever.
    pub retention_days: u32,
    /// Whether endpoints may enable auto-reply from their responses.
    pub auto_reply: bool,
}

/// `[outbound]`: calls Kirim makes to other servers, through the SSRF guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Ranges the guard lets through although they are loopback, private, reserved ….
    pub allow: Vec<IpNet>,
    /// How long connecting (DNS included) may take.
    pub connect_timeout_ms: u64,
}

/// `[media]`: stored files, per-kind size limits (bytes) and fetching links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    pub max_image_bytes: u64,
    pub max_video_bytes: u64,
    pub max_audio_bytes: u64,
    pub max_document_bytes: u64,
    pub max_sticker_bytes: u64,
    /// How long downloading a message's `link` may take, all of it.
    pub fetch_timeout_ms: u64,
}

/// WhatsApp's own limits, the most the `max_*_bytes` settings may be.
pub const WHATSAPP_MAX_IMAGE_BYTES: u64 = 5 * 1024 * 1024;
pub const WHATSAPP_MAX_VIDEO_BYTES: u64 = 16 * 1024 * 1024;
pub const WHATSAPP_MAX_AUDIO_BYTES: u64 = 16 * 1024 * 1024;
pub const WHATSAPP_MAX_DOCUMENT_BYTES: u64 = 100 * 1024 * 1024;
pub const WHATSAPP_MAX_STICKER_BYTES: u64 = 500 * 1024;

impl MediaConfig {
    /// The largest file of `kind` Kirim accepts.
    pub fn max_bytes(&self, kind: kirim_core::media::MediaKind) -> u64 {
        use kirim_core::media::MediaKind;
        match kind {
            MediaKind::Image => self.max_image_bytes,
            MediaKind::Video => self.max_video_bytes,
            MediaKind::Audio => self.max_audio_bytes,
            MediaKind::Document => self.max_document_bytes,
            MediaKind::Sticker => self.max_sticker_bytes,
        }
    }

    /// The largest file of any kind.
    pub fn largest(&self) -> u64 {
        kirim_core::media::MediaKind::ALL.into_iter().map(|k| self.max_bytes(k)).max().unwrap_or(0)
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_image_bytes: 2 * 1024 * 1024,
            max_video_bytes: 2 * 1024 * 1024,
            max_audio_bytes: 2 * 1024 * 1024,
            max_document_bytes: 2 * 1024 * 1024,
            max_sticker_bytes: WHATSAPP_MAX_STICKER_BYTES,
            fetch_timeout_ms: 30_000,
        }
    }
}

/// `[transcription]`: where workers' voice notes are transcribed, an OpenAI-compatible
/// `POST …/v1/audio/transcriptions` endpoint (whisper.cpp's server, faster-whisper servers,
/// hosted services). No `url`: voice notes are kept untranscribed and flagged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TranscriptionConfig {
    /// The endpoint's full URL, e.g. `http://127.0.0.1:8178/v1/audio/transcriptions`.
    pub url: Option<url::Url>,
    /// The `model` form field (`whisper-1`, or what the server expects).
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<Secret>,
    pub timeout_ms: u64,
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Serve Prometheus text at `/metrics`.
    pub enabled: bool,
}

/// `[rate_limits]`: requests per credential and per tenant (0: no limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitsConfig {
    /// Requests one API key or device token may make per window.
    pub per_key: u32,
    /// Requests all of one tenant's credentials together may make per window.
    pub per_tenant: u32,
    /// The window's length (1..=86400 s).
    pub window_secs: u64,
}

/// `[usage]`: daily token budgets and what each message type costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageConfig {
    /// The daily budget a new tenant starts with; `None` (0 in the file): unlimited.
    pub default_daily_tokens: Option<u64>,
    pub costs: UsageCosts,
}

/// Tokens per message, by type. A voice note is an `audio` sent with `voice: true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageCosts {
    pub text: u32,
    pub image: u32,
    pub voice: u32,
    pub audio: u32,
    pub video: u32,
    pub document: u32,
    pub sticker: u32,
    /// Location, contact card, list, buttons, poll.
    pub other: u32,
    /// Reaction, edit, revoke.
    pub action: u32,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            default_daily_tokens: None,
            costs: UsageCosts { text: 1, image: 2, voice: 2, audio: 2, video: 2, document: 2, sticker: 1, other: 1, action: 1 },
        }
    }
}

/// `[sandbox]`: the simulated WhatsApp network.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSettings {
    /// The sandbox connector is available for new devices.
    pub enabled: bool,
    pub delivered_after_ms: u64,
    pub read_after_ms: u64,
    pub receipts: bool,
    /// The share of sends that fail with a temporary error (0.0..=1.0).
    pub failure_rate: f64,
    /// E.164 prefixes (`+6019999`) of numbers that are not on WhatsApp.
    pub not_on_whatsapp: Vec<String>,
    /// 0: off; otherwise the simulated phone scans by itself after this many ms.
    pub auto_scan_ms: u64,
    pub qr_refresh_ms: u64,
    pub qr_max_codes: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            data_dir: PathBuf::from("./kirim-data"),
            admin_token: None,
            default_country: None,
            log: LogConfig::default(),
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            sending: SendingConfig::default(),
            events: EventsConfig::default(),
            webhooks: WebhooksConfig::default(),
            outbound: OutboundConfig::default(),
            media: MediaConfig::default(),
            metrics: MetricsConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            usage: UsageConfig::default(),
            sandbox: SandboxSettings::default(),
            whatsapp_web: WhatsappWebSettings::default(),
            compat: CompatConfig::default(),
            transcription: TranscriptionConfig { url: None, model: "whisper-1".to_owned(), api_key: None, timeout_ms: 60_000 },
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Text }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_FILE)), durability: Durability::Full, max_batch: 512 }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { body_limit_bytes: 1024 * 1024, request_timeout_secs: 30, shutdown_grace_secs: 30 }
    }
}

impl Default for SendingConfig {
    fn default() -> Self {
        Self {
            pacing_ms: 1000,
            pacing_jitter_ms: 1000,
            max_attempts: 5,
            retry_base_ms: 2000,
            retry_max_ms: 300_000,
            send_timeout_ms: 60_000,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self { retention_days: 30 }
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 15_000,
            // "5s,5m,30m,2h,5h,10h,10h"
            retry_schedule: [5, 300, 1800, 7200, 18_000, 36_000, 36_000].into_iter().map(Duration::from_secs).collect(),
            concurrency_per_endpoint: 8,
            disable_after_days: 5,
            retention_days: 30,
            auto_reply: true,
        }
    }
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self { allow: Vec::new(), connect_timeout_ms: 5000 }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self { per_key: 6000, per_tenant: 12_000, window_secs: 60 }
    }
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            delivered_after_ms: 300,
            read_after_ms: 1000,
            receipts: true,
            failure_rate: 0.0,
            not_on_whatsapp: vec!["+6019999".to_owned()],
            auto_scan_ms: 0,
            qr_refresh_ms: 20_000,
            qr_max_codes: 6,
        }
    }
}
