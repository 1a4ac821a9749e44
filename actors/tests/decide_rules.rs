//! Example tests for the decision core, one (or one table) per rule, on a fixed clock.
//!
//! Every test builds its inputs from wall-clock times in the lead's own zone, runs
//! `decide` (or `gate`) and checks the exact rule ids the timeline records. The
//! property tests in `decide_properties.rs` check the invariants in general; these
//! pin the behaviour of each rule on a concrete, readable example.

use chrono::{Datelike, Duration, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use leadline_core::decide::{decide, gate, Decision, Gate, Stage};
use leadline_core::model::*;
use leadline_core::policy::Policy;
use leadline_core::provider::{ReceiptFailure, SendFailure};
use leadline_core::{Phone, Ts};
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(|| Policy::with_defaults("Acme Realty"));

const NY: &str = "+12125550142";
const MIAMI: &str = "+13055550142";
const DALLAS: &str = "+12145550142";
const SEATTLE: &str = "+12065550142";
const HONOLULU: &str = "+18085550142";
const CONNECTICUT: &str = "+12035550142";

const NEW_YORK_TZ: Tz = chrono_tz::America::New_York;
const CHICAGO_TZ: Tz = chrono_tz::America::Chicago;
const LOS_ANGELES_TZ: Tz = chrono_tz::America::Los_Angeles;
const HONOLULU_TZ: Tz = chrono_tz::Pacific::Honolulu;

/// A wall-clock time in `tz`, as a `Ts`.
fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, mi: u32) -> Ts {
    let t = tz.with_ymd_and_hms(y, m, d, h, mi, 0).single().expect("unambiguous local time");
    Ts::from(t.with_timezone(&Utc))
}

fn phone(s: &str) -> Phone {
    Phone::parse(s).expect("valid test phone")
}

fn apply(state: &LeadState, event: &Event, now: Ts) -> Decision {
    decide(state, event, &POLICY, now)
}

fn complete_consent(granted_at: Ts) -> ConsentInput {
    ConsentInput {
        granted_at: Some(granted_at),
        source_url: Some("https://acme.example/listing/123".into()),
        disclosure: Some("I agree to receive automated texts from Acme Realty. Reply STOP to opt out.".into()),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
        seller: Some("Acme Realty".into()),
    }
}

fn capture(consent: Option<ConsentInput>, occurred_at: Ts) -> Event {
    Event::LeadCaptured(Box::new(LeadCapture {
        source: "website".into(),
        source_lead_id: Some("web-1".into()),
        first_name: Some("Ana".into()),
        last_name: Some("Lopez".into()),
        email: Some("ana@example.com".into()),
        address_state: None,
        listing: Some(ListingRef {
            id: Some("MLS-1".into()),
            address: Some("123 Main St".into()),
            price: Some(450_000),
        }),
        message: Some("Is it still available?".into()),
        consent,
        occurred_at: Some(occurred_at),
    }))
}

fn inbound(body: &str) -> Event {
    Event::InboundText { body: body.into(), message_sid: Some("SM-test".into()) }
}

/// The classification the service's Twilio module (`src/integrations/twilio/codes.rs`) gives
/// the codes these tests use: the core acts on it, the code only goes into the rule id.
fn send_failure(code: u32) -> SendFailure {
    match code {
        21211 | 21614 => SendFailure::InvalidNumber,
        21610 => SendFailure::RecipientOptedOut,
        30034 | 21408 => SendFailure::SenderMisconfigured,
        _ => SendFailure::Other,
    }
}

fn receipt_failure(code: Option<u32>) -> Option<ReceiptFailure> {
    code.map(|c| match c {
        30005 | 30006 => ReceiptFailure::CannotReceive,
        30003 => ReceiptFailure::Unreachable,
        30007 => ReceiptFailure::Filtered,
        _ => ReceiptFailure::Other,
    })
}

fn failed(message_id: &str, kind: TextKind, code: u32) -> Event {
    Event::SendOutcome {
        message_id: message_id.into(),
        kind,
        result: SendResult::Failed {
            code: Some(code),
            failure: send_failure(code),
            message: format!("carrier error {code}"),
            permanent: true,
        },
    }
}

/// (kind, rule, message_id) of every note of the given kinds.
fn notes_of(d: &Decision, kind: EntryKind) -> Vec<(Option<String>, Option<String>)> {
    d.notes.iter().filter(|n| n.kind == kind).map(|n| (n.rule.clone(), n.message_id.clone())).collect()
}

fn rules_of(d: &Decision, kind: EntryKind) -> Vec<String> {
    d.notes.iter().filter(|n| n.kind == kind).filter_map(|n| n.rule.clone()).collect()
}

/// A lead captured with complete consent at a daytime moment: its first text was queued
/// (the provider has not answered yet). Returns the state and the first text.
fn contacted_lead(number: &str, now: Ts) -> (LeadState, OutboundText) {
    let state = LeadState::new(phone(number), now);
    let d = apply(&state, &capture(Some(complete_consent(now)), now), now);
    assert_eq!(d.sends.len(), 1, "fixture: the first text goes out at {now}: {:#?}", d.notes);
    assert_eq!(d.sends[0].kind, TextKind::FirstContact);
    assert_eq!(d.state.status, LeadStatus::ContactedSms);
    (d.state, d.sends[0].clone())
}

/// The provider's acceptance of `text`.
fn accepted(text: &OutboundText) -> Event {
    Event::SendOutcome {
        message_id: text.id.clone(),
        kind: text.kind,
        result: SendResult::Accepted { provider_id: format!("SM-{}", text.id), status: "queued".into() },
    }
}

/// A contacted lead (its first text accepted by the provider) who then texted STOP.
fn opted_out_lead(number: &str, now: Ts) -> LeadState {
    let (state, first) = contacted_lead(number, now);
    let state = apply(&state, &accepted(&first), now.plus_secs(5)).state;
    let d = apply(&state, &inbound("STOP"), now.plus_secs(60));
    assert_eq!(d.state.status, LeadStatus::OptOut);
    d.state
}

trait TsPlus {
    fn plus_minutes(self, m: i64) -> Ts;
    fn plus_secs(self, s: i64) -> Ts;
}
impl TsPlus for Ts {
    fn plus_minutes(self, m: i64) -> Ts {
        Ts::from(self.0 + Duration::minutes(m))
    }
    fn plus_secs(self, s: i64) -> Ts {
        Ts::from(self.0 + Duration::seconds(s))
    }
}

// ---------------------------------------------------------------------------------------
// Quiet hours: a first text outside the recipient's window is deferred, not dropped
// ---------------------------------------------------------------------------------------

struct QuietCase {
    name: &'static str,
    phone: &'static str,
    address_state: Option<&'static str>,
    arrives: Ts,
    expect_weekday: Weekday,
    /// The next allowed local moment.
    not_before: Ts,
    rule: &'static str,
}

