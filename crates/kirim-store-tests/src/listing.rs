//! Listing messages and events, pruning and counting.

use std::collections::HashSet;
use std::sync::Arc;

use kirim_core::MessageId;
use kirim_core::event::types;
use kirim_core::id::DevicePk;
use kirim_core::message::{Direction, MessageStatus, SendOutcome};
use kirim_core::store::{EventFilter, InsertOutcome, MessageFilter};

use crate::Harness;
use crate::fixtures::{at, device, events, inbound, insert, outbound, phone, tenant};

fn all() -> MessageFilter {
    MessageFilter { limit: 500, ..Default::default() }
}

pub async fn list_messages_filters(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d1 = device(&*store, &a, "one").await;
    let d2 = device(&*store, &a, "two").await;
    let db = device(&*store, &b, "b").await;
    let mut ids = Vec::new();
    for i in 0..6i64 {
        let d = if i % 2 == 0 { &d1 } else { &d2 };
        let mut m = outbound(d, &format!("m{i}"));
        m.chat = phone(u32::try_from(i % 3).unwrap());
        m.ref_id = Some(format!("ref-{}", i % 2));
        m.created_at = at(i * 10);
        ids.push(insert(&*store, m).await.id);
    }
    let InsertOutcome::Inserted(inb) = store.insert_inbound(inbound(&d1, phone(0), None, "in-1")).await.unwrap() else { panic!() };
    insert(&*store, outbound(&db, "b's")).await;
    let claimed = store.claim_next(d1.pk, at(100)).await.unwrap().unwrap();
    assert_eq!(claimed.id, ids[0]);

    let list = |f: MessageFilter| {
        let store = store.clone();
        async move { store.list_messages(a.pk, &f).await.unwrap().into_iter().map(|m| m.id).collect::<Vec<MessageId>>() }
    };
    let everything = list(all()).await;
    let mut expected: Vec<_> = ids.clone();
    expected.push(inb.id.clone());
    expected.reverse();
    assert_eq!(everything, expected, "newest first, only the tenant's");

    assert_eq!(list(MessageFilter { status: Some(MessageStatus::Sending), ..all() }).await, vec![ids[0].clone()]);
    assert_eq!(list(MessageFilter { device: Some(d2.pk), ..all() }).await, vec![ids[5].clone(), ids[3].clone(), ids[1].clone()]);
    assert!(list(MessageFilter { device: Some(db.pk), ..all() }).await.is_empty(), "another tenant's device");
    assert_eq!(list(MessageFilter { chat: Some(phone(1)), ..all() }).await, vec![ids[4].clone(), ids[1].clone()]);
    assert_eq!(list(MessageFilter { ref_id: Some("ref-1".into()), ..all() }).await, vec![ids[5].clone(), ids[3].clone(), ids[1].clone()]);
    assert_eq!(list(MessageFilter { direction: Some(Direction::Inbound), ..all() }).await, vec![inb.id.clone()]);
    assert_eq!(list(MessageFilter { direction: Some(Direction::Outbound), ..all() }).await.len(), 6);
    // since is inclusive, until exclusive.
    assert_eq!(list(MessageFilter { since: Some(at(20)), until: Some(at(40)), ..all() }).await, vec![ids[3].clone(), ids[2].clone()]);
    let combined = MessageFilter {
        device: Some(d1.pk),
        chat: Some(phone(0)),
        direction: Some(Direction::Outbound),
        status: Some(MessageStatus::Pending),
        ..all()
    };
    assert!(list(combined).await.is_empty(), "filters are AND-ed: m0 is the only match and it is sending");
    let combined = MessageFilter { device: Some(d1.pk), chat: Some(phone(0)), ..all() };
    assert_eq!(list(combined).await, vec![inb.id.clone(), ids[0].clone()]);
    assert_eq!(list(MessageFilter { limit: 0, ..all() }).await.len(), 1, "a limit is at least 1");
    assert!(store.list_messages(b.pk, &MessageFilter { device: Some(d1.pk), ..all() }).await.unwrap().is_empty());
}

pub async fn list_messages_pages_with_cursor(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d = device(&*store, &a, "a").await;
    let db = device(&*store, &b, "b").await;
    for i in 0..23 {
        insert(&*store, outbound(&d, &format!("m{i}"))).await;
        if i % 5 == 0 {
            insert(&*store, outbound(&db, "noise")).await;
        }
    }
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut before: Option<MessageId> = None;
    let mut pages = 0;
    loop {
        let page = store.list_messages(a.pk, &MessageFilter { before: before.clone(), limit: 5, ..Default::default() }).await.unwrap();
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert!(page.len() <= 5);
        for m in &page {
            assert!(seen.insert(m.pk), "message {} listed twice", m.id);
            assert_eq!(m.tenant_pk, a.pk);
            order.push(m.pk);
        }
        before = page.last().map(|m| m.id.clone());
        assert!(pages <= 10, "pagination does not end");
    }
    assert_eq!(seen.len(), 23, "every message exactly once");
    assert_eq!(pages, 5);
    assert!(order.windows(2).all(|w| w[0] > w[1]), "newest first across pages");
    // Another tenant's message id is no cursor here.
    let theirs = store.list_messages(b.pk, &MessageFilter { limit: 1, ..Default::default() }).await.unwrap();
    let foreign = MessageFilter { before: Some(theirs[0].id.clone()), limit: 500, ..Default::default() };
    assert!(store.list_messages(a.pk, &foreign).await.unwrap().is_empty());
}

