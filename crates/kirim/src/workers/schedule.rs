//! The scheduler: moves scheduled messages into their device's send queue when their time
//! comes, then wakes the device's lane. It sleeps until the earliest schedule is due (or a new
//! schedule comes earlier), so a message leaves within milliseconds of its time.

use std::sync::Arc;
use std::time::Duration;

use kirim_core::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// Messages promoted per store call; a burst due at the same second is taken in rounds.
const BATCH: u32 = 500;
/// The scheduler looks at the store at least this often, even if nothing woke it.
const RECHECK: Duration = Duration::from_secs(30);

/// Wakes the scheduler when a schedule is added or moved, so its sleep is recomputed.
#[derive(Debug, Default)]
pub struct SchedulerWake(Notify);

impl SchedulerWake {
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// Promotes every due message and wakes the lanes that got work. Returns when the next one
/// is due. Public so tests drive it with a manual clock.
pub async fn step(state: &AppState) -> anyhow::Result<Option<Timestamp>> {
    loop {
        let now = state.clock.now();
        let devices = state.store.promote_due(now, BATCH).await?;
        for device in &devices {
            if let Some(entry) = state.devices.get(*device) {
                entry.wake.notify_one();
            }
        }
        // One read per round serves both the loop test and the answer.
        let next = state.store.next_scheduled_at().await?;
        if devices.is_empty() || next.is_none_or(|due| due > now) {
            return Ok(next);
        }
    }
}

pub async fn run(state: AppState, wake: Arc<SchedulerWake>, cancel: CancellationToken) {
    loop {
        let wait = match step(&state).await {
            Ok(Some(due)) => (due - state.clock.now()).to_std().unwrap_or(Duration::ZERO).clamp(Duration::from_millis(1), RECHECK),
            Ok(None) => RECHECK,
            Err(error) => {
                tracing::warn!(%error, "the scheduler could not reach the store; retrying in 1 s");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.0.notified() => {}
            _ = cancel.cancelled() => return,
        }
    }
}
