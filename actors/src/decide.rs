//! The pure decision core: `decide(state, event, policy, now) -> Decision`.
//!
//! No I/O and no clock: given the same inputs it always gives the same answer, which is
//! what lets the compliance rules be tested exhaustively. Actors persist what it returns
//! and hand its texts to the gateway. Every rule that blocks or defers a text lives in
//! [`gate`], so the gateway can ask the very same question again just before sending.

use crate::classify::{classify, Intent, CLASSIFIER_VERSION};
use crate::consent;
use crate::model::*;
use crate::policy::{money, OverCap, Policy, TemplateError, TemplateVars};
use crate::provider::{ReceiptFailure, SendFailure};
use crate::quiet_hours::{cap_per_24h, check_window, Recipient, WindowCheck};
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
    /// Things a person should hear about (persisted with the state, delivered by the shell).
    pub notifications: Vec<Notification>,
}

/// The verdict of the compliance gate for one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Allow,
    Block { rule: String, reason: String },
    Defer { until: Ts, rule: String, reason: String },
}

/// Lead sources' clocks drift; a grant this far in the future still counts.
pub const CONSENT_CLOCK_SKEW_MINUTES: i64 = 5;

/// When the gate runs: at decision time every rule applies; just before sending (the
/// gateway's defence-in-depth check) the rolling cap is skipped, because the text being
/// sent was already counted when it was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Decide,
    Send,
}

/// May a text of this kind go to this lead now? The one place every send rule lives,
/// in the order they are checked.
pub fn gate(state: &LeadState, kind: TextKind, policy: &Policy, now: Ts, stage: Stage) -> Gate {
    let block = |rule: &str, reason: String| Gate::Block { rule: rule.into(), reason };
    // A number outside the allowed countries, or a non-geographic one, gets nothing at all.
    if let Err(b) = crate::numbers::texting_check(&state.phone, &policy.compliance.allowed_countries) {
        return block(b.rule, b.reason);
    }
    if kind == TextKind::OptOutConfirmation {
        // The decision core only ever asks for one, right after the opt-out.
        return Gate::Allow;
    }
    if state.opted_out() {
        return block("opt_out", "the lead opted out; nothing but the one confirmation may be sent".into());
    }
    if state.status == LeadStatus::Undeliverable {
        return block("undeliverable", "the number cannot receive texts".into());
    }
    if kind == TextKind::ManualReply {
        return manual_gate(state, policy, now);
    }
    if !kind.is_automated() {
        // HELP replies and the opt-in confirmation answer the lead; exempt from the rest.
        return Gate::Allow;
    }
    if let Some(f) = &state.frozen {
        let why = f.reason.as_deref().unwrap_or("no reason given");
        return block("frozen", format!("automation is frozen by an operator ({why})"));
    }
    if let Some(s) = &state.suppressed {
        let why = s.reason.as_deref().unwrap_or("no reason given");
        return block(&format!("suppression.{}", s.list), format!("the number is on the {} list ({why})", s.list));
    }
    if let Some(g) = consent_gate(state, policy, now) {
        return g;
    }
    if state.status == LeadStatus::Engaged {
        return block("handoff.engaged", "the lead replied; a person handles the conversation now".into());
    }
    if let Some(crm) = state.crm_status.as_deref() {
        if policy.crm.halts_all(crm) {
            return block("crm.halt_all", format!("CRM status '{crm}' halts all automated texts"));
        }
        if kind == TextKind::FollowUp && policy.crm.halts_followups(crm) {
            return block("crm.halt_followups", format!("CRM status '{crm}' halts follow-ups"));
        }
    }
    let c = &policy.compliance;
    let recipient = Recipient { e164: state.phone.as_str(), address_state: state.profile.address_state.as_deref() };
    if let WindowCheck::DeferUntil { until, rule, reason } =
        check_window(&c.quiet_hours, &c.blackouts, &recipient, now.0)
    {
        return Gate::Defer { until: Ts::from(until), rule, reason };
    }
    if stage == Stage::Decide {
        if let Some(g) = cap_gate(state, policy, &recipient, now) {
            return g;
        }
    }
    Gate::Allow
}

/// How recently the lead must have written for a person's reply to need no consent record
/// (a reply to someone who just texted you is a conversation, not marketing).
pub const MANUAL_REPLY_WINDOW_HOURS: i64 = 24;
/// How recently the lead must have written for a person's reply to go out in quiet hours
/// (they are awake and waiting for the answer).
pub const MANUAL_REPLY_QUIET_HOURS_EXEMPT_MINUTES: i64 = 60;

/// The rule of a person's reply blocked for want of consent and a recent message.
pub const RULE_MANUAL_NO_CONSENT: &str = "manual.no_consent";

/// A person's one-to-one reply (`TextKind::ManualReply`), after the opt-out and
/// undeliverable checks every text gets (`gate`): never to a suppressed number; needs a
/// current consent or a message from the lead in the last 24 hours; allowed on a frozen
/// lead (a freeze stops automation, not people) and after the hand-off; deferred by quiet
/// hours unless the lead wrote within the last hour; no automated-text caps (a person
/// answering is not a campaign). docs/console.md says why.
pub fn manual_gate(state: &LeadState, policy: &Policy, now: Ts) -> Gate {
    if let Some(s) = &state.suppressed {
        let why = s.reason.as_deref().unwrap_or("no reason given");
        return Gate::Block {
            rule: format!("suppression.{}", s.list),
            reason: format!("the number is on the {} list ({why})", s.list),
        };
    }
    let wrote_within = |window: chrono::Duration| {
        state.last_inbound_at.is_some_and(|t| t.0 <= now.0 + chrono::Duration::minutes(5) && now.0 - t.0 <= window)
    };
    if !wrote_within(chrono::Duration::hours(MANUAL_REPLY_WINDOW_HOURS)) {
        if let Some(Gate::Block { rule, reason }) = consent_gate(state, policy, now) {
            return Gate::Block {
                rule: RULE_MANUAL_NO_CONSENT.into(),
                reason: format!(
                    "no message from the lead in the last {MANUAL_REPLY_WINDOW_HOURS} hours and no current consent ({rule}: {reason})"
                ),
            };
        }
    }
    if !wrote_within(chrono::Duration::minutes(MANUAL_REPLY_QUIET_HOURS_EXEMPT_MINUTES)) {
        let c = &policy.compliance;
        let recipient = Recipient { e164: state.phone.as_str(), address_state: state.profile.address_state.as_deref() };
        if let WindowCheck::DeferUntil { until, rule, reason } =
            check_window(&c.quiet_hours, &c.blackouts, &recipient, now.0)
        {
            return Gate::Defer { until: Ts::from(until), rule, reason };
        }
    }
    Gate::Allow
}

