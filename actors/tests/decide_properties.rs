//! Property tests for the pure decision core: the rules of docs/compliance.md ("The gate",
//! "Revocation") hold over random event sequences.
//!
//! Each case is a random scenario for one lead: a phone from a small set spanning area codes and
//! time zones, a start instant somewhere in 2026-2027 (so DST changes and weekends come up), and a
//! sequence of events (lead captures with good and bad consent, inbound texts, freeze/unfreeze,
//! timer wakes, provider outcomes, delivery receipts, CRM status changes, MLS listing changes,
//! saved listings) separated by random gaps from seconds to days. Half the scenarios are
//! conversation-heavy, half are listing-alert-heavy (many automated texts, to stress the caps).
//!
//! The scenario is applied the way the lead actor does it: every `Decision.state` is the input of
//! the next step, every text in `Decision.sends` is "sent at time now" and stays in flight until a
//! provider outcome for it arrives (the gateway first re-runs `gate(.., Stage::Send)` on the
//! freshest state, then reports exactly one outcome per queued text; a `Deferred` outcome hands
//! the text back to the lead, which queues it again later under the same id). When `auto_wake` is
//! on, the durable timers fire: a `Wake` is applied at each pending text's `not_before` (and at the
//! follow-up sequence's next due step) before the next event. Every scenario ends with a drain:
//! wakes at those moments until nothing is pending.
//!
//! Each invariant is its own proptest over the same generator. The default case count keeps each
//! one well under 10 s in a debug build; set `PROPTEST_CASES` to run more.

use chrono::Duration;
use leadline_core::classify::{classify, Intent};
use leadline_core::decide::{decide, gate, Decision, Gate, Stage};
use leadline_core::model::*;
use leadline_core::policy::{ComplianceSettings, OverCap, Policy};
use leadline_core::provider::{ReceiptFailure, SendFailure};
use leadline_core::quiet_hours::{cap_per_24h, check_window, Recipient, WindowCheck};
use leadline_core::{Phone, Ts};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(|| Policy::with_defaults("Acme Realty"));

/// A global cap above the state caps (FL: 3), so the state cap is the one that binds.
static LOOSE_GLOBAL_CAP: LazyLock<Policy> = LazyLock::new(|| {
    policy_with(|c| {
        c.max_automated_per_24h = 6;
    })
});

/// A tight global cap whose overflow is dropped instead of deferred.
static DROP_OVER_CAP: LazyLock<Policy> = LazyLock::new(|| {
    policy_with(|c| {
        c.max_automated_per_24h = 2;
        c.over_cap = OverCap::Drop;
    })
});

fn policy_with(change: impl FnOnce(&mut ComplianceSettings)) -> Policy {
    let mut policy = Policy::with_defaults("Acme Realty");
    change(&mut policy.compliance);
    policy
}

/// NY, FL (Miami), TX (Dallas), WA (Seattle), HI, CT.
const PHONES: [&str; 6] =
    ["+12125550142", "+13055550142", "+12145550142", "+12065550142", "+18085550142", "+12035550142"];

const INBOUND: [&str; 13] = [
    "STOP",
    "stop",
    "Stop please",
    "please stop texting me",
    "START",
    "UNSTOP",
    "YES",
    "HELP",
    "INFO",
    "Is it available?",
    "can you stop by at 5?",
    "no más mensajes",
    "wrong number",
];

/// Address states a capture may carry (a lead's own address can be stricter than its area code).
const ADDRESS_STATES: [Option<&str>; 7] = [None, None, None, Some("FL"), Some("TX"), Some("NY"), Some("Washington")];

/// 2026-01-01T00:00:00Z.
const START_2026_MS: i64 = 1_767_225_600_000;

// -------------------------------------------------------------------------------------------------
// Scenario generation
// -------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum ConsentSpec {
    /// The capture carries no consent at all.
    Absent,
    Complete {
        minutes_ago: i64,
    },
    /// Dated up to 5 minutes ahead: lead-source clock skew, still valid.
    SkewedFuture {
        minutes_ahead: i64,
    },
    MissingUrl,
    BlankUrl,
    MissingTimestamp,
    Future {
        minutes_ahead: i64,
    },
    VeryOld {
        days_ago: i64,
    },
    /// Just inside the 548-day limit: it expires while the scenario runs.
    NearExpiry {
        minutes_ago: i64,
    },
}

#[derive(Debug, Clone)]
enum OutcomeSpec {
    Accepted,
    Failed {
        code: Option<u32>,
        failure: SendFailure,
        permanent: bool,
    },
    Cancelled,
    /// The gateway's last-moment check deferred the text by this many minutes.
    Deferred {
        minutes: i64,
    },
}

#[derive(Debug, Clone)]
enum Action {
    Capture {
        consent: ConsentSpec,
        address_state: Option<&'static str>,
        first_name: bool,
        listing: Option<u8>,
    },
    Inbound(usize),
    Freeze,
    Unfreeze,
    Wake,
    /// The outcome of one of the texts in flight (`pick` modulo their number); a `Wake` when none is.
    Outcome {
        pick: usize,
        outcome: OutcomeSpec,
    },
    /// A carrier receipt for one of the texts sent so far (`pick` modulo their number).
    Receipt {
        pick: usize,
        status: &'static str,
        code: Option<u32>,
        failure: Option<ReceiptFailure>,
    },
    Crm {
        status: &'static str,
        agent: bool,
    },
    /// MLS change on listing `MLS-<listing>`.
    Listing {
        listing: u8,
        change: ListingChangeKind,
        address: bool,
        new_status: Option<&'static str>,
    },
    Interest {
        listing: u8,
    },
}

#[derive(Debug, Clone)]
struct Step {
    gap_secs: i64,
    action: Action,
}

#[derive(Debug, Clone)]
struct Scenario {
    phone: &'static str,
    start_ms: i64,
    auto_wake: bool,
    steps: Vec<Step>,
}

/// `valid_bias` raises the weight of complete, in-date grants.
fn consent_spec(valid_bias: u32) -> impl Strategy<Value = ConsentSpec> {
    prop_oneof![
        2 => Just(ConsentSpec::Absent),
        6 * valid_bias => (0i64..=60 * 24 * 60).prop_map(|minutes_ago| ConsentSpec::Complete { minutes_ago }),
        1 => (0i64..=5).prop_map(|minutes_ahead| ConsentSpec::SkewedFuture { minutes_ahead }),
        1 => Just(ConsentSpec::MissingUrl),
        1 => Just(ConsentSpec::BlankUrl),
        1 => Just(ConsentSpec::MissingTimestamp),
        1 => (6i64..=60 * 24 * 10).prop_map(|minutes_ahead| ConsentSpec::Future { minutes_ahead }),
        1 => (549i64..=3000).prop_map(|days_ago| ConsentSpec::VeryOld { days_ago }),
        1 => (547i64 * 24 * 60..=548 * 24 * 60).prop_map(|minutes_ago| ConsentSpec::NearExpiry { minutes_ago }),
    ]
}

