//! The pure decision core: `decide(state, event, policy, now) -> Decision`.
//!
//! No I/O and no clock: given the same inputs it always gives the same answer, which is
//! what lets the compliance rules be tested exhaustively. Actors persist what it returns
//! and hand its texts to the gateway. Every rule that blocks or defers a text lives in
//! [`gate`], so the gateway can ask the very same question again just before sending.

use crate::classify::{classify, Intent};
use crate::model::*;
use crate::policy::{Policy, TemplateVars};
use crate::ts::Ts;
use sha2::{Digest, Sha256};

/// What to persist and do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub state: LeadState,
    /// Timeline entries to append, in order.
    pub notes: Vec<Note>,
    /// Texts to hand to the gateway (after the state is persisted).
    pub sends: Vec<OutboundText>,
}

/// The verdict of the compliance gate for one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Allow,
    Block {
        rule: String,
        reason: String,
    },
    Defer {
        until: Ts,
        rule: String,
        reason: String,
    },
}

/// Consent older than this no longer counts (configurable later; 18 months by default).
pub const CONSENT_MAX_AGE_DAYS: i64 = 548;

/// Lead sources' clocks drift; a grant this far in the future still counts.
pub const CONSENT_CLOCK_SKEW_MINUTES: i64 = 5;

/// May a text of this kind go to this lead now? The one place every send rule lives.
pub fn gate(state: &LeadState, kind: TextKind, _policy: &Policy, now: Ts) -> Gate {
    let block = |rule: &str, reason: String| Gate::Block {
        rule: rule.into(),
        reason,
    };
    if kind == TextKind::OptOutConfirmation {
        // The decision core only ever asks for one, right after the opt-out.
        return Gate::Allow;
    }
    if state.opted_out() {
        return block(
            "opt_out",
            "the lead opted out; nothing but the one confirmation may be sent".into(),
        );
    }
    if state.status == LeadStatus::Undeliverable {
        return block("undeliverable", "the number cannot receive texts".into());
    }
    if !kind.is_automated() {
        return Gate::Allow;
    }
    if let Some(f) = &state.frozen {
        let why = f.reason.as_deref().unwrap_or("no reason given");
        return block(
            "frozen",
            format!("automation is frozen by an operator ({why})"),
        );
    }
    let Some(consent) = state.current_consent() else {
        return block(
            "consent.missing",
            "no consent record; automated texts need prior express written consent".into(),
        );
    };
    let (Some(granted_at), Some(_)) = (
        consent.granted_at,
        consent
            .source_url
            .as_deref()
            .filter(|u| !u.trim().is_empty()),
    ) else {
        return block(
            "consent.incomplete",
            "the consent record lacks a timestamp or a source URL".into(),
        );
    };
    if granted_at.0 > now.0 + chrono::Duration::minutes(CONSENT_CLOCK_SKEW_MINUTES) {
        return block(
            "consent.future",
            format!("consent is dated in the future ({granted_at})"),
        );
    }
    if now.0 - granted_at.0 > chrono::Duration::days(CONSENT_MAX_AGE_DAYS) {
        return block(
            "consent.expired",
            format!("consent from {granted_at} is older than {CONSENT_MAX_AGE_DAYS} days"),
        );
    }
    if state.status == LeadStatus::Engaged {
        return block(
            "handoff.engaged",
            "the lead replied; a person handles the conversation now".into(),
        );
    }
    Gate::Allow
}

/// Applies one event to a lead.
pub fn decide(state: &LeadState, event: &Event, policy: &Policy, now: Ts) -> Decision {
    let mut d = Draft {
        state: state.clone(),
        notes: Vec::new(),
        sends: Vec::new(),
        policy,
        now,
    };
    match event {
        Event::LeadCaptured(capture) => d.lead_captured(capture),
        Event::InboundText { body, .. } => d.inbound(body),
        Event::Freeze { reason } => d.freeze(reason.clone()),
        Event::Unfreeze => d.unfreeze(),
        Event::SendOutcome {
            message_id,
            kind,
            result,
        } => d.send_outcome(message_id, *kind, result),
    }
    d.state.updated_at = now;
    Decision {
        state: d.state,
        notes: d.notes,
        sends: d.sends,
    }
}

