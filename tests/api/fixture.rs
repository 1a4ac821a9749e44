//! Writes the data directory in `tests/fixtures/v1-data`: a database written by this build,
//! which `tests/upgrade.rs` opens with later builds to prove that they migrate it.
//!
//! Run it (ignored by default; it writes into the source tree) with
//! `LEADLINE_WRITE_FIXTURE=tests/fixtures/v1-data cargo test --test api fixture::write_v1_fixture -- --ignored`
//! from the workspace root. The directory must not exist yet. A later format version
//! writes its own fixture the same way, into a new directory, and keeps the old ones.

use super::fake_twilio::Reply;
use super::helpers::*;
use chrono::{TimeZone, Utc};
use serde_json::json;

#[tokio::test]
#[ignore = "writes a fixture into the source tree; see the module comment"]
async fn write_v1_fixture() {
    let out = std::path::PathBuf::from(std::env::var("LEADLINE_WRITE_FIXTURE").expect("LEADLINE_WRITE_FIXTURE"));
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(out);
    assert!(!out.exists(), "{} exists: a written fixture is never overwritten", out.display());
    // Port 9 (discard) refuses the connection: the hand-off notification stays stored.
    let app = TestApp::spawn_with(|s| {
        s.handoff.webhook_url = "http://127.0.0.1:9/hook".into();
        s.storage.cache_capacity_mb = 8;
    })
    .await;

    // Ana: consent, first text sent, a reply that hands off to the agent (a notification).
    let ana = "+12125550201";
    assert_eq!(app.post_lead(&lead_with_consent(ana, "FX-1")).await.status(), 202);
    app.twilio.wait_for(ana, 1).await;
    app.wait_timeline(ana, "text_sent").await;
    assert_eq!(app.inbound(ana, "Is the basement finished?", "SM-fx1").await.status(), 200);

    // Ben: consent, first text, STOP, the opt-out confirmation.
    let ben = "+12125550202";
    assert_eq!(app.post_lead(&lead_with_consent(ben, "FX-2")).await.status(), 202);
    app.twilio.wait_for(ben, 1).await;
    app.wait_timeline(ben, "text_sent").await;
    assert_eq!(app.inbound(ben, "STOP", "SM-fx2").await.status(), 200);
    app.twilio.wait_for(ben, 2).await;
    assert_eq!(app.lead(ben).await["status"], "OPT_OUT");

    // Dan: the provider refuses the text for good: a dead letter.
    let dan = "+12125550204";
    app.twilio.script([Reply::Error(
        400,
        21606,
        "The From phone number is not a valid, SMS-capable inbound phone number",
    )]);
    assert_eq!(app.post_lead(&lead_with_consent(dan, "FX-4")).await.status(), 202);
    for _ in 0..250 {
        let v: serde_json::Value = app.admin_get("/v1/admin/dead-letters").await.json().await.unwrap();
        if !v["dead_letters"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Eve: on the suppression list.
    let res = app
        .client
        .put(format!("{}/v1/admin/suppressions/%2B12125550205", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    // Fay: no consent, posted with an Idempotency-Key (a stored response).
    let res = app
        .client
        .post(format!("{}/v1/events/leads", app.base))
        .header("Idempotency-Key", "fixture-fay-1")
        .json(&json!({"source": "web", "phone": "+12125550206", "first_name": "Fay"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);

    // Cal: captured at 22:30 in New York: the first text waits for 08:00 (a timer).
    let cal = "+12125550203";
    app.clock.set(Utc.with_ymd_and_hms(2026, 11, 27, 3, 30, 0).unwrap());
    assert_eq!(app.post_lead(&lead_with_consent(cal, "FX-3")).await.status(), 202);
    let timeline = app.wait_timeline(cal, "text_deferred").await;
    assert!(timeline.iter().any(|e| e["kind"] == "text_deferred"), "{timeline:?}");

    let data = app.settings.storage.path.clone();
    let dir = app.dir.clone();
    app.stop().await;
    copy_dir(&data, &out);
    drop(dir);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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
