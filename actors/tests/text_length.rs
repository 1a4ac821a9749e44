//! Rendered texts stay within `delivery.max_segments`: the lead's name is left out and the
//! property is cut before a text is queued, and a text that still does not fit is blocked
//! (`text.too_long`), except the opt-out confirmation, which falls back to a minimal one.

use chrono::{TimeZone, Utc};
use leadline_core::classify::ClassifierConfig;
use leadline_core::decide::{decide, Decision, TEXT_SHORTENED, TEXT_TOO_LONG};
use leadline_core::model::*;
use leadline_core::policy::{ComplianceSettings, CrmSettings, DeliverySettings, Policy, PolicySettings};
use leadline_core::segments;
use leadline_core::{Phone, Ts};
use proptest::prelude::*;
use std::sync::LazyLock;

const NY: &str = "+12125550142";

static POLICY: LazyLock<Policy> = LazyLock::new(|| Policy::with_defaults("Acme Realty"));

/// Valid at start-up with the default limit of 3; then held to `max` segments, as if the
/// operator had configured that limit with templates that only fit a short brand.
fn with_limit(brand: &str, max: u32) -> Policy {
    let mut p = Policy::with_defaults(brand);
    p.delivery.max_segments = max;
    p
}

static ONE_SEGMENT: LazyLock<Policy> = LazyLock::new(|| with_limit("Acme Realty", 1));
static TWO_SEGMENTS: LazyLock<Policy> = LazyLock::new(|| with_limit("Acme Realty", 2));

/// A brand so long that the first text cannot fit one segment whatever the lead's values, and
/// the configured opt-out confirmation does not either (the minimal one does).
const LONG_BRAND: &str = "Acme Realty of Greater Springfield, Shelbyville, Capital City and Ogdenville";
static LONG_BRAND_ONE_SEGMENT: LazyLock<Policy> = LazyLock::new(|| with_limit(LONG_BRAND, 1));

/// A Wednesday, 12:00 in New York: inside every quiet-hours window.
fn noon() -> Ts {
    Ts::from(Utc.with_ymd_and_hms(2026, 3, 4, 17, 0, 0).single().expect("valid time"))
}

fn later(t: Ts, minutes: i64) -> Ts {
    Ts::from(t.0 + chrono::Duration::minutes(minutes))
}

fn capture(brand: &str, first_name: &str, address: &str, at: Ts) -> Event {
    Event::LeadCaptured(Box::new(LeadCapture {
        source: "website".into(),
        source_lead_id: Some("web-1".into()),
        first_name: Some(first_name.into()),
        last_name: None,
        email: None,
        address_state: None,
        listing: Some(ListingRef { id: Some("MLS-1".into()), address: Some(address.into()), price: None }),
        message: None,
        consent: Some(ConsentInput {
            granted_at: Some(at),
            source_url: Some("https://acme.example/listing/1".into()),
            disclosure: Some(format!("I agree to receive automated texts from {brand}.")),
            ip: Some("203.0.113.7".into()),
            user_agent: Some("Mozilla/5.0".into()),
            seller: Some(brand.into()),
        }),
        occurred_at: Some(at),
    }))
}

fn price_drop(address: &str) -> Event {
    Event::ListingChanged(Box::new(ListingChange {
        listing_id: "MLS-1".into(),
        change: ListingChangeKind::PriceDrop,
        address: Some(address.into()),
        old_price: Some(450_000),
        new_price: Some(425_000),
        old_status: None,
        new_status: None,
    }))
}

fn inbound(body: &str) -> Event {
    Event::InboundText { body: body.into(), message_sid: Some("SM-1".into()) }
}

fn state() -> LeadState {
    LeadState::new(Phone::parse(NY).expect("valid phone"), noon())
}

fn rules(d: &Decision) -> Vec<(EntryKind, String)> {
    d.notes.iter().map(|n| (n.kind, n.rule.clone().unwrap_or_default())).collect()
}

fn segments_of(body: &str) -> usize {
    segments::count(body).segments
}

