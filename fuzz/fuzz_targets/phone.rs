//! Phone normalisation: every phone field of every source goes through `Phone::parse`.
#![no_main]
use leadline_core::phone::{mask, Phone};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = mask(&text);
    if let Ok(p) = Phone::parse(&text) {
        // E.164 is a fixed point, and the masked form never shows the whole number.
        let again = Phone::parse(p.as_str()).expect("an E.164 number parses again");
        assert_eq!(again, p);
        assert!(p.as_str().starts_with('+'));
        assert_ne!(p.masked(), p.as_str());
    }
});
