//! The consent and opt-out rules of compliance v2, on the pure decision core: revocations
//! stick, CRM do-not-contact statuses suppress, consent must name this seller and carry its
//! evidence, sources can be declared, and a rescan opts out without a late confirmation.

use leadline_core::consent::{SourceConsent, SourcePolicies, SourcePolicy};
use leadline_core::decide::{decide, Decision};
use leadline_core::model::*;
use leadline_core::policy::Policy;
use leadline_core::{Phone, Ts};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Acme Realty, legally "Acme Realty Group LLC", declaring Zillow's consent form.
static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    let mut p = Policy::with_defaults("Acme Realty");
    p.seller_names = leadline_core::consent::SellerNames::new("Acme Realty", &["Acme Realty Group LLC".into()]);
    let mut sources = BTreeMap::new();
    sources.insert(
        "zillow".to_string(),
        SourcePolicy {
            consent: SourceConsent::Declared,
            disclosure: "By submitting you agree to receive automated texts from Acme Realty Group.".into(),
        },
    );
    p.compliance.sources = SourcePolicies::from(sources);
    p
});

/// Tuesday 2026-06-09 12:00 in New York.
fn noon() -> Ts {
    use chrono::TimeZone;
    Ts::from(chrono::Utc.with_ymd_and_hms(2026, 6, 9, 16, 0, 0).single().expect("valid instant"))
}

fn later(t: Ts, minutes: i64) -> Ts {
    Ts::from(t.0 + chrono::Duration::minutes(minutes))
}

fn apply(state: &LeadState, event: &Event, now: Ts) -> Decision {
    decide(state, event, &POLICY, now)
}

fn consent(granted_at: Ts, seller: Option<&str>, disclosure: Option<&str>) -> ConsentInput {
    ConsentInput {
        granted_at: Some(granted_at),
        source_url: Some("https://acme.example/listing/123".into()),
        disclosure: disclosure.map(str::to_string),
        ip: None,
        user_agent: None,
        seller: seller.map(str::to_string),
    }
}

fn ours(granted_at: Ts) -> ConsentInput {
    consent(granted_at, None, Some("I agree to receive automated texts from Acme Realty."))
}

fn capture(source: &str, lead_id: &str, consent: Option<ConsentInput>, at: Ts) -> Event {
    Event::LeadCaptured(Box::new(LeadCapture {
        source: source.into(),
        source_lead_id: Some(lead_id.into()),
        first_name: Some("Ana".into()),
        last_name: None,
        email: None,
        address_state: None,
        listing: Some(ListingRef { id: Some("MLS-1".into()), address: Some("123 Main St".into()), price: None }),
        message: None,
        consent,
        occurred_at: Some(at),
    }))
}

fn inbound(body: &str) -> Event {
    Event::InboundText { body: body.into(), message_sid: None }
}

fn crm(status: &str) -> Event {
    Event::CrmChanged { status: status.into(), agent: None, source: Some("followupboss".into()) }
}

fn price_drop() -> Event {
    Event::ListingChanged(Box::new(ListingChange {
        listing_id: "MLS-1".into(),
        change: ListingChangeKind::PriceDrop,
        address: Some("123 Main St".into()),
        old_price: Some(450_000),
        new_price: Some(425_000),
        old_status: None,
        new_status: None,
    }))
}

fn rules(d: &Decision, kind: EntryKind) -> Vec<String> {
    d.notes.iter().filter(|n| n.kind == kind).filter_map(|n| n.rule.clone()).collect()
}

fn new_lead() -> LeadState {
    LeadState::new(Phone::parse("+12125550142").expect("valid"), noon())
}

/// Captured from the website with consent naming us, texted, then opted out by `reply`.
fn opted_out(reply: &str) -> LeadState {
    let d = apply(&new_lead(), &capture("website", "w-1", Some(ours(noon())), noon()), noon());
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    // The provider took the first text: the lead was contacted.
    let first = &d.sends[0];
    let result = SendResult::Accepted { provider_id: "SM-1".into(), status: "queued".into() };
    let accepted = Event::SendOutcome { message_id: first.id.clone(), kind: first.kind, result };
    let d = apply(&d.state, &accepted, later(noon(), 1));
    let d = apply(&d.state, &inbound(reply), later(noon(), 5));
    assert_eq!(d.state.status, LeadStatus::OptOut, "{reply}: {:#?}", d.notes);
    d.state
}

#[test]
fn no_crm_status_unfreeze_or_listing_event_resumes_an_opted_out_lead() {
    let mut state = opted_out("STOP");
    let mut t = later(noon(), 10);
    for event in [crm("nurture"), crm("active"), Event::Freeze { reason: None }, Event::Unfreeze, price_drop()] {
        let d = apply(&state, &event, t);
        assert!(d.sends.is_empty(), "{event:?}: {:#?}", d.notes);
        assert_eq!(d.state.status, LeadStatus::OptOut, "{event:?}");
        state = d.state;
        t = later(t, 1);
    }
    let d = apply(&state, &price_drop(), t);
    assert_eq!(rules(&d, EntryKind::TextBlocked), vec!["opt_out".to_string()]);
}

#[test]
fn a_crm_do_not_contact_status_suppresses_the_number_and_a_later_status_does_not_lift_it() {
    let d = apply(&new_lead(), &capture("website", "w-1", Some(ours(noon())), noon()), noon());
    let d = apply(&d.state, &crm("DNC"), later(noon(), 1));
    let s = d.state.suppressed.clone().expect("suppressed");
    assert_eq!(s.list, "crm");
    assert!(s.reason.as_deref().unwrap_or("").contains("followupboss"), "{s:?}");
    assert_eq!(rules(&d, EntryKind::Admin), vec!["crm.suppressed".to_string()]);
    let d = apply(&d.state, &crm("nurture"), later(noon(), 2));
    let d = apply(&d.state, &price_drop(), later(noon(), 3));
    assert!(d.sends.is_empty());
    assert_eq!(rules(&d, EntryKind::TextBlocked), vec!["suppression.crm".to_string()]);
}

