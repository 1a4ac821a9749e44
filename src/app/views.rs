//! What the JSON API returns and the admin page renders: one `Serialize + ToSchema` type per
//! JSON shape, built from the core's types here and nowhere else. The OpenAPI document
//! (`GET /v1/openapi.json`) is generated from these same types, so a reply cannot drift from
//! its schema.
//!
//! These types are JSON only: they are never encoded with bincode (stored records are the
//! core's types, behind `leadline_core::codec`), so `#[serde(flatten)]` is allowed here, where
//! one reply extends another, and nowhere else (`tests/layering.rs` checks that).

use leadline_core::actors::lead::Applied as CoreApplied;
use leadline_core::model::{
    ConsentChange, ConsentRecord, EntryKind, LeadState, LeadStatus, ListingChangeKind, Suppression, TextKind,
    TimelineEntry,
};
use leadline_core::storage::DeadLetter;
use leadline_core::{Phone, Ts};
use serde::Serialize;
use utoipa::ToSchema;

/// One timeline entry an event appended (what leadline decided and why).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Decision {
    pub kind: EntryKind,
    /// The rule that caused it, e.g. `consent.missing`, `opt_out.keyword`.
    pub rule: Option<String>,
    pub detail: String,
    pub message_id: Option<String>,
}

/// The acknowledgement of an event: the lead's status after it and the decisions it produced.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Applied {
    #[schema(value_type = String, example = "+12125550142")]
    pub phone: Phone,
    pub status: LeadStatus,
    /// A re-delivery (same dedupe key) that changed nothing.
    pub duplicate: bool,
    pub decisions: Vec<Decision>,
}

impl From<&CoreApplied> for Applied {
    fn from(a: &CoreApplied) -> Self {
        Applied { phone: a.phone.clone(), status: a.status, duplicate: a.duplicate, decisions: decisions(&a.entries) }
    }
}

fn decisions(entries: &[TimelineEntry]) -> Vec<Decision> {
    entries
        .iter()
        .map(|e| Decision {
            kind: e.kind,
            rule: e.rule.clone(),
            detail: e.detail.clone(),
            message_id: e.message_id.clone(),
        })
        .collect()
}

/// `POST /v1/events/crm`: the status change, plus the listing interest when one was given.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CrmApplied {
    #[serde(flatten)]
    pub applied: Applied,
    /// `null` unless `listing_id` and `listing_action` were given.
    pub interest: Option<Applied>,
}

/// `POST /v1/events/interest`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InterestApplied {
    #[serde(flatten)]
    pub applied: Applied,
    pub listing_id: String,
}

/// An error's code and message (the API's `{"error": {...}}`; also inside an incomplete
/// MLS report).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `malformed_json`, `invalid_body`, `invalid_field`, `missing_field`,
    /// `invalid_phone`, `invalid_query`, `unsupported_media_type`, `invalid_signature`,
    /// `unauthorized`, `not_found`, `body_too_large`, `rate_limited`,
    /// `idempotency_key_reused`, `idempotency_key_in_use`, `unavailable`, ...
    pub code: String,
    /// For people.
    pub message: String,
}

/// `POST /v1/events/mls`: how many leads watching the listing acknowledged the change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MlsReport {
    pub listing_id: String,
    pub change: ListingChangeKind,
    /// Leads watching the listing.
    pub leads: usize,
    pub applied: usize,
    pub duplicates: usize,
}

/// `POST /v1/events/mls` answered 503: some leads did not acknowledge the change. Retry:
/// the leads that applied it are skipped.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FanoutIncomplete {
    #[serde(flatten)]
    pub report: MlsReport,
    /// Leads that did not acknowledge.
    pub failed: usize,
    /// `fanout_incomplete`, and what went wrong first.
    pub error: ErrorDetail,
}

/// A text waiting for an allowed moment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scheduled {
    pub message_id: String,
    #[schema(value_type = String, example = "first_contact")]
    pub kind: TextKind,
    #[schema(value_type = String, format = DateTime)]
    pub not_before: Ts,
    pub rule: String,
    /// The text as it will be sent.
    pub body: String,
}

