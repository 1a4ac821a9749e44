//! Snapshot decoding: what the store reads back (a corrupt or hostile value must be an
//! error, never a panic or a huge allocation). Decoded values re-encode to the same bytes.
#![no_main]
use leadline_core::codec::{decode, encode};
use leadline_core::model::{LeadState, TimelineEntry};
use leadline_core::storage::{DeadLetter, OutboxRecord, StoredResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = decode::<LeadState>(data) {
        let bytes = encode(&state).unwrap();
        assert_eq!(decode::<LeadState>(&bytes).unwrap(), state);
    }
    let _ = decode::<TimelineEntry>(data);
    let _ = decode::<OutboxRecord>(data);
    let _ = decode::<DeadLetter>(data);
    let _ = decode::<StoredResponse>(data);
});
