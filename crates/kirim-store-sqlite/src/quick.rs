//! Point reads on the caller's own thread. A read through the sqlx pool is handed to one of
//! its connection threads and back, several thread switches per query; for an indexed lookup
//! of a few microseconds that hand-off is most of the cost (the accept path's blacklist check
//! was about half of all of Kirim's context switches). These reads run on a pooled read-only
//! rusqlite connection instead, inline: WAL readers never wait for the writer, so the call
//! blocks its task only for the lookup itself.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use kirim_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};

/// Connections kept for reuse; more may be open at once under load, and are then closed.
const MAX_IDLE: usize = 8;

pub(crate) struct QuickReads {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl QuickReads {
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration) -> Self {
        Self { path, busy_timeout, idle: Mutex::new(Vec::new()) }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(16);
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one) and keeps the connection for the next.
    pub(crate) fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.open().map_err(|e| StoreError::Unavailable(format!("opening a read connection: {e}")))?,
        };
        let result = read(&conn).map_err(|e| StoreError::Unavailable(e.to_string()));
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }
}
