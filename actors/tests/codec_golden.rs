//! Golden-bytes tests for the snapshot codec (`codec::encode` / `codec::decode`).
//!
//! Why: snapshots are bincode, which is not self-describing. Adding, removing, reordering or
//! retyping a field of `LeadState` (or of anything inside it), or adding/reordering an enum
//! variant, silently changes the bytes, and snapshots written by the previous build would then
//! decode as garbage or not at all. These tests pin the exact bytes of a fully populated
//! `LeadState` and `TimelineEntry`, so such a change fails here first.
//!
//! If a test here fails after you changed a model type ON PURPOSE:
//!
//! 1. bump that type's record version in `records!` (`actors/src/codec.rs`);
//! 2. give it a `migrate` function that reads the previous version (old records exist on
//!    every deployed node; the store rewrites them at open, docs/upgrading.md);
//! 3. update `golden_lead()` / `golden_entry()` below so every new field is populated
//!    (Some / non-empty), then write the golden files for the new version with
//!    `LEADLINE_BLESS_GOLDEN=1 cargo test -p leadline-core --test codec_golden`.
//!    This writes `actors/tests/golden/<type>.v<the type's record version>.hex`. It refuses to overwrite
//!    an existing file with different bytes: a released version's bytes never change. Keep
//!    the old version's files; they are the input of the migration test you add in step 2;
//! 4. review the new .hex files and commit them.
//!
//! A version that has never been released (no snapshot in that format exists anywhere) may
//! instead be re-pinned by deleting its .hex files and blessing again.
//!
//! If a test here fails and you did NOT mean to change the format, undo your model change (or
//! make it format-compatible); do not re-bless.

use leadline_core::codec::{self, CodecError, Record};
use leadline_core::model::*;
use leadline_core::{Phone, Ts};
use proptest::prelude::*;
use std::path::PathBuf;

/// 2026-05-28T20:26:40Z.
const T0: i64 = 1_780_000_000_000;

fn ts(offset_ms: i64) -> Ts {
    Ts::from_millis(T0 + offset_ms).expect("in range")
}

fn phone() -> Phone {
    Phone::parse("+12125550142").expect("valid")
}

/// A `LeadState` with every field populated: every `Option` is `Some`, every `Vec` non-empty,
/// every enum with data uses each of its variants somewhere, and numbers cross varint widths.
/// The struct literals are exhaustive on purpose: adding a field breaks this file's build.
fn golden_lead() -> LeadState {
    let grant = ConsentRecord {
        granted_at: Some(ts(-86_400_000)),
        source_url: Some("https://acme.example/homes/123-main-st?utm=zillow".into()),
        disclosure: Some("I agree to receive automated texts from Acme Realty. Reply STOP to opt out.".into()),
        disclosure_sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)".into()),
        seller: Some("Acme Realty".into()),
        captured_from: Some("zillow".into()),
        recorded_at: ts(-86_000_000),
    };
    let pending_text = OutboundText {
        id: "+12125550142#299".into(),
        to: phone(),
        kind: TextKind::ListingAlert,
        body: "Acme Realty: price drop on 123 Main St: now $425,000 (was $450,000). Reply STOP to opt out.".into(),
        rule: "listing.price_drop".into(),
        created_at: ts(1_000),
    };
    LeadState {
        phone: phone(),
        status: LeadStatus::ContactedSms,
        frozen: Some(Freeze { reason: Some("agent call in progress".into()), at: ts(2_000) }),
        suppressed: Some(Suppression {
            list: "internal_dnc".into(),
            reason: Some("asked by phone".into()),
            added_at: ts(3_000),
        }),
        profile: Profile {
            source: Some("zillow".into()),
            source_lead_id: Some("z-98765".into()),
            first_name: Some("Ana María".into()),
            last_name: Some("Peña".into()),
            email: Some("ana@example.com".into()),
            address_state: Some("FL".into()),
        },
        consent_history: vec![
            ConsentChange::Granted(grant),
            ConsentChange::Revoked { at: ts(4_000), rule: "opt_out.keyword".into(), evidence: "STOP".into() },
            ConsentChange::Reinstated { at: ts(5_000), rule: "opt_in.keyword".into(), evidence: "START".into() },
        ],
        last_property: Some("123 Main St".into()),
        last_listing_id: Some("MLS-1".into()),
        last_contacted_at: Some(ts(6_000)),
        last_inbound_at: Some(ts(7_000)),
        crm_status: Some("nurture".into()),
        agent: Some("Sam Agent".into()),
        interests: vec!["MLS-1".into(), "MLS-2".into()],
        recent_sends: vec![ts(-3_600_000), ts(6_000)],
        pending: vec![PendingText {
            text: pending_text,
            not_before: ts(43_200_000),
            rule: "quiet_hours.state.FL".into(),
        }],
        deliveries: vec![
            Delivery { message_id: "+12125550142#297".into(), status: "delivered".into() },
            Delivery { message_id: "+12125550142#298".into(), status: "undelivered".into() },
        ],
        unreachable_in_row: 251,
        follow_up: Some(FollowUpDue { step: 1, due: ts(86_400_000), started_at: ts(6_000) }),
        next_message_seq: 300,
        timeline_len: 70_000,
        timeline_head: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8".into(),
        created_at: ts(-90_000_000),
        updated_at: ts(8_000),
    }
}

