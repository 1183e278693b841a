//! The accept path and the claim side of the queue.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use kirim_core::event::types;
use kirim_core::message::MessageStatus;
use kirim_core::store::InsertOutcome;
use serde_json::json;

use crate::Harness;
use crate::fixtures::{at, device, event_types, events, insert, outbound, phone, tenant};

pub async fn outbound_insert_writes_message_and_event(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d = device(&*store, &a, "phone").await;
    let mut first = outbound(&d, "hello");
    first.ref_id = Some("order-1".into());
    first.reply_to = Some("net-0".into());
    first.priority = 7;
    first.not_before = at(30);
    first.created_at = at(1);
    let second = outbound(&d, "again");
    let out = store.insert_outbound(vec![first.clone(), second.clone()]).await.unwrap();
    assert_eq!(out.len(), 2);
    let InsertOutcome::Inserted(m) = &out[0] else { panic!("expected inserted: {out:?}") };
    assert_eq!(m.id, first.id);
    assert_eq!((m.tenant_pk, m.device_pk, &m.device_id), (a.pk, d.pk, &d.id));
    assert_eq!(m.direction, kirim_core::message::Direction::Outbound);
    assert_eq!(m.chat, phone(1));
    assert_eq!(m.content.body(), Some("hello"));
    assert_eq!(m.status, MessageStatus::Pending);
    assert_eq!((m.priority, m.ref_id.as_deref(), m.reply_to.as_deref()), (7, Some("order-1"), Some("net-0")));
    assert_eq!((m.attempts, m.max_attempts), (0, 3));
    assert_eq!(m.next_attempt_at, Some(at(30)), "not_before becomes the first attempt time");
    assert_eq!((m.created_at, m.updated_at), (at(1), at(1)));
    assert_eq!((m.sent_at, m.network_id.clone(), m.last_error.clone()), (None, None, None));
    let InsertOutcome::Inserted(m2) = &out[1] else { panic!("expected inserted") };
    assert!(m2.pk > m.pk, "pks follow insertion order");

    assert_eq!(store.get_message(a.pk, &m.id).await.unwrap().as_ref(), Some(m));
    assert_eq!(store.get_message(b.pk, &m.id).await.unwrap(), None, "b cannot see a's message");

    let log = events(&*store, &a).await;
    let queued: Vec<_> = log.iter().filter(|e| e.event_type == types::MESSAGE_QUEUED).collect();
    assert_eq!(queued.len(), 2, "one message.queued per message");
    assert_eq!(queued[0].data["id"], json!(m.id));
    assert_eq!(queued[0].data["to"], json!("+60123000001"));
    assert_eq!(queued[0].data["status"], json!("pending"));
    assert_eq!(queued[0].data["ref_id"], json!("order-1"));
    assert!(queued[0].data.get("content").is_none(), "outbound events carry no content");
    assert_eq!(queued[0].device_id.as_ref(), Some(&d.id));
    assert_eq!(queued[1].data["id"], json!(m2.id));
    assert!(store.insert_outbound(vec![]).await.unwrap().is_empty());
}

pub async fn outbound_idempotency_returns_existing(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let da = device(&*store, &a, "a").await;
    let db = device(&*store, &b, "b").await;
    let mut first = outbound(&da, "once");
    first.idempotency_key = Some("k-1".into());
    first.request_hash = Some("hash-1".into());
    let original = insert(&*store, first.clone()).await;
    let before = events(&*store, &a).await.len();

    let mut retry = outbound(&da, "a different body");
    retry.idempotency_key = Some("k-1".into());
    retry.request_hash = Some("hash-2".into());
    let out = store.insert_outbound(vec![retry.clone()]).await.unwrap();
    assert_eq!(out, vec![InsertOutcome::Existing(original.clone())], "the stored message, unchanged");
    assert_eq!(store.get_message(a.pk, &retry.id).await.unwrap(), None, "nothing new was written");
    assert_eq!(events(&*store, &a).await.len(), before, "and no event");
    assert_eq!(store.find_by_idempotency_key(a.pk, "k-1").await.unwrap(), Some(original.clone()));
    assert_eq!(store.find_by_idempotency_key(b.pk, "k-1").await.unwrap(), None);

    // Keys are per tenant.
    let mut other = outbound(&db, "b's own");
    other.idempotency_key = Some("k-1".into());
    assert!(matches!(store.insert_outbound(vec![other]).await.unwrap()[..], [InsertOutcome::Inserted(_)]));

    // Within one call: the second with the same key gets the first.
    let mut x = outbound(&da, "x");
    x.idempotency_key = Some("k-2".into());
    let mut y = outbound(&da, "y");
    y.idempotency_key = Some("k-2".into());
    let plain = outbound(&da, "no key");
    let out = store.insert_outbound(vec![x.clone(), y, plain.clone()]).await.unwrap();
    let InsertOutcome::Inserted(xm) = &out[0] else { panic!("first is inserted: {out:?}") };
    assert_eq!(out[1], InsertOutcome::Existing(xm.clone()));
    assert!(matches!(&out[2], InsertOutcome::Inserted(m) if m.id == plain.id));
    let queued = event_types(&*store, &a).await.iter().filter(|t| *t == types::MESSAGE_QUEUED).count();
    assert_eq!(queued, 3, "k-1, k-2 and the keyless one");
}

