//! One actor per lead: the single writer of that lead's state.

use super::gateway::GatewayMsg;
use super::supervisor::SupervisorMsg;
use super::LeadDeps;
use crate::audit;
use crate::decide::{decide, Decision};
use crate::lead_events;
use crate::model::{EntryKind, Event, LeadState, LeadStatus, Note, Notification, OutboundText, TimelineEntry};
use crate::phone::Phone;
use crate::storage::LeadCommit;
use crate::ts::Ts;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The result of applying an event, returned to whoever is waiting for the acknowledgement.
#[derive(Debug, Clone)]
pub struct Applied {
    pub phone: Phone,
    pub status: LeadStatus,
    /// The event was a re-delivery (same idempotency key) and changed nothing.
    pub duplicate: bool,
    /// Timeline entries this event appended.
    pub entries: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    #[error("the event could not be stored: {0}")]
    Storage(String),
}

pub type ApplyReply = RpcReplyPort<Result<Applied, ApplyError>>;

pub enum LeadMsg {
    /// Apply an event. `dedupe_key` makes re-deliveries harmless; `reply` receives the
    /// acknowledgement once the result is durable. `at` is the event's time when it comes
    /// from the cluster log (every node applies it at the same instant); `None`: now.
    Apply { event: Event, dedupe_key: Option<String>, reply: Option<ApplyReply>, at: Option<Ts> },
    /// Periodic check for passivation. Not activity: it never keeps an actor alive.
    IdleTick,
}

pub struct LeadActor;

pub struct LeadArgs {
    pub phone: Phone,
    pub deps: Arc<LeadDeps>,
    pub supervisor: ActorRef<SupervisorMsg>,
}

pub struct LeadActorState {
    lead: LeadState,
    deps: Arc<LeadDeps>,
    supervisor: ActorRef<SupervisorMsg>,
    last_activity: Instant,
    /// Already asked the supervisor to passivate us.
    asked_to_stop: bool,
    /// The lead's last outbound-event sequence number, read from storage when first needed.
    event_sequence: Option<u64>,
}

impl Actor for LeadActor {
    type Msg = LeadMsg;
    type State = LeadActorState;
    type Arguments = LeadArgs;

    async fn pre_start(&self, me: ActorRef<LeadMsg>, args: LeadArgs) -> Result<LeadActorState, ActorProcessingErr> {
        // A snapshot that cannot be read fails the spawn; the caller sees an error, not a blank lead.
        let lead = match args.deps.store.lead(&args.phone)? {
            Some(lead) => lead,
            None => LeadState::new(args.phone, Ts::from(args.deps.clock.now())),
        };
        let check_every = (args.deps.idle_after / 2).max(Duration::from_millis(10));
        me.send_interval(check_every, || LeadMsg::IdleTick);
        Ok(LeadActorState {
            lead,
            deps: args.deps,
            supervisor: args.supervisor,
            last_activity: Instant::now(),
            asked_to_stop: false,
            event_sequence: None,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<LeadMsg>,
        msg: LeadMsg,
        st: &mut LeadActorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LeadMsg::IdleTick => {
                // Ask, never stop ourselves: the supervisor drains us so nothing queued is lost.
                if !st.asked_to_stop && st.last_activity.elapsed() >= st.deps.idle_after {
                    st.asked_to_stop = true;
                    let _ = st.supervisor.cast(SupervisorMsg::Idle(st.lead.phone.clone(), me.get_id()));
                }
            }
            LeadMsg::Apply { event, dedupe_key, reply, at } => {
                st.last_activity = Instant::now();
                st.asked_to_stop = false;
                let result = apply(st, event, dedupe_key.as_deref(), at).await;
                if let Some(reply) = reply {
                    // The caller may have timed out and gone; that is fine, the event is stored.
                    let _ = reply.send(result);
                }
            }
        }
        Ok(())
    }
}

async fn apply(
    st: &mut LeadActorState,
    event: Event,
    dedupe_key: Option<&str>,
    at: Option<Ts>,
) -> Result<Applied, ApplyError> {
    let deps = &st.deps;
    let store_err = |e: crate::storage::StoreError| ApplyError::Storage(e.to_string());
    if let Some(key) = dedupe_key {
        if deps.store.seen(key).map_err(store_err)? {
            metrics::counter!("leadline_duplicate_events_total", "kind" => event.kind()).increment(1);
            return Ok(Applied {
                phone: st.lead.phone.clone(),
                status: st.lead.status,
                duplicate: true,
                entries: vec![],
            });
        }
    }
    // The suppression list is a fact the shell supplies; the decision core reads it from state.
    st.lead.suppressed = deps.store.suppression(&st.lead.phone).map_err(store_err)?;
    let now = at.unwrap_or_else(|| Ts::from(deps.clock.now()));
    if at.is_some() && st.lead.timeline_len == 0 {
        // A lead first seen in the cluster log: created when its first event was, on every node.
        st.lead.created_at = now;
    }
    let decision = decide(&st.lead, &event, &deps.policy, now);
    if decision.notes.is_empty() && decision.sends.is_empty() {
        // Nothing happened (e.g. a wake-up with nothing due): nothing to persist.
        return Ok(Applied { phone: st.lead.phone.clone(), status: st.lead.status, duplicate: false, entries: vec![] });
    }
    let Decision { state, notes, sends, notifications } = decision;
    let prepared = Prepared::new(&st.lead, state, notes, now);
    // Outbound webhook events: derived from the change, numbered, written in the same batch.
    let events = if deps.subscriptions.is_empty() && deps.fub_writeback.is_none() {
        vec![]
    } else {
        let facts = lead_events::derive(&st.lead, &prepared.next, &prepared.entries, &notifications);
        let last = match st.event_sequence {
            Some(n) => n,
            None => deps.store.event_sequence(&st.lead.phone).map_err(store_err)?,
        };
        lead_events::number(facts, &prepared.next, last, now)
    };
    let mut commit = prepared.commit(&st.lead, &sends, &notifications, dedupe_key);
    commit.events = &events;
    commit.subscriptions = &deps.subscriptions;
    commit.fub = deps.fub_writeback.as_ref();
    deps.store.commit_lead(commit).await.map_err(store_err)?;
    // Durable from here on: update memory, then let texts go (the output gate).
    let Prepared { next, entries, .. } = prepared;
    st.lead = next;
    if let Some(last) = events.last() {
        st.event_sequence = Some(last.sequence);
        // Two tasks wait on it (event webhooks, FUB write-back): wake both, and leave a
        // permit for one that is busy right now.
        deps.webhook_wake.notify_waiters();
        deps.webhook_wake.notify_one();
    }
    if !notifications.is_empty() {
        deps.notify.notify_one();
    }
    record_metrics(&event, &entries);
    for text in sends {
        if let Err(e) = deps.gateway.cast(GatewayMsg::Send(text)) {
            // The outbox holds the text as Queued; start-up recovery hands it over again.
            tracing::error!(error = %e, "gateway unavailable; text stays queued in the outbox");
        }
    }
    Ok(Applied { phone: st.lead.phone.clone(), status: st.lead.status, duplicate: false, entries })
}

/// What applying a decision writes: the next state with its timeline head advanced over the
/// new entries, the chained entries, the lead's next wake-up and the listings it newly
/// watches. One place for this rule: the lead actor and the load harness's bulk fill use it.
pub struct Prepared {
    pub next: LeadState,
    pub entries: Vec<TimelineEntry>,
    pub wake_at: Option<Ts>,
    pub new_interests: Vec<String>,
}

impl Prepared {
    /// `prev` is the lead before the event, `state` and `notes` what `decide` returned.
    pub fn new(prev: &LeadState, state: LeadState, notes: Vec<Note>, now: Ts) -> Prepared {
        let entries = audit::chain(prev.timeline_len, prev.timeline_head.clone(), now, notes);
        let mut next = state;
        if let Some(last) = entries.last() {
            next.timeline_len = last.seq;
            next.timeline_head = last.hash.clone();
        }
        let wake_at = next.next_wake_at();
        let new_interests = next.interests.iter().filter(|l| !prev.interests.contains(l)).cloned().collect();
        Prepared { next, entries, wake_at, new_interests }
    }