/// A `TimelineEntry` with every field populated.
fn golden_entry() -> TimelineEntry {
    TimelineEntry {
        seq: 70_000,
        at: ts(8_000),
        kind: EntryKind::TextDeferred,
        rule: Some("quiet_hours.state.FL".into()),
        detail: "listing_alert deferred to 2026-05-29T12:00:00.000Z: 20:26 in America/New_York is outside 08:00–20:00"
            .into(),
        message_id: Some("+12125550142#299".into()),
        prev_hash: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
        hash: "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9".into(),
    }
}

// -------------------------------------------------------------------------------------------------
// Golden files
// -------------------------------------------------------------------------------------------------

/// `<name>.v<version>.hex`: the bytes of one record version of one type.
fn golden_path(name: &str, version: u8) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.v{version}.hex"))
}

/// Hex, 64 characters (32 bytes) a line, so a diff shows where the bytes changed.
fn to_hex_lines(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    let mut out = String::new();
    for chunk in hex.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("hex is ascii"));
        out.push('\n');
    }
    out
}

fn from_hex_lines(text: &str) -> Vec<u8> {
    let compact: String =
        text.lines().filter(|l| !l.trim_start().starts_with('#')).flat_map(|l| l.split_whitespace()).collect();
    hex::decode(compact).expect("golden file is hex")
}

/// Compares `bytes` with the committed golden file (or writes it when blessing).
fn assert_golden(name: &str, bytes: &[u8]) {
    // The first byte is the record version the bytes were written in.
    let version = bytes[0];
    let path = golden_path(name, version);
    let fresh = to_hex_lines(bytes);
    let existing = std::fs::read_to_string(&path).ok();
    if std::env::var_os("LEADLINE_BLESS_GOLDEN").is_some() {
        match existing {
            Some(old) if from_hex_lines(&old) != bytes => panic!(
                "{} exists with different bytes: record version {version} is already pinned. \
                 Bump the type's version in codec's records! (and add a migration) instead of rewriting it.",
                path.display()
            ),
            Some(_) => {}
            None => {
                std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create tests/golden");
                let header = format!(
                    "# {name}: codec::encode of the fixture in actors/tests/codec_golden.rs, record version \
                     {version}.\n# Never edit; see that file's header before changing a model type.\n"
                );
                std::fs::write(&path, header + &fresh).expect("write golden file");
                eprintln!("wrote {}", path.display());
            }
        }
        return;
    }
    let Some(old) = existing else {
        panic!(
            "no golden file {} for record version {version}.\n\
             If you bumped the type's version on purpose, create it with\n  \
             LEADLINE_BLESS_GOLDEN=1 cargo test -p leadline-core --test codec_golden\n\
             Current bytes:\n{fresh}",
            path.display()
        );
    };
    let want = from_hex_lines(&old);
    if want != bytes {
        let at = want.iter().zip(bytes).position(|(a, b)| a != b).unwrap_or(want.len().min(bytes.len()));
        panic!(
            "the snapshot encoding of {name} changed (first difference at byte {at}; golden {} bytes, now {} bytes).\n\
             A model field or variant was added, removed, reordered or retyped. Snapshots already on disk\n\
             were written in the old format: bump the type's version in codec's records!, add its migrate,\n\
             and bless new golden files (see the header of actors/tests/codec_golden.rs).\n\
             Golden ({}):\n{old}\nNow:\n{fresh}",
            want.len(),
            bytes.len(),
            path.display()
        );
    }
}