struct Draft<'a> {
    state: LeadState,
    notes: Vec<Note>,
    sends: Vec<OutboundText>,
    policy: &'a Policy,
    now: Ts,
}

impl Draft<'_> {
    fn note(&mut self, kind: EntryKind, rule: Option<&str>, detail: String) {
        self.notes.push(Note {
            kind,
            rule: rule.map(str::to_string),
            detail,
            message_id: None,
        });
    }

    fn set_status(&mut self, to: LeadStatus, rule: &str, why: &str) {
        let from = self.state.status;
        if from != to {
            self.state.status = to;
            self.note(
                EntryKind::StatusChanged,
                Some(rule),
                format!("{} -> {}: {why}", from.as_str(), to.as_str()),
            );
        }
    }

    /// Runs the gate and, if allowed, renders and queues the text.
    fn text(&mut self, kind: TextKind, template: &str, rule: &str) {
        match gate(&self.state, kind, self.policy, self.now) {
            Gate::Allow => {}
            Gate::Block {
                rule: why_rule,
                reason,
            } => {
                self.note(
                    EntryKind::TextBlocked,
                    Some(&why_rule),
                    format!("{} not sent: {reason}", kind.as_str()),
                );
                return;
            }
            Gate::Defer {
                until,
                rule: why_rule,
                reason,
            } => {
                // Deferral is wired in by the compliance engine; until then nothing defers.
                self.note(
                    EntryKind::TextDeferred,
                    Some(&why_rule),
                    format!("{} deferred to {until}: {reason}", kind.as_str()),
                );
                return;
            }
        }
        let vars = TemplateVars {
            brand: &self.policy.brand,
            support: &self.policy.support,
            first_name: self.state.profile.first_name.as_deref(),
            property: self.state.last_property.as_deref(),
        };
        let body = match self.policy.render(template, &vars) {
            Ok(body) => body,
            Err(e) => {
                self.note(
                    EntryKind::TextBlocked,
                    Some("template.error"),
                    format!("{} not sent: {e}", kind.as_str()),
                );
                return;
            }
        };
        let id = format!("{}#{}", self.state.phone, self.state.next_message_seq);
        self.state.next_message_seq += 1;
        if kind == TextKind::FirstContact {
            self.set_status(LeadStatus::ContactedSms, rule, "first text queued");
        }
        if kind.is_automated() {
            self.state.last_contacted_at = Some(self.now);
            self.state.recent_sends.push(self.now);
            let horizon = self.now.0 - chrono::Duration::hours(24);
            self.state.recent_sends.retain(|t| t.0 > horizon);
        }
        self.notes.push(Note {
            kind: EntryKind::TextQueued,
            rule: Some(rule.into()),
            detail: format!("{}: {body}", kind.as_str()),
            message_id: Some(id.clone()),
        });
        self.sends.push(OutboundText {
            id,
            to: self.state.phone.clone(),
            kind,
            body,
            rule: rule.into(),
            created_at: self.now,
        });
    }

    fn lead_captured(&mut self, c: &LeadCapture) {
        let id = c
            .source_lead_id
            .as_deref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
        let msg = c
            .message
            .as_deref()
            .map(|m| format!(": \"{m}\""))
            .unwrap_or_default();
        self.note(
            EntryKind::Event,
            Some("event.lead_captured"),
            format!("inquiry from {}{id}{msg}", c.source),
        );

        let p = &mut self.state.profile;
        p.source = Some(c.source.clone());
        merge(&mut p.source_lead_id, &c.source_lead_id);
        merge(&mut p.first_name, &c.first_name);
        merge(&mut p.last_name, &c.last_name);
        merge(&mut p.email, &c.email);
        merge(&mut p.address_state, &c.address_state);
        if let Some(listing) = &c.listing {
            if let Some(lid) = &listing.id {
                if !self.state.interests.contains(lid) {
                    self.state.interests.push(lid.clone());
                }
                self.state.last_listing_id = Some(lid.clone());
            }
            if let Some(label) = listing.address.clone().or_else(|| listing.id.clone()) {
                self.state.last_property = Some(label);
            }
        }
        if let Some(input) = &c.consent {
            self.record_consent(input, &c.source);
        }

        if self.state.status == LeadStatus::New && self.state.last_contacted_at.is_none() {
            self.text(
                TextKind::FirstContact,
                "first_contact",
                "sequence.first_contact",
            );
        } else {
            self.note(
                EntryKind::Event,
                Some("sequence.already_contacted"),
                format!("lead is {}; no new first text", self.state.status.as_str()),
            );
        }
    }

    fn record_consent(&mut self, input: &ConsentInput, source: &str) {
        let record = ConsentRecord {
            granted_at: input.granted_at,
            source_url: input.source_url.clone(),
            disclosure_sha256: input
                .disclosure
                .as_ref()
                .map(|d| hex::encode(Sha256::digest(d.as_bytes()))),
            disclosure: input.disclosure.clone(),
            ip: input.ip.clone(),
            user_agent: input.user_agent.clone(),
            seller: input.seller.clone(),
            captured_from: Some(source.to_string()),
            recorded_at: self.now,
        };
        let same_as_current = self.state.current_consent().is_some_and(|c| {
            c.granted_at == record.granted_at
                && c.source_url == record.source_url
                && c.disclosure == record.disclosure
        });
        if same_as_current {
            return;
        }
        let at = record
            .granted_at
            .map(|t| t.to_string())
            .unwrap_or_else(|| "no timestamp".into());
        let url = record
            .source_url
            .clone()
            .unwrap_or_else(|| "no source URL".into());
        self.state
            .consent_history
            .push(ConsentChange::Granted(record));
        self.note(
            EntryKind::ConsentChanged,
            Some("consent.granted"),
            format!("consent recorded: {at}, {url}"),
        );
    }

    fn inbound(&mut self, body: &str) {
        self.note(
            EntryKind::Event,
            Some("event.inbound_text"),
            format!("lead wrote: \"{body}\""),
        );
        self.state.last_inbound_at = Some(self.now);
        let c = classify(body, self.state.opted_out(), &self.policy.classifier);
        let matched = c.matched.clone().unwrap_or_default();
        match c.intent {
            Intent::OptOut if self.state.opted_out() => {
                self.note(
                    EntryKind::Event,
                    Some("opt_out.already"),
                    "already opted out; no second confirmation".into(),
                );
            }
            Intent::OptOut => {
                let review = if c.ambiguous {
                    "; not a standard keyword, an agent should review"
                } else {
                    ""
                };
                self.state.consent_history.push(ConsentChange::Revoked {
                    at: self.now,
                    rule: c.rule.into(),
                    evidence: body.into(),
                });
                self.set_status(
                    LeadStatus::OptOut,
                    c.rule,
                    &format!("revoked consent (\"{matched}\"){review}"),
                );
                self.cancel_pending("opt_out");
                self.text(
                    TextKind::OptOutConfirmation,
                    "opt_out_confirmation",
                    "opt_out.confirmation",
                );
            }
            Intent::OptIn if self.state.opted_out() => {
                self.state.consent_history.push(ConsentChange::Reinstated {
                    at: self.now,
                    rule: c.rule.into(),
                    evidence: body.into(),
                });
                let back = if self.state.last_contacted_at.is_some() {
                    LeadStatus::ContactedSms
                } else {
                    LeadStatus::New
                };
                self.set_status(back, c.rule, &format!("opted back in (\"{matched}\")"));
                self.text(
                    TextKind::OptInConfirmation,
                    "opt_in_confirmation",
                    "opt_in.confirmation",
                );
            }
            Intent::OptIn => {
                self.note(
                    EntryKind::Event,
                    Some("opt_in.already"),
                    "already subscribed; nothing to do".into(),
                );
            }
            Intent::Help => self.text(TextKind::Help, "help", "help.keyword"),
            Intent::Reply if self.state.opted_out() => {
                self.note(
                    EntryKind::Event,
                    Some("reply.while_opted_out"),
                    "reply recorded; the lead stays opted out until START".into(),
                );
            }
            Intent::Reply => {
                self.set_status(
                    LeadStatus::Engaged,
                    "handoff.reply",
                    "the lead replied; automation paused for a person",
                );
            }
        }
    }

    fn cancel_pending(&mut self, rule: &str) {
        for p in std::mem::take(&mut self.state.pending) {
            self.notes.push(Note {
                kind: EntryKind::TextBlocked,
                rule: Some(rule.into()),
                detail: format!("deferred {} cancelled", p.text.kind.as_str()),
                message_id: Some(p.text.id),
            });
        }
    }

    fn freeze(&mut self, reason: Option<String>) {
        let why = reason.clone().unwrap_or_else(|| "no reason given".into());
        self.state.frozen = Some(Freeze {
            reason,
            at: self.now,
        });
        self.note(
            EntryKind::Admin,
            Some("admin.freeze"),
            format!("automation frozen: {why}"),
        );
    }

    fn unfreeze(&mut self) {
        if self.state.frozen.take().is_some() {
            self.note(
                EntryKind::Admin,
                Some("admin.unfreeze"),
                "automation resumed".into(),
            );
        } else {
            self.note(
                EntryKind::Admin,
                Some("admin.unfreeze"),
                "was not frozen; nothing to do".into(),
            );
        }
    }

    fn send_outcome(&mut self, id: &str, kind: TextKind, result: &SendResult) {
        let note = |entry: EntryKind, rule: String, detail: String| Note {
            kind: entry,
            rule: Some(rule),
            detail,
            message_id: Some(id.to_string()),
        };
        match result {
            SendResult::Accepted {
                provider_id,
                status,
            } => {
                let n = note(
                    EntryKind::TextSent,
                    "provider.accepted".into(),
                    format!("{} accepted as {provider_id} ({status})", kind.as_str()),
                );
                self.notes.push(n);
            }
            SendResult::Cancelled { rule, reason } => {
                let n = note(
                    EntryKind::TextFailed,
                    rule.clone(),
                    format!("{} cancelled before sending: {reason}", kind.as_str()),
                );
                self.notes.push(n);
            }
            SendResult::Failed {
                code,
                message,
                permanent,
            } => {
                let rule = code
                    .map(|c| format!("provider.{c}"))
                    .unwrap_or_else(|| "provider.error".into());
                let final_word = if *permanent {
                    "permanently"
                } else {
                    "after retries"
                };
                let n = note(
                    EntryKind::TextFailed,
                    rule.clone(),
                    format!("{} failed {final_word}: {message}", kind.as_str()),
                );
                self.notes.push(n);
                match code {
                    Some(21211) | Some(21614) => self.set_status(
                        LeadStatus::Undeliverable,
                        &rule,
                        "the provider says the number cannot receive texts",
                    ),
                    Some(21610) if !self.state.opted_out() => {
                        self.state.consent_history.push(ConsentChange::Revoked {
                            at: self.now,
                            rule: rule.clone(),
                            evidence: message.clone(),
                        });
                        self.set_status(
                            LeadStatus::OptOut,
                            &rule,
                            "the carrier reports the lead replied STOP",
                        );
                        self.cancel_pending("opt_out");
                    }
                    _ => {}
                }
            }
        }
    }
}

fn merge(into: &mut Option<String>, from: &Option<String>) {
    if let Some(v) = from.as_ref().filter(|v| !v.trim().is_empty()) {
        *into = Some(v.clone());
    }
}
