//! A person's one-to-one reply (`Event::ManualReply`, `decide::manual_gate`): the rules, one
//! example each, and properties over arbitrary lead states.

use chrono::{Duration, TimeZone, Utc};
use chrono_tz::Tz;
use leadline_core::decide::{decide, gate, manual_gate, Decision, Gate, Stage};
use leadline_core::model::*;
use leadline_core::policy::Policy;
use leadline_core::{Phone, Ts};
use proptest::prelude::*;
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(|| Policy::with_defaults("Acme Realty"));
const NY: &str = "+12125550142";
const NEW_YORK_TZ: Tz = chrono_tz::America::New_York;

fn local(y: i32, m: u32, d: u32, h: u32, mi: u32) -> Ts {
    let t = NEW_YORK_TZ.with_ymd_and_hms(y, m, d, h, mi, 0).single().expect("unambiguous local time");
    Ts::from(t.with_timezone(&Utc))
}

fn plus_minutes(t: Ts, m: i64) -> Ts {
    Ts::from(t.0 + Duration::minutes(m))
}

fn noon() -> Ts {
    local(2026, 6, 9, 12, 0)
}

fn night() -> Ts {
    local(2026, 6, 9, 23, 0)
}

fn consent(granted_at: Ts) -> ConsentInput {
    ConsentInput {
        granted_at: Some(granted_at),
        source_url: Some("https://acme.example/listing/123".into()),
        disclosure: Some("I agree to receive automated texts from Acme Realty. Reply STOP to opt out.".into()),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
        seller: Some("Acme Realty".into()),
    }
}

/// A lead captured at `at` (with or without consent) who has not written.
fn lead(with_consent: bool, at: Ts) -> LeadState {
    let state = LeadState::new(Phone::parse(NY).unwrap(), at);
    let capture = Event::LeadCaptured(Box::new(LeadCapture {
        source: "website".into(),
        source_lead_id: None,
        first_name: Some("Ana".into()),
        last_name: None,
        email: None,
        address_state: None,
        listing: None,
        message: None,
        consent: with_consent.then(|| consent(at)),
        occurred_at: Some(at),
    }));
    decide(&state, &capture, &POLICY, at).state
}

fn reply(body: &str) -> Event {
    Event::ByOperator {
        operator: "ana.agent".into(),
        command: Box::new(Event::ManualReply(ManualReply::Body(body.into()))),
    }
}

fn outcome(d: &Decision) -> (EntryKind, Option<String>) {
    let n = d
        .notes
        .iter()
        .find(|n| matches!(n.kind, EntryKind::TextQueued | EntryKind::TextBlocked | EntryKind::TextDeferred))
        .expect("a decision about the reply");
    (n.kind, n.rule.clone())
}

#[test]
fn a_reply_to_a_consenting_lead_is_queued_with_the_operators_name() {
    let state = lead(true, noon());
    let d = decide(&state, &reply("Hi Ana, yes it is. Want to see it Saturday?"), &POLICY, plus_minutes(noon(), 5));
    assert_eq!(outcome(&d), (EntryKind::TextQueued, Some("manual.reply".into())));
    assert_eq!(d.sends.len(), 1);
    assert_eq!(d.sends[0].kind, TextKind::ManualReply);
    assert!(d.notes.iter().all(|n| n.detail.ends_with("(by operator ana.agent)")), "{:#?}", d.notes);
}

#[test]
fn no_consent_and_no_recent_message_blocks_a_reply() {
    let state = lead(false, noon());
    let d = decide(&state, &reply("Hello"), &POLICY, plus_minutes(noon(), 5));
    assert_eq!(outcome(&d), (EntryKind::TextBlocked, Some("manual.no_consent".into())));
    assert!(d.sends.is_empty());
}

#[test]
fn a_message_from_the_lead_in_the_last_24_hours_allows_a_reply_without_consent() {
    let mut state = lead(false, noon());
    state.last_inbound_at = Some(plus_minutes(noon(), -23 * 60));
    let d = decide(&state, &reply("Thanks for writing"), &POLICY, noon());
    assert_eq!(outcome(&d).0, EntryKind::TextQueued);
    state.last_inbound_at = Some(plus_minutes(noon(), -25 * 60));
    let d = decide(&state, &reply("Thanks for writing"), &POLICY, noon());
    assert_eq!(outcome(&d), (EntryKind::TextBlocked, Some("manual.no_consent".into())));
}

#[test]
fn opted_out_suppressed_and_undeliverable_numbers_never_get_a_reply() {
    let base = lead(true, noon());
    let mut opted = base.clone();
    opted = decide(&opted, &Event::InboundText { body: "STOP".into(), message_sid: None }, &POLICY, noon()).state;
    let mut suppressed = base.clone();
    suppressed.suppressed = Some(Suppression { list: "internal_dnc".into(), reason: None, added_at: noon() });
    let mut undeliverable = base.clone();
    undeliverable.status = LeadStatus::Undeliverable;
    for (state, rule) in
        [(opted, "opt_out"), (suppressed, "suppression.internal_dnc"), (undeliverable, "undeliverable")]
    {
        let d = decide(&state, &reply("Hello"), &POLICY, plus_minutes(noon(), 1));
        assert_eq!(outcome(&d), (EntryKind::TextBlocked, Some(rule.into())));
        assert!(d.sends.is_empty() && d.state.pending.is_empty());
    }
}

