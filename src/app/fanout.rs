//! MLS fan-out: one listing change becomes one `Event::ListingChanged` per lead watching
//! that listing (the `interests` index). Used by `POST /v1/events/mls` and the RESO poller.
//!
//! Every lead gets its own dedupe key (`<change.dedupe_key()>[@<occurrence>]:<phone>`): the
//! store's dedupe set is global, so a key without the phone would let the first lead's
//! acknowledgement mark the change as "seen" for every other lead. A change delivered again
//! (an MLS push retried after a 503, a RESO page re-read after a crash) is therefore applied
//! exactly once per lead, and a retry only reaches the leads that did not acknowledge yet.

use crate::app::App;
use leadline_core::model::{Event, ListingChange};
use leadline_core::storage::StoreError;
use tokio::task::JoinSet;

/// At most this many lead events are waiting for their acknowledgement at once.
pub const MAX_IN_FLIGHT: usize = 64;

/// What a fan-out did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanoutReport {
    /// Leads watching the listing.
    pub leads: usize,
    /// Leads that applied the change now.
    pub applied: usize,
    /// Leads that had already applied it (a re-delivery).
    pub duplicates: usize,
    /// Leads that did not acknowledge (timeout, storage error, shutting down).
    pub failed: usize,
    /// The first failure, for the error message.
    pub first_error: Option<String>,
}

impl FanoutReport {
    pub fn complete(&self) -> bool {
        self.failed == 0
    }
}

/// The dedupe key of `change` for one lead. `occurrence` distinguishes two real changes
/// that look the same (e.g. the price dropped to 400k, went up, and dropped to 400k again):
/// the MLS push passes its `occurred_at`, the RESO poller the record's `ModificationTimestamp`.
pub fn lead_dedupe_key(change: &ListingChange, occurrence: Option<&str>, phone: &str) -> String {
    match occurrence {
        Some(o) => format!("{}@{o}:{phone}", change.dedupe_key()),
        None => format!("{}:{phone}", change.dedupe_key()),
    }
}

/// Submits `change` to every interested lead, at most [`MAX_IN_FLIGHT`] at a time, and waits
/// until each one acknowledged (durably applied) or failed.
pub async fn fan_out(app: &App, change: &ListingChange, occurrence: Option<&str>) -> Result<FanoutReport, StoreError> {
    if let Some(cluster) = &app.cluster {
        // Who watches the listing is state other nodes change: read it once this node has
        // applied everything the log held (bounded; a lead missed by a lagging replica gets
        // the next change).
        let wait = std::time::Duration::from_millis(app.settings.server.event_timeout_ms);
        if !cluster.catch_up_all(wait).await {
            tracing::warn!("listing fan-out reads a replica that is behind the cluster log");
        }
    }
    let phones = app.store.interested_leads(&change.listing_id)?;
    let mut report = FanoutReport { leads: phones.len(), ..FanoutReport::default() };
    let mut pending = phones.into_iter();
    let mut in_flight = JoinSet::new();
    loop {
        while in_flight.len() < MAX_IN_FLIGHT {
            let Some(phone) = pending.next() else { break };
            let app = app.clone();
            let key = lead_dedupe_key(change, occurrence, phone.as_str());
            let event = Event::ListingChanged(Box::new(change.clone()));
            in_flight.spawn(async move { app.submit(phone, event, Some(key)).await });
        }
        let Some(joined) = in_flight.join_next().await else { break };
        match joined {
            Ok(Ok(applied)) if applied.duplicate => report.duplicates += 1,
            Ok(Ok(_)) => report.applied += 1,
            Ok(Err(e)) => {
                report.failed += 1;
                report.first_error.get_or_insert(e.to_string());
            }
            Err(e) => {
                report.failed += 1;
                report.first_error.get_or_insert(format!("fan-out task failed: {e}"));
            }
        }
    }
    metrics::counter!("leadline_fanout_leads_total", "change" => change.change.as_str())
        .increment((report.applied + report.duplicates) as u64);
    if report.failed > 0 {
        metrics::counter!("leadline_fanout_failures_total").increment(report.failed as u64);
        tracing::warn!(
            listing = %change.listing_id,
            change = change.change.as_str(),
            leads = report.leads,
            failed = report.failed,
            error = report.first_error.as_deref().unwrap_or(""),
            "listing change not acknowledged by every lead"
        );
    }
    Ok(report)
}
