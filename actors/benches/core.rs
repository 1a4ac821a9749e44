//! Micro-benchmarks of the pure core: `cargo bench -p leadline-core --bench core`.
//! Figures are printed by criterion, never asserted (docs/performance.md).

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use leadline_core::classify::{classify, ClassifierConfig};
use leadline_core::codec;
use leadline_core::decide::decide;
use leadline_core::model::{
    ConsentInput, Event, LeadCapture, LeadState, ListingChange, ListingChangeKind, ListingRef, SendResult,
};
use leadline_core::policy::Policy;
use leadline_core::quiet_hours::{check_window, QuietHoursPolicy, Recipient};
use leadline_core::{Phone, Ts};
use std::hint::black_box;

fn now() -> Ts {
    // Thursday 13:00 in New York: inside every US window.
    Ts::from(Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0).unwrap())
}

fn capture() -> Event {
    let at = now();
    Event::LeadCaptured(Box::new(LeadCapture {
        source: "zillow".into(),
        source_lead_id: Some("Z-123".into()),
        first_name: Some("Ana".into()),
        last_name: Some("Ruiz".into()),
        email: Some("ana@example.com".into()),
        address_state: None,
        listing: Some(ListingRef {
            id: Some("MLS-123".into()),
            address: Some("123 Main St".into()),
            price: Some(450_000),
        }),
        message: Some("Is this still available?".into()),
        consent: Some(ConsentInput {
            granted_at: Some(Ts::from(at.0 - chrono::Duration::minutes(1))),
            source_url: Some("https://agent.example.com/listing/123".into()),
            disclosure: Some("By checking this box I agree to receive automated texts from Acme Realty.".into()),
            ip: Some("203.0.113.9".into()),
            user_agent: Some("Mozilla/5.0".into()),
            seller: None,
        }),
        occurred_at: Some(at),
    }))
}

/// A lead after its capture and its first text went out: what most stored leads look like.
fn contacted_lead(policy: &Policy) -> LeadState {
    let fresh = LeadState::new(Phone::parse("+12125550142").unwrap(), now());
    let d = decide(&fresh, &capture(), policy, now());
    let mut state = d.state;
    for text in d.sends {
        let outcome = Event::SendOutcome {
            message_id: text.id.clone(),
            kind: text.kind,
            result: SendResult::Accepted { provider_id: "SM123".into(), status: "queued".into() },
        };
        state = decide(&state, &outcome, policy, now()).state;
    }
    state.timeline_len = 4;
    state.timeline_head = "ab".repeat(32);
    state
}

fn bench_decide(c: &mut Criterion) {
    let policy = Policy::with_defaults("Acme Realty");
    let fresh = LeadState::new(Phone::parse("+12125550142").unwrap(), now());
    let lead = contacted_lead(&policy);
    let new_lead = capture();
    let stop = Event::InboundText { body: "STOP".into(), message_sid: Some("SM1".into()) };
    let drop = Event::ListingChanged(Box::new(ListingChange {
        listing_id: "MLS-123".into(),
        change: ListingChangeKind::PriceDrop,
        address: Some("123 Main St".into()),
        old_price: Some(450_000),
        new_price: Some(440_000),
        old_status: None,
        new_status: None,
    }));
    let mut g = c.benchmark_group("decide");
    g.bench_function("new_lead_with_consent", |b| b.iter(|| decide(black_box(&fresh), &new_lead, &policy, now())));
    g.bench_function("inbound_stop", |b| b.iter(|| decide(black_box(&lead), &stop, &policy, now())));
    g.bench_function("price_drop", |b| b.iter(|| decide(black_box(&lead), &drop, &policy, now())));
    g.finish();
}

fn bench_codec(c: &mut Criterion) {
    let policy = Policy::with_defaults("Acme Realty");
    let lead = contacted_lead(&policy);
    let bytes = codec::encode(&lead).unwrap();
    let mut g = c.benchmark_group("codec");
    g.bench_function(format!("encode_lead_state_{}_bytes", bytes.len()), |b| {
        b.iter(|| codec::encode(black_box(&lead)).unwrap())
    });
    g.bench_function(format!("decode_lead_state_{}_bytes", bytes.len()), |b| {
        b.iter(|| codec::decode::<LeadState>(black_box(&bytes)).unwrap())
    });
    g.finish();
}

fn bench_classify(c: &mut Criterion) {
    let cfg = ClassifierConfig::default();
    let mut g = c.benchmark_group("classify");
    for (name, text) in [
        ("stop", "STOP"),
        ("question", "Is this still available? Can I see it Saturday?"),
        ("revocation", "please take me off your list, I already bought a house"),
        ("non_revocation", "don't stop sending me listings like this one!"),
    ] {
        g.bench_function(name, |b| b.iter(|| classify(black_box(text), false, &cfg)));
    }
    g.finish();
}

fn bench_quiet_hours(c: &mut Criterion) {
    let policy = QuietHoursPolicy::default();
    let noon = Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0).unwrap();
    let night = Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap();
    let mut g = c.benchmark_group("quiet_hours");
    g.bench_function("check_window_allowed_ny", |b| {
        b.iter(|| check_window(&policy, &[], &Recipient::new(black_box("+12125550142")), noon))
    });
    g.bench_function("check_window_deferred_fl", |b| {
        b.iter(|| {
            check_window(&policy, &[], &Recipient::new(black_box("+13055550142")).with_address_state("FL"), night)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_decide, bench_codec, bench_classify, bench_quiet_hours);
criterion_main!(benches);
