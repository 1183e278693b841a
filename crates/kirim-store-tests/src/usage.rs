//! Usage tokens and device limits: checked and debited in the insert's transaction, exact
//! under concurrency and across a reopen, refunded when a message is cancelled or fails.

use std::sync::Arc;

use kirim_core::message::{NewOutbound, SendOutcome};
use kirim_core::store::InsertOutcome;
use kirim_core::usage::{Charge, DeviceLimits, Refusal, day_of};

use crate::Harness;
use crate::fixtures::{at, device, outbound, t0, tenant};

fn charged(m: NewOutbound, tokens: u32, limit: Option<u64>) -> NewOutbound {
    NewOutbound { charge: Charge { tokens, daily_limit: limit }, ..m }
}

fn kinds(out: &[InsertOutcome]) -> Vec<&'static str> {
    out.iter()
        .map(|o| match o {
            InsertOutcome::Inserted(_) => "inserted",
            InsertOutcome::Existing(_) => "existing",
            InsertOutcome::Refused(r) => r.code(),
        })
        .collect()
}

pub async fn token_budgets_are_exact_under_concurrency_and_across_reopen(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    // 40 callers of 1 to 3 messages each, 2 tokens a message, 50 tokens: exactly 25 fit.
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let (store, d) = (store.clone(), d.clone());
            tokio::spawn(async move {
                let batch = (0..=(i % 3)).map(|_| charged(outbound(&d, "x"), 2, Some(50))).collect();
                store.insert_outbound(batch).await.expect("insert")
            })
        })
        .collect();
    let mut inserted = 0;
    for call in calls {
        for outcome in call.await.unwrap() {
            match outcome {
                InsertOutcome::Inserted(_) => inserted += 1,
                InsertOutcome::Refused(Refusal::TokenBudget { cost, remaining, limit, .. }) => {
                    assert_eq!((cost, limit), (2, 50));
                    assert!(remaining < 2, "refused with {remaining} left");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(inserted, 25);
    let day = day_of(t0());
    let store = h.reopen(store).await;
    let usage = store.usage_days(a.pk, day, day).await.unwrap();
    assert_eq!((usage[0].charged, usage[0].refunded, usage[0].messages), (50, 0, 25));
    let out = store.insert_outbound(vec![charged(outbound(&d, "y"), 2, Some(50)), charged(outbound(&d, "free"), 0, Some(50))]).await;
    assert_eq!(kinds(&out.unwrap()), ["token_budget_exhausted", "inserted"], "a free message always fits");
    // Another day is another budget; an unlimited tenant is counted too.
    let tomorrow = NewOutbound { created_at: at(86_400), ..charged(outbound(&d, "z"), 2, Some(50)) };
    assert_eq!(kinds(&store.insert_outbound(vec![tomorrow, charged(outbound(&d, "u"), 5, None)]).await.unwrap()), ["inserted", "inserted"]);
    let days = store.usage_days(a.pk, day, day + 1).await.unwrap();
    assert_eq!(days.iter().map(|u| u.used()).collect::<Vec<_>>(), [55, 2]);
}

pub async fn a_repeated_key_at_the_limit_answers_with_the_original(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let keyed = |key: &str| NewOutbound { idempotency_key: Some(key.into()), ..charged(outbound(&d, key), 1, Some(2)) };
    let out = store.insert_outbound(vec![keyed("k1"), keyed("k1"), keyed("k2"), keyed("k1"), keyed("k3")]).await.unwrap();
    assert_eq!(kinds(&out), ["inserted", "existing", "inserted", "existing", "token_budget_exhausted"]);
    // At the limit, a repeat is still answered with its original, never refused.
    assert_eq!(kinds(&store.insert_outbound(vec![keyed("k2"), keyed("k4")]).await.unwrap()), ["existing", "token_budget_exhausted"]);
    let day = day_of(t0());
    assert_eq!(store.usage_days(a.pk, day, day).await.unwrap()[0].charged, 2, "repeats are not charged");
}

pub async fn cancelled_and_failed_messages_are_refunded_to_their_day(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let out = store.insert_outbound((0..3).map(|_| charged(outbound(&d, "x"), 2, Some(6))).collect()).await.unwrap();
    let ids: Vec<_> = out
        .iter()
        .map(|o| match o {
            InsertOutcome::Inserted(m) => m.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    store.cancel_message(a.pk, &ids[0].id, at(10)).await.unwrap();
    let claimed = store.claim_next(d.pk, at(20)).await.unwrap().expect("a message to send");
    store.complete_send(claimed.pk, SendOutcome::Failed { error: "gone".into() }, at(21)).await.unwrap();
    let claimed = store.claim_next(d.pk, at(30)).await.unwrap().expect("a message to send");
    store.complete_send(claimed.pk, SendOutcome::Retry { at: at(31), error: "later".into() }, at(30)).await.unwrap();
    let day = day_of(t0());
    let usage = &store.usage_days(a.pk, day, day).await.unwrap()[0];
    assert_eq!((usage.charged, usage.refunded, usage.used()), (6, 4, 2), "a retry is not refunded");
    // A cancel of a cancelled message refunds nothing more.
    store.cancel_message(a.pk, &ids[0].id, at(40)).await.unwrap();
    assert_eq!(store.usage_days(a.pk, day, day).await.unwrap()[0].refunded, 4);
}

pub async fn device_quota_and_expiry_refuse_alone(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let (d, e) = (device(&*store, &a, "quota").await, device(&*store, &a, "free").await);
    let limits = DeviceLimits { quota: Some(2), expires_at: Some(at(100)) };
    assert_eq!(store.set_device_limits(&d.id, limits, t0()).await.unwrap(), Some(a.pk));
    let batch = vec![outbound(&d, "1"), outbound(&e, "other"), outbound(&d, "2"), outbound(&d, "3")];
    assert_eq!(kinds(&store.insert_outbound(batch).await.unwrap()), ["inserted", "inserted", "inserted", "device_quota_exhausted"]);
    assert_eq!(store.get_device(a.pk, &d.id).await.unwrap().unwrap().limits.quota, Some(0));
    let late = NewOutbound { created_at: at(100), ..outbound(&d, "late") };
    let out = store.insert_outbound(vec![late]).await.unwrap();
    assert!(
        matches!(&out[0], InsertOutcome::Refused(Refusal::DeviceExpired { device, expired_at }) if *device == d.id && *expired_at == at(100))
    );
    // A message that fails for good gives its unit back; cleared limits are no limits.
    let pending = store.claim_next(d.pk, at(1)).await.unwrap().expect("pending");
    store.complete_send(pending.pk, SendOutcome::Failed { error: "x".into() }, at(2)).await.unwrap();
    assert_eq!(store.get_device(a.pk, &d.id).await.unwrap().unwrap().limits.quota, Some(1));
    store.set_device_limits(&d.id, DeviceLimits::default(), t0()).await.unwrap();
    let late = NewOutbound { created_at: at(500), ..outbound(&d, "unlimited") };
    assert_eq!(kinds(&store.insert_outbound(vec![late]).await.unwrap()), ["inserted"]);
    assert_eq!(store.set_device_limits(&kirim_core::DeviceId::generate(), DeviceLimits::default(), t0()).await.unwrap(), None);
}
