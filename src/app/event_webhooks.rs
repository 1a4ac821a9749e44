//! Outbound event webhooks, the application side: the configured subscriptions (resolved
//! at start-up), the admin view of the delivery queue and replays. The lead actors queue
//! the events (`leadline_core::lead_events`, `Store::commit_lead`); the delivery loop and
//! the signing are in `integrations::event_webhooks`.

use super::views::{FubWriteList, WebhookDeliveryList, WebhookDeliveryView, WebhookSubscriptionView};
use super::{App, AppError};
use leadline_core::lead_events::Subscription;
use leadline_core::storage::Queue;
use sha2::{Digest, Sha256};

/// One subscriber, resolved from `webhooks.subscriptions` and the environment.
#[derive(Clone)]
pub struct EventSubscription {
    /// Its id and the event types it wants (what the lead actors need).
    pub core: Subscription,
    pub url: String,
    /// `whsec_...` secrets, validated at start-up; every delivery is signed with each.
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for EventSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSubscription")
            .field("id", &self.core.id)
            .field("url", &self.url)
            .field("events", &self.core.events)
            .field("secrets", &format_args!("<{} set>", self.secrets.len()))
            .finish()
    }
}

/// A subscription's id: the first 12 hex digits of the SHA-256 of its URL, so it stays the
/// same across restarts and reorderings of the configuration (queued deliveries keep it).
pub fn subscription_id(url: &str) -> String {
    let digest = Sha256::digest(url.trim().as_bytes());
    hex::encode(&digest[..6])
}

impl From<&EventSubscription> for WebhookSubscriptionView {
    fn from(s: &EventSubscription) -> Self {
        WebhookSubscriptionView {
            id: s.core.id.clone(),
            url: s.url.clone(),
            events: s.core.events.clone(),
            secrets: s.secrets.len(),
        }
    }
}

/// How many queued deliveries the admin view lists.
const QUEUED_LISTED: usize = 100;

pub fn list(app: &App) -> Result<WebhookDeliveryList, AppError> {
    let queued: Vec<WebhookDeliveryView> = app
        .store
        .webhook_queued(Queue::EventWebhooks, QUEUED_LISTED)?
        .iter()
        .map(|d| WebhookDeliveryView::new(d, "queued"))
        .collect();
    let dead: Vec<WebhookDeliveryView> =
        app.store.webhook_dead(Queue::EventWebhooks)?.iter().map(|d| WebhookDeliveryView::new(d, "dead")).collect();
    Ok(WebhookDeliveryList {
        subscriptions: app.event_subscriptions.iter().map(Into::into).collect(),
        queued_count: app.store.webhook_queued_count(Queue::EventWebhooks),
        queued,
        dead_count: dead.len(),
        dead,
    })
}

/// Puts a dead delivery back in the queue (at its own sequence, attempts reset).
pub async fn replay(app: &App, id: &str) -> Result<(), AppError> {
    match app.store.webhook_replay(Queue::EventWebhooks, id).await? {
        Some(_) => {
            metrics::gauge!("leadline_event_webhooks_dead")
                .set(app.store.webhook_dead_count(Queue::EventWebhooks) as f64);
            tracing::info!(id = %leadline_core::phone::mask(id), "dead webhook delivery replayed by an operator");
            app.webhook_wake.notify_waiters();
            app.webhook_wake.notify_one();
            Ok(())
        }
        None => Err(AppError::NotFound(format!("no dead webhook delivery {id}"))),
    }
}

/// The Follow Up Boss write-back queue (same layout, part `F`).
pub fn list_fub(app: &App, enabled: bool) -> Result<FubWriteList, AppError> {
    let queued: Vec<WebhookDeliveryView> = app
        .store
        .webhook_queued(Queue::FubWrites, QUEUED_LISTED)?
        .iter()
        .map(|d| WebhookDeliveryView::new(d, "queued"))
        .collect();
    let dead: Vec<WebhookDeliveryView> =
        app.store.webhook_dead(Queue::FubWrites)?.iter().map(|d| WebhookDeliveryView::new(d, "dead")).collect();
    Ok(FubWriteList {
        enabled,
        queued_count: app.store.webhook_queued_count(Queue::FubWrites),
        queued,
        dead_count: dead.len(),
        dead,
    })
}

/// Puts a dead Follow Up Boss write back in its queue. A write that died in doubt is read
/// before it is sent again (its `last_error` keeps the mark), so a replay never duplicates.
pub async fn replay_fub(app: &App, id: &str) -> Result<(), AppError> {
    match app.store.webhook_replay(Queue::FubWrites, id).await? {
        Some(_) => {
            metrics::gauge!("leadline_fub_writes_dead").set(app.store.webhook_dead_count(Queue::FubWrites) as f64);
            app.webhook_wake.notify_waiters();
            app.webhook_wake.notify_one();
            Ok(())
        }
        None => Err(AppError::NotFound(format!("no dead Follow Up Boss write {id}"))),
    }
}