fn outcome_spec() -> impl Strategy<Value = OutcomeSpec> {
    prop_oneof![
        4 => Just(OutcomeSpec::Accepted),
        3 => (prop::sample::select(SEND_FAILURES.to_vec()), any::<bool>())
            .prop_map(|((code, failure), permanent)| OutcomeSpec::Failed { code, failure, permanent }),
        1 => Just(OutcomeSpec::Cancelled),
        2 => (1i64..=60 * 24 * 2).prop_map(|minutes| OutcomeSpec::Deferred { minutes }),
    ]
}

const CRM_STATUSES: [&str; 7] =
    ["contacted", "Viewing Scheduled", "closed", "do-not-contact", "nurture", "new", "appointment_set"];
const RECEIPT_STATUSES: [&str; 6] = ["queued", "sent", "delivered", "undelivered", "failed", "read"];
/// Provider codes with the classification the service's Twilio module gives them
/// (`src/integrations/twilio/codes.rs`): the core acts on the classification only.
const SEND_FAILURES: [(Option<u32>, SendFailure); 6] = [
    (None, SendFailure::Other),
    (Some(30034), SendFailure::SenderMisconfigured),
    (Some(21610), SendFailure::RecipientOptedOut),
    (Some(21211), SendFailure::InvalidNumber),
    (Some(21614), SendFailure::InvalidNumber),
    (Some(30007), SendFailure::Other),
];
const RECEIPT_CODES: [(Option<u32>, Option<ReceiptFailure>); 6] = [
    (None, None),
    (None, None),
    (Some(30003), Some(ReceiptFailure::Unreachable)),
    (Some(30005), Some(ReceiptFailure::CannotReceive)),
    (Some(30006), Some(ReceiptFailure::CannotReceive)),
    (Some(30007), Some(ReceiptFailure::Filtered)),
];
const LISTING_STATUSES: [Option<&str>; 4] = [None, Some("ActiveUnderContract"), Some("Closed"), Some("Active")];
const LISTING_CHANGES: [ListingChangeKind; 5] = [
    ListingChangeKind::PriceDrop,
    ListingChangeKind::PriceIncrease,
    ListingChangeKind::StatusChange,
    ListingChangeKind::BackOnMarket,
    ListingChangeKind::NewListing,
];

/// How a scenario weighs its events.
#[derive(Debug, Clone, Copy)]
enum Mix {
    /// A bit of everything: conversations, opt-outs, admin actions, outcomes.
    Conversation,
    /// Mostly MLS changes on watched listings, minutes to hours apart, with good consent:
    /// many automated texts, so quiet hours and the rolling caps are exercised.
    Alerts,
}

fn action(mix: Mix) -> impl Strategy<Value = Action> {
    // (capture, inbound, freeze, unfreeze, wake, outcome, receipt, crm, listing, interest, valid consent bias)
    let (cap, inb, frz, unfrz, wake, out, rcpt, crm, lst, int, bias) = match mix {
        Mix::Conversation => (3, 5, 1, 1, 3, 3, 1, 1, 3, 1, 1),
        Mix::Alerts => (2, 1, 0, 1, 2, 2, 0, 0, 14, 2, 4),
    };
    let changes = match mix {
        Mix::Conversation => LISTING_CHANGES.to_vec(),
        // Mostly the changes whose default templates are enabled.
        Mix::Alerts => {
            let mut v = vec![ListingChangeKind::PriceDrop; 3];
            v.extend([ListingChangeKind::BackOnMarket; 3]);
            v.extend(LISTING_CHANGES);
            v
        }
    };
    prop_oneof![
        cap => (
            consent_spec(bias),
            prop::sample::select(ADDRESS_STATES.to_vec()),
            any::<bool>(),
            prop::option::of(0u8..3)
        )
            .prop_map(|(consent, address_state, first_name, listing)| Action::Capture {
                consent,
                address_state,
                first_name,
                listing
            }),
        inb => (0..INBOUND.len()).prop_map(Action::Inbound),
        frz => Just(Action::Freeze),
        unfrz => Just(Action::Unfreeze),
        wake => Just(Action::Wake),
        out => (any::<usize>(), outcome_spec()).prop_map(|(pick, outcome)| Action::Outcome { pick, outcome }),
        rcpt => (
            any::<usize>(),
            prop::sample::select(RECEIPT_STATUSES.to_vec()),
            prop::sample::select(RECEIPT_CODES.to_vec())
        )
            .prop_map(|(pick, status, (code, failure))| Action::Receipt { pick, status, code, failure }),
        crm => (prop::sample::select(CRM_STATUSES.to_vec()), any::<bool>())
            .prop_map(|(status, agent)| Action::Crm { status, agent }),
        lst => (
            0u8..3,
            prop::sample::select(changes),
            any::<bool>(),
            prop::sample::select(LISTING_STATUSES.to_vec())
        )
            .prop_map(|(listing, change, address, new_status)| {
                Action::Listing { listing, change, address, new_status }
            }),
        int => (0u8..3).prop_map(|listing| Action::Interest { listing }),
    ]
}

/// Seconds between two events: often none or minutes, sometimes hours or days.
fn gap(mix: Mix) -> impl Strategy<Value = i64> {
    let (zero, minutes, hours, days) = match mix {
        Mix::Conversation => (1, 4, 4, 2),
        Mix::Alerts => (1, 6, 3, 1),
    };
    prop_oneof![
        zero => Just(0i64),
        minutes => 1i64..3600,
        hours => 3600i64..86_400,
        days => 86_400i64..5 * 86_400,
    ]
}

fn steps(mix: Mix) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((gap(mix), action(mix)).prop_map(|(gap_secs, action)| Step { gap_secs, action }), 1..40)
        .prop_map(move |mut steps| {
            if let Mix::Alerts = mix {
                // An alerts scenario starts with an inquiry about MLS-0 with good consent.
                let capture = Action::Capture {
                    consent: ConsentSpec::Complete { minutes_ago: 1 },
                    address_state: None,
                    first_name: true,
                    listing: Some(0),
                };
                steps.insert(0, Step { gap_secs: 0, action: capture });
            }
            steps
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::sample::select(PHONES.to_vec()),
        0i64..2 * 365 * 24 * 60,
        prop::bool::weighted(0.75),
        prop_oneof![steps(Mix::Conversation), steps(Mix::Alerts)],
    )
        .prop_map(|(phone, start_minute, auto_wake, steps)| Scenario {
            phone,
            start_ms: START_2026_MS + start_minute * 60_000,
            auto_wake,
            steps,
        })
}

