//! `POST /v1/twilio/{inbound,status}`: the form body and `X-Twilio-Signature` over the public
//! URL; also the JSON-body (`bodySHA256`) variant and `X-Leadline-Signature`.
//! Input: `<url>\n<signature>\n<form body>`.
#![no_main]
use leadline::webhook_auth::{
    leadline_signature, twilio_signature, verify_leadline, verify_twilio, verify_twilio_json,
};
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
    // The fields the handlers read.
    for name in ["From", "Body", "MessageSid", "SmsSid", "MessageStatus", "ErrorCode"] {
        if let Some(v) = leadline::http::twilio::field(&params, name) {
            if name == "From" {
                let _ = leadline_core::Phone::parse(v);
            }
            if name == "ErrorCode" {
                let _ = v.trim().parse::<u32>();
            }
        }
    }
});
