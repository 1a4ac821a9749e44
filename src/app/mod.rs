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
pub mod expiry;
pub mod fanout;
pub mod leads;
pub mod listings;
pub mod operators;
pub mod search;
pub mod suppress_import;
pub mod views;

pub use error::{AppError, SubmitError};

use crate::config::{Secrets, Settings};
use leadline_core::actors::gateway::GatewayMsg;
use leadline_core::actors::lead::{Applied, LeadMsg};
use leadline_core::actors::supervisor::SupervisorMsg;
use leadline_core::model::Event;
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
    /// Sign-in throttles of the admin page (per account, per IP).
    pub logins: operators::LoginThrottle,
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
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = LeadMsg::Apply { event, dedupe_key, reply: Some(tx.into()) };
        self.supervisor.cast(SupervisorMsg::Route(phone, msg)).map_err(|_| SubmitError::ShuttingDown)?;
        let wait = Duration::from_millis(self.settings.server.event_timeout_ms);
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(Ok(applied))) => Ok(applied),
            Ok(Ok(Err(e))) => Err(SubmitError::NotStored(e.to_string())),
            Ok(Err(_)) => Err(SubmitError::LeadFailed),
            Err(_) => Err(SubmitError::TimedOut),
        }
    }
}