/// Automated texts need a current grant that names this seller and carries the required
/// evidence (or a source policy the brokerage still declares), not in the future and not
/// older than the configured age.
fn consent_gate(state: &LeadState, policy: &Policy, now: Ts) -> Option<Gate> {
    let block = |rule: &str, reason: String| Some(Gate::Block { rule: rule.into(), reason });
    let Some(grant) = state.current_grant() else {
        return block(
            consent::RULE_MISSING,
            "no consent record; automated texts need prior express written consent".into(),
        );
    };
    if grant.declared {
        let source = grant.record.captured_from.as_deref().unwrap_or("");
        if policy.compliance.sources.declared(source).is_none() {
            return block(
                consent::RULE_DECLARATION_WITHDRAWN,
                format!("consent was declared by the policy of source '{source}', which is no longer declared"),
            );
        }
    }
    if let Err(r) = consent::check_grant(grant.record, grant.declared, &policy.compliance.consent, &policy.seller_names)
    {
        return block(r.rule, r.reason);
    }
    let Some(granted_at) = grant.record.granted_at else {
        return block(consent::RULE_INCOMPLETE, "the consent record lacks granted_at".into());
    };
    if granted_at.0 > now.0 + chrono::Duration::minutes(CONSENT_CLOCK_SKEW_MINUTES) {
        return block("consent.future", format!("consent is dated in the future ({granted_at})"));
    }
    let max_age = policy.compliance.consent_max_age_days;
    if now.0 - granted_at.0 > chrono::Duration::days(max_age) {
        return block("consent.expired", format!("consent from {granted_at} is older than {max_age} days"));
    }
    None
}

/// At most N automated texts per rolling 24 hours (the strictest of the global and state caps).
fn cap_gate(state: &LeadState, policy: &Policy, recipient: &Recipient, now: Ts) -> Option<Gate> {
    let c = &policy.compliance;
    let (cap, rule) = match cap_per_24h(&c.quiet_hours, recipient) {
        Some((state_cap, rule)) if state_cap < c.max_automated_per_24h => (state_cap, rule),
        _ => (c.max_automated_per_24h, "cap.daily".to_string()),
    };
    let horizon = now.0 - chrono::Duration::hours(24);
    let mut recent: Vec<Ts> = state.recent_sends.iter().copied().filter(|t| t.0 > horizon).collect();
    if (recent.len() as u64) < u64::from(cap) {
        return None;
    }
    recent.sort();
    let reason = format!("{} automated texts in the last 24 hours (cap {cap})", recent.len());
    match c.over_cap {
        OverCap::Drop => Some(Gate::Block { rule, reason }),
        OverCap::Defer => {
            // The moment enough of the window's texts have aged out.
            let idx = recent.len() - cap as usize;
            let until = Ts::from(recent[idx].0 + chrono::Duration::hours(24) + chrono::Duration::seconds(1));
            Some(Gate::Defer { until, rule, reason })
        }
    }
}

/// Applies one event to a lead.
pub fn decide(state: &LeadState, event: &Event, policy: &Policy, now: Ts) -> Decision {
    let mut d =
        Draft { state: state.clone(), notes: Vec::new(), sends: Vec::new(), notifications: Vec::new(), policy, now };
    d.apply(event);
    d.state.updated_at = now;
    Decision { state: d.state, notes: d.notes, sends: d.sends, notifications: d.notifications }
}

impl Draft<'_> {
    fn apply(&mut self, event: &Event) {
        let d = self;
        match event {
            Event::LeadCaptured(capture) => d.lead_captured(capture),
            Event::InboundText { body, .. } => d.inbound(body),
            Event::Freeze { reason } => d.freeze(reason.clone()),
            Event::Unfreeze => d.unfreeze(),
            Event::AdminOptOut { reason, send_confirmation } => d.admin_opt_out(reason.as_deref(), *send_confirmation),
            Event::Wake => d.release_due(),
            Event::CrmChanged { status, agent, source } => d.crm_changed(status, agent.as_deref(), source.as_deref()),
            Event::ListingChanged(change) => d.listing_changed(change),
            Event::InterestAdded { listing_id, address, how } => d.interest_added(listing_id, address.as_deref(), how),
            Event::DeliveryReceipt { message_id, provider_id, status, error_code, failure } => {
                d.delivery_receipt(message_id, provider_id, status, *error_code, *failure)
            }
            Event::SendOutcome { message_id, kind, result } => d.send_outcome(message_id, *kind, result),
            Event::RevocationFound { reply, rule, classifier } => d.revocation_found(reply, rule, classifier),
            Event::ByOperator { operator, command } => {
                let first = d.notes.len();
                d.apply(command);
                // Every entry the command caused names who gave it.
                for n in &mut d.notes[first..] {
                    n.detail = format!("{} (by operator {operator})", n.detail);
                }
            }
            Event::ManualReply(reply) => d.manual_reply(reply),
            Event::OperatorAction { rule, detail } => d.note(EntryKind::Admin, Some(rule), detail.clone()),
        }
    }
}

struct Draft<'a> {
    state: LeadState,
    notes: Vec<Note>,
    sends: Vec<OutboundText>,
    notifications: Vec<Notification>,
    policy: &'a Policy,
    now: Ts,
}

