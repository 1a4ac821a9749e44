//! A new inquiry from any lead source: the generic lead (`POST /v1/events/leads`), which the
//! lead-source adapters (Realtor.com, Zillow, web form, Follow Up Boss) map their payloads
//! onto, validated into the core's `LeadCapture` and submitted to the lead.

use super::views::{LeadChanged, ReplyDecision, TimelinePage};
use super::{App, AppError};
use leadline_core::actors::lead::Applied;
use leadline_core::limits;
use leadline_core::model::{ConsentInput, EntryKind, Event, LeadCapture, LeadState, ListingRef, ManualReply};
use leadline_core::{Phone, Ts};
use serde::Deserialize;
use std::net::IpAddr;

/// The generic lead body (the HTTP contract, docs/http-api.md). Only `source` and `phone` are required; unknown
/// fields are ignored so integrations can send what they have.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "source": "zillow", "source_lead_id": "Z-123", "phone": "(212) 555-0142",
    "first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com",
    "listing": {"id": "MLS-123", "address": "123 Main St", "price": 450000},
    "message": "Is this still available?",
    "consent": {"granted_at": "2026-11-27T14:03:00Z", "source_url": "https://agent.example.com/listing/123",
                "disclosure": "By checking this box I agree to receive automated texts from ...",
                "ip": "203.0.113.9", "user_agent": "Mozilla/5.0 ..."},
    "occurred_at": "2026-11-27T14:03:05Z"
}))]
pub struct LeadBody {
    pub source: String,
    pub phone: String,
    pub source_lead_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Two-letter state of the lead's address, if known.
    pub state: Option<String>,
    pub listing: Option<ListingBody>,
    pub message: Option<String>,
    pub consent: Option<ConsentBody>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Ts>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ListingBody {
    pub id: Option<String>,
    pub address: Option<String>,
    pub price: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConsentBody {
    #[schema(value_type = Option<String>, format = DateTime)]
    pub granted_at: Option<Ts>,
    pub source_url: Option<String>,
    pub disclosure: Option<String>,
    /// The consumer's IPv4 or IPv6 address when consent was given; anything else is a 422.
    #[schema(example = "203.0.113.9")]
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub seller: Option<String>,
}

/// Longest part of a rejected `consent.ip` repeated in the error message.
const SHOWN_IP_CHARS: usize = 64;

/// `consent.ip` must be an IPv4 or IPv6 address (`std::net::IpAddr` syntax; surrounding
/// spaces are removed, an empty value is no IP). Kept as sent otherwise: it is evidence.
fn consent_ip(ip: Option<String>) -> Result<Option<String>, AppError> {
    let Some(raw) = ip.as_deref().map(str::trim).filter(|ip| !ip.is_empty()) else {
        return Ok(None);
    };
    match raw.parse::<IpAddr>() {
        Ok(_) => Ok(Some(raw.to_string())),
        Err(_) => {
            let shown: String = raw.chars().take(SHOWN_IP_CHARS).collect();
            Err(AppError::field(format!(
                "`consent.ip` must be an IPv4 or IPv6 address (got '{}')",
                shown.escape_debug()
            )))
        }
    }
}

impl LeadBody {
    /// Validates and normalises into the event the lead actor applies. Over-long names,
    /// email or listing address are refused (422 `invalid_field`); a long message is kept,
    /// shortened and marked (docs/limits.md).
    pub fn into_event(self) -> Result<(Phone, LeadCapture), AppError> {
        if self.source.trim().is_empty() {
            return Err(AppError::field("`source` must not be empty"));
        }
        limits::check_name("first_name", self.first_name.as_deref())?;
        limits::check_name("last_name", self.last_name.as_deref())?;
        limits::check_email("email", self.email.as_deref())?;
        limits::check_address("listing.address", self.listing.as_ref().and_then(|l| l.address.as_deref()))?;
        let phone = Phone::parse(&self.phone)?;
        let consent = match self.consent {
            Some(c) => Some(ConsentInput {
                granted_at: c.granted_at,
                source_url: c.source_url,
                disclosure: c.disclosure,
                ip: consent_ip(c.ip)?,
                user_agent: c.user_agent,
                seller: c.seller,
            }),
            None => None,
        };
        let capture = LeadCapture {
            source: self.source.trim().to_string(),
            source_lead_id: self.source_lead_id.filter(|s| !s.trim().is_empty()),
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            address_state: self.state.map(|s| s.trim().to_uppercase()),
            listing: self.listing.map(|l| ListingRef { id: l.id, address: l.address, price: l.price }),
            message: self.message.map(limits::clip_message),
            consent,
            occurred_at: self.occurred_at,
        };
        Ok((phone, capture))
    }
}

/// Validates `lead` and submits it. The same inquiry delivered twice (same `source` and
/// `source_lead_id`) is acknowledged once (`duplicate: true`).
pub async fn capture(app: &App, lead: LeadBody) -> Result<Applied, AppError> {
    let (phone, capture) = lead.into_event()?;
    let dedupe = capture.source_lead_id.as_ref().map(|id| format!("lead:{}:{id}", capture.source));
    Ok(app.submit(phone, Event::LeadCaptured(Box::new(capture)), dedupe).await?)
}

/// The lead with this phone (`raw`: E.164, URL-decoded, or plain digits).
pub fn find(app: &App, raw: &str) -> Result<(Phone, LeadState), AppError> {
    let phone = Phone::parse(raw)?;
    match app.store.lead(&phone)? {
        Some(lead) => Ok((phone, lead)),
        None => Err(AppError::NotFound(format!("no lead with phone {phone}"))),
    }
}

/// A page of the lead's timeline: at most `limit` entries after sequence number `after`.
pub fn timeline(app: &App, raw: &str, after: u64, limit: usize) -> Result<TimelinePage, AppError> {
    let (phone, lead) = find(app, raw)?;
    let entries = app.store.timeline(&phone, after, limit)?;
    let next_after = entries.last().map(|e| e.seq).filter(|s| *s < lead.timeline_len);
    Ok(TimelinePage { phone, entries, next_after })
}

/// An operator's command for a known lead (freeze, unfreeze, opt-out): applied through the
/// lead's actor like any event, with the operator's name on every timeline entry it
/// causes; the lead after it, with the decisions.
pub async fn command(app: &App, raw: &str, operator: &str, event: Event) -> Result<LeadChanged, AppError> {
    let (phone, _) = find(app, raw)?;
    tracing::info!(operator = %operator, command = event.kind(), lead = %phone.masked(), "operator command");
    let event = Event::ByOperator { operator: operator.to_string(), command: Box::new(event) };
    let applied = app.submit(phone.clone(), event, None).await?;
    let lead = app.store.lead(&phone)?.ok_or_else(|| AppError::NotFound(format!("no lead with phone {phone}")))?;
    Ok(LeadChanged::new(&lead, &applied))
}

/// `POST /v1/admin/leads/{phone}/messages`: a person's reply, either their own words
/// (`body`) or a configured template (`template`, with `vars` among `first_name`, `agent`,
/// `property`; the lead's own values fill the rest).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Hi Ana, yes it is still available. Would Saturday at 11 work?"}))]
pub struct ReplyBody {
    pub body: Option<String>,
    pub template: Option<String>,
    pub vars: Option<std::collections::BTreeMap<String, String>>,
}

/// The longest reply body accepted (the segment limit usually refuses far less).
pub const REPLY_MAX_CHARS: usize = 1600;

impl ReplyBody {
    fn into_reply(self) -> Result<ManualReply, AppError> {
        match (self.body, self.template) {
            (Some(body), None) => {
                if self.vars.is_some() {
                    return Err(AppError::field("`vars` goes with `template`, not with `body`"));
                }
                let body = body.trim().to_string();
                if body.is_empty() {
                    return Err(AppError::field("`body` must not be empty"));
                }
                if body.chars().count() > REPLY_MAX_CHARS {
                    return Err(AppError::field(format!("`body` has at most {REPLY_MAX_CHARS} characters")));
                }
                Ok(ManualReply::Body(body))
            }
            (None, Some(name)) => {
                let mut vars = self.vars.unwrap_or_default();
                let mut take = |k: &str| vars.remove(k).filter(|v| !v.trim().is_empty());
                let (first_name, agent, property) = (take("first_name"), take("agent"), take("property"));
                if let Some(k) = vars.keys().next() {
                    return Err(AppError::field(format!(
                        "unknown template variable `{k}` (known: first_name, agent, property)"
                    )));
                }
                limits::check_name("vars.first_name", first_name.as_deref())?;
                limits::check_name("vars.agent", agent.as_deref())?;
                limits::check_address("vars.property", property.as_deref())?;
                Ok(ManualReply::Template { name: name.trim().to_string(), first_name, agent, property })
            }
            (Some(_), Some(_)) => Err(AppError::field("send either `body` or `template`, not both")),
            (None, None) => Err(AppError::missing("send `body` (the reply) or `template`")),
        }
    }
}

/// Rules under which a reply is refused outright (4xx, nothing sent): the number must
/// never get a text now.
fn never_texted(rule: &str) -> bool {
    rule == "opt_out"
        || rule == "undeliverable"
        || rule.starts_with("suppression.")
        || rule == leadline_core::numbers::RULE_COUNTRY_NOT_ALLOWED
        || rule == leadline_core::numbers::RULE_NON_GEOGRAPHIC
}

/// A person's reply to a lead, decided by the lead's actor (`decide::manual_gate`):
/// queued, deferred (quiet hours) or blocked. An opted-out, suppressed or undeliverable
/// number is a 409 `reply_blocked`; a reply over the segment limit a 422; everything else
/// is the decision, recorded on the timeline with the operator's name.
pub async fn reply(app: &App, raw: &str, operator: &str, body: ReplyBody) -> Result<ReplyDecision, AppError> {
    let reply = body.into_reply()?;
    let (phone, _) = find(app, raw)?;
    let event = Event::ByOperator { operator: operator.to_string(), command: Box::new(Event::ManualReply(reply)) };
    let applied = app.submit(phone, event, None).await?;
    let entry = applied
        .entries
        .iter()
        .find(|e| matches!(e.kind, EntryKind::TextQueued | EntryKind::TextDeferred | EntryKind::TextBlocked))
        .ok_or_else(|| AppError::Unavailable("the lead recorded no decision about the reply; retry".into()))?;
    let rule = entry.rule.clone().unwrap_or_default();
    tracing::info!(operator = %operator, message_id = ?entry.message_id.as_deref().map(leadline_core::phone::mask_message_id), rule = %rule, "manual reply");
    let decision = match entry.kind {
        EntryKind::TextQueued => "queued",
        EntryKind::TextDeferred => "deferred",
        _ if never_texted(&rule) => {
            return Err(AppError::Conflict {
                code: "reply_blocked",
                message: format!("not sent (rule {rule}): {}", entry.detail),
            })
        }
        _ if rule == leadline_core::decide::TEXT_TOO_LONG || rule == "template.unknown" => {
            return Err(AppError::field(format!("not sent (rule {rule}): {}", entry.detail)))
        }
        _ => "blocked",
    };
    Ok(ReplyDecision {
        message_id: entry.message_id.clone(),
        decision,
        rule: entry.rule.clone(),
        detail: entry.detail.clone(),
        operator: operator.to_string(),
    })
}

/// Records an operator's action on a known lead's timeline (`Event::OperatorAction`, with
/// the operator's name): dead letters retried or discarded, the number put on or taken off a
/// do-not-contact list. The action itself is already done; if the note cannot be recorded
/// now, that is logged and the action still stands. Numbers that are not leads get no note.
pub async fn note_operator_action(app: &App, phone: &Phone, operator: &str, rule: &str, detail: String) {
    if !app.store.lead_exists(phone).unwrap_or(false) {
        return;
    }
    let event = Event::ByOperator {
        operator: operator.to_string(),
        command: Box::new(Event::OperatorAction { rule: rule.to_string(), detail }),
    };
    if let Err(e) = app.submit(phone.clone(), event, None).await {
        tracing::warn!(lead = %phone.masked(), rule, error = %e, "the operator's action could not be noted on the timeline");
    }
}
