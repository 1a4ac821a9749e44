//! `POST /v1/twilio/{inbound,status}`: the form body and `X-Twilio-Signature` over the public
//! URL; also the JSON-body (`bodySHA256`) variant and `X-Leadline-Signature`.
//! Input: `<url>\n<signature>\n<form body>`.
#![no_main]
use leadline::integrations::signature::{leadline_signature, verify_leadline};
use leadline::integrations::twilio::form::{InboundMessage, StatusCallback};
use leadline::integrations::twilio::signature::{twilio_signature, verify_twilio, verify_twilio_json};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "fuzz-auth-token";

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let url = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let sig = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    // A forged signature must not verify, unless it is the real one.
    if verify_twilio(&url, &params, TOKEN, &sig) {
        assert!(!sig.trim().is_empty());
    }
    // The real signature always verifies (unless the URL asks for a body hash).
    let real = twilio_signature(&url, &params, TOKEN);
    if !url.contains("bodySHA256") {
        assert!(verify_twilio(&url, &params, TOKEN, &real), "own signature rejected for {url:?}");
    }
    let _ = verify_twilio_json(&url, body, TOKEN, &sig);
    let _ = verify_leadline(body, TOKEN, &sig);
    assert!(verify_leadline(body, TOKEN, &leadline_signature(body, TOKEN)));
    // The typed forms the handlers read.
    if let Ok(m) = leadline::integrations::twilio::form::parse::<InboundMessage>(&params) {
        if let Some(from) = m.from.as_deref() {
            let _ = leadline_core::Phone::parse(from);
        }
        let _ = m.sid();
    }
    if let Ok(s) = leadline::integrations::twilio::form::parse::<StatusCallback>(&params) {
        let _ = (s.sid(), s.status(), s.error_code(), s.failure());
    }
});
