//! Devices: CRUD, tokens, tenant isolation, soft delete and link state.

use std::sync::Arc;

use kirim_core::device::{ConnectorKind, DevicePatch, DeviceSettings, DeviceStatus, LinkCode, LinkState};
use kirim_core::event::types;
use kirim_core::id::DevicePk;
use kirim_core::message::MessageStatus;
use kirim_core::{DeviceId, PhoneNumber, Secret};
use serde_json::json;

use crate::Harness;
use crate::fixtures::{at, device, event_types, events, insert, new_device, outbound, t0, tenant};

pub async fn devices_create_get_list_and_isolation(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let (new, token) = new_device(&a, "phone 1");
    let d1 = store.create_device(new.clone()).await.unwrap();
    assert_eq!(d1.id, new.id);
    assert_eq!(d1.tenant_pk, a.pk);
    assert_eq!(d1.name, "phone 1");
    assert_eq!(d1.connector, ConnectorKind::Sandbox);
    assert_eq!(d1.status, DeviceStatus::Disconnected);
    assert_eq!((d1.phone.clone(), d1.qr.clone(), d1.pair_code.clone(), d1.status_detail.clone()), (None, None, None, None));
    assert_eq!(d1.settings, new.settings);
    assert_eq!(d1.connector_config, json!({"region": "test"}));
    assert_eq!(d1.token_hash, token.hash());
    assert_eq!((d1.created_at, d1.updated_at), (t0(), t0()));
    let d2 = device(&*store, &a, "phone 2").await;
    let db = device(&*store, &b, "b's phone").await;

    assert_eq!(store.get_device(a.pk, &d1.id).await.unwrap(), Some(d1.clone()));
    assert_eq!(store.get_device_by_pk(d1.pk).await.unwrap(), Some(d1.clone()));
    assert_eq!(store.get_device(b.pk, &d1.id).await.unwrap(), None, "b cannot see a's device");
    assert_eq!(store.get_device(a.pk, &DeviceId::generate()).await.unwrap(), None);
    assert_eq!(store.get_device_by_pk(DevicePk(i64::MAX)).await.unwrap(), None);

    let (found, owner) = store.find_device_by_token(&token.hash()).await.unwrap().expect("by token");
    assert_eq!((found, owner), (d1.clone(), a.clone()));
    assert!(store.find_device_by_token(&Secret::new("nope").hash()).await.unwrap().is_none());

    assert_eq!(store.list_devices(a.pk).await.unwrap(), vec![d1.clone(), d2.clone()], "oldest first");
    assert_eq!(store.list_devices(b.pk).await.unwrap(), vec![db.clone()]);
    assert_eq!(store.list_all_devices().await.unwrap(), vec![d1.clone(), d2.clone(), db.clone()]);

    let created = events(&*store, &a).await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].event_type, types::DEVICE_CREATED);
    assert_eq!(created[0].device_id.as_ref(), Some(&d1.id));
    assert_eq!(created[0].data["device_id"], json!(d1.id));
    assert_eq!(created[0].data["status"], json!("disconnected"));
    assert_eq!(event_types(&*store, &b).await, vec![types::DEVICE_CREATED]);
}

