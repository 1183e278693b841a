//! After the claim: outcomes, receipts, cancelling, recovery and inbound messages.

use std::sync::Arc;

use kirim_core::event::types;
use kirim_core::id::MessagePk;
use kirim_core::message::{Direction, Message, MessageStatus, SendOutcome};
use kirim_core::store::{CancelOutcome, InsertOutcome, ReceiptOutcome};
use kirim_core::{MessageId, Recipient};
use serde_json::json;

use crate::Harness;
use crate::fixtures::{at, device, events, inbound, insert, outbound, phone, tenant};

fn sent(id: &str) -> SendOutcome {
    SendOutcome::Sent { network_id: id.into() }
}

pub async fn complete_send_transitions_and_events(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let m1 = insert(&*store, outbound(&d, "one")).await;
    let m2 = insert(&*store, outbound(&d, "two")).await;
    let m3 = insert(&*store, outbound(&d, "three")).await;

    let c1 = store.claim_next(d.pk, at(1)).await.unwrap().unwrap();
    assert_eq!(c1.id, m1.id);
    let done = store.complete_send(c1.pk, sent("net-1"), at(2)).await.unwrap().expect("sent");
    assert_eq!(done.status, MessageStatus::Sent);
    assert_eq!((done.sent_at, done.network_id.as_deref(), done.updated_at), (Some(at(2)), Some("net-1"), at(2)));
    let ev = events(&*store, &a).await.pop().unwrap();
    assert_eq!((ev.event_type.as_str(), ev.created_at), (types::MESSAGE_SENT, at(2)));
    assert_eq!(ev.data["network_id"], json!("net-1"));
    assert_eq!(ev.data["attempts"], json!(1));

    let c2 = store.claim_next(d.pk, at(3)).await.unwrap().unwrap();
    assert_eq!(c2.id, m2.id);
    let retry = SendOutcome::Retry { at: at(60), error: "timeout".into() };
    let back = store.complete_send(c2.pk, retry, at(4)).await.unwrap().expect("retrying");
    assert_eq!(back.status, MessageStatus::Pending);
    assert_eq!((back.next_attempt_at, back.last_error.as_deref(), back.attempts), (Some(at(60)), Some("timeout"), 1));
    let ev = events(&*store, &a).await.pop().unwrap();
    assert_eq!(ev.event_type, types::MESSAGE_RETRYING);
    assert_eq!(ev.data["error"], json!("timeout"));
    assert_eq!(ev.data["status"], json!("pending"));

    let c3 = store.claim_next(d.pk, at(5)).await.unwrap().unwrap();
    assert_eq!(c3.id, m3.id, "the retrying message waits for its time");
    let failed = store.complete_send(c3.pk, SendOutcome::Failed { error: "not on whatsapp".into() }, at(6)).await.unwrap().unwrap();
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!((failed.failed_at, failed.last_error.as_deref()), (Some(at(6)), Some("not on whatsapp")));
    let ev = events(&*store, &a).await.pop().unwrap();
    assert_eq!(ev.event_type, types::MESSAGE_FAILED);
    assert_eq!(ev.data["error"], json!("not on whatsapp"));

    let again = store.claim_next(d.pk, at(60)).await.unwrap().expect("the retry is due");
    assert_eq!((again.id.clone(), again.attempts), (m2.id.clone(), 2));
    let done = store.complete_send(again.pk, sent("net-2"), at(61)).await.unwrap().unwrap();
    assert_eq!(store.get_message(a.pk, &m2.id).await.unwrap(), Some(done));
}

pub async fn complete_send_ignores_messages_not_sending(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let m = insert(&*store, outbound(&d, "one")).await;
    let before = events(&*store, &a).await.len();
    assert_eq!(store.complete_send(m.pk, sent("n"), at(1)).await.unwrap(), None, "pending, not sending");
    let c = store.claim_next(d.pk, at(1)).await.unwrap().unwrap();
    store.complete_send(c.pk, sent("n"), at(2)).await.unwrap().unwrap();
    let after = events(&*store, &a).await.len();
    assert_eq!(after, before + 1);
    for outcome in [sent("other"), SendOutcome::Failed { error: "x".into() }, SendOutcome::Retry { at: at(9), error: "x".into() }] {
        assert_eq!(store.complete_send(c.pk, outcome, at(3)).await.unwrap(), None, "already sent");
    }
    assert_eq!(store.complete_send(MessagePk(i64::MAX), sent("n"), at(3)).await.unwrap(), None);
    assert_eq!(events(&*store, &a).await.len(), after, "no event for a no-op");
    assert_eq!(store.get_message(a.pk, &m.id).await.unwrap().unwrap().network_id.as_deref(), Some("n"));
}

