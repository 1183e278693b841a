//! Connectors' session state: per device, by namespace and key, scanned and deleted by prefix.

use std::sync::Arc;

use kirim_core::id::DevicePk;
use kirim_core::session::SessionWrite;
use kirim_core::store::StoreError;

use crate::Harness;
use crate::fixtures::{device, tenant};

fn put(namespace: &str, key: &str, value: &[u8]) -> SessionWrite {
    SessionWrite::Put { namespace: namespace.into(), key: key.into(), value: value.to_vec() }
}

fn entries(list: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect()
}

pub async fn sessions_put_get_scan_and_delete_by_prefix(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await.pk;
    assert_eq!(store.session_get(d, "identity", "me").await.unwrap(), None);
    store
        .session_write(
            d,
            vec![
                put("mac", "index/2", b"two"),
                put("mac", "index/1", b"one"),
                put("mac", "index0", b"not under index/"),
                put("mac", "indey", b"after"),
                put("mac", "index/\u{10FFFF}", b"last"),
                put("key", "index/1", b"other namespace"),
                put("identity", "me", &[0, 255, 1]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.session_get(d, "identity", "me").await.unwrap(), Some(vec![0, 255, 1]), "bytes come back exactly");
    assert_eq!(
        store.session_scan(d, "mac", "index/").await.unwrap(),
        entries(&[("index/1", b"one"), ("index/2", b"two"), ("index/\u{10FFFF}", b"last")]),
        "a scan returns the prefix's keys in key order, and only them"
    );
    assert_eq!(store.session_scan(d, "mac", "").await.unwrap().len(), 5, "the empty prefix is the whole namespace");

    store
        .session_write(d, vec![put("mac", "index/1", b"ONE"), SessionWrite::Delete { namespace: "mac".into(), key: "index/2".into() }])
        .await
        .unwrap();
    assert_eq!(store.session_get(d, "mac", "index/1").await.unwrap(), Some(b"ONE".to_vec()), "a put overwrites");
    assert_eq!(store.session_get(d, "mac", "index/2").await.unwrap(), None);

    store.session_write(d, vec![SessionWrite::DeletePrefix { namespace: "mac".into(), prefix: "index/".into() }]).await.unwrap();
    assert_eq!(
        store.session_scan(d, "mac", "").await.unwrap(),
        entries(&[("index0", b"not under index/"), ("indey", b"after")]),
        "a prefix delete leaves neighbouring keys"
    );
    assert_eq!(store.session_get(d, "key", "index/1").await.unwrap(), Some(b"other namespace".to_vec()));
    // Writes apply in order within a batch.
    store
        .session_write(d, vec![put("n", "k", b"1"), SessionWrite::Delete { namespace: "n".into(), key: "k".into() }, put("n", "k", b"3")])
        .await
        .unwrap();
    assert_eq!(store.session_get(d, "n", "k").await.unwrap(), Some(b"3".to_vec()));
}

pub async fn sessions_are_per_device_and_cleared_whole(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let (d1, d2) = (device(&*store, &a, "one").await.pk, device(&*store, &a, "two").await.pk);
    store.session_write(d1, vec![put("s", "k", b"d1"), put("t", "k", b"d1")]).await.unwrap();
    store.session_write(d2, vec![put("s", "k", b"d2")]).await.unwrap();
    assert_eq!(store.session_get(d2, "s", "k").await.unwrap(), Some(b"d2".to_vec()));
    assert_eq!(store.session_scan(d2, "t", "").await.unwrap(), Vec::new(), "one device never sees another's state");
    store.session_clear(d1).await.unwrap();
    assert_eq!(store.session_scan(d1, "s", "").await.unwrap(), Vec::new());
    assert_eq!(store.session_scan(d1, "t", "").await.unwrap(), Vec::new());
    assert_eq!(store.session_get(d2, "s", "k").await.unwrap(), Some(b"d2".to_vec()), "clearing one device leaves the others");
    let refused = store.session_write(DevicePk(i64::MAX), vec![put("s", "k", b"x")]).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "state for a device that does not exist is refused: {refused:?}");
}

pub async fn sessions_survive_reopen(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await.pk;
    let big = vec![7u8; 256 * 1024];
    store.session_write(d, vec![put("app-state", "critical_block", &big), put("signal", "session/1", b"s")]).await.unwrap();
    let store = h.reopen(store).await;
    assert_eq!(store.session_get(d, "app-state", "critical_block").await.unwrap(), Some(big));
    assert_eq!(store.session_scan(d, "signal", "session/").await.unwrap(), entries(&[("session/1", b"s")]));
}
