//! `POST /v1/webhooks/{realtor,zillow}`: lead-source JSON shapes mapped to the generic lead.
#![no_main]
use leadline::http::adapters::{realtor_lead, zillow_lead};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(lead) = realtor_lead(&v) {
        let _ = lead.into_event();
    }
    if let Ok(lead) = zillow_lead(&v) {
        let _ = lead.into_event();
    }
});