/// The next step of the follow-up sequence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowUp {
    /// 1-based.
    pub step: u32,
    #[schema(value_type = String, format = DateTime)]
    pub due: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Ts,
    /// The lead is frozen: the step waits, and unfreezing re-plans it (the wait that was
    /// left at the freeze counts from the unfreeze).
    pub paused: bool,
}

/// A lead as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"phone": "+12125550142", "status": "CONTACTED_SMS", "frozen": false,
    "last_property": "123 Main St", "last_contacted_at": "2026-11-27T14:03:06.000Z"}))]
pub struct LeadView {
    #[schema(value_type = String, example = "+12125550142")]
    pub phone: Phone,
    pub status: LeadStatus,
    pub frozen: bool,
    pub frozen_reason: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub frozen_at: Option<Ts>,
    /// The grant that applies now (`null` without one, or after an opt-out).
    pub consent: Option<ConsentRecord>,
    /// Grants, revocations and re-opt-ins, oldest first: the rows of the consent export.
    pub consent_history: Vec<ConsentRow>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub source: Option<String>,
    pub source_lead_id: Option<String>,
    pub last_property: Option<String>,
    pub last_listing_id: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_contacted_at: Option<Ts>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_inbound_at: Option<Ts>,
    pub crm_status: Option<String>,
    /// Listing ids the lead cares about.
    pub interests: Vec<String>,
    pub scheduled: Vec<Scheduled>,
    pub follow_up: Option<FollowUp>,
    pub timeline_entries: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Ts,
    /// The agent the CRM assigned, if any.
    pub agent: Option<String>,
    /// Two-letter state of the lead's own address, when known (quiet hours use it).
    pub address_state: Option<String>,
    /// The do-not-contact entry for this number (`null` when it is on no list).
    pub suppressed: Option<SuppressionView>,
}

impl From<&LeadState> for LeadView {
    fn from(lead: &LeadState) -> Self {
        LeadView {
            phone: lead.phone.clone(),
            status: lead.status,
            frozen: lead.frozen.is_some(),
            frozen_reason: lead.frozen.as_ref().and_then(|f| f.reason.clone()),
            frozen_at: lead.frozen.as_ref().map(|f| f.at),
            consent: lead.current_consent().cloned(),
            consent_history: consent_rows(lead),
            first_name: lead.profile.first_name.clone(),
            last_name: lead.profile.last_name.clone(),
            email: lead.profile.email.clone(),
            source: lead.profile.source.clone(),
            source_lead_id: lead.profile.source_lead_id.clone(),
            last_property: lead.last_property.clone(),
            last_listing_id: lead.last_listing_id.clone(),
            last_contacted_at: lead.last_contacted_at,
            last_inbound_at: lead.last_inbound_at,
            crm_status: lead.crm_status.clone(),
            interests: lead.interests.clone(),
            scheduled: lead
                .pending
                .iter()
                .map(|p| Scheduled {
                    message_id: p.text.id.clone(),
                    kind: p.text.kind,
                    not_before: p.not_before,
                    rule: p.rule.clone(),
                    body: p.text.body.clone(),
                })
                .collect(),
            follow_up: lead.follow_up.as_ref().map(|f| FollowUp {
                step: f.step + 1,
                due: f.due,
                started_at: f.started_at,
                paused: lead.frozen.is_some(),
            }),
            timeline_entries: lead.timeline_len,
            created_at: lead.created_at,
            updated_at: lead.updated_at,
            agent: lead.agent.clone(),
            address_state: lead.profile.address_state.clone(),
            suppressed: lead.suppressed.as_ref().map(|s| SuppressionView::new(&lead.phone, s)),
        }
    }
}

/// `POST /v1/admin/leads/{phone}/freeze|unfreeze|opt-out`: the lead after the change and the
/// decisions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeadChanged {
    #[serde(flatten)]
    pub lead: LeadView,
    pub decisions: Vec<Decision>,
}

