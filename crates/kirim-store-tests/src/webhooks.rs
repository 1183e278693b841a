//! Webhook endpoints, fan-out of events into deliveries, leases, attempts and disabling.

use std::sync::Arc;

use kirim_core::event::types;
use kirim_core::store::{DeliveryFilter, Store};
use kirim_core::tenant::Tenant;
use kirim_core::webhook::{
    Attempt, AttemptResult, DeliveryJob, DeliveryOutcome, DeliveryStatus, NewWebhook, Streak, Webhook, WebhookFormat, WebhookPatch,
    own_types,
};
use kirim_core::{DeviceId, Secret, Timestamp, WebhookId};

use crate::Harness;
use crate::fixtures::{at, device, event_types, insert, outbound, tenant};

fn new_hook(tenant: &Tenant, url: &str) -> NewWebhook {
    NewWebhook {
        id: WebhookId::generate(),
        tenant_pk: tenant.pk,
        url: url.into(),
        description: Some("orders".into()),
        event_types: None,
        devices: None,
        secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        auto_reply: false,
        format: WebhookFormat::Standard,
        created_at: at(0),
    }
}

async fn hook(store: &dyn Store, tenant: &Tenant, f: impl FnOnce(&mut NewWebhook)) -> Webhook {
    let mut new = new_hook(tenant, "https://example.com/hook");
    f(&mut new);
    store.create_webhook(new).await.expect("create webhook")
}

fn attempt(n: u32, at: Timestamp, status: Option<u16>) -> Attempt {
    Attempt { attempt: n, at, status_code: status, duration_ms: 12, error: status.is_none().then(|| "timed out".into()), response: None }
}

async fn claim_all(store: &dyn Store, hook: &Webhook, now: Timestamp) -> Vec<DeliveryJob> {
    store.claim_deliveries(hook.pk, now, now + chrono::Duration::seconds(60), 100).await.unwrap()
}

pub async fn webhooks_crud_scope_and_rotation(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let w = hook(&*store, &a, |_| {}).await;
    assert!(w.enabled && w.previous_secret.is_none() && w.failing_since.is_none());
    assert_eq!(store.get_webhook(a.pk, &w.id).await.unwrap(), Some(w.clone()));
    assert_eq!(store.get_webhook(b.pk, &w.id).await.unwrap(), None, "another tenant's endpoint");
    assert!(store.list_webhooks(b.pk).await.unwrap().is_empty());
    let d = DeviceId::generate();
    let patch = WebhookPatch {
        url: Some("https://example.com/v2".into()),
        description: Some(None),
        event_types: Some(Some(vec![types::MESSAGE_SENT.into()])),
        devices: Some(Some(vec![d.clone()])),
        auto_reply: Some(true),
        format: Some(WebhookFormat::Wablas),
        rotate_secret: Some((Secret::new("whsec_bmV3"), at(100))),
        ..WebhookPatch::default()
    };
    let changed = store.update_webhook(a.pk, &w.id, patch, at(5)).await.unwrap().expect("updated");
    assert_eq!(changed.url, "https://example.com/v2");
    assert_eq!(changed.description, None, "a field can be cleared");
    assert_eq!(changed.event_types, Some(vec![types::MESSAGE_SENT.to_owned()]));
    assert_eq!(changed.devices, Some(vec![d]));
    assert!(changed.auto_reply);
    assert_eq!((w.format, changed.format), (WebhookFormat::Standard, WebhookFormat::Wablas), "the body shape is kept and changed");
    assert_eq!(changed.secret.expose(), "whsec_bmV3");
    assert_eq!(changed.previous_secret.as_ref().map(|(s, until)| (s.expose(), *until)), Some((w.secret.expose(), at(100))));
    assert_eq!(changed.signing_secrets(at(99)).len(), 2);
    assert_eq!(changed.signing_secrets(at(100)).len(), 1, "the old secret stops signing when it expires");
    let untouched = store.update_webhook(a.pk, &w.id, WebhookPatch::default(), at(6)).await.unwrap().unwrap();
    assert_eq!((untouched.url, untouched.event_types), (changed.url, changed.event_types), "an empty patch changes nothing");
    assert_eq!(store.update_webhook(b.pk, &w.id, WebhookPatch::default(), at(6)).await.unwrap(), None);
    assert_eq!(store.delete_webhook(b.pk, &w.id, at(7)).await.unwrap(), None);
    assert!(store.delete_webhook(a.pk, &w.id, at(7)).await.unwrap().is_some());
    assert_eq!(store.get_webhook(a.pk, &w.id).await.unwrap(), None);
    assert!(store.list_all_webhooks().await.unwrap().is_empty());
}

