//! Delivers hand-off notifications (a lead replied; an ambiguous opt-out to review) to the
//! brokerage's webhook. Notifications are written to sled with the lead's snapshot, so none
//! is lost on a crash; this task POSTs each one (signed with `X-Leadline-Signature` when
//! `LEADLINE_WEBHOOK_SECRET` is set), deletes it on a 2xx, and retries the others with the
//! shared backoff ([`crate::integrations::retry`]: from 1 s, doubling, full jitter, at least
//! the receiver's `Retry-After`, at most 10 minutes). With no webhook configured they stay on
//! the timeline only.

use crate::config::HandoffSettings;
use crate::integrations::retry::{self, Backoff};
use crate::integrations::signature;
use leadline_core::model::Notification;
use leadline_core::storage::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

pub struct Notifier {
    pub store: Store,
    pub settings: HandoffSettings,
    pub secret: Option<String>,
    pub wake: Arc<Notify>,
    /// Cluster mode: only the gateway lease holder delivers, and a delivery is recorded in
    /// the log so every node drops the notification.
    pub cluster: Option<crate::cluster::Cluster>,
}

/// The retry rule of a notification the webhook did not take.
const BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(600));

/// Why a POST did not deliver: the receiver's `Retry-After`, if it sent one.
struct NotDelivered {
    retry_after: Option<Duration>,
}

impl Notifier {
    /// Runs until `stop` changes.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let http = match reqwest::Client::builder().timeout(Duration::from_millis(self.settings.timeout_ms)).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "hand-off notifier cannot start");
                return;
            }
        };
        // Per notification: failed attempts so far and when to try again.
        let mut retry: HashMap<String, (u32, Instant)> = HashMap::new();
        loop {
            self.deliver_due(&http, &mut retry).await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    async fn deliver_due(&self, http: &reqwest::Client, retry: &mut HashMap<String, (u32, Instant)>) {
        if self.cluster.as_ref().is_some_and(|c| !c.is_leader()) {
            return;
        }
        let pending = match self.store.undelivered_notifications(100) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read notifications");
                return;
            }
        };
        metrics::gauge!("leadline_handoff_pending").set(pending.len() as f64);
        for n in pending {
            if retry.get(&n.id).is_some_and(|(_, at)| *at > Instant::now()) {
                continue;
            }
            let delivered = if self.settings.webhook_url.trim().is_empty() {
                tracing::info!(phone = %n.phone.masked(), reason = %n.reason, "hand-off (no webhook configured; see the timeline)");
                Ok(())
            } else {
                self.post(http, &n).await
            };
            match delivered {
                Ok(()) => {
                    if let Some(cluster) = &self.cluster {
                        let entry = crate::cluster::log::Entry::NotificationDelivered { id: n.id.clone() };
                        if let Err(e) = cluster.record(Some(n.phone.clone()), entry).await {
                            tracing::error!(error = %e, "cannot record a delivered notification in the cluster log");
                        }
                    } else if let Err(e) = self.store.remove_notification(&n.id).await {
                        tracing::error!(error = %e, "cannot remove a delivered notification");
                    }
                    retry.remove(&n.id);
                    metrics::counter!("leadline_handoff_delivered_total").increment(1);
                }
                Err(failed) => {
                    let failures = retry.get(&n.id).map_or(0, |(f, _)| *f) + 1;
                    let wait = BACKOFF.delay(failures, failed.retry_after);
                    retry.insert(n.id.clone(), (failures, Instant::now() + wait));
                    metrics::counter!("leadline_handoff_failures_total").increment(1);
                }
            }
        }
    }

    async fn post(&self, http: &reqwest::Client, n: &Notification) -> Result<(), NotDelivered> {
        let body = serde_json::json!({
            "id": n.id, "phone": n.phone, "reason": n.reason, "message": n.message, "agent": n.agent, "at": n.at,
        })
        .to_string();
        let mut req = http.post(self.settings.webhook_url.trim()).header("content-type", "application/json");
        if let Some(secret) = &self.secret {
            req = req.header("X-Leadline-Signature", signature::leadline_signature(body.as_bytes(), secret));
        }
        match req.body(body).send().await {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => {
                tracing::warn!(status = %res.status(), id = %leadline_core::phone::mask(&n.id), "hand-off webhook refused; will retry");
                Err(NotDelivered { retry_after: retry::retry_after(res.headers()) })
            }
            Err(e) => {
                tracing::warn!(error = %e, id = %leadline_core::phone::mask(&n.id), "hand-off webhook unreachable; will retry");
                Err(NotDelivered { retry_after: None })
            }
        }
    }
}