#[test]
fn a_3000_character_first_name_is_left_out_and_the_first_text_still_goes() {
    let name = "A".repeat(3000);
    let d = decide(&state(), &capture("Acme Realty", &name, "123 Main St", noon()), &POLICY, noon());
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    let text = &d.sends[0];
    assert_eq!(text.kind, TextKind::FirstContact);
    assert!(!text.body.contains("AAA"), "{}", text.body);
    assert!(text.body.starts_with("Hi, this is Acme Realty about 123 Main St."), "{}", text.body);
    assert!(segments_of(&text.body) <= POLICY.delivery.max_segments as usize);
    let shortened = d.notes.iter().find(|n| n.rule.as_deref() == Some(TEXT_SHORTENED)).expect("a text.shortened note");
    assert!(shortened.detail.contains("first name left out"), "{}", shortened.detail);
    assert_eq!(shortened.message_id.as_deref(), Some(text.id.as_str()));
}

#[test]
fn a_5000_character_address_is_cut_to_fit_in_the_first_text_and_the_listing_alert() {
    let address = "1234 Long Meadow Road, Springfield ".repeat(143);
    assert!(address.chars().count() >= 5000);
    let max = POLICY.delivery.max_segments as usize;
    let d = decide(&state(), &capture("Acme Realty", "Ana", &address, noon()), &POLICY, noon());
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    let body = &d.sends[0].body;
    assert!(body.contains("about 1234 Long Meadow Road"), "{body}");
    assert!(body.contains("..."), "{body}");
    assert!(body.ends_with("Reply HELP for help, STOP to opt out."), "{body}");
    assert!(segments_of(body) <= max, "{} segments: {body}", segments_of(body));
    // Cut to the longest prefix that fits: one segment's worth less would still be over.
    assert!(body.chars().count() > 153 * (max - 1), "{body}");
    let note = d.notes.iter().find(|n| n.rule.as_deref() == Some(TEXT_SHORTENED)).expect("a text.shortened note");
    assert!(note.detail.contains(&format!("of {} characters", address.chars().count())), "{}", note.detail);

    // The price-drop alert about the same listing, an hour later.
    let d = decide(&d.state, &price_drop(&address), &POLICY, later(noon(), 60));
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    let body = &d.sends[0].body;
    assert!(body.starts_with("Acme Realty: price drop on 1234 Long Meadow Road"), "{body}");
    assert!(body.contains("...: now $425,000 (was $450,000)"), "{body}");
    assert!(segments_of(body) <= max, "{body}");
}

#[test]
fn a_text_that_does_not_fit_even_shortened_is_blocked_as_text_too_long() {
    let policy = &*LONG_BRAND_ONE_SEGMENT;
    let d = decide(&state(), &capture(LONG_BRAND, "Ana", "123 Main Street, Springfield", noon()), policy, noon());
    assert!(d.sends.is_empty(), "{:#?}", d.sends);
    assert!(d.state.pending.is_empty());
    let blocked = d.notes.iter().find(|n| n.kind == EntryKind::TextBlocked).expect("a TextBlocked note");
    assert_eq!(blocked.rule.as_deref(), Some(TEXT_TOO_LONG));
    assert!(blocked.detail.starts_with("first_contact not sent: renders to 2 SMS segments"), "{}", blocked.detail);
    assert!(blocked.detail.contains("delivery.max_segments = 1"), "{}", blocked.detail);
    assert!(blocked.message_id.is_some());
    // Not queued, so the lead is still NEW and no follow-up is scheduled.
    assert_eq!(d.state.status, LeadStatus::New);
    assert!(d.state.follow_up.is_none());
}

#[test]
fn an_opt_out_confirmation_over_the_limit_falls_back_to_the_minimal_one() {
    let policy = &*LONG_BRAND_ONE_SEGMENT;
    let mut s = state();
    s.status = LeadStatus::ContactedSms;
    let d = decide(&s, &inbound("STOP"), policy, noon());
    assert_eq!(d.state.status, LeadStatus::OptOut);
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    assert_eq!(d.sends[0].kind, TextKind::OptOutConfirmation);
    assert_eq!(d.sends[0].body, format!("{LONG_BRAND}: you are unsubscribed."));
    let rules = rules(&d);
    assert!(rules.contains(&(EntryKind::Event, TEXT_TOO_LONG.into())), "{rules:?}");
    assert!(!rules.iter().any(|(k, _)| *k == EntryKind::TextBlocked), "{rules:?}");
}

