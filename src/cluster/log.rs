//! The replicated event log's entries and subjects.
//!
//! One JetStream stream (`LEADLINE_EVENTS`) holds every entry. A lead's entries go to its
//! own subject, `leadline.ev.<partition>.<digits>`: the partition is a stable hash of the
//! E.164 number (FNV-1a), and the per-lead subject lets a write be conditional on the
//! lead's last entry (`Nats-Expected-Last-Subject-Sequence`), which is how the gateway
//! fences its provider calls. Entries are encoded with the codec (bincode behind a
//! format-version byte), like every stored record.

use leadline_core::codec::Record;
use leadline_core::model::{Event, OutboundText};
use leadline_core::storage::{DeadLetter, OutboxStatus, RawOp};
use leadline_core::{Phone, Ts};
use serde::{Deserialize, Serialize};

/// The stream's name and the subjects it holds.
pub const STREAM: &str = "LEADLINE_EVENTS";
pub const SUBJECTS: &str = "leadline.ev.>";
/// The subject of entries about no one lead.
pub const SHARED_SUBJECT: &str = "leadline.ev.shared";

/// The partition of a number: FNV-1a 64 of its E.164 form, modulo `partitions`. Stable
/// across versions and machines (never change it: the count is fixed per deployment).
pub fn partition(phone: &Phone, partitions: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in phone.as_str().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(partitions.max(1))) as u32
}

/// The lead's subject (NATS subjects cannot hold `+`; E.164 digits are unique anyway).
pub fn subject(phone: &Phone, partitions: u32) -> String {
    let digits = phone.as_str().trim_start_matches('+');
    format!("leadline.ev.{}.{digits}", partition(phone, partitions))
}

/// One entry of the log, with the time every node applies it at and its id (the
/// JetStream message id, which de-duplicates a second publication of the same fact).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    pub at: Ts,
    /// The lead it is about; `None` for shared records (subject [`SHARED_SUBJECT`]).
    pub phone: Option<Phone>,
    pub entry: Entry,
}

impl Record for Envelope {
    const KIND: &'static str = "cluster_entry";
    const VERSION: u8 = 1;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Entry {
    /// An event for the lead's actor (`dedupe_key` as in single-node mode).
    Lead { event: Event, dedupe_key: Option<String> },
    /// The gateway's record of a text: its outbox status and, when it gave up, its dead letter.
    Outbox { text: OutboundText, status: OutboxStatus, dead_letter: Option<Box<DeadLetter>> },
    /// Raw writes of records every node shares that no lead's commit writes (suppression
    /// lists, operators, delivery queues, an import): see `Store::commit_shared`.
    Records { ops: Vec<RawOp> },
    /// An operator asked to send a dead letter again (through the gate, like any text).
    RetryDeadLetter { id: String },
    /// An operator dropped a dead letter.
    DiscardDeadLetter { id: String },
    /// The hand-off webhook took this notification (only the gateway lease holder delivers).
    NotificationDelivered { id: String },
    /// Log compaction: the named node snapshots its replica as of this entry
    /// (`cluster::snapshot`); the other nodes do nothing.
    Snapshot { node: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_and_subjects_are_stable() {
        let phone = Phone::parse("+12125550142").unwrap();
        // Golden values (FNV-1a 64 of "+12125550142"): a change here moves every lead of a
        // running cluster to another subject.
        assert_eq!(partition(&phone, 64), 26);
        assert_eq!(partition(&phone, 8), 2);
        assert_eq!(subject(&phone, 8), "leadline.ev.2.12125550142");
        let spread: std::collections::HashSet<u32> =
            (0..200).map(|i| partition(&Phone::parse(&format!("+1212555{:04}", i)).unwrap(), 8)).collect();
        assert_eq!(spread.len(), 8, "200 numbers use every one of 8 partitions");
    }
}