// -------------------------------------------------------------------------------------------------
// The simulated shell
// -------------------------------------------------------------------------------------------------

/// One applied event.
#[derive(Debug, Clone)]
struct Record {
    now: Ts,
    event: Event,
    before: LeadState,
    d: Decision,
}

#[derive(Debug)]
struct Trace {
    policy: &'static Policy,
    records: Vec<Record>,
    /// State after the final drain.
    last: LeadState,
}

fn plus_secs(t: Ts, secs: i64) -> Ts {
    Ts::from(t.0 + Duration::seconds(secs))
}

fn consent_input(spec: &ConsentSpec, now: Ts) -> Option<ConsentInput> {
    let full = |granted_at: Ts| ConsentInput {
        granted_at: Some(granted_at),
        source_url: Some("https://acme.example/homes/123".into()),
        disclosure: Some("I agree to receive automated texts from Acme Realty.".into()),
        ip: Some("198.51.100.4".into()),
        user_agent: Some("Mozilla/5.0".into()),
        seller: Some("Acme Realty".into()),
    };
    let minutes = |m: i64| Ts::from(now.0 + Duration::minutes(m));
    Some(match spec {
        ConsentSpec::Absent => return None,
        ConsentSpec::Complete { minutes_ago } => full(minutes(-minutes_ago)),
        ConsentSpec::SkewedFuture { minutes_ahead } => full(minutes(*minutes_ahead)),
        ConsentSpec::MissingUrl => ConsentInput { source_url: None, ..full(now) },
        ConsentSpec::BlankUrl => ConsentInput { source_url: Some("  ".into()), ..full(now) },
        ConsentSpec::MissingTimestamp => ConsentInput { granted_at: None, ..full(now) },
        ConsentSpec::Future { minutes_ahead } => full(minutes(*minutes_ahead)),
        ConsentSpec::VeryOld { days_ago } => full(Ts::from(now.0 - Duration::days(*days_ago))),
        ConsentSpec::NearExpiry { minutes_ago } => full(minutes(-minutes_ago)),
    })
}

struct Shell {
    policy: &'static Policy,
    state: LeadState,
    now: Ts,
    /// Handed to the gateway, no outcome yet.
    in_flight: Vec<OutboundText>,
    /// Every text handed to the gateway (receipts may come for any of them).
    sent: Vec<OutboundText>,
    records: Vec<Record>,
}

impl Shell {
    fn new(phone: &str, start: Ts, policy: &'static Policy) -> Shell {
        let phone = Phone::parse(phone).expect("test phones are valid");
        Shell {
            policy,
            state: LeadState::new(phone, start),
            now: start,
            in_flight: Vec::new(),
            sent: Vec::new(),
            records: Vec::new(),
        }
    }

    fn apply(&mut self, event: Event, now: Ts) {
        assert!(now >= self.now, "the simulated clock never goes back");
        self.now = now;
        let d = decide(&self.state, &event, self.policy, now);
        self.in_flight.extend(d.sends.iter().cloned());
        self.sent.extend(d.sends.iter().cloned());
        let before = std::mem::replace(&mut self.state, d.state.clone());
        self.records.push(Record { now, event, before, d });
    }

    /// Durable timers: pending texts' `not_before` and the follow-up sequence's next step
    /// (not while a freeze pauses it), as the lead actor stores them.
    fn fire_timers(&mut self, until: Ts) {
        for _ in 0..64 {
            let Some(next) = self.state.next_wake_at() else { return };
            if next > until {
                return;
            }
            let at = next.max(self.now);
            self.apply(Event::Wake, at);
        }
    }

    fn event_for(&mut self, action: &Action, now: Ts) -> Event {
        match action {
            Action::Capture { consent, address_state, first_name, listing } => {
                Event::LeadCaptured(Box::new(LeadCapture {
                    source: "zillow".into(),
                    source_lead_id: Some(format!("z-{}", now.millis())),
                    first_name: first_name.then(|| "Ana".to_string()),
                    last_name: None,
                    email: None,
                    address_state: address_state.map(str::to_string),
                    listing: listing.map(|n| ListingRef {
                        id: Some(format!("MLS-{n}")),
                        address: Some(format!("{n}00 Main St")),
                        price: Some(400_000 + u64::from(n) * 1000),
                    }),
                    message: Some("Is it still available?".into()),
                    consent: consent_input(consent, now),
                    occurred_at: Some(now),
                }))
            }
            Action::Inbound(i) => {
                Event::InboundText { body: INBOUND[*i].to_string(), message_sid: Some(format!("SM{}", now.millis())) }
            }
            Action::Freeze => Event::Freeze { reason: Some("agent on the phone".into()) },
            Action::Unfreeze => Event::Unfreeze,
            Action::Wake => Event::Wake,
            Action::Outcome { pick, outcome } => {
                if self.in_flight.is_empty() {
                    return Event::Wake;
                }
                let text = self.in_flight.remove(pick % self.in_flight.len());
                // The gateway's defence-in-depth check on the freshest state comes first.
                match gate(&self.state, text.kind, self.policy, now, Stage::Send) {
                    Gate::Allow => {}
                    Gate::Block { rule, reason } => {
                        let result = SendResult::Cancelled { rule, reason };
                        return Event::SendOutcome { message_id: text.id.clone(), kind: text.kind, result };
                    }
                    Gate::Defer { until, rule, reason } => {
                        let result = SendResult::Deferred { text: Box::new(text.clone()), until, rule, reason };
                        return Event::SendOutcome { message_id: text.id.clone(), kind: text.kind, result };
                    }
                }
                // Then the provider (a Deferred/Cancelled here: a gateway that raced a change).
                let result = match outcome {
                    // The gateway only ever defers what the gate can defer: automated texts.
                    OutcomeSpec::Deferred { minutes } if text.kind.is_automated() => SendResult::Deferred {
                        text: Box::new(text.clone()),
                        until: Ts::from(now.0 + Duration::minutes(*minutes)),
                        rule: "quiet_hours.federal".into(),
                        reason: "re-checked before sending".into(),
                    },
                    OutcomeSpec::Accepted | OutcomeSpec::Deferred { .. } => {
                        SendResult::Accepted { provider_id: format!("SM-{}", text.id), status: "queued".into() }
                    }
                    OutcomeSpec::Failed { code, failure, permanent } => SendResult::Failed {
                        code: *code,
                        failure: *failure,
                        message: format!("provider error {code:?}"),
                        permanent: *permanent,
                    },
                    OutcomeSpec::Cancelled => {
                        SendResult::Cancelled { rule: "opt_out".into(), reason: "re-checked before sending".into() }
                    }
                };
                Event::SendOutcome { message_id: text.id.clone(), kind: text.kind, result }
            }
            Action::Receipt { pick, status, code, failure } => {
                if self.sent.is_empty() {
                    return Event::Wake;
                }
                let text = &self.sent[pick % self.sent.len()];
                Event::DeliveryReceipt {
                    message_id: text.id.clone(),
                    provider_id: format!("SM-{}", text.id),
                    status: status.to_string(),
                    error_code: *code,
                    failure: *failure,
                }
            }
            Action::Crm { status, agent } => Event::CrmChanged {
                status: status.to_string(),
                agent: agent.then(|| "Sam Agent".to_string()),
                source: None,
            },
            Action::Listing { listing, change, address, new_status } => {
                Event::ListingChanged(Box::new(ListingChange {
                    listing_id: format!("MLS-{listing}"),
                    change: *change,
                    address: address.then(|| format!("{listing}00 Main St")),
                    old_price: Some(450_000),
                    new_price: Some(425_000),
                    old_status: Some("Active".into()),
                    new_status: new_status.map(str::to_string),
                }))
            }
            Action::Interest { listing } => Event::InterestAdded {
                listing_id: format!("MLS-{listing}"),
                address: Some(format!("{listing}00 Main St")),
                how: "saved on the website".into(),
            },
        }
    }
}

