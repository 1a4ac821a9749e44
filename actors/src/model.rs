//! The lead's state, the events that change it, and what the decision core asks for.
//!
//! Everything here is persisted through `codec` (bincode), so: no `flatten`, `tag`,
//! `untagged` or `skip_serializing_if`, and any field change bumps the codec version.

use crate::phone::Phone;
use crate::provider::{ReceiptFailure, SendFailure};
use crate::ts::Ts;
use serde::{Deserialize, Serialize};

/// Where a lead is in the conversation (the admin API's `status`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LeadStatus {
    New,
    ContactedSms,
    Engaged,
    OptOut,
    Undeliverable,
}

impl LeadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "NEW",
            LeadStatus::ContactedSms => "CONTACTED_SMS",
            LeadStatus::Engaged => "ENGAGED",
            LeadStatus::OptOut => "OPT_OUT",
            LeadStatus::Undeliverable => "UNDELIVERABLE",
        }
    }
}

/// Proof of prior express written consent, as captured on the lead form.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub granted_at: Option<Ts>,
    pub source_url: Option<String>,
    /// The exact disclosure text the lead agreed to.
    pub disclosure: Option<String>,
    /// SHA-256 (hex) of `disclosure`, so the text shown can be proven later.
    pub disclosure_sha256: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The seller (brand or agent) the consent names.
    pub seller: Option<String>,
    /// Which lead source delivered it.
    pub captured_from: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub recorded_at: Ts,
}

/// One entry of the immutable consent history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentChange {
    Granted(ConsentRecord),
    /// Consent withdrawn (a STOP, a revocation in other words, a provider reporting the recipient opted out, an admin).
    Revoked {
        at: Ts,
        rule: String,
        evidence: String,
    },
    /// Opted back in (START/UNSTOP/YES); the last grant applies again.
    Reinstated {
        at: Ts,
        rule: String,
        evidence: String,
    },
    /// No record of the lead's own: the brokerage declared that the lead's source collects
    /// consent naming it (`[compliance.sources.<source>]`). Added last: bincode numbers
    /// variants by position, so snapshots written before it still decode.
    Declared(ConsentRecord),
}

/// The grant that applies now, and whether it is a source-policy declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant<'a> {
    pub record: &'a ConsentRecord,
    pub declared: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    pub reason: Option<String>,
    pub at: Ts,
}

/// The lead's number is on a do-not-contact list (internal DNC, litigator list, admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Which list: `internal_dnc`, `litigator`, `admin`, ...
    pub list: String,
    pub reason: Option<String>,
    pub added_at: Ts,
}

/// Contact details as the lead sources supplied them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub source: Option<String>,
    pub source_lead_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Two-letter state of the lead's own address, when known (quiet hours use it).
    pub address_state: Option<String>,
}

/// The next step of a follow-up sequence ("no reply 24 h after the first text -> a nudge").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpDue {
    /// Index into the configured steps.
    pub step: u32,
    pub due: Ts,
    /// When the sequence started (the first text); step delays count from here.
    pub started_at: Ts,
}

/// Something a person should know now (the lead replied, an ambiguous opt-out). Delivered
/// to the brokerage's hand-off webhook by the shell, durably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique: `<phone>!<timeline seq at creation>-<n>`.
    pub id: String,
    pub phone: Phone,
    /// `handoff.reply`, `opt_out.ambiguous`, ...
    pub reason: String,
    pub message: String,
    pub agent: Option<String>,
    pub at: Ts,
}

/// The latest known delivery status of one text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub message_id: String,
    pub status: String,
}

/// A text that may not go out yet (quiet hours, caps) and waits for its moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingText {
    pub text: OutboundText,
    pub not_before: Ts,
    pub rule: String,
}