#[test]
fn a_frozen_lead_can_still_get_a_persons_reply() {
    let state = decide(&lead(true, noon()), &Event::Freeze { reason: None }, &POLICY, noon()).state;
    let d = decide(&state, &reply("Call you at 3?"), &POLICY, plus_minutes(noon(), 1));
    assert_eq!(outcome(&d).0, EntryKind::TextQueued);
}

#[test]
fn quiet_hours_defer_a_reply_unless_the_lead_wrote_within_the_hour() {
    let mut state = lead(true, noon());
    let d = decide(&state, &reply("Good evening"), &POLICY, night());
    assert_eq!(outcome(&d).0, EntryKind::TextDeferred);
    assert_eq!(d.state.pending.len(), 1);
    state.last_inbound_at = Some(plus_minutes(night(), -30));
    let d = decide(&state, &reply("Good evening"), &POLICY, night());
    assert_eq!(outcome(&d).0, EntryKind::TextQueued);
}

#[test]
fn a_reply_over_the_segment_limit_is_refused_not_shortened() {
    let state = lead(true, noon());
    let long = "word ".repeat(400);
    let d = decide(&state, &reply(&long), &POLICY, plus_minutes(noon(), 1));
    assert_eq!(outcome(&d), (EntryKind::TextBlocked, Some("text.too_long".into())));
}

#[test]
fn a_reply_from_a_template_renders_with_the_leads_values() {
    let state = lead(true, noon());
    let event = Event::ManualReply(ManualReply::Template {
        name: "help".into(),
        first_name: None,
        agent: None,
        property: None,
    });
    let d = decide(&state, &event, &POLICY, plus_minutes(noon(), 1));
    assert_eq!(outcome(&d).0, EntryKind::TextQueued);
    let unknown = Event::ManualReply(ManualReply::Template {
        name: "no_such".into(),
        first_name: None,
        agent: None,
        property: None,
    });
    let d = decide(&state, &unknown, &POLICY, plus_minutes(noon(), 1));
    assert_eq!(outcome(&d), (EntryKind::TextBlocked, Some("template.unknown".into())));
}

fn arb_state() -> impl Strategy<Value = (LeadState, Ts)> {
    (
        any::<bool>(),                     // consent
        prop::option::of(0i64..(48 * 60)), // minutes since the lead wrote
        0u8..4,                            // 0 none, 1 opted out, 2 suppressed, 3 undeliverable
        any::<bool>(),                     // frozen
        0u32..24,                          // local hour
    )
        .prop_map(|(with_consent, wrote, bad, frozen, hour)| {
            let at = local(2026, 6, 9, 9, 0);
            let now = local(2026, 6, 10, hour, 0);
            let mut s = lead(with_consent, at);
            s.last_inbound_at = wrote.map(|m| plus_minutes(now, -m));
            match bad {
                1 => s = decide(&s, &Event::InboundText { body: "STOP".into(), message_sid: None }, &POLICY, at).state,
                2 => s.suppressed = Some(Suppression { list: "litigator".into(), reason: None, added_at: at }),
                3 => s.status = LeadStatus::Undeliverable,
                _ => {}
            }
            if frozen {
                s.frozen = Some(Freeze { reason: None, at });
            }
            s.last_inbound_at = wrote.map(|m| plus_minutes(now, -m));
            (s, now)
        })
}

proptest! {
    /// Whatever the state: an opted-out, suppressed or undeliverable number is never
    /// allowed; without consent only a message in the last 24 hours allows one; a freeze
    /// never matters; the gateway's check before sending agrees with the decision's.
    #[test]
    fn the_manual_gate_holds_its_rules((state, now) in arb_state()) {
        let g = manual_gate(&state, &POLICY, now);
        let never = state.opted_out() || state.suppressed.is_some() || state.status == LeadStatus::Undeliverable;
        let full = gate(&state, TextKind::ManualReply, &POLICY, now, Stage::Decide);
        prop_assert_eq!(&full, &gate(&state, TextKind::ManualReply, &POLICY, now, Stage::Send));
        if never {
            prop_assert!(matches!(full, Gate::Block { .. }), "{:?}", full);
        }
        let wrote_24h = state.last_inbound_at.is_some_and(|t| now.0 - t.0 <= Duration::hours(24));
        if !state.has_current_consent_hint() && !wrote_24h {
            prop_assert!(matches!(g, Gate::Block { .. }), "{:?}", g);
        }
        let mut thawed = state.clone();
        thawed.frozen = None;
        prop_assert_eq!(manual_gate(&thawed, &POLICY, now), g);
    }
}

trait ConsentHint {
    fn has_current_consent_hint(&self) -> bool;
}
impl ConsentHint for LeadState {
    /// Whether the lead has any grant at all (the test's consent is complete and fresh).
    fn has_current_consent_hint(&self) -> bool {
        self.current_grant().is_some()
    }
}
