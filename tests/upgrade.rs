//! A database written by an older build opens with this one, is migrated in place, and
//! `leadline audit verify` passes across the migration.
//!
//! `tests/fixtures/v1-data` is a sled data directory written by the build at commit 69636a8
//! (main before per-type record versions: every record is version 1, no schema marker) with
//!
//! ```sh
//! LEADLINE_WRITE_FIXTURE=tests/fixtures/v1-data \
//!   cargo test --test api fixture::write_v1_fixture -- --ignored
//! ```
//!
//! (tests/api/fixture.rs: the real service, the fake Twilio, a manual clock). A later build
//! that changes a stored format writes `tests/fixtures/v<N>-data` the same way and adds a
//! test like this one for it; the older fixtures stay.

use leadline_core::model::{LeadStatus, TimelineEntry};
use leadline_core::storage::{Store, StoreOptions, SCHEMA_VERSION};
use leadline_core::Phone;
use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A writable copy of a fixture (opening a database writes to it).
fn fixture_copy(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name), &data);
    (tmp, data)
}

fn phone(s: &str) -> Phone {
    Phone::parse(s).unwrap()
}

fn timeline(store: &Store, p: &Phone) -> Vec<TimelineEntry> {
    store.timeline(p, 0, 10_000).unwrap()
}

#[test]
fn a_v1_database_opens_is_marked_and_its_audit_chains_verify() {
    let (_tmp, data) = fixture_copy("v1-data");

    // The real binary first: its open is the upgrade.
    let out = Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["audit", "verify"])
        .current_dir(data.parent().unwrap())
        .env("LEADLINE__STORAGE__PATH", &data)
        .env_remove("LEADLINE_ADMIN_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("checked 5 lead(s), 30 entries") && stdout.contains("every chain is intact"), "{stdout}");

    let store = Store::open_with(&data, StoreOptions::default()).unwrap();
    assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION), "the open wrote the marker");
    let report = leadline::cli::verify_store(&store).unwrap();
    assert_eq!((report.leads, report.entries), (5, 30));
    assert!(report.breaks.is_empty(), "{:?}", report.breaks);

    // Ana: consented, texted, replied (a hand-off notification waits for its webhook).
    let ana = phone("+12125550201");
    let lead = store.lead(&ana).unwrap().unwrap();
    assert_eq!(lead.status, LeadStatus::Engaged);
    assert!(lead.current_consent().is_some());
    assert_eq!(timeline(&store, &ana).len() as u64, lead.timeline_len);
    assert_eq!(lead.timeline_len, 9);
    assert!(store.undelivered_notifications(10).unwrap().iter().any(|n| n.phone == ana));

    // Ben: STOP: opted out, consent revoked.
    let ben = phone("+12125550202");
    let lead = store.lead(&ben).unwrap().unwrap();
    assert_eq!(lead.status, LeadStatus::OptOut);
    assert!(lead.current_consent().is_none());
    assert_eq!(lead.timeline_len, 11);

    // Cal: captured at night: the first text waits, with a timer.
    let cal = phone("+12125550203");
    let lead = store.lead(&cal).unwrap().unwrap();
    assert_eq!(lead.status, LeadStatus::New);
    assert_eq!(lead.pending.len(), 1);
    assert_eq!(lead.timeline_len, 3);
    assert!(store.timer_count() >= 1);

    // Dan: the provider refused the text: a dead letter.
    let dead = store.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].text.to, phone("+12125550204"));
    assert_eq!(dead[0].reason, "provider.21606");

    let lead = store.lead(&phone("+12125550204")).unwrap().unwrap();
    assert_eq!((lead.status, lead.timeline_len), (LeadStatus::ContactedSms, 5));

    // Eve: on the suppression list (no lead). Fay: no consent, a stored Idempotency-Key response.
    assert!(store.suppression(&phone("+12125550205")).unwrap().is_some());
    let stored = store.idempotent_response("http:fixture-fay-1").unwrap().unwrap();
    assert_eq!(stored.status, 202);
    let lead = store.lead(&phone("+12125550206")).unwrap().unwrap();
    assert!(lead.current_consent().is_none());
    assert_eq!((lead.status, lead.timeline_len), (LeadStatus::New, 2));
}
