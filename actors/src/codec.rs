//! The one place that turns stored values into bytes and back, and the list of every type
//! that is stored (`records!` below).
//!
//! Every value starts with its type's **record version** byte, then bincode 2.0.1 (serde,
//! standard config: little-endian varints). Each stored type has its own version
//! (`Record::VERSION`): bincode is not self-describing, so adding, removing or reordering a
//! field of one type changes that type's format; such a change bumps that type's version in
//! `records!` and gives it a `migrate` function that reads the previous versions. `decode`
//! reads the current version directly and hands older ones to `migrate`; `encode` always
//! writes the current version. The store rewrites old records at open
//! (`storage::Store::open_with`, docs/upgrading.md).
//!
//! Version 1 of every type is the format all values had before versions were per type
//! (`FORMAT_VERSION`); the golden-bytes tests (actors/tests/codec_golden.rs) pin it. Types
//! stored through this codec must not use the serde attributes bincode cannot honour
//! (`flatten`, `tag`, `untagged`, `skip_serializing_if`).

use serde::{de::DeserializeOwned, Serialize};

/// The version every stored type had when versions became per type: today's databases hold
/// only version-1 records.
pub const FORMAT_VERSION: u8 = 1;

/// Decoding refuses to allocate more than this, so a corrupt length prefix cannot OOM us.
const DECODE_LIMIT: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty value")]
    Empty,
    #[error("unknown record version {0} (newer than this build, or not a record)")]
    UnknownVersion(u8),
    #[error("encode failed: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("decode failed: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("{0} trailing bytes after value")]
    Trailing(usize),
}

/// A stored type. Implemented in `records!` below (and, for the service crate's own types,
/// next to the type: see the list there).
pub trait Record: Serialize + DeserializeOwned {
    /// Names the type in logs and docs.
    const KIND: &'static str;
    /// The version `encode` writes; 1 until the type's encoding first changes.
    const VERSION: u8;
    /// Reads a value written as an older `version` (1 ≤ `version` < `VERSION`), whose bincode
    /// body is `body` (use `decode_body` with the old shape, then convert). Types still at
    /// version 1 have no older versions.
    fn migrate(version: u8, body: &[u8]) -> Result<Self, CodecError> {
        let _ = body;
        Err(CodecError::UnknownVersion(version))
    }
}

/// Every type stored through this codec, with the record version this build writes.
/// Bumping a version: change the number here, add `migrate = path` (a function with the
/// signature of `Record::migrate`), pin the new bytes (actors/tests/codec_golden.rs).
///
/// Stored in the service crate, with their `Record` impl next to the type:
/// `integrations::reso::SeenListing` ("reso_seen_listing", 1) and
/// `integrations::followupboss::payload::PendingEvents` ("fub_pending_events", 1).
macro_rules! records {
    ($($ty:ty => $kind:literal, $version:literal $(, migrate = $migrate:path)?;)*) => {
        $(impl Record for $ty {
            const KIND: &'static str = $kind;
            const VERSION: u8 = $version;
            $(fn migrate(version: u8, body: &[u8]) -> Result<Self, CodecError> {
                $migrate(version, body)
            })?
        })*
    };
}

records! {
    // The store's trees (storage/mod.rs), rewritten at open when their version changes.
    crate::model::LeadState => "lead_state", 1;
    crate::model::TimelineEntry => "timeline_entry", 1;
    crate::storage::OutboxRecord => "outbox_record", 1;
    crate::storage::DeadLetter => "dead_letter", 1;
    crate::model::Suppression => "suppression", 1;
    crate::storage::StoredResponse => "stored_response", 1;
    crate::model::Notification => "notification", 1;
    crate::storage::WebhookDelivery => "webhook_delivery", 1;
    crate::operators::Operator => "operator", 1;
    crate::operators::Session => "session", 1;
    // `meta` values: the schema marker and daily send count (u32), the sticky sender
    // (String), the outbox-index flag (bool), the RESO watermark (Ts). A meta value whose
    // meaning changes gets a new type, so these stay at version 1.
    u32 => "u32", 1;
    // The last event sequence number of a lead (part `E`).
    u64 => "u64", 1;
    bool => "bool", 1;
    String => "string", 1;
    crate::ts::Ts => "ts", 1;
    // Not stored on its own (timeline entries keep a rendered detail); a record so the
    // codec's fuzz test (actors/tests/codec_golden.rs) decodes it.
    crate::model::Event => "event", 1;
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub fn encode<T: Record>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(128);
    out.push(T::VERSION);
    bincode::serde::encode_into_std_write(value, &mut out, config())?;
    Ok(out)
}

