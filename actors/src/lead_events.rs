//! Outbound event webhooks: which events one lead change emits. Pure: derived from the
//! lead before and after the event, the timeline entries the decision appended and its
//! hand-off notifications, so the rule is unit-tested here and the lead actor only numbers
//! the events and writes them in the same storage batch as the change
//! (`storage::Store::commit_lead`, part `E`).

use crate::decide::IN_DOUBT;
use crate::model::{EntryKind, LeadState, LeadStatus, Notification, TimelineEntry};
use crate::phone::Phone;
use crate::ts::Ts;
use serde::{Deserialize, Serialize};

/// The event types a subscription can ask for (`webhooks.subscriptions[].events`).
pub const EVENT_TYPES: [&str; 13] = [
    TEXT_QUEUED,
    TEXT_SENT,
    TEXT_DELIVERED,
    TEXT_FAILED,
    TEXT_BLOCKED,
    TEXT_DEFERRED,
    LEAD_REPLIED,
    LEAD_OPTED_OUT,
    LEAD_OPTED_IN,
    LEAD_HANDED_OFF,
    LEAD_FROZEN,
    DEAD_LETTER_CREATED,
    // Not emitted by leads: the admin API's test ping (`POST /v1/admin/webhooks/test`).
    WEBHOOK_TEST,
];

pub const TEXT_QUEUED: &str = "text.queued";
pub const TEXT_SENT: &str = "text.sent";
pub const TEXT_DELIVERED: &str = "text.delivered";
pub const TEXT_FAILED: &str = "text.failed";
pub const TEXT_BLOCKED: &str = "text.blocked";
pub const TEXT_DEFERRED: &str = "text.deferred";
pub const LEAD_REPLIED: &str = "lead.replied";
pub const LEAD_OPTED_OUT: &str = "lead.opted_out";
pub const LEAD_OPTED_IN: &str = "lead.opted_in";
pub const LEAD_HANDED_OFF: &str = "lead.handed_off";
pub const LEAD_FROZEN: &str = "lead.frozen";
pub const DEAD_LETTER_CREATED: &str = "dead_letter.created";
pub const WEBHOOK_TEST: &str = "webhook.test";

/// One event about one lead, as stored in the delivery queue and sent to subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadEvent {
    /// Unique and stable (the `webhook-id` of every delivery attempt): `evt_<digits>_<sequence>`.
    pub id: String,
    /// One of [`EVENT_TYPES`].
    pub event_type: String,
    pub phone: Phone,
    /// Per lead, starting at 1, increasing by one per event the lead emitted.
    pub sequence: u64,
    pub at: Ts,
    /// The lead's status after the change.
    pub status: LeadStatus,
    /// The text this event is about (text.*, dead_letter.created).
    pub message_id: Option<String>,
    /// The rule that caused it (`provider.accepted`, `opt_out.keyword`, `handoff.reply`, ...).
    pub rule: Option<String>,
    /// What happened, in words (the timeline entry's detail, or the hand-off message).
    pub detail: String,
    /// The lead's agent, when known.
    pub agent: Option<String>,
    /// The timeline entry this event comes from (0: none, e.g. a hand-off).
    pub timeline_seq: u64,
}

/// An event before the lead actor numbered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFact {
    pub event_type: &'static str,
    pub message_id: Option<String>,
    pub rule: Option<String>,
    pub detail: String,
    pub timeline_seq: u64,
}