/// Everything a lead actor holds in memory; persisted as one snapshot after every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadState {
    pub phone: Phone,
    pub status: LeadStatus,
    pub frozen: Option<Freeze>,
    /// Mirrors the suppression list; the lead actor refreshes it before every decision.
    pub suppressed: Option<Suppression>,
    pub profile: Profile,
    pub consent_history: Vec<ConsentChange>,
    pub last_property: Option<String>,
    pub last_listing_id: Option<String>,
    pub last_contacted_at: Option<Ts>,
    pub last_inbound_at: Option<Ts>,
    pub crm_status: Option<String>,
    /// The agent the CRM assigned, if any.
    pub agent: Option<String>,
    /// Listing ids the lead asked about or saved.
    pub interests: Vec<String>,
    /// When automated texts were queued, newest last (rolling caps look at these).
    pub recent_sends: Vec<Ts>,
    /// Texts waiting for an allowed moment.
    pub pending: Vec<PendingText>,
    /// Latest delivery status of recent texts (newest last, bounded), so receipts only move forward.
    pub deliveries: Vec<Delivery>,
    /// Consecutive unreachable-handset receipts ([`ReceiptFailure::Unreachable`]); reset by a delivered one.
    pub unreachable_in_row: u32,
    /// The follow-up sequence step that is due next, if a sequence is running.
    pub follow_up: Option<FollowUpDue>,
    /// Sequence for message ids; never reused, so a message id is unique forever.
    pub next_message_seq: u64,
    /// Number of timeline entries and the hash of the last one (the audit chain head).
    pub timeline_len: u64,
    pub timeline_head: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl LeadState {
    pub fn new(phone: Phone, now: Ts) -> Self {
        LeadState {
            phone,
            status: LeadStatus::New,
            frozen: None,
            suppressed: None,
            profile: Profile::default(),
            consent_history: Vec::new(),
            last_property: None,
            last_listing_id: None,
            last_contacted_at: None,
            last_inbound_at: None,
            crm_status: None,
            agent: None,
            interests: Vec::new(),
            recent_sends: Vec::new(),
            pending: Vec::new(),
            deliveries: Vec::new(),
            unreachable_in_row: 0,
            follow_up: None,
            next_message_seq: 1,
            timeline_len: 0,
            timeline_head: String::new(),
            created_at: now,
            updated_at: now,
        }
    }

    pub fn opted_out(&self) -> bool {
        self.status == LeadStatus::OptOut
    }

    /// The grant that currently applies: the last grant, unless a revocation came after
    /// it without a later reinstatement.
    pub fn current_consent(&self) -> Option<&ConsentRecord> {
        self.current_grant().map(|g| g.record)
    }

    /// As [`current_consent`](Self::current_consent), saying whether the grant is declared
    /// by source policy rather than the lead's own record.
    pub fn current_grant(&self) -> Option<Grant<'_>> {
        let mut current = None;
        let mut last_grant = None;
        for change in &self.consent_history {
            match change {
                ConsentChange::Granted(record) => {
                    last_grant = Some(Grant { record, declared: false });
                    current = last_grant;
                }
                ConsentChange::Declared(record) => {
                    last_grant = Some(Grant { record, declared: true });
                    current = last_grant;
                }
                ConsentChange::Revoked { .. } => current = None,
                ConsentChange::Reinstated { .. } => current = last_grant,
            }
        }
        current
    }

    /// The follow-up step that may come due: none while automation is frozen. A freeze
    /// pauses the sequence (the step stays in `follow_up`); unfreezing re-plans it
    /// (`decide`), and a reply, an opt-out or a CRM halt meanwhile cancels it as usual.
    pub fn active_follow_up(&self) -> Option<&FollowUpDue> {
        self.follow_up.as_ref().filter(|_| self.frozen.is_none())
    }

    /// When the lead next needs a `Wake`: its earliest pending text, or its follow-up step
    /// unless the sequence is paused by a freeze. The lead actor stores this as its durable
    /// timer; the simulator and the property tests fire their timers from it too.
    pub fn next_wake_at(&self) -> Option<Ts> {
        self.pending.iter().map(|p| p.not_before).chain(self.active_follow_up().map(|f| f.due)).min()
    }

    /// When consent was last revoked, if ever.
    pub fn last_revocation(&self) -> Option<Ts> {
        self.consent_history.iter().rev().find_map(|c| match c {
            ConsentChange::Revoked { at, .. } => Some(*at),
            _ => None,
        })
    }
}

/// The kind of an outbound text decides which rules apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextKind {
    /// First text to a new lead.
    FirstContact,
    /// Any other automated text.
    Automated,
    /// An MLS change on a listing the lead cares about.
    ListingAlert,
    /// A step of a follow-up sequence ("no reply in 24 h").
    FollowUp,
    /// The one confirmation after an opt-out (FCC 64.1200(a)(12)).
    OptOutConfirmation,
    /// Confirmation of START/UNSTOP.
    OptInConfirmation,
    /// Reply to HELP/INFO.
    Help,
    /// A person's one-to-one reply from the admin API or page (`decide::manual_gate`).
    /// Added last: bincode numbers variants by position.
    ManualReply,
}

