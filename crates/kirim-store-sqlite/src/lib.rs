//! Kirim's embedded store: one SQLite file in WAL mode.
//!
//! Reads go through a pool of read-only connections. Every write goes through one writer task
//! that owns the only write connection and group-commits: it takes everything queued (up to
//! `max_batch` operations), runs it in one transaction, and answers each caller after the commit,
//! so one fsync covers many writes and "database is locked" cannot happen.
//! Implements all of [`kirim_core::store`].

mod devices;
mod error;
mod events;
mod messages;
mod migrate;
mod outbound;
mod queue;
mod rows;
mod tenants;
mod webhooks;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection};

use crate::writer::Writer;

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every group commit is fsynced before callers hear `Ok`.
    #[default]
    Full,
    /// `synchronous=NORMAL`: in WAL mode a power loss may drop the last commits (never corrupts).
    Normal,
}

#[derive(Debug, Clone)]
pub struct SqliteConfig {
    pub path: PathBuf,
    pub durability: Durability,
    /// Most write operations committed in one transaction.
    pub max_batch: usize,
    /// Size of the read-only connection pool.
    pub read_connections: u32,
}

impl SqliteConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), durability: Durability::Full, max_batch: 512, read_connections: 4 }
    }
}

/// How long a connection waits on another process's lock (e.g. `kirim migrate` running).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite store. Cheap to clone; clones share the writer and the read pool.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    read: SqlitePool,
    writer: Writer,
}

impl SqliteStore {
    /// Opens (or creates) the database, migrates it and starts the writer.
    pub async fn open(config: SqliteConfig) -> anyhow::Result<Self> {
        let mut conn = write_connection(&config).await?;
        migrate::run(&mut conn).await?;
        let read_options = SqliteConnectOptions::new().filename(&config.path).read_only(true).busy_timeout(BUSY_TIMEOUT);
        let read = SqlitePoolOptions::new()
            .max_connections(config.read_connections.max(1))
            .connect_with(read_options)
            .await
            .with_context(|| format!("opening read connections to {}", config.path.display()))?;
        let writer = Writer::spawn(conn, config.max_batch);
        Ok(Self { inner: Arc::new(Inner { read, writer }) })
    }

    /// Applies pending migrations and returns how many were applied (for `kirim migrate`).
    pub async fn migrate_only(config: SqliteConfig) -> anyhow::Result<u32> {
        let mut conn = write_connection(&config).await?;
        let applied = migrate::run(&mut conn).await;
        let _ = sqlx::Connection::close(conn).await;
        applied
    }

    /// Commits or fails every write queued so far, stops the writer and closes the pools.
    /// Later calls on any clone fail with `Unavailable`.
    pub async fn close(&self) {
        self.inner.writer.shutdown().await;
        self.inner.read.close().await;
    }

    pub(crate) fn read(&self) -> &SqlitePool {
        &self.inner.read
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.inner.writer
    }
}

async fn write_connection(config: &SqliteConfig) -> anyhow::Result<SqliteConnection> {
    if let Some(parent) = config.path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let synchronous = match config.durability {
        Durability::Full => SqliteSynchronous::Full,
        Durability::Normal => SqliteSynchronous::Normal,
    };
    SqliteConnectOptions::new()
        .filename(&config.path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        // Statement journals (multi-row inserts) stay in memory instead of temporary files.
        .pragma("temp_store", "MEMORY")
        // 64 MiB of page cache: index pages of a large queue stay hot for the single writer.
        .pragma("cache_size", "-65536")
        .connect()
        .await
        .with_context(|| format!("opening the SQLite database {}", config.path.display()))
}
