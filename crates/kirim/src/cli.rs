//! The `kirim` command line: serve, migrate, config, openapi, offline admin commands, and
//! `device link` (through a running gateway).

mod link;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kirim_core::store::TenantStore;
use kirim_core::{Clock, SystemClock};

use crate::config::{Config, Overrides};

#[derive(Debug, Parser)]
#[command(name = "kirim", version, about = "A self-hosted, multi-tenant WhatsApp API gateway")]
pub struct Cli {
    /// A TOML configuration file (see `kirim config example`).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the database, media and sandbox state live (KIRIM_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (API, send workers and connectors).
    Serve {
        /// The address to listen on, e.g. 127.0.0.1:8080 (KIRIM_LISTEN).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Show or check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// Operator tasks performed directly on the database.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Device tasks, through a running gateway's API.
    #[command(subcommand)]
    Device(DeviceCommand),
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Link a device to its phone: shows each QR code in the terminal and waits until it is linked.
    Link {
        /// The device's id (`dev_…`).
        id: String,
        /// Where the gateway listens.
        #[arg(long, env = "KIRIM_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An API key of the device's account.
        #[arg(long, env = "KIRIM_API_KEY", hide_env_values = true)]
        key: String,
        /// How long to wait for the scan, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the documented default configuration file.
    Example,
    /// Load the effective configuration, report problems, and print it with secrets hidden.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    #[command(subcommand)]
    Tenant(TenantCommand),
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print its first API key (shown once).
    Create { name: String },
    /// List tenants.
    List,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key for a tenant (shown once).
    Create {
        /// The tenant's id (ten_…).
        tenant: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke an API key by its id (key_…).
    Revoke { key: String },
}

fn load(cli: &Cli, listen: Option<String>) -> anyhow::Result<Config> {
    let overrides = Overrides { config_file: cli.config.clone(), listen, data_dir: cli.data_dir.clone() };
    let loaded = Config::load(&overrides).map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::telemetry::init(&loaded.config);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.config)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve { listen } => {
            let config = load(&cli, listen.clone())?;
            crate::app::serve(config).await
        }
        Command::Migrate => {
            let config = load(&cli, None)?;
            let store = crate::app::open_store(&config).await?;
            store.close().await;
            println!("the database at {} is up to date", config.database_path().display());
            Ok(())
        }
        Command::Config(ConfigCommand::Example) => {
            print!("{}", Config::defaults_toml());
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            let config = load(&cli, None)?;
            println!("the configuration is valid:\n{config:#?}");
            Ok(())
        }
        Command::Openapi => {
            let doc = <crate::http::openapi::ApiDoc as utoipa::OpenApi>::openapi();
            println!("{}", doc.to_pretty_json().context("rendering the OpenAPI document")?);
            Ok(())
        }
        Command::Device(DeviceCommand::Link { id, url, key, timeout }) => {
            link::link(link::LinkArgs { url, key, device: id, timeout: std::time::Duration::from_secs(*timeout) }).await
        }
        Command::Admin(admin) => {
            // Only the store: an operator may run these beside a live server, which owns the
            // queue and the connectors (and prints the admin token on its own first start).
            let config = load(&cli, None)?;
            std::fs::create_dir_all(&config.data_dir).context("creating the data folder")?;
            let store = crate::app::open_store(&config).await?;
            let result = admin_command(&store, admin, config.usage.default_daily_tokens).await;
            store.close().await;
            result
        }
    }
}

async fn admin_command(store: &kirim_store_sqlite::SqliteStore, command: &AdminCommand, daily_tokens: Option<u64>) -> anyhow::Result<()> {
    let clock = SystemClock;
    let api = |e: crate::http::error::ApiError| anyhow::anyhow!("{}", e.detail.message);
    match command {
        AdminCommand::Tenant(TenantCommand::Create { name }) => {
            let (tenant, key, secret) = crate::services::tenants::create(store, &clock, name, daily_tokens).await.map_err(api)?;
            println!("tenant  {}  {}\napi key {}  (id {}; shown only now)", tenant.id, tenant.name, secret.expose(), key.id);
        }
        AdminCommand::Tenant(TenantCommand::List) => {
            let mut after = None;
            loop {
                let page = store.list_tenants(after.as_ref(), 500).await?;
                for t in &page {
                    println!("{}  {}  {}", t.id, t.created_at.to_rfc3339(), t.name);
                }
                match page.last() {
                    Some(last) if page.len() == 500 => after = Some(last.id.clone()),
                    _ => break,
                }
            }
        }
        AdminCommand::Key(KeyCommand::Create { tenant, name }) => {
            let id = tenant.parse().map_err(|e| anyhow::anyhow!("`{tenant}`: {e}"))?;
            let tenant = store.get_tenant(&id).await?.with_context(|| format!("no tenant {id}"))?;
            let (key, secret) = crate::services::tenants::create_key(store, &clock, &tenant, name).await.map_err(api)?;
            println!("api key {}  (id {}; shown only now)", secret.expose(), key.id);
        }
        AdminCommand::Key(KeyCommand::Revoke { key }) => {
            let id = key.parse().map_err(|e| anyhow::anyhow!("`{key}`: {e}"))?;
            if !store.revoke_api_key(None, &id, clock.now()).await? {
                anyhow::bail!("no live key {id}");
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}
