//! One sled tree (`kv`) holds every record; each kind of record is a *part* of it, told
//! apart by a one-byte key prefix. Why one tree: sled's `apply_batch` is atomic within one
//! tree and does not read before it writes, so everything an event writes (snapshot,
//! timeline entries, outbox records, dedupe key, timer, ...) is one batch, and the commit
//! queue (`group_commit.rs`) can merge many leads' batches into one write. Across several
//! trees the only atomic write is a sled transaction, which reads every key it writes and
//! cost ~28% of the service's CPU.
//!
//! `Part` is the one list of prefixes; `Space` reads one part as if it were its own tree
//! (keys without the prefix), and `Writes` collects one caller's inserts and removals.

use sled::IVec;
use std::ops::Bound;

/// The tree every record lives in (schema 2 and later).
pub(crate) const KV_TREE: &str = "kv";

/// The parts of the keyspace. The byte is the key prefix (stored: never renumber one);
/// the name is the sled tree the part was in before schema 2, for the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Leads,
    Timeline,
    Outbox,
    OutboxOpen,
    ProviderIds,
    Dedupe,
    DeadLetters,
    Timers,
    Suppression,
    Interests,
    Idempotency,
    Meta,
    Notifications,
    EventWebhooks,
    FubWrites,
    /// Named operators of the admin API and page (`operators::Operator`), by name.
    Operators,
    /// Page sessions (`operators::Session`), by the SHA-256 of the cookie value.
    Sessions,
    /// Leads by creation (`created_at` millis, big-endian, then the phone; empty values): the
    /// admin page's newest-first order without a scan of every lead.
    LeadsByCreated,
}

impl Part {
    pub(crate) const ALL: [Part; 18] = [
        Part::Leads,
        Part::Timeline,
        Part::Outbox,
        Part::OutboxOpen,
        Part::ProviderIds,
        Part::Dedupe,
        Part::DeadLetters,
        Part::Timers,
        Part::Suppression,
        Part::Interests,
        Part::Idempotency,
        Part::Meta,
        Part::Notifications,
        Part::EventWebhooks,
        Part::FubWrites,
        Part::Operators,
        Part::Sessions,
        Part::LeadsByCreated,
    ];

    pub(crate) fn prefix(self) -> u8 {
        match self {
            Part::Leads => b'L',
            Part::Timeline => b'T',
            Part::Outbox => b'O',
            Part::OutboxOpen => b'o',
            Part::ProviderIds => b'P',
            Part::Dedupe => b'D',
            Part::DeadLetters => b'X',
            Part::Timers => b'W',
            Part::Suppression => b'S',
            Part::Interests => b'I',
            Part::Idempotency => b'K',
            Part::Meta => b'M',
            Part::Notifications => b'N',
            Part::EventWebhooks => b'E',
            Part::FubWrites => b'F',
            Part::Operators => b'A',
            Part::Sessions => b'a',
            Part::LeadsByCreated => b'C',
        }
    }

    /// The sled tree this part was before schema 2.
    pub(crate) fn legacy_tree(self) -> &'static str {
        match self {
            Part::Leads => "leads",
            Part::Timeline => "timeline",
            Part::Outbox => "outbox",
            Part::OutboxOpen => "outbox_open",
            Part::ProviderIds => "provider_ids",
            Part::Dedupe => "dedupe",
            Part::DeadLetters => "dead_letters",
            Part::Timers => "timers",
            Part::Suppression => "suppression",
            Part::Interests => "interests",
            Part::Idempotency => "idempotency",
            Part::Meta => "meta",
            Part::Notifications => "notifications",
            // Added in schema 2: never a tree of its own.
            Part::EventWebhooks => "event_webhooks",
            Part::FubWrites => "fub_writes",
            // Added with schema 2 (never a tree of their own).
            Part::Operators => "operators",
            Part::Sessions => "sessions",
            // Added after schema 2 (never a tree of its own).
            Part::LeadsByCreated => "leads_by_created",
        }
    }
}

/// One part of the keyspace, read like a tree of its own. Direct writes (`insert`,
/// `remove`) are for housekeeping outside the commit queue (index repairs, purges, small
/// integration values): they are durable with the next flush, not before.
#[derive(Clone)]
pub(crate) struct Space {
    tree: sled::Tree,
    prefix: u8,
}

type Entry = sled::Result<(IVec, IVec)>;

impl Space {
    pub(crate) fn new(tree: sled::Tree, part: Part) -> Space {
        Space { tree, prefix: part.prefix() }
    }

