//! The delivery worker. Each [`step`] fans newly committed events out into deliveries, then
//! starts attempts for every endpoint with due deliveries and free slots. Attempts run as
//! tasks of their own and record their outcome; [`run`] loops over `step`, woken by commits,
//! finished attempts, and due times.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use kirim_core::Timestamp;
use kirim_core::store::StoreError;
use kirim_core::webhook::{Attempt, AttemptResult, DeliveryJob, DeliveryOutcome, Streak, Webhook, WebhookFormat};
use rand::Rng;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use kirim_core::id::WebhookPk;

use super::{Endpoint, auto_reply, signing};
use crate::app::AppState;
use crate::outbound::{OutboundError, OutboundResponse, OutboundUrl};

/// Events read per fan-out transaction.
const FAN_OUT_BATCH: u32 = 1000;
/// How often the endpoint list is re-read (other nodes may have changed it).
const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// The longest a `Retry-After` may push a retry out.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub events: u32,
    pub started: usize,
}

/// Loads the endpoints once (and again by [`run`] every 30 s).
pub async fn reload(state: &AppState) -> Result<(), StoreError> {
    let all = state.store.list_all_webhooks().await?;
    let now = state.clock.now();
    let rt = &state.webhooks;
    let mut endpoints = rt.endpoints.lock().expect("webhooks lock");
    endpoints.retain(|pk, _| all.iter().any(|w| w.pk == *pk));
    for webhook in all {
        match endpoints.get_mut(&webhook.pk) {
            // The store's copy has everything recorded (failure streak, disabling) and edits
            // made on other nodes.
            Some(e) if webhook.updated_at >= e.webhook.updated_at => {
                let (failing_since, last_failure_at) = (e.webhook.failing_since, e.webhook.last_failure_at);
                e.webhook = webhook;
                // This process's own attempts may be newer than the store's copy.
                if last_failure_at > e.webhook.last_failure_at {
                    (e.webhook.failing_since, e.webhook.last_failure_at) = (failing_since, last_failure_at);
                }
            }
            Some(_) => {}
            // Unknown until now: it may have deliveries due (restart, another node).
            None => {
                endpoints.insert(webhook.pk, Endpoint::new(webhook, Some(now)));
            }
        }
    }
    rt.loaded.store(true, Ordering::SeqCst);
    Ok(())
}

/// Deliveries claimed at once per endpoint, per slot: claiming is a durable write, so a
/// batch keeps it off each delivery's path.
const CLAIM_PER_SLOT: u32 = 16;