#[test]
fn texts_within_the_limit_are_unchanged() {
    let d = decide(&state(), &capture("Acme Realty", "Ana", "123 Main St", noon()), &POLICY, noon());
    assert_eq!(
        d.sends[0].body,
        "Hi Ana, this is Acme Realty about 123 Main St. Questions? Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out."
    );
    assert!(!d.notes.iter().any(|n| n.rule.as_deref() == Some(TEXT_SHORTENED)));
}

#[test]
fn a_template_with_a_bare_first_name_renders_it_empty_when_left_out() {
    let mut templates = Policy::default_templates();
    templates.first_contact = "Hi {{ first_name }}, this is {{ brand }}. Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.".into();
    let policy = Policy::new(PolicySettings {
        brand: "Acme Realty".into(),
        legal_names: Vec::new(),
        support: "support@example.com".into(),
        templates,
        classifier: ClassifierConfig::default(),
        compliance: ComplianceSettings::default(),
        crm: CrmSettings::default(),
        delivery: DeliverySettings::default(),
        follow_ups: Policy::default_follow_ups(),
    })
    .expect("valid templates");
    let d = decide(&state(), &capture("Acme Realty", &"B".repeat(600), "1 Elm St", noon()), &policy, noon());
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    assert!(d.sends[0].body.starts_with("Hi , this is Acme Realty."), "{}", d.sends[0].body);
}

/// Names and addresses as a form or a feed may send them: mostly GSM-7, sometimes with
/// characters that force UCS-2 (á, emoji, curly quotes) or cost two septets (€, braces).
fn field(max_len: usize) -> impl Strategy<Value = String> {
    let c = prop_oneof![
        8 => prop::char::range('a', 'z'),
        2 => Just(' '),
        1 => prop::sample::select(vec!['é', 'á', '😀', '€', '{', '’', 'Ñ', '1', ',']),
    ];
    prop_oneof![
        1 => prop::collection::vec(c.clone(), 0..40),
        2 => prop::collection::vec(c, 0..max_len),
    ]
    .prop_map(|v| v.into_iter().collect::<String>())
}

fn policies() -> impl Strategy<Value = &'static Policy> {
    prop::sample::select(vec![&*POLICY, &*TWO_SEGMENTS, &*ONE_SEGMENT, &*LONG_BRAND_ONE_SEGMENT])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the name and address, no text handed to the gateway or parked for later is
    /// over `delivery.max_segments`, and a STOP always gets its confirmation.
    #[test]
    fn no_queued_text_exceeds_max_segments(
        first_name in field(3000),
        address in field(5000),
        alert_address in field(5000),
        policy in policies(),
    ) {
        let max = policy.delivery.max_segments as usize;
        let brand = policy.brand.clone();
        let mut s = state();
        let mut now = noon();
        let mut events = vec![capture(&brand, &first_name, &address, now), price_drop(&alert_address), Event::Wake];
        events.extend(["HELP", "STOP", "START"].map(inbound));
        for event in events {
            if matches!(event, Event::Wake) {
                // The follow-up step, when it is due.
                now = s.follow_up.as_ref().map_or(now, |f| f.due.max(now));
            }
            let stop = matches!(&event, Event::InboundText { body, .. } if body == "STOP");
            let d = decide(&s, &event, policy, now);
            let parked = d.state.pending.iter().map(|p| &p.text);
            for text in d.sends.iter().chain(parked) {
                let n = segments_of(&text.body);
                prop_assert!(n <= max, "{} is {n} segments (max {max}): {:?}", text.kind.as_str(), text.body);
                prop_assert!(!text.body.is_empty());
            }
            for n in d.notes.iter().filter(|n| n.rule.as_deref() == Some(TEXT_TOO_LONG)) {
                prop_assert!(n.message_id.is_some(), "{n:?}");
            }
            if stop {
                prop_assert!(
                    d.sends.iter().any(|t| t.kind == TextKind::OptOutConfirmation),
                    "no opt-out confirmation: {:#?}", d.notes
                );
            }
            s = d.state;
            now = later(now, 5);
        }
    }
}