impl TextKind {
    /// Texts that need consent, respect freezes, quiet hours and caps. Replies the law
    /// requires (opt-out confirmation, HELP) and the opt-in confirmation do not.
    pub fn is_automated(self) -> bool {
        matches!(self, TextKind::FirstContact | TextKind::Automated | TextKind::ListingAlert | TextKind::FollowUp)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TextKind::FirstContact => "first_contact",
            TextKind::Automated => "automated",
            TextKind::ListingAlert => "listing_alert",
            TextKind::FollowUp => "follow_up",
            TextKind::OptOutConfirmation => "opt_out_confirmation",
            TextKind::OptInConfirmation => "opt_in_confirmation",
            TextKind::Help => "help",
            TextKind::ManualReply => "manual_reply",
        }
    }
}

/// A text the decision core wants sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundText {
    /// Unique forever: `<phone>#<seq>`. The outbox key, so a retry can never send twice.
    pub id: String,
    pub to: Phone,
    pub kind: TextKind,
    pub body: String,
    /// The rule that asked for this text (e.g. `sequence.first_contact`).
    pub rule: String,
    pub created_at: Ts,
}

impl OutboundText {
    /// The id as logs may show it (phone masked).
    pub fn log_id(&self) -> String {
        crate::phone::mask_message_id(&self.id)
    }
}

/// Listing details as a lead source or the MLS describes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingRef {
    pub id: Option<String>,
    pub address: Option<String>,
    pub price: Option<u64>,
}

/// A new inquiry, normalised from any lead source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadCapture {
    pub source: String,
    pub source_lead_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub address_state: Option<String>,
    pub listing: Option<ListingRef>,
    pub message: Option<String>,
    pub consent: Option<ConsentInput>,
    pub occurred_at: Option<Ts>,
}

/// What happened to a listing (`change` of `POST /v1/events/mls`, docs/http-api.md).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingChangeKind {
    PriceDrop,
    PriceIncrease,
    StatusChange,
    BackOnMarket,
    NewListing,
}

impl ListingChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ListingChangeKind::PriceDrop => "price_drop",
            ListingChangeKind::PriceIncrease => "price_increase",
            ListingChangeKind::StatusChange => "status_change",
            ListingChangeKind::BackOnMarket => "back_on_market",
            ListingChangeKind::NewListing => "new_listing",
        }
    }
}

/// An MLS change, from the push endpoint or the RESO poller. Statuses use RESO
/// `StandardStatus` names (e.g. `Active`, `ActiveUnderContract`, `Pending`, `Closed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingChange {
    pub listing_id: String,
    pub change: ListingChangeKind,
    pub address: Option<String>,
    pub old_price: Option<u64>,
    pub new_price: Option<u64>,
    pub old_status: Option<String>,
    pub new_status: Option<String>,
}

impl ListingChange {
    /// Identifies this change for idempotency: the same change delivered twice is applied once.
    pub fn dedupe_key(&self) -> String {
        format!(
            "mls:{}:{}:{}:{}",
            self.listing_id,
            self.change.as_str(),
            self.new_price.map(|p| p.to_string()).unwrap_or_default(),
            self.new_status.as_deref().unwrap_or("")
        )
    }
}

/// Consent as submitted; validated by the decision core.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentInput {
    pub granted_at: Option<Ts>,
    pub source_url: Option<String>,
    pub disclosure: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub seller: Option<String>,
}

/// What the provider said about a text the gateway tried to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SendResult {
    Accepted {
        provider_id: String,
        status: String,
    },
    Failed {
        /// The provider's code, quoted in the rule id (`provider.<code>`).
        code: Option<u32>,
        /// What the refusal means (the provider module's classification of `code`).
        #[serde(default)]
        failure: SendFailure,
        message: String,
        permanent: bool,
    },
    /// The gateway re-checked the lead just before sending and refused.
    Cancelled {
        rule: String,
        reason: String,
    },
    /// The gateway re-checked just before sending and it is outside the allowed hours now:
    /// the text goes back to the lead's pending list.
    Deferred {
        text: Box<OutboundText>,
        until: Ts,
        rule: String,
        reason: String,
    },
}

