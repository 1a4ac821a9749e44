//! `POST /v1/events/leads`: the generic lead JSON, then its validation into an event.
#![no_main]
use leadline::http::events::LeadBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(lead) = serde_json::from_slice::<LeadBody>(data) {
        if let Ok((phone, capture)) = lead.into_event() {
            // A lead that passed validation has a phone in E.164 that parses to itself.
            assert_eq!(leadline_core::Phone::parse(phone.as_str()).unwrap(), phone);
            assert!(!capture.source.trim().is_empty());
        }
    }
});
