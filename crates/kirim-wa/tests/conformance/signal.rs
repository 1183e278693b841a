//! Signal store scenarios: identities, sessions, pre-keys, signed pre-keys, sender keys.

use std::sync::Arc;

use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::wacore::store::traits::Backend;

use super::{Log, sorted};

const ALICE: &str = "5511999990000@s.whatsapp.net";
const ALICE_2: &str = "5511999990000:2@s.whatsapp.net";
const ALICE_LONGER: &str = "55119999900001@s.whatsapp.net";
const BOB_LID: &str = "100000012345678:3@lid";

pub async fn identities(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("missing", b.load_identity(ALICE).await.unwrap()), None);
    b.put_identity(ALICE, [1; 32]).await.unwrap();
    assert_eq!(log.see("after put", b.load_identity(ALICE).await.unwrap()), Some([1; 32]));
    b.put_identity(ALICE, [2; 32]).await.unwrap();
    assert_eq!(log.see("after overwrite", b.load_identity(ALICE).await.unwrap()), Some([2; 32]));

    b.put_identities_batch(&[(Arc::from(ALICE_2), [3; 32]), (Arc::from(BOB_LID), [4; 32]), (Arc::from(ALICE), [5; 32])]).await.unwrap();
    for address in [ALICE, ALICE_2, BOB_LID, ALICE_LONGER] {
        log.see(&format!("after batch: {address}"), b.load_identity(address).await.unwrap());
    }
    assert_eq!(b.load_identity(BOB_LID).await.unwrap(), Some([4; 32]));
    b.put_identities_batch(&[]).await.unwrap();

    b.delete_identity(ALICE_2).await.unwrap();
    b.delete_identity("never-stored@s.whatsapp.net").await.unwrap();
    assert_eq!(log.see("after delete", b.load_identity(ALICE_2).await.unwrap()), None);
    assert_eq!(log.see("others kept", b.load_identity(ALICE).await.unwrap()), Some([5; 32]));
}

pub async fn sessions(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("missing", b.get_session(ALICE).await.unwrap()), None);
    assert!(!log.see("has missing", b.has_session(ALICE).await.unwrap()));
    b.put_session(ALICE, b"record-1").await.unwrap();
    b.put_session(ALICE, b"record-2").await.unwrap();
    assert_eq!(log.see("after overwrite", b.get_session(ALICE).await.unwrap()), Some(Bytes::from_static(b"record-2")));
    assert!(log.see("has", b.has_session(ALICE).await.unwrap()));

    let big = Bytes::from(vec![0xA5; 64 * 1024]);
    b.put_sessions_batch(&[
        (Arc::from(ALICE_2), Bytes::from_static(b"two")),
        (Arc::from(BOB_LID), big.clone()),
        (Arc::from(ALICE), Bytes::new()),
    ])
    .await
    .unwrap();
    assert_eq!(log.see("empty record", b.get_session(ALICE).await.unwrap()), Some(Bytes::new()));
    assert_eq!(b.get_session(BOB_LID).await.unwrap(), Some(big));
    log.see("batch", b.get_session(ALICE_2).await.unwrap());

    b.delete_session(ALICE_2).await.unwrap();
    assert_eq!(log.see("after delete", b.get_session(ALICE_2).await.unwrap()), None);
    assert!(!log.see("has after delete", b.has_session(ALICE_2).await.unwrap()));
}

/// Device 0 is `user@server`, others `user:device@server`; a longer user is someone else.
pub async fn signal_state_per_user(b: Arc<dyn Backend>, log: &mut Log) {
    let user = "5511999990000";
    assert!(!log.see("nothing", b.has_signal_state_for_user(user).await.unwrap()));
    b.put_session(ALICE_LONGER, b"s").await.unwrap();
    assert!(!log.see("only a longer user", b.has_signal_state_for_user(user).await.unwrap()));
    b.put_identity(ALICE_2, [9; 32]).await.unwrap();
    assert!(log.see("identity of device 2", b.has_signal_state_for_user(user).await.unwrap()));
    b.delete_identity(ALICE_2).await.unwrap();
    b.put_session(ALICE, b"s").await.unwrap();
    assert!(log.see("session of device 0", b.has_signal_state_for_user(user).await.unwrap()));
    assert!(log.see("the longer user", b.has_signal_state_for_user("55119999900001").await.unwrap()));
    assert!(!log.see("a shorter user", b.has_signal_state_for_user("551199999").await.unwrap()));
}

