//! Inbound-text classification (STOP and synonyms, natural-language revocation, START, HELP):
//! any text a lead can send. The first byte chooses opted-out or not.
#![no_main]
use leadline_core::classify::{classify, ClassifierConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn config() -> &'static ClassifierConfig {
    static CFG: OnceLock<ClassifierConfig> = OnceLock::new();
    CFG.get_or_init(|| ClassifierConfig {
        extra_opt_out_phrases: vec!["take me off".into(), "no more texts please".into()],
        extra_non_revocations: vec!["don't stop".into()],
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flag, text)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(text);
    let opted_out = flag & 1 == 1;
    let a = classify(&text, opted_out, &ClassifierConfig::default());
    let b = classify(&text, opted_out, config());
    // Pure: the same input gives the same answer.
    assert_eq!(format!("{a:?}"), format!("{:?}", classify(&text, opted_out, &ClassifierConfig::default())));
    let _ = b;
});