pub async fn fan_out_matches_types_devices_and_creation(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d1 = device(&*store, &a, "one").await;
    let d2 = device(&*store, &a, "two").await;
    let db = device(&*store, &b, "b").await;
    insert(&*store, outbound(&d1, "before any endpoint")).await;
    let all = hook(&*store, &a, |_| {}).await;
    let sent_only = hook(&*store, &a, |w| w.event_types = Some(vec![types::MESSAGE_SENT.into()])).await;
    let d2_only = hook(&*store, &a, |w| w.devices = Some(vec![d2.id.clone()])).await;
    let other_tenant = hook(&*store, &b, |_| {}).await;
    let m1 = insert(&*store, outbound(&d1, "one")).await;
    insert(&*store, outbound(&d2, "two")).await;
    insert(&*store, outbound(&db, "b")).await;
    let out = store.fan_out(1000, at(1)).await.unwrap();
    assert!(out.events >= 3, "the events since the cursor are consumed: {out:?}");
    let mut touched = out.webhooks.clone();
    touched.sort();
    assert_eq!(touched, vec![all.pk, d2_only.pk, other_tenant.pk], "the endpoints that got deliveries");
    assert_eq!(store.fan_out(1000, at(1)).await.unwrap().events, 0, "each event fans out once");
    let ids = |jobs: &[DeliveryJob]| jobs.iter().map(|j| j.data.as_ref().unwrap()["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let got = claim_all(&*store, &all, at(1)).await;
    assert_eq!(got.len(), 2, "only events committed after the endpoint was created");
    assert_eq!(ids(&got)[0], m1.id.as_str());
    assert!(got.iter().all(|j| j.delivery.event_type == types::MESSAGE_QUEUED && j.delivery.status == DeliveryStatus::Pending));
    assert!(claim_all(&*store, &sent_only, at(1)).await.is_empty(), "type filter");
    let for_d2 = claim_all(&*store, &d2_only, at(1)).await;
    assert_eq!(for_d2.len(), 1, "device filter");
    assert_eq!(for_d2[0].data.as_ref().unwrap()["device_id"], d2.id.as_str());
    assert_eq!(claim_all(&*store, &other_tenant, at(1)).await.len(), 1, "tenants never see each other's events");

    // A disabled endpoint gets nothing; a test event reaches only its endpoint.
    store.update_webhook(a.pk, &all.id, WebhookPatch { enabled: Some(false), ..Default::default() }, at(2)).await.unwrap();
    insert(&*store, outbound(&d1, "while disabled")).await;
    store.fan_out(1000, at(2)).await.unwrap();
    assert!(claim_all(&*store, &all, at(100)).await.len() == 2, "only the two leased earlier, due again; none while disabled");
    assert!(store.next_delivery_due(all.pk).await.unwrap().is_some(), "leased deliveries stay pending");
}

pub async fn claims_lease_attempts_and_manual_retry(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "one").await;
    let w = hook(&*store, &a, |_| {}).await;
    insert(&*store, outbound(&d, "one")).await;
    store.fan_out(100, at(1)).await.unwrap();
    assert_eq!(store.next_delivery_due(w.pk).await.unwrap(), Some(at(1)));
    let jobs = store.claim_deliveries(w.pk, at(1), at(31), 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.device, Some(d.pk));
    assert!(store.claim_deliveries(w.pk, at(2), at(32), 10).await.unwrap().is_empty(), "leased");
    // The process died mid-attempt: after the lease the delivery is due again.
    let again = store.claim_deliveries(w.pk, at(31), at(61), 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.id, job.delivery.id, "same delivery, same webhook-id on retry");

    let retry = AttemptResult {
        attempt: attempt(1, at(32), Some(500)),
        outcome: DeliveryOutcome::Retry { at: at(40) },
        disable: None,
        streak: Streak::Failing { since: at(32) },
    };
    let pending = store.record_attempt(job.delivery.pk, retry).await.unwrap().expect("recorded");
    assert_eq!(
        (pending.status, pending.attempts, pending.next_attempt_at, pending.last_status_code),
        (DeliveryStatus::Pending, 1, Some(at(40)), Some(500))
    );
    let failing = store.get_webhook(a.pk, &w.id).await.unwrap().unwrap();
    assert_eq!((failing.failing_since, failing.last_failure_at), (Some(at(32)), Some(at(32))));
    assert!(store.claim_deliveries(w.pk, at(39), at(99), 10).await.unwrap().is_empty(), "not due before its retry time");
    store.claim_deliveries(w.pk, at(40), at(99), 10).await.unwrap();
    let ok =
        AttemptResult { attempt: attempt(2, at(41), Some(204)), outcome: DeliveryOutcome::Succeeded, disable: None, streak: Streak::Ended };
    let done = store.record_attempt(job.delivery.pk, ok.clone()).await.unwrap().expect("recorded");
    assert_eq!((done.status, done.attempts, done.next_attempt_at), (DeliveryStatus::Succeeded, 2, None));
    assert_eq!(store.get_webhook(a.pk, &w.id).await.unwrap().unwrap().failing_since, None, "a success ends the failure streak");
    assert_eq!(store.record_attempt(job.delivery.pk, ok).await.unwrap(), None, "a finished delivery is not changed again");

    let (got, attempts) = store.get_delivery(a.pk, &done.id).await.unwrap().expect("found");
    assert_eq!(got, done);
    assert_eq!(attempts.iter().map(|a| (a.attempt, a.status_code)).collect::<Vec<_>>(), vec![(1, Some(500)), (2, Some(204))]);
    let b = tenant(&*store, "b").await;
    assert_eq!(store.get_delivery(b.pk, &done.id).await.unwrap(), None);
    let listed = store.list_deliveries(a.pk, w.pk, &DeliveryFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(listed, vec![done.clone()]);
    let none = DeliveryFilter { status: Some(DeliveryStatus::Failed), limit: 10, ..Default::default() };
    assert!(store.list_deliveries(a.pk, w.pk, &none).await.unwrap().is_empty());
    assert!(store.list_deliveries(b.pk, w.pk, &DeliveryFilter { limit: 10, ..Default::default() }).await.unwrap().is_empty());

    let manual = store.retry_delivery(a.pk, &done.id, at(50)).await.unwrap().expect("retried");
    assert_eq!((manual.status, manual.next_attempt_at), (DeliveryStatus::Pending, Some(at(50))));
    assert_eq!(store.retry_delivery(b.pk, &done.id, at(50)).await.unwrap(), None);
    assert_eq!(store.claim_deliveries(w.pk, at(50), at(80), 10).await.unwrap().len(), 1);
}

pub async fn disabling_fails_pending_and_is_an_event(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "one").await;
    let w = hook(&*store, &a, |_| {}).await;
    insert(&*store, outbound(&d, "one")).await;
    insert(&*store, outbound(&d, "two")).await;
    store.fan_out(100, at(1)).await.unwrap();
    let jobs = store.claim_deliveries(w.pk, at(1), at(2), 1).await.unwrap();
    assert_eq!(jobs.len(), 1, "the limit holds");
    let gone = AttemptResult {
        attempt: attempt(1, at(3), Some(410)),
        outcome: DeliveryOutcome::Failed,
        disable: Some("the endpoint answered 410 Gone".into()),
        streak: Streak::Failing { since: at(3) },
    };
    store.record_attempt(jobs[0].delivery.pk, gone).await.unwrap().expect("recorded");
    let disabled = store.get_webhook(a.pk, &w.id).await.unwrap().unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.disabled_reason.as_deref(), Some("the endpoint answered 410 Gone"));
    assert_eq!(store.next_delivery_due(w.pk).await.unwrap(), None, "its other deliveries failed");
    let failed = DeliveryFilter { status: Some(DeliveryStatus::Failed), limit: 10, ..Default::default() };
    assert_eq!(store.list_deliveries(a.pk, w.pk, &failed).await.unwrap().len(), 2);
    assert_eq!(event_types(&*store, &a).await.last().map(String::as_str), Some(own_types::DISABLED));
    // Re-enabling clears the reason and the streak.
    let on = store.update_webhook(a.pk, &w.id, WebhookPatch { enabled: Some(true), ..Default::default() }, at(4)).await.unwrap().unwrap();
    assert!(on.enabled && on.disabled_reason.is_none() && on.failing_since.is_none());
    // Deleting an endpoint fails what it had pending.
    insert(&*store, outbound(&d, "three")).await;
    store.fan_out(100, at(5)).await.unwrap();
    assert!(store.next_delivery_due(w.pk).await.unwrap().is_some());
    store.delete_webhook(a.pk, &w.id, at(6)).await.unwrap();
    assert_eq!(store.next_delivery_due(w.pk).await.unwrap(), None);
}

pub async fn deliveries_survive_reopen_and_prune(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "one").await;
    let w = hook(&*store, &a, |_| {}).await;
    let mut commits = store.event_commits();
    commits.borrow_and_update();
    insert(&*store, outbound(&d, "one")).await;
    assert!(commits.has_changed().unwrap(), "committing an event is announced");
    store.fan_out(100, at(1)).await.unwrap();
    let store = h.reopen(store).await;
    assert_eq!(store.fan_out(100, at(2)).await.unwrap().events, 0, "the fan-out cursor is durable");
    let jobs = store.claim_deliveries(w.pk, at(2), at(3), 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let ok =
        AttemptResult { attempt: attempt(1, at(3), Some(200)), outcome: DeliveryOutcome::Succeeded, disable: None, streak: Streak::Ended };
    store.record_attempt(jobs[0].delivery.pk, ok).await.unwrap();
    assert_eq!(store.prune_deliveries(at(1)).await.unwrap(), 0, "younger than the cut-off");
    assert_eq!(store.prune_deliveries(at(10)).await.unwrap(), 1);
    assert_eq!(store.get_delivery(a.pk, &jobs[0].delivery.id).await.unwrap(), None);
}
