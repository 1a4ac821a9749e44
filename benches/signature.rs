//! Twilio webhook signature verification: `cargo bench -p leadline --bench signature`.

use criterion::{criterion_group, criterion_main, Criterion};
use leadline::integrations::twilio::signature::{twilio_signature, verify_twilio};
use std::hint::black_box;

fn bench_verify(c: &mut Criterion) {
    let url = "https://leadline.example.com/v1/twilio/inbound";
    let token = "12345678901234567890123456789012";
    let params: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("ApiVersion", "2010-04-01"),
        ("Body", "Is this still available? Can I see it Saturday?"),
        ("From", "+12125550142"),
        ("FromCity", "NEW YORK"),
        ("FromState", "NY"),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsStatus", "received"),
        ("To", "+12125550100"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let good = twilio_signature(url, &params, token);
    let mut g = c.benchmark_group("twilio_signature");
    g.bench_function("verify_valid_11_params", |b| {
        b.iter(|| assert!(verify_twilio(black_box(url), black_box(&params), token, &good)))
    });
    g.bench_function("verify_forged_11_params", |b| {
        b.iter(|| verify_twilio(black_box(url), black_box(&params), token, "bm90IGEgc2lnbmF0dXJl"))
    });
    g.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
