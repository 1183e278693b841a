//! Kirim's configuration, in layers, lowest first:
//!
//! 1. the documented defaults embedded from `config/defaults.toml` (also what
//!    `kirim config example` prints, so the docs and the defaults cannot drift);
//! 2. an optional TOML file (`--config`), with the same keys; a key the defaults do not
//!    have is an error;
//! 3. `KIRIM_*` environment variables (`KIRIM_LISTEN`, `KIRIM_SENDING_PACING_MS`), with
//!    `*_FILE` variants for the secrets; unknown `KIRIM_*` variables become warnings;
//! 4. command-line flags ([`Overrides`]).
//!
//! The merged values are parsed once into a typed [`Config`]. A bad value stops start-up
//! with one sentence naming the key, where the value came from, and how to fix it.

mod layers;
mod resolve;
mod suggest;
#[cfg(test)]
mod tests;
mod types;
mod values;

use std::path::PathBuf;

pub use types::{
    CompatConfig, Config, DatabaseConfig, DatabaseUrl, Durability, EventsConfig, HttpConfig, LogConfig, LogFormat, MediaConfig,
    MetricsConfig, MountPrefix, OutboundConfig, RateLimitsConfig, SandboxSettings, SendingConfig, TranscriptionConfig, UsageConfig,
    UsageCosts, WebhooksConfig, WhatsappWebSettings,
};

/// Values given on the command line: the highest layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config`: the TOML file read over the defaults.
    pub config_file: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// A loaded configuration and the warnings found on the way (unknown `KIRIM_*` variables),
/// for the caller to log once logging is set up.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Why the configuration cannot be used: one sentence saying which key, where its value
/// came from, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl Config {
    /// Loads the configuration from the defaults, `overrides.config_file`, the process
    /// environment and the flags in `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Loaded, ConfigError> {
        let mut env = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if !layers::is_kirim_var(name) {
                continue;
            }
            let value = value.into_string().map_err(|_| ConfigError::new(format!("{name} is not valid UTF-8; set it to plain text")))?;
            env.push((name.to_owned(), value));
        }
        Self::load_from(overrides, &env)
    }

    /// [`Config::load`] with an explicit environment instead of the process's (for tests).
    /// Variables that do not start with `KIRIM_` are ignored.
    pub fn load_from(overrides: &Overrides, env: &[(String, String)]) -> Result<Loaded, ConfigError> {
        let layers = layers::Layers::gather(overrides, env)?;
        let warnings = layers.warnings.clone();
        let (config, unread) = resolve::resolve(layers)?;
        debug_assert!(unread.is_empty(), "keys in defaults.toml that nothing reads: {unread:?}");
        Ok(Loaded { config, warnings })
    }

    /// The embedded, commented defaults file (`kirim config example`).
    pub fn defaults_toml() -> &'static str {
        layers::DEFAULTS
    }

    /// The SQLite database file: `<data_dir>/kirim.db`, or the path in `database.url`
    /// (a relative path there is inside `data_dir`).
    pub fn database_path(&self) -> PathBuf {
        match &self.database.url {
            DatabaseUrl::Sqlite(path) => self.data_dir.join(path),
            DatabaseUrl::Postgres(_) => self.data_dir.join(types::DEFAULT_SQLITE_FILE),
        }
    }
}