fn quiet_cases() -> Vec<QuietCase> {
    vec![
        QuietCase {
            name: "New York lead at 22:30 waits for 08:00 the next day (federal window)",
            phone: NY,
            address_state: None,
            arrives: local(NEW_YORK_TZ, 2026, 6, 9, 22, 30),
            expect_weekday: Weekday::Tue,
            not_before: local(NEW_YORK_TZ, 2026, 6, 10, 8, 0),
            rule: "quiet_hours.federal",
        },
        QuietCase {
            name: "New York lead at 01:10 waits for 08:00 the same day",
            phone: NY,
            address_state: None,
            arrives: local(NEW_YORK_TZ, 2026, 6, 10, 1, 10),
            expect_weekday: Weekday::Wed,
            not_before: local(NEW_YORK_TZ, 2026, 6, 10, 8, 0),
            rule: "quiet_hours.federal",
        },
        QuietCase {
            name: "Miami lead at 20:30 waits for 08:00 the next day (Florida 8am-8pm)",
            phone: MIAMI,
            address_state: None,
            arrives: local(NEW_YORK_TZ, 2026, 6, 9, 20, 30),
            expect_weekday: Weekday::Tue,
            not_before: local(NEW_YORK_TZ, 2026, 6, 10, 8, 0),
            rule: "quiet_hours.state.FL",
        },
        QuietCase {
            name: "Dallas lead on Sunday 10:00 waits for 12:00 (Texas Sunday noon-9pm)",
            phone: DALLAS,
            address_state: None,
            arrives: local(CHICAGO_TZ, 2026, 6, 14, 10, 0),
            expect_weekday: Weekday::Sun,
            not_before: local(CHICAGO_TZ, 2026, 6, 14, 12, 0),
            rule: "quiet_hours.state.TX.sunday",
        },
        QuietCase {
            name: "Dallas lead on Monday 08:30 waits for 09:00 (Texas 9am-9pm)",
            phone: DALLAS,
            address_state: None,
            arrives: local(CHICAGO_TZ, 2026, 6, 15, 8, 30),
            expect_weekday: Weekday::Mon,
            not_before: local(CHICAGO_TZ, 2026, 6, 15, 9, 0),
            rule: "quiet_hours.state.TX",
        },
        QuietCase {
            name: "Seattle lead at 20:15 waits for 08:00 the next day (Washington 8am-8pm)",
            phone: SEATTLE,
            address_state: None,
            arrives: local(LOS_ANGELES_TZ, 2026, 6, 9, 20, 15),
            expect_weekday: Weekday::Tue,
            not_before: local(LOS_ANGELES_TZ, 2026, 6, 10, 8, 0),
            rule: "quiet_hours.state.WA",
        },
        QuietCase {
            name: "Connecticut lead at 08:30 waits for 09:00 (Connecticut 9am-8pm)",
            phone: CONNECTICUT,
            address_state: None,
            arrives: local(NEW_YORK_TZ, 2026, 6, 9, 8, 30),
            expect_weekday: Weekday::Tue,
            not_before: local(NEW_YORK_TZ, 2026, 6, 9, 9, 0),
            rule: "quiet_hours.state.CT",
        },
        QuietCase {
            name: "Honolulu lead at 21:05 Hawaii time waits for 08:00 Hawaii time",
            phone: HONOLULU,
            address_state: None,
            arrives: local(HONOLULU_TZ, 2026, 6, 9, 21, 5),
            expect_weekday: Weekday::Tue,
            not_before: local(HONOLULU_TZ, 2026, 6, 10, 8, 0),
            rule: "quiet_hours.federal",
        },
        QuietCase {
            name: "New York number with a Florida address at 20:30 follows Florida's 8pm",
            phone: NY,
            address_state: Some("FL"),
            arrives: local(NEW_YORK_TZ, 2026, 6, 9, 20, 30),
            expect_weekday: Weekday::Tue,
            not_before: local(NEW_YORK_TZ, 2026, 6, 10, 8, 0),
            rule: "quiet_hours.state.FL",
        },
    ]
}

#[test]
fn a_first_text_outside_the_window_is_deferred_to_the_next_allowed_moment_and_a_wake_then_sends_it() {
    for case in quiet_cases() {
        let name = case.name;
        let zone_day = match case.phone {
            DALLAS => case.arrives.0.with_timezone(&CHICAGO_TZ).weekday(),
            SEATTLE => case.arrives.0.with_timezone(&LOS_ANGELES_TZ).weekday(),
            HONOLULU => case.arrives.0.with_timezone(&HONOLULU_TZ).weekday(),
            _ => case.arrives.0.with_timezone(&NEW_YORK_TZ).weekday(),
        };
        assert_eq!(zone_day, case.expect_weekday, "{name}: fixture weekday");

        let state = LeadState::new(phone(case.phone), case.arrives);
        let mut event = capture(Some(complete_consent(case.arrives.plus_minutes(-2))), case.arrives);
        if let Event::LeadCaptured(c) = &mut event {
            c.address_state = case.address_state.map(str::to_string);
        }
        let d = apply(&state, &event, case.arrives);
        assert!(d.sends.is_empty(), "{name}: nothing may go out now, got {:?}", d.sends);
        assert_eq!(d.state.pending.len(), 1, "{name}: the first text waits");
        let p = &d.state.pending[0];
        assert_eq!(p.text.kind, TextKind::FirstContact, "{name}");
        assert_eq!(p.not_before, case.not_before, "{name}: not_before");
        assert_eq!(p.rule, case.rule, "{name}: pending rule");
        assert_eq!(
            notes_of(&d, EntryKind::TextDeferred),
            vec![(Some(case.rule.to_string()), Some(p.text.id.clone()))],
            "{name}: the timeline says deferred and why"
        );
        assert_eq!(d.state.status, LeadStatus::New, "{name}: not contacted yet");
        assert_eq!(d.state.last_contacted_at, None, "{name}");

        // A timer firing a minute early releases nothing.
        let early = apply(&d.state, &Event::Wake, case.not_before.plus_minutes(-1));
        assert!(early.sends.is_empty(), "{name}: early wake sends nothing");
        assert_eq!(early.state.pending.len(), 1, "{name}: early wake keeps the text");

        // The timer at the allowed moment sends it.
        let id = p.text.id.clone();
        let woke = apply(&d.state, &Event::Wake, case.not_before);
        assert_eq!(woke.sends.len(), 1, "{name}: the wake sends the text: {:#?}", woke.notes);
        assert_eq!(woke.sends[0].id, id, "{name}: the same message id");
        assert_eq!(woke.sends[0].kind, TextKind::FirstContact);
        assert!(woke.state.pending.is_empty(), "{name}");
        assert_eq!(woke.state.status, LeadStatus::ContactedSms, "{name}");
        assert_eq!(woke.state.last_contacted_at, None, "{name}: contacted once the provider accepts it");
        let sent = apply(&woke.state, &accepted(&woke.sends[0]), case.not_before.plus_secs(2));
        assert_eq!(sent.state.last_contacted_at, Some(case.not_before.plus_secs(2)), "{name}");
        assert_eq!(woke.state.recent_sends, vec![case.not_before], "{name}");
        assert_eq!(notes_of(&woke, EntryKind::TextQueued), vec![(Some("sequence.first_contact".into()), Some(id))]);
    }
}

#[test]
fn a_first_text_inside_the_window_goes_out_at_once() {
    let cases = [
        (NY, local(NEW_YORK_TZ, 2026, 6, 9, 8, 0)),
        (NY, local(NEW_YORK_TZ, 2026, 6, 9, 20, 59)),
        (MIAMI, local(NEW_YORK_TZ, 2026, 6, 9, 19, 59)),
        (DALLAS, local(CHICAGO_TZ, 2026, 6, 14, 12, 0)),
        (SEATTLE, local(LOS_ANGELES_TZ, 2026, 6, 9, 12, 0)),
        (HONOLULU, local(HONOLULU_TZ, 2026, 6, 9, 20, 0)),
        (CONNECTICUT, local(NEW_YORK_TZ, 2026, 6, 9, 9, 0)),
    ];
    for (number, now) in cases {
        let (state, text) = contacted_lead(number, now);
        assert!(state.pending.is_empty(), "{number} at {now}");
        assert_eq!(text.id, format!("{number}#1"));
        assert_eq!(text.to.as_str(), number);
        assert_eq!(text.rule, "sequence.first_contact");
        assert!(text.body.contains("Ana") && text.body.contains("123 Main St") && text.body.contains("STOP"));
    }
}

