//! The imperative shell: ractor actors around the pure decision core.
//!
//! - [`supervisor::LeadSupervisor`] owns the phone -> lead-actor map, spawns lead actors on
//!   their first message and forgets them when they stop or fail (the next message
//!   re-activates them from their snapshot).
//! - [`lead::LeadActor`] (one per phone) applies `decide`, persists, acknowledges, then asks
//!   the gateway to send.
//! - [`gateway::Gateway`] is the only thing that talks to the SMS provider.

pub mod gateway;
pub mod lead;
pub mod link;
pub mod pacer;
pub mod scheduler;
pub mod supervisor;

use crate::clock::Clock;
use crate::policy::Policy;
use crate::storage::Store;
use std::sync::Arc;

/// What every lead actor needs; shared read-only.
pub struct LeadDeps {
    pub store: Store,
    pub policy: Arc<Policy>,
    pub clock: Arc<dyn Clock>,
    pub gateway: ractor::ActorRef<gateway::GatewayMsg>,
    /// Woken after a commit that wrote hand-off notifications (the shell delivers them).
    pub notify: Arc<tokio::sync::Notify>,
    /// The outbound event webhooks' subscriptions (empty: no events are derived or stored).
    pub subscriptions: Arc<Vec<crate::lead_events::Subscription>>,
    /// The Follow Up Boss write-back, when on: the event types it logs (queued in part `F`).
    pub fub_writeback: Option<crate::lead_events::Subscription>,
    /// Woken after a commit that queued outbound webhook events (or FUB writes).
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// A lead actor with no activity for this long stops (passivation); its next message
    /// re-activates it from its snapshot.
    pub idle_after: std::time::Duration,
}
