//! Parsing the gathered values into the typed [`Config`]. Each parser returns the end of a
//! sentence ("is not a socket address; use host:port, …"); [`Resolver::get`] puts the key,
//! the value and where it came from in front of it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use kirim_core::Secret;
use kirim_core::phone::DefaultCountry;

use super::layers::{Layers, Raw, Setting};
use super::types::{self, DEFAULT_SQLITE_FILE, MediaConfig, OutboundConfig, UsageConfig, UsageCosts, WebhooksConfig};
use super::values::{Parsed, boolean, choice, fraction, list, size, small, text, whole};
use super::{
    Config, ConfigError, DatabaseConfig, DatabaseUrl, Durability, EventsConfig, HttpConfig, LogConfig, LogFormat, MetricsConfig,
    RateLimitsConfig, SandboxSettings, SendingConfig, WhatsappWebSettings,
};

/// The longest pacing a device may be given (one hour), as for per-device settings.
const MAX_PACING_MS: u64 = 3_600_000;
/// A hundred years: beyond this, "now minus the retention" leaves the calendar.
const MAX_RETENTION_DAYS: u64 = 36_500;
const MIN_ADMIN_TOKEN_CHARS: usize = 16;
/// The most delays in `webhooks.retry_schedule`.
const MAX_RETRIES: usize = 20;
/// The longest single delay in `webhooks.retry_schedule`: 30 days, in milliseconds.
const MAX_RETRY_DELAY_MS: u64 = 30 * 86_400_000;

