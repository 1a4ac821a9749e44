//! `leadline compliance rescan`: re-reads every stored reply with the current revocation
//! classifier and opts out each lead whose earlier reply is a revocation under it.
//!
//! Run it after an upgrade that changes the classifier (docs/upgrading.md). Only replies
//! since the lead last opted back in (START, or renewed consent) count: an opt-in after a
//! revocation ends it. Such leads get no confirmation text: the one confirmation the FCC
//! allows must go within 5 minutes of the revocation (47 CFR 64.1200(a)(12)).

use leadline_core::actors::lead::Prepared;
use leadline_core::classify::{classify, Intent, CLASSIFIER_VERSION};
use leadline_core::decide::{decide, Decision, INBOUND_PREFIX};
use leadline_core::model::{ConsentChange, Event, LeadState, TimelineEntry};
use leadline_core::policy::Policy;
use leadline_core::storage::Store;
use leadline_core::Ts;

/// A lead the rescan opts out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub lead: LeadState,
    /// The timeline entry holding the reply.
    pub seq: u64,
    pub reply: String,
    pub rule: &'static str,
}

/// The first reply since the lead's last opt-in that the classifier reads as a revocation.
pub fn revocation_in(lead: &LeadState, timeline: &[TimelineEntry], policy: &Policy) -> Option<Finding> {
    if lead.opted_out() {
        return None;
    }
    let opted_in_at = lead
        .consent_history
        .iter()
        .filter_map(|c| match c {
            ConsentChange::Reinstated { at, .. } => Some(*at),
            _ => None,
        })
        .max();
    timeline
        .iter()
        .filter(|e| e.rule.as_deref() == Some("event.inbound_text"))
        .filter(|e| opted_in_at.is_none_or(|t| e.at > t))
        .filter_map(|e| {
            let reply = e.detail.strip_prefix(INBOUND_PREFIX)?.strip_suffix('"')?;
            let c = classify(reply, false, &policy.classifier);
            (c.intent == Intent::OptOut).then(|| Finding {
                lead: lead.clone(),
                seq: e.seq,
                reply: reply.into(),
                rule: c.rule,
            })
        })
        .next()
}

/// Every lead that the rescan would opt out, in phone order.
pub fn scan(store: &Store, policy: &Policy) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    for phone in store.lead_phones().map_err(|e| e.to_string())? {
        let Some(lead) = store.lead(&phone).map_err(|e| e.to_string())? else { continue };
        if lead.opted_out() {
            continue;
        }
        let timeline = store.timeline(&phone, 0, usize::MAX).map_err(|e| e.to_string())?;
        out.extend(revocation_in(&lead, &timeline, policy));
    }
    Ok(out)
}

/// Where the opt-outs a rescan applies are reported: the outbound event webhook
/// subscriptions and the Follow Up Boss write-back (queued with the change, delivered by the
/// next `serve`), as the lead actor does.
#[derive(Default)]
pub struct Outbound {
    pub subscriptions: Vec<leadline_core::lead_events::Subscription>,
    pub fub: Option<leadline_core::lead_events::Subscription>,
}

/// The finding as the lead's event, with its dedupe key (a re-run finds the same key).
pub fn event_of(f: &Finding) -> (Event, String) {
    let event =
        Event::RevocationFound { reply: f.reply.clone(), rule: f.rule.into(), classifier: CLASSIFIER_VERSION.into() };
    (event, format!("rescan:{}:{}:v{CLASSIFIER_VERSION}", f.lead.phone, f.seq))
}

/// Opts the lead out as the lead actor would (decide, chain, one commit with its outbound
/// events). A re-run finds the lead opted out and does nothing.
pub async fn apply(store: &Store, policy: &Policy, f: &Finding, now: Ts, outbound: &Outbound) -> Result<(), String> {
    let mut lead = f.lead.clone();
    lead.suppressed = store.suppression(&lead.phone).map_err(|e| e.to_string())?;
    let (event, key) = event_of(f);
    let Decision { state, notes, sends, notifications } = decide(&lead, &event, policy, now);
    let prepared = Prepared::new(&lead, state, notes, now);
    let events = if outbound.subscriptions.is_empty() && outbound.fub.is_none() {
        vec![]
    } else {
        let facts = leadline_core::lead_events::derive(&lead, &prepared.next, &prepared.entries, &notifications);
        let last = store.event_sequence(&lead.phone).map_err(|e| e.to_string())?;
        leadline_core::lead_events::number(facts, &prepared.next, last, now)
    };
    let mut commit = prepared.commit(&lead, &sends, &notifications, Some(&key));
    commit.events = &events;
    commit.subscriptions = &outbound.subscriptions;
    commit.fub = outbound.fub.as_ref();
    store.commit_lead(commit).await.map_err(|e| e.to_string())
}