fn run(sc: &Scenario) -> Trace {
    run_with(sc, &POLICY)
}

fn run_with(sc: &Scenario, policy: &'static Policy) -> Trace {
    let start = Ts::from_millis(sc.start_ms).expect("start in range");
    let mut shell = Shell::new(sc.phone, start, policy);
    for step in &sc.steps {
        let at = plus_secs(shell.now, step.gap_secs);
        if sc.auto_wake {
            shell.fire_timers(at);
        }
        let event = shell.event_for(&step.action, at);
        shell.apply(event, at);
    }
    // Drain: every remaining timer fires.
    shell.fire_timers(plus_secs(shell.now, 400 * 86_400));
    Trace { policy, last: shell.state.clone(), records: shell.records }
}

// -------------------------------------------------------------------------------------------------
// Helpers for the checks
// -------------------------------------------------------------------------------------------------

fn ctx(i: usize, r: &Record) -> String {
    format!(
        "step {i} at {} ({}), event {:?}\nbefore: status {:?}, frozen {:?}, pending {:?}\nnotes: {:#?}\nsends: {:#?}",
        r.now,
        r.event.kind(),
        r.event,
        r.before.status,
        r.before.frozen.is_some(),
        r.before.pending.iter().map(|p| (&p.text.id, p.not_before)).collect::<Vec<_>>(),
        r.d.notes,
        r.d.sends
    )
}

fn recipient(state: &LeadState) -> Recipient<'_> {
    Recipient { e164: state.phone.as_str(), address_state: state.profile.address_state.as_deref() }
}

fn automated(d: &Decision) -> impl Iterator<Item = &OutboundText> {
    d.sends.iter().filter(|s| s.kind.is_automated())
}

fn is_text_decision(kind: EntryKind) -> bool {
    matches!(kind, EntryKind::TextQueued | EntryKind::TextBlocked | EntryKind::TextDeferred)
}

/// Ids of texts this step could legitimately decide again: the ones pending before it, and
/// the one the gateway handed back.
fn returning_ids(r: &Record) -> HashSet<String> {
    let mut ids: HashSet<String> = r.before.pending.iter().map(|p| p.text.id.clone()).collect();
    if let Event::SendOutcome { result: SendResult::Deferred { text, .. }, .. } = &r.event {
        ids.insert(text.id.clone());
    }
    ids
}

fn config() -> ProptestConfig {
    // No regression file: a failure prints its minimal scenario; turn it into a `decide_rules` test.
    ProptestConfig { cases: 256, max_shrink_iters: 2048, failure_persistence: None, ..ProptestConfig::default() }
}

// -------------------------------------------------------------------------------------------------
// The properties
// -------------------------------------------------------------------------------------------------

/// (a) No automated text without a current, complete, in-date consent record.
fn check_consent(t: &Trace) -> Result<(), TestCaseError> {
    let max_age = Duration::days(t.policy.compliance.consent_max_age_days);
    for (i, r) in t.records.iter().enumerate() {
        for s in automated(&r.d) {
            let Some(c) = r.d.state.current_consent() else {
                return Err(TestCaseError::fail(format!("{} sent without consent\n{}", s.id, ctx(i, r))));
            };
            let Some(granted) = c.granted_at else {
                return Err(TestCaseError::fail(format!("{} sent on a grant without timestamp\n{}", s.id, ctx(i, r))));
            };
            prop_assert!(
                c.source_url.as_deref().is_some_and(|u| !u.trim().is_empty()),
                "{} sent on a grant without source URL\n{}",
                s.id,
                ctx(i, r)
            );
            prop_assert!(
                granted.0 <= r.now.0 + Duration::minutes(5),
                "{} sent on a grant from the future ({granted})\n{}",
                s.id,
                ctx(i, r)
            );
            prop_assert!(r.now.0 - granted.0 <= max_age, "{} sent on expired consent ({granted})\n{}", s.id, ctx(i, r));
        }
    }
    Ok(())
}