pub async fn prekeys(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("max of none", b.get_max_prekey_id().await.unwrap()), 0);
    assert_eq!(log.see("missing", b.load_prekey(1).await.unwrap()), None);
    b.store_prekey(9, b"nine", false).await.unwrap();
    b.store_prekey(10, b"ten", true).await.unwrap();
    // 10 > 9 although "10" < "9": ids must order as numbers.
    assert_eq!(log.see("max", b.get_max_prekey_id().await.unwrap()), 10);
    b.store_prekey(9, b"nine-again", true).await.unwrap();
    assert_eq!(log.see("overwrite", b.load_prekey(9).await.unwrap()), Some(Bytes::from_static(b"nine-again")));

    let generated: Vec<(u32, Bytes)> = (100..110).map(|id| (id, Bytes::from(format!("key-{id}")))).collect();
    b.store_prekeys_batch(&generated, false).await.unwrap();
    b.store_prekeys_batch(&[], true).await.unwrap();
    assert_eq!(log.see("max after batch", b.get_max_prekey_id().await.unwrap()), 109);
    let loaded = log.see("load batch", b.load_prekeys_batch(&[105, 3, 100, 9, 200]).await.unwrap());
    assert_eq!(loaded.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [105, 100, 9]);
    assert_eq!(loaded[0].1, Bytes::from_static(b"key-105"));

    // Marking is an update: a key consumed since the upload is not brought back.
    b.remove_prekey(101).await.unwrap();
    b.mark_prekeys_uploaded(&[100, 101, 102]).await.unwrap();
    assert_eq!(log.see("consumed stays consumed", b.load_prekey(101).await.unwrap()), None);
    assert_eq!(log.see("marked keeps record", b.load_prekey(100).await.unwrap()), Some(Bytes::from_static(b"key-100")));

    b.store_prekey(u32::MAX, b"last", false).await.unwrap();
    assert_eq!(log.see("max id", b.get_max_prekey_id().await.unwrap()), u32::MAX);
    b.remove_prekey(u32::MAX).await.unwrap();
    b.remove_prekey(4242).await.unwrap();
    assert_eq!(log.see("max after remove", b.get_max_prekey_id().await.unwrap()), 109);
}

pub async fn signed_prekeys(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("none", b.load_all_signed_prekeys().await.unwrap()), vec![]);
    assert_eq!(log.see("missing", b.load_signed_prekey(1).await.unwrap()), None);
    for (id, record) in [(2, "two"), (16, "sixteen"), (1, "one"), (2, "two-again")] {
        b.store_signed_prekey(id, record.as_bytes()).await.unwrap();
    }
    assert_eq!(log.see("overwrite", b.load_signed_prekey(2).await.unwrap()), Some(b"two-again".to_vec()));
    let all = log.see("all", sorted(b.load_all_signed_prekeys().await.unwrap()));
    assert_eq!(all.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2, 16]);
    b.remove_signed_prekey(1).await.unwrap();
    assert_eq!(log.see("after remove", b.load_signed_prekey(1).await.unwrap()), None);
    log.see("all after remove", sorted(b.load_all_signed_prekeys().await.unwrap()));
}

pub async fn sender_keys(b: Arc<dyn Backend>, log: &mut Log) {
    let group_alice = "120363021033254949@g.us::5511999990000@s.whatsapp.net:0";
    let group_bob = "120363021033254949@g.us::100000012345678@lid:3";
    assert_eq!(log.see("missing", b.get_sender_key(group_alice).await.unwrap()), None);
    b.put_sender_key(group_alice, b"v1").await.unwrap();
    b.put_sender_key(group_alice, b"v2").await.unwrap();
    assert_eq!(log.see("overwrite", b.get_sender_key(group_alice).await.unwrap()), Some(b"v2".to_vec()));
    b.put_sender_keys_batch(&[(Arc::from(group_bob), Bytes::from_static(b"bob")), (Arc::from(group_alice), Bytes::from_static(b"v3"))])
        .await
        .unwrap();
    assert_eq!(log.see("batch", b.get_sender_key(group_alice).await.unwrap()), Some(b"v3".to_vec()));
    log.see("batch other", b.get_sender_key(group_bob).await.unwrap());
    b.delete_sender_key(group_alice).await.unwrap();
    assert_eq!(log.see("after delete", b.get_sender_key(group_alice).await.unwrap()), None);
    assert_eq!(log.see("other kept", b.get_sender_key(group_bob).await.unwrap()), Some(b"bob".to_vec()));
}
