//! Send options (secret, source, resend link) and cancelling many messages at once.

use std::sync::Arc;

use kirim_core::MessageId;
use kirim_core::event::types;
use kirim_core::message::{MessageContent, MessageStatus, Schedule, SendOutcome};
use kirim_core::sending::SendOptions;
use kirim_core::store::{CancelOutcome, MessageFilter};
use serde_json::json;

use crate::Harness;
use crate::fixtures::{at, device, event_types, events, insert, outbound, tenant};

fn options(secret: bool, source: Option<&str>) -> SendOptions {
    SendOptions { secret, source: source.map(str::to_owned), resend_of: None }
}

pub async fn send_options_are_stored_and_a_secret_is_erased_once_sent(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let mut secret = outbound(&d, "your code is 1234");
    secret.options = options(true, Some("otp"));
    let secret = insert(&*store, secret).await;
    let mut plain = outbound(&d, "hello");
    plain.options = SendOptions { resend_of: Some(secret.id.clone()), ..options(false, Some("crm")) };
    let plain = insert(&*store, plain).await;
    let mut failing = outbound(&d, "another code");
    failing.options = options(true, None);
    let failing = insert(&*store, failing).await;
    assert_eq!(store.get_message(a.pk, &plain.id).await.unwrap().as_ref(), Some(&plain), "read back as returned");
    assert_eq!(plain.options.resend_of.as_ref(), Some(&secret.id));
    let ev: Vec<_> = events(&*store, &a).await.into_iter().filter(|e| e.event_type == types::MESSAGE_QUEUED).collect();
    assert_eq!((ev[0].data["source"].clone(), ev[1].data["resend_of"].clone()), (json!("otp"), json!(secret.id)));

    let by_source = |source: &str| MessageFilter { source: Some(source.into()), limit: 50, ..MessageFilter::default() };
    let listed: Vec<MessageId> = store.list_messages(a.pk, &by_source("otp")).await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(listed, vec![secret.id.clone()]);
    assert!(store.list_messages(a.pk, &by_source("none")).await.unwrap().is_empty());

    let claimed = store.claim_next(d.pk, at(1)).await.unwrap().expect("the secret is due");
    assert_eq!(claimed.content, MessageContent::text("your code is 1234"), "the lane sends the real content");
    let done = store.complete_send(claimed.pk, SendOutcome::Sent { network_id: "n1".into() }, at(2)).await.unwrap().unwrap();
    assert_eq!((done.content.clone(), done.erased_at), (MessageContent::text("your code is 1234").erased(), Some(at(2))));
    assert_eq!(store.get_message(a.pk, &secret.id).await.unwrap(), Some(done.clone()), "the erasure is stored");
    assert_eq!(done.options, options(true, Some("otp")), "its metadata stays");

    let claimed = store.claim_next(d.pk, at(3)).await.unwrap().unwrap();
    let sent = store.complete_send(claimed.pk, SendOutcome::Sent { network_id: "n2".into() }, at(4)).await.unwrap().unwrap();
    assert_eq!((sent.content, sent.erased_at), (MessageContent::text("hello"), None), "a message that is not secret keeps its content");
    let claimed = store.claim_next(d.pk, at(5)).await.unwrap().unwrap();
    assert_eq!(claimed.id, failing.id);
    let failed = store.complete_send(claimed.pk, SendOutcome::Failed { error: "no".into() }, at(6)).await.unwrap().unwrap();
    assert_eq!((failed.content, failed.erased_at), (MessageContent::text("another code"), None), "a secret that was never sent is kept");
}

