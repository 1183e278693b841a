//! `KirimBackend` against the library's reference `InMemoryBackend`: every scenario runs on
//! both and must observe the same; state survives a restart; devices are isolated; bad bytes
//! and store failures are errors. To run another backend through the same scenarios, change
//! [`subject`] (or call the `conformance` functions with it).

mod conformance;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use kirim_core::id::DevicePk;
use kirim_core::session::{MemorySessionStore, SessionStore, SessionWrite};
use kirim_core::store::{StoreError as KirimStoreError, StoreResult};
use kirim_wa::storage::KirimBackend;
use whatsapp_rust::wacore::store::InMemoryBackend;
use whatsapp_rust::wacore::store::error::StoreError;
use whatsapp_rust::wacore::store::traits::{AppSyncStore, Backend, DeviceStore, MsgSecretStore, ProtocolStore, SignalStore};

use conformance::{Log, clock};

/// The backend under test.
fn subject() -> Arc<dyn Backend> {
    Arc::new(KirimBackend::new(Arc::new(MemorySessionStore::new()), DevicePk(7)))
}

/// Kirim's SQLite store with devices 1 to 41 in it (session rows belong to devices, and the
/// scenarios use device numbers in that range).
struct OnSqlite {
    store: Arc<kirim_store_sqlite::SqliteStore>,
    _dir: tempfile::TempDir,
}

impl OnSqlite {
    async fn open() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = kirim_store_sqlite::SqliteStore::open(kirim_store_sqlite::SqliteConfig::new(dir.path().join("kirim.db")))
            .await
            .expect("open the SQLite store");
        let tenant = kirim_store_tests::fixtures::tenant(&store, "wa").await;
        for n in 1..=41 {
            let device = kirim_store_tests::fixtures::device(&store, &tenant, &format!("phone {n}")).await;
            assert_eq!(device.pk, DevicePk(n));
        }
        Self { store: Arc::new(store), _dir: dir }
    }

    fn sessions(&self) -> Arc<dyn SessionStore> {
        self.store.clone()
    }
}

macro_rules! conformance {
    ($($family:ident :: $scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                let _clock = clock().await;
                let mut reference = Log::default();
                conformance::$family::$scenario(Arc::new(InMemoryBackend::new()), &mut reference).await;
                let mut observed = Log::default();
                conformance::$family::$scenario(subject(), &mut observed).await;
                reference.assert_same(&observed, "KirimBackend");
            }
        )*

        /// The same scenarios with the session state in Kirim's SQLite store.
        mod on_sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let _clock = clock().await;
                    let mut reference = Log::default();
                    conformance::$family::$scenario(Arc::new(InMemoryBackend::new()), &mut reference).await;
                    let sqlite = OnSqlite::open().await;
                    let mut observed = Log::default();
                    conformance::$family::$scenario(Arc::new(KirimBackend::new(sqlite.sessions(), DevicePk(7))), &mut observed).await;
                    reference.assert_same(&observed, "KirimBackend on SQLite");
                }
            )*

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn state_survives_a_restart() {
                let _clock = clock().await;
                let sqlite = OnSqlite::open().await;
                conformance::restart::survives_restart(sqlite.sessions()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn devices_do_not_share_state() {
                let _clock = clock().await;
                let sqlite = OnSqlite::open().await;
                conformance::isolation::devices_are_isolated(sqlite.sessions()).await;
            }
        }
    };
}

conformance! {
    signal::identities,
    signal::sessions,
    signal::signal_state_per_user,
    signal::prekeys,
    signal::signed_prekeys,
    signal::sender_keys,
    app_sync::sync_keys,
    app_sync::versions,
    app_sync::mutation_macs,
    protocol::sender_key_devices,
    protocol::lid_mappings,
    protocol::base_keys,
    protocol::device_lists,
    protocol::group_metadata,
    protocol::tc_tokens,
    messages::sent_messages,
    messages::pending_inbound,
    messages::msg_secrets,
    device::device,
}

#[tokio::test]
async fn state_survives_a_restart() {
    let _clock = clock().await;
    conformance::restart::survives_restart(Arc::new(MemorySessionStore::new())).await;
}

#[tokio::test]
async fn devices_do_not_share_state() {
    let _clock = clock().await;
    conformance::isolation::devices_are_isolated(Arc::new(MemorySessionStore::new())).await;
}

/// Where the reference has a bug, the answer the library documents: `InMemoryBackend` drops
/// the reverse entry of a number when any LID leaves it, even if another LID still maps to it.
#[tokio::test]
async fn a_number_keeps_its_other_lid_when_one_lid_moves_away() {
    let _clock = clock().await;
    let b = subject();
    let mapping = |lid: &str, phone: &str, at| whatsapp_rust::wacore::store::traits::LidPnMappingEntry {
        lid: lid.into(),
        phone_number: phone.into(),
        created_at: at,
        updated_at: at,
        learning_source: "usync".into(),
    };
    b.put_lid_mappings(&[mapping("1", "5511", 1), mapping("2", "5511", 2)]).await.unwrap();
    b.put_lid_mapping(&mapping("2", "5522", 3)).await.unwrap();
    assert_eq!(b.get_pn_mapping("5511").await.unwrap().map(|e| e.lid), Some("1".into()));
    assert_eq!(b.get_pn_mapping("5522").await.unwrap().map(|e| e.lid), Some("2".into()));
}

