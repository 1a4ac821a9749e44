//! `POST /v1/webhooks/webform`: a browser form (urlencoded), its headers and peer address.
//! Input: `<form body>\n<referer>\n<user agent>\n<x-forwarded-for>`.
#![no_main]
use axum::http::{HeaderMap, HeaderValue};
use leadline::http::webhooks::lead_sources::{webform_lead, WebForm};
use leadline_core::Ts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let body = parts.next().unwrap_or_default();
    let mut headers = HeaderMap::new();
    for name in ["referer", "user-agent", "x-forwarded-for"] {
        if let Some(Ok(v)) = parts.next().map(HeaderValue::from_bytes) {
            headers.insert(name, v);
        }
    }
    let form = WebForm::from_pairs(form_urlencoded::parse(body));
    let peer = Some("203.0.113.9:443".parse().unwrap());
    let now = Ts::from(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap());
    if let Ok(lead) = webform_lead(&form, &headers, peer, now) {
        let _ = lead.into_event();
    }
});