/// Decodes a value of any version this build knows: the current one directly, older ones
/// through `T::migrate`.
pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version == T::VERSION {
        decode_body(body)
    } else if (1..T::VERSION).contains(&version) {
        T::migrate(version, body)
    } else {
        Err(CodecError::UnknownVersion(version))
    }
}

/// Whether `bytes` hold an older version of `T` than this build writes (the store rewrites
/// such records at open).
pub fn is_outdated<T: Record>(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|&v| v < T::VERSION)
}

/// Decodes a bincode body (the bytes after the version byte) as `T`: what `migrate`
/// functions use to read an old shape.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    let cfg = config().with_limit::<DECODE_LIMIT>();
    let (value, used) = bincode::serde::decode_from_slice(body, cfg)?;
    if used != body.len() {
        return Err(CodecError::Trailing(body.len() - used));
    }
    Ok(value)
}

/// A stand-in type with two versions, to test the migration path without giving a
/// production type a version 2.
#[cfg(test)]
pub(crate) mod sample {
    use super::{decode_body, CodecError, Record};
    use serde::{Deserialize, Serialize};

    /// Version 1: what an older build wrote.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SampleV1 {
        pub name: String,
        pub count: u32,
    }

    /// Version 2 adds `note`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Sample {
        pub name: String,
        pub count: u32,
        pub note: Option<String>,
    }

    impl Record for SampleV1 {
        const KIND: &'static str = "sample";
        const VERSION: u8 = 1;
    }

    impl Record for Sample {
        const KIND: &'static str = "sample";
        const VERSION: u8 = 2;
        fn migrate(version: u8, body: &[u8]) -> Result<Self, CodecError> {
            match version {
                1 => {
                    let old: SampleV1 = decode_body(body)?;
                    Ok(Sample { name: old.name, count: old.count, note: None })
                }
                v => Err(CodecError::UnknownVersion(v)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample::{Sample, SampleV1};
    use super::*;

    #[test]
    fn an_older_version_decodes_through_its_migration() {
        let old = SampleV1 { name: "ana".into(), count: 300 };
        let bytes = encode(&old).unwrap();
        assert_eq!(bytes[0], 1);
        assert!(is_outdated::<Sample>(&bytes));
        let migrated: Sample = decode(&bytes).unwrap();
        assert_eq!(migrated, Sample { name: "ana".into(), count: 300, note: None });
        // Written back, it is the current version and decodes directly.
        let again = encode(&migrated).unwrap();
        assert_eq!(again[0], 2);
        assert!(!is_outdated::<Sample>(&again));
        assert_eq!(decode::<Sample>(&again).unwrap(), migrated);
    }

    #[test]
    fn versions_this_build_does_not_know_are_errors() {
        let current = encode(&Sample { name: "ben".into(), count: 1, note: Some("x".into()) }).unwrap();
        for version in [0u8, 3, 0xff] {
            let mut bytes = current.clone();
            bytes[0] = version;
            assert!(matches!(decode::<Sample>(&bytes), Err(CodecError::UnknownVersion(v)) if v == version));
        }
        // A version-1 type refuses version 2 bytes: nothing silently downgrades.
        assert!(matches!(decode::<SampleV1>(&current), Err(CodecError::UnknownVersion(2))));
    }
}
