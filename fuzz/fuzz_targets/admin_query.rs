//! `GET /v1/admin/leads?...`: the admin search query string (unknown keys, bad values).
#![no_main]
use leadline::http::admin_search::SearchParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(p) = SearchParams::from_query(Some(&raw)) {
        let _ = p.to_search();
    }
});