// ---------------------------------------------------------------------------------------
// Consent
// ---------------------------------------------------------------------------------------

#[test]
fn automated_texts_need_complete_current_consent() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let days = |n: i64| Ts::from(now.0 - Duration::days(n));
    let url = |c: ConsentInput, u: Option<&str>| ConsentInput { source_url: u.map(str::to_string), ..c };
    let no_ts = ConsentInput { granted_at: None, ..complete_consent(now) };
    // (name, consent on the capture, expected rule; None = the text goes out)
    let cases: Vec<(&str, Option<ConsentInput>, Option<&str>)> = vec![
        ("no consent at all", None, Some("consent.missing")),
        ("missing source url", Some(url(complete_consent(now), None)), Some("consent.incomplete")),
        ("blank source url", Some(url(complete_consent(now), Some("   "))), Some("consent.incomplete")),
        ("missing timestamp", Some(no_ts), Some("consent.incomplete")),
        ("all fields empty", Some(ConsentInput::default()), Some("consent.incomplete")),
        ("granted 6 minutes in the future", Some(complete_consent(now.plus_minutes(6))), Some("consent.future")),
        ("granted a day in the future", Some(complete_consent(now.plus_minutes(24 * 60))), Some("consent.future")),
        ("granted 549 days ago", Some(complete_consent(days(549))), Some("consent.expired")),
        ("granted 5 years ago", Some(complete_consent(days(5 * 365))), Some("consent.expired")),
        // The allowed edges.
        ("granted 5 minutes in the future (clock skew)", Some(complete_consent(now.plus_minutes(5))), None),
        ("granted exactly 548 days ago", Some(complete_consent(days(548))), None),
        ("granted just now", Some(complete_consent(now)), None),
    ];
    for (name, consent, rule) in cases {
        let state = LeadState::new(phone(NY), now);
        let d = apply(&state, &capture(consent, now), now);
        match rule {
            Some(rule) => {
                assert!(d.sends.is_empty(), "{name}: nothing may be sent, got {:?}", d.sends);
                assert!(d.state.pending.is_empty(), "{name}: a blocked text does not wait");
                let blocked = notes_of(&d, EntryKind::TextBlocked);
                assert_eq!(blocked.len(), 1, "{name}: one blocked note: {:#?}", d.notes);
                assert_eq!(blocked[0].0.as_deref(), Some(rule), "{name}");
                assert_eq!(blocked[0].1.as_deref(), Some(format!("{NY}#1").as_str()), "{name}");
                assert_eq!(d.state.status, LeadStatus::New, "{name}");
                assert_eq!(d.state.last_contacted_at, None, "{name}");
                assert!(d.state.recent_sends.is_empty(), "{name}");
            }
            None => {
                assert_eq!(d.sends.len(), 1, "{name}: the text goes out: {:#?}", d.notes);
                assert!(rules_of(&d, EntryKind::TextBlocked).is_empty(), "{name}");
            }
        }
    }
}

#[test]
fn consent_is_checked_again_when_a_deferred_text_is_released() {
    // Granted 547 days + 20 hours before a 22:30 capture: valid now, expired by 08:00.
    let arrives = local(NEW_YORK_TZ, 2026, 6, 9, 22, 30);
    let granted = Ts::from(arrives.0 - Duration::days(547) - Duration::hours(20));
    let d = apply(&LeadState::new(phone(NY), arrives), &capture(Some(complete_consent(granted)), arrives), arrives);
    assert_eq!(d.state.pending.len(), 1);
    let id = d.state.pending[0].text.id.clone();
    let woke = apply(&d.state, &Event::Wake, local(NEW_YORK_TZ, 2026, 6, 10, 8, 0));
    assert!(woke.sends.is_empty());
    assert!(woke.state.pending.is_empty());
    assert_eq!(notes_of(&woke, EntryKind::TextBlocked), vec![(Some("consent.expired".into()), Some(id))]);
}

#[test]
fn a_revoked_consent_is_not_current_and_a_reinstated_one_is() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, _) = contacted_lead(NY, now);
    assert!(state.current_consent().is_some());
    let out = apply(&state, &inbound("STOP"), now.plus_secs(60));
    assert_eq!(out.state.current_consent(), None);
    assert!(matches!(out.state.consent_history.last(), Some(ConsentChange::Revoked { .. })));
    let back = apply(&out.state, &inbound("START"), now.plus_secs(120));
    assert_eq!(back.state.current_consent(), state.current_consent());
    assert!(matches!(back.state.consent_history.last(), Some(ConsentChange::Reinstated { .. })));
}

// ---------------------------------------------------------------------------------------
// Freeze, suppression, hand-off
// ---------------------------------------------------------------------------------------

#[test]
fn a_frozen_lead_gets_no_automated_text() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let state = LeadState::new(phone(NY), now);
    let frozen = apply(&state, &Event::Freeze { reason: Some("agent call in progress".into()) }, now);
    assert_eq!(rules_of(&frozen, EntryKind::Admin), vec!["admin.freeze".to_string()]);
    assert!(frozen.state.frozen.is_some());

    let d = apply(&frozen.state, &capture(Some(complete_consent(now)), now), now.plus_secs(60));
    assert!(d.sends.is_empty());
    assert!(d.state.pending.is_empty());
    assert_eq!(notes_of(&d, EntryKind::TextBlocked), vec![(Some("frozen".into()), Some(format!("{NY}#1")))]);
    assert_eq!(d.state.status, LeadStatus::New);

    // Unfrozen, the next inquiry is texted.
    let thawed = apply(&d.state, &Event::Unfreeze, now.plus_secs(120));
    assert_eq!(rules_of(&thawed, EntryKind::Admin), vec!["admin.unfreeze".to_string()]);
    let again = apply(&thawed.state, &capture(Some(complete_consent(now)), now.plus_secs(180)), now.plus_secs(180));
    assert_eq!(again.sends.len(), 1, "{:#?}", again.notes);
    assert_eq!(again.sends[0].id, format!("{NY}#2"), "message ids are not reused after a block");
}

#[test]
fn a_freeze_blocks_a_deferred_text_when_its_moment_comes() {
    let arrives = local(NEW_YORK_TZ, 2026, 6, 9, 22, 30);
    let d = apply(&LeadState::new(phone(NY), arrives), &capture(Some(complete_consent(arrives)), arrives), arrives);
    let id = d.state.pending[0].text.id.clone();
    let frozen = apply(&d.state, &Event::Freeze { reason: None }, arrives.plus_minutes(10));
    let woke = apply(&frozen.state, &Event::Wake, local(NEW_YORK_TZ, 2026, 6, 10, 8, 0));
    assert!(woke.sends.is_empty());
    assert_eq!(notes_of(&woke, EntryKind::TextBlocked), vec![(Some("frozen".into()), Some(id))]);
}

// ---------------------------------------------------------------------------------------
// Freeze pauses the follow-ups, unfreeze re-plans them
// ---------------------------------------------------------------------------------------

/// A New York lead contacted Tuesday 2026-06-09 12:00 (first text accepted five seconds
/// later): its first follow-up is due Wednesday 12:00. Returns the state and that due time.
fn lead_with_a_follow_up() -> (LeadState, Ts) {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, first) = contacted_lead(NY, now);
    let state = apply(&state, &accepted(&first), now.plus_secs(5)).state;
    let due = local(NEW_YORK_TZ, 2026, 6, 10, 12, 0);
    assert_eq!(state.follow_up.as_ref().map(|f| (f.step, f.due)), Some((0, due)), "fixture");
    (state, due)
}

