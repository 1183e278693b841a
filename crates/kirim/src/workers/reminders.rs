//! The reminder worker: turns each reminder's next occurrence into an ordinary scheduled
//! message a little ahead of its time (the scheduler then sends it on the dot), and moves
//! the reminder on, in one store transaction. A crash before the commit leaves the
//! occurrence to do again; after it, the cursor has moved: none is lost or doubled.
//! Occurrences missed while Kirim was stopped are made when it starts, and sent late.

use std::time::Duration;

use kirim_core::Timestamp;
use kirim_core::message::{NewOutbound, Schedule};
use kirim_core::reminder::{Materialise, Reminder};
use kirim_core::{MessageId, Recipient};
use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// How long before its time an occurrence becomes a scheduled message (visible in
/// `GET /v1/messages`, and cancellable there).
pub const LEAD: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// Reminders read per store call.
const BATCH: u32 = 200;
/// The worker looks at the store at least this often.
const RECHECK: Duration = Duration::from_secs(30);

/// Makes every occurrence due within [`LEAD`]. Returns when the worker should look again.
/// Public so tests drive it with a manual clock.
pub async fn step(state: &AppState) -> anyhow::Result<Option<Timestamp>> {
    loop {
        let now = state.clock.now();
        let due = state.store.due_reminders(now + LEAD, BATCH).await?;
        let mut made = 0;
        for reminder in &due {
            if materialise(state, reminder, now).await? {
                made += 1;
            }
        }
        if made == 0 {
            break;
        }
    }
    Ok(state.store.next_reminder_at().await?.map(|at| at - LEAD))
}

/// Makes the reminder's next occurrence if it is due within [`LEAD`] (after a create or a
/// change, so a reminder for the next minutes does not wait for the worker's next round).
pub async fn make_due(state: &AppState, reminder: &Reminder) {
    let now = state.clock.now();
    let mut current = reminder.clone();
    while current.next_at.is_some_and(|at| at <= now + LEAD) {
        match materialise(state, &current, now).await {
            Ok(true) => match state.store.get_reminder(current.tenant_pk, &current.id).await {
                Ok(Some(next)) => current = next,
                _ => return,
            },
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(reminder = %current.id, %error, "an occurrence could not be made now; the worker will retry");
                return;
            }
        }
    }
}

/// Makes one occurrence; false when the reminder moved on meanwhile (nothing written).
async fn materialise(state: &AppState, reminder: &Reminder, now: Timestamp) -> anyhow::Result<bool> {
    let Some(due_at) = reminder.next_at else { return Ok(false) };
    let index = reminder.next_index;
    let blacklisted = match &reminder.plan.to {
        Recipient::Phone(phone) => state.store.is_blacklisted(reminder.tenant_pk, phone).await?,
        Recipient::Group(_) => false,
    };
    let max_attempts = state.devices.get(reminder.device_pk).map_or(3, |e| e.snapshot().settings.max_attempts);
    let message = (!blacklisted).then(|| NewOutbound {
        id: MessageId::generate(),
        tenant_pk: reminder.tenant_pk,
        device_pk: reminder.device_pk,
        chat: reminder.plan.to.clone(),
        content: reminder.plan.content.clone(),
        priority: 0,
        ref_id: None,
        // Belt and braces: the cursor guard already makes each occurrence once.
        idempotency_key: Some(format!("kirim:reminder:{}:{index}:{}", reminder.id, due_at.timestamp_millis())),
        request_hash: None,
        reply_to: None,
        max_attempts,
        not_before: due_at,
        schedule: Some(Schedule { at: due_at, timezone: Some(reminder.plan.timezone.clone()) }),
        options: Default::default(),
        created_at: now,
        // Counted against the day's budget, never refused by it: the tenant asked for the
        // series when it created the reminder.
        charge: kirim_core::usage::Charge {
            tokens: crate::services::usage::cost(&state.config.usage.costs, &reminder.plan.content),
            daily_limit: None,
        },
    });
    let step = Materialise {
        reminder: reminder.pk,
        index,
        seen_updated_at: reminder.updated_at,
        due_at,
        message,
        skipped: blacklisted.then(|| "blacklisted".to_owned()),
        next_at: reminder.plan.due(index + 1),
        at: now,
    };
    let made = state.store.materialise_occurrence(step).await?;
    if made.as_ref().is_some_and(|(_, m)| m.is_some()) {
        state.scheduler.notify();
    }
    Ok(made.is_some())
}

pub async fn run(state: AppState, cancel: CancellationToken) {
    loop {
        let wait = match step(&state).await {
            Ok(Some(due)) => (due - state.clock.now()).to_std().unwrap_or(Duration::ZERO).clamp(Duration::from_millis(1), RECHECK),
            Ok(None) => RECHECK,
            Err(error) => {
                tracing::warn!(%error, "the reminder worker could not reach the store; retrying in 1 s");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