/// (b) After an opt-out nothing but exactly one opt-out confirmation until an opt-in, and
/// nothing but an opt-in keyword ends an opt-out (this found the "undeliverable result replaces
/// OPT_OUT" bug, see `decide_rules::bug_an_undeliverable_result_ends_an_opt_out`).
fn check_opt_out(t: &Trace) -> Result<(), TestCaseError> {
    for (i, r) in t.records.iter().enumerate() {
        let was = r.before.status == LeadStatus::OptOut;
        let is = r.d.state.status == LeadStatus::OptOut;
        let kinds: Vec<TextKind> = r.d.sends.iter().map(|s| s.kind).collect();
        match (was, is) {
            (true, true) => prop_assert!(kinds.is_empty(), "sent while opted out\n{}", ctx(i, r)),
            (false, true) => match &r.event {
                // STOP and its synonyms: the one confirmation, nothing else.
                Event::InboundText { .. } => {
                    prop_assert_eq!(&kinds, &vec![TextKind::OptOutConfirmation], "opt-out step\n{}", ctx(i, r))
                }
                // The provider reports the recipient opted out (Twilio 21610): the carrier blocks the number; no confirmation, nothing else.
                _ => prop_assert!(kinds.is_empty(), "carrier opt-out step\n{}", ctx(i, r)),
            },
            (true, false) => {
                let body = match &r.event {
                    Event::InboundText { body, .. } => body.as_str(),
                    // New consent of the lead's own, granted after the revocation, also ends it.
                    Event::LeadCaptured(c) => {
                        let granted = c.consent.as_ref().and_then(|c| c.granted_at);
                        let revoked = r.before.last_revocation();
                        prop_assert!(
                            matches!((granted, revoked), (Some(g), Some(rv)) if g > rv && g.0 <= r.now.0 + Duration::minutes(5)),
                            "left OPT_OUT on consent not granted after the revocation\n{}",
                            ctx(i, r)
                        );
                        let c = c.consent.as_ref().map(|c| (c.source_url.as_deref(), c.disclosure.as_deref()));
                        prop_assert!(
                            matches!(c, Some((Some(u), Some(_))) if !u.trim().is_empty()),
                            "left OPT_OUT on incomplete consent\n{}",
                            ctx(i, r)
                        );
                        prop_assert!(
                            r.d.notes.iter().any(|n| n.rule.as_deref() == Some("consent.renewed")),
                            "renewal not on the timeline\n{}",
                            ctx(i, r)
                        );
                        prop_assert!(!kinds.contains(&TextKind::OptOutConfirmation), "{}", ctx(i, r));
                        continue;
                    }
                    _ => return Err(TestCaseError::fail(format!("left OPT_OUT without an opt-in\n{}", ctx(i, r)))),
                };
                prop_assert_eq!(
                    classify(body, true, &t.policy.classifier).intent,
                    Intent::OptIn,
                    "left OPT_OUT on a text that is not an opt-in\n{}",
                    ctx(i, r)
                );
                prop_assert_eq!(&kinds, &vec![TextKind::OptInConfirmation], "opt-in step\n{}", ctx(i, r));
            }
            (false, false) => prop_assert!(
                !kinds.contains(&TextKind::OptOutConfirmation),
                "an opt-out confirmation without an opt-out\n{}",
                ctx(i, r)
            ),
        }
    }
    Ok(())
}

/// (c) No automated text outside the recipient's allowed local hours.
fn check_quiet_hours(t: &Trace) -> Result<(), TestCaseError> {
    let qh = &t.policy.compliance.quiet_hours;
    for (i, r) in t.records.iter().enumerate() {
        for s in automated(&r.d) {
            let check = check_window(qh, &t.policy.compliance.blackouts, &recipient(&r.d.state), r.now.0);
            prop_assert_eq!(&check, &WindowCheck::Allowed, "{} sent outside the window\n{}", s.id, ctx(i, r));
            let address = r.d.state.profile.address_state.as_deref();
            prop_assert!(
                oracle_allows(r.d.state.phone.as_str(), address, r.now),
                "{} sent outside the window (independent oracle)\n{}",
                s.id,
                ctx(i, r)
            );
        }
    }
    Ok(())
}

/// An independent statement of the windows for the test phones (not using `quiet_hours`):
/// the federal 08:00-21:00 plus the rules of the area code's state and of the address state,
/// all in the area code's zone.
fn oracle_allows(phone: &str, address_state: Option<&str>, at: Ts) -> bool {
    use chrono::{Datelike, NaiveTime, Timelike, Weekday};
    let (zone, area_state) = match &phone[..5] {
        "+1212" => (chrono_tz::America::New_York, "NY"),
        "+1305" => (chrono_tz::America::New_York, "FL"),
        "+1214" => (chrono_tz::America::Chicago, "TX"),
        "+1206" => (chrono_tz::America::Los_Angeles, "WA"),
        "+1808" => (chrono_tz::Pacific::Honolulu, "HI"),
        "+1203" => (chrono_tz::America::New_York, "CT"),
        other => panic!("no oracle for {other}"),
    };
    let local = at.0.with_timezone(&zone);
    let t = NaiveTime::from_hms_opt(local.hour(), local.minute(), local.second()).expect("valid");
    let within = |start: u32, end: u32| {
        t >= NaiveTime::from_hms_opt(start, 0, 0).unwrap() && t < NaiveTime::from_hms_opt(end, 0, 0).unwrap()
    };
    let state_ok = |state: &str| match state {
        "FL" | "WA" | "Washington" => within(8, 20),
        "CT" => within(9, 20),
        "TX" if local.weekday() == Weekday::Sun => within(12, 21),
        "TX" => within(9, 21),
        _ => true,
    };
    within(8, 21) && state_ok(area_state) && address_state.is_none_or(state_ok)
}

/// (d) Never more automated texts in any rolling 24 hours than the strictest cap.
fn check_cap(t: &Trace) -> Result<(), TestCaseError> {
    let c = &t.policy.compliance;
    let mut sent: Vec<Ts> = Vec::new();
    for (i, r) in t.records.iter().enumerate() {
        for s in automated(&r.d) {
            sent.push(r.now);
            let state_cap = cap_per_24h(&c.quiet_hours, &recipient(&r.d.state)).map(|(n, _)| n);
            let cap = state_cap.map_or(c.max_automated_per_24h, |n| n.min(c.max_automated_per_24h));
            let horizon = r.now.0 - Duration::hours(24);
            let in_window = sent.iter().filter(|t| t.0 > horizon).count();
            prop_assert!(
                in_window as u64 <= u64::from(cap),
                "{} is automated text number {in_window} in 24 h (cap {cap})\n{}",
                s.id,
                ctx(i, r)
            );
        }
    }
    Ok(())
}