/// Parses every key; returns the configuration and the keys of the defaults nothing read
/// (always empty unless the defaults file and this code disagree; a test checks).
pub(super) fn resolve(layers: Layers) -> Result<(Config, Vec<String>), ConfigError> {
    let mut r = Resolver { pending: layers.settings, used: BTreeMap::new() };
    let config = Config {
        listen: r.get("listen", socket_addr)?,
        data_dir: r.get("data_dir", folder)?,
        admin_token: r.get("admin_token", admin_token)?,
        default_country: r.get("default_country", country)?,
        log: LogConfig {
            level: r.get("log.level", log_level)?,
            format: r.get("log.format", |s| choice(s, &[("text", LogFormat::Text), ("json", LogFormat::Json)]))?,
        },
        database: DatabaseConfig {
            url: r.get("database.url", database_url)?,
            durability: r.get("database.durability", |s| choice(s, &[("full", Durability::Full), ("normal", Durability::Normal)]))?,
            max_batch: r.get("database.max_batch", |s| size(s, "writes", 1))?,
        },
        http: HttpConfig {
            body_limit_bytes: r.get("http.body_limit_bytes", |s| size(s, "bytes", 1024))?,
            request_timeout_secs: r.get("http.request_timeout_secs", |s| whole(s, "seconds", 1, u64::MAX))?,
            shutdown_grace_secs: r.get("http.shutdown_grace_secs", |s| whole(s, "seconds", 0, u64::MAX))?,
        },
        sending: SendingConfig {
            pacing_ms: r.get("sending.pacing_ms", |s| whole(s, "milliseconds", 0, MAX_PACING_MS))?,
            pacing_jitter_ms: r.get("sending.pacing_jitter_ms", |s| whole(s, "milliseconds", 0, MAX_PACING_MS))?,
            max_attempts: r.get("sending.max_attempts", |s| small(s, "attempts", 1, 100))?,
            retry_base_ms: r.get("sending.retry_base_ms", |s| whole(s, "milliseconds", 0, u64::MAX))?,
            retry_max_ms: r.get("sending.retry_max_ms", |s| whole(s, "milliseconds", 0, u64::MAX))?,
            send_timeout_ms: r.get("sending.send_timeout_ms", |s| whole(s, "milliseconds", 1000, 3_600_000))?,
        },
        events: EventsConfig { retention_days: r.get("events.retention_days", |s| small(s, "days", 0, MAX_RETENTION_DAYS))? },
        webhooks: WebhooksConfig {
            timeout_ms: r.get("webhooks.timeout_ms", |s| whole(s, "milliseconds", 1000, 120_000))?,
            retry_schedule: r.get("webhooks.retry_schedule", retry_schedule)?,
            concurrency_per_endpoint: r.get("webhooks.concurrency_per_endpoint", |s| small(s, "deliveries", 1, 64))?,
            disable_after_days: r.get("webhooks.disable_after_days", |s| small(s, "days", 1, 30))?,
            retention_days: r.get("webhooks.retention_days", |s| small(s, "days", 0, MAX_RETENTION_DAYS))?,
            auto_reply: r.get("webhooks.auto_reply", boolean)?,
        },
        outbound: OutboundConfig {
            allow: r.get("outbound.allow", address_ranges)?,
            connect_timeout_ms: r.get("outbound.connect_timeout_ms", |s| whole(s, "milliseconds", 100, 120_000))?,
        },
        media: MediaConfig {
            max_image_bytes: r.get("media.max_image_bytes", |s| whole(s, "bytes", 1024, types::WHATSAPP_MAX_IMAGE_BYTES))?,
            max_video_bytes: r.get("media.max_video_bytes", |s| whole(s, "bytes", 1024, types::WHATSAPP_MAX_VIDEO_BYTES))?,
            max_audio_bytes: r.get("media.max_audio_bytes", |s| whole(s, "bytes", 1024, types::WHATSAPP_MAX_AUDIO_BYTES))?,
            max_document_bytes: r.get("media.max_document_bytes", |s| whole(s, "bytes", 1024, types::WHATSAPP_MAX_DOCUMENT_BYTES))?,
            max_sticker_bytes: r.get("media.max_sticker_bytes", |s| whole(s, "bytes", 1024, types::WHATSAPP_MAX_STICKER_BYTES))?,
            fetch_timeout_ms: r.get("media.fetch_timeout_ms", |s| whole(s, "milliseconds", 1000, 600_000))?,
        },
        metrics: MetricsConfig { enabled: r.get("metrics.enabled", boolean)? },
        rate_limits: RateLimitsConfig {
            per_key: r.get("rate_limits.per_key", |s| small(s, "requests", 0, u64::from(u32::MAX)))?,
            per_tenant: r.get("rate_limits.per_tenant", |s| small(s, "requests", 0, u64::from(u32::MAX)))?,
            window_secs: r.get("rate_limits.window_secs", |s| whole(s, "seconds", 1, 86_400))?,
        },
        usage: UsageConfig {
            // 0 means "no limit": the file has no null.
            default_daily_tokens: r
                .get("usage.default_daily_tokens", |s| whole(s, "tokens", 0, i64::MAX as u64).map(|n| (n > 0).then_some(n)))?,
            costs: UsageCosts {
                text: r.get("usage.cost_text", cost)?,
                image: r.get("usage.cost_image", cost)?,
                voice: r.get("usage.cost_voice", cost)?,
                audio: r.get("usage.cost_audio", cost)?,
                video: r.get("usage.cost_video", cost)?,
                document: r.get("usage.cost_document", cost)?,
                sticker: r.get("usage.cost_sticker", cost)?,
                other: r.get("usage.cost_other", cost)?,
                action: r.get("usage.cost_action", cost)?,
            },
        },
        sandbox: SandboxSettings {
            enabled: r.get("sandbox.enabled", boolean)?,
            delivered_after_ms: r.get("sandbox.delivered_after_ms", |s| whole(s, "milliseconds", 0, u64::MAX))?,
            read_after_ms: r.get("sandbox.read_after_ms", |s| whole(s, "milliseconds", 0, u64::MAX))?,
            receipts: r.get("sandbox.receipts", boolean)?,
            failure_rate: r.get("sandbox.failure_rate", fraction)?,
            not_on_whatsapp: r.get("sandbox.not_on_whatsapp", phone_prefixes)?,
            auto_scan_ms: r.get("sandbox.auto_scan_ms", |s| whole(s, "milliseconds", 0, u64::MAX))?,
            qr_refresh_ms: r.get("sandbox.qr_refresh_ms", |s| whole(s, "milliseconds", 1, u64::MAX))?,
            qr_max_codes: r.get("sandbox.qr_max_codes", |s| small(s, "codes", 1, 1000))?,
        },
        whatsapp_web: WhatsappWebSettings {
            enabled: r.get("whatsapp_web.enabled", boolean)?,
            typing_pause_ms: r.get("whatsapp_web.typing_pause_ms", |s| whole(s, "milliseconds", 0, 30_000))?,
            typing_pause_max_ms: r.get("whatsapp_web.typing_pause_max_ms", |s| whole(s, "milliseconds", 0, 30_000))?,
        },
        compat: types::CompatConfig {
            onsend: r.get("compat.onsend", mount)?,
            wa_gateway: r.get("compat.wa_gateway", mount)?,
            onebloc: r.get("compat.onebloc", mount)?,
            propops: r.get("compat.propops", mount)?,
            wablas: r.get("compat.wablas", mount)?,
        },
        transcription: types::TranscriptionConfig {
            url: r.get("transcription.url", transcription_url)?,
            model: r.get("transcription.model", model_name)?,
            api_key: r.get("transcription.api_key", api_key)?,
            timeout_ms: r.get("transcription.timeout_ms", |s| whole(s, "milliseconds", 1000, 600_000))?,
        },
    };
    // Two layers under one prefix would claim the same paths (`/api/status` is OnSend's and
    // wa-gateway's): each needs its own.
    let mounts = config.compat.mounts();
    for (i, (key, prefix)) in mounts.iter().enumerate() {
        if let Some((other, _)) = mounts[i + 1..].iter().find(|(_, p)| p.is_some() && p == prefix) {
            let shown = prefix.map_or("", |p| if p.0.is_empty() { "/" } else { p.0.as_str() });
            return Err(ConfigError::new(format!(
                "{key} and {other} are both mounted at {shown}; their paths overlap, so give each its own prefix (or \"\" to switch one off)"
            )));
        }
    }
    if config.sending.retry_base_ms > config.sending.retry_max_ms {
        let (base, max) = (&r.used["sending.retry_base_ms"], &r.used["sending.retry_max_ms"]);
        return Err(ConfigError::new(format!(
            "sending.retry_base_ms ({}, {}) is larger than sending.retry_max_ms ({}, {}); make retry_max_ms at least as large as retry_base_ms",
            config.sending.retry_base_ms,
            base.origin(),
            config.sending.retry_max_ms,
            max.origin()
        )));
    }
    Ok((config, r.pending.into_keys().collect()))
}