pub async fn outbound_refuses_a_foreign_or_deleted_device(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let da = device(&*store, &a, "a").await;
    let db = device(&*store, &b, "b").await;
    let mut wrong = outbound(&db, "into b's device");
    wrong.tenant_pk = a.pk;
    assert!(store.insert_outbound(vec![outbound(&da, "fine"), wrong]).await.is_err(), "a's message on b's device");
    assert!(store.list_messages(a.pk, &filter_all()).await.unwrap().is_empty(), "a refused call writes nothing");
    store.delete_device(a.pk, &da.id, at(1)).await.unwrap().expect("deleted");
    assert!(store.insert_outbound(vec![outbound(&da, "too late")]).await.is_err(), "the device is deleted");
    // The refusal of one call does not disturb others.
    insert(&*store, outbound(&db, "still works")).await;
}

fn filter_all() -> kirim_core::store::MessageFilter {
    kirim_core::store::MessageFilter { limit: 500, ..Default::default() }
}

pub async fn what_a_write_returns_is_what_a_read_returns(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    // A clock reading with sub-millisecond digits: the store may round it, but consistently.
    let now = Utc::now();
    let mut m = outbound(&d, "precise");
    m.created_at = now;
    m.not_before = now;
    let inserted = insert(&*store, m).await;
    assert_eq!(store.get_message(a.pk, &inserted.id).await.unwrap(), Some(inserted.clone()));
    assert!((inserted.created_at - now).num_milliseconds().abs() <= 1);
    let claimed = store.claim_next(d.pk, now + chrono::Duration::seconds(1)).await.unwrap().expect("due");
    assert_eq!(store.get_message(a.pk, &claimed.id).await.unwrap(), Some(claimed));
}

pub async fn claim_order_priority_then_age(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let other = device(&*store, &a, "other").await;
    let mut expected = Vec::new();
    let mut batch = Vec::new();
    for (i, priority) in [0, 5, 0, 10, 5, -1].into_iter().enumerate() {
        let mut m = outbound(&d, &format!("m{i}"));
        m.priority = priority;
        batch.push(m);
    }
    for m in store.insert_outbound(batch).await.unwrap() {
        let InsertOutcome::Inserted(m) = m else { panic!("inserted") };
        expected.push(m);
    }
    insert(&*store, outbound(&other, "elsewhere")).await;
    let before = events(&*store, &a).await.len();
    // 10, then the 5s oldest first, then the 0s, then -1.
    let order = [3, 1, 4, 0, 2, 5];
    for i in order {
        let m = store.claim_next(d.pk, at(1)).await.unwrap().expect("a due message");
        assert_eq!(m.id, expected[i].id, "claimed in priority, then age, order");
        assert_eq!(m.status, MessageStatus::Sending);
        assert_eq!(m.attempts, 1);
        assert_eq!(m.next_attempt_at, None);
    }
    assert_eq!(store.claim_next(d.pk, at(1)).await.unwrap(), None, "the device's queue is empty");
    assert_eq!(events(&*store, &a).await.len(), before, "claiming writes no event");
    assert_eq!(
        store.claim_next(other.pk, at(1)).await.unwrap().map(|m| m.content.body().map(str::to_owned)),
        Some(Some("elsewhere".into()))
    );
}

pub async fn claim_respects_not_before(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    assert_eq!(store.next_due_at(d.pk).await.unwrap(), None, "nothing pending");
    let mut later = outbound(&d, "later");
    later.not_before = at(100);
    later.priority = 9;
    let later = insert(&*store, later).await;
    let mut soon = outbound(&d, "soon");
    soon.not_before = at(10);
    let soon = insert(&*store, soon).await;
    assert_eq!(store.next_due_at(d.pk).await.unwrap(), Some(at(10)));
    assert_eq!(store.claim_next(d.pk, at(9)).await.unwrap(), None, "nothing is due yet");
    assert_eq!(store.claim_next(d.pk, at(10)).await.unwrap().map(|m| m.id), Some(soon.id), "due exactly at not_before");
    assert_eq!(store.next_due_at(d.pk).await.unwrap(), Some(at(100)));
    assert_eq!(store.claim_next(d.pk, at(99)).await.unwrap(), None);
    assert_eq!(store.claim_next(d.pk, at(500)).await.unwrap().map(|m| m.id), Some(later.id));
    assert_eq!(store.next_due_at(d.pk).await.unwrap(), None);
}

pub async fn concurrent_claimers_never_double_claim(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let batch: Vec<_> = (0..200).map(|i| outbound(&d, &format!("m{i}"))).collect();
    store.insert_outbound(batch).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let pk = d.pk;
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(m) = store.claim_next(pk, at(1)).await.expect("claim") {
                got.push(m.pk);
            }
            got
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for pk in task.await.expect("claimer task") {
            total += 1;
            assert!(seen.insert(pk), "message {pk:?} was claimed twice");
        }
    }
    assert_eq!(total, 200, "every message was claimed exactly once");
}