pub async fn device_update_patches_only_given_fields(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let (new, old_token) = new_device(&a, "before");
    let d = store.create_device(new).await.unwrap();

    let patch = DevicePatch { name: Some("after".into()), ..Default::default() };
    assert_eq!(store.update_device(b.pk, &d.id, patch.clone(), at(1)).await.unwrap(), None, "b cannot patch a's device");
    let renamed = store.update_device(a.pk, &d.id, patch, at(1)).await.unwrap().expect("patched");
    assert_eq!(renamed.name, "after");
    assert_eq!(renamed.settings, d.settings, "absent fields are kept");
    assert_eq!(renamed.connector_config, d.connector_config);
    assert_eq!(renamed.updated_at, at(1));

    let settings = DeviceSettings {
        pacing_ms: 250,
        pacing_jitter_ms: 10,
        max_attempts: 9,
        reject_calls: true,
        call_reply: Some("calls are not answered".into()),
    };
    let new_token = Secret::generate("dt_");
    let patch = DevicePatch {
        settings: Some(settings.clone()),
        connector_config: Some(json!({"token": "x"})),
        token_hash: Some(new_token.hash()),
        ..Default::default()
    };
    let patched = store.update_device(a.pk, &d.id, patch, at(2)).await.unwrap().expect("patched");
    assert_eq!(patched.name, "after");
    assert_eq!(patched.settings, settings);
    assert_eq!(patched.connector_config, json!({"token": "x"}));
    assert_eq!(store.get_device(a.pk, &d.id).await.unwrap(), Some(patched.clone()));
    assert!(store.find_device_by_token(&old_token.hash()).await.unwrap().is_none(), "the old token stops working");
    assert_eq!(store.find_device_by_token(&new_token.hash()).await.unwrap().map(|(d, _)| d), Some(patched));
}

pub async fn device_delete_hides_it_and_cancels_its_queue(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let (new, token) = new_device(&a, "doomed");
    let d = store.create_device(new.clone()).await.unwrap();
    let other = device(&*store, &a, "survivor").await;
    let m1 = insert(&*store, outbound(&d, "one")).await;
    let m2 = insert(&*store, outbound(&d, "two")).await;
    let m3 = insert(&*store, outbound(&d, "three")).await;
    let kept = insert(&*store, outbound(&other, "elsewhere")).await;
    // The oldest goes on the wire; the other two stay pending.
    let claimed = store.claim_next(d.pk, at(1)).await.unwrap().expect("claim");
    assert_eq!(claimed.pk, m1.pk);

    assert_eq!(store.delete_device(b.pk, &d.id, at(2)).await.unwrap(), None, "b cannot delete a's device");
    let gone = store.delete_device(a.pk, &d.id, at(2)).await.unwrap().expect("deleted");
    assert_eq!(gone.id, d.id);
    assert_eq!(gone.name, "doomed");
    assert_eq!(store.delete_device(a.pk, &d.id, at(3)).await.unwrap(), None, "already deleted");

    assert_eq!(store.get_device(a.pk, &d.id).await.unwrap(), None);
    assert_eq!(store.get_device_by_pk(d.pk).await.unwrap(), None);
    assert!(store.find_device_by_token(&token.hash()).await.unwrap().is_none());
    assert_eq!(store.list_devices(a.pk).await.unwrap(), vec![other.clone()]);
    assert_eq!(store.list_all_devices().await.unwrap(), vec![other.clone()]);
    assert!(store.update_device(a.pk, &d.id, DevicePatch::default(), at(3)).await.unwrap().is_none());
    assert!(store.update_link_state(d.pk, LinkState::status(DeviceStatus::Connecting), at(3)).await.unwrap().is_none());

    for pending in [&m2, &m3] {
        let m = store.get_message(a.pk, &pending.id).await.unwrap().expect("messages stay readable");
        assert_eq!(m.status, MessageStatus::Cancelled);
        assert_eq!(m.cancelled_at, Some(at(2)));
    }
    let sending = store.get_message(a.pk, &m1.id).await.unwrap().unwrap();
    assert_eq!(sending.status, MessageStatus::Sending, "a message on the wire is left to finish");
    assert_eq!(store.get_message(a.pk, &kept.id).await.unwrap().unwrap().status, MessageStatus::Pending);
    assert_eq!(store.devices_with_pending().await.unwrap(), vec![other.pk]);

    let log = events(&*store, &a).await;
    let tail: Vec<_> = log.iter().rev().take(3).rev().map(|e| (e.event_type.as_str(), e.data["id"].clone())).collect();
    assert_eq!(
        tail,
        vec![
            (types::MESSAGE_CANCELLED, json!(m2.id)),
            (types::MESSAGE_CANCELLED, json!(m3.id)),
            (types::DEVICE_DELETED, serde_json::Value::Null),
        ],
        "the cancellations, then device.deleted"
    );
    assert_eq!(log.last().unwrap().data["device_id"], json!(d.id));

    // A deleted device's token may be given to a new device.
    let mut again = new_device(&a, "reborn").0;
    again.token_hash = token.hash();
    let reborn = store.create_device(again).await.unwrap();
    assert_eq!(store.find_device_by_token(&token.hash()).await.unwrap().map(|(d, _)| d.pk), Some(reborn.pk));
}