pub async fn events_order_cursor_filters_and_isolation(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    assert_eq!(store.last_event_seq().await.unwrap(), 0, "an empty log");
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d1 = device(&*store, &a, "one").await;
    let d2 = device(&*store, &a, "two").await;
    let db = device(&*store, &b, "b").await;
    insert(&*store, outbound(&d1, "x")).await;
    insert(&*store, outbound(&db, "y")).await;
    let m = insert(&*store, outbound(&d2, "z")).await;
    let c = store.claim_next(d2.pk, at(1)).await.unwrap().unwrap();
    assert_eq!(c.id, m.id);
    store.complete_send(c.pk, SendOutcome::Sent { network_id: "n".into() }, at(2)).await.unwrap();

    let log = events(&*store, &a).await;
    let types_: Vec<_> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types_, [types::DEVICE_CREATED, types::DEVICE_CREATED, types::MESSAGE_QUEUED, types::MESSAGE_QUEUED, types::MESSAGE_SENT]);
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq), "in log order");
    assert!(log.iter().all(|e| e.tenant_pk == a.pk), "only a's events");
    assert_eq!(events(&*store, &b).await.len(), 2);
    assert_eq!(store.last_event_seq().await.unwrap(), log.last().unwrap().seq, "a's send was the newest event");

    let after = store.list_events(a.pk, &EventFilter { after: Some(log[1].seq), limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(after, log[2..].to_vec(), "after is exclusive");
    let page = store.list_events(a.pk, &EventFilter { after: Some(log[0].seq), limit: 2, ..Default::default() }).await.unwrap();
    assert_eq!(page, log[1..3].to_vec());
    let queued = EventFilter { event_type: Some(types::MESSAGE_QUEUED.into()), limit: 1000, ..Default::default() };
    assert_eq!(store.list_events(a.pk, &queued).await.unwrap(), vec![log[2].clone(), log[3].clone()]);
    let of_d2 = EventFilter { device: Some(d2.pk), limit: 1000, ..Default::default() };
    assert_eq!(store.list_events(a.pk, &of_d2).await.unwrap(), vec![log[1].clone(), log[3].clone(), log[4].clone()]);
    let both = EventFilter { device: Some(d2.pk), event_type: Some(types::MESSAGE_SENT.into()), limit: 1000, ..Default::default() };
    assert_eq!(store.list_events(a.pk, &both).await.unwrap(), vec![log[4].clone()]);
    let foreign = EventFilter { device: Some(db.pk), limit: 1000, ..Default::default() };
    assert!(store.list_events(a.pk, &foreign).await.unwrap().is_empty(), "b's device, a's scope");
    assert!(
        store
            .list_events(a.pk, &EventFilter { device: Some(DevicePk(i64::MAX)), limit: 10, ..Default::default() })
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_events(a.pk, &EventFilter::default()).await.unwrap().len(), 1, "a limit is at least 1");
    let end =
        store.list_events(a.pk, &EventFilter { after: Some(store.last_event_seq().await.unwrap()), limit: 10, ..Default::default() }).await;
    assert!(end.unwrap().is_empty());
}

pub async fn prune_events_deletes_old_ones(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await; // device.created at t0
    for i in 1..=4 {
        let mut m = outbound(&d, "m");
        m.created_at = at(i * 100);
        insert(&*store, m).await;
    }
    let last = store.last_event_seq().await.unwrap();
    assert_eq!(store.prune_events(at(200)).await.unwrap(), 2, "device.created and the event at 100");
    let left: Vec<_> = events(&*store, &a).await.into_iter().map(|e| e.created_at).collect();
    assert_eq!(left, vec![at(200), at(300), at(400)], "before is exclusive");
    assert_eq!(store.prune_events(at(200)).await.unwrap(), 0);
    assert_eq!(store.last_event_seq().await.unwrap(), last);
    assert_eq!(store.prune_events(at(10_000)).await.unwrap(), 3);
    insert(&*store, outbound(&d, "after pruning")).await;
    let fresh = events(&*store, &a).await;
    assert_eq!(fresh.len(), 1);
    assert!(fresh[0].seq > last, "sequence numbers are never reused");
}

pub async fn queue_depth_counts_pending_and_sending(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d = device(&*store, &a, "a").await;
    let db = device(&*store, &b, "b").await;
    let count = |counts: &[(MessageStatus, u64)], s: MessageStatus| counts.iter().filter(|(st, _)| *st == s).map(|(_, n)| *n).sum::<u64>();
    let empty = store.queue_depth().await.unwrap();
    assert!(MessageStatus::ALL.iter().all(|s| count(&empty, *s) == 0));
    for _ in 0..4 {
        insert(&*store, outbound(&d, "a")).await;
    }
    insert(&*store, outbound(&db, "b")).await;
    store.insert_inbound(inbound(&d, phone(1), None, "in")).await.unwrap();
    let c = store.claim_next(d.pk, at(1)).await.unwrap().unwrap();
    store.complete_send(c.pk, SendOutcome::Failed { error: "no".into() }, at(2)).await.unwrap();
    store.claim_next(d.pk, at(1)).await.unwrap().unwrap();
    let counts = store.queue_depth().await.unwrap();
    assert_eq!(count(&counts, MessageStatus::Pending), 3, "counts span tenants");
    assert_eq!(count(&counts, MessageStatus::Sending), 1);
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 4, "finished and inbound messages are not in the queue");
    let statuses: HashSet<_> = counts.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.len(), counts.len(), "each status once");
}
