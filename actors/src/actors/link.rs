//! The seam between the actors and a replicated log (cluster mode). Single-node mode has no
//! link: the gateway and the scheduler talk to the local supervisor and store directly. In
//! cluster mode (the service's `cluster` module) every node applies every entry of the log
//! in the same order, so what the gateway records and reports must go through the log too,
//! and only the node holding the gateway lease sends.

use crate::model::{Event, OutboundText};
use crate::phone::Phone;
use crate::storage::{DeadLetter, OutboxStatus};

#[async_trait::async_trait]
pub trait ClusterLink: Send + Sync {
    /// Publishes an event for a lead; true once the log has it (replicated). `dedupe_key`
    /// also de-duplicates a second publication of the same fact (e.g. by another node).
    async fn publish(&self, phone: &Phone, event: Event, dedupe_key: String) -> bool;

    /// This node holds the gateway lease now (judged on its own monotonic clock).
    fn leading(&self) -> bool;

    /// This node owns the lead's partition now: it fires the lead's timers.
    fn owns(&self, phone: &Phone) -> bool;

    /// Waits (bounded) until this node has applied every entry published for the lead so
    /// far. The sequence of the lead's last entry, a fence for [`ClusterLink::record`]; `None`
    /// when the node is not caught up in time or no longer leads.
    async fn catch_up(&self, phone: &Phone) -> Option<u64>;

    /// Records an outbox change (with its dead letter) in the log; true once replicated.
    /// With a `fence`, only if nothing was published for the lead since that sequence and
    /// this node still leads: the write before a provider call.
    async fn record(
        &self,
        text: &OutboundText,
        status: &OutboxStatus,
        dead_letter: Option<&DeadLetter>,
        fence: Option<u64>,
    ) -> bool;
}