fn sequence_notes(d: &Decision) -> Vec<(String, String)> {
    d.notes
        .iter()
        .filter(|n| n.rule.as_deref().is_some_and(|r| r.starts_with("sequence.")))
        .map(|n| (n.rule.clone().unwrap_or_default(), n.detail.clone()))
        .collect()
}

#[test]
fn a_freeze_pauses_the_follow_up_and_the_unfreeze_re_plans_it_from_then() {
    let (state, due) = lead_with_a_follow_up();
    // Frozen Tuesday 14:00: 22 hours of the wait were left.
    let frozen_at = local(NEW_YORK_TZ, 2026, 6, 9, 14, 0);
    let frozen = apply(&state, &Event::Freeze { reason: Some("agent is calling".into()) }, frozen_at);
    let paused = sequence_notes(&frozen);
    assert_eq!(paused.len(), 1, "{:#?}", frozen.notes);
    assert_eq!(paused[0].0, "sequence.paused");
    assert!(paused[0].1.contains("step 1") && paused[0].1.contains("paused"), "{}", paused[0].1);
    assert_eq!(frozen.state.follow_up, state.follow_up, "paused, not cancelled");
    assert_eq!(frozen.state.active_follow_up(), None);
    assert_eq!(frozen.state.next_wake_at(), None, "no timer for a paused sequence");

    // Its old moment passes while frozen: nothing is sent and nothing is lost.
    let woke = apply(&frozen.state, &Event::Wake, due);
    assert!(woke.sends.is_empty() && woke.notes.is_empty(), "{:#?}", woke.notes);
    assert_eq!(woke.state.follow_up, state.follow_up);
    // Freezing again changes the reason, not when the pause began.
    let again = apply(&woke.state, &Event::Freeze { reason: Some("still on it".into()) }, due.plus_minutes(5));
    assert_eq!(again.state.frozen.as_ref().map(|f| f.at), Some(frozen_at));
    assert!(sequence_notes(&again).is_empty());

    // Unfrozen Friday 10:00: the 22 hours left count from now, Saturday 08:00.
    let thawed_at = local(NEW_YORK_TZ, 2026, 6, 12, 10, 0);
    let thawed = apply(&again.state, &Event::Unfreeze, thawed_at);
    assert!(thawed.sends.is_empty(), "unfreezing sends nothing by itself");
    let resumed = sequence_notes(&thawed);
    assert_eq!(resumed.len(), 1, "{:#?}", thawed.notes);
    assert_eq!(resumed[0].0, "sequence.resumed");
    let new_due = local(NEW_YORK_TZ, 2026, 6, 13, 8, 0);
    let f = thawed.state.follow_up.clone().expect("the step is back");
    assert_eq!((f.step, f.due), (0, new_due));
    // The sequence moved by the time it was paused: later steps keep their spacing.
    let shift = new_due.0 - due.0;
    assert_eq!(f.started_at.0, state.follow_up.as_ref().map(|f| f.started_at.0 + shift).expect("fixture"));
    assert_eq!(thawed.state.next_wake_at(), Some(new_due));

    // Not a minute early; at its moment it passes the gate and goes out.
    let early = apply(&thawed.state, &Event::Wake, new_due.plus_minutes(-1));
    assert!(early.sends.is_empty());
    let sent = apply(&thawed.state, &Event::Wake, new_due);
    assert_eq!(sent.sends.len(), 1, "{:#?}", sent.notes);
    assert_eq!(sent.sends[0].kind, TextKind::FollowUp);
    assert_eq!(sent.sends[0].rule, "sequence.follow_up.1");
    // Step 2 (96 h after the start) keeps its 72 hours after step 1.
    let next = sent.state.follow_up.clone().expect("step 2 planned");
    assert_eq!((next.step, next.due), (1, Ts::from(new_due.0 + Duration::hours(72))));
}

#[test]
fn an_opt_out_while_frozen_leaves_nothing_for_the_unfreeze_to_resume() {
    let (state, due) = lead_with_a_follow_up();
    let t0 = local(NEW_YORK_TZ, 2026, 6, 9, 14, 0);
    let frozen = apply(&state, &Event::Freeze { reason: None }, t0);
    let stop = apply(&frozen.state, &inbound("STOP"), t0.plus_minutes(30));
    assert_eq!(stop.state.status, LeadStatus::OptOut);
    assert_eq!(stop.state.follow_up, None, "the opt-out cancels the paused step");
    let thawed = apply(&stop.state, &Event::Unfreeze, due.plus_minutes(60));
    assert!(sequence_notes(&thawed).is_empty(), "{:#?}", thawed.notes);
    assert_eq!(thawed.state.follow_up, None);
    assert_eq!(thawed.state.next_wake_at(), None);
    for days in [1, 3, 5, 10] {
        let later = apply(&thawed.state, &Event::Wake, Ts::from(due.0 + Duration::days(days)));
        assert!(later.sends.is_empty(), "day {days}: {:?}", later.sends);
    }

    // The carrier reporting the opt-out (21610) while frozen cancels it the same way.
    let (state, first) = contacted_lead(NY, local(NEW_YORK_TZ, 2026, 6, 9, 12, 0));
    let frozen = apply(&state, &Event::Freeze { reason: None }, t0);
    let carrier = apply(&frozen.state, &failed(&first.id, first.kind, 21610), t0.plus_minutes(1));
    assert_eq!(carrier.state.status, LeadStatus::OptOut);
    assert_eq!(carrier.state.follow_up, None);
    let thawed = apply(&carrier.state, &Event::Unfreeze, t0.plus_minutes(90));
    assert!(sequence_notes(&thawed).is_empty());
}

#[test]
fn a_re_planned_follow_up_passes_the_whole_gate_when_it_comes_due() {
    let (state, _) = lead_with_a_follow_up();
    let frozen = apply(&state, &Event::Freeze { reason: None }, local(NEW_YORK_TZ, 2026, 6, 9, 14, 0));

    // Unfrozen at 00:30: the step comes due at 22:30 New York time, outside the window.
    let thawed = apply(&frozen.state, &Event::Unfreeze, local(NEW_YORK_TZ, 2026, 6, 12, 0, 30));
    let due = local(NEW_YORK_TZ, 2026, 6, 12, 22, 30);
    assert_eq!(thawed.state.follow_up.as_ref().map(|f| f.due), Some(due));
    let night = apply(&thawed.state, &Event::Wake, due);
    assert!(night.sends.is_empty());
    assert_eq!(rules_of(&night, EntryKind::TextDeferred), vec!["quiet_hours.federal".to_string()]);
    assert_eq!(night.state.pending[0].not_before, local(NEW_YORK_TZ, 2026, 6, 13, 8, 0));

    // Put on a do-not-contact list after the unfreeze: blocked when due, not sent.
    let mut listed = thawed.state.clone();
    listed.suppressed =
        Some(Suppression { list: "internal_dnc".into(), reason: Some("asked by phone".into()), added_at: due });
    let blocked = apply(&listed, &Event::Wake, due);
    assert!(blocked.sends.is_empty());
    assert_eq!(rules_of(&blocked, EntryKind::TextBlocked), vec!["suppression.internal_dnc".to_string()]);

    // The lead replied while frozen: a person handles it, the step was cancelled.
    let replied = apply(&frozen.state, &inbound("Is it available?"), local(NEW_YORK_TZ, 2026, 6, 9, 15, 0));
    assert_eq!(replied.state.follow_up, None);
    let thawed = apply(&replied.state, &Event::Unfreeze, local(NEW_YORK_TZ, 2026, 6, 12, 10, 0));
    assert!(sequence_notes(&thawed).is_empty());
}

