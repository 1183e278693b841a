//! State in every family, written by one backend and observed by another: what a restarted
//! process (a new `KirimBackend` over the same session store) must see.

use std::sync::Arc;

use kirim_core::id::DevicePk;
use kirim_core::session::SessionStore;
use kirim_wa::storage::KirimBackend;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;
use whatsapp_rust::wacore::store::InMemoryBackend;
use whatsapp_rust::wacore::store::traits::{
    AppStateSyncKey, Backend, DeviceInfo, DeviceListRecord, LidPnMappingEntry, MsgSecretEntry, ProtocolStore, TcTokenEntry,
};

use super::device::{persisted, sample};
use super::{Log, hash_state, sorted};

const PEER: &str = "5511999990000:2@s.whatsapp.net";
const GROUP: &str = "120363021033254949@g.us";
const SENDER_KEY: &str = "120363021033254949@g.us::5511999990000@s.whatsapp.net:2";

/// Writes something into every family of state.
pub async fn populate(b: &dyn Backend) {
    b.put_identity(PEER, [1; 32]).await.unwrap();
    b.put_session(PEER, b"session").await.unwrap();
    b.store_prekeys_batch(&[(5, Bytes::from_static(b"pk5")), (6, Bytes::from_static(b"pk6"))], false).await.unwrap();
    b.mark_prekeys_uploaded(&[5]).await.unwrap();
    b.store_signed_prekey(1, b"spk1").await.unwrap();
    b.put_sender_key(SENDER_KEY, b"sender-key").await.unwrap();

    b.set_sync_key(b"key-1", AppStateSyncKey { key_data: vec![7; 32], fingerprint: vec![1], timestamp: 9 }).await.unwrap();
    let mut state = HashState { version: 3, ..HashState::default() };
    state.index_value_map.insert("index".into(), vec![5; 32]);
    b.set_version("regular", state).await.unwrap();
    b.put_mutation_macs("regular", 3, &[AppStateMutationMAC { index_mac: vec![1; 32], value_mac: vec![2; 32] }]).await.unwrap();

    b.set_sender_key_status(GROUP, &[(PEER, true)]).await.unwrap();
    let lid =
        LidPnMappingEntry { lid: "100".into(), phone_number: "5511".into(), created_at: 1, updated_at: 2, learning_source: "usync".into() };
    b.put_lid_mapping(&lid).await.unwrap();
    b.save_base_key(PEER, "M1", b"base").await.unwrap();
    let devices =
        DeviceListRecord { user: "5511".into(), devices: vec![DeviceInfo::new(0, None)], timestamp: 4, phash: None, raw_id: Some(1) };
    b.update_device_list(devices).await.unwrap();
    b.put_group_metadata(GROUP, b"metadata").await.unwrap();
    b.put_tc_token("100@lid", &TcTokenEntry { token: vec![3], token_timestamp: 5, sender_timestamp: Some(6) }).await.unwrap();
    b.store_sent_message(GROUP, "M1", b"sent").await.unwrap();
    b.store_pending_inbound(GROUP, PEER, "M2", b"inbound").await.unwrap();
    let secret =
        MsgSecretEntry { chat: GROUP.into(), sender: PEER.into(), msg_id: "M1".into(), secret: [8; 32], expires_at: 0, message_ts: 10 };
    b.put_msg_secrets(vec![secret]).await.unwrap();

    b.save(sample()).await.unwrap();
}

/// Reads back every family (consuming the sent message, the only read the library has).
pub async fn observe(b: &dyn Backend) -> Log {
    let mut log = Log::default();
    log.see("identity", b.load_identity(PEER).await.unwrap());
    log.see("session", b.get_session(PEER).await.unwrap());
    log.see("signal state", b.has_signal_state_for_user("5511999990000").await.unwrap());
    log.see("prekeys", b.load_prekeys_batch(&[5, 6]).await.unwrap());
    log.see("max prekey", b.get_max_prekey_id().await.unwrap());
    log.see("signed prekeys", b.load_all_signed_prekeys().await.unwrap());
    log.see("sender key", b.get_sender_key(SENDER_KEY).await.unwrap());
    log.see("sync key", b.get_sync_key(b"key-1").await.unwrap());
    log.see("latest sync key", b.get_latest_sync_key_id().await.unwrap());
    log.see("version", hash_state(&b.get_version("regular").await.unwrap()));
    log.see("mutation mac", b.get_mutation_mac("regular", &[1; 32]).await.unwrap());
    log.see("sender key devices", sorted(b.get_sender_key_devices(GROUP).await.unwrap()));
    log.see("lid", b.get_lid_mapping("100").await.unwrap());
    log.see("pn", b.get_pn_mapping("5511").await.unwrap());
    log.see("all lids", b.get_all_lid_mappings().await.unwrap());
    log.see("base key", b.has_same_base_key(PEER, "M1", b"base").await.unwrap());
    log.see("devices", b.get_devices("5511").await.unwrap());
    log.see("group metadata", b.get_group_metadata(GROUP).await.unwrap());
    log.see("tc token", b.get_tc_token("100@lid").await.unwrap());
    log.see("tc jids", b.get_all_tc_token_jids().await.unwrap());
    log.see("pending inbound", b.get_pending_inbound(GROUP, PEER, "M2").await.unwrap());
    log.see("msg secret", b.get_msg_secret_with_ts(GROUP, PEER, "M1").await.unwrap());
    log.see("device exists", b.exists().await.unwrap());
    log.see("device", b.load().await.unwrap().map(|d| persisted(&d)));
    log.see("sent message", b.take_sent_message(GROUP, "M1").await.unwrap());
    log
}

/// What a populated backend shows, per the library's reference backend.
pub async fn populated_reference() -> Log {
    let reference = InMemoryBackend::new();
    populate(&reference).await;
    observe(&reference).await
}

/// What a backend without state shows.
pub async fn empty_reference() -> Log {
    observe(&InMemoryBackend::new()).await
}

/// State written through one backend is all there for a new one over the same store.
pub async fn survives_restart(store: Arc<dyn SessionStore>) {
    let device = DevicePk(41);
    let before = KirimBackend::new(store.clone(), device);
    populate(&before).await;
    drop(before);
    let after = KirimBackend::new(store, device);
    let (want, empty) = (populated_reference().await, empty_reference().await);
    want.assert_all_differ(&empty);
    want.assert_same(&observe(&after).await, "the restarted backend");
    // The sent message was taken by the observation: it is gone for good, here too.
    assert_eq!(after.take_sent_message(GROUP, "M1").await.unwrap(), None);
}
