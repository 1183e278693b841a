//! Periodic upkeep: record API-key use, prune old events and webhook deliveries.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// One round of upkeep. Public so tests can run it on demand.
pub async fn step(state: &AppState) -> anyhow::Result<()> {
    let used = state.auth.take_used_keys();
    if !used.is_empty() {
        state.store.touch_api_keys(&used).await?;
    }
    let days = state.config.events.retention_days;
    if days > 0 {
        let before = state.clock.now() - chrono::Duration::days(i64::from(days));
        while state.store.prune_events(before).await? >= kirim_core::store::PRUNE_BATCH {
            tokio::task::yield_now().await;
        }
    }
    let days = state.config.webhooks.retention_days;
    if days > 0 {
        let before = state.clock.now() - chrono::Duration::days(i64::from(days));
        while state.store.prune_deliveries(before).await? >= kirim_core::store::PRUNE_BATCH {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

pub async fn run(state: AppState, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_secs(30));
    interval.tick().await;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = cancel.cancelled() => break,
        }
        if let Err(error) = step(&state).await {
            tracing::warn!(%error, "housekeeping failed; will try again");
        }
    }
    // Record the last key uses before the process stops.
    let _ = step(&state).await;
}