/// Garbage where a value should be: each read that decodes it fails, none panics.
#[tokio::test]
async fn undecodable_values_are_errors() {
    let _clock = clock().await;
    let store = Arc::new(MemorySessionStore::new());
    let device = DevicePk(3);
    let entries = [
        ("identity", "peer"),
        ("prekey", "00000001"),
        ("sync_key", "6b"),
        ("sync_version", "regular"),
        ("lid", "100"),
        ("device_list", "5511"),
        ("tc_token", "peer"),
        ("sent", "chat/M1"),
        ("pending_inbound", "chat/peer/M1"),
        ("msg_secret", "chat/peer/M1"),
        ("meta", "device"),
        ("sender_key_device", "group/peer"),
    ];
    let writes =
        entries.iter().map(|(ns, key)| SessionWrite::Put { namespace: (*ns).into(), key: (*key).into(), value: vec![0xff; 3] }).collect();
    store.session_write(device, writes).await.unwrap();
    store
        .session_write(device, vec![SessionWrite::Put { namespace: "prekey".into(), key: "not-an-id".into(), value: vec![1, 0] }])
        .await
        .unwrap();
    let b = KirimBackend::new(store, device);

    let serialization = |e: StoreError| assert!(matches!(e, StoreError::Serialization(_)), "{e:?}");
    serialization(b.load_identity("peer").await.unwrap_err());
    serialization(b.load_prekey(1).await.unwrap_err());
    serialization(b.get_max_prekey_id().await.unwrap_err());
    serialization(b.get_sync_key(b"k").await.unwrap_err());
    serialization(b.get_version("regular").await.unwrap_err());
    serialization(b.get_lid_mapping("100").await.unwrap_err());
    serialization(b.get_all_lid_mappings().await.unwrap_err());
    serialization(b.get_devices("5511").await.unwrap_err());
    serialization(b.get_tc_token("peer").await.unwrap_err());
    serialization(b.take_sent_message("chat", "M1").await.unwrap_err());
    serialization(b.get_pending_inbound("chat", "peer", "M1").await.unwrap_err());
    serialization(b.delete_expired_pending_inbound(0).await.unwrap_err());
    serialization(b.get_msg_secret("chat", "peer", "M1").await.unwrap_err());
    serialization(b.delete_expired_msg_secrets(0).await.unwrap_err());
    serialization(b.load().await.err().expect("an undecodable device is an error"));
    serialization(b.get_sender_key_devices("group").await.unwrap_err());

    // Writers that merge replace an undecodable row instead of failing forever.
    b.put_msg_secret("chat", "peer", "M1", &[1; 32]).await.unwrap();
    assert_eq!(b.get_msg_secret("chat", "peer", "M1").await.unwrap(), Some(vec![1; 32]));
}

/// A session store that fails on demand.
#[derive(Default)]
struct FlakyStore {
    inner: MemorySessionStore,
    down: AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> StoreResult<()> {
        if self.down.load(Ordering::SeqCst) { Err(KirimStoreError::Unavailable("database is locked".into())) } else { Ok(()) }
    }
}

#[async_trait]
impl SessionStore for FlakyStore {
    async fn session_get(&self, device: DevicePk, namespace: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.check()?;
        self.inner.session_get(device, namespace, key).await
    }
    async fn session_scan(&self, device: DevicePk, namespace: &str, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.check()?;
        self.inner.session_scan(device, namespace, prefix).await
    }
    async fn session_write(&self, device: DevicePk, writes: Vec<SessionWrite>) -> StoreResult<()> {
        self.check()?;
        self.inner.session_write(device, writes).await
    }
    async fn session_clear(&self, device: DevicePk) -> StoreResult<()> {
        self.check()?;
        self.inner.session_clear(device).await
    }
}

/// Store failures surface as the library's database errors, with the cause in the chain
/// (where the library's busy/locked retry detection finds it), and nothing half-written.
#[tokio::test]
async fn store_failures_are_database_errors_with_their_cause() {
    let _clock = clock().await;
    let store = Arc::new(FlakyStore::default());
    let b = KirimBackend::new(store.clone(), DevicePk(5));
    store.down.store(true, Ordering::SeqCst);
    let err = b.put_sessions_batch(&[(Arc::from("a"), "x".into()), (Arc::from("b"), "y".into())]).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(err.is_database_busy_or_locked());
    let mut chain = Vec::new();
    let mut layer: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = layer {
        chain.push(e.to_string());
        layer = e.source();
    }
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert!(chain[1].contains("put_sessions_batch") && chain[2].contains("database is locked"), "{chain:?}");
    assert!(matches!(b.get_session("a").await.unwrap_err(), StoreError::Database(_)));

    store.down.store(false, Ordering::SeqCst);
    assert_eq!(b.get_session("a").await.unwrap(), None);
    assert_eq!(b.get_session("b").await.unwrap(), None);
}

/// Merging writers and the atomic take hold up under concurrent callers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_modify_writes_are_atomic() {
    let _clock = clock().await;
    let b: Arc<dyn Backend> = subject();
    b.store_sent_message("chat", "M1", b"payload").await.unwrap();
    let takes: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn({
                let b = b.clone();
                async move { b.take_sent_message("chat", "M1").await.unwrap() }
            })
        })
        .collect();
    let mut taken = 0;
    for take in takes {
        taken += usize::from(take.await.unwrap().is_some());
    }
    assert_eq!(taken, 1, "exactly one retry receipt gets the message");

    let touches: Vec<_> = (1..=50)
        .map(|ts| {
            tokio::spawn({
                let b = b.clone();
                async move { b.touch_tc_token_sender_timestamp("peer", ts).await.unwrap() }
            })
        })
        .collect();
    let received = tokio::spawn({
        let b = b.clone();
        async move { b.store_received_tc_token("peer", b"token", 7).await.unwrap() }
    });
    for touch in touches {
        touch.await.unwrap();
    }
    received.await.unwrap();
    let token = b.get_tc_token("peer").await.unwrap().unwrap();
    assert_eq!((token.token.as_slice(), token.sender_timestamp), (&b"token"[..], Some(50)));
}
