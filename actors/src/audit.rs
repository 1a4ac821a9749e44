//! The tamper-evident timeline: each entry carries the hash of the one before it, so
//! editing, deleting or reordering any entry breaks every hash after it.

use crate::model::{Note, TimelineEntry};
use crate::ts::Ts;
use sha2::{Digest, Sha256};

fn entry_hash(prev_hash: &str, seq: u64, at: Ts, note_bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(seq.to_be_bytes());
    h.update(at.millis().to_be_bytes());
    h.update(note_bytes);
    hex::encode(h.finalize())
}

fn note_bytes(kind: &crate::model::EntryKind, rule: &Option<String>, detail: &str, id: &Option<String>) -> Vec<u8> {
    // JSON of the content: stable, and independent of the storage codec's version.
    serde_json::to_vec(&(kind, rule, detail, id)).unwrap_or_default()
}

/// Turns a decision's notes into the next entries of the chain that ends at `head`.
pub fn chain(mut len: u64, mut head: String, at: Ts, notes: Vec<Note>) -> Vec<TimelineEntry> {
    notes
        .into_iter()
        .map(|n| {
            len += 1;
            let bytes = note_bytes(&n.kind, &n.rule, &n.detail, &n.message_id);
            let hash = entry_hash(&head, len, at, &bytes);
            TimelineEntry {
                seq: len,
                at,
                kind: n.kind,
                rule: n.rule,
                detail: n.detail,
                message_id: n.message_id,
                prev_hash: std::mem::replace(&mut head, hash.clone()),
                hash,
            }
        })
        .collect()
}

/// Where a chain stops being consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: u64,
    pub reason: String,
}

/// Checks one lead's entries, in order, from the first.
pub fn verify(entries: &[TimelineEntry]) -> Result<(), ChainBreak> {
    let mut prev = String::new();
    for (i, e) in entries.iter().enumerate() {
        let want_seq = i as u64 + 1;
        if e.seq != want_seq {
            return Err(ChainBreak { seq: e.seq, reason: format!("expected seq {want_seq}") });
        }
        if e.prev_hash != prev {
            return Err(ChainBreak { seq: e.seq, reason: "previous-hash link does not match".into() });
        }
        let bytes = note_bytes(&e.kind, &e.rule, &e.detail, &e.message_id);
        if entry_hash(&e.prev_hash, e.seq, e.at, &bytes) != e.hash {
            return Err(ChainBreak { seq: e.seq, reason: "content does not match its hash".into() });
        }
        prev = e.hash.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EntryKind;

    fn note(detail: &str) -> Note {
        Note { kind: EntryKind::Event, rule: None, detail: detail.into(), message_id: None }
    }

    #[test]
    fn a_chain_verifies_and_any_edit_breaks_it() {
        let at = Ts::from_millis(1_700_000_000_000).unwrap();
        let mut entries = chain(0, String::new(), at, vec![note("a"), note("b")]);
        let head = entries[1].hash.clone();
        entries.extend(chain(2, head, at, vec![note("c")]));
        assert_eq!(verify(&entries), Ok(()));

        let mut edited = entries.clone();
        edited[1].detail = "B".into();
        assert_eq!(verify(&edited).unwrap_err().seq, 2);

        let mut dropped = entries.clone();
        dropped.remove(1);
        assert!(verify(&dropped).is_err());
    }
}
