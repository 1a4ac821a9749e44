//! Expiry of `Idempotency-Key` records and event dedupe keys (kept for
//! `idempotency.ttl_hours`) and of expired admin-page sessions, purged by a background task.

use super::App;
use leadline_core::storage::{Store, StoreError};
use leadline_core::Ts;
use std::time::Duration;

const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes idempotency records (and event dedupe keys) older than the TTL; returns how many.
pub fn purge(store: &Store, now: Ts, ttl_hours: u64) -> Result<usize, StoreError> {
    let cutoff = Ts::from(now.0 - chrono::Duration::hours(ttl_hours as i64));
    // Expired page sessions no longer work (`operators::session` checks the expiry); this
    // only frees their space.
    Ok(store.purge_idempotency_before(cutoff)? + store.purge_sessions_before(now)?)
}

/// The first purge waits this long after start-up: it reads every dedupe key (two or more
/// per lead), which right at start-up competed with the first requests for the CPU and the
/// storage cache (leadline-load --probe million).
const FIRST_PURGE_AFTER: Duration = Duration::from_secs(600);

/// Purges expired keys [`FIRST_PURGE_AFTER`] after start-up, then every hour, off the async threads.
pub fn spawn_purger(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_PURGE_AFTER, PURGE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let store = app.store.clone();
            let now = Ts::from(app.clock.now());
            let ttl = app.settings.idempotency.ttl_hours;
            match tokio::task::spawn_blocking(move || purge(&store, now, ttl)).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(purged = n, "expired idempotency keys purged"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "purging idempotency keys failed"),
                Err(e) => tracing::warn!(error = %e, "idempotency purge task failed"),
            }
        }
    })
}
