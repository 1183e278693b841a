//! whatsapp-rust's storage [`Backend`] over Kirim's [`SessionStore`]: a linked device's
//! WhatsApp Web state (Signal keys and sessions, app-state sync, LID↔PN mappings, the device
//! identity) lives in the same store as the rest of Kirim, not in a side database per device.
//!
//! Each kind of state has a namespace (`storage/keys.rs` documents each key and value), and keys
//! are laid out so the library's queries are single gets, prefix scans or prefix deletes.
//! What the library treats as one operation is one atomic [`SessionStore::session_write`]
//! batch: a batch method, a sync key with the "latest key" pointer, a LID mapping with its
//! reverse entry, a sent message with its age index.
//!
//! The session store has no conditional writes, so the few read-modify-write operations (token
//! merges, message-secret merges, the take of a sent message) are serialised by locks inside
//! the backend. That makes them atomic as long as one [`KirimBackend`] serves a device at a
//! time, which is how the connector runs: one client per linked device.

mod app_sync;
mod codec;
mod device;
mod keys;
mod messages;
mod protocol;
mod signal;

use std::fmt;
use std::sync::Arc;

use kirim_core::id::DevicePk;
use kirim_core::session::{SessionStore, SessionWrite};
use tokio::sync::Mutex;
use whatsapp_rust::wacore::store::error::{Result, StoreError};

#[cfg(doc)]
use whatsapp_rust::wacore::store::traits::Backend;

/// Every namespace the backend writes (for copying a device's whole state, e.g. in benchmarks).
pub(crate) const NAMESPACES: &[&str] = &[
    keys::ns::IDENTITY,
    keys::ns::SESSION,
    keys::ns::PREKEY,
    keys::ns::SIGNED_PREKEY,
    keys::ns::SENDER_KEY,
    keys::ns::SYNC_KEY,
    keys::ns::SYNC_VERSION,
    keys::ns::MUTATION_MAC,
    keys::ns::SENDER_KEY_DEVICE,
    keys::ns::LID,
    keys::ns::PN,
    keys::ns::BASE_KEY,
    keys::ns::DEVICE_LIST,
    keys::ns::GROUP_METADATA,
    keys::ns::TC_TOKEN,
    keys::ns::SENT,
    keys::ns::SENT_BY_TIME,
    keys::ns::PENDING_INBOUND,
    keys::ns::MSG_SECRET,
    keys::ns::META,
];

/// The library's storage backend for one linked device, kept in Kirim's session store.
pub struct KirimBackend {
    store: Arc<dyn SessionStore>,
    device: DevicePk,
    locks: Locks,
}

/// One lock per family of state that has read-modify-write operations, so that a slow sweep
/// of one family never holds up writes to another.
#[derive(Default)]
struct Locks {
    prekey: Mutex<()>,
    lid: Mutex<()>,
    tc_token: Mutex<()>,
    sent: Mutex<()>,
    pending_inbound: Mutex<()>,
    msg_secret: Mutex<()>,
}

impl KirimBackend {
    /// The backend of `device`. Earlier state of the device in `store` is picked up as is.
    pub fn new(store: Arc<dyn SessionStore>, device: DevicePk) -> Self {
        Self { store, device, locks: Locks::default() }
    }

    pub fn device(&self) -> DevicePk {
        self.device
    }

    async fn get(&self, namespace: &'static str, key: &str) -> Result<Option<Vec<u8>>> {
        self.store.session_get(self.device, namespace, key).await.map_err(|e| failure("read", namespace, e))
    }

    async fn scan(&self, namespace: &'static str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.store.session_scan(self.device, namespace, prefix).await.map_err(|e| failure("scan", namespace, e))
    }

    /// Commits `writes` as one batch; `op` names the library operation in errors.
    async fn write(&self, op: &'static str, writes: Vec<SessionWrite>) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.store.session_write(self.device, writes).await.map_err(|e| failure("write", op, e))
    }

    async fn put_one(&self, namespace: &'static str, key: String, value: Vec<u8>) -> Result<()> {
        self.write(namespace, vec![put(namespace, key, value)]).await
    }

    async fn delete_one(&self, namespace: &'static str, key: String) -> Result<()> {
        self.write(namespace, vec![delete(namespace, key)]).await
    }
}

fn put(namespace: &str, key: String, value: Vec<u8>) -> SessionWrite {
    SessionWrite::Put { namespace: namespace.to_owned(), key, value }
}

fn delete(namespace: &str, key: String) -> SessionWrite {
    SessionWrite::Delete { namespace: namespace.to_owned(), key }
}

fn delete_prefix(namespace: &str, prefix: String) -> SessionWrite {
    SessionWrite::DeletePrefix { namespace: namespace.to_owned(), prefix }
}

/// The session store failed; says which access of which namespace (or operation).
#[derive(Debug)]
struct SessionStoreFailure {
    access: &'static str,
    target: &'static str,
    source: kirim_core::store::StoreError,
}

impl fmt::Display for SessionStoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session store {} of {} failed", self.access, self.target)
    }
}

impl std::error::Error for SessionStoreFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn failure(access: &'static str, target: &'static str, source: kirim_core::store::StoreError) -> StoreError {
    StoreError::Database(Box::new(SessionStoreFailure { access, target, source }))
}

/// A stored value (or key) that does not decode: names where it is, never what it holds.
#[derive(Debug)]
struct BadEntry {
    namespace: &'static str,
    key: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for BadEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undecodable session entry {}/{:?}", self.namespace, self.key)
    }
}

impl std::error::Error for BadEntry {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

fn bad_entry(namespace: &'static str, key: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::Serialization(Box::new(BadEntry { namespace, key: key.to_owned(), source: source.into() }))
}