#[test]
fn lead_state_bytes_match_the_golden_file() {
    let bytes = codec::encode(&golden_lead()).expect("encodes");
    assert_golden("lead_state", &bytes);
}

#[test]
fn timeline_entry_bytes_match_the_golden_file() {
    let bytes = codec::encode(&golden_entry()).expect("encodes");
    assert_golden("timeline_entry", &bytes);
}

/// The golden bytes (not just a fresh encoding) decode to the fixture: what older builds wrote
/// is what this build reads.
#[test]
fn golden_bytes_decode_to_the_fixture() {
    let lead = std::fs::read_to_string(golden_path("lead_state", LeadState::VERSION)).map(|s| from_hex_lines(&s));
    let entry =
        std::fs::read_to_string(golden_path("timeline_entry", TimelineEntry::VERSION)).map(|s| from_hex_lines(&s));
    // Missing files are reported by the two tests above.
    if let Ok(lead) = lead {
        assert_eq!(codec::decode::<LeadState>(&lead).expect("golden lead decodes"), golden_lead());
    }
    if let Ok(entry) = entry {
        assert_eq!(codec::decode::<TimelineEntry>(&entry).expect("golden entry decodes"), golden_entry());
    }
}

#[test]
fn encode_then_decode_is_the_identity() {
    let lead = golden_lead();
    assert_eq!(codec::decode::<LeadState>(&codec::encode(&lead).unwrap()).unwrap(), lead);
    let entry = golden_entry();
    assert_eq!(codec::decode::<TimelineEntry>(&codec::encode(&entry).unwrap()).unwrap(), entry);
    // A fresh lead too (every Option None, every Vec empty).
    let fresh = LeadState::new(phone(), ts(0));
    assert_eq!(codec::decode::<LeadState>(&codec::encode(&fresh).unwrap()).unwrap(), fresh);
}

#[test]
fn the_first_byte_is_the_record_version() {
    assert_eq!(codec::encode(&golden_lead()).unwrap()[0], LeadState::VERSION);
    assert_eq!(codec::encode(&golden_entry()).unwrap()[0], TimelineEntry::VERSION);
    assert_eq!(codec::encode(&LeadState::new(phone(), ts(0))).unwrap()[0], LeadState::VERSION);
}

#[test]
fn an_unknown_version_byte_is_an_error() {
    let good = codec::encode(&golden_lead()).unwrap();
    for version in [0u8, LeadState::VERSION.wrapping_add(1), 0x7f, 0xff] {
        if version == LeadState::VERSION {
            continue;
        }
        let mut bytes = good.clone();
        bytes[0] = version;
        match codec::decode::<LeadState>(&bytes) {
            Err(CodecError::UnknownVersion(v)) => assert_eq!(v, version),
            other => panic!("version {version}: expected UnknownVersion, got {other:?}"),
        }
    }
}