impl LeadChanged {
    pub fn new(lead: &LeadState, applied: &CoreApplied) -> Self {
        LeadChanged { lead: lead.into(), decisions: decisions(&applied.entries) }
    }
}

/// `GET /v1/admin/leads/{phone}/timeline`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelinePage {
    #[schema(value_type = String, example = "+12125550142")]
    pub phone: Phone,
    pub entries: Vec<TimelineEntry>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<u64>,
}

/// `GET /v1/admin/leads`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeadList {
    pub leads: Vec<LeadView>,
    pub count: usize,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/admin/stats`: counts for an operator's dashboard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Stats {
    pub leads_stored: usize,
    /// `null` when the supervisor did not answer in time.
    pub live_lead_actors: Option<usize>,
    pub dead_letters: usize,
    pub timers_scheduled: usize,
}

/// A text that was not sent automatically and waits for a person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetterView {
    /// The text's id, `<phone>#<seq>`.
    pub id: String,
    #[schema(value_type = String, example = "+12125550142")]
    pub phone: Phone,
    #[schema(value_type = String, example = "first_contact")]
    pub kind: TextKind,
    pub body: String,
    /// `in_doubt`, `provider.<code>`, `configuration.<code>`, ...
    pub reason: String,
    pub detail: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
}

impl From<&DeadLetter> for DeadLetterView {
    fn from(d: &DeadLetter) -> Self {
        DeadLetterView {
            id: d.text.id.clone(),
            phone: d.text.to.clone(),
            kind: d.text.kind,
            body: d.text.body.clone(),
            reason: d.reason.clone(),
            detail: d.detail.clone(),
            at: d.at,
            created_at: d.text.created_at,
        }
    }
}

