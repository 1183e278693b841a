//! The benchmark's measurements at a small scale: sessions copied from one linked device all
//! resume and connect, the floor reads every stored session, and memory can be read.

use std::sync::Arc;
use std::time::Duration;

use kirim_core::connector::Connector as _;
use kirim_core::session::SessionStore;
use kirim_core::store::Store;
use kirim_wa::bench;
use kirim_wa::fake::FakeServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copied_sessions_all_resume_and_connect() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = kirim_store_sqlite::SqliteStore::open(kirim_store_sqlite::SqliteConfig::new(dir.path().join("kirim.db"))).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let server = FakeServer::new();
    let devices = bench::linked_devices(store.clone(), &server, 3).await.unwrap();
    assert_eq!(server.linked_devices().len(), 1, "one real pairing");

    let sessions: Arc<dyn SessionStore> = store.clone();
    let (_, bytes) = bench::read_all(&*sessions, &devices).await.unwrap();
    assert!(bytes > 3 * 10_000, "every device has a whole session ({bytes} bytes)");

    let board = bench::Board::new();
    let connector = bench::connector(&server, board.clone(), sessions);
    let took = bench::start_all(&connector, &board, &devices, Duration::from_secs(120)).await.unwrap();
    assert!(took < Duration::from_secs(120));
    assert_eq!(board.connected(&devices.iter().map(|d| d.pk).collect::<Vec<_>>()), 3);
    assert!(bench::rss_bytes().is_some_and(|rss| rss > 1_000_000));
    for device in &devices {
        connector.stop(device.pk).await;
    }
}
