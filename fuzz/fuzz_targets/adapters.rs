//! `POST /v1/webhooks/{realtor,zillow}`: lead-source JSON shapes mapped to the generic lead.
#![no_main]
use leadline::http::webhooks::lead_sources::{realtor_lead, zillow_lead, RealtorLead, ZillowLead};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<RealtorLead>(data) {
        if let Ok(lead) = realtor_lead(&v) {
            let _ = lead.into_event();
        }
    }
    if let Ok(v) = serde_json::from_slice::<ZillowLead>(data) {
        if let Ok(lead) = zillow_lead(&v) {
            let _ = lead.into_event();
        }
    }
});
