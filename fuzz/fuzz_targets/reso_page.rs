//! The RESO Web API poller's input: an OData page (`value` array of Property records,
//! `@odata.nextLink`), each record parsed and compared with the previous one (price drops,
//! status changes, back on market).
#![no_main]
use leadline::app::listings::normalize_status;
use leadline::integrations::reso::{detect, listing_key, parse_record, SeenListing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Some(next) = page.get("@odata.nextLink").and_then(|v| v.as_str()) {
        let base = url::Url::parse("https://reso.example.com/odata/Property").unwrap();
        let _ = base.join(next);
    }
    let Some(records) = page.get("value").and_then(|v| v.as_array()) else { return };
    let mut prev: Option<SeenListing> = None;
    for v in records {
        let Some(rec) = parse_record(v) else { continue };
        let _ = listing_key(&rec.key);
        if let Some(s) = &rec.status {
            let _ = normalize_status(s);
        }
        let _ = detect(prev.as_ref(), &rec, false);
        let _ = detect(prev.as_ref(), &rec, true);
        prev = Some(SeenListing { price: rec.price, status: rec.status.clone(), modified: rec.modified });
    }
});