pub async fn link_state_updates_and_status_events(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "phone").await;
    let base = events(&*store, &a).await.len();

    let qr = LinkCode { code: "2@abc".into(), expires_at: at(60) };
    let state = LinkState { status: DeviceStatus::AwaitingScan, detail: None, qr: Some(qr.clone()), pair_code: None, phone: None };
    let got = store.update_link_state(d.pk, state, at(1)).await.unwrap().expect("updated");
    assert_eq!(got.status, DeviceStatus::AwaitingScan);
    assert_eq!(got.qr, Some(qr));
    assert_eq!(got.updated_at, at(1));
    let log = events(&*store, &a).await;
    assert_eq!(log.len(), base + 1);
    let ev = log.last().unwrap();
    assert_eq!(ev.event_type, types::DEVICE_STATUS);
    assert_eq!(ev.data["status"], json!("awaiting_scan"));
    assert_eq!(ev.data["previous"], json!("disconnected"));
    assert_eq!(ev.created_at, at(1));

    // A refreshed QR: same status, new code, no event.
    let qr2 = LinkCode { code: "2@def".into(), expires_at: at(120) };
    let state = LinkState { status: DeviceStatus::AwaitingScan, detail: None, qr: Some(qr2.clone()), pair_code: None, phone: None };
    let got = store.update_link_state(d.pk, state, at(2)).await.unwrap().unwrap();
    assert_eq!(got.qr, Some(qr2));
    assert_eq!(events(&*store, &a).await.len(), base + 1, "no event without a status change");

    let phone = PhoneNumber::parse("+60123456789", None).unwrap();
    let state = LinkState { status: DeviceStatus::Connected, detail: None, qr: None, pair_code: None, phone: Some(phone.clone()) };
    let got = store.update_link_state(d.pk, state, at(3)).await.unwrap().unwrap();
    assert_eq!(got.status, DeviceStatus::Connected);
    assert_eq!(got.qr, None, "a code of None clears it");
    assert_eq!(got.phone, Some(phone.clone()));
    assert_eq!(events(&*store, &a).await.last().unwrap().data["phone"], json!("+60123456789"));

    let state = LinkState::status(DeviceStatus::Banned).with_detail("banned until tomorrow");
    let got = store.update_link_state(d.pk, state, at(4)).await.unwrap().unwrap();
    assert_eq!(got.phone, Some(phone), "a phone of None keeps the stored one");
    assert_eq!(got.status_detail.as_deref(), Some("banned until tomorrow"));
    let pair = LinkCode { code: "ABCD-EFGH".into(), expires_at: at(300) };
    let state = LinkState { status: DeviceStatus::Connecting, detail: None, qr: None, pair_code: Some(pair.clone()), phone: None };
    let got = store.update_link_state(d.pk, state, at(5)).await.unwrap().unwrap();
    assert_eq!(got.pair_code, Some(pair));
    assert_eq!(got.status_detail, None, "detail is replaced as given");
    assert_eq!(store.get_device(a.pk, &d.id).await.unwrap(), Some(got));

    let statuses: Vec<_> = events(&*store, &a).await[base..].iter().map(|e| e.data["status"].clone()).collect();
    assert_eq!(statuses, vec![json!("awaiting_scan"), json!("connected"), json!("banned"), json!("connecting")]);
    assert!(store.update_link_state(DevicePk(i64::MAX), LinkState::status(DeviceStatus::Connecting), at(6)).await.unwrap().is_none());
}
