//! What must survive: a reopen, and heavy concurrent writing.

use std::collections::HashSet;
use std::sync::Arc;

use kirim_core::device::{DeviceStatus, LinkState};
use kirim_core::message::MessageStatus;
use kirim_core::store::{EventFilter, InsertOutcome, MessageFilter, StoreError};
use kirim_core::tenant::NewTenant;

use crate::Harness;
use crate::fixtures::{at, device, events, inbound, insert, new_device, outbound, phone, tenant};

pub async fn persists_across_reopen(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    store.put_setting("k", "v").await.unwrap();
    let d = store.update_link_state(d.pk, LinkState::status(DeviceStatus::Connecting), at(1)).await.unwrap().unwrap();
    let mut keyed = outbound(&d, "kept");
    keyed.idempotency_key = Some("idem".into());
    let m1 = insert(&*store, keyed.clone()).await;
    let m2 = insert(&*store, outbound(&d, "claimed")).await;
    let claimed = store.claim_next(d.pk, at(2)).await.unwrap().unwrap();
    assert_eq!(claimed.id, m1.id);
    let log = events(&*store, &a).await;
    let last = store.last_event_seq().await.unwrap();

    let store = h.reopen(store).await;
    assert_eq!(store.get_tenant(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_device(a.pk, &d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("v"));
    assert_eq!(store.get_message(a.pk, &m1.id).await.unwrap(), Some(claimed.clone()));
    assert_eq!(store.get_message(a.pk, &m2.id).await.unwrap(), Some(m2.clone()));
    assert_eq!(events(&*store, &a).await, log);
    assert_eq!(store.last_event_seq().await.unwrap(), last);
    // The idempotency index survived too.
    let mut again = keyed;
    again.id = kirim_core::MessageId::generate();
    assert_eq!(store.insert_outbound(vec![again]).await.unwrap(), vec![InsertOutcome::Existing(claimed.clone())]);
    // And the store keeps working: a stopped process's in-flight message is recovered.
    assert_eq!(store.release_in_flight(None).await.unwrap(), 1);
    let next = store.claim_next(d.pk, at(3)).await.unwrap().unwrap();
    assert_eq!(next.id, m1.id);
    let fresh = insert(&*store, outbound(&d, "new")).await;
    assert!(fresh.pk > m2.pk);
    assert!(events(&*store, &a).await.last().unwrap().seq > last);
}

pub async fn group_commit_under_concurrency(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let devices = [device(&*store, &a, "one").await, device(&*store, &a, "two").await];
    let before = events(&*store, &a).await.len();
    let mut tasks = Vec::new();
    for task in 0..50 {
        for i in 0..20 {
            let store = store.clone();
            let mut m = outbound(&devices[(task + i) % 2], &format!("t{task} m{i}"));
            if i % 4 == 0 {
                m.idempotency_key = Some(format!("key-{task}-{i}"));
            }
            tasks.push(tokio::spawn(async move { store.insert_outbound(vec![m]).await }));
        }
    }
    let mut ids = HashSet::new();
    for task in tasks {
        let out = task.await.expect("task").expect("every concurrent insert succeeds");
        let [InsertOutcome::Inserted(m)] = &out[..] else { panic!("one insert: {out:?}") };
        assert!(ids.insert(m.id.clone()));
    }
    assert_eq!(ids.len(), 1000);
    let pending = store.queue_depth().await.unwrap().into_iter().find(|(s, _)| *s == MessageStatus::Pending).map(|(_, n)| n);
    assert_eq!(pending, Some(1000));
    let mut listed = HashSet::new();
    let mut cursor = None;
    loop {
        let page = store.list_messages(a.pk, &MessageFilter { before: cursor.clone(), limit: 10_000, ..Default::default() }).await.unwrap();
        assert!(page.len() <= 500, "a page holds at most 500");
        let Some(last) = page.last() else { break };
        cursor = Some(last.id.clone());
        listed.extend(page.into_iter().map(|m| m.id));
    }
    assert_eq!(listed, ids, "every acknowledged message is stored");
    let page = store.list_events(a.pk, &EventFilter { limit: 100_000, ..Default::default() }).await.unwrap();
    assert_eq!(page.len(), 1000, "an event page holds at most 1,000");
    let queued = store
        .list_events(
            a.pk,
            &EventFilter {
                after: Some(page[before - 1].seq),
                event_type: Some("message.queued".into()),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(queued.len(), 1000, "one event per message");
}

pub async fn a_failing_write_fails_alone(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let mut inserts = Vec::new();
    let mut spawn_inserts = |n: usize| {
        for i in 0..n {
            let store = store.clone();
            let m = outbound(&d, &format!("m{i}"));
            inserts.push(tokio::spawn(async move { store.insert_outbound(vec![m]).await }));
        }
    };
    spawn_inserts(40);
    // Concurrent with the inserts: a tenant whose id is taken, a device whose token is taken.
    let dup_tenant = {
        let store = store.clone();
        let again = NewTenant { id: a.id.clone(), name: "impostor".into(), created_at: at(1), daily_token_limit: None };
        tokio::spawn(async move { store.create_tenant(again).await })
    };
    let dup_device = {
        let store = store.clone();
        let mut again = new_device(&a, "same token").0;
        again.token_hash = d.token_hash;
        tokio::spawn(async move { store.create_device(again).await })
    };
    spawn_inserts(40);
    assert!(matches!(dup_tenant.await.expect("task"), Err(StoreError::Conflict(_))), "a duplicate tenant id is a conflict");
    assert!(matches!(dup_device.await.expect("task"), Err(StoreError::Conflict(_))), "a live device's token is a conflict");
    for task in inserts {
        task.await.expect("task").expect("writes next to a failing one succeed");
    }
    assert_eq!(store.get_tenant(&a.id).await.unwrap().map(|t| t.name), Some("a".into()));
    assert_eq!(store.list_devices(a.pk).await.unwrap(), vec![d.clone()]);
    assert_eq!(store.list_messages(a.pk, &MessageFilter { limit: 500, ..Default::default() }).await.unwrap().len(), 80);
    // An inbound message for another tenant's device is refused too.
    let b = tenant(&*store, "b").await;
    let mut foreign = inbound(&d, phone(1), None, "n");
    foreign.tenant_pk = b.pk;
    assert!(store.insert_inbound(foreign).await.is_err());
    assert!(events(&*store, &b).await.is_empty());
}