/// `GET /v1/admin/dead-letters`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetterList {
    /// Dead letters on this page.
    pub count: usize,
    pub dead_letters: Vec<DeadLetterView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/admin/dead-letters/{id}/retry`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RetryQueued {
    pub id: String,
    /// Always `queued`.
    #[schema(example = "queued")]
    pub status: &'static str,
}

/// One entry of a lead's consent history, flattened for export (the JSON rows and the CSV
/// columns of the consent export, and the lead's `consent_history`).
///
/// `at` is when leadline recorded the change; for a grant, `granted_at` is when the lead
/// gave consent according to the lead source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConsentRow {
    pub phone: String,
    /// `granted`, `declared` (by source policy), `revoked` or `reinstated`.
    #[schema(value_type = String)]
    pub event: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub at: Ts,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub granted_at: Option<Ts>,
    pub source_url: Option<String>,
    pub disclosure: Option<String>,
    pub disclosure_sha256: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub seller: Option<String>,
    pub captured_from: Option<String>,
    /// For a grant, `consent.granted`; otherwise the rule that recognised the revocation or re-opt-in.
    pub rule: Option<String>,
    /// For a revocation or re-opt-in, what the lead wrote (or the carrier/admin said).
    pub evidence: Option<String>,
}

/// The lead's consent history as export rows, oldest first.
pub fn consent_rows(lead: &LeadState) -> Vec<ConsentRow> {
    lead.consent_history.iter().map(|change| ConsentRow::new(lead, change)).collect()
}

impl ConsentRow {
    fn new(lead: &LeadState, change: &ConsentChange) -> Self {
        let mut row = ConsentRow {
            phone: lead.phone.as_str().to_string(),
            event: "granted",
            at: lead.created_at,
            granted_at: None,
            source_url: None,
            disclosure: None,
            disclosure_sha256: None,
            ip: None,
            user_agent: None,
            seller: None,
            captured_from: None,
            rule: None,
            evidence: None,
        };
        match change {
            ConsentChange::Granted(r) | ConsentChange::Declared(r) => {
                let declared = matches!(change, ConsentChange::Declared(_));
                if declared {
                    row.event = "declared";
                    row.evidence = Some("declared by source policy".into());
                }
                row.at = r.recorded_at;
                row.granted_at = r.granted_at;
                row.source_url = r.source_url.clone();
                row.disclosure = r.disclosure.clone();
                row.disclosure_sha256 = r.disclosure_sha256.clone();
                row.ip = r.ip.clone();
                row.user_agent = r.user_agent.clone();
                row.seller = r.seller.clone();
                row.captured_from = r.captured_from.clone();
                row.rule = Some(if declared { "consent.declared" } else { "consent.granted" }.into());
            }
            ConsentChange::Revoked { at, rule, evidence } => {
                row.event = "revoked";
                row.at = *at;
                row.rule = Some(rule.clone());
                row.evidence = Some(evidence.clone());
            }
            ConsentChange::Reinstated { at, rule, evidence } => {
                row.event = "reinstated";
                row.at = *at;
                row.rule = Some(rule.clone());
                row.evidence = Some(evidence.clone());
            }
        }
        row
    }
}

/// `GET /v1/admin/leads/{phone}/consent` as JSON (and `leadline consent export`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentExport {
    #[schema(value_type = String, example = "+12125550142")]
    pub phone: Phone,
    pub status: LeadStatus,
    /// The grant that applies now (`null` without one, or after an opt-out).
    pub consent: Option<ConsentRecord>,
    pub history: Vec<ConsentRow>,
}

impl From<&LeadState> for ConsentExport {
    fn from(lead: &LeadState) -> Self {
        ConsentExport {
            phone: lead.phone.clone(),
            status: lead.status,
            consent: lead.current_consent().cloned(),
            history: consent_rows(lead),
        }
    }
}

/// A number on a do-not-contact list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuppressionView {
    #[schema(value_type = String, example = "+12125550142")]
    pub phone: Phone,
    /// `admin`, `crm`, `internal_dnc`, `litigator`, ...
    pub list: String,
    pub reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub added_at: Ts,
}

impl SuppressionView {
    pub fn new(phone: &Phone, s: &Suppression) -> Self {
        SuppressionView { phone: phone.clone(), list: s.list.clone(), reason: s.reason.clone(), added_at: s.added_at }
    }
}

/// `PUT /v1/admin/suppressions/{phone}`: the entry, and the one it replaced.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuppressionPut {
    #[serde(flatten)]
    pub entry: SuppressionView,
    pub previous: Option<SuppressionView>,
}

/// `GET /v1/admin/suppressions`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuppressionList {
    /// Entries on this page.
    pub count: usize,
    pub suppressions: Vec<SuppressionView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Phone>,
}

/// `DELETE /v1/admin/suppressions/{phone}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuppressionRemoved {
    #[schema(value_type = String, example = "+12125550142")]
    pub phone: Phone,
    pub removed: SuppressionView,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `GET /readyz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub store: &'static str,
    /// `null` when the lead supervisor did not answer.
    pub live_lead_actors: Option<usize>,
    /// Cluster mode only: `ok` (connected to NATS, JetStream acknowledging writes, caught up
    /// with the log once since start), `disconnected`, `no_quorum` or `catching_up`; absent
    /// on a single node.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ok")]
    pub cluster: Option<&'static str>,
    /// Cluster mode only: how many of the log's partitions this node owns now (it fires
    /// their leads' timers); 0 while it has not heard from NATS for `lease_ms`. Absent on a
    /// single node.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 3)]
    pub partitions_owned: Option<usize>,
}

/// `leadline compact`: what the rewrite into a fresh database did.
#[derive(Debug, Clone, Serialize)]
pub struct CompactView {
    /// The database (`storage.path`), now the compacted copy.
    pub path: String,
    pub leads: u64,
    pub keys: u64,
    /// Size on disk before and after, in bytes.
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub took_ms: u64,
}

/// `POST /v1/admin/backup` and `leadline backup`: the copy that was written.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct BackupView {
    /// Where the copy is (a sled database `leadline` opens as its `storage.path`).
    #[schema(example = "/var/backups/leadline/2026-05-01")]
    pub dir: String,
    /// Leads in the copy.
    pub leads: u64,
    /// Keys copied, over all trees.
    pub keys: u64,
    /// The copy's size on disk, in bytes.
    pub bytes: u64,
    /// How long the backup took, flush included.
    pub took_ms: u64,
    /// How long events waited for it (the copy, without the flush).
    pub writes_paused_ms: u64,
}

// ---------------------------------------------------------------------------------------
// Outbound event webhooks: the payload subscribers receive, and the admin views
// ---------------------------------------------------------------------------------------

/// What leadline POSTs to an event webhook subscriber (Standard Webhooks envelope: `type`,
/// `timestamp`, `data`), signed with `webhook-id` (= `data.id`), `webhook-timestamp` and
/// `webhook-signature`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventWebhookPayload {
    /// The event type, e.g. `text.sent`.
    #[serde(rename = "type")]
    #[schema(example = "text.sent")]
    pub event_type: String,
    /// When it happened (leadline's clock).
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: Ts,
    pub data: EventWebhookData,
}

/// The event's facts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventWebhookData {
    /// Unique and the same on every retry (also the `webhook-id` header): `evt_<digits>_<sequence>`.
    #[schema(example = "evt_12125550142_3")]
    pub id: String,
    /// Per lead: 1, 2, 3, ... in the order the lead's events happened. A subscriber that
    /// receives a lower number than it has seen got a retry or a replay.
    pub sequence: u64,
    #[schema(value_type = String, example = "+12125550142")]
    pub phone: Phone,
    /// The lead's status after the event.
    pub status: LeadStatus,
    /// The text the event is about (`text.*`, `dead_letter.created`); the dead letter's id.
    pub message_id: Option<String>,
    /// The rule that caused it, e.g. `provider.accepted`, `opt_out.keyword`, `handoff.reply`.
    pub rule: Option<String>,
    /// What happened, in words (the timeline entry; for `lead.handed_off` the message for the agent).
    pub detail: String,
    pub agent: Option<String>,
}

impl From<&leadline_core::lead_events::LeadEvent> for EventWebhookPayload {
    fn from(e: &leadline_core::lead_events::LeadEvent) -> Self {
        EventWebhookPayload {
            event_type: e.event_type.clone(),
            timestamp: e.at,
            data: EventWebhookData {
                id: e.id.clone(),
                sequence: e.sequence,
                phone: e.phone.clone(),
                status: e.status,
                message_id: e.message_id.clone(),
                rule: e.rule.clone(),
                detail: e.detail.clone(),
                agent: e.agent.clone(),
            },
        }
    }
}

/// One operator of the admin API and page (`/v1/admin/operators`). Never carries a
/// password hash or a token, only the tokens' public ids.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatorView {
    pub name: String,
    #[schema(value_type = String, example = "agent")]
    pub role: leadline_core::operators::Role,
    /// Whether the operator can sign in to the admin page.
    pub has_password: bool,
    /// The public ids of the operator's API tokens.
    pub tokens: Vec<TokenView>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    pub created_by: String,
    /// Set once revoked: nothing of theirs works any more.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Ts>,
}

/// An API token's public id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
}

impl From<&leadline_core::operators::Operator> for OperatorView {
    fn from(o: &leadline_core::operators::Operator) -> Self {
        OperatorView {
            name: o.name.clone(),
            role: o.role,
            has_password: o.password_hash.is_some(),
            tokens: o.tokens.iter().map(|t| TokenView { id: t.id.clone(), created_at: t.created_at }).collect(),
            created_at: o.created_at,
            created_by: o.created_by.clone(),
            revoked_at: o.revoked_at,
        }
    }
}

/// One configured event webhook subscription (without its secrets).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookSubscriptionView {
    /// Derived from the URL; prefixes the ids of its deliveries.
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// How many secrets sign its deliveries (more than one during a rotation).
    pub secrets: usize,
}

/// One event on its way to (or given up for) one subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDeliveryView {
    /// `<subscription>.<event id>`: replay a dead one with `POST /v1/admin/webhooks/deliveries/{id}/replay`.
    pub id: String,
    pub subscription: String,
    /// `queued` (waiting or being retried) or `dead` (retries exhausted).
    #[schema(example = "dead")]
    pub state: String,
    pub event: EventWebhookPayload,
    /// Failed attempts so far.
    pub attempts: u32,
    pub last_error: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<Ts>,
}

impl WebhookDeliveryView {
    pub fn new(d: &leadline_core::storage::WebhookDelivery, state: &str) -> Self {
        WebhookDeliveryView {
            id: d.id(),
            subscription: d.subscription.clone(),
            state: state.into(),
            event: (&d.event).into(),
            attempts: d.attempts,
            last_error: d.last_error.clone(),
            last_attempt_at: d.last_attempt_at,
        }
    }
}

/// `GET /v1/admin/webhooks/deliveries`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDeliveryList {
    pub subscriptions: Vec<WebhookSubscriptionView>,
    /// Deliveries waiting (all of them counted).
    pub queued_count: usize,
    /// The first 100 waiting deliveries, per subscription and lead in delivery order.
    pub queued: Vec<WebhookDeliveryView>,
    pub dead_count: usize,
    /// Every dead delivery.
    pub dead: Vec<WebhookDeliveryView>,
}

/// `POST /v1/admin/webhooks/deliveries/{id}/replay`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookReplayQueued {
    pub id: String,
    /// Always `queued`.
    #[schema(example = "queued")]
    pub status: &'static str,
}

/// `POST /v1/admin/webhooks/test`: what each subscriber answered to a `webhook.test` event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookTestReport {
    pub results: Vec<WebhookTestResult>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookTestResult {
    pub subscription: String,
    pub url: String,
    /// The subscriber answered 2xx.
    pub delivered: bool,
    /// Its HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it was not delivered.
    pub error: Option<String>,
}

/// `GET /v1/admin/fub/writes`: the Follow Up Boss write-back queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FubWriteList {
    /// Whether the write-back is on (`FUB_API_KEY` set and `integrations.followupboss.writeback.enabled`).
    pub enabled: bool,
    pub queued_count: usize,
    /// The first 100 waiting writes (`last_error` starting `in doubt:` = read before it is retried).
    pub queued: Vec<WebhookDeliveryView>,
    pub dead_count: usize,
    pub dead: Vec<WebhookDeliveryView>,
}

/// `GET /v1/admin/operators`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatorList {
    pub count: usize,
    pub operators: Vec<OperatorView>,
}

/// `POST /v1/admin/operators/{name}/tokens`: the new token, shown this once (only its
/// SHA-256 is stored).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedToken {
    pub operator: String,
    pub token_id: String,
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
}

/// `POST /v1/admin/leads/{phone}/messages`: what became of a person's reply.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplyDecision {
    /// The text's id (`<phone>#<seq>`).
    pub message_id: Option<String>,
    /// `queued` (handed to the gateway), `deferred` (quiet hours: sent at `not_before`) or
    /// `blocked` (never sent).
    #[schema(example = "queued")]
    pub decision: &'static str,
    /// The rule behind the decision, e.g. `manual.reply`, `quiet_hours.federal`,
    /// `manual.no_consent`.
    pub rule: Option<String>,
    pub detail: String,
    /// Who sent it.
    pub operator: String,
}

/// `POST /v1/admin/suppressions/import`: what an upload did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuppressionImport {
    /// Numbers stored (new or updated).
    pub imported: usize,
    /// Of those, numbers that were already listed (their entry was replaced).
    pub already_listed: usize,
    /// Lines not imported, with why.
    pub skipped: Vec<SkippedLine>,
    /// The lists the numbers went on.
    pub lists: Vec<String>,
    /// Durable writes used (one per 5,000 numbers).
    pub batches: usize,
}

/// A line of an upload that was not imported.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkippedLine {
    pub line: u64,
    pub reason: String,
}