/// Every input to a lead, normalised: HTTP webhooks, admin commands and gateway results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    LeadCaptured(Box<LeadCapture>),
    InboundText {
        body: String,
        message_sid: Option<String>,
    },
    Freeze {
        reason: Option<String>,
    },
    Unfreeze,
    /// An operator records an opt-out the lead gave another way (a call, an email).
    AdminOptOut {
        reason: Option<String>,
        /// Send the one opt-out confirmation text (allowed; not required for non-text requests).
        send_confirmation: bool,
    },
    /// A durable timer fired: release pending texts that are due.
    Wake,
    /// A CRM stage/status change (halts or resumes automation per config).
    CrmChanged {
        status: String,
        agent: Option<String>,
        /// Which CRM sent it (recorded with a suppression it causes).
        source: Option<String>,
    },
    /// A listing the lead cares about changed.
    ListingChanged(Box<ListingChange>),
    /// The lead saved or viewed a listing (CRM or website), so its changes concern them.
    InterestAdded {
        listing_id: String,
        address: Option<String>,
        how: String,
    },
    /// The provider's status callback for one of our texts.
    DeliveryReceipt {
        message_id: String,
        provider_id: String,
        status: String,
        /// The provider's code, quoted in the rule id (`delivery.<status>.<code>`).
        error_code: Option<u32>,
        /// What `error_code` means (the provider module's classification); `None` without a code.
        #[serde(default)]
        failure: Option<ReceiptFailure>,
    },
    SendOutcome {
        message_id: String,
        kind: TextKind,
        result: SendResult,
    },
    /// `leadline compliance rescan`: a reply stored earlier is a revocation under the
    /// current classifier (`rule`, `classifier` version), though it was not read as one.
    RevocationFound {
        reply: String,
        rule: String,
        classifier: String,
    },
    /// An operator's command (freeze, unfreeze, opt-out, a reply), applied as `command`
    /// with the operator's name on every timeline entry it causes. Added after the older
    /// variants: bincode numbers variants by position.
    ByOperator {
        operator: String,
        command: Box<Event>,
    },
    /// A person answers the lead (one-to-one, not automation): checked by
    /// `decide::manual_gate`, recorded on the timeline, sent by the gateway.
    ManualReply(ManualReply),
    /// An operator acted on something of this lead's outside its actor (a dead letter
    /// retried or discarded, the number put on or taken off a do-not-contact list): recorded
    /// on the timeline (inside `ByOperator`, so with the operator's name).
    OperatorAction {
        rule: String,
        detail: String,
    },
}

/// What a person's reply says: their own words, or a configured template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ManualReply {
    Body(String),
    Template { name: String, first_name: Option<String>, agent: Option<String>, property: Option<String> },
}

impl Event {
    /// A short name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::LeadCaptured(_) => "lead_captured",
            Event::InboundText { .. } => "inbound_text",
            Event::Freeze { .. } => "freeze",
            Event::Unfreeze => "unfreeze",
            Event::AdminOptOut { .. } => "admin_opt_out",
            Event::Wake => "wake",
            Event::CrmChanged { .. } => "crm_changed",
            Event::ListingChanged(_) => "listing_changed",
            Event::InterestAdded { .. } => "interest_added",
            Event::DeliveryReceipt { .. } => "delivery_receipt",
            Event::SendOutcome { .. } => "send_outcome",
            Event::RevocationFound { .. } => "revocation_found",
            Event::ByOperator { command, .. } => command.kind(),
            Event::ManualReply(_) => "manual_reply",
            Event::OperatorAction { .. } => "operator_action",
        }
    }
}

/// What a timeline entry records.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// An input arrived (lead captured, reply, admin command).
    Event,
    /// A text was decided and handed to the gateway.
    TextQueued,
    /// A text was not sent, and never will be.
    TextBlocked,
    /// A text waits for an allowed moment.
    TextDeferred,
    /// The provider accepted a text.
    TextSent,
    /// The provider refused a text, or the gateway cancelled it.
    TextFailed,
    StatusChanged,
    ConsentChanged,
    Admin,
    /// A delivery receipt from the carrier.
    Delivery,
}

/// A timeline entry as the decision core produces it (before sequencing and hashing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub kind: EntryKind,
    /// The rule that caused it, e.g. `consent.missing`, `opt_out.keyword`.
    pub rule: Option<String>,
    pub detail: String,
    pub message_id: Option<String>,
}

/// A persisted, hash-chained timeline entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub seq: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Ts,
    pub kind: EntryKind,
    pub rule: Option<String>,
    pub detail: String,
    pub message_id: Option<String>,
    /// Hash of the previous entry ("" for the first).
    pub prev_hash: String,
    /// SHA-256 over the previous hash and this entry's content.
    pub hash: String,
}