pub async fn receipts_only_move_forward(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let other = device(&*store, &a, "other").await;
    let m = insert(&*store, outbound(&d, "one")).await;
    assert_eq!(
        store.apply_receipt(d.pk, "net-1", MessageStatus::Delivered, at(1)).await.unwrap(),
        ReceiptOutcome::Unknown,
        "no such network id yet"
    );
    let c = store.claim_next(d.pk, at(1)).await.unwrap().unwrap();
    store.complete_send(c.pk, sent("net-1"), at(2)).await.unwrap().unwrap();
    assert_eq!(
        store.apply_receipt(other.pk, "net-1", MessageStatus::Delivered, at(3)).await.unwrap(),
        ReceiptOutcome::Unknown,
        "another device's id"
    );

    let delivered = applied(store.apply_receipt(d.pk, "net-1", MessageStatus::Delivered, at(3)).await.unwrap(), "delivered");
    assert_eq!((delivered.status, delivered.delivered_at), (MessageStatus::Delivered, Some(at(3))));
    assert_eq!(events(&*store, &a).await.pop().unwrap().event_type, types::MESSAGE_DELIVERED);
    let read = applied(store.apply_receipt(d.pk, "net-1", MessageStatus::Read, at(4)).await.unwrap(), "read");
    assert_eq!((read.status, read.read_at, read.delivered_at), (MessageStatus::Read, Some(at(4)), Some(at(3))));
    let count = events(&*store, &a).await.len();
    assert_eq!(
        store.apply_receipt(d.pk, "net-1", MessageStatus::Delivered, at(5)).await.unwrap(),
        ReceiptOutcome::Stale,
        "a late delivered"
    );
    assert_eq!(store.apply_receipt(d.pk, "net-1", MessageStatus::Read, at(5)).await.unwrap(), ReceiptOutcome::Stale, "a repeated read");
    assert_eq!(store.apply_receipt(d.pk, "net-1", MessageStatus::Failed, at(5)).await.unwrap(), ReceiptOutcome::Stale, "not a receipt");
    assert_eq!(events(&*store, &a).await.len(), count, "ignored receipts write no event");
    let stored = store.get_message(a.pk, &m.id).await.unwrap().unwrap();
    assert_eq!(stored, read);
    let played = applied(store.apply_receipt(d.pk, "net-1", MessageStatus::Played, at(6)).await.unwrap(), "played");
    assert_eq!((played.status, played.played_at), (MessageStatus::Played, Some(at(6))));
    assert_eq!(events(&*store, &a).await.pop().unwrap().event_type, types::MESSAGE_PLAYED);

    // A read without a delivered first.
    let m2 = insert(&*store, outbound(&d, "two")).await;
    let c2 = store.claim_next(d.pk, at(7)).await.unwrap().unwrap();
    assert_eq!(c2.id, m2.id);
    store.complete_send(c2.pk, sent("net-2"), at(8)).await.unwrap();
    let read = applied(store.apply_receipt(d.pk, "net-2", MessageStatus::Read, at(9)).await.unwrap(), "read");
    assert_eq!((read.status, read.read_at, read.delivered_at), (MessageStatus::Read, Some(at(9)), None));
    let ev = events(&*store, &a).await.pop().unwrap();
    assert_eq!((ev.event_type.as_str(), ev.data["status"].clone()), (types::MESSAGE_READ, json!("read")));
}

