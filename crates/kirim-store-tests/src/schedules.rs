//! Scheduled messages: waiting outside the queue, promotion when due, and the changes allowed
//! to a message that has not left (reschedule, cancel, delete).

use std::sync::Arc;

use kirim_core::event::types;
use kirim_core::message::{MessageContent, MessageStatus, Schedule, SendOutcome, UnsentPatch};
use kirim_core::store::CancelOutcome;
use serde_json::json;

use crate::Harness;
use crate::fixtures::{at, device, events, insert, outbound, phone, tenant};

fn scheduled(d: &kirim_core::device::Device, body: &str, due: i64) -> kirim_core::message::NewOutbound {
    let mut m = outbound(d, body);
    m.not_before = at(due);
    m.schedule = Some(Schedule { at: at(due), timezone: Some("Asia/Jakarta".into()) });
    m
}

pub async fn scheduled_messages_wait_outside_the_queue_until_promoted(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let later = insert(&*store, scheduled(&d, "later", 120)).await;
    let soon = insert(&*store, scheduled(&d, "soon", 60)).await;
    assert_eq!(later.status, MessageStatus::Scheduled);
    assert_eq!(later.schedule, Some(Schedule { at: at(120), timezone: Some("Asia/Jakarta".into()) }));
    let stored = store.get_message(a.pk, &soon.id).await.unwrap().unwrap();
    assert_eq!(stored, soon, "read back as returned");
    let ev = events(&*store, &a).await.pop().unwrap();
    assert_eq!(ev.event_type, types::MESSAGE_SCHEDULED);
    assert_eq!(ev.data["scheduled_at"], json!(at(60)));

    assert_eq!(store.claim_next(d.pk, at(500)).await.unwrap(), None, "a scheduled message is not in the queue, even when due");
    assert_eq!(store.next_scheduled_at().await.unwrap(), Some(at(60)));
    assert!(store.promote_due(at(59), 100).await.unwrap().is_empty());
    assert_eq!(store.promote_due(at(60), 100).await.unwrap(), vec![d.pk]);
    let queued = store.get_message(a.pk, &soon.id).await.unwrap().unwrap();
    assert_eq!(queued.status, MessageStatus::Pending);
    assert_eq!(queued.schedule.as_ref().map(|s| s.at), Some(at(60)), "the schedule is remembered");
    assert_eq!(events(&*store, &a).await.pop().unwrap().event_type, types::MESSAGE_QUEUED);
    assert_eq!(store.next_scheduled_at().await.unwrap(), Some(at(120)));

    let claimed = store.claim_next(d.pk, at(61)).await.unwrap().expect("promoted into the queue");
    assert_eq!(claimed.id, soon.id);
    let sent = store.complete_send(claimed.pk, SendOutcome::Sent { network_id: "n1".into() }, at(62)).await.unwrap().unwrap();
    let history: Vec<MessageStatus> = sent.history().into_iter().map(|s| s.status).collect();
    assert_eq!(history, vec![MessageStatus::Scheduled, MessageStatus::Sent]);

    // Promotion takes the earliest first and stops at the limit.
    let d2 = device(&*store, &a, "b").await;
    for due in [300, 200, 250] {
        insert(&*store, scheduled(&d2, "x", due)).await;
    }
    assert_eq!(store.promote_due(at(1000), 2).await.unwrap(), vec![d.pk, d2.pk]);
    assert_eq!(store.get_message(a.pk, &later.id).await.unwrap().unwrap().status, MessageStatus::Pending);
    assert_eq!(store.next_scheduled_at().await.unwrap(), Some(at(250)));
    assert_eq!(store.promote_due(at(1000), 100).await.unwrap(), vec![d2.pk]);
    assert_eq!(store.next_scheduled_at().await.unwrap(), None);
}

pub async fn unsent_messages_can_be_changed_cancelled_and_deleted(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d = device(&*store, &a, "a").await;
    let m = insert(&*store, scheduled(&d, "draft", 600)).await;

    let patch = UnsentPatch {
        schedule: Some(Schedule { at: at(900), timezone: None }),
        content: Some(MessageContent::text("final")),
        chat: Some(phone(2)),
    };
    assert_eq!(store.update_unsent(b.pk, &m.id, patch.clone(), at(1)).await.unwrap(), CancelOutcome::NotFound, "another tenant's");
    let CancelOutcome::Cancelled(changed) = store.update_unsent(a.pk, &m.id, patch, at(1)).await.unwrap() else { panic!("changed") };
    assert_eq!((changed.status, changed.content.body(), changed.chat.clone()), (MessageStatus::Scheduled, Some("final"), phone(2)));
    assert_eq!(changed.schedule, Some(Schedule { at: at(900), timezone: None }));
    assert_eq!(changed.next_attempt_at, Some(at(900)));
    let only_text = UnsentPatch { content: Some(MessageContent::text("again")), ..UnsentPatch::default() };
    let CancelOutcome::Cancelled(kept) = store.update_unsent(a.pk, &m.id, only_text, at(2)).await.unwrap() else { panic!() };
    assert_eq!(kept.schedule, changed.schedule, "fields left out stay as they are");
    assert_eq!(store.next_scheduled_at().await.unwrap(), Some(at(900)));

    // Once queued it is too late to change, but it can still be cancelled.
    store.promote_due(at(900), 10).await.unwrap();
    let late = store.update_unsent(a.pk, &m.id, UnsentPatch::default(), at(901)).await.unwrap();
    assert!(matches!(late, CancelOutcome::TooLate(ref x) if x.status == MessageStatus::Pending));

    let s2 = insert(&*store, scheduled(&d, "cancel me", 700)).await;
    assert!(
        matches!(store.cancel_message(a.pk, &s2.id, at(3)).await.unwrap(), CancelOutcome::Cancelled(ref x) if x.status == MessageStatus::Cancelled)
    );
    assert_eq!(store.promote_due(at(10_000), 10).await.unwrap(), vec![], "a cancelled schedule never leaves");

    // Deleting: a schedule, or a cancelled message never tried; not a message that was tried.
    let s3 = insert(&*store, scheduled(&d, "delete me", 800)).await;
    assert_eq!(store.delete_unsent(b.pk, &s3.id, at(4)).await.unwrap(), CancelOutcome::NotFound);
    assert!(matches!(store.delete_unsent(a.pk, &s3.id, at(4)).await.unwrap(), CancelOutcome::Cancelled(_)));
    assert_eq!(store.get_message(a.pk, &s3.id).await.unwrap(), None);
    assert!(matches!(store.delete_unsent(a.pk, &s2.id, at(5)).await.unwrap(), CancelOutcome::Cancelled(_)), "cancelled, never tried");
    let tried = store.claim_next(d.pk, at(950)).await.unwrap().expect("the promoted one");
    store.complete_send(tried.pk, SendOutcome::Sent { network_id: "n".into() }, at(951)).await.unwrap();
    assert!(matches!(store.delete_unsent(a.pk, &tried.id, at(6)).await.unwrap(), CancelOutcome::TooLate(_)));
    assert!(store.get_message(a.pk, &tried.id).await.unwrap().is_some());
}

pub async fn deleting_a_device_cancels_its_schedules(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let m = insert(&*store, scheduled(&d, "x", 60)).await;
    store.delete_device(a.pk, &d.id, at(1)).await.unwrap().expect("deleted");
    assert_eq!(store.get_message(a.pk, &m.id).await.unwrap().unwrap().status, MessageStatus::Cancelled);
    assert!(store.promote_due(at(100), 10).await.unwrap().is_empty());
}
