//! Reminders: the cursor moves with each occurrence in one transaction, exactly once, and
//! survives a reopen; changes and deletes cancel occurrences not yet queued.

use std::sync::Arc;

use chrono::NaiveDateTime;
use kirim_core::device::Device;
use kirim_core::event::types;
use kirim_core::message::{MessageContent, MessageStatus, NewOutbound, Schedule};
use kirim_core::reminder::{Materialise, NewReminder, Recurrence, Reminder, ReminderChange, ReminderEnd, ReminderPlan, ReminderStatus};
use kirim_core::rules_store::ReminderFilter;
use kirim_core::store::Store;
use kirim_core::{MessageId, ReminderId};

use crate::Harness;
use crate::fixtures::{at, device, event_types, phone, t0, tenant};

fn plan(count: Option<u32>) -> ReminderPlan {
    ReminderPlan {
        title: Some("rent".into()),
        to: phone(7),
        content: MessageContent::text("Your rent is due"),
        start: NaiveDateTime::parse_from_str("2025-01-31 09:00:00", "%Y-%m-%d %H:%M:%S").expect("a time"),
        timezone: "Asia/Jakarta".into(),
        recurrence: Recurrence::Monthly,
        end: ReminderEnd { until: None, count },
    }
}

async fn reminder(store: &dyn Store, d: &Device, count: Option<u32>) -> Reminder {
    let plan = plan(count);
    let next_at = plan.due(0).expect("a first occurrence");
    let new =
        NewReminder { id: ReminderId::generate(), tenant_pk: d.tenant_pk, device_pk: d.pk, plan, next_index: 0, next_at, created_at: t0() };
    store.create_reminder(new).await.expect("create reminder")
}

/// The worker's step for the reminder as read.
fn step(r: &Reminder, secs: i64) -> Materialise {
    let due = r.next_at.expect("due");
    let message = NewOutbound {
        id: MessageId::generate(),
        tenant_pk: r.tenant_pk,
        device_pk: r.device_pk,
        chat: r.plan.to.clone(),
        content: r.plan.content.clone(),
        priority: 0,
        ref_id: None,
        idempotency_key: Some(format!("rem:{}:{}", r.id, r.next_index)),
        request_hash: None,
        reply_to: None,
        max_attempts: 3,
        not_before: due,
        schedule: Some(Schedule { at: due, timezone: Some(r.plan.timezone.clone()) }),
        options: Default::default(),
        charge: Default::default(),
        created_at: at(secs),
    };
    Materialise {
        reminder: r.pk,
        index: r.next_index,
        seen_updated_at: r.updated_at,
        due_at: due,
        message: Some(message),
        skipped: None,
        next_at: r.plan.due(r.next_index + 1),
        at: at(secs),
    }
}

