//! Kirim's embedded store: one SQLite file in WAL mode.
//!
//! Reads go through a pool of read-only connections (sqlx). Every write goes through one writer
//! thread that owns the only write connection (rusqlite) and group-commits: it takes everything queued (up to
//! `max_batch` operations), runs it in one transaction, and answers each caller after the commit,
//! so one fsync covers many writes and "database is locked" cannot happen.
//! Implements all of [`kirim_core::store`].

mod agents;
mod auto_replies;
mod blacklist;
mod checkpoint;
mod contact_groups;
mod contacts;
mod conversations;
mod devices;
mod error;
mod events;
mod jobs;
mod media;
mod messages;
mod migrate;
mod outbound;
mod queue;
mod quick;
mod reminders;
mod reports;
mod rows;
mod sending;
mod sessions;
mod templates;
mod tenants;
mod usage;
mod webhooks;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
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
    /// Point reads on the hot path, inline on the caller's thread.
    quick: quick::QuickReads,
    writer: Writer,
    /// Taken (stopped) by `close`, or dropped with the last clone.
    checkpointer: std::sync::Mutex<Option<checkpoint::Checkpointer>>,
}

impl SqliteStore {
    /// Opens (or creates) the database, migrates it and starts the writer.
    pub async fn open(config: SqliteConfig) -> anyhow::Result<Self> {
        SqliteStore::migrate_only(config.clone()).await?;
        let conn = write_connection(&config)?;
        let read_options = SqliteConnectOptions::new().filename(&config.path).read_only(true).busy_timeout(BUSY_TIMEOUT);
        let read = SqlitePoolOptions::new()
            .max_connections(config.read_connections.max(1))
            .connect_with(read_options)
            .await
            .with_context(|| format!("opening read connections to {}", config.path.display()))?;
        let writer = Writer::spawn(conn, config.max_batch).context("starting the SQLite writer thread")?;
        let checkpointer = checkpoint::Checkpointer::spawn(&config.path, BUSY_TIMEOUT).context("starting the SQLite checkpoint thread")?;
        let quick = quick::QuickReads::new(config.path.clone(), BUSY_TIMEOUT);
        Ok(Self { inner: Arc::new(Inner { read, quick, writer, checkpointer: std::sync::Mutex::new(Some(checkpointer)) }) })
    }

    /// Applies pending migrations and returns how many were applied (for `kirim migrate`).
    pub async fn migrate_only(config: SqliteConfig) -> anyhow::Result<u32> {
        let mut conn = migration_connection(&config).await?;
        let applied = migrate::run(&mut conn).await;
        let _ = sqlx::Connection::close(conn).await;
        applied
    }

    /// Commits or fails every write queued so far, stops the writer and closes the pools.
    /// Later calls on any clone fail with `Unavailable`.
    pub async fn close(&self) {
        self.inner.writer.shutdown().await;
        let checkpointer = self.inner.checkpointer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(checkpointer) = checkpointer {
            // One short checkpoint: joined on a blocking thread, not on the runtime.
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
        self.inner.read.close().await;
    }

    pub(crate) fn read(&self) -> &SqlitePool {
        &self.inner.read
    }

    pub(crate) fn quick(&self) -> &quick::QuickReads {
        &self.inner.quick
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.inner.writer
    }
}

fn create_parent(config: &SqliteConfig) -> anyhow::Result<()> {
    if let Some(parent) = config.path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

/// The connection migrations run on (closed before the writer starts).
async fn migration_connection(config: &SqliteConfig) -> anyhow::Result<SqliteConnection> {
    create_parent(config)?;
    SqliteConnectOptions::new()
        .filename(&config.path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .connect()
        .await
        .with_context(|| format!("opening the SQLite database {}", config.path.display()))
}

/// The writer's connection.
fn write_connection(config: &SqliteConfig) -> anyhow::Result<rusqlite::Connection> {
    let context = || format!("opening the SQLite database {}", config.path.display());
    let conn = rusqlite::Connection::open(&config.path).with_context(context)?;
    conn.busy_timeout(BUSY_TIMEOUT).with_context(context)?;
    let synchronous = match config.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    // WAL was set by the migration connection and persists in the file; asked again, it says so.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).with_context(context)?;
    anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "{} cannot use write-ahead logging (journal mode {mode})", config.path.display());
    // Statement journals (multi-row inserts) stay in memory instead of temporary files, and
    // checkpoints are the checkpoint thread's (see `checkpoint`). The page cache keeps SQLite's
    // default size; the operating system's cache holds the rest of the hot pages.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
         PRAGMA wal_autocheckpoint = 0;"
    ))
    .with_context(context)?;
    // Every statement the writer runs stays prepared (there are a few dozen shapes).
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}
