//! `POST /v1/events/mls` and `/v1/events/crm`, `/v1/events/interest`: their JSON bodies and
//! validation. The first byte picks the body type.
#![no_main]
use leadline::http::crm::{CrmBody, InterestBody};
use leadline::http::mls::MlsBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    match which % 3 {
        0 => {
            if let Ok(b) = serde_json::from_slice::<MlsBody>(body) {
                if let Ok((change, _)) = b.into_change() {
                    assert!(!change.listing_id.is_empty());
                    let _ = change.dedupe_key();
                }
            }
        }
        1 => {
            if let Ok(b) = serde_json::from_slice::<CrmBody>(body) {
                let _ = leadline_core::Phone::parse(&b.phone);
            }
        }
        _ => {
            if let Ok(b) = serde_json::from_slice::<InterestBody>(body) {
                let _ = leadline_core::Phone::parse(&b.phone);
            }
        }
    }
    let _ = leadline::http::mls::parse_change_kind(&String::from_utf8_lossy(body));
});