/// (e) Every decision about a text is on the timeline with a rule; every send has its TextQueued.
fn check_timeline(t: &Trace) -> Result<(), TestCaseError> {
    for (i, r) in t.records.iter().enumerate() {
        for n in &r.d.notes {
            prop_assert!(
                n.rule.as_deref().is_some_and(|rule| !rule.trim().is_empty()),
                "a note without a rule: {n:?}\n{}",
                ctx(i, r)
            );
            if is_text_decision(n.kind) {
                prop_assert!(n.message_id.is_some(), "a text decision without message id: {n:?}\n{}", ctx(i, r));
            }
        }
        let queued: Vec<&str> =
            r.d.notes
                .iter()
                .filter(|n| n.kind == EntryKind::TextQueued)
                .filter_map(|n| n.message_id.as_deref())
                .collect();
        let sends: Vec<&str> = r.d.sends.iter().map(|s| s.id.as_str()).collect();
        prop_assert_eq!(&queued, &sends, "TextQueued notes and sends differ\n{}", ctx(i, r));

        let note_ids = |kind: EntryKind| -> HashSet<&str> {
            r.d.notes.iter().filter(|n| n.kind == kind).filter_map(|n| n.message_id.as_deref()).collect()
        };
        let deferred = note_ids(EntryKind::TextDeferred);
        let blocked = note_ids(EntryKind::TextBlocked);
        let before: HashSet<&str> = r.before.pending.iter().map(|p| p.text.id.as_str()).collect();
        let after: HashSet<&str> = r.d.state.pending.iter().map(|p| p.text.id.as_str()).collect();
        prop_assert_eq!(after.len(), r.d.state.pending.len(), "a text is pending twice\n{}", ctx(i, r));
        // Newly pending texts were deferred on the timeline, and deferred texts are pending.
        for id in after.difference(&before) {
            prop_assert!(deferred.contains(id), "{id} pending without a TextDeferred note\n{}", ctx(i, r));
        }
        for id in &deferred {
            prop_assert!(after.contains(id), "{id} deferred but not pending\n{}", ctx(i, r));
        }
        // A text that stops pending was queued or blocked, on the timeline.
        for id in before.difference(&after) {
            prop_assert!(
                sends.contains(id) || blocked.contains(id),
                "{id} left the pending list silently\n{}",
                ctx(i, r)
            );
        }
        // Each text is decided once per step.
        let decisions: Vec<&str> =
            r.d.notes.iter().filter(|n| is_text_decision(n.kind)).filter_map(|n| n.message_id.as_deref()).collect();
        let unique: HashSet<&str> = decisions.iter().copied().collect();
        prop_assert_eq!(unique.len(), decisions.len(), "a text decided twice in one step\n{}", ctx(i, r));
    }
    Ok(())
}

/// (f) Message ids are never reused.
fn check_ids(t: &Trace) -> Result<(), TestCaseError> {
    let mut seen: HashSet<String> = HashSet::new();
    // Ids handed to the gateway and not handed back by a Deferred outcome.
    let mut on_air: HashSet<String> = HashSet::new();
    for (i, r) in t.records.iter().enumerate() {
        prop_assert!(r.d.state.next_message_seq >= r.before.next_message_seq, "sequence went back\n{}", ctx(i, r));
        if let Event::SendOutcome { result: SendResult::Deferred { text, .. }, .. } = &r.event {
            on_air.remove(&text.id);
        }
        let returning = returning_ids(r);
        let prefix = format!("{}#", r.before.phone);
        for n in r.d.notes.iter().filter(|n| is_text_decision(n.kind)) {
            let Some(id) = n.message_id.as_deref() else { continue };
            if returning.contains(id) {
                continue;
            }
            // A text decided for the first time: a fresh id from this step's sequence numbers.
            prop_assert!(!seen.contains(id), "message id {id} reused\n{}", ctx(i, r));
            let seq = id.strip_prefix(&prefix).and_then(|s| s.parse::<u64>().ok());
            prop_assert!(
                seq.is_some_and(|s| s >= r.before.next_message_seq && s < r.d.state.next_message_seq),
                "message id {id} is not from this step's sequence numbers\n{}",
                ctx(i, r)
            );
        }
        for n in &r.d.notes {
            if let Some(id) = &n.message_id {
                if is_text_decision(n.kind) {
                    seen.insert(id.clone());
                }
            }
        }
        for s in &r.d.sends {
            prop_assert!(on_air.insert(s.id.clone()), "message {} handed to the gateway twice\n{}", s.id, ctx(i, r));
        }
    }
    Ok(())
}

/// (g) A frozen lead gets no automated text.
fn check_frozen(t: &Trace) -> Result<(), TestCaseError> {
    for (i, r) in t.records.iter().enumerate() {
        if r.d.state.frozen.is_some() {
            prop_assert!(automated(&r.d).next().is_none(), "automated text while frozen\n{}", ctx(i, r));
        }
    }
    Ok(())
}

/// (h) Deferred texts are not lost: once the timers have fired, each was sent or blocked.
fn check_deferred_resolved(t: &Trace) -> Result<(), TestCaseError> {
    prop_assert!(
        t.last.pending.is_empty(),
        "texts still pending after the drain: {:?}",
        t.last.pending.iter().map(|p| (&p.text.id, p.not_before, &p.rule)).collect::<Vec<_>>()
    );
    // The last decision about each text that was ever deferred.
    let mut last: HashMap<&str, (usize, EntryKind)> = HashMap::new();
    let mut deferred: HashSet<&str> = HashSet::new();
    for (i, r) in t.records.iter().enumerate() {
        for n in r.d.notes.iter().filter(|n| is_text_decision(n.kind)) {
            if let Some(id) = n.message_id.as_deref() {
                last.insert(id, (i, n.kind));
                if n.kind == EntryKind::TextDeferred {
                    deferred.insert(id);
                }
            }
        }
    }
    for id in deferred {
        let (i, kind) = last[id];
        prop_assert!(
            matches!(kind, EntryKind::TextQueued | EntryKind::TextBlocked),
            "deferred text {id} ended as {kind:?}\n{}",
            ctx(i, &t.records[i])
        );
    }
    Ok(())
}

/// (i) "Last contacted" moves only when the provider accepted an automated text, to that moment.
fn check_last_contacted(t: &Trace) -> Result<(), TestCaseError> {
    for (i, r) in t.records.iter().enumerate() {
        if r.d.state.last_contacted_at == r.before.last_contacted_at {
            continue;
        }
        let accepted_automated = matches!(
            &r.event,
            Event::SendOutcome { kind, result: SendResult::Accepted { .. }, .. } if kind.is_automated()
        );
        prop_assert!(accepted_automated, "last_contacted_at moved without an accepted text\n{}", ctx(i, r));
        prop_assert_eq!(r.d.state.last_contacted_at, Some(r.now), "{}", ctx(i, r));
    }
    Ok(())
}