pub async fn reminders_create_get_list_and_isolation(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let (a, b) = (tenant(&*store, "a").await, tenant(&*store, "b").await);
    let (da, db) = (device(&*store, &a, "a").await, device(&*store, &b, "b").await);
    let r = reminder(&*store, &da, None).await;
    assert_eq!(r.status, ReminderStatus::Active);
    assert_eq!(r.plan, plan(None));
    assert_eq!((r.next_index, r.sent_count), (0, 0));
    assert_eq!(store.get_reminder(a.pk, &r.id).await.unwrap(), Some(r.clone()), "read back as returned");
    assert_eq!(store.get_reminder(b.pk, &r.id).await.unwrap(), None, "another tenant's reminder does not exist");
    reminder(&*store, &db, None).await;
    let listed = store.list_reminders(a.pk, &ReminderFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(listed, vec![r.clone()]);
    let other_device = device(&*store, &a, "a2").await;
    let filtered = store.list_reminders(a.pk, &ReminderFilter { device: Some(other_device.pk), limit: 10, ..Default::default() }).await;
    assert!(filtered.unwrap().is_empty());
    let foreign = NewReminder {
        id: ReminderId::generate(),
        tenant_pk: a.pk,
        device_pk: db.pk,
        plan: plan(None),
        next_index: 0,
        next_at: at(0),
        created_at: t0(),
    };
    assert!(store.create_reminder(foreign).await.is_err(), "another tenant's device is refused");
}

pub async fn occurrences_are_made_once_and_move_the_cursor(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let r = reminder(&*store, &d, Some(2)).await;
    assert_eq!(store.next_reminder_at().await.unwrap(), r.next_at);
    assert_eq!(store.due_reminders(r.next_at.unwrap(), 10).await.unwrap(), vec![r.clone()]);
    let first = step(&r, 10);
    let (after, message) = store.materialise_occurrence(first.clone()).await.unwrap().expect("made");
    let message = message.expect("a message");
    assert_eq!(message.status, MessageStatus::Scheduled);
    assert_eq!(message.schedule.as_ref().map(|s| s.at), r.next_at);
    assert_eq!((after.next_index, after.sent_count, after.status), (1, 1, ReminderStatus::Active));
    assert_eq!(after.next_at, r.plan.due(1), "28 February: the 31st clamped");
    assert_eq!(store.materialise_occurrence(first).await.unwrap(), None, "the same step again writes nothing");
    assert_eq!(event_types(&*store, &a).await, vec![types::DEVICE_CREATED, types::MESSAGE_SCHEDULED]);

    let skip = Materialise { message: None, skipped: Some("blacklisted".into()), ..step(&after, 20) };
    let (done, none) = store.materialise_occurrence(skip).await.unwrap().expect("recorded");
    assert!(none.is_none());
    assert_eq!((done.next_index, done.sent_count, done.status, done.next_at), (2, 1, ReminderStatus::Finished, None), "count reached");
    assert!(store.due_reminders(at(10_000_000_000), 10).await.unwrap().is_empty(), "a finished reminder is never due");
    assert_eq!(store.next_reminder_at().await.unwrap(), None);

    let occurrences = store.reminder_occurrences(r.pk, 10).await.unwrap();
    assert_eq!(occurrences.len(), 2);
    assert_eq!(
        (occurrences[0].index, occurrences[0].skipped.as_deref(), occurrences[0].message_id.as_ref()),
        (1, Some("blacklisted"), None)
    );
    assert_eq!(
        (occurrences[1].index, occurrences[1].message_id.as_ref(), occurrences[1].status),
        (0, Some(&message.id), Some(MessageStatus::Scheduled))
    );

    // Reopened, the cursor is where it was.
    let store = h.reopen(store).await;
    assert_eq!(store.get_reminder(a.pk, &r.id).await.unwrap(), Some(done));
}

pub async fn reminder_changes_and_deletes_cancel_what_is_scheduled(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let r = reminder(&*store, &d, None).await;
    let (r, message) = store.materialise_occurrence(step(&r, 10)).await.unwrap().expect("made");
    let message = message.expect("a message");
    // A stale step (read before a change) writes nothing.
    let stale = step(&r, 20);
    let change = ReminderChange {
        plan: ReminderPlan { content: MessageContent::text("new text"), ..r.plan.clone() },
        status: ReminderStatus::Paused,
        next_index: 5,
        next_at: r.plan.due(5),
        cancel_scheduled: true,
        at: at(15),
    };
    let changed = store.update_reminder(a.pk, &r.id, change.clone()).await.unwrap().expect("changed");
    assert_eq!((changed.status, changed.next_index, changed.next_at), (ReminderStatus::Paused, 5, r.plan.due(5)));
    assert_eq!(changed.plan.content, MessageContent::text("new text"));
    assert_eq!(
        store.get_message(a.pk, &message.id).await.unwrap().unwrap().status,
        MessageStatus::Cancelled,
        "the scheduled occurrence is cancelled"
    );
    assert_eq!(store.materialise_occurrence(stale).await.unwrap(), None, "a paused reminder makes nothing");
    assert!(store.due_reminders(at(10_000_000_000), 10).await.unwrap().is_empty(), "a paused reminder is never due");
    let other = tenant(&*store, "b").await;
    assert_eq!(store.update_reminder(other.pk, &r.id, change).await.unwrap(), None, "another tenant's reminder");

    let resumed = ReminderChange {
        plan: changed.plan.clone(),
        status: ReminderStatus::Active,
        next_index: 5,
        next_at: changed.next_at,
        cancel_scheduled: false,
        at: at(16),
    };
    let resumed = store.update_reminder(a.pk, &r.id, resumed).await.unwrap().expect("resumed");
    let (_, second) = store.materialise_occurrence(step(&resumed, 20)).await.unwrap().expect("made");
    let second = second.expect("a message");
    assert_eq!(store.delete_reminder(other.pk, &r.id, at(30)).await.unwrap(), None);
    assert!(store.delete_reminder(a.pk, &r.id, at(30)).await.unwrap().is_some());
    assert_eq!(store.get_message(a.pk, &second.id).await.unwrap().unwrap().status, MessageStatus::Cancelled);
    assert_eq!(store.get_reminder(a.pk, &r.id).await.unwrap(), None);
    assert_eq!(store.delete_reminder(a.pk, &r.id, at(31)).await.unwrap(), None);
}