struct Resolver {
    pending: BTreeMap<String, Setting>,
    used: BTreeMap<String, Setting>,
}

impl Resolver {
    fn get<T>(&mut self, key: &str, parse: impl FnOnce(&Setting) -> Parsed<T>) -> Result<T, ConfigError> {
        let setting = self
            .pending
            .remove(key)
            .ok_or_else(|| ConfigError::new(format!("Kirim's built-in defaults lack {key}; this is a bug, please report it")))?;
        let parsed = parse(&setting).map_err(|problem| ConfigError::new(format!("{} {problem}", setting.subject())));
        self.used.insert(key.to_owned(), setting);
        parsed
    }
}

/// `""`: off; `"/"`: the root; `"/compat/x"`: under that prefix.
fn mount(s: &Setting) -> Parsed<Option<types::MountPrefix>> {
    let given = text(s)?;
    let given = given.trim();
    if given.is_empty() {
        return Ok(None);
    }
    let path = given.trim_end_matches('/');
    let well_formed = given.starts_with('/')
        && !path.contains("//")
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
        && !path.split('/').any(|seg| seg == "." || seg == "..");
    if !well_formed {
        return Err(format!(
            "is not a path prefix; use \"/\" for the root, a path such as {} , or \"\" to switch the layer off",
            s.example()
        ));
    }
    if path == "/v1" || path.starts_with("/v1/") {
        return Err("would hide the native API under /v1; pick another prefix".to_owned());
    }
    Ok(Some(types::MountPrefix(path.to_owned())))
}