#[test]
fn empty_truncated_and_padded_input_are_errors() {
    assert!(matches!(codec::decode::<LeadState>(&[]), Err(CodecError::Empty)));
    assert!(codec::decode::<LeadState>(&[LeadState::VERSION]).is_err());
    for good in [codec::encode(&golden_lead()).unwrap(), codec::encode(&golden_entry()).unwrap()] {
        for len in 0..good.len() {
            let cut = &good[..len];
            assert!(codec::decode::<LeadState>(cut).is_err(), "LeadState from {len} of {} bytes", good.len());
            assert!(codec::decode::<TimelineEntry>(cut).is_err(), "TimelineEntry from {len} of {} bytes", good.len());
        }
        let mut padded = good.clone();
        padded.push(0);
        let lead = codec::decode::<LeadState>(&padded);
        let entry = codec::decode::<TimelineEntry>(&padded);
        assert!(lead.is_err() && entry.is_err(), "a trailing byte is refused");
    }
    let mut padded = codec::encode(&golden_lead()).unwrap();
    padded.extend([1, 2, 3]);
    assert!(matches!(codec::decode::<LeadState>(&padded), Err(CodecError::Trailing(3))));
}

#[test]
fn a_huge_length_prefix_is_an_error_not_an_allocation() {
    // Version, then a phone string whose varint length says 2^64-1 bytes.
    let bytes = [LeadState::VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(codec::decode::<LeadState>(&bytes).is_err());
    let bytes = [TimelineEntry::VERSION, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    assert!(codec::decode::<TimelineEntry>(&bytes).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random bytes never panic (with or without a valid version byte).
    #[test]
    fn garbage_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..512), versioned in any::<bool>()) {
        if versioned && !bytes.is_empty() {
            bytes[0] = LeadState::VERSION;
        }
        let _ = codec::decode::<LeadState>(&bytes);
        let _ = codec::decode::<TimelineEntry>(&bytes);
        let _ = codec::decode::<Event>(&bytes);
    }

    /// Corrupting a few bytes of a real snapshot never panics; if it still decodes, the value
    /// is a well-formed `LeadState` that round-trips.
    #[test]
    fn corrupted_snapshots_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = codec::encode(&golden_lead()).unwrap();
        for (i, b) in &edits {
            let at = i.index(bytes.len());
            bytes[at] = *b;
        }
        if let Ok(lead) = codec::decode::<LeadState>(&bytes) {
            let again = codec::encode(&lead).unwrap();
            prop_assert_eq!(codec::decode::<LeadState>(&again).unwrap(), lead);
        }
    }
}

/// The outbound event webhooks' and the Follow Up Boss write-back's queued record (parts `E`, `F`).
fn golden_webhook_delivery() -> leadline_core::storage::WebhookDelivery {
    leadline_core::storage::WebhookDelivery {
        subscription: "3f1c2a9b0d4e".into(),
        event: leadline_core::lead_events::LeadEvent {
            id: "evt_12125550142_7".into(),
            event_type: "lead.opted_out".into(),
            phone: phone(),
            sequence: 7,
            at: ts(5_000),
            status: leadline_core::model::LeadStatus::OptOut,
            message_id: Some("+12125550142#3".into()),
            rule: Some("opt_out.keyword".into()),
            detail: "CONTACTED_SMS -> OPT_OUT: revoked consent (\"STOP\")".into(),
            agent: Some("Sam".into()),
            timeline_seq: 12,
        },
        attempts: 2,
        last_error: "in doubt: HTTP 503".into(),
        last_attempt_at: Some(ts(6_000)),
    }
}

#[test]
fn webhook_delivery_bytes_match_the_golden_file() {
    let d = golden_webhook_delivery();
    let bytes = codec::encode(&d).expect("encodes");
    assert_golden("webhook_delivery", &bytes);
    let path = golden_path("webhook_delivery", bytes[0]);
    let golden = from_hex_lines(&std::fs::read_to_string(path).expect("golden file"));
    assert_eq!(codec::decode::<leadline_core::storage::WebhookDelivery>(&golden).expect("decodes"), d);
}