/// The events one applied decision emits, in the order they happened (the timeline's order;
/// a status change after the entry that caused it; hand-offs last).
pub fn derive(
    prev: &LeadState,
    next: &LeadState,
    entries: &[TimelineEntry],
    notifications: &[Notification],
) -> Vec<EventFact> {
    let mut out = Vec::new();
    let from_entry = |t: &'static str, e: &TimelineEntry| EventFact {
        event_type: t,
        message_id: e.message_id.clone(),
        rule: e.rule.clone(),
        detail: e.detail.clone(),
        timeline_seq: e.seq,
    };
    let opted_out = prev.status != LeadStatus::OptOut && next.status == LeadStatus::OptOut;
    let opted_in = prev.status == LeadStatus::OptOut && next.status != LeadStatus::OptOut;
    let frozen = prev.frozen.is_none() && next.frozen.is_some();
    for e in entries {
        let rule = e.rule.as_deref().unwrap_or("");
        match e.kind {
            EntryKind::TextQueued => out.push(from_entry(TEXT_QUEUED, e)),
            EntryKind::TextBlocked => out.push(from_entry(TEXT_BLOCKED, e)),
            EntryKind::TextDeferred => out.push(from_entry(TEXT_DEFERRED, e)),
            EntryKind::TextSent => out.push(from_entry(TEXT_SENT, e)),
            EntryKind::TextFailed => {
                out.push(from_entry(TEXT_FAILED, e));
                // The gateway wrote a dead letter for these (see `actors::gateway::give_up`).
                if rule == IN_DOUBT || rule.starts_with("provider.") {
                    out.push(from_entry(DEAD_LETTER_CREATED, e));
                }
            }
            EntryKind::Delivery if rule == "delivery.delivered" || rule == "delivery.read" => {
                out.push(from_entry(TEXT_DELIVERED, e))
            }
            EntryKind::Delivery if rule.starts_with("delivery.undelivered") || rule.starts_with("delivery.failed") => {
                out.push(from_entry(TEXT_FAILED, e))
            }
            EntryKind::Event if rule == "event.inbound_text" => out.push(from_entry(LEAD_REPLIED, e)),
            EntryKind::StatusChanged if opted_out && status_change_to(e, LeadStatus::OptOut) => {
                out.push(from_entry(LEAD_OPTED_OUT, e))
            }
            EntryKind::StatusChanged if opted_in && status_change_from(e, LeadStatus::OptOut) => {
                out.push(from_entry(LEAD_OPTED_IN, e))
            }
            EntryKind::Admin if frozen && rule == "admin.freeze" => out.push(from_entry(LEAD_FROZEN, e)),
            _ => {}
        }
    }
    // A status change the timeline did not name (it always does today): still one event.
    let last = entries.last().map_or(0, |e| e.seq);
    let fallback = |t: &'static str, detail: &str| EventFact {
        event_type: t,
        message_id: None,
        rule: None,
        detail: detail.to_string(),
        timeline_seq: last,
    };
    if opted_out && !out.iter().any(|f| f.event_type == LEAD_OPTED_OUT) {
        out.push(fallback(LEAD_OPTED_OUT, "the lead opted out"));
    }
    if opted_in && !out.iter().any(|f| f.event_type == LEAD_OPTED_IN) {
        out.push(fallback(LEAD_OPTED_IN, "the lead opted back in"));
    }
    if frozen && !out.iter().any(|f| f.event_type == LEAD_FROZEN) {
        out.push(fallback(LEAD_FROZEN, "automation frozen"));
    }
    for n in notifications {
        out.push(EventFact {
            event_type: LEAD_HANDED_OFF,
            message_id: None,
            rule: Some(n.reason.clone()),
            detail: n.message.clone(),
            timeline_seq: last,
        });
    }
    out
}

/// `StatusChanged` entries read `FROM -> TO: why` (`decide::Decider::set_status`).
fn status_change_to(e: &TimelineEntry, to: LeadStatus) -> bool {
    e.detail.split(": ").next().is_some_and(|head| head.ends_with(&format!("-> {}", to.as_str())))
}

fn status_change_from(e: &TimelineEntry, from: LeadStatus) -> bool {
    e.detail.starts_with(&format!("{} ->", from.as_str()))
}

/// The id of a lead's event: `evt_<the phone's digits>_<sequence>`; unique, URL-safe.
pub fn event_id(phone: &Phone, sequence: u64) -> String {
    let digits: String = phone.as_str().chars().filter(char::is_ascii_digit).collect();
    format!("evt_{digits}_{sequence}")
}

/// Numbers the facts from `last_sequence + 1` on.
pub fn number(facts: Vec<EventFact>, next: &LeadState, last_sequence: u64, at: Ts) -> Vec<LeadEvent> {
    facts
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let sequence = last_sequence + 1 + i as u64;
            LeadEvent {
                id: event_id(&next.phone, sequence),
                event_type: f.event_type.to_string(),
                phone: next.phone.clone(),
                sequence,
                at,
                status: next.status,
                message_id: f.message_id,
                rule: f.rule,
                detail: f.detail,
                agent: next.agent.clone(),
                timeline_seq: f.timeline_seq,
            }
        })
        .collect()
}

/// Which event types a subscription asked for; `*` is every type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Stable id (derived from the URL by the shell); the delivery queue's key prefix.
    pub id: String,
    pub events: Vec<String>,
}

impl Subscription {
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Freeze;