/// Tokens one message costs; 0 makes the type free.
fn cost(s: &Setting) -> Parsed<u32> {
    small(s, "tokens", 0, 1_000_000)
}

fn socket_addr(s: &Setting) -> Parsed<SocketAddr> {
    let given = text(s)?;
    let given = given.trim();
    given.parse::<SocketAddr>().map_err(|_| {
        if let Ok(port) = given.trim_start_matches(':').parse::<u16>() {
            format!("is a port without an address; use host:port, for example 127.0.0.1:{port}")
        } else if given.to_ascii_lowercase().starts_with("localhost") {
            "names a host, but an IP address is needed; use host:port, for example 127.0.0.1:8080".to_owned()
        } else {
            "is not a socket address; use host:port, for example 127.0.0.1:8080".to_owned()
        }
    })
}

fn folder(s: &Setting) -> Parsed<PathBuf> {
    let path = match &s.raw {
        Raw::Path(path) => path.clone(),
        _ => PathBuf::from(text(s)?),
    };
    if path.as_os_str().is_empty() {
        return Err(format!("is empty; name a folder, for example {}", s.example()));
    }
    Ok(path)
}

/// Empty, or an http(s) URL: the operator's own transcription server, trusted like the
/// database URL (it is not a tenant's address, so the outbound guard does not apply).
fn transcription_url(s: &Setting) -> Parsed<Option<url::Url>> {
    let given = text(s)?;
    let given = given.trim();
    if given.is_empty() {
        return Ok(None);
    }
    let hint = "use the endpoint's full http(s) URL, e.g. http://127.0.0.1:8178/v1/audio/transcriptions, or leave it empty";
    let parsed = url::Url::parse(given).map_err(|_| format!("is not a URL; {hint}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("is not an http or https URL; {hint}"));
    }
    Ok(Some(parsed))
}

fn model_name(s: &Setting) -> Parsed<String> {
    let given = text(s)?.trim().to_owned();
    if given.is_empty() || given.len() > 200 || given.chars().any(char::is_control) {
        return Err("must be the model's name (1 to 200 characters), e.g. whisper-1".to_owned());
    }
    Ok(given)
}

fn api_key(s: &Setting) -> Parsed<Option<Secret>> {
    let key = text(s)?;
    let key = key.trim();
    if key.is_empty() {
        return Ok(None);
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters; paste the key alone".to_owned());
    }
    Ok(Some(Secret::new(key.to_owned())))
}

fn admin_token(s: &Setting) -> Parsed<Option<Secret>> {
    let token = text(s)?;
    if token.is_empty() {
        return Ok(None);
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters; use letters, digits and punctuation only".to_owned());
    }
    let length = token.chars().count();
    if length < MIN_ADMIN_TOKEN_CHARS {
        return Err(format!(
            "is only {length} characters long; use at least {MIN_ADMIN_TOKEN_CHARS}, or leave it empty to have Kirim generate one"
        ));
    }
    Ok(Some(Secret::new(token)))
}

fn country(s: &Setting) -> Parsed<Option<DefaultCountry>> {
    let code = text(s)?;
    let code = code.trim();
    if code.is_empty() {
        return Ok(None);
    }
    match DefaultCountry::parse(code) {
        Some(country) if code.len() == 2 => Ok(Some(country)),
        _ => Err("is not an ISO 3166 country code; use two letters such as MY or ID, or leave it empty".to_owned()),
    }
}

fn log_level(s: &Setting) -> Parsed<String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let fix = "use a level (error, warn, info, debug, trace) or directives such as kirim=debug,info";
    let filter = text(s)?;
    let filter = filter.trim();
    let bare_word = !filter.contains(['=', ',', '[', ':']);
    if bare_word && !LEVELS.contains(&filter.to_ascii_lowercase().as_str()) {
        return Err(format!("is not a log level; {fix}"));
    }
    tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| format!("is not a valid log filter ({e}); {fix}"))?;
    Ok(filter.to_owned())
}

