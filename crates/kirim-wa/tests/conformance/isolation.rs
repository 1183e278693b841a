//! Two devices over one session store never see or touch each other's state.

use std::sync::Arc;

use kirim_core::id::DevicePk;
use kirim_core::session::SessionStore;
use kirim_wa::storage::KirimBackend;
use whatsapp_rust::wacore::store::traits::Backend;

use super::restart::{empty_reference, observe, populate, populated_reference};

/// Everything a device can wipe or sweep in one go, with cutoffs that catch every row.
async fn wipe(b: &dyn Backend) {
    b.clear_all_sender_key_devices().await.unwrap();
    b.clear_mutation_macs("regular").await.unwrap();
    b.delete_sender_key_device_rows(&["5511999990000:2@s.whatsapp.net"]).await.unwrap();
    b.delete_expired_tc_tokens(i64::MAX, i64::MAX).await.unwrap();
    b.delete_expired_sent_messages(i64::MAX).await.unwrap();
    b.delete_expired_pending_inbound(i64::MAX).await.unwrap();
    b.delete_expired_msg_secrets(i64::MAX).await.unwrap();
}

pub async fn devices_are_isolated(store: Arc<dyn SessionStore>) {
    let (one, two) = (DevicePk(1), DevicePk(2));
    let first = KirimBackend::new(store.clone(), one);
    let second = KirimBackend::new(store.clone(), two);
    let (full, empty) = (populated_reference().await, empty_reference().await);

    populate(&first).await;
    empty.assert_same(&observe(&second).await, "a device that wrote nothing");

    populate(&second).await;
    wipe(&second).await;
    store.session_clear(two).await.unwrap();
    empty.assert_same(&observe(&second).await, "a cleared device");
    full.assert_same(&observe(&first).await, "the device next to a wiped and cleared one");
}