/// Fans out committed events, claims due deliveries for endpoints running low, and starts
/// slots for endpoints with work and room. Public so tests drive it.
pub async fn step(state: &AppState) -> Result<Progress, StoreError> {
    let rt = &state.webhooks;
    if !rt.loaded.load(Ordering::SeqCst) {
        reload(state).await?;
    }
    let now = state.clock.now();
    let mut progress = Progress::default();
    // Without endpoints there is nothing to fan out; the cursor is caught up now and then
    // (other nodes may have endpoints this one has not loaded yet).
    let anyone = rt.endpoints.lock().expect("webhooks lock").values().any(|e| e.webhook.enabled);
    let catch_up = {
        let mut last = rt.last_fan_out.lock().expect("webhooks lock");
        let due = last.is_none_or(|at: std::time::Instant| at.elapsed() >= RELOAD_EVERY);
        if anyone || due {
            *last = Some(std::time::Instant::now());
        }
        anyone || due
    };
    let mut caught_up = !catch_up;
    while !caught_up {
        let out = state.store.fan_out(FAN_OUT_BATCH, now).await?;
        caught_up = out.events < FAN_OUT_BATCH;
        progress.events += out.events;
        if !out.webhooks.is_empty() {
            let mut endpoints = rt.endpoints.lock().expect("webhooks lock");
            for pk in out.webhooks {
                if let Some(e) = endpoints.get_mut(&pk) {
                    e.next_due = Some(e.next_due.map_or(now, |d| d.min(now)));
                }
            }
        }
    }
    let config = &state.config.webhooks;
    let slots = config.concurrency_per_endpoint;
    let batch = slots * CLAIM_PER_SLOT;
    let low: Vec<(WebhookPk, u32)> = rt
        .endpoints
        .lock()
        .expect("webhooks lock")
        .values()
        .filter(|e| e.webhook.enabled && e.next_due.is_some_and(|d| d <= now) && (e.buffer.len() as u32) < batch / 2)
        .map(|e| (e.webhook.pk, batch - e.buffer.len() as u32))
        .collect();
    // The lease outlasts delivering a whole batch through the slots at the time limit; a
    // crash leaves the batch due again after it.
    let per_attempt = config.timeout_ms as i64 + 1_000;
    let lease = now + chrono::Duration::milliseconds(per_attempt * i64::from(CLAIM_PER_SLOT + 1) + 30_000);
    for (pk, want) in low {
        let jobs = state.store.claim_deliveries(pk, now, lease, want).await?;
        let next_due = if (jobs.len() as u32) < want { state.store.next_delivery_due(pk).await? } else { Some(now) };
        let mut endpoints = rt.endpoints.lock().expect("webhooks lock");
        if let Some(e) = endpoints.get_mut(&pk) {
            e.buffer.extend(jobs);
            // May be the end of a lease just taken: a claim then finds nothing, which is harmless,
            // and learns the next real due time.
            e.next_due = next_due;
        }
    }
    let mut endpoints = rt.endpoints.lock().expect("webhooks lock");
    for e in endpoints.values_mut() {
        while e.webhook.enabled && e.in_flight < slots && (e.in_flight as usize) < e.buffer.len() {
            e.in_flight += 1;
            progress.started += 1;
            let (state, pk) = (state.clone(), e.webhook.pk);
            rt.attempts.spawn(async move { slot(&state, pk).await });
        }
    }
    Ok(progress)
}

/// One of an endpoint's slots: delivers from its buffer until the buffer is empty. The
/// outcome of each attempt is recorded by a task of its own, so the next attempt need not
/// wait for a commit.
async fn slot(state: &AppState, pk: WebhookPk) {
    let rt = &state.webhooks;
    let slots = state.config.webhooks.concurrency_per_endpoint;
    loop {
        if state.shutdown.is_cancelled() {
            // What is left in the buffer is leased: it is due again after the lease.
            break;
        }
        let next = {
            let mut endpoints = rt.endpoints.lock().expect("webhooks lock");
            match endpoints.get_mut(&pk) {
                Some(e) if e.webhook.enabled => e.buffer.pop_front().map(|job| (e.webhook.clone(), job, e.buffer.len())),
                Some(e) => {
                    // Disabled: the store failed its pending deliveries.
                    e.buffer.clear();
                    None
                }
                None => None,
            }
        };
        let Some((webhook, job, left)) = next else { break };
        if (left as u32) < slots * CLAIM_PER_SLOT / 2 {
            rt.wake.notify_one();
        }
        attempt(state, webhook, job).await;
    }
    if let Some(e) = rt.endpoints.lock().expect("webhooks lock").get_mut(&pk) {
        e.in_flight = e.in_flight.saturating_sub(1);
    }
    rt.wake.notify_one();
}

/// The request body: `{type, timestamp, data}` (or, for an endpoint in a reference
/// product's format, that product's shape of the event).
pub fn payload(state: &AppState, webhook: &Webhook, job: &DeliveryJob) -> Option<Bytes> {
    if webhook.format == WebhookFormat::Wablas
        && let Some(body) = crate::compat::wablas::hooks::payload(state, job)
    {
        return Some(body);
    }
    let data = job.data.as_ref()?;
    let body = json!({
        "type": job.delivery.event_type,
        "timestamp": job.event_created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    });
    serde_json::to_vec(&body).ok().map(Bytes::from)
}