pub async fn cancel_by_ids_answers_each_in_order(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let (a, b) = (tenant(&*store, "a").await, tenant(&*store, "b").await);
    let (d1, d2, db) = (device(&*store, &a, "1").await, device(&*store, &a, "2").await, device(&*store, &b, "b").await);
    let gone = insert(&*store, outbound(&d1, "gone")).await;
    let mut later = outbound(&d1, "later");
    later.schedule = Some(Schedule { at: at(600), timezone: None });
    later.not_before = at(600);
    let later = insert(&*store, later).await;
    let queued = insert(&*store, outbound(&d1, "queued")).await;
    let claimed = store.claim_next(d1.pk, at(1)).await.unwrap().unwrap();
    assert_eq!(claimed.id, gone.id);
    store.complete_send(claimed.pk, SendOutcome::Sent { network_id: "n".into() }, at(2)).await.unwrap();
    let other_device = insert(&*store, outbound(&d2, "other device")).await;
    let theirs = insert(&*store, outbound(&db, "theirs")).await;
    let before = event_types(&*store, &a).await.len();

    let ids = vec![gone.id.clone(), later.id.clone(), queued.id.clone(), MessageId::generate(), theirs.id.clone(), later.id.clone()];
    let out = store.cancel_messages(a.pk, None, ids, at(10)).await.unwrap();
    assert_eq!(out.len(), 6);
    assert!(matches!(&out[0], CancelOutcome::TooLate(m) if m.id == gone.id && m.status == MessageStatus::Sent));
    assert!(matches!(&out[1], CancelOutcome::Cancelled(m) if m.id == later.id && m.cancelled_at == Some(at(10))));
    assert!(matches!(&out[2], CancelOutcome::Cancelled(m) if m.id == queued.id && m.status == MessageStatus::Cancelled));
    assert_eq!((&out[3], &out[4]), (&CancelOutcome::NotFound, &CancelOutcome::NotFound), "unknown, and another tenant's");
    assert!(matches!(&out[5], CancelOutcome::TooLate(m) if m.status == MessageStatus::Cancelled), "named twice: cancelled once");
    let types_now = event_types(&*store, &a).await;
    assert_eq!(types_now[before..], [types::MESSAGE_CANCELLED, types::MESSAGE_CANCELLED], "one event per cancelled message");

    let scoped = store.cancel_messages(a.pk, Some(d1.pk), vec![other_device.id.clone()], at(11)).await.unwrap();
    assert_eq!(scoped, vec![CancelOutcome::NotFound], "another device's message, for a device-scoped caller");
    assert_eq!(store.get_message(a.pk, &other_device.id).await.unwrap().unwrap().status, MessageStatus::Pending);
    assert_eq!(store.get_message(b.pk, &theirs.id).await.unwrap().unwrap().status, MessageStatus::Pending);
}

pub async fn cancel_pending_takes_the_scope_and_the_limit(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let (a, b) = (tenant(&*store, "a").await, tenant(&*store, "b").await);
    let (d1, d2, db) = (device(&*store, &a, "1").await, device(&*store, &a, "2").await, device(&*store, &b, "b").await);
    let mut on_d1 = Vec::new();
    for n in 0..3 {
        on_d1.push(insert(&*store, outbound(&d1, &format!("d1 {n}"))).await.id);
    }
    let on_d2 = insert(&*store, outbound(&d2, "d2")).await.id;
    let mut later = outbound(&d1, "later");
    later.schedule = Some(Schedule { at: at(600), timezone: None });
    later.not_before = at(600);
    let later = insert(&*store, later).await.id;
    let theirs = insert(&*store, outbound(&db, "theirs")).await.id;

    let first = store.cancel_pending(a.pk, Some(d1.pk), 2, at(10)).await.unwrap();
    assert_eq!(first.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), on_d1[..2], "oldest first, up to the limit");
    assert!(first.iter().all(|m| m.status == MessageStatus::Cancelled && m.cancelled_at == Some(at(10))));
    let rest = store.cancel_pending(a.pk, None, 100, at(11)).await.unwrap();
    assert_eq!(rest.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![on_d1[2].clone(), on_d2]);
    assert!(store.cancel_pending(a.pk, None, 100, at(12)).await.unwrap().is_empty());
    let cancelled = event_types(&*store, &a).await.iter().filter(|t| *t == types::MESSAGE_CANCELLED).count();
    assert_eq!(cancelled, 4);
    assert_eq!(store.get_message(a.pk, &later).await.unwrap().unwrap().status, MessageStatus::Scheduled, "schedules stay");
    assert_eq!(store.get_message(b.pk, &theirs).await.unwrap().unwrap().status, MessageStatus::Pending, "other tenants' stay");
}
