//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs on the connection that commits, inside the commit: the
//! single writer would copy pages into the database file and fsync it while every caller
//! waits. Here the writer never checkpoints (`wal_autocheckpoint = 0`); this thread does, with
//! its own connection, in `PASSIVE` mode, which never blocks the writer or the readers.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use anyhow::Context;

/// How often the WAL is copied back into the database.
const EVERY: Duration = Duration::from_millis(250);

/// Stops the checkpointer when dropped (after one last checkpoint).
pub(crate) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub fn spawn(path: &Path, busy_timeout: Duration) -> anyhow::Result<Self> {
        let conn = rusqlite::Connection::open(path).with_context(|| format!("opening {} for checkpoints", path.display()))?;
        conn.busy_timeout(busy_timeout)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("kirim-sqlite-checkpoint".into()).spawn(move || {
            loop {
                let last = matches!(stopped.recv_timeout(EVERY), Ok(()) | Err(RecvTimeoutError::Disconnected));
                // The result names how far it got; a busy or partial checkpoint is simply redone.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "a WAL checkpoint failed");
                }
                if last {
                    break;
                }
            }
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }

    /// Checkpoints once more and waits for the thread to end (its connection is closed then).
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