/// (j) A first text known not to have been sent (refused, or cancelled before sending; not an
/// in-doubt send) leaves a lead that was never contacted neither CONTACTED_SMS nor in a
/// follow-up sequence.
fn check_first_text_not_sent(t: &Trace) -> Result<(), TestCaseError> {
    for (i, r) in t.records.iter().enumerate() {
        let Event::SendOutcome { kind: TextKind::FirstContact, result, .. } = &r.event else { continue };
        let not_sent = match result {
            SendResult::Failed { .. } => true,
            SendResult::Cancelled { rule, .. } => rule != "gateway.in_doubt",
            _ => false,
        };
        if !not_sent || r.d.state.last_contacted_at.is_some() {
            continue;
        }
        prop_assert_ne!(r.d.state.status, LeadStatus::ContactedSms, "not sent, still CONTACTED_SMS\n{}", ctx(i, r));
        prop_assert!(r.d.state.follow_up.is_none(), "not sent, follow-ups still planned\n{}", ctx(i, r));
    }
    Ok(())
}

/// (k) A freeze pauses the follow-up sequence and the unfreeze re-plans it: the step a frozen
/// lead still has when it is unfrozen comes back with the wait that was left at the freeze,
/// counted from the unfreeze; no follow-up goes out while frozen or before its step was due.
fn check_freeze_pauses_follow_ups(t: &Trace) -> Result<(), TestCaseError> {
    for (i, r) in t.records.iter().enumerate() {
        if let (Event::Unfreeze, Some(frozen), Some(f)) = (&r.event, &r.before.frozen, &r.before.follow_up) {
            let left = (f.due.0 - frozen.at.0).max(Duration::zero());
            let after = r.d.state.follow_up.as_ref().map(|g| (g.step, g.due));
            prop_assert_eq!(after, Some((f.step, Ts::from(r.now.0 + left))), "not re-planned\n{}", ctx(i, r));
            prop_assert!(r.d.sends.is_empty(), "the unfreeze itself sent a text\n{}", ctx(i, r));
        }
        if r.before.frozen.is_some() && r.d.state.frozen.is_some() && r.before.follow_up.is_some() {
            // While frozen the step is neither fired nor moved (only cancelled).
            prop_assert!(
                r.d.state.follow_up.is_none() || r.d.state.follow_up == r.before.follow_up,
                "a paused step changed while frozen\n{}",
                ctx(i, r)
            );
        }
        for s in r.d.sends.iter().filter(|s| s.kind == TextKind::FollowUp && s.rule.starts_with("sequence.")) {
            let fresh = !returning_ids(r).contains(&s.id);
            if fresh {
                let due = r.before.active_follow_up().map(|f| f.due);
                prop_assert!(
                    due.is_some_and(|d| d <= r.now),
                    "follow-up {} sent without a due, unpaused step\n{}",
                    s.id,
                    ctx(i, r)
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn i_last_contacted_moves_only_on_an_accepted_text(sc in scenario()) {
        check_last_contacted(&run(&sc))?;
    }

    #[test]
    fn j_a_first_text_not_sent_leaves_the_lead_uncontacted(sc in scenario()) {
        check_first_text_not_sent(&run(&sc))?;
    }

    #[test]
    fn k_a_freeze_pauses_follow_ups_and_the_unfreeze_re_plans_them(sc in scenario()) {
        let t = run(&sc);
        check_freeze_pauses_follow_ups(&t)?;
        // After a freeze and an unfreeze, still nothing but the one confirmation to an opted-out lead.
        check_opt_out(&t)?;
        check_frozen(&t)?;
    }

    #[test]
    fn a_never_an_automated_text_without_valid_consent(sc in scenario()) {
        check_consent(&run(&sc))?;
    }

    #[test]
    fn b_after_an_opt_out_only_one_confirmation_until_an_opt_in(sc in scenario()) {
        check_opt_out(&run(&sc))?;
    }

    #[test]
    fn c_never_an_automated_text_outside_the_allowed_window(sc in scenario()) {
        check_quiet_hours(&run(&sc))?;
    }

    #[test]
    fn d_never_more_automated_texts_in_24h_than_the_cap(sc in scenario()) {
        check_cap(&run(&sc))?;
    }

    /// (d) with a global cap of 6: Florida's (and other states') cap of 3 binds.
    #[test]
    fn d_the_state_cap_binds_when_stricter_than_the_global_one(sc in scenario()) {
        let t = run_with(&sc, &LOOSE_GLOBAL_CAP);
        check_cap(&t)?;
        check_timeline(&t)?;
        check_deferred_resolved(&t)?;
    }

    /// (d) with `over_cap = "drop"` and a global cap of 2.
    #[test]
    fn d_the_cap_holds_when_overflow_is_dropped(sc in scenario()) {
        let t = run_with(&sc, &DROP_OVER_CAP);
        check_cap(&t)?;
        check_timeline(&t)?;
        check_deferred_resolved(&t)?;
    }

    #[test]
    fn e_every_send_block_and_deferral_is_on_the_timeline_with_a_rule(sc in scenario()) {
        check_timeline(&run(&sc))?;
    }

    #[test]
    fn f_message_ids_are_never_reused(sc in scenario()) {
        check_ids(&run(&sc))?;
    }

    #[test]
    fn g_a_frozen_lead_gets_no_automated_text(sc in scenario()) {
        check_frozen(&run(&sc))?;
    }

    #[test]
    fn h_deferred_texts_are_eventually_sent_or_blocked(sc in scenario()) {
        check_deferred_resolved(&run(&sc))?;
    }

    /// (h), directly: a lead captured at night (recipient-local) with good consent gets its
    /// first text deferred; the wake at `not_before` sends it, inside the window.
    #[test]
    fn h_a_night_capture_is_sent_by_the_morning_wake(
        phone in prop::sample::select(PHONES.to_vec()),
        day in 0i64..730,
        minute_of_night in 0i64..(11 * 60),
        extra_wakes in prop::collection::vec(1i64..600, 0..4),
    ) {
        let tz = leadline_core::quiet_hours::applicable_zones(
            &POLICY.compliance.quiet_hours,
            &Recipient::new(phone),
        )[0];
        // 21:00 local + minute_of_night: somewhere between 21:00 and 07:59 the next morning.
        let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(day);
        let naive = date.and_hms_opt(21, 0, 0).unwrap() + Duration::minutes(minute_of_night);
        let Some(local) = chrono::TimeZone::from_local_datetime(&tz, &naive).earliest() else {
            return Ok(()); // a DST gap
        };
        let now = Ts::from(local.with_timezone(&chrono::Utc));
        let mut shell = Shell::new(phone, now, &POLICY);
        let capture = Action::Capture {
            consent: ConsentSpec::Complete { minutes_ago: 10 },
            address_state: None,
            first_name: true,
            listing: Some(1),
        };
        let event = shell.event_for(&capture, now);
        shell.apply(event, now);
        let first = shell.records[0].d.clone();
        prop_assert!(first.sends.is_empty(), "sent at night: {:?}", first.sends);
        prop_assert_eq!(first.state.pending.len(), 1);
        let pending = first.state.pending[0].clone();
        prop_assert!(pending.not_before > now);
        prop_assert!(pending.not_before.0 - now.0 <= Duration::hours(24));
        prop_assert!(first.notes.iter().any(|n| n.kind == EntryKind::TextDeferred
            && n.message_id.as_deref() == Some(pending.text.id.as_str())));

        // Wakes before the moment release nothing.
        for secs in extra_wakes {
            let at = Ts::from(pending.not_before.0 - Duration::seconds(secs));
            if at > shell.now {
                shell.apply(Event::Wake, at);
                let r = shell.records.last().unwrap();
                prop_assert!(r.d.sends.is_empty(), "sent before not_before: {:?}", r.d.sends);
                prop_assert_eq!(r.d.state.pending.len(), 1);
            }
        }
        shell.apply(Event::Wake, pending.not_before);
        let r = shell.records.last().unwrap();
        prop_assert_eq!(r.d.sends.len(), 1, "the morning wake sends it: {:#?}", r.d.notes);
        prop_assert_eq!(&r.d.sends[0].id, &pending.text.id);
        prop_assert!(r.d.state.pending.is_empty());
        prop_assert_eq!(
            check_window(
                &POLICY.compliance.quiet_hours,
                &POLICY.compliance.blackouts,
                &Recipient::new(phone),
                pending.not_before.0
            ),
            WindowCheck::Allowed
        );
        // It is the first allowed minute: allowed then, not a minute before.
        prop_assert!(oracle_allows(phone, None, pending.not_before), "not allowed at {}", pending.not_before);
        let before = Ts::from(pending.not_before.0 - Duration::minutes(1));
        prop_assert!(!oracle_allows(phone, None, before), "already allowed at {before}");
    }
}

/// (h), the fixed example: a New York lead at 23:10, woken at 08:00.
#[test]
fn h_night_capture_then_morning_wake_example() {
    use chrono::TimeZone;
    let ny = chrono_tz::America::New_York;
    let at = |d: u32, h: u32, m: u32| {
        Ts::from(ny.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap().with_timezone(&chrono::Utc))
    };
    let mut shell = Shell::new("+12125550142", at(5, 23, 10), &POLICY);
    let capture = Action::Capture {
        consent: ConsentSpec::Complete { minutes_ago: 3 },
        address_state: None,
        first_name: false,
        listing: None,
    };
    let event = shell.event_for(&capture, at(5, 23, 10));
    shell.apply(event, at(5, 23, 10));
    assert_eq!(shell.state.pending.len(), 1);
    assert_eq!(shell.state.pending[0].not_before, at(6, 8, 0));
    shell.apply(Event::Wake, at(6, 7, 59));
    assert!(shell.records[1].d.sends.is_empty());
    shell.apply(Event::Wake, at(6, 8, 0));
    assert_eq!(shell.records[2].d.sends.len(), 1);
    assert!(shell.state.pending.is_empty());
    let trace = Trace { policy: &POLICY, last: shell.state.clone(), records: shell.records };
    check_deferred_resolved(&trace).unwrap();
    check_timeline(&trace).unwrap();
    check_quiet_hours(&trace).unwrap();
}

/// The generator's inbound texts mean what the scenarios assume (a guard for the properties above).
#[test]
fn inbound_texts_classify_as_expected() {
    let c = &POLICY.classifier;
    for body in ["STOP", "stop", "Stop please", "please stop texting me", "no más mensajes"] {
        assert_eq!(classify(body, false, c).intent, Intent::OptOut, "{body}");
    }
    for body in ["START", "UNSTOP", "YES"] {
        assert_eq!(classify(body, true, c).intent, Intent::OptIn, "{body}");
    }
    for body in ["HELP", "INFO"] {
        assert_eq!(classify(body, false, c).intent, Intent::Help, "{body}");
    }
    for body in ["Is it available?", "can you stop by at 5?"] {
        assert_eq!(classify(body, false, c).intent, Intent::Reply, "{body}");
    }
}

/// The generator is not vacuous: over a fixed-seed sample of scenarios, every rule the
/// properties are about actually fires (automated sends, deferrals, cap deferrals, opt-outs
/// and opt-ins, freezes, consent blocks).
#[test]
fn the_scenarios_exercise_every_rule() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..200 {
        let sc = scenario().new_tree(&mut runner).expect("a scenario").current();
        for policy in [&*POLICY, &*DROP_OVER_CAP, &*LOOSE_GLOBAL_CAP] {
            let t = run_with(&sc, policy);
            for r in &t.records {
                for s in &r.d.sends {
                    *counts.entry(format!("send.{}", s.kind.as_str())).or_default() += 1;
                }
                let sequence = |n: &&Note| {
                    n.rule.as_deref().is_some_and(|r| r.starts_with("sequence.p") || r.starts_with("sequence.r"))
                };
                let not_sent =
                    |n: &&Note| n.kind == EntryKind::StatusChanged && n.detail.starts_with("CONTACTED_SMS -> NEW");
                for n in r.d.notes.iter().filter(|n| is_text_decision(n.kind) || sequence(n) || not_sent(n)) {
                    let rule = n.rule.clone().unwrap_or_default();
                    let family: String = rule.split('.').take(2).collect::<Vec<_>>().join(".");
                    *counts.entry(format!("{:?}:{family}", n.kind)).or_default() += 1;
                }
            }
        }
    }
    let mut keys: Vec<_> = counts.iter().collect();
    keys.sort();
    eprintln!("{keys:#?}");
    for key in [
        "send.first_contact",
        "send.listing_alert",
        "send.opt_out_confirmation",
        "send.opt_in_confirmation",
        "send.help",
        "TextDeferred:quiet_hours.federal",
        "TextDeferred:quiet_hours.state",
        "TextDeferred:cap.daily",
        "TextDeferred:cap.state",
        "TextBlocked:cap.daily",
        "TextBlocked:consent.missing",
        "TextBlocked:consent.incomplete",
        "TextBlocked:consent.future",
        "TextBlocked:consent.expired",
        "TextBlocked:frozen",
        "TextBlocked:opt_out",
        "TextBlocked:handoff.engaged",
        "TextBlocked:undeliverable",
        "TextBlocked:crm.halt_all",
        "Event:sequence.paused",
        "Event:sequence.resumed",
        "StatusChanged:provider.30034",
    ] {
        assert!(counts.get(key).copied().unwrap_or(0) > 0, "no scenario exercised {key}");
    }
}