// ---------------------------------------------------------------------------------------
// A first text the provider refused: not contacted
// ---------------------------------------------------------------------------------------

#[test]
fn a_first_text_refused_for_good_leaves_the_lead_new_and_never_contacted() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    // (code, status after the refusal)
    let cases = [
        (30034, LeadStatus::New),
        (21408, LeadStatus::New),
        (30007, LeadStatus::New),
        (21211, LeadStatus::Undeliverable),
        (21614, LeadStatus::Undeliverable),
        (21610, LeadStatus::OptOut),
    ];
    for (code, status) in cases {
        let (state, first) = contacted_lead(NY, now);
        assert_eq!(state.last_contacted_at, None, "{code}: queued is not contacted");
        let d = apply(&state, &failed(&first.id, first.kind, code), now.plus_secs(3));
        let rule = format!("provider.{code}");
        assert_eq!(notes_of(&d, EntryKind::TextFailed), vec![(Some(rule.clone()), Some(first.id.clone()))], "{code}");
        assert_eq!(d.state.status, status, "{code}");
        assert_eq!(d.state.last_contacted_at, None, "{code}");
        assert_eq!(d.state.follow_up, None, "{code}: no follow-up to a lead who never got the first text");
        assert_eq!(rules_of(&d, EntryKind::StatusChanged), vec![rule.clone()], "{code}");
        if status == LeadStatus::New {
            let change = d.notes.iter().find(|n| n.kind == EntryKind::StatusChanged).expect("a status note");
            assert!(
                change.detail.starts_with("CONTACTED_SMS -> NEW: the first text was not sent"),
                "{}",
                change.detail
            );
        }
    }
}

#[test]
fn a_first_text_cancelled_before_sending_is_not_contact_but_one_in_doubt_may_be() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, first) = contacted_lead(NY, now);
    let cancelled = |rule: &str| Event::SendOutcome {
        message_id: first.id.clone(),
        kind: first.kind,
        result: SendResult::Cancelled { rule: rule.into(), reason: "re-checked before sending".into() },
    };
    let d = apply(&state, &cancelled("suppression.internal_dnc"), now.plus_secs(3));
    assert_eq!(d.state.status, LeadStatus::New);
    assert_eq!(d.state.follow_up, None);
    // In doubt, the provider may have it: the status stays, but it is not "last contacted".
    let d = apply(&state, &cancelled("gateway.in_doubt"), now.plus_secs(3));
    assert_eq!(d.state.status, LeadStatus::ContactedSms);
    assert_eq!(d.state.last_contacted_at, None);
    assert!(rules_of(&d, EntryKind::StatusChanged).is_empty());
}

#[test]
fn a_refused_first_text_retried_and_accepted_contacts_the_lead_then() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, first) = contacted_lead(NY, now);
    let refused = apply(&state, &failed(&first.id, first.kind, 30034), now.plus_secs(3)).state;
    assert_eq!(refused.status, LeadStatus::New);
    // An operator fixed the campaign and retried the dead letter an hour later.
    let at = now.plus_minutes(60);
    let d = apply(&refused, &accepted(&first), at);
    assert_eq!(d.state.status, LeadStatus::ContactedSms);
    assert_eq!(rules_of(&d, EntryKind::StatusChanged), vec!["provider.accepted".to_string()]);
    assert_eq!(d.state.last_contacted_at, Some(at));
    assert_eq!(d.state.follow_up.as_ref().map(|f| (f.step, f.due)), Some((0, at.plus_minutes(24 * 60))));
}

#[test]
fn last_contacted_counts_only_texts_the_provider_accepted() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, first) = contacted_lead(NY, now);
    assert_eq!(state.last_contacted_at, None);
    let d = apply(&state, &accepted(&first), now.plus_secs(2));
    assert_eq!(d.state.last_contacted_at, Some(now.plus_secs(2)));
    // A HELP reply is not automated contact.
    let help = apply(&d.state, &inbound("HELP"), now.plus_minutes(1));
    let help_text = help.sends[0].clone();
    let d2 = apply(&help.state, &accepted(&help_text), now.plus_minutes(2));
    assert_eq!(d2.state.last_contacted_at, Some(now.plus_secs(2)));
}

#[test]
fn a_suppressed_number_is_blocked_with_the_list_in_the_rule() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    for list in ["internal_dnc", "litigator", "admin"] {
        let mut state = LeadState::new(phone(NY), now);
        state.suppressed =
            Some(Suppression { list: list.into(), reason: Some("test".into()), added_at: now.plus_minutes(-60) });
        let d = apply(&state, &capture(Some(complete_consent(now)), now), now);
        assert!(d.sends.is_empty(), "{list}");
        assert!(d.state.pending.is_empty(), "{list}");
        assert_eq!(
            notes_of(&d, EntryKind::TextBlocked),
            vec![(Some(format!("suppression.{list}")), Some(format!("{NY}#1")))],
            "{list}"
        );
        // HELP is a required reply and is not suppressed.
        let help = apply(&d.state, &inbound("HELP"), now.plus_secs(60));
        assert_eq!(help.sends.len(), 1, "{list}: HELP is answered");
        assert_eq!(help.sends[0].kind, TextKind::Help);
    }
}

#[test]
fn an_engaged_lead_is_handed_to_a_person() {
    // The gate itself.
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (mut state, _) = contacted_lead(NY, now);
    state.status = LeadStatus::Engaged;
    match gate(&state, TextKind::FirstContact, &POLICY, now, Stage::Decide) {
        Gate::Block { rule, .. } => assert_eq!(rule, "handoff.engaged"),
        other => panic!("expected handoff.engaged, got {other:?}"),
    }
    assert_eq!(gate(&state, TextKind::Help, &POLICY, now, Stage::Decide), Gate::Allow);

    // Through decide: a night inquiry waits; the lead replies; the morning wake blocks it.
    let arrives = local(NEW_YORK_TZ, 2026, 6, 9, 22, 30);
    let d = apply(&LeadState::new(phone(NY), arrives), &capture(Some(complete_consent(arrives)), arrives), arrives);
    let id = d.state.pending[0].text.id.clone();
    let replied = apply(&d.state, &inbound("Is it available?"), arrives.plus_minutes(5));
    assert_eq!(replied.state.status, LeadStatus::Engaged);
    assert_eq!(rules_of(&replied, EntryKind::StatusChanged), vec!["handoff.reply".to_string()]);
    assert!(replied.sends.is_empty());
    let woke = apply(&replied.state, &Event::Wake, local(NEW_YORK_TZ, 2026, 6, 10, 8, 0));
    assert!(woke.sends.is_empty());
    assert_eq!(notes_of(&woke, EntryKind::TextBlocked), vec![(Some("handoff.engaged".into()), Some(id))]);
}

// ---------------------------------------------------------------------------------------
// Opt-out, opt-in, HELP
// ---------------------------------------------------------------------------------------