    /// The storage commit: this, the decision's texts and notifications, the event's dedupe
    /// key, and a suppression the decision added (`prev` is the lead before the event, with
    /// the suppression list as stored).
    pub fn commit<'a>(
        &'a self,
        prev: &LeadState,
        sends: &'a [OutboundText],
        notifications: &'a [Notification],
        dedupe_key: Option<&'a str>,
    ) -> LeadCommit<'a> {
        LeadCommit {
            state: &self.next,
            entries: &self.entries,
            sends,
            dedupe_key,
            wake_at: self.wake_at,
            new_interests: &self.new_interests,
            notifications,
            suppress: self.next.suppressed.as_ref().filter(|_| prev.suppressed.is_none()),
            events: &[],
            subscriptions: &[],
            fub: None,
        }
    }
}

/// Lead sources that get their own `source` label on `leadline_events_total`: the built-in
/// adapters (`realtor`, `zillow`, `webform`, `followupboss`) and `website`, the generic
/// lead's documented example. Any other caller-supplied source is `other`, so a caller
/// cannot add series.
pub const KNOWN_LEAD_SOURCES: [&str; 5] = ["realtor", "zillow", "webform", "website", "followupboss"];

/// A lead's `source` as a metric label: one of `KNOWN_LEAD_SOURCES` (any case), else `other`.
pub fn lead_source_label(source: &str) -> &'static str {
    KNOWN_LEAD_SOURCES.iter().find(|known| known.eq_ignore_ascii_case(source.trim())).copied().unwrap_or("other")
}

fn record_metrics(event: &Event, entries: &[TimelineEntry]) {
    let source = match event {
        Event::LeadCaptured(c) => lead_source_label(&c.source),
        Event::InboundText { .. } | Event::DeliveryReceipt { .. } => "twilio",
        Event::CrmChanged { .. } | Event::InterestAdded { .. } => "crm",
        Event::ListingChanged(_) => "mls",
        Event::Freeze { .. }
        | Event::Unfreeze
        | Event::AdminOptOut { .. }
        | Event::ByOperator { .. }
        | Event::ManualReply(_)
        | Event::OperatorAction { .. } => "admin",
        Event::Wake | Event::SendOutcome { .. } => "internal",
        Event::RevocationFound { .. } => "rescan",
    };
    metrics::counter!("leadline_events_total", "kind" => event.kind(), "source" => source).increment(1);
    for e in entries {
        let outcome = match e.kind {
            EntryKind::TextQueued => "queued",
            EntryKind::TextBlocked => "blocked",
            EntryKind::TextDeferred => "deferred",
            _ => continue,
        };
        let rule = e.rule.clone().unwrap_or_default();
        metrics::counter!("leadline_decisions_total", "outcome" => outcome, "rule" => rule).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::lead_source_label;

    #[test]
    fn caller_supplied_sources_outside_the_known_ones_are_other() {
        assert_eq!(lead_source_label("zillow"), "zillow");
        assert_eq!(lead_source_label(" Realtor "), "realtor");
        assert_eq!(lead_source_label("followupboss"), "followupboss");
        assert_eq!(lead_source_label("load-probe"), "other");
        assert_eq!(lead_source_label(""), "other");
        assert_eq!(lead_source_label(&"x".repeat(500)), "other");
    }
}