pub async fn cancel_pending_too_late_and_not_found(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d = device(&*store, &a, "a").await;
    let m1 = insert(&*store, outbound(&d, "one")).await;
    let m2 = insert(&*store, outbound(&d, "two")).await;

    assert_eq!(store.cancel_message(b.pk, &m2.id, at(1)).await.unwrap(), CancelOutcome::NotFound, "b cannot cancel a's message");
    assert_eq!(store.cancel_message(a.pk, &MessageId::generate(), at(1)).await.unwrap(), CancelOutcome::NotFound);
    let CancelOutcome::Cancelled(c) = store.cancel_message(a.pk, &m2.id, at(1)).await.unwrap() else { panic!("pending is cancellable") };
    assert_eq!((c.status, c.cancelled_at), (MessageStatus::Cancelled, Some(at(1))));
    let ev = events(&*store, &a).await.pop().unwrap();
    assert_eq!((ev.event_type.as_str(), ev.data["id"].clone()), (types::MESSAGE_CANCELLED, json!(m2.id)));
    let count = events(&*store, &a).await.len();
    assert_eq!(store.cancel_message(a.pk, &m2.id, at(2)).await.unwrap(), CancelOutcome::TooLate(c.clone()), "already cancelled");

    let claimed = store.claim_next(d.pk, at(2)).await.unwrap().unwrap();
    assert_eq!(claimed.id, m1.id, "a cancelled message is never claimed");
    assert_eq!(store.cancel_message(a.pk, &m1.id, at(3)).await.unwrap(), CancelOutcome::TooLate(claimed.clone()), "sending");
    let sent_msg = store.complete_send(claimed.pk, sent("n1"), at(4)).await.unwrap().unwrap();
    assert_eq!(store.cancel_message(a.pk, &m1.id, at(5)).await.unwrap(), CancelOutcome::TooLate(sent_msg), "sent");
    assert_eq!(events(&*store, &a).await.len(), count + 1, "only message.sent was added");
}

pub async fn release_in_flight_requeues(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d1 = device(&*store, &a, "one").await;
    let d2 = device(&*store, &a, "two").await;
    for d in [&d1, &d1, &d2] {
        insert(&*store, outbound(d, "m")).await;
    }
    let x = store.claim_next(d1.pk, at(1)).await.unwrap().unwrap();
    let y = store.claim_next(d1.pk, at(1)).await.unwrap().unwrap();
    let z = store.claim_next(d2.pk, at(1)).await.unwrap().unwrap();
    let before = events(&*store, &a).await.len();
    assert_eq!(store.release_in_flight(Some(d2.pk)).await.unwrap(), 1);
    let z2 = store.get_message(a.pk, &z.id).await.unwrap().unwrap();
    assert_eq!((z2.status, z2.attempts), (MessageStatus::Pending, 1), "attempts are kept");
    assert_eq!(store.get_message(a.pk, &x.id).await.unwrap().unwrap().status, MessageStatus::Sending, "other devices untouched");
    assert_eq!(store.release_in_flight(None).await.unwrap(), 2);
    assert_eq!(store.release_in_flight(None).await.unwrap(), 0);
    assert_eq!(events(&*store, &a).await.len(), before, "releasing writes no event");
    // Released messages are due at once, whatever the clock says, keeping their ids.
    let again = store.claim_next(d1.pk, at(1)).await.unwrap().unwrap();
    assert_eq!((again.id.clone(), again.attempts), (x.id.clone(), 2));
    assert_eq!(store.claim_next(d1.pk, at(1)).await.unwrap().map(|m| m.id), Some(y.id));
    assert_eq!(store.claim_next(d2.pk, at(1)).await.unwrap().map(|m| m.id), Some(z.id));
}

