//! SQLite-specific behaviour: opening, migrating, closing and draining the writer.

use std::sync::Arc;

use kirim_core::store::{MessageFilter, MessageStore, Store, StoreError, TenantStore};
use kirim_store_sqlite::{Durability, SqliteConfig, SqliteStore};
use kirim_store_tests::fixtures::{device, outbound, tenant};

#[tokio::test]
async fn migrate_only_applies_each_migration_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SqliteConfig::new(dir.path().join("a/b/kirim.db"));
    let applied = SqliteStore::migrate_only(config.clone()).await.expect("first migration");
    assert!(applied >= 1);
    assert_eq!(SqliteStore::migrate_only(config.clone()).await.expect("second"), 0);
    let store = SqliteStore::open(config.clone()).await.expect("open a migrated database");
    store.put_setting("k", "v").await.expect("write");
    store.close().await;
    assert_eq!(SqliteStore::migrate_only(config).await.expect("third"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_commits_or_fails_every_queued_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = SqliteConfig::new(dir.path().join("kirim.db"));
    config.durability = Durability::Normal;
    config.max_batch = 16;
    let sqlite = SqliteStore::open(config.clone()).await.expect("open");
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let mut tasks = Vec::new();
    for i in 0..300 {
        let store = store.clone();
        let m = outbound(&d, &format!("m{i}"));
        tasks.push(tokio::spawn(async move { store.insert_outbound(vec![m]).await }));
    }
    tokio::task::yield_now().await;
    sqlite.close().await;
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(matches!(store.put_setting("k", "v").await, Err(StoreError::Unavailable(_))), "writes after close fail");
    assert!(matches!(store.get_setting("k").await, Err(StoreError::Unavailable(_))), "reads after close fail");
    sqlite.close().await; // closing twice is harmless

    let reopened = SqliteStore::open(config).await.expect("reopen");
    let stored = reopened.list_messages(a.pk, &MessageFilter { limit: 500, ..Default::default() }).await.expect("list");
    assert_eq!(stored.len(), ok, "every acknowledged write is stored, and nothing else");
    reopened.close().await;
}

#[tokio::test]
async fn a_dropped_store_releases_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SqliteConfig::new(dir.path().join("kirim.db"));
    let store = SqliteStore::open(config.clone()).await.expect("open");
    store.put_setting("k", "v").await.expect("write");
    drop(store);
    let again = SqliteStore::open(config).await.expect("open again");
    assert_eq!(again.get_setting("k").await.expect("read").as_deref(), Some("v"));
    again.close().await;
}

#[tokio::test]
async fn a_bad_path_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a directory").expect("write");
    assert!(SqliteStore::open(SqliteConfig::new(file.join("kirim.db"))).await.is_err());
    std::fs::write(dir.path().join("garbage.db"), vec![7u8; 8192]).expect("write");
    assert!(SqliteStore::open(SqliteConfig::new(dir.path().join("garbage.db"))).await.is_err());
}
