//! Outbound event webhooks: delivers the lead events queued in storage (part `E`, written
//! in the same batch as the lead change that emitted them) to each subscriber, signed per
//! Standard Webhooks ([`standard_webhooks::signature_header`]: `webhook-id` = the event id,
//! `webhook-timestamp` = the send time, `webhook-signature` = one `v1,` entry per secret).
//!
//! At least once, in order per lead and subscription: only a lead's oldest queued event is
//! attempted; it leaves the queue (durably) once the subscriber answered 2xx, and only then
//! is the next one sent. A failed attempt (network error, timeout, non-2xx) is retried with
//! the shared backoff ([`crate::integrations::retry`]: `webhooks.delivery.retry_base_ms`
//! doubling, full jitter, at least `Retry-After`, at most `max_backoff_secs`); after
//! `max_attempts` it becomes a dead delivery (admin API: list, replay) and the lead's next
//! event goes. Leads are independent: one lead's failing event never holds back another's.
//! After a restart or a `kill -9` the queue is where the last durable write left it, so an
//! event whose 2xx was not yet recorded is sent again (the subscriber de-duplicates by
//! `webhook-id`).

use crate::app::event_webhooks::{subscription_id, EventSubscription};
use crate::app::views::{EventWebhookData, EventWebhookPayload, WebhookTestReport, WebhookTestResult};
use crate::config::Settings;
use crate::integrations::retry::{self, Backoff};
use crate::integrations::standard_webhooks::{self, WebhookKey};
use leadline_core::lead_events::{Subscription, WEBHOOK_TEST};
use leadline_core::model::LeadStatus;
use leadline_core::storage::{Queue, Store, WebhookQueueHead};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// Resolves `webhooks.subscriptions`: ids, secrets (from `secret` or the variable named by
/// `secret_env`, read through `env`), each secret parsed as a Standard Webhooks secret. An
/// error names the subscription by URL, never a secret.
pub fn resolve(settings: &Settings, env: impl Fn(&str) -> Option<String>) -> Result<Vec<EventSubscription>, String> {
    settings
        .webhooks
        .subscriptions
        .iter()
        .map(|s| {
            let secrets = s.secrets(&env)?;
            if secrets.is_empty() {
                return Err(format!("webhooks.subscriptions ({}): no secret", s.url));
            }
            for (i, secret) in secrets.iter().enumerate() {
                WebhookKey::parse(secret).map_err(|e| {
                    format!(
                        "webhooks.subscriptions ({}): secret {} of {} is not a Standard Webhooks secret: {e} \
                         (expected whsec_<base64 of a random key of 24 to 64 bytes>)",
                        s.url,
                        i + 1,
                        secrets.len()
                    )
                })?;
            }
            Ok(EventSubscription {
                core: Subscription { id: subscription_id(&s.url), events: s.events.clone() },
                url: s.url.trim().to_string(),
                secrets,
            })
        })
        .collect()
}

fn keys(sub: &EventSubscription) -> Vec<WebhookKey> {
    // Validated by `resolve` at start-up.
    sub.secrets.iter().filter_map(|s| WebhookKey::parse(s).ok()).collect()
}

/// Why an attempt did not deliver.
struct NotDelivered {
    error: String,
    retry_after: Option<Duration>,
}

/// POSTs one signed message; `Ok(status)` on a 2xx.
async fn post(
    http: &reqwest::Client,
    sub: &EventSubscription,
    keys: &[WebhookKey],
    id: &str,
    body: &str,
) -> Result<u16, (Option<u16>, NotDelivered)> {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = standard_webhooks::signature_header(keys, id, timestamp, body.as_bytes());
    let sent = http
        .post(&sub.url)
        .header("content-type", "application/json")
        .header(standard_webhooks::ID_HEADER, id)
        .header(standard_webhooks::TIMESTAMP_HEADER, timestamp.to_string())
        .header(standard_webhooks::SIGNATURE_HEADER, signature)
        .header("user-agent", concat!("leadline/", env!("CARGO_PKG_VERSION")))
        .body(body.to_string())
        .send()
        .await;
    match sent {
        Ok(res) if res.status().is_success() => Ok(res.status().as_u16()),
        Ok(res) => {
            let status = res.status().as_u16();
            let retry_after = retry::retry_after(res.headers());
            Err((Some(status), NotDelivered { error: format!("HTTP {status}"), retry_after }))
        }
        Err(e) => {
            let error = if e.is_timeout() { "timeout".to_string() } else { format!("unreachable: {e}") };
            Err((None, NotDelivered { error, retry_after: None }))
        }
    }
}