#[test]
fn stop_and_its_synonyms_opt_out_with_exactly_one_confirmation() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    for body in ["STOP", "stop", "Stop please", "please stop texting me", "UNSUBSCRIBE", "no más mensajes"] {
        let (state, first) = contacted_lead(NY, now);
        let d = apply(&state, &inbound(body), now.plus_secs(60));
        assert_eq!(d.state.status, LeadStatus::OptOut, "{body:?}");
        assert_eq!(d.sends.len(), 1, "{body:?}: exactly one text: {:?}", d.sends);
        assert_eq!(d.sends[0].kind, TextKind::OptOutConfirmation, "{body:?}");
        assert_ne!(d.sends[0].id, first.id, "{body:?}");
        assert!(d.sends[0].body.contains("Acme Realty"), "{body:?}");
        assert_eq!(d.state.current_consent(), None, "{body:?}: consent revoked");
        assert_eq!(rules_of(&d, EntryKind::TextQueued), vec!["opt_out.confirmation".to_string()], "{body:?}");
        assert_eq!(d.notes.iter().filter(|n| n.kind == EntryKind::StatusChanged).count(), 1, "{body:?}");

        // A second STOP (and every other text) while opted out sends nothing.
        for again in ["STOP", "stop", "HELP", "Is it available?", "wrong number"] {
            let d2 = apply(&d.state, &inbound(again), now.plus_secs(120));
            assert!(d2.sends.is_empty(), "{body:?} then {again:?}: {:?}", d2.sends);
            assert_eq!(d2.state.status, LeadStatus::OptOut, "{body:?} then {again:?}");
        }
        let d2 = apply(&d.state, &inbound("STOP"), now.plus_secs(120));
        assert_eq!(
            rules_of(&d2, EntryKind::Event),
            vec!["event.inbound_text".to_string(), "opt_out.keyword".into(), "opt_out.already".into()]
        );
    }
}

#[test]
fn stop_cancels_a_deferred_text_on_the_timeline() {
    let arrives = local(NEW_YORK_TZ, 2026, 6, 9, 22, 30);
    let d = apply(&LeadState::new(phone(NY), arrives), &capture(Some(complete_consent(arrives)), arrives), arrives);
    let id = d.state.pending[0].text.id.clone();
    let out = apply(&d.state, &inbound("STOP"), arrives.plus_minutes(5));
    assert!(out.state.pending.is_empty());
    assert!(notes_of(&out, EntryKind::TextBlocked).contains(&(Some("opt_out".into()), Some(id))));
    // The confirmation is a required reply: it goes out even at night.
    assert_eq!(out.sends.len(), 1);
    assert_eq!(out.sends[0].kind, TextKind::OptOutConfirmation);
    let woke = apply(&out.state, &Event::Wake, local(NEW_YORK_TZ, 2026, 6, 10, 8, 0));
    assert!(woke.sends.is_empty());
}

#[test]
fn start_while_opted_out_opts_back_in_with_a_confirmation() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    for body in ["START", "UNSTOP", "YES", "start"] {
        let out = opted_out_lead(NY, now);
        let d = apply(&out, &inbound(body), now.plus_secs(600));
        assert_eq!(d.state.status, LeadStatus::ContactedSms, "{body}: back to where it was (contacted)");
        assert_eq!(d.sends.len(), 1, "{body}");
        assert_eq!(d.sends[0].kind, TextKind::OptInConfirmation, "{body}");
        assert!(d.sends[0].body.contains("Msg & data rates may apply"), "{body}");
        assert!(d.state.current_consent().is_some(), "{body}: the grant applies again");
    }

    // A lead who opted out before any text was sent goes back to NEW.
    let state = LeadState::new(phone(NY), now);
    let captured = apply(&state, &capture(None, now), now);
    let out = apply(&captured.state, &inbound("STOP"), now.plus_secs(60));
    assert_eq!(out.state.status, LeadStatus::OptOut);
    let back = apply(&out.state, &inbound("START"), now.plus_secs(120));
    assert_eq!(back.state.status, LeadStatus::New);
    assert_eq!(back.sends.len(), 1);
    assert_eq!(back.sends[0].kind, TextKind::OptInConfirmation);

    // START while subscribed changes nothing.
    let (state, _) = contacted_lead(NY, now);
    let d = apply(&state, &inbound("START"), now.plus_secs(60));
    assert!(d.sends.is_empty());
    assert_eq!(d.state.status, LeadStatus::ContactedSms);
    assert!(rules_of(&d, EntryKind::Event).contains(&"opt_in.already".to_string()));
}

#[test]
fn help_while_opted_out_sends_nothing() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let out = opted_out_lead(NY, now);
    for body in ["HELP", "INFO", "help"] {
        let d = apply(&out, &inbound(body), now.plus_secs(600));
        assert!(d.sends.is_empty(), "{body}: {:?}", d.sends);
        assert_eq!(d.state.status, LeadStatus::OptOut, "{body}");
        let blocked = notes_of(&d, EntryKind::TextBlocked);
        assert_eq!(blocked.len(), 1, "{body}: {:#?}", d.notes);
        assert_eq!(blocked[0].0.as_deref(), Some("opt_out"), "{body}");
    }
}

#[test]
fn help_while_subscribed_sends_the_help_text() {
    // At night too: HELP is a reply the law requires, not an automated text.
    for now in [local(NEW_YORK_TZ, 2026, 6, 9, 12, 0), local(NEW_YORK_TZ, 2026, 6, 9, 23, 30)] {
        let state = LeadState::new(phone(NY), now);
        for body in ["HELP", "INFO"] {
            let d = apply(&state, &inbound(body), now);
            assert_eq!(d.sends.len(), 1, "{body} at {now}: {:#?}", d.notes);
            let text = &d.sends[0];
            assert_eq!(text.kind, TextKind::Help);
            assert_eq!(text.rule, "help.keyword");
            assert!(text.body.contains("Msg & data rates may apply"), "{}", text.body);
            assert!(text.body.contains("STOP"), "{}", text.body);
            assert!(text.body.contains("Acme Realty"), "{}", text.body);
            assert!(text.body.contains("support@example.com"), "{}", text.body);
            assert_eq!(d.state.status, LeadStatus::New, "HELP is not a reply that hands the lead off");
            assert!(d.state.recent_sends.is_empty(), "HELP does not count against the cap");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Provider outcomes
// ---------------------------------------------------------------------------------------

#[test]
fn carrier_21610_opts_the_lead_out_without_a_confirmation() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, first) = contacted_lead(NY, now);
    let d = apply(&state, &failed(&first.id, first.kind, 21610), now.plus_secs(30));
    assert_eq!(d.state.status, LeadStatus::OptOut);
    assert!(d.sends.is_empty(), "no confirmation to a number the carrier blocked: {:?}", d.sends);
    assert_eq!(d.state.current_consent(), None);
    assert_eq!(notes_of(&d, EntryKind::TextFailed), vec![(Some("provider.21610".into()), Some(first.id.clone()))]);
    assert_eq!(rules_of(&d, EntryKind::StatusChanged), vec!["provider.21610".to_string()]);
    // A later STOP does not produce a confirmation either: the lead is already out.
    let stop = apply(&d.state, &inbound("STOP"), now.plus_secs(60));
    assert!(stop.sends.is_empty());
}

#[test]
fn carrier_21211_marks_the_number_undeliverable() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, first) = contacted_lead(NY, now);
    let d = apply(&state, &failed(&first.id, first.kind, 21211), now.plus_secs(30));
    assert_eq!(d.state.status, LeadStatus::Undeliverable);
    assert!(d.sends.is_empty());
    assert_eq!(notes_of(&d, EntryKind::TextFailed), vec![(Some("provider.21211".into()), Some(first.id.clone()))]);
    assert_eq!(rules_of(&d, EntryKind::StatusChanged), vec!["provider.21211".to_string()]);
    match gate(&d.state, TextKind::FirstContact, &POLICY, now.plus_secs(60), Stage::Decide) {
        Gate::Block { rule, .. } => assert_eq!(rule, "undeliverable"),
        other => panic!("expected undeliverable, got {other:?}"),
    }
}

