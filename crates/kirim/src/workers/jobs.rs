//! Ends delays: a DELAYED job whose delay is over goes back to the status it had before the
//! DELAY (`job.updated` with reason `delay_ended`), in one transaction guarded by the state
//! the worker read, so a reply arriving at the same moment wins or loses cleanly.

use std::time::Duration;

use kirim_core::Timestamp;
use kirim_core::job::{self, EntryKind, JobRecord, NewEntry, RecordOutcome};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// Jobs read per store call.
const BATCH: u32 = 200;
/// The worker looks at the store at least this often (delays set by other nodes).
const RECHECK: Duration = Duration::from_secs(30);

/// Ends every delay that is over. Returns when the next one ends. Public so tests drive it
/// with a manual clock.
pub async fn step(state: &AppState) -> anyhow::Result<Option<Timestamp>> {
    loop {
        let now = state.clock.now();
        let due = state.store.due_delays(now, BATCH).await?;
        let mut ended = 0;
        for j in &due {
            let next = job::delay_ended(&j.state);
            let entry = NewEntry {
                from: Some(j.state.status),
                to: Some(next.status),
                detail: json!({"delay_until": j.state.delay_until}),
                ..NewEntry::of(EntryKind::DelayEnded)
            };
            let record = JobRecord {
                tenant_pk: j.tenant_pk,
                job: j.pk,
                change: Some((j.state.clone(), next)),
                entries: vec![entry],
                reply: None,
                inbound: None,
                reason: "delay_ended",
                at: now,
            };
            if matches!(state.store.record_job(record).await?, RecordOutcome::Recorded { .. }) {
                ended += 1;
            }
        }
        if ended == 0 || due.len() < BATCH as usize {
            break;
        }
    }
    Ok(state.store.next_delay_end().await?)
}

pub async fn run(state: AppState, cancel: CancellationToken) {
    loop {
        let wait = match step(&state).await {
            Ok(Some(due)) => (due - state.clock.now()).to_std().unwrap_or(Duration::ZERO).clamp(Duration::from_millis(1), RECHECK),
            Ok(None) => RECHECK,
            Err(error) => {
                tracing::warn!(%error, "the job delay worker could not reach the store; retrying in 1 s");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.jobs.delays.notified() => {}
            _ = cancel.cancelled() => return,
        }
    }
}