/// The delivery loop (one task).
pub struct Deliverer {
    pub store: Store,
    pub subscriptions: Arc<Vec<EventSubscription>>,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub wake: Arc<Notify>,
    /// Cluster mode: only the gateway lease holder delivers (its queue changes are shared
    /// writes, so the next holder continues where it stopped).
    pub cluster: Option<crate::cluster::Cluster>,
}

/// How often the queue gauge is refreshed (it scans the queue).
const GAUGE_EVERY: Duration = Duration::from_secs(5);

/// Leads whose head is attempted at once, per subscription.
const HEADS_PER_ROUND: usize = 64;

impl Deliverer {
    pub fn new(
        store: Store,
        settings: &Settings,
        subscriptions: Arc<Vec<EventSubscription>>,
        wake: Arc<Notify>,
    ) -> Self {
        let d = &settings.webhooks.delivery;
        Deliverer {
            store,
            subscriptions,
            timeout: Duration::from_millis(d.timeout_ms),
            max_attempts: d.max_attempts,
            backoff: Backoff::new(Duration::from_millis(d.retry_base_ms), Duration::from_secs(d.max_backoff_secs)),
            wake,
            cluster: None,
        }
    }

    /// Runs until `stop` changes. With no subscriptions it only waits.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let http = match reqwest::Client::builder().timeout(self.timeout).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "event webhook delivery cannot start");
                return;
            }
        };
        let keys: Vec<Vec<WebhookKey>> = self.subscriptions.iter().map(keys).collect();
        // Per (subscription, lead): when its head may be tried again.
        let mut not_before: HashMap<(usize, String), Instant> = HashMap::new();
        // The queue gauge counts the whole queue (a scan): at most every few seconds.
        let mut gauge_at = Instant::now().checked_sub(GAUGE_EVERY).unwrap_or_else(Instant::now);
        loop {
            if gauge_at.elapsed() >= GAUGE_EVERY {
                gauge_at = Instant::now();
                metrics::gauge!("leadline_event_webhooks_queued")
                    .set(self.store.webhook_queued_count(Queue::EventWebhooks) as f64);
                metrics::gauge!("leadline_event_webhooks_dead")
                    .set(self.store.webhook_dead_count(Queue::EventWebhooks) as f64);
                not_before.retain(|_, at| *at > gauge_at);
            }
            let standby = self.cluster.as_ref().is_some_and(|c| !c.is_leader());
            let progressed = if self.subscriptions.is_empty() || standby {
                false
            } else {
                self.round(&http, &keys, &mut not_before).await
            };
            if progressed {
                if *stop.borrow() {
                    return;
                }
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One attempt at the head of every lead that is not waiting for a retry; true if any
    /// delivery left the queue (so the next heads are ready at once).
    async fn round(
        &self,
        http: &reqwest::Client,
        keys: &[Vec<WebhookKey>],
        not_before: &mut HashMap<(usize, String), Instant>,
    ) -> bool {
        let mut tasks = tokio::task::JoinSet::new();
        let now = Instant::now();
        let mut queued = 0usize;
        for (i, sub) in self.subscriptions.iter().enumerate() {
            let waiting = |d: &leadline_core::storage::WebhookDelivery| {
                not_before.get(&(i, d.event.phone.as_str().to_string())).is_some_and(|at| *at > now)
            };
            let heads =
                self.store
                    .webhook_queue_heads_where(Queue::EventWebhooks, &sub.core.id, HEADS_PER_ROUND, |d| !waiting(d));
            let heads = match heads {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the event webhook queue");
                    continue;
                }
            };
            for head in heads {
                let lead = (i, head.delivery.event.phone.as_str().to_string());
                queued += 1;
                let (http, sub, keys) = (http.clone(), sub.clone(), keys[i].clone());
                tasks.spawn(async move {
                    let payload = EventWebhookPayload::from(&head.delivery.event);
                    let body = serde_json::to_string(&payload).unwrap_or_default();
                    let result = post(&http, &sub, &keys, &head.delivery.event.id, &body).await;
                    (lead, head, result.map_err(|(_, e)| e))
                });
            }
        }
        if queued == 0 {
            return false;
        }
        let mut progressed = false;
        while let Some(joined) = tasks.join_next().await {
            let Ok((lead, head, result)) = joined else { continue };
            progressed |= self.record(lead, head, result, not_before).await;
        }
        progressed
    }

    /// Stores what an attempt did; true if the delivery left the queue.
    async fn record(
        &self,
        lead: (usize, String),
        head: WebhookQueueHead,
        result: Result<u16, NotDelivered>,
        not_before: &mut HashMap<(usize, String), Instant>,
    ) -> bool {
        let WebhookQueueHead { key, mut delivery } = head;
        let event_type = delivery.event.event_type.clone();
        match result {
            Ok(_) => {
                if let Err(e) = self.store.webhook_delivered(Queue::EventWebhooks, &key).await {
                    tracing::error!(error = %e, "cannot record a delivered event webhook; it will be sent again");
                    return false;
                }
                not_before.remove(&lead);
                metrics::counter!("leadline_event_webhooks_delivered_total", "type" => event_type).increment(1);
                true
            }
            Err(failed) => {
                delivery.attempts += 1;
                delivery.last_error = failed.error.clone();
                delivery.last_attempt_at = Some(leadline_core::Ts::from(chrono::Utc::now()));
                metrics::counter!("leadline_event_webhooks_failures_total").increment(1);
                if delivery.attempts >= self.max_attempts {
                    tracing::warn!(subscription = %delivery.subscription, phone = %delivery.event.phone.masked(), sequence = delivery.event.sequence, attempts = delivery.attempts, error = %failed.error, "event webhook delivery given up (dead); the lead's next events go on");
                    if let Err(e) = self.store.webhook_give_up(Queue::EventWebhooks, &key, &delivery).await {
                        tracing::error!(error = %e, "cannot record a dead event webhook delivery");
                        return false;
                    }
                    not_before.remove(&lead);
                    metrics::counter!("leadline_event_webhooks_dead_total").increment(1);
                    metrics::gauge!("leadline_event_webhooks_dead")
                        .set(self.store.webhook_dead_count(Queue::EventWebhooks) as f64);
                    return true;
                }
                tracing::debug!(subscription = %delivery.subscription, phone = %delivery.event.phone.masked(), sequence = delivery.event.sequence, attempts = delivery.attempts, error = %failed.error, "event webhook refused; will retry");
                if let Err(e) = self.store.webhook_attempt_failed(Queue::EventWebhooks, &key, &delivery).await {
                    tracing::error!(error = %e, "cannot record a failed event webhook attempt");
                }
                let wait = self.backoff.delay(delivery.attempts, failed.retry_after);
                not_before.insert(lead, Instant::now() + wait);
                false
            }
        }
    }
}

