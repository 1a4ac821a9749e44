//! `leadline backup DIR` and `POST /v1/admin/backup` against the real binary: a backup taken
//! while events commit is a consistent database this build opens (every lead acknowledged
//! before it started, with its whole timeline; every chain verifies; the outbox agrees with
//! the timelines); the offline path while the service is stopped; a non-empty DIR is refused.
//! And `leadline compact`, which is a backup swapped into place, including its recovery.

mod support;

use leadline_core::storage::Store;
use leadline_core::Phone;
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::fake_twilio::FakeTwilio;
use support::server::{base_env, lead_body, phones, Server, ADMIN_TOKEN};

/// `leadline backup` with the suite's environment (nothing inherited).
fn backup_cmd(env: &[(String, String)], bind: Option<&str>, dir: &Path) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadline"));
    cmd.arg("backup").arg(dir).env_clear().envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some(bind) = bind {
        cmd.env("LEADLINE__SERVER__BIND", bind);
    }
    cmd.output().unwrap()
}

/// Opens a backup and checks it: the leads in `expected` are there, every chain verifies and
/// ends where the lead's snapshot says (`verify_store`), every text a timeline names has its
/// outbox record, and every open outbox record belongs to a stored lead whose timeline names
/// it. Returns the number of leads in the copy.
/// `POST /v1/admin/backup {"dir": dir}` to the running service.
async fn api_backup(server: &Server, dir: &Path) -> reqwest::Response {
    server
        .client
        .http
        .post(format!("{}/v1/admin/backup", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "dir": dir.display().to_string() }))
        .send()
        .await
        .unwrap()
}

fn check_backup(dir: &Path, expected: &[String]) -> usize {
    let store = Store::open(dir).unwrap_or_else(|e| panic!("the backup at {} does not open: {e}", dir.display()));
    assert_eq!(store.schema_version().unwrap(), Some(leadline_core::storage::SCHEMA_VERSION));
    for phone in expected {
        let p = Phone::parse(phone).unwrap();
        let lead =
            store.lead(&p).unwrap().unwrap_or_else(|| panic!("{phone} acknowledged before the backup is missing"));
        assert!(lead.timeline_len > 0, "{phone} has no timeline");
    }
    let report = leadline::cli::verify_store(&store).unwrap();
    let breaks: Vec<String> =
        report.breaks.iter().map(|b| format!("{} seq {}: {}", b.phone, b.seq, b.reason)).collect();
    assert!(breaks.is_empty(), "audit verify on the backup: {breaks:?}");
    let mut named = HashSet::new();
    for phone in store.lead_phones().unwrap() {
        for entry in store.timeline(&phone, 0, usize::MAX).unwrap() {
            if let Some(id) = entry.message_id {
                assert!(store.outbox(&id).unwrap().is_some(), "{phone}: timeline names {id}, the outbox lacks it");
                named.insert(id);
            }
        }
    }
    for rec in store.unfinished_outbox().unwrap() {
        assert!(store.lead_exists(&rec.text.to).unwrap(), "open outbox record {} without its lead", rec.text.id);
        assert!(named.contains(&rec.text.id), "open outbox record {} not on its lead's timeline", rec.text.id);
    }
    report.leads as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_while_events_commit_is_consistent_and_the_offline_path_and_refusal_work() {
    let fake = FakeTwilio::start().await;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let env = base_env(&data, &fake.base_url);
    let server = Server::start(root.path(), &env).await;
    let bind = server.base.trim_start_matches("http://").to_string();

    // Acknowledged before any backup starts.
    let before = phones(&["212", "312", "415", "646"], 200, 0);
    for (i, phone) in before.iter().enumerate() {
        let res = server
            .client
            .post_event("/v1/events/leads", &lead_body(phone, &format!("b{i}"), "L1", "Ana"))
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "{:?}", res.text().await);
    }

    // Events keep committing (new leads and their texts) while the backups are taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let client = support::server::Client::new(&server.base);
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut acked = 0usize;
            for (i, phone) in phones(&["718", "917", "305", "512"], 2000, 0).iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = lead_body(phone, &format!("d{i}"), "L2", "Bo");
                if client.post_event("/v1/events/leads", &body).await.is_ok_and(|r| r.status() == 202) {
                    acked += 1;
                }
            }
            acked
        })
    };
    // Let the writer get going, then back up through the CLI: the database is locked, so
    // the CLI asks the service (at server.bind) for the copy.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let via_cli = root.path().join("backup-cli");
    let (env2, bind2, dir2) = (env.clone(), bind.clone(), via_cli.clone());
    let out = tokio::task::spawn_blocking(move || backup_cmd(&env2, Some(&bind2), &dir2)).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(view["leads"].as_u64().unwrap() >= 200, "{view}");
    eprintln!("backup over the CLI while the service runs: {view}");

    // And straight through the admin API, still under load.
    let via_api = root.path().join("backup-api");
    let res = api_backup(&server, &via_api).await;
    assert_eq!(res.status(), 200);
    let api_view: serde_json::Value = res.json().await.unwrap();
    eprintln!("backup over the admin API while the service runs: {api_view}");

    // A non-empty directory is refused, by the API (422) and by the CLI (exit 2).
    let res = api_backup(&server, &via_api).await;
    assert_eq!(res.status(), 422);
    let (env3, bind3, dir3) = (env.clone(), bind.clone(), via_cli.clone());
    let out = tokio::task::spawn_blocking(move || backup_cmd(&env3, Some(&bind3), &dir3)).await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    stop.store(true, Ordering::Relaxed);
    let acked_during = writer.await.unwrap();
    assert!(acked_during > 0, "no event was acknowledged while the backups ran");
    assert!(server.terminate().await, "graceful stop");

    let in_cli = check_backup(&via_cli, &before);
    let in_api = check_backup(&via_api, &before);
    assert!(in_api >= in_cli, "the later backup has fewer leads ({in_api} < {in_cli})");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&via_cli).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    // The service is stopped: the CLI opens the database itself.
    let offline = root.path().join("backup-offline");
    let out = backup_cmd(&env, None, &offline);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("offline backup: {view}");
    let in_offline = check_backup(&offline, &before);
    assert!(
        in_offline >= 200 + acked_during,
        "the offline copy lacks acknowledged leads: {in_offline} < 200 + {acked_during}"
    );
    assert_eq!(view["leads"].as_u64(), Some(in_offline as u64));

    // `leadline compact` (offline) rewrites the database and nothing is lost. (Whether it
    // saves space depends on how much the log holds: docs/durability.md has the figures.)
    let out = leadline_cmd(&env, &["compact"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("compact: {view}");
    assert_eq!(view["leads"].as_u64(), Some(in_offline as u64));
    assert_eq!(check_backup(&data, &before), in_offline);

    // A compaction interrupted between its two renames: `serve` refuses to start on the
    // missing database, and the next `compact` puts the old one back and finishes.
    let aside = root.path().join("data.pre-compact");
    std::fs::rename(&data, &aside).unwrap();
    let out = leadline_cmd(&env, &["serve"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted `leadline compact`"), "{out:?}");
    assert!(!data.exists(), "serve created an empty database in place of the moved one");
    let out = leadline_cmd(&env, &["compact"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!aside.exists());
    assert_eq!(check_backup(&data, &before), in_offline);
}

/// `leadline ARGS` with the suite's environment (nothing inherited).
fn leadline_cmd(env: &[(String, String)], args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap()
}
