//! `POST /v1/webhooks/followupboss`: the FUB-Signature check over the raw body, then the
//! notification JSON. Input: `<signature>\n<body>`.
#![no_main]
use leadline::integrations::followupboss::Notification;
use leadline::integrations::followupboss::signature::{fub_signature, verify_fub};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "fuzz-system-key";

fuzz_target!(|data: &[u8]| {
    let (sig, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let sig = String::from_utf8_lossy(sig);
    let forged_ok = verify_fub(body, KEY, &sig);
    if forged_ok {
        // Only the real signature can verify.
        assert_eq!(sig.trim().to_ascii_lowercase(), fub_signature(body, KEY));
    }
    assert!(verify_fub(body, KEY, &fub_signature(body, KEY)));
    let _ = serde_json::from_slice::<Notification>(body);
});