fn database_url(s: &Setting) -> Parsed<DatabaseUrl> {
    let url = text(s)?;
    let url = url.trim();
    if url.is_empty() {
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_FILE)));
    }
    let fix = "use sqlite://<path> or postgres://…, or leave it empty for <data_dir>/kirim.db";
    let scheme = url.split_once(':').map(|(scheme, _)| scheme).filter(|scheme| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic()) && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let Some(scheme) = scheme else {
        return Err(format!("is not a URL; {fix}"));
    };
    let rest = &url[scheme.len() + 1..];
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                Err("names no file; use sqlite://<path>, for example sqlite:///var/lib/kirim/kirim.db".to_owned())
            } else if path.contains('?') {
                Err("has options after `?`, which Kirim does not take; remove them (set database.durability instead)".to_owned())
            } else if path == ":memory:" {
                Err("is an in-memory database, which cannot keep messages; use sqlite://<path> to a file".to_owned())
            } else {
                Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
            }
        }
        "postgres" | "postgresql" => Ok(DatabaseUrl::Postgres(Secret::new(url))),
        other => Err(format!("has the scheme `{other}`, which Kirim does not support; {fix}")),
    }
}

fn phone_prefixes(s: &Setting) -> Parsed<Vec<String>> {
    list(s)?
        .into_iter()
        .map(|item| {
            let digits = item.trim().strip_prefix('+').unwrap_or(item.trim());
            if !digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()) {
                Ok(format!("+{digits}"))
            } else {
                Err(format!("contains {item:?}, which is not a phone number prefix; use a plus sign and digits, for example +6019999"))
            }
        })
        .collect()
}

fn address_ranges(s: &Setting) -> Parsed<Vec<IpNet>> {
    list(s)?
        .into_iter()
        .map(|item| {
            let item = item.trim();
            if let Ok(ip) = item.parse::<IpAddr>() {
                return Ok(IpNet::from(ip));
            }
            let net = item.parse::<IpNet>().map_err(|_| {
                format!(
                    "contains {item:?}, which is not an address range; write an address with a prefix length, for example 10.1.2.0/24, 127.0.0.1/32 or fd00::/8"
                )
            })?;
            if net.trunc() != net {
                return Err(format!(
                    "contains {item:?}, which has address bits set past its prefix length; write {} for the whole range, or {}/{} for one address",
                    net.trunc(),
                    net.addr(),
                    net.max_prefix_len()
                ));
            }
            Ok(net)
        })
        .collect()
}

fn retry_schedule(s: &Setting) -> Parsed<Vec<Duration>> {
    let format =
        "write 1 to 20 delays separated by commas, each a whole number and a unit (ms, s, m, h or d), for example \"5s,5m,30m,2h\"";
    let given = text(s)?;
    if given.trim().is_empty() {
        return Err(format!("is empty; {format}"));
    }
    let items: Vec<&str> = given.split(',').map(str::trim).collect();
    if items.len() > MAX_RETRIES {
        return Err(format!("has {} delays; use at most {MAX_RETRIES}", items.len()));
    }
    items
        .into_iter()
        .map(|item| {
            if item.is_empty() {
                return Err(format!("has an empty delay (two commas in a row, or one at an end); {format}"));
            }
            let ms = delay_ms(item).ok_or_else(|| format!("contains {item:?}, which is not a delay; {format}"))?;
            if ms > MAX_RETRY_DELAY_MS {
                return Err(format!("contains {item:?}, which is longer than 30 days; use at most 30d for one delay"));
            }
            Ok(Duration::from_millis(ms))
        })
        .collect()
}

/// `"5s"`, `"250ms"`, `"2h"` in milliseconds; `None` if it is not a number and a unit.
fn delay_ms(item: &str) -> Option<u64> {
    let digits = item.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = item.split_at(digits);
    let per_unit = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    // A number too large for u64 is certainly longer than the longest delay.
    let number = if number.is_empty() { return None } else { number.parse::<u64>().unwrap_or(u64::MAX) };
    Some(number.saturating_mul(per_unit))
}
