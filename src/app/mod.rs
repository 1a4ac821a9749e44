//! The application layer: what the shell (HTTP handlers, the CLI, the simulator and the
//! integrations) asks of leadline. It owns the state they share ([`App`]), routes events to
//! lead actors ([`App::submit`]), fans listing changes out, builds compliance exports, and
//! defines the views ([`views`]) that the JSON API returns and the admin page renders.
//!
//! Dependency rule (ARCHITECTURE.md, checked by `tests/layering.rs`): `http`, `cli`,
//! `simulate` and `integrations` use `app`; `app` uses the core crate (`leadline_core`);
//! nothing outside `src/http/` imports `http`.

pub mod backup;
pub mod compact;
pub mod compliance;
pub mod crm;
pub mod dead_letters;
pub mod error;
pub mod event_webhooks;
pub mod expiry;
pub mod fanout;
pub mod leads;
pub mod listings;
pub mod operators;
pub mod search;
pub mod suppress_import;
pub mod views;

pub use error::{AppError, SubmitError};

use crate::cluster::{log::Entry, Cluster, Outcome, SubmitFailed};
use crate::config::{Secrets, Settings};
use leadline_core::actors::gateway::GatewayMsg;
use leadline_core::actors::lead::{Applied, LeadMsg};
use leadline_core::actors::supervisor::SupervisorMsg;
use leadline_core::model::{Event, LeadStatus};
use leadline_core::storage::Store;
use leadline_core::Phone;
use metrics_exporter_prometheus::PrometheusHandle;
use ractor::ActorRef;
use std::sync::Arc;
use std::time::Duration;

/// Shared by every handler, background task and integration (cheap to clone).
#[derive(Clone)]
pub struct App(pub Arc<AppInner>);

pub struct AppInner {
    pub settings: Settings,
    pub secrets: Secrets,
    pub store: Store,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub gateway: ActorRef<GatewayMsg>,
    pub metrics: PrometheusHandle,
    /// The application clock (consent timestamps of web forms, idempotency expiry).
    pub clock: Arc<dyn leadline_core::clock::Clock>,
    /// Cluster mode (`[cluster] enabled`): state changes go through the replicated log.
    pub cluster: Option<Cluster>,
    /// The outbound event webhooks' subscribers (`webhooks.subscriptions`).
    pub event_subscriptions: Arc<Vec<event_webhooks::EventSubscription>>,
    /// Wakes the event webhook delivery loop (a replay).
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// Sign-in throttles of the admin page (per account, per IP).
    pub logins: operators::LoginThrottle,
    /// The admin page's CSV uploads being imported (their progress).
    pub imports: suppress_import::ImportJobs,
}

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    /// Routes an event to its lead and waits until it is durable (or times out, so the
    /// sender retries; idempotency and dedupe keys make that retry harmless).
    pub async fn submit(&self, phone: Phone, event: Event, dedupe_key: Option<String>) -> Result<Applied, SubmitError> {
        if self.cluster.is_some() {
            let entry = Entry::Lead { event, dedupe_key: dedupe_key.clone() };
            return match self.replicate(Some(phone.clone()), entry, dedupe_key).await? {
                Outcome::Lead(Ok(applied)) => Ok(applied),
                Outcome::Lead(Err(e)) => Err(SubmitError::NotStored(e)),
                // A repeat of an event the log already had: acknowledged once, like single-node mode.
                Outcome::Done => {
                    let status = self.store.lead(&phone).ok().flatten().map(|l| l.status).unwrap_or(LeadStatus::New);
                    Ok(Applied { phone, status, duplicate: true, entries: vec![] })
                }
            };
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = LeadMsg::Apply { event, dedupe_key, reply: Some(tx.into()), at: None };
        self.supervisor.cast(SupervisorMsg::Route(phone, msg)).map_err(|_| SubmitError::ShuttingDown)?;
        let wait = Duration::from_millis(self.settings.server.event_timeout_ms);
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(Ok(applied))) => Ok(applied),
            Ok(Ok(Err(e))) => Err(SubmitError::NotStored(e.to_string())),
            Ok(Err(_)) => Err(SubmitError::LeadFailed),
            Err(_) => Err(SubmitError::TimedOut),
        }
    }

    /// Cluster mode: publishes an entry to the log and waits (at most `event_timeout_ms`)
    /// until this node applied it. Not called in single-node mode.
    pub async fn replicate(
        &self,
        phone: Option<Phone>,
        entry: Entry,
        id: Option<String>,
    ) -> Result<Outcome, SubmitError> {
        let Some(cluster) = &self.cluster else {
            return Err(SubmitError::NotStored("cluster mode is off".into()));
        };
        let wait = Duration::from_millis(self.settings.server.event_timeout_ms);
        cluster.submit(phone, entry, id, wait).await.map_err(|e| match e {
            SubmitFailed::Queued => SubmitError::Queued,
            SubmitFailed::Publish(e) => SubmitError::NotStored(e.to_string()),
            SubmitFailed::NotApplied(e) => SubmitError::NotStored(e),
        })
    }
}