#[test]
fn consent_must_name_this_seller_and_carry_its_disclosure() {
    let cases = [
        (consent(noon(), Some("Zillow Group"), Some("texts from Zillow Group")), "consent.wrong_seller"),
        (consent(noon(), None, Some("I agree to receive texts from our partners.")), "consent.seller_unnamed"),
        (consent(noon(), Some("Acme Realty"), None), "consent.incomplete"),
        (ConsentInput { source_url: None, ..ours(noon()) }, "consent.incomplete"),
    ];
    for (input, rule) in cases {
        let d = apply(&new_lead(), &capture("website", "w-1", Some(input.clone()), noon()), noon());
        assert!(d.sends.is_empty(), "{input:?}");
        assert_eq!(rules(&d, EntryKind::TextBlocked), vec![rule.to_string()], "{input:?}");
    }
    for seller in ["Acme Realty", "ACME REALTY GROUP, LLC"] {
        let d = apply(
            &new_lead(),
            &capture("website", "w-1", Some(consent(noon(), Some(seller), Some("I agree."))), noon()),
            noon(),
        );
        assert_eq!(d.sends.len(), 1, "{seller}: {:#?}", d.notes);
    }
}

#[test]
fn a_declared_source_counts_as_consent_and_an_explicit_record_wins() {
    let d = apply(&new_lead(), &capture("Zillow", "z-1", None, noon()), noon());
    assert_eq!(d.sends.len(), 1, "{:#?}", d.notes);
    assert_eq!(rules(&d, EntryKind::ConsentChanged), vec!["consent.declared".to_string()]);
    let grant = d.state.current_grant().expect("declared grant");
    assert!(grant.declared);
    assert_eq!(grant.record.captured_from.as_deref(), Some("Zillow"));

    // The lead's own record naming someone else is not overridden by the declaration.
    let foreign = consent(noon(), Some("Other Brokerage"), Some("texts from Other Brokerage"));
    let d = apply(&new_lead(), &capture("zillow", "z-2", Some(foreign), noon()), noon());
    assert_eq!(rules(&d, EntryKind::TextBlocked), vec!["consent.wrong_seller".to_string()]);

    // Undeclared sources stay consent.missing.
    let d = apply(&new_lead(), &capture("realtor", "r-1", None, noon()), noon());
    assert_eq!(rules(&d, EntryKind::TextBlocked), vec!["consent.missing".to_string()]);
}

#[test]
fn only_new_complete_consent_after_the_revocation_ends_an_opt_out() {
    let state = opted_out("please stop texting me");
    let revoked = later(noon(), 5);
    let t = later(noon(), 60);

    // Re-posted: the same lead id from the same source, even with a fresh timestamp.
    let d = apply(&state, &capture("website", "w-1", Some(ours(t)), t), t);
    assert_eq!(d.state.status, LeadStatus::OptOut, "{:#?}", d.notes);
    // An earlier grant (dated before the revocation) sent again with a new lead id.
    let d = apply(&state, &capture("website", "w-2", Some(ours(noon())), t), t);
    assert_eq!(d.state.status, LeadStatus::OptOut);
    // A declared source never renews consent.
    let d = apply(&state, &capture("zillow", "z-9", None, t), t);
    assert_eq!(d.state.status, LeadStatus::OptOut);
    assert!(d.sends.is_empty());
    // New consent of someone else's.
    let foreign = consent(t, Some("Other Brokerage"), Some("texts from Other Brokerage"));
    let d = apply(&state, &capture("website", "w-3", Some(foreign), t), t);
    assert_eq!(d.state.status, LeadStatus::OptOut);

    // A new form submission of the lead's own, granted after the revocation.
    let d = apply(&state, &capture("website", "w-4", Some(ours(later(revoked, 30))), t), t);
    assert_eq!(d.state.status, LeadStatus::ContactedSms, "{:#?}", d.notes);
    assert_eq!(rules(&d, EntryKind::StatusChanged), vec!["consent.renewed".to_string()]);
    assert!(
        matches!(d.state.consent_history.last(), Some(ConsentChange::Reinstated { rule, .. }) if rule == "consent.renewed")
    );
}

#[test]
fn every_inbound_classification_records_the_classifier_version() {
    let d = apply(&new_lead(), &inbound("Is it still available?"), noon());
    let note = d.notes.iter().find(|n| n.rule.as_deref() == Some("reply")).expect("classification note");
    assert!(note.detail.contains("classifier v"), "{}", note.detail);
}

#[test]
fn a_rescan_opts_out_without_a_late_confirmation() {
    let d = apply(&new_lead(), &capture("website", "w-1", Some(ours(noon())), noon()), noon());
    let event = Event::RevocationFound {
        reply: "take me off your list".into(),
        rule: "opt_out.phrase".into(),
        classifier: "2".into(),
    };
    let d = apply(&d.state, &event, later(noon(), 90));
    assert_eq!(d.state.status, LeadStatus::OptOut);
    assert!(d.sends.is_empty(), "no confirmation hours later");
    assert_eq!(rules(&d, EntryKind::StatusChanged), vec!["opt_out.rescan".to_string()]);
    assert_eq!(d.notifications.len(), 1);
    let again = apply(&d.state, &event, later(noon(), 91));
    assert_eq!(rules(&again, EntryKind::Event), vec!["opt_out.already".to_string()]);
}
