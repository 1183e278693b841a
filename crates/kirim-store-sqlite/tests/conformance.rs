//! The shared conformance suite, run against SQLite files in a temporary directory.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kirim_core::store::Store;
use kirim_store_sqlite::{SqliteConfig, SqliteStore};
use kirim_store_tests::Harness;

/// Each `fresh` store gets its own file; `reopen` closes the store and opens its file again.
struct SqliteHarness {
    dir: tempfile::TempDir,
    open: Mutex<Vec<Opened>>,
}

/// A store handed out: as the suite sees it, as SQLite (to close it), and where it lives.
struct Opened {
    shared: Arc<dyn Store>,
    sqlite: SqliteStore,
    path: PathBuf,
}

impl SqliteHarness {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("a temporary directory"), open: Mutex::new(Vec::new()) }
    }

    async fn open(&self, path: PathBuf) -> Arc<dyn Store> {
        let store = SqliteStore::open(SqliteConfig::new(&path)).await.expect("open the SQLite store");
        let shared: Arc<dyn Store> = Arc::new(store.clone());
        self.open.lock().expect("harness lock").push(Opened { shared: shared.clone(), sqlite: store, path });
        shared
    }
}

#[async_trait::async_trait]
impl Harness for SqliteHarness {
    async fn fresh(&self) -> Arc<dyn Store> {
        let n = self.open.lock().expect("harness lock").len();
        self.open(self.dir.path().join(format!("nested/dir/kirim-{n}.db"))).await
    }

    async fn reopen(&self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        let found = {
            let mut open = self.open.lock().expect("harness lock");
            let at = open.iter().position(|o| Arc::ptr_eq(&o.shared, &store)).expect("a store this harness opened");
            open.remove(at)
        };
        drop(store);
        drop(found.shared);
        found.sqlite.close().await;
        self.open(found.path).await
    }
}

kirim_store_tests::conformance!(SqliteHarness::new());