#[test]
fn other_outcomes_are_recorded_and_change_no_status() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, first) = contacted_lead(NY, now);
    let accepted = Event::SendOutcome {
        message_id: first.id.clone(),
        kind: first.kind,
        result: SendResult::Accepted { provider_id: "SM123".into(), status: "queued".into() },
    };
    let d = apply(&state, &accepted, now.plus_secs(5));
    assert_eq!(notes_of(&d, EntryKind::TextSent), vec![(Some("provider.accepted".into()), Some(first.id.clone()))]);
    assert_eq!(d.state.status, LeadStatus::ContactedSms);
    assert!(rules_of(&d, EntryKind::StatusChanged).is_empty());

    // A later automated text that fails changes no status: the lead was contacted.
    let contacted = d.state;
    let d = apply(&contacted, &failed(&format!("{NY}#9"), TextKind::ListingAlert, 30007), now.plus_secs(9));
    assert_eq!(notes_of(&d, EntryKind::TextFailed), vec![(Some("provider.30007".into()), Some(format!("{NY}#9")))]);
    assert_eq!(d.state.status, LeadStatus::ContactedSms);
    assert_eq!(d.state.last_contacted_at, Some(now.plus_secs(5)));
    assert!(d.state.follow_up.is_some());

    let cancelled = Event::SendOutcome {
        message_id: first.id.clone(),
        kind: first.kind,
        result: SendResult::Cancelled { rule: "opt_out".into(), reason: "opted out meanwhile".into() },
    };
    let d = apply(&state, &cancelled, now.plus_secs(5));
    assert_eq!(notes_of(&d, EntryKind::TextFailed), vec![(Some("opt_out".into()), Some(first.id.clone()))]);
}

#[test]
fn a_text_the_gateway_deferred_waits_and_goes_out_under_the_same_id() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 20, 59);
    let (state, first) = contacted_lead(NY, now);
    let until = local(NEW_YORK_TZ, 2026, 6, 10, 8, 0);
    let deferred = Event::SendOutcome {
        message_id: first.id.clone(),
        kind: first.kind,
        result: SendResult::Deferred {
            text: Box::new(first.clone()),
            until,
            rule: "quiet_hours.federal".into(),
            reason: "21:01 in America/New_York".into(),
        },
    };
    let d = apply(&state, &deferred, local(NEW_YORK_TZ, 2026, 6, 9, 21, 1));
    assert!(d.sends.is_empty());
    assert_eq!(d.state.pending.len(), 1);
    assert_eq!(d.state.pending[0].not_before, until);
    assert_eq!(
        notes_of(&d, EntryKind::TextDeferred),
        vec![(Some("quiet_hours.federal".into()), Some(first.id.clone()))]
    );
    let woke = apply(&d.state, &Event::Wake, until);
    assert_eq!(woke.sends.len(), 1);
    assert_eq!(woke.sends[0].id, first.id);
}

// ---------------------------------------------------------------------------------------
// The rolling cap
// ---------------------------------------------------------------------------------------

#[test]
fn the_rolling_cap_defers_the_text_over_it_until_the_oldest_ages_out() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let mut state = LeadState::new(phone(MIAMI), now);
    state.recent_sends = vec![now.plus_minutes(-200), now.plus_minutes(-150), now.plus_minutes(-100)];
    let d = apply(&state, &capture(Some(complete_consent(now)), now), now);
    assert!(d.sends.is_empty(), "{:?}", d.sends);
    assert_eq!(d.state.pending.len(), 1);
    let p = &d.state.pending[0];
    assert_eq!(p.rule, "cap.daily", "the global cap (3) is not stricter than Florida's (3)");
    assert_eq!(p.not_before, Ts::from(now.0 - Duration::minutes(200) + Duration::hours(24) + Duration::seconds(1)));
    // At that moment (08:40:01 local: inside Florida's window) it goes out.
    let woke = apply(&d.state, &Event::Wake, p.not_before);
    assert_eq!(woke.sends.len(), 1, "{:#?}", woke.notes);
}

// ---------------------------------------------------------------------------------------
// Regressions: bugs the property tests found (fixed; these keep them fixed)
// ---------------------------------------------------------------------------------------

#[test]
fn bug_an_undeliverable_result_ends_an_opt_out() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, _) = contacted_lead(NY, now);
    let out = apply(&state, &inbound("STOP"), now.plus_secs(60));
    let confirmation = out.sends[0].clone();
    assert_eq!(confirmation.kind, TextKind::OptOutConfirmation);
    // The confirmation fails: the provider says the number is invalid.
    let failed = apply(&out.state, &failed(&confirmation.id, confirmation.kind, 21211), now.plus_secs(65));
    assert_eq!(failed.state.status, LeadStatus::OptOut, "an opt-out only ends with START/UNSTOP/YES");
    // The lead texts STOP again: nothing may be sent.
    let again = apply(&failed.state, &inbound("STOP"), now.plus_secs(3600));
    assert!(again.sends.is_empty(), "a second opt-out confirmation: {:?}", again.sends);
}

#[test]
fn bug_an_undeliverable_receipt_ends_an_opt_out() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, _) = contacted_lead(NY, now);
    let out = apply(&state, &inbound("STOP"), now.plus_secs(60));
    let confirmation = out.sends[0].clone();
    let receipt = Event::DeliveryReceipt {
        message_id: confirmation.id.clone(),
        provider_id: "SM1".into(),
        status: "undelivered".into(),
        error_code: Some(30005),
        failure: receipt_failure(Some(30005)),
    };
    let d = apply(&out.state, &receipt, now.plus_secs(70));
    assert_eq!(d.state.status, LeadStatus::OptOut, "an opt-out only ends with START/UNSTOP/YES");
    let again = apply(&d.state, &inbound("stop"), now.plus_secs(3600));
    assert!(again.sends.is_empty(), "a second opt-out confirmation: {:?}", again.sends);
}

#[test]
fn bug_an_opted_out_lead_gets_a_listing_alert_after_an_undeliverable_result() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, _) = contacted_lead(NY, now);
    let out = apply(&state, &inbound("STOP"), now.plus_secs(60));
    let confirmation = out.sends[0].clone();
    let mut s = apply(&out.state, &failed(&confirmation.id, confirmation.kind, 21211), now.plus_secs(65)).state;
    let steps = [
        inbound("Is it available?"),
        Event::CrmChanged { status: "nurture".into(), agent: None, source: None },
        capture(Some(complete_consent(now.plus_secs(200))), now.plus_secs(200)),
    ];
    for (n, e) in steps.iter().enumerate() {
        s = apply(&s, e, now.plus_secs(100 + 100 * n as i64)).state;
    }
    let change = Event::ListingChanged(Box::new(ListingChange {
        listing_id: "MLS-1".into(),
        change: ListingChangeKind::PriceDrop,
        address: Some("123 Main St".into()),
        old_price: Some(450_000),
        new_price: Some(425_000),
        old_status: None,
        new_status: None,
    }));
    let d = apply(&s, &change, now.plus_secs(600));
    assert!(d.sends.is_empty(), "the lead never opted back in: {:?} (status {:?})", d.sends, d.state.status);
}

// ---------------------------------------------------------------------------------------
// MLS listing alerts, CRM statuses, delivery receipts
// ---------------------------------------------------------------------------------------