    /// The key as stored: the part's prefix, then `key`.
    pub(crate) fn key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(key.len() + 1);
        k.push(self.prefix);
        k.extend_from_slice(key);
        k
    }

    pub(crate) fn get<K: AsRef<[u8]>>(&self, key: K) -> sled::Result<Option<IVec>> {
        self.tree.get(self.key(key.as_ref()))
    }

    pub(crate) fn contains_key<K: AsRef<[u8]>>(&self, key: K) -> sled::Result<bool> {
        self.tree.contains_key(self.key(key.as_ref()))
    }

    pub(crate) fn insert<K: AsRef<[u8]>, V: Into<IVec>>(&self, key: K, value: V) -> sled::Result<Option<IVec>> {
        self.tree.insert(self.key(key.as_ref()), value)
    }

    pub(crate) fn remove<K: AsRef<[u8]>>(&self, key: K) -> sled::Result<Option<IVec>> {
        self.tree.remove(self.key(key.as_ref()))
    }

    fn strip(&self) -> impl Fn(Entry) -> Entry {
        |kv| kv.map(|(k, v)| (k.subslice(1, k.len().saturating_sub(1)), v))
    }

    /// Every entry of the whole keyspace (every part), keys as stored, in key order.
    pub(crate) fn whole_tree(&self) -> impl DoubleEndedIterator<Item = Entry> {
        self.tree.iter()
    }

    /// Every entry of the part, in key order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = Entry> {
        self.tree.scan_prefix([self.prefix]).map(self.strip())
    }

    /// Every key of the part, in key order.
    pub(crate) fn keys(&self) -> impl DoubleEndedIterator<Item = sled::Result<IVec>> {
        self.iter().map(|kv| kv.map(|(k, _)| k))
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub(crate) fn scan_prefix(&self, prefix: &[u8]) -> impl DoubleEndedIterator<Item = Entry> {
        self.tree.scan_prefix(self.key(prefix)).map(self.strip())
    }

    /// Entries between two keys of the part, in key order.
    pub(crate) fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> impl DoubleEndedIterator<Item = Entry> {
        let start = match start {
            Bound::Included(k) => Bound::Included(self.key(k)),
            Bound::Excluded(k) => Bound::Excluded(self.key(k)),
            Bound::Unbounded => Bound::Included(vec![self.prefix]),
        };
        let end = match end {
            Bound::Included(k) => Bound::Included(self.key(k)),
            Bound::Excluded(k) => Bound::Excluded(self.key(k)),
            // Every prefix is below 0xff, so the next prefix byte bounds the part.
            Bound::Unbounded => Bound::Excluded(vec![self.prefix + 1]),
        };
        self.tree.range::<Vec<u8>, _>((start, end)).map(self.strip())
    }

    /// The first key of the part (a cheap read for health checks).
    pub(crate) fn first(&self) -> sled::Result<Option<(IVec, IVec)>> {
        self.iter().next().transpose()
    }

    /// How many entries the part holds: O(entries), as `sled::Tree::len` is.
    pub(crate) fn len(&self) -> usize {
        self.tree.scan_prefix([self.prefix]).keys().count()
    }
}

/// One caller's writes, applied atomically (with other callers' writes) by the commit queue.
/// Later writes to a key win over earlier ones.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    pub(crate) ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Writes {
    pub(crate) fn put(&mut self, space: &Space, key: impl AsRef<[u8]>, value: Vec<u8>) {
        self.ops.push((space.key(key.as_ref()), Some(value)));
    }

    pub(crate) fn del(&mut self, space: &Space, key: impl AsRef<[u8]>) {
        self.ops.push((space.key(key.as_ref()), None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_distinct_and_parts_do_not_see_each_other() {
        let mut seen: Vec<u8> = Part::ALL.iter().map(|p| p.prefix()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), Part::ALL.len());
        assert!(seen.iter().all(|&b| b < 0xff));

        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree(KV_TREE).unwrap();
        let leads = Space::new(tree.clone(), Part::Leads);
        let timers = Space::new(tree.clone(), Part::Timers);
        leads.insert("+1", &b"a"[..]).unwrap();
        leads.insert("+2", &b"b"[..]).unwrap();
        timers.insert("+1", &b"t"[..]).unwrap();
        assert_eq!(leads.len(), 2);
        assert_eq!(timers.len(), 1);
        let keys: Vec<Vec<u8>> = leads.iter().map(|kv| kv.unwrap().0.to_vec()).collect();
        assert_eq!(keys, vec![b"+1".to_vec(), b"+2".to_vec()]);
        let after: Vec<Vec<u8>> =
            leads.range(Bound::Excluded(&b"+1"[..]), Bound::Unbounded).map(|kv| kv.unwrap().0.to_vec()).collect();
        assert_eq!(after, vec![b"+2".to_vec()]);
        assert_eq!(timers.get("+1").unwrap().unwrap().as_ref(), b"t");
        assert!(timers.get("+2").unwrap().is_none());
    }
}