/// One attempt: post and decide; what this process knows about the endpoint is updated at
/// once, the record is written by a task of its own.
async fn attempt(state: &AppState, webhook: Webhook, job: DeliveryJob) {
    let number = job.delivery.attempts + 1;
    let started = state.clock.now();
    let (response, result, decision) = match payload(state, &webhook, &job) {
        Some(body) => {
            let (response, result) = post(state, &webhook, &job, body).await;
            let decision = decide(state, &webhook, number, started, &response, &result);
            (response, result, decision)
        }
        // Nothing to send, and nothing learnt about the endpoint: fail it, streak untouched.
        None => {
            let gone = OutboundError::Other("the event was deleted (events.retention_days) before it could be delivered".into());
            (None, Err(gone), Decision { outcome: DeliveryOutcome::Failed, disable: None, streak: Streak::Unchanged })
        }
    };
    // Replies are queued before the success is recorded (their keys make a second try a no-op),
    // so a crash in between cannot lose them.
    if decision.outcome == DeliveryOutcome::Succeeded
        && let Some(response) = &response
    {
        auto_reply::maybe_reply(state, &webhook, &job, response).await;
    }
    {
        let mut endpoints = state.webhooks.endpoints.lock().expect("webhooks lock");
        if let Some(e) = endpoints.get_mut(&webhook.pk) {
            match decision.streak {
                Streak::Ended => e.webhook.failing_since = None,
                Streak::Failing { since } => {
                    e.webhook.failing_since = Some(since);
                    e.webhook.last_failure_at = Some(started);
                }
                Streak::Unchanged => {}
            }
            if let DeliveryOutcome::Retry { at } = decision.outcome {
                e.next_due = Some(e.next_due.map_or(at, |d| d.min(at)));
            }
            if decision.disable.is_some() {
                e.webhook.enabled = false;
            }
        }
    }
    state.metrics.count_webhook(match decision.outcome {
        DeliveryOutcome::Succeeded => "succeeded",
        DeliveryOutcome::Retry { .. } => "retry",
        DeliveryOutcome::Failed => "failed",
    });
    let record = AttemptResult {
        attempt: Attempt {
            attempt: number,
            at: started,
            status_code: response.as_ref().map(|r| r.status),
            duration_ms: response.as_ref().map_or_else(|| elapsed_ms(state, started), |r| r.duration.as_millis() as u64),
            error: result
                .as_ref()
                .err()
                .map(ToString::to_string)
                .or_else(|| response.as_ref().filter(|r| !r.is_success()).map(|r| format!("the endpoint answered {}", r.status))),
            response: response.as_ref().map(|r| r.body_excerpt.clone()).filter(|e| !e.is_empty()),
        },
        outcome: decision.outcome,
        disable: decision.disable,
        streak: decision.streak,
    };
    let state = state.clone();
    state.webhooks.attempts.clone().spawn(async move {
        if let Err(error) = state.store.record_attempt(job.delivery.pk, record).await {
            tracing::warn!(delivery = %job.delivery.id, %error, "could not record a webhook attempt; it will be made again");
        }
        // A disable or a retry time changes what the worker should do next.
        state.webhooks.wake.notify_one();
    });
}

fn elapsed_ms(state: &AppState, since: Timestamp) -> u64 {
    (state.clock.now() - since).num_milliseconds().max(0) as u64
}