fn listing_change(id: &str, change: ListingChangeKind, address: Option<&str>, new_status: Option<&str>) -> Event {
    Event::ListingChanged(Box::new(ListingChange {
        listing_id: id.into(),
        change,
        address: address.map(str::to_string),
        old_price: Some(450_000),
        new_price: Some(425_000),
        old_status: Some("Active".into()),
        new_status: new_status.map(str::to_string),
    }))
}

#[test]
fn bug_a_listing_alert_names_the_listing_that_changed() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    // The lead asked about MLS-1 (123 Main St), then saved MLS-2 (no address known).
    let (state, _) = contacted_lead(NY, now);
    let saved = Event::InterestAdded { listing_id: "MLS-2".into(), address: None, how: "saved".into() };
    let state = apply(&state, &saved, now.plus_secs(60)).state;
    let d = apply(&state, &listing_change("MLS-2", ListingChangeKind::PriceDrop, None, None), now.plus_secs(120));
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    let body = &d.sends[0].body;
    assert!(body.contains("MLS-2"), "the alert must name the listing that changed: {body}");
    assert!(!body.contains("123 Main St"), "the alert names another listing: {body}");

    // A lead whose inquiry named no listing: the alert must not say "price drop on none".
    let state = LeadState::new(phone(NY), now);
    let mut event = capture(Some(complete_consent(now)), now);
    if let Event::LeadCaptured(c) = &mut event {
        c.listing = None;
    }
    let state = apply(&state, &event, now).state;
    let state = apply(&state, &saved, now.plus_secs(60)).state;
    let d = apply(&state, &listing_change("MLS-2", ListingChangeKind::PriceDrop, None, None), now.plus_secs(120));
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    let body = &d.sends[0].body;
    assert!(body.contains("MLS-2"), "the alert must name the listing that changed: {body}");
}

#[test]
fn a_price_drop_on_a_watched_listing_sends_an_alert_through_the_gate() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, _) = contacted_lead(NY, now);
    let d = apply(
        &state,
        &listing_change("MLS-1", ListingChangeKind::PriceDrop, Some("123 Main St"), None),
        now.plus_minutes(30),
    );
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    let alert = &d.sends[0];
    assert_eq!(alert.kind, TextKind::ListingAlert);
    assert_eq!(alert.rule, "listing.price_drop");
    assert!(alert.body.contains("$425,000") && alert.body.contains("$450,000") && alert.body.contains("STOP"));
    assert_eq!(d.state.recent_sends.len(), 2, "alerts count against the rolling cap");

    // At night it waits for the morning.
    let night = local(NEW_YORK_TZ, 2026, 6, 9, 21, 30);
    let d = apply(&state, &listing_change("MLS-1", ListingChangeKind::BackOnMarket, Some("123 Main St"), None), night);
    assert!(d.sends.is_empty());
    assert_eq!(d.state.pending.len(), 1);
    assert_eq!(d.state.pending[0].not_before, local(NEW_YORK_TZ, 2026, 6, 10, 8, 0));
}

#[test]
fn a_change_on_a_listing_the_lead_does_not_watch_sends_nothing() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, _) = contacted_lead(NY, now);
    let d = apply(&state, &listing_change("MLS-9", ListingChangeKind::PriceDrop, Some("9 Elm St"), None), now);
    assert!(d.sends.is_empty());
    assert!(rules_of(&d, EntryKind::Event).contains(&"listing.not_interested".to_string()));
    assert_eq!(d.state.next_message_seq, state.next_message_seq, "no message id used");
}

#[test]
fn a_disabled_alert_template_sends_nothing_and_uses_no_message_id() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, _) = contacted_lead(NY, now);
    // listing_price_increase is empty in the default templates.
    let d = apply(&state, &listing_change("MLS-1", ListingChangeKind::PriceIncrease, Some("123 Main St"), None), now);
    assert!(d.sends.is_empty());
    assert!(rules_of(&d, EntryKind::Event).contains(&"template.disabled".to_string()));
    assert_eq!(d.state.next_message_seq, state.next_message_seq);
}

#[test]
fn crm_statuses_halt_or_resume_automation() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (state, _) = contacted_lead(NY, now);
    let alert = listing_change("MLS-1", ListingChangeKind::PriceDrop, Some("123 Main St"), None);

    let closed = apply(&state, &Event::CrmChanged { status: "Closed".into(), agent: None, source: None }, now);
    let d = apply(&closed.state, &alert, now.plus_minutes(1));
    assert!(d.sends.is_empty());
    assert_eq!(rules_of(&d, EntryKind::TextBlocked), vec!["crm.halt_all".to_string()]);
    // "Do Not Contact" is in [crm] suppress_on: the number goes on the suppression list.
    let dnc = apply(&state, &Event::CrmChanged { status: "Do Not Contact".into(), agent: None, source: None }, now);
    let d = apply(&dnc.state, &alert, now.plus_minutes(1));
    assert_eq!(rules_of(&d, EntryKind::TextBlocked), vec!["suppression.crm".to_string()]);

    // An engaged lead handed back to automation by the CRM.
    let engaged = apply(&state, &inbound("Is it available?"), now).state;
    assert_eq!(engaged.status, LeadStatus::Engaged);
    let d = apply(&engaged, &alert, now.plus_minutes(1));
    assert_eq!(rules_of(&d, EntryKind::TextBlocked), vec!["handoff.engaged".to_string()]);
    let nurture =
        apply(&engaged, &Event::CrmChanged { status: "nurture".into(), agent: Some("Sam".into()), source: None }, now);
    assert_eq!(nurture.state.status, LeadStatus::ContactedSms);
    assert_eq!(nurture.state.agent.as_deref(), Some("Sam"));
    assert_eq!(rules_of(&nurture, EntryKind::StatusChanged), vec!["crm.resume".to_string()]);
    let d = apply(&nurture.state, &alert, now.plus_minutes(2));
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
}

#[test]
fn delivery_receipts_flag_unreachable_numbers_and_never_move_backwards() {
    let now = local(NEW_YORK_TZ, 2026, 6, 9, 12, 0);
    let (mut state, first) = contacted_lead(NY, now);
    let receipt = |status: &str, code: Option<u32>| Event::DeliveryReceipt {
        message_id: first.id.clone(),
        provider_id: "SM1".into(),
        status: status.into(),
        error_code: code,
        failure: receipt_failure(code),
    };
    let d = apply(&state, &receipt("delivered", None), now.plus_secs(5));
    assert_eq!(rules_of(&d, EntryKind::Delivery), vec!["delivery.delivered".to_string()]);
    let stale = apply(&d.state, &receipt("sent", None), now.plus_secs(6));
    assert_eq!(rules_of(&stale, EntryKind::Delivery), vec!["delivery.stale".to_string()]);

    // 30005 (unknown handset): undeliverable at once.
    let d = apply(&state, &receipt("undelivered", Some(30005)), now.plus_secs(5));
    assert_eq!(d.state.status, LeadStatus::Undeliverable);

    // 30003 (unreachable): undeliverable after three in a row, on three different texts.
    for n in 0..3u64 {
        let id = format!("{NY}#{}", 10 + n);
        let e = Event::DeliveryReceipt {
            message_id: id,
            provider_id: format!("SM{n}"),
            status: "undelivered".into(),
            error_code: Some(30003),
            failure: receipt_failure(Some(30003)),
        };
        let d = apply(&state, &e, now.plus_secs(10 + n as i64));
        let want = if n < 2 { LeadStatus::ContactedSms } else { LeadStatus::Undeliverable };
        assert_eq!(d.state.status, want, "after {} unreachable receipts", n + 1);
        state = d.state;
    }
}