    fn entry(seq: u64, kind: EntryKind, rule: &str, detail: &str) -> TimelineEntry {
        TimelineEntry {
            seq,
            at: Ts::from_millis(1_700_000_000_000).unwrap(),
            kind,
            rule: Some(rule.into()),
            detail: detail.into(),
            message_id: Some(format!("m{seq}")),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn lead() -> LeadState {
        LeadState::new(Phone::parse("+12125550142").unwrap(), Ts::from_millis(1_700_000_000_000).unwrap())
    }

    fn types(f: &[EventFact]) -> Vec<&'static str> {
        f.iter().map(|f| f.event_type).collect()
    }

    #[test]
    fn text_entries_map_to_text_events_in_timeline_order() {
        let (prev, next) = (lead(), lead());
        let entries = [
            entry(1, EntryKind::Event, "event.lead_captured", "inquiry"),
            entry(2, EntryKind::TextQueued, "first_contact", "q"),
            entry(3, EntryKind::TextBlocked, "consent.missing", "b"),
            entry(4, EntryKind::TextDeferred, "quiet_hours.federal", "d"),
            entry(5, EntryKind::TextSent, "provider.accepted", "s"),
            entry(6, EntryKind::Delivery, "delivery.delivered", "ok"),
            entry(7, EntryKind::Delivery, "delivery.sent", "ignored"),
            entry(8, EntryKind::Delivery, "delivery.undelivered.30003", "unreachable"),
        ];
        let f = derive(&prev, &next, &entries, &[]);
        assert_eq!(types(&f), [TEXT_QUEUED, TEXT_BLOCKED, TEXT_DEFERRED, TEXT_SENT, TEXT_DELIVERED, TEXT_FAILED]);
        assert_eq!(f[0].message_id.as_deref(), Some("m2"));
        assert_eq!(f[0].timeline_seq, 2);
    }

    #[test]
    fn provider_failures_and_in_doubt_sends_are_also_dead_letters_but_gate_cancels_are_not() {
        let (prev, next) = (lead(), lead());
        let entries = [
            entry(1, EntryKind::TextFailed, "provider.21211", "failed"),
            entry(2, EntryKind::TextFailed, IN_DOUBT, "in doubt"),
            entry(3, EntryKind::TextFailed, "opt_out", "cancelled before sending"),
        ];
        let f = derive(&prev, &next, &entries, &[]);
        assert_eq!(types(&f), [TEXT_FAILED, DEAD_LETTER_CREATED, TEXT_FAILED, DEAD_LETTER_CREATED, TEXT_FAILED]);
    }

    #[test]
    fn a_stop_reply_is_a_reply_then_an_opt_out_then_the_confirmation() {
        let prev = lead();
        let mut next = lead();
        next.status = LeadStatus::OptOut;
        let entries = [
            entry(1, EntryKind::Event, "event.inbound_text", "received \"STOP\""),
            entry(2, EntryKind::Event, "opt_out.keyword", "classified OptOut"),
            entry(3, EntryKind::StatusChanged, "opt_out.keyword", "NEW -> OPT_OUT: revoked consent (\"STOP\")"),
            entry(4, EntryKind::TextQueued, "opt_out.confirmation", "q"),
        ];
        let f = derive(&prev, &next, &entries, &[]);
        assert_eq!(types(&f), [LEAD_REPLIED, LEAD_OPTED_OUT, TEXT_QUEUED]);
        assert_eq!(f[1].rule.as_deref(), Some("opt_out.keyword"));
        // Opting back in.
        let f = derive(
            &next,
            &prev,
            &[entry(5, EntryKind::StatusChanged, "opt_in.keyword", "OPT_OUT -> NEW: opted back in")],
            &[],
        );
        assert_eq!(types(&f), [LEAD_OPTED_IN]);
        // Already opted out: no second opt-out event.
        let f = derive(&next, &next, &[entry(6, EntryKind::Event, "opt_out.already", "already")], &[]);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn a_freeze_emits_once_and_a_hand_off_follows_the_entries() {
        let prev = lead();
        let mut next = lead();
        next.frozen = Some(Freeze { reason: None, at: next.created_at });
        let f = derive(&prev, &next, &[entry(1, EntryKind::Admin, "admin.freeze", "frozen")], &[]);
        assert_eq!(types(&f), [LEAD_FROZEN]);
        let f = derive(&next, &next, &[entry(2, EntryKind::Admin, "admin.freeze", "frozen again")], &[]);
        assert!(f.is_empty());
        let n = Notification {
            id: "x".into(),
            phone: next.phone.clone(),
            reason: "handoff.reply".into(),
            message: "The lead replied".into(),
            agent: None,
            at: next.created_at,
        };
        let f = derive(&prev, &prev, &[entry(3, EntryKind::Event, "event.inbound_text", "hi")], &[n]);
        assert_eq!(types(&f), [LEAD_REPLIED, LEAD_HANDED_OFF]);
        assert_eq!(f[1].rule.as_deref(), Some("handoff.reply"));
    }

    #[test]
    fn numbering_continues_the_lead_sequence_with_stable_ids() {
        let next = lead();
        let facts = derive(&next, &next, &[entry(1, EntryKind::TextQueued, "r", "q")], &[]);
        let facts = [facts.clone(), facts].concat();
        let events = number(facts, &next, 41, next.created_at);
        assert_eq!(events.iter().map(|e| e.sequence).collect::<Vec<_>>(), [42, 43]);
        assert_eq!(events[0].id, "evt_12125550142_42");
        let sub = Subscription { id: "s".into(), events: vec!["text.sent".into()] };
        assert!(sub.wants("text.sent") && !sub.wants("text.queued"));
        assert!(Subscription { id: "s".into(), events: vec!["*".into()] }.wants("lead.frozen"));
    }
}
