//! Session state of connectors that keep protocol state of their own (WhatsApp Web's Signal
//! keys, app-state sync keys, its device identity): opaque values in namespaces, per device.
//!
//! The store knows nothing of what the values mean; the connector that owns them does. Keys
//! are ordered byte-wise, so a connector can lay out composite keys (`"{name}/{version}"`) and
//! read or delete a family of them by prefix.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::id::DevicePk;
use crate::store::StoreResult;

/// One change to a device's session state. A batch of them commits atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionWrite {
    Put {
        namespace: String,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        namespace: String,
        key: String,
    },
    /// Deletes every key of the namespace that starts with `prefix` (`""`: the whole namespace).
    DeletePrefix {
        namespace: String,
        prefix: String,
    },
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn session_get(&self, device: DevicePk, namespace: &str, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Every entry of the namespace whose key starts with `prefix`, in key order.
    async fn session_scan(&self, device: DevicePk, namespace: &str, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// Applies the writes in order: all of them or, on error, none.
    async fn session_write(&self, device: DevicePk, writes: Vec<SessionWrite>) -> StoreResult<()>;
    /// Forgets the device's whole session (logout, unlink, delete).
    async fn session_clear(&self, device: DevicePk) -> StoreResult<()>;
}

type Entries = BTreeMap<(i64, String, String), Vec<u8>>;

/// A [`SessionStore`] in memory: the reference for tests, and for running without persistence.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    entries: Mutex<Entries>,
}

impl MemorySessionStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Nothing under the lock can panic halfway through a batch, so a poisoned lock
        // still holds whole batches.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn apply(entries: &mut Entries, device: DevicePk, write: SessionWrite) {
    match write {
        SessionWrite::Put { namespace, key, value } => {
            entries.insert((device.0, namespace, key), value);
        }
        SessionWrite::Delete { namespace, key } => {
            entries.remove(&(device.0, namespace, key));
        }
        SessionWrite::DeletePrefix { namespace, prefix } => {
            entries.retain(|(d, ns, k), _| !(*d == device.0 && *ns == namespace && k.starts_with(&prefix)));
        }
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn session_get(&self, device: DevicePk, namespace: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.lock().get(&(device.0, namespace.to_owned(), key.to_owned())).cloned())
    }

    async fn session_scan(&self, device: DevicePk, namespace: &str, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let entries = self.lock();
        let from = (device.0, namespace.to_owned(), prefix.to_owned());
        Ok(entries
            .range(from..)
            .take_while(|((d, ns, k), _)| *d == device.0 && ns == namespace && k.starts_with(prefix))
            .map(|((_, _, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn session_write(&self, device: DevicePk, writes: Vec<SessionWrite>) -> StoreResult<()> {
        let mut entries = self.lock();
        for write in writes {
            apply(&mut entries, device, write);
        }
        Ok(())
    }

    async fn session_clear(&self, device: DevicePk) -> StoreResult<()> {
        self.lock().retain(|(d, _, _), _| *d != device.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(ns: &str, key: &str, value: &[u8]) -> SessionWrite {
        SessionWrite::Put { namespace: ns.into(), key: key.into(), value: value.to_vec() }
    }

    #[tokio::test]
    async fn scans_by_prefix_within_one_device_and_namespace() {
        let store = MemorySessionStore::new();
        let (a, b) = (DevicePk(1), DevicePk(2));
        store
            .session_write(a, vec![put("mac", "x/1", b"1"), put("mac", "x/2", b"2"), put("mac", "y/1", b"3"), put("key", "x/1", b"4")])
            .await
            .unwrap();
        store.session_write(b, vec![put("mac", "x/3", b"5")]).await.unwrap();
        let found = store.session_scan(a, "mac", "x/").await.unwrap();
        assert_eq!(found, vec![("x/1".to_owned(), b"1".to_vec()), ("x/2".to_owned(), b"2".to_vec())]);
        store.session_write(a, vec![SessionWrite::DeletePrefix { namespace: "mac".into(), prefix: "x/".into() }]).await.unwrap();
        assert_eq!(store.session_scan(a, "mac", "").await.unwrap().len(), 1);
        assert_eq!(store.session_get(a, "key", "x/1").await.unwrap(), Some(b"4".to_vec()));
        store.session_clear(a).await.unwrap();
        assert_eq!(store.session_get(a, "key", "x/1").await.unwrap(), None);
        assert_eq!(store.session_get(b, "mac", "x/3").await.unwrap(), Some(b"5".to_vec()));
    }
}
