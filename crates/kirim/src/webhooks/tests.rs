//! The retry schedule, driven step by step with a paused clock: each retry is due when the
//! schedule says (±20% jitter) and not a second earlier, the last failure ends the delivery,
//! `Retry-After` pushes a retry out, and days of failures disable the endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use kirim_core::event::{NewEvent, types};
use kirim_core::store::DeliveryFilter;
use kirim_core::webhook::{Delivery, DeliveryStatus, Webhook, own_types};
use kirim_core::{EventId, ManualClock, Timestamp};

use super::worker;
use crate::app::{self, AppState};
use crate::config::{Config, Overrides};
use crate::services::Actor;
use crate::services::webhooks::{self as service, WebhookInput};

struct Rig {
    state: AppState,
    clock: ManualClock,
    hook: Webhook,
    hits: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

/// A gateway that is built but not started (no background worker), and a receiver that
/// answers every request with `answer`.
async fn rig(answer: fn() -> axum::response::Response) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("KIRIM_DATA_DIR", dir.path().to_str().unwrap()),
        ("KIRIM_ADMIN_TOKEN", "test-admin-token-0123456789"),
        ("KIRIM_OUTBOUND_ALLOW", "127.0.0.1/32"),
        ("KIRIM_LOG_LEVEL", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::load_from(&Overrides::default(), &env).unwrap().config;
    let clock = ManualClock::new(chrono::Utc::now());
    let built = app::build(config, Arc::new(clock.clone())).await.unwrap();
    let state = built.state.clone();

    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let receiver = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            answer()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let (tenant, _, _) = crate::services::tenants::create(state.store.as_ref(), state.clock.as_ref(), "shop", None).await.unwrap();
    let actor = Actor { tenant_pk: tenant.pk, device: None, daily_token_limit: None };
    let input = WebhookInput { url: Some(url), ..WebhookInput::default() };
    let hook = service::create(&state, &actor, input).await.unwrap().webhook;
    Rig { state, clock, hook, hits, _dir: dir }
}

impl Rig {
    async fn event(&self) {
        let event = NewEvent {
            id: EventId::generate(),
            tenant_pk: self.hook.tenant_pk,
            device_pk: None,
            event_type: types::MESSAGE_DELIVERED,
            data: serde_json::json!({"id": "msg_x"}),
            created_at: self.now(),
        };
        self.state.store.append_event(event).await.unwrap();
    }

    /// One worker step; waits (in real time: the HTTP call is real) until what it started is
    /// recorded. Returns how many attempts were made.
    async fn step(&self) -> usize {
        let before = self.hits.load(Ordering::SeqCst);
        worker::step(&self.state).await.unwrap();
        for _ in 0..1000 {
            if self.state.webhooks.idle() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(self.state.webhooks.idle(), "attempts still under way after 5 s");
        self.hits.load(Ordering::SeqCst) - before
    }

    async fn deliveries(&self) -> Vec<Delivery> {
        let filter = DeliveryFilter { limit: 100, ..DeliveryFilter::default() };
        self.state.store.list_deliveries(self.hook.tenant_pk, self.hook.pk, &filter).await.unwrap()
    }

    fn now(&self) -> Timestamp {
        use kirim_core::Clock;
        self.clock.now()
    }
}

fn fail() -> axum::response::Response {
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

fn too_many() -> axum::response::Response {
    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "3600")]).into_response()
}

#[tokio::test]
async fn retries_follow_the_schedule_then_fail_and_a_long_streak_disables() {
    let rig = rig(fail).await;
    let schedule = rig.state.config.webhooks.retry_schedule.clone();
    assert_eq!(schedule.len(), 7, "the default schedule: 5s, 5m, 30m, 2h, 5h, 10h, 10h");
    let started_at = rig.now();
    rig.event().await;
    assert_eq!(rig.step().await, 1, "the first attempt goes at once");
    for (i, delay) in schedule.iter().enumerate() {
        let [d] = &rig.deliveries().await[..] else { panic!("one delivery") };
        assert_eq!((d.status, d.attempts as usize), (DeliveryStatus::Pending, i + 1));
        let wait = (d.next_attempt_at.unwrap() - rig.now()).to_std().unwrap();
        let (low, high) = (delay.mul_f64(0.79), delay.mul_f64(1.21));
        assert!(wait >= low && wait <= high, "retry {} after {wait:?}, expected {delay:?} ±20%", i + 1);
        rig.clock.set(d.next_attempt_at.unwrap() - chrono::Duration::seconds(1));
        assert_eq!(rig.step().await, 0, "retry {} is not made early", i + 1);
        rig.clock.set(d.next_attempt_at.unwrap());
        assert_eq!(rig.step().await, 1, "retry {} is made when due", i + 1);
    }
    let [d] = &rig.deliveries().await[..] else { panic!("one delivery") };
    assert_eq!((d.status, d.attempts, d.next_attempt_at), (DeliveryStatus::Failed, 8, None), "after the last retry");
    assert_eq!(rig.hits.load(Ordering::SeqCst), 8);

    // New events keep failing, never more than a few hours apart: five days after the first
    // failure the endpoint is disabled.
    while rig.now() < started_at + chrono::Duration::days(5) {
        rig.clock.advance(chrono::Duration::hours(6));
        rig.event().await;
        rig.step().await;
    }
    let hook = rig.state.store.get_webhook(rig.hook.tenant_pk, &rig.hook.id).await.unwrap().unwrap();
    assert!(!hook.enabled, "disabled after days of failures");
    assert!(hook.disabled_reason.unwrap().contains("5 days"));
    let events =
        rig.state.store.list_events(hook.tenant_pk, &kirim_core::store::EventFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(events.last().unwrap().event_type, own_types::DISABLED);
    rig.event().await;
    assert_eq!(rig.step().await, 0, "a disabled endpoint gets nothing");
}

#[tokio::test]
async fn a_retry_after_header_pushes_the_retry_out() {
    let rig = rig(too_many).await;
    rig.event().await;
    assert_eq!(rig.step().await, 1);
    let [d] = &rig.deliveries().await[..] else { panic!("one delivery") };
    let wait = d.next_attempt_at.unwrap() - rig.now();
    // Times are stored to the millisecond.
    assert!(wait >= chrono::Duration::milliseconds(3_599_999), "Retry-After: 3600 is honoured, got {wait}");
    assert!(wait <= chrono::Duration::seconds(3601), "and not more, got {wait}");
    assert_eq!(d.last_status_code, Some(429));
}

#[tokio::test]
async fn a_quiet_gap_starts_the_failure_streak_over() {
    let rig = rig(fail).await;
    rig.event().await;
    assert_eq!(rig.step().await, 1);
    // Days without anything to deliver (the failed delivery's retries are far apart too).
    rig.clock.advance(chrono::Duration::days(3));
    rig.event().await;
    rig.step().await;
    let hook = rig.state.store.get_webhook(rig.hook.tenant_pk, &rig.hook.id).await.unwrap().unwrap();
    assert!(hook.enabled, "a failure three days after another is not three days of failures");
    assert_eq!(hook.failing_since, hook.last_failure_at, "the streak started over");
}