impl Draft<'_> {
    fn note(&mut self, kind: EntryKind, rule: Option<&str>, detail: String) {
        self.notes.push(Note { kind, rule: rule.map(str::to_string), detail, message_id: None });
    }

    /// Changes status. OPT_OUT is only ever left through an opt-in (`leave_opt_out`): a
    /// delivery failure, a reply or a CRM change must not make an opted-out lead textable.
    fn set_status(&mut self, to: LeadStatus, rule: &str, why: &str) {
        let from = self.state.status;
        if from == LeadStatus::OptOut && to != LeadStatus::OptOut {
            let detail = format!("stays OPT_OUT (not {}): {why}", to.as_str());
            self.note(EntryKind::Event, Some("opt_out.sticky"), detail);
            return;
        }
        self.change_status(to, rule, why);
    }

    /// The opt-in path: the only way out of OPT_OUT.
    fn leave_opt_out(&mut self, to: LeadStatus, rule: &str, why: &str) {
        self.change_status(to, rule, why);
    }

    fn change_status(&mut self, to: LeadStatus, rule: &str, why: &str) {
        let from = self.state.status;
        if from != to {
            self.state.status = to;
            self.note(EntryKind::StatusChanged, Some(rule), format!("{} -> {}: {why}", from.as_str(), to.as_str()));
        }
    }

    /// Renders a text and runs it through the gate: queued, deferred or blocked.
    fn text(&mut self, kind: TextKind, template: &str, rule: &str) {
        self.text_with(kind, template, rule, TemplateVars::default());
    }

    /// As `text`, with listing variables (prices, status) filled in by the caller.
    fn text_with(&mut self, kind: TextKind, template: &str, rule: &str, extra: TemplateVars<'_>) {
        // The caller's values (e.g. the listing an alert is about) win over the lead's own.
        let vars = TemplateVars {
            brand: &self.policy.brand,
            support: &self.policy.support,
            first_name: extra.first_name.or(self.state.profile.first_name.as_deref()),
            agent: extra.agent.or(self.state.agent.as_deref()),
            property: extra.property.or(self.state.last_property.as_deref()),
            ..extra
        };
        let max = self.policy.delivery.max_segments as usize;
        let fitted = match fit(self.policy, template, &vars, max) {
            Ok(Some(fitted)) => fitted,
            Ok(None) => {
                let detail = format!("no {} text: templates.{template} is empty (trigger disabled)", kind.as_str());
                self.note(EntryKind::Event, Some("template.disabled"), detail);
                return;
            }
            Err(e) => {
                self.note(EntryKind::TextBlocked, Some("template.error"), format!("{} not sent: {e}", kind.as_str()));
                return;
            }
        };
        let id = format!("{}#{}", self.state.phone, self.state.next_message_seq);
        self.state.next_message_seq += 1;
        let body = match fitted {
            Fitted::Fits { body, shortened: None } => body,
            Fitted::Fits { body, shortened: Some(how) } => {
                self.notes.push(Note {
                    kind: EntryKind::Event,
                    rule: Some(TEXT_SHORTENED.into()),
                    detail: format!("{} over delivery.max_segments = {max}: {how}", kind.as_str()),
                    message_id: Some(id.clone()),
                });
                body
            }
            Fitted::TooLong { full, shortest } => {
                let over = format!(
                    "renders to {full} SMS segments ({shortest} with the lead's name left out and the property shortened), over delivery.max_segments = {max}"
                );
                // The opt-out confirmation renders from brand and support only and was checked
                // against the limit at start-up, so with a valid configuration this cannot
                // happen. If it does, the lead still hears that the opt-out took effect: a
                // minimal confirmation replaces the configured one rather than nothing at all.
                let fallback = format!("{}: you are unsubscribed.", self.policy.brand);
                if kind == TextKind::OptOutConfirmation && crate::segments::count(&fallback).segments <= max {
                    self.notes.push(Note {
                        kind: EntryKind::Event,
                        rule: Some(TEXT_TOO_LONG.into()),
                        detail: format!("{} {over}; the minimal confirmation is sent instead", kind.as_str()),
                        message_id: Some(id.clone()),
                    });
                    fallback
                } else {
                    self.notes.push(Note {
                        kind: EntryKind::TextBlocked,
                        rule: Some(TEXT_TOO_LONG.into()),
                        detail: format!("{} not sent: {over}", kind.as_str()),
                        message_id: Some(id),
                    });
                    if kind == TextKind::OptOutConfirmation {
                        self.notify(
                            TEXT_TOO_LONG,
                            format!(
                                "The opt-out confirmation could not be sent: it {over}. Check brand and templates."
                            ),
                        );
                    }
                    return;
                }
            }
        };
        let text =
            OutboundText { id, to: self.state.phone.clone(), kind, body, rule: rule.into(), created_at: self.now };
        self.offer(text);
    }

    /// Gates a rendered text now: queue it, park it until its moment, or drop it.
    fn offer(&mut self, text: OutboundText) {
        let kind = text.kind;
        match gate(&self.state, kind, self.policy, self.now, Stage::Decide) {
            Gate::Allow => self.queue(text),
            Gate::Block { rule, reason } => self.notes.push(Note {
                kind: EntryKind::TextBlocked,
                rule: Some(rule),
                detail: format!("{} not sent: {reason}", kind.as_str()),
                message_id: Some(text.id),
            }),
            Gate::Defer { until, rule, reason } => self.defer(text, until, rule, reason),
        }
    }

    fn defer(&mut self, text: OutboundText, until: Ts, rule: String, reason: String) {
        self.notes.push(Note {
            kind: EntryKind::TextDeferred,
            rule: Some(rule.clone()),
            detail: format!("{} deferred to {until}: {reason}", text.kind.as_str()),
            message_id: Some(text.id.clone()),
        });
        self.state.pending.push(PendingText { text, not_before: until, rule });
    }

    fn queue(&mut self, text: OutboundText) {
        if text.kind == TextKind::FirstContact {
            self.set_status(LeadStatus::ContactedSms, &text.rule, "first text queued");
            self.schedule_follow_up(0, self.now);
        }
        if text.kind.is_automated() {
            // Counted against the rolling cap when decided; "last contacted" waits for the
            // provider to accept it (`send_outcome`).
            let horizon = self.now.0 - chrono::Duration::hours(24);
            self.state.recent_sends.retain(|t| t.0 > horizon);
            self.state.recent_sends.push(self.now);
        }
        self.notes.push(Note {
            kind: EntryKind::TextQueued,
            rule: Some(text.rule.clone()),
            detail: {
                let seg = crate::segments::count(&text.body);
                let enc = match seg.encoding {
                    crate::segments::Encoding::Gsm7 => "GSM-7",
                    crate::segments::Encoding::Ucs2 => "UCS-2",
                };
                format!(
                    "{} ({} segment{}, {enc}): {}",
                    text.kind.as_str(),
                    seg.segments,
                    if seg.segments == 1 { "" } else { "s" },
                    text.body
                )
            },
            message_id: Some(text.id.clone()),
        });
        self.sends.push(text);
    }

    /// A durable timer fired: every pending text that is due goes through the gate again
    /// (an opt-out, a freeze or a reply in between means it is not sent), and so does the
    /// follow-up step that is due, unless a freeze pauses the sequence.
    fn release_due(&mut self) {
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.state.pending).into_iter().partition(|p| p.not_before <= self.now);
        self.state.pending = later;
        for p in due {
            self.offer(p.text);
        }
        // A freeze pauses the sequence: its step waits for the unfreeze, which re-plans it.
        if let Some(f) = self.state.active_follow_up().filter(|f| f.due <= self.now).cloned() {
            self.state.follow_up = None;
            let rule = format!("sequence.follow_up.{}", f.step + 1);
            self.text(TextKind::FollowUp, &crate::policy::follow_up_template(f.step as usize), &rule);
            self.schedule_follow_up(f.step + 1, f.started_at);
        }
    }

    /// Schedules step `step` of the follow-up sequence (if there is one).
    fn schedule_follow_up(&mut self, step: u32, started_at: Ts) {
        if let Some(delay) = self.policy.follow_ups.get(step as usize) {
            let due = Ts::from(started_at.0 + *delay);
            self.state.follow_up = Some(FollowUpDue { step, due, started_at });
        }
    }

    /// A reply, an opt-out, a CRM halt or a first text that was never sent ends the
    /// sequence (a freeze only pauses it: `freeze`, `unfreeze`).
    fn cancel_follow_up(&mut self, rule: &str, why: &str) {
        if let Some(f) = self.state.follow_up.take() {
            self.note(
                EntryKind::Event,
                Some(rule),
                format!("follow-up step {} (due {}) cancelled: {why}", f.step + 1, f.due),
            );
        }
    }

    /// Tells a person (the hand-off webhook) something they should act on.
    fn notify(&mut self, reason: &str, message: String) {
        let id = format!("{}!{}-{}", self.state.phone, self.state.timeline_len + 1, self.notifications.len());
        self.notifications.push(Notification {
            id,
            phone: self.state.phone.clone(),
            reason: reason.into(),
            message,
            agent: self.state.agent.clone(),
            at: self.now,
        });
    }

    fn lead_captured(&mut self, c: &LeadCapture) {
        let id = c.source_lead_id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
        let msg = c.message.as_deref().map(|m| format!(": \"{m}\"")).unwrap_or_default();
        self.note(EntryKind::Event, Some("event.lead_captured"), format!("inquiry from {}{id}{msg}", c.source));

        // The same lead id from the same source again: a portal re-posting an inquiry.
        let reposted = c.source_lead_id.is_some()
            && self.state.profile.source.as_deref() == Some(c.source.as_str())
            && self.state.profile.source_lead_id == c.source_lead_id;
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
            self.record_consent(input, &c.source, reposted);
        } else if self.state.current_consent().is_none() && !self.state.opted_out() {
            self.declare_consent(c);
        }

        let first_text_pending = self.state.pending.iter().any(|p| p.text.kind == TextKind::FirstContact);
        if first_text_pending {
            self.note(
                EntryKind::Event,
                Some("sequence.first_contact_pending"),
                "first text already waiting for its moment".into(),
            );
        } else if self.state.status == LeadStatus::New && self.state.last_contacted_at.is_none() {
            // A source-specific first text if the brokerage configured one.
            let by_source = crate::policy::first_contact_template(&c.source);
            let template = if self.policy.has_template(&by_source) { by_source } else { "first_contact".to_string() };
            self.text(TextKind::FirstContact, &template, "sequence.first_contact");
        } else {
            self.note(
                EntryKind::Event,
                Some("sequence.already_contacted"),
                format!("lead is {}; no new first text", self.state.status.as_str()),
            );
        }
    }

    fn record_consent(&mut self, input: &ConsentInput, source: &str, reposted_lead: bool) {
        let record = ConsentRecord {
            granted_at: input.granted_at,
            source_url: input.source_url.clone(),
            disclosure_sha256: input.disclosure.as_ref().map(|d| hex::encode(Sha256::digest(d.as_bytes()))),
            disclosure: input.disclosure.clone(),
            ip: input.ip.clone(),
            user_agent: input.user_agent.clone(),
            seller: input.seller.clone(),
            captured_from: Some(source.to_string()),
            recorded_at: self.now,
        };
        let same_as_current = self.state.current_consent().is_some_and(|c| {
            c.granted_at == record.granted_at && c.source_url == record.source_url && c.disclosure == record.disclosure
        });
        if same_as_current {
            return;
        }
        // A portal re-posting the lead brings an earlier grant again: that is no new consent.
        let reposted = reposted_lead
            || self.state.consent_history.iter().any(|c| match c {
                ConsentChange::Granted(r) => {
                    r.granted_at == record.granted_at
                        && r.source_url == record.source_url
                        && r.disclosure == record.disclosure
                }
                _ => false,
            });
        let at = record.granted_at.map(|t| t.to_string()).unwrap_or_else(|| "no timestamp".into());
        let url = record.source_url.clone().unwrap_or_else(|| "no source URL".into());
        let renews = if reposted { None } else { self.renews_after_opt_out(&record) };
        self.state.consent_history.push(ConsentChange::Granted(record));
        self.note(EntryKind::ConsentChanged, Some("consent.granted"), format!("consent recorded: {at}, {url}"));
        if let Some(evidence) = renews {
            self.state.consent_history.push(ConsentChange::Reinstated {
                at: self.now,
                rule: consent::RULE_RENEWED.into(),
                evidence: evidence.clone(),
            });
            let back = if self.state.last_contacted_at.is_some() { LeadStatus::ContactedSms } else { LeadStatus::New };
            self.leave_opt_out(back, consent::RULE_RENEWED, &evidence);
        } else if self.state.opted_out() {
            let why = if reposted {
                "an earlier grant sent again"
            } else {
                "not a complete grant of ours dated after the opt-out"
            };
            self.note(
                EntryKind::Event,
                Some("opt_out.sticky"),
                format!(
                    "stays OPT_OUT: the consent on this inquiry is {why}; only START or new consent ends an opt-out"
                ),
            );
        }
    }

    /// An opted-out lead comes back through a consent record only when it is the lead's own,
    /// complete, names us, and was granted after the revocation (not in the future). Returns
    /// the evidence to record.
    fn renews_after_opt_out(&self, record: &ConsentRecord) -> Option<String> {
        if !self.state.opted_out() {
            return None;
        }
        let revoked_at = self.state.last_revocation()?;
        let granted_at = record.granted_at?;
        let skew = chrono::Duration::minutes(CONSENT_CLOCK_SKEW_MINUTES);
        let fresh = granted_at > revoked_at && granted_at.0 <= self.now.0 + skew;
        let ours = consent::check_grant(record, false, &self.policy.compliance.consent, &self.policy.seller_names);
        (fresh && ours.is_ok()).then(|| {
            let url = record.source_url.as_deref().unwrap_or("no source URL");
            format!("new consent granted at {granted_at} ({url}) after the opt-out of {revoked_at}")
        })
    }

    /// A lead from a source whose consent the brokerage declared, without a record of its own.
    fn declare_consent(&mut self, c: &LeadCapture) {
        let Some(disclosure) = self.policy.compliance.sources.declared(&c.source) else {
            return;
        };
        let record = ConsentRecord {
            granted_at: Some(c.occurred_at.unwrap_or(self.now)),
            source_url: None,
            disclosure_sha256: Some(hex::encode(Sha256::digest(disclosure.as_bytes()))),
            disclosure: Some(disclosure.to_string()),
            ip: None,
            user_agent: None,
            seller: None,
            captured_from: Some(c.source.clone()),
            recorded_at: self.now,
        };
        self.state.consent_history.push(ConsentChange::Declared(record));
        let detail = format!(
            "consent declared by source policy: compliance.sources.{} says its form carries consent naming us",
            c.source.trim().to_lowercase()
        );
        self.note(EntryKind::ConsentChanged, Some(consent::RULE_DECLARED), detail);
    }

    fn inbound(&mut self, body: &str) {
        self.note(EntryKind::Event, Some("event.inbound_text"), format!("{INBOUND_PREFIX}{body}\""));
        self.state.last_inbound_at = Some(self.now);
        let c = classify(body, self.state.opted_out(), &self.policy.classifier);
        let matched = c.matched.clone().unwrap_or_default();
        let how = if c.matched.is_some() { format!(" (matched \"{matched}\")") } else { String::new() };
        let review = if c.ambiguous { ", for review" } else { "" };
        self.note(
            EntryKind::Event,
            Some(c.rule),
            format!("classified {:?}{how}{review} by classifier v{CLASSIFIER_VERSION}", c.intent),
        );
        match c.intent {
            Intent::OptOut if self.state.opted_out() => {
                self.note(
                    EntryKind::Event,
                    Some("opt_out.already"),
                    "already opted out; no second confirmation".into(),
                );
            }
            Intent::OptOut => {
                let review = if c.ambiguous { "; not a standard keyword, an agent should review" } else { "" };
                self.state.consent_history.push(ConsentChange::Revoked {
                    at: self.now,
                    rule: c.rule.into(),
                    evidence: body.into(),
                });
                self.set_status(LeadStatus::OptOut, c.rule, &format!("revoked consent (\"{matched}\"){review}"));
                self.cancel_pending("opt_out");
                self.cancel_follow_up("opt_out", "the lead opted out");
                if c.ambiguous {
                    self.notify("opt_out.ambiguous", format!("Treated as an opt-out, please review: \"{body}\""));
                }
                self.text(TextKind::OptOutConfirmation, "opt_out_confirmation", "opt_out.confirmation");
            }
            Intent::OptIn if self.state.opted_out() => {
                self.state.consent_history.push(ConsentChange::Reinstated {
                    at: self.now,
                    rule: c.rule.into(),
                    evidence: body.into(),
                });
                let back =
                    if self.state.last_contacted_at.is_some() { LeadStatus::ContactedSms } else { LeadStatus::New };
                self.leave_opt_out(back, c.rule, &format!("opted back in (\"{matched}\")"));
                self.text(TextKind::OptInConfirmation, "opt_in_confirmation", "opt_in.confirmation");
            }
            Intent::OptIn => {
                self.note(EntryKind::Event, Some("opt_in.already"), "already subscribed; nothing to do".into());
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
                self.cancel_follow_up("handoff.reply", "the lead replied");
                self.notify("handoff.reply", format!("The lead replied: \"{body}\""));
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

    fn crm_changed(&mut self, status: &str, agent: Option<&str>, source: Option<&str>) {
        let from = self.state.crm_status.clone().unwrap_or_else(|| "none".into());
        self.note(EntryKind::Event, Some("event.crm_changed"), format!("CRM status {from} -> {status}"));
        self.state.crm_status = Some(status.to_string());
        if let Some(a) = agent.filter(|a| !a.trim().is_empty()) {
            self.state.agent = Some(a.to_string());
        }
        let crm = &self.policy.crm;
        if crm.suppresses(status) && self.state.suppressed.is_none() {
            // A do-not-contact status is a list entry, not a stage: a later status must not lift it.
            let source = source.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("crm");
            let reason = format!("CRM status '{status}' (source: {source})");
            self.state.suppressed =
                Some(Suppression { list: "crm".into(), reason: Some(reason.clone()), added_at: self.now });
            self.note(
                EntryKind::Admin,
                Some(SUPPRESSED_BY_CRM),
                format!("number put on the suppression list: {reason}; only an operator's removal lifts it"),
            );
            self.cancel_pending(SUPPRESSED_BY_CRM);
            self.cancel_follow_up(SUPPRESSED_BY_CRM, &format!("CRM status '{status}'"));
        }
        if crm.halts_all(status) {
            self.note(EntryKind::Event, Some("crm.halt_all"), format!("'{status}' halts all automated texts"));
            self.cancel_follow_up("crm.halt_all", &format!("CRM status '{status}'"));
        } else if crm.halts_followups(status) {
            self.note(EntryKind::Event, Some("crm.halt_followups"), format!("'{status}' halts follow-ups"));
            self.cancel_follow_up("crm.halt_followups", &format!("CRM status '{status}'"));
        } else if crm.resumes(status) && self.state.status == LeadStatus::Engaged {
            self.set_status(
                LeadStatus::ContactedSms,
                "crm.resume",
                &format!("CRM status '{status}' resumes automation"),
            );
        }
        // A text configured for this CRM status (e.g. a nurture check-in), through the gate.
        let template = crate::policy::crm_template(status);
        if self.policy.has_template(&template) && !crm.halts_all(status) {
            let rule = format!("crm.status.{}", crate::policy::crm_key(status));
            self.text(TextKind::Automated, &template, &rule);
        }
    }

    fn interest_added(&mut self, listing_id: &str, address: Option<&str>, how: &str) {
        let new = !self.state.interests.iter().any(|l| l == listing_id);
        if new {
            self.state.interests.push(listing_id.to_string());
        }
        let what = address.map(|a| format!("{listing_id} ({a})")).unwrap_or_else(|| listing_id.to_string());
        let detail =
            if new { format!("interested in {what} ({how})") } else { format!("already interested in {what}") };
        self.note(EntryKind::Event, Some("event.interest_added"), detail);
    }

    fn listing_changed(&mut self, c: &ListingChange) {
        let price = |p: Option<u64>| p.map(money);
        let label = c.address.clone().unwrap_or_else(|| c.listing_id.clone());
        let detail = match c.change {
            ListingChangeKind::PriceDrop | ListingChangeKind::PriceIncrease => format!(
                "{label}: {} {} -> {}",
                c.change.as_str(),
                price(c.old_price).unwrap_or_else(|| "?".into()),
                price(c.new_price).unwrap_or_else(|| "?".into())
            ),
            _ => format!(
                "{label}: {} {} -> {}",
                c.change.as_str(),
                c.old_status.as_deref().unwrap_or("?"),
                c.new_status.as_deref().unwrap_or("?")
            ),
        };
        self.note(EntryKind::Event, Some("event.listing_changed"), detail);
        if !self.state.interests.iter().any(|l| l == &c.listing_id) {
            self.note(
                EntryKind::Event,
                Some("listing.not_interested"),
                format!("lead is not watching {}", c.listing_id),
            );
            return;
        }
        if let Some(address) = &c.address {
            self.state.last_property = Some(address.clone());
        }
        self.state.last_listing_id = Some(c.listing_id.clone());
        let template = match c.change {
            ListingChangeKind::PriceDrop => "listing_price_drop",
            ListingChangeKind::PriceIncrease => "listing_price_increase",
            ListingChangeKind::BackOnMarket => "listing_back_on_market",
            ListingChangeKind::NewListing => "listing_new",
            ListingChangeKind::StatusChange if is_under_contract(c.new_status.as_deref()) => "listing_under_contract",
            ListingChangeKind::StatusChange => "listing_status_change",
        };
        let extra = TemplateVars {
            property: Some(&label),
            old_price: price(c.old_price),
            new_price: price(c.new_price),
            status: c.new_status.as_deref().map(human_status),
            ..TemplateVars::default()
        };
        let rule = format!("listing.{}", c.change.as_str());
        self.text_with(TextKind::ListingAlert, template, &rule, extra);
    }

    fn delivery_receipt(
        &mut self,
        id: &str,
        provider_id: &str,
        status: &str,
        code: Option<u32>,
        failure: Option<ReceiptFailure>,
    ) {
        let status = status.trim().to_lowercase();
        let code_txt = code.map(|c| format!(" (error {c})")).unwrap_or_default();
        let known = self.state.deliveries.iter().find(|d| d.message_id == id).map(|d| d.status.clone());
        if let Some(prev) = known.as_deref().filter(|p| delivery_rank(p) >= delivery_rank(&status)) {
            let detail = format!("receipt {status}{code_txt} for {provider_id} ignored: already {prev}");
            self.notes.push(Note {
                kind: EntryKind::Delivery,
                rule: Some("delivery.stale".into()),
                detail,
                message_id: Some(id.into()),
            });
            return;
        }
        self.state.deliveries.retain(|d| d.message_id != id);
        self.state.deliveries.push(Delivery { message_id: id.into(), status: status.clone() });
        if self.state.deliveries.len() > MAX_DELIVERIES {
            self.state.deliveries.remove(0);
        }
        let rule = match code {
            Some(c) => format!("delivery.{status}.{c}"),
            None => format!("delivery.{status}"),
        };
        let detail = format!("{provider_id} {status}{code_txt}");
        self.notes.push(Note {
            kind: EntryKind::Delivery,
            rule: Some(rule.clone()),
            detail,
            message_id: Some(id.into()),
        });
        match (status.as_str(), failure) {
            ("delivered", _) | ("read", _) => self.state.unreachable_in_row = 0,
            ("undelivered" | "failed", Some(ReceiptFailure::CannotReceive)) => {
                self.set_status(LeadStatus::Undeliverable, &rule, "the carrier says the number cannot receive texts")
            }
            ("undelivered" | "failed", Some(ReceiptFailure::Unreachable)) => {
                self.state.unreachable_in_row += 1;
                let limit = self.policy.delivery.unreachable_limit;
                if self.state.unreachable_in_row >= limit {
                    let why = format!("{limit} unreachable receipts in a row");
                    self.set_status(LeadStatus::Undeliverable, &rule, &why);
                }
            }
            ("undelivered" | "failed", Some(ReceiptFailure::Filtered)) => self.note(
                EntryKind::Delivery,
                Some("carrier.filtered"),
                format!(
                    "carrier filtered the text as spam{}: review the template",
                    code.map(|c| format!(" ({c})")).unwrap_or_default()
                ),
            ),
            _ => {}
        }
    }

    fn admin_opt_out(&mut self, reason: Option<&str>, send_confirmation: bool) {
        let why = reason.unwrap_or("no reason given");
        if self.state.opted_out() {
            self.note(EntryKind::Admin, Some("opt_out.already"), format!("admin opt-out ({why}): already opted out"));
            return;
        }
        self.state.consent_history.push(ConsentChange::Revoked {
            at: self.now,
            rule: "admin.opt_out".into(),
            evidence: format!("recorded by an operator: {why}"),
        });
        self.set_status(LeadStatus::OptOut, "admin.opt_out", &format!("opt-out recorded by an operator ({why})"));
        self.cancel_pending("opt_out");
        self.cancel_follow_up("opt_out", "opted out by an operator");
        if send_confirmation {
            self.text(TextKind::OptOutConfirmation, "opt_out_confirmation", "opt_out.confirmation");
        }
    }

    /// `leadline compliance rescan` found a revocation among the lead's earlier replies. No
    /// confirmation text: the one confirmation is allowed within 5 minutes of the revocation
    /// (47 CFR 64.1200(a)(12)), and that moment has passed.
    fn revocation_found(&mut self, reply: &str, rule: &str, classifier: &str) {
        if self.state.opted_out() {
            self.note(EntryKind::Event, Some("opt_out.already"), "rescan: already opted out".into());
            return;
        }
        let why = format!("an earlier reply \"{reply}\" is a revocation under classifier v{classifier} ({rule})");
        self.state.consent_history.push(ConsentChange::Revoked {
            at: self.now,
            rule: RESCAN_OPT_OUT.into(),
            evidence: reply.into(),
        });
        self.set_status(LeadStatus::OptOut, RESCAN_OPT_OUT, &format!("{why}; no confirmation sent (too late for one)"));
        self.cancel_pending("opt_out");
        self.cancel_follow_up("opt_out", "the lead opted out (found by a rescan)");
        self.notify(RESCAN_OPT_OUT, format!("Opted out by a compliance rescan, please review: \"{reply}\""));
    }

    /// A person's reply: rendered (their words, or a template), checked against the segment
    /// limit (never shortened: a person chose these words), then gated like any text by
    /// `gate`, which sends `ManualReply` texts to `manual_gate`.
    fn manual_reply(&mut self, reply: &ManualReply) {
        let kind = TextKind::ManualReply;
        let body = match reply {
            ManualReply::Body(body) => body.trim().to_string(),
            ManualReply::Template { name, first_name, agent, property } => {
                if !self.policy.has_template(name) {
                    let detail = format!("manual_reply not sent: there is no template '{name}'");
                    self.note(EntryKind::TextBlocked, Some("template.unknown"), detail);
                    return;
                }
                let vars = TemplateVars {
                    brand: &self.policy.brand,
                    support: &self.policy.support,
                    first_name: first_name.as_deref().or(self.state.profile.first_name.as_deref()),
                    agent: agent.as_deref().or(self.state.agent.as_deref()),
                    property: property.as_deref().or(self.state.last_property.as_deref()),
                    ..TemplateVars::default()
                };
                match self.policy.render(name, &vars) {
                    Ok(Some(body)) => body,
                    Ok(None) => {
                        let detail = format!("manual_reply not sent: templates.{name} is empty");
                        self.note(EntryKind::TextBlocked, Some("template.disabled"), detail);
                        return;
                    }
                    Err(e) => {
                        self.note(
                            EntryKind::TextBlocked,
                            Some("template.error"),
                            format!("manual_reply not sent: {e}"),
                        );
                        return;
                    }
                }
            }
        };
        let id = format!("{}#{}", self.state.phone, self.state.next_message_seq);
        self.state.next_message_seq += 1;
        let max = self.policy.delivery.max_segments as usize;
        let segments = crate::segments::count(&body).segments;
        if body.is_empty() || segments > max {
            let why = if body.is_empty() {
                "the reply is empty".to_string()
            } else {
                format!("it is {segments} SMS segments, over delivery.max_segments = {max}")
            };
            let rule = if body.is_empty() { "manual.empty" } else { TEXT_TOO_LONG };
            self.notes.push(Note {
                kind: EntryKind::TextBlocked,
                rule: Some(rule.into()),
                detail: format!("manual_reply not sent: {why}"),
                message_id: Some(id),
            });
            return;
        }
        let text = OutboundText {
            id,
            to: self.state.phone.clone(),
            kind,
            body,
            rule: "manual.reply".into(),
            created_at: self.now,
        };
        self.offer(text);
    }

    /// Freezes automation. The follow-up sequence is paused, not cancelled: its step stays
    /// in `follow_up` (not due while frozen, `LeadState::active_follow_up`) and `unfreeze`
    /// re-plans it. Freezing a frozen lead only changes the reason: the pause still counts
    /// from the first freeze.
    fn freeze(&mut self, reason: Option<String>) {
        let why = reason.clone().unwrap_or_else(|| "no reason given".into());
        let already = self.state.frozen.as_ref().map(|f| f.at);
        self.state.frozen = Some(Freeze { reason, at: already.unwrap_or(self.now) });
        self.note(EntryKind::Admin, Some("admin.freeze"), format!("automation frozen: {why}"));
        if already.is_some() {
            return;
        }
        if let Some(f) = self.state.follow_up.clone() {
            let detail = format!(
                "follow-up step {} (due {}) paused: automation frozen; unfreezing re-plans it",
                f.step + 1,
                f.due
            );
            self.note(EntryKind::Event, Some(SEQUENCE_PAUSED), detail);
        }
    }

    /// Resumes automation and re-plans the follow-up step the freeze paused: the wait that
    /// was left when the lead was frozen counts from now (later steps keep their spacing).
    /// Nothing is sent here: when the step comes due it passes the whole gate (consent,
    /// opt-out, suppression, hand-off, CRM halts, quiet hours, caps) like any other text. A
    /// step cancelled while frozen (a reply, an opt-out, a CRM halt) stays cancelled.
    fn unfreeze(&mut self) {
        let Some(frozen) = self.state.frozen.take() else {
            self.note(EntryKind::Admin, Some("admin.unfreeze"), "was not frozen; nothing to do".into());
            return;
        };
        self.note(EntryKind::Admin, Some("admin.unfreeze"), "automation resumed".into());
        let Some(mut f) = self.state.follow_up.take() else { return };
        let zero = chrono::Duration::zero();
        let left = (f.due.0 - frozen.at.0).max(zero);
        let due = Ts::from(self.now.0 + left);
        let shift = (due.0 - f.due.0).max(zero);
        let was = f.due;
        f.due = due;
        f.started_at = Ts::from(f.started_at.0 + shift);
        let detail = format!(
            "follow-up step {} re-planned to {due} (was due {was}; frozen since {}): it passes the gate again when due",
            f.step + 1,
            frozen.at
        );
        self.state.follow_up = Some(f);
        self.note(EntryKind::Event, Some(SEQUENCE_RESUMED), detail);
    }

    fn send_outcome(&mut self, id: &str, kind: TextKind, result: &SendResult) {
        let note = |entry: EntryKind, rule: String, detail: String| Note {
            kind: entry,
            rule: Some(rule),
            detail,
            message_id: Some(id.to_string()),
        };
        match result {
            SendResult::Accepted { provider_id, status } => {
                let n = note(
                    EntryKind::TextSent,
                    "provider.accepted".into(),
                    format!("{} accepted as {provider_id} ({status})", kind.as_str()),
                );
                self.notes.push(n);
                self.accepted(kind);
            }
            SendResult::Deferred { text, until, rule, reason } => {
                self.defer((**text).clone(), *until, rule.clone(), format!("re-checked before sending: {reason}"));
            }
            SendResult::Cancelled { rule, reason } => {
                let n = note(
                    EntryKind::TextFailed,
                    rule.clone(),
                    format!("{} cancelled before sending: {reason}", kind.as_str()),
                );
                self.notes.push(n);
                // In doubt: the provider may have it, so the lead may have been contacted.
                if rule != IN_DOUBT {
                    self.not_sent(kind, rule, "it was cancelled before sending");
                }
            }
            SendResult::Failed { code, failure, message, permanent } => {
                let rule = code.map(|c| format!("provider.{c}")).unwrap_or_else(|| "provider.error".into());
                let final_word = if *permanent { "permanently" } else { "after retries" };
                let n = note(
                    EntryKind::TextFailed,
                    rule.clone(),
                    format!("{} failed {final_word}: {message}", kind.as_str()),
                );
                self.notes.push(n);
                match failure {
                    SendFailure::InvalidNumber => self.set_status(
                        LeadStatus::Undeliverable,
                        &rule,
                        "the provider says the number cannot receive texts",
                    ),
                    SendFailure::RecipientOptedOut if !self.state.opted_out() => {
                        self.state.consent_history.push(ConsentChange::Revoked {
                            at: self.now,
                            rule: rule.clone(),
                            evidence: message.clone(),
                        });
                        self.set_status(LeadStatus::OptOut, &rule, "the carrier reports the lead replied STOP");
                        self.cancel_pending("opt_out");
                        self.cancel_follow_up("opt_out", "the carrier reports the lead opted out");
                    }
                    _ => {}
                }
                self.not_sent(kind, &rule, "the provider refused it");
            }
        }
    }

    /// The provider accepted a text: only now does it count as contact. A first text
    /// accepted while the lead is still NEW (an operator retried it from the dead letters
    /// after it had failed) makes the lead CONTACTED_SMS and starts the follow-ups then.
    fn accepted(&mut self, kind: TextKind) {
        if !kind.is_automated() && kind != TextKind::ManualReply {
            return;
        }
        self.state.last_contacted_at = Some(self.now);
        if kind == TextKind::FirstContact && self.state.status == LeadStatus::New {
            self.change_status(LeadStatus::ContactedSms, "provider.accepted", "first text accepted by the provider");
            if self.state.follow_up.is_none() {
                self.schedule_follow_up(0, self.now);
            }
        }
    }

    /// A text that is known not to have reached the provider (refused, or cancelled by the
    /// gateway's last check). If it was the first text and nothing was ever accepted, the
    /// lead was never contacted: it goes back from CONTACTED_SMS (set when the first text
    /// was queued) to NEW, and the follow-ups that text started are cancelled. No status of
    /// its own: the text is on the timeline (and in the dead letters when the provider
    /// refused it), and a lead the provider's answer made UNDELIVERABLE or OPT_OUT keeps that
    /// status (its follow-ups are cancelled all the same).
    fn not_sent(&mut self, kind: TextKind, rule: &str, how: &str) {
        if kind != TextKind::FirstContact || self.state.last_contacted_at.is_some() {
            return;
        }
        if self.state.status == LeadStatus::ContactedSms {
            let why = format!("the first text was not sent ({how}); the lead was never contacted");
            self.change_status(LeadStatus::New, rule, &why);
        }
        self.cancel_follow_up(rule, "the first text was not sent");
    }
}

/// Rule of a text rendered over `delivery.max_segments` with the lead's values shortened.
pub const TEXT_SHORTENED: &str = "text.shortened";

/// Rule of a text still over `delivery.max_segments` after shortening (blocked, or for an
/// opt-out confirmation replaced by the minimal one).
pub const TEXT_TOO_LONG: &str = "text.too_long";

/// A property is never shortened below this many characters (with the "..."): a shorter
/// stub no longer tells the lead which home the text is about.
pub const MIN_PROPERTY_CHARS: usize = 20;

/// A text rendered against `delivery.max_segments`.
enum Fitted {
    /// Within the limit; `shortened` says what was left out or cut, if anything.
    Fits { body: String, shortened: Option<String> },
    /// Over the limit: segments as configured, and with everything shortened that may be.
    TooLong { full: usize, shortest: usize },
}

/// Renders `template` so the text fits in `max` SMS segments. A text over the limit is
/// rendered again without the values a lead or a listing feed supplies: first without the
/// lead's first name, then with the property (address) cut to the longest prefix that fits
/// (ending in "...", at least [`MIN_PROPERTY_CHARS`]). `None`: the template is disabled.
fn fit(policy: &Policy, template: &str, vars: &TemplateVars<'_>, max: usize) -> Result<Option<Fitted>, TemplateError> {
    let segments = |body: &str| crate::segments::count(body).segments;
    let Some(body) = policy.render(template, vars)? else { return Ok(None) };
    let full = segments(&body);
    if full <= max {
        return Ok(Some(Fitted::Fits { body, shortened: None }));
    }
    let mut vars = vars.clone();
    let mut how = Vec::new();
    let mut shortest = full;
    if vars.first_name.is_some_and(|n| !n.is_empty()) {
        // Empty rather than none: `{% if first_name %}` skips it and a bare
        // `{{ first_name }}` renders nothing (minijinja prints none as "none").
        vars.first_name = Some("");
        how.push("the first name left out".to_string());
        let body = policy.render(template, &vars)?.unwrap_or_default();
        shortest = segments(&body);
        if shortest <= max {
            return Ok(Some(Fitted::Fits { body, shortened: Some(how.join(", ")) }));
        }
    }
    if let Some(property) = vars.property {
        let len = property.chars().count();
        let render_cut = |keep: usize| -> Result<String, TemplateError> {
            let cut = crate::limits::clip(property, keep);
            let v = TemplateVars { property: Some(&cut), ..vars.clone() };
            Ok(policy.render(template, &v)?.unwrap_or_default())
        };
        // Segments grow with the property's length, so a binary search finds the longest
        // prefix that fits; every candidate is counted again, so a miss only costs length.
        let (mut lo, mut hi) = (MIN_PROPERTY_CHARS, len.saturating_sub(1));
        let mut best = None;
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            let body = render_cut(mid)?;
            let n = segments(&body);
            shortest = shortest.min(n);
            if n <= max {
                best = Some((mid, body));
                lo = mid + 1;
            } else if mid == 0 {
                break;
            } else {
                hi = mid - 1;
            }
        }
        if let Some((keep, body)) = best {
            how.push(format!("the property cut to {keep} of {len} characters"));
            return Ok(Some(Fitted::Fits { body, shortened: Some(how.join(", ")) }));
        }
    }
    Ok(Some(Fitted::TooLong { full, shortest }))
}

/// The timeline detail of an inbound text starts with this, then the text and a closing quote
/// (`leadline compliance rescan` reads replies back from it).
pub const INBOUND_PREFIX: &str = "lead wrote: \"";

/// Rule of a suppression caused by a CRM status in `[crm] suppress_on`.
pub const SUPPRESSED_BY_CRM: &str = "crm.suppressed";

/// Rule of the note that a freeze paused the follow-up sequence.
pub const SEQUENCE_PAUSED: &str = "sequence.paused";

/// Rule of the note that an unfreeze re-planned the paused follow-up step.
pub const SEQUENCE_RESUMED: &str = "sequence.resumed";

/// Rule of a text whose send may or may not have reached the provider (a timeout after the
/// request was sent, a crash during the call): parked as an `in_doubt` dead letter.
pub const IN_DOUBT: &str = "gateway.in_doubt";

/// Rule of an opt-out found by `leadline compliance rescan`.
pub const RESCAN_OPT_OUT: &str = "opt_out.rescan";

/// Receipts for one text are kept this long per lead (newest win).
const MAX_DELIVERIES: usize = 20;

/// Twilio's lifecycle order; a receipt never moves a text backwards.
fn delivery_rank(status: &str) -> u8 {
    match status {
        "accepted" | "scheduled" | "queued" => 0,
        "sending" => 1,
        "sent" => 2,
        "delivered" | "undelivered" | "failed" | "canceled" => 3,
        "read" => 4,
        _ => 0,
    }
}

/// RESO StandardStatus values that mean "under contract", in either spelling.
fn is_under_contract(status: Option<&str>) -> bool {
    let key: String = status.unwrap_or("").chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
    matches!(key.as_str(), "activeundercontract" | "pending" | "undercontract")
}

/// "ActiveUnderContract" / "Active Under Contract" -> "under contract"; other names split into words.
fn human_status(status: &str) -> String {
    if is_under_contract(Some(status)) {
        return "under contract".into();
    }
    let mut out = String::new();
    for (i, ch) in status.trim().chars().enumerate() {
        if ch.is_uppercase() && i > 0 && !out.ends_with(' ') {
            out.push(' ');
        }
        out.extend(ch.to_lowercase());
    }
    out
}

fn merge(into: &mut Option<String>, from: &Option<String>) {
    if let Some(v) = from.as_ref().filter(|v| !v.trim().is_empty()) {
        *into = Some(v.clone());
    }
}