async fn post(
    state: &AppState,
    webhook: &Webhook,
    job: &DeliveryJob,
    body: Bytes,
) -> (Option<OutboundResponse>, Result<(), OutboundError>) {
    let url = match OutboundUrl::parse(&webhook.url) {
        Ok(url) => url,
        Err(e) => return (None, Err(OutboundError::Other(e.to_string()))),
    };
    let now = state.clock.now();
    let timestamp = now.timestamp();
    let id = job.delivery.event_id.as_str();
    let headers = vec![
        ("webhook-id".to_owned(), id.to_owned()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        ("webhook-signature".to_owned(), signing::signature_header(&webhook.signing_secrets(now), id, timestamp, &body)),
    ];
    let timeout = Duration::from_millis(state.config.webhooks.timeout_ms);
    match state.webhooks.outbound.post_json(&url, &headers, body, timeout).await {
        Ok(response) => (Some(response), Ok(())),
        Err(error) => (None, Err(error)),
    }
}

struct Decision {
    outcome: DeliveryOutcome,
    disable: Option<String>,
    streak: Streak,
}

/// Success is any 2xx. 410 Gone disables the endpoint. Everything else is retried on the
/// schedule (with ±20% jitter), harder for 429 and timeouts, no sooner than a `Retry-After`;
/// after the last scheduled retry the delivery fails. An endpoint failing everything for
/// `disable_after_days` is disabled.
fn decide(
    state: &AppState,
    webhook: &Webhook,
    number: u32,
    now: Timestamp,
    response: &Option<OutboundResponse>,
    result: &Result<(), OutboundError>,
) -> Decision {
    let config = &state.config.webhooks;
    if response.as_ref().is_some_and(OutboundResponse::is_success) {
        // Nothing to write about the endpoint when it was not failing.
        let streak = if webhook.failing_since.is_some() { Streak::Ended } else { Streak::Unchanged };
        return Decision { outcome: DeliveryOutcome::Succeeded, disable: None, streak };
    }
    // A streak counts failures without a quiet gap longer than any wait of the schedule (with
    // its jitter, doubled after a 429 or a timeout): an endpoint that failed, then had nothing
    // to receive for days, starts a new one.
    let longest = config.retry_schedule.iter().max().copied().unwrap_or_default();
    let quiet = longest.mul_f64(2.4) + Duration::from_secs(3600);
    let quiet = chrono::Duration::from_std(quiet).unwrap_or(chrono::Duration::days(1));
    let since = match (webhook.failing_since, webhook.last_failure_at) {
        (Some(since), Some(last)) if now - last <= quiet => since,
        _ => now,
    };
    let streak = Streak::Failing { since };
    if response.as_ref().is_some_and(|r| r.status == 410) {
        return Decision { outcome: DeliveryOutcome::Failed, disable: Some("the endpoint answered 410 Gone".into()), streak };
    }
    if now - since >= chrono::Duration::days(i64::from(config.disable_after_days)) {
        let reason = format!("every delivery failed for {} days", config.disable_after_days);
        return Decision { outcome: DeliveryOutcome::Failed, disable: Some(reason), streak };
    }
    let Some(base) = config.retry_schedule.get(number as usize - 1).copied() else {
        return Decision { outcome: DeliveryOutcome::Failed, disable: None, streak };
    };
    let harder = matches!(result, Err(OutboundError::Timeout)) || response.as_ref().is_some_and(|r| r.status == 429);
    let mut delay = if harder { base * 2 } else { base };
    delay = delay.mul_f64(rand::thread_rng().gen_range(0.8..=1.2));
    if let Some(after) = response.as_ref().and_then(|r| r.retry_after) {
        delay = delay.max(after.min(MAX_RETRY_AFTER));
    }
    let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(5));
    // To the millisecond, as the store keeps it, so memory and store agree on when it is due.
    let at = chrono::DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at);
    Decision { outcome: DeliveryOutcome::Retry { at }, disable: None, streak }
}

/// Runs steps until `cancel`, then lets the attempts under way finish.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let mut commits = state.store.event_commits();
    let mut last_reload = tokio::time::Instant::now();
    loop {
        if last_reload.elapsed() >= RELOAD_EVERY {
            last_reload = tokio::time::Instant::now();
            if let Err(error) = reload(&state).await {
                tracing::warn!(%error, "could not re-read the webhook endpoints");
            }
        }
        let wait = match step(&state).await {
            Ok(_) => next_wait(&state),
            Err(error) => {
                tracing::warn!(%error, "webhook delivery could not reach the store; retrying in 1 s");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = commits.changed() => {}
            _ = state.webhooks.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// Until the earliest due time of an enabled endpoint (at most a second, so events committed
/// by other nodes are picked up).
fn next_wait(state: &AppState) -> Duration {
    let now = state.clock.now();
    let endpoints = state.webhooks.endpoints.lock().expect("webhooks lock");
    let earliest = endpoints.values().filter(|e| e.webhook.enabled).filter_map(|e| e.next_due).min();
    match earliest {
        Some(due) => (due - now).to_std().unwrap_or(Duration::ZERO).clamp(Duration::from_millis(1), Duration::from_secs(1)),
        None => Duration::from_secs(1),
    }
}