/// `POST /v1/admin/webhooks/test`: sends a `webhook.test` event now (not queued, not
/// retried) to the subscription `only` (an id), or to every subscription; reports each answer.
pub async fn test_ping(
    subscriptions: &[EventSubscription],
    only: Option<&str>,
    timeout: Duration,
) -> Result<WebhookTestReport, String> {
    let http = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
    let now = chrono::Utc::now();
    let id = format!("evt_test_{}", now.timestamp_millis());
    let payload = EventWebhookPayload {
        event_type: WEBHOOK_TEST.into(),
        timestamp: leadline_core::Ts::from(now),
        data: EventWebhookData {
            id: id.clone(),
            sequence: 0,
            phone: leadline_core::Phone::parse("+12125550100").map_err(|e| e.to_string())?,
            status: LeadStatus::New,
            message_id: None,
            rule: None,
            detail: "a test event from POST /v1/admin/webhooks/test (the phone is an example)".into(),
            agent: None,
        },
    };
    let body = serde_json::to_string(&payload).map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for sub in subscriptions.iter().filter(|s| only.is_none_or(|id| s.core.id == id)) {
        let result = post(&http, sub, &keys(sub), &id, &body).await;
        let (delivered, status, error) = match result {
            Ok(status) => (true, Some(status), None),
            Err((status, e)) => (false, status, Some(e.error)),
        };
        results.push(WebhookTestResult {
            subscription: sub.core.id.clone(),
            url: sub.url.clone(),
            delivered,
            status,
            error,
        });
    }
    Ok(WebhookTestReport { results })
}