pub async fn inbound_is_stored_once(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d = device(&*store, &a, "a").await;
    let new = inbound(&d, phone(7), None, "net-in-1");
    let InsertOutcome::Inserted(m) = store.insert_inbound(new.clone()).await.unwrap() else { panic!("new inbound") };
    assert_eq!((m.direction, m.status, m.chat.clone()), (Direction::Inbound, MessageStatus::Received, phone(7)));
    assert_eq!((m.network_id.as_deref(), m.created_at, m.device_id.clone()), (Some("net-in-1"), at(5), d.id.clone()));
    assert_eq!(store.get_message(a.pk, &m.id).await.unwrap(), Some(m.clone()));
    assert_eq!(store.get_message(b.pk, &m.id).await.unwrap(), None);
    let ev = events(&*store, &a).await.pop().unwrap();
    assert_eq!(ev.event_type, types::MESSAGE_RECEIVED);
    assert_eq!(ev.data["from"], json!("+60123000007"));
    assert_eq!(ev.data["content"]["text"]["body"], json!("hello from outside"));
    let count = events(&*store, &a).await.len();

    let mut redelivered = inbound(&d, phone(7), None, "net-in-1");
    redelivered.content = kirim_core::message::MessageContent::text("changed");
    assert_eq!(store.insert_inbound(redelivered).await.unwrap(), InsertOutcome::Existing(m.clone()));
    assert_eq!(events(&*store, &a).await.len(), count, "a duplicate writes no second event");

    // Same network id, but another chat or another group member: different messages.
    let group = Recipient::group("120363025246125888").unwrap();
    let g1 = store.insert_inbound(inbound(&d, group.clone(), Some("60111"), "net-in-1")).await.unwrap();
    let g2 = store.insert_inbound(inbound(&d, group.clone(), Some("60222"), "net-in-1")).await.unwrap();
    let g1again = store.insert_inbound(inbound(&d, group, Some("60111"), "net-in-1")).await.unwrap();
    let (InsertOutcome::Inserted(g1), InsertOutcome::Inserted(g2)) = (g1, g2) else { panic!("both are new") };
    assert_eq!(g1.sender.as_deref(), Some("60111"));
    assert_ne!(g1.pk, g2.pk);
    assert_eq!(g1again, InsertOutcome::Existing(g1));
    assert_eq!(events(&*store, &a).await.len(), count + 2);
    let other = store.insert_inbound(inbound(&d, phone(8), None, "net-in-1")).await.unwrap();
    assert!(matches!(other, InsertOutcome::Inserted(_)));
}

fn applied(outcome: ReceiptOutcome, what: &str) -> Message {
    match outcome {
        ReceiptOutcome::Applied(message) => *message,
        other => panic!("expected the {what} receipt to apply, got {other:?}"),
    }
}

pub async fn receipts_wait_for_the_send_and_recover_a_crashed_attempt(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let m = insert(&*store, outbound(&d, "one")).await;
    let c = store.claim_next(d.pk, at(1)).await.unwrap().unwrap();
    assert_eq!(
        store.apply_receipt(d.pk, m.id.as_str(), MessageStatus::Delivered, at(2)).await.unwrap(),
        ReceiptOutcome::InFlight,
        "a receipt that overtakes the send must be applied again after it"
    );
    // The process dies before the outcome is stored; the next start requeues the message.
    assert_eq!(store.release_in_flight(None).await.unwrap(), 1);
    assert_eq!(c.id, m.id);
    let recovered = applied(store.apply_receipt(d.pk, m.id.as_str(), MessageStatus::Delivered, at(3)).await.unwrap(), "delivered");
    assert_eq!(recovered.status, MessageStatus::Delivered);
    assert_eq!((recovered.sent_at, recovered.delivered_at), (Some(at(3)), Some(at(3))));
    assert_eq!(recovered.network_id.as_deref(), Some(m.id.as_str()));
    assert!(store.claim_next(d.pk, at(4)).await.unwrap().is_none(), "a delivered message is not sent again");
    assert_eq!(store.next_due_at(d.pk).await.unwrap(), None);
    let read = applied(store.apply_receipt(d.pk, m.id.as_str(), MessageStatus::Read, at(5)).await.unwrap(), "read");
    assert_eq!(read.status, MessageStatus::Read);
}

pub async fn a_retry_after_the_device_is_deleted_cancels(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let m = insert(&*store, outbound(&d, "one")).await;
    let c = store.claim_next(d.pk, at(1)).await.unwrap().unwrap();
    store.delete_device(a.pk, &d.id, at(2)).await.unwrap().expect("deleted");
    let retry = SendOutcome::Retry { at: at(10), error: "timeout".into() };
    let done = store.complete_send(c.pk, retry, at(3)).await.unwrap().expect("recorded");
    assert_eq!(done.status, MessageStatus::Cancelled);
    assert!(done.last_error.unwrap().contains("device was deleted"));
    let stored = store.get_message(a.pk, &m.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.next_attempt_at), (MessageStatus::Cancelled, None));
    assert_eq!(events(&*store, &a).await.pop().unwrap().event_type, types::MESSAGE_CANCELLED);
}
