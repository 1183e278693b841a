//! App-state sync scenarios: sync keys, collection versions, mutation MACs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;
use whatsapp_rust::wacore::store::traits::{AppStateSyncKey, Backend};

use super::{Log, hash_state};

fn sync_key(seed: u8) -> AppStateSyncKey {
    AppStateSyncKey { key_data: vec![seed; 32], fingerprint: vec![seed, 0, 0xff], timestamp: 1_700_000_000 + i64::from(seed) }
}

fn mac(index: &[u8], value: u8) -> AppStateMutationMAC {
    AppStateMutationMAC { index_mac: index.to_vec(), value_mac: vec![value; 32] }
}

pub async fn sync_keys(b: Arc<dyn Backend>, log: &mut Log) {
    assert!(log.see("missing", b.get_sync_key(b"\x00\x01").await.unwrap()).is_none());
    assert_eq!(log.see("no latest", b.get_latest_sync_key_id().await.unwrap()), None);
    b.set_sync_key(b"\x00\x02", sync_key(2)).await.unwrap();
    b.set_sync_key(b"\x00\x01", sync_key(1)).await.unwrap();
    // The latest is the last stored, not the highest id.
    assert_eq!(log.see("latest", b.get_latest_sync_key_id().await.unwrap()), Some(b"\x00\x01".to_vec()));
    let key = log.see("get", b.get_sync_key(b"\x00\x02").await.unwrap()).unwrap();
    assert_eq!((key.key_data, key.fingerprint, key.timestamp), (vec![2; 32], vec![2, 0, 0xff], 1_700_000_002));
    b.set_sync_key(b"\x00\x02", AppStateSyncKey { fingerprint: vec![], ..sync_key(7) }).await.unwrap();
    log.see("overwrite", b.get_sync_key(b"\x00\x02").await.unwrap());
    assert_eq!(log.see("latest after overwrite", b.get_latest_sync_key_id().await.unwrap()), Some(b"\x00\x02".to_vec()));
    let odd_id = [0xff, 0x00, b'/', b'%'];
    b.set_sync_key(&odd_id, AppStateSyncKey::default()).await.unwrap();
    log.see("any bytes as id", b.get_sync_key(&odd_id).await.unwrap());
    assert_eq!(log.see("latest odd id", b.get_latest_sync_key_id().await.unwrap()), Some(odd_id.to_vec()));
}

pub async fn versions(b: Arc<dyn Backend>, log: &mut Log) {
    let missing = log.see("never synced", hash_state(&b.get_version("regular").await.unwrap()));
    assert_eq!(missing, hash_state(&HashState::default()));
    let mut hash = [0u8; 128];
    hash[0] = 0xff;
    hash[127] = 0x11;
    let index_value_map: HashMap<String, Vec<u8>> = (0..50).map(|i| (format!("index-{i}"), vec![i; 32])).collect();
    let state = HashState { version: 42, hash, index_value_map, mac_mismatch_fatal: true };
    b.set_version("regular", state.clone()).await.unwrap();
    let got = log.see("after set", hash_state(&b.get_version("regular").await.unwrap()));
    assert_eq!(got, hash_state(&state));
    b.set_version("regular", HashState { version: 43, mac_mismatch_fatal: false, ..state }).await.unwrap();
    assert_eq!(log.see("overwrite", hash_state(&b.get_version("regular").await.unwrap())).0, 43);
    log.see("other collection", hash_state(&b.get_version("regular_low").await.unwrap()));
}

pub async fn mutation_macs(b: Arc<dyn Backend>, log: &mut Log) {
    let (i1, i2, i3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    assert_eq!(log.see("missing", b.get_mutation_mac("regular", &i1).await.unwrap()), None);
    b.put_mutation_macs("regular", 1, &[mac(&i1, 10), mac(&i2, 20)]).await.unwrap();
    b.put_mutation_macs("regular", 2, &[mac(&i2, 21)]).await.unwrap();
    // A collection whose name extends another's must not be caught by the other's clear.
    b.put_mutation_macs("regular_low", 1, &[mac(&i1, 30), mac(&i3, 31)]).await.unwrap();
    b.put_mutation_macs("critical", 1, &[]).await.unwrap();
    assert_eq!(log.see("get", b.get_mutation_mac("regular", &i1).await.unwrap()), Some(vec![10; 32]));
    assert_eq!(log.see("later version replaces", b.get_mutation_mac("regular", &i2).await.unwrap()), Some(vec![21; 32]));
    let many = b.get_mutation_macs("regular_low", &[i1, i2, i3]).await.unwrap();
    let many: BTreeMap<_, _> = log.see("batch get", many.into_iter().collect());
    assert_eq!(many.keys().collect::<Vec<_>>(), [&i1, &i3]);

    b.delete_mutation_macs("regular", &[i1.to_vec(), vec![9; 32]]).await.unwrap();
    assert_eq!(log.see("after delete", b.get_mutation_mac("regular", &i1).await.unwrap()), None);
    assert_eq!(log.see("same index elsewhere kept", b.get_mutation_mac("regular_low", &i1).await.unwrap()), Some(vec![30; 32]));

    b.clear_mutation_macs("regular").await.unwrap();
    assert_eq!(log.see("after clear", b.get_mutation_mac("regular", &i2).await.unwrap()), None);
    assert_eq!(log.see("other collection kept", b.get_mutation_mac("regular_low", &i3).await.unwrap()), Some(vec![31; 32]));
    b.put_mutation_macs("regular", 3, &[mac(b"short", 40)]).await.unwrap();
    log.see("after clear, put again", b.get_mutation_mac("regular", b"short").await.unwrap());
}
