//! Compliance v2 over HTTP: revocations stick against CRM statuses and listing alerts, CRM
//! do-not-contact statuses suppress the number, consent must name this seller, declared
//! sources, blackouts, numbers we must not text, and `leadline compliance rescan`.

use super::helpers::*;
use leadline_core::consent::{SourceConsent, SourcePolicies, SourcePolicy};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Command, Output};

const ANA: &str = "+12125550142";

fn rules(timeline: &[Value], kind: &str) -> Vec<String> {
    timeline.iter().filter(|e| e["kind"] == kind).filter_map(|e| e["rule"].as_str().map(String::from)).collect()
}

async fn price_drop(app: &TestApp) {
    let body = json!({"listing_id": "MLS-123", "change": "price_drop", "address": "123 Main St",
                      "old_price": 450000, "new_price": 425000});
    let res = app.post_json("/v1/events/mls", &body).await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap_or_default());
}

async fn crm(app: &TestApp, status: &str) {
    let body = json!({"phone": ANA, "status": status, "source": "followupboss"});
    let res = app.post_json("/v1/events/crm", &body).await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap_or_default());
}

/// A contacted lead: captured with consent and its first text accepted by the fake Twilio.
async fn contacted(app: &TestApp) {
    assert!(app.post_lead(&lead_with_consent(ANA, "Z-1")).await.status().is_success());
    app.wait_timeline(ANA, "text_sent").await;
}

#[tokio::test]
async fn a_revocation_in_plain_words_sticks_through_crm_statuses_and_listing_alerts() {
    let app = TestApp::spawn().await;
    contacted(&app).await;
    assert_eq!(app.inbound(ANA, "Please stop texting me, I found a place.", "SM-1").await.status(), 200);
    let t = app.wait_timeline(ANA, "text_sent").await;
    assert_eq!(app.lead(ANA).await["status"], "OPT_OUT");
    assert!(rules(&t, "text_queued").contains(&"opt_out.confirmation".to_string()), "{t:#?}");
    // The first text and the confirmation have reached the provider.
    let sent_before = app.twilio.wait_for(ANA, 2).await.len();
    assert_eq!(sent_before, 2);

    crm(&app, "nurture").await;
    assert_eq!(app.admin_post(&format!("/v1/admin/leads/{}/unfreeze", urlencode(ANA)), None).await.status(), 200);
    price_drop(&app).await;
    let t = app.timeline(ANA).await;
    assert_eq!(app.lead(ANA).await["status"], "OPT_OUT");
    assert!(rules(&t, "text_blocked").contains(&"opt_out".to_string()), "{t:#?}");
    assert_eq!(app.twilio.received().len(), sent_before, "nothing after the confirmation");
    app.stop().await;
}

#[tokio::test]
async fn a_crm_do_not_contact_status_puts_the_number_on_the_suppression_list_until_an_operator_removes_it() {
    let app = TestApp::spawn().await;
    contacted(&app).await;
    crm(&app, "Do Not Contact").await;
    let res = app.admin_get(&format!("/v1/admin/suppressions/{}", urlencode(ANA))).await;
    assert_eq!(res.status(), 200);
    let entry: Value = res.json().await.unwrap();
    assert_eq!(entry["list"], "crm", "{entry}");
    assert!(entry["reason"].as_str().unwrap_or("").contains("followupboss"), "{entry}");
    assert!(rules(&app.timeline(ANA).await, "admin").contains(&"crm.suppressed".to_string()));

    crm(&app, "nurture").await;
    price_drop(&app).await;
    let t = app.timeline(ANA).await;
    assert_eq!(rules(&t, "text_blocked"), vec!["suppression.crm".to_string()], "{t:#?}");

    let del = app.client.delete(format!("{}/v1/admin/suppressions/{}", app.base, urlencode(ANA)));
    assert_eq!(del.bearer_auth(ADMIN_TOKEN).send().await.unwrap().status(), 200);
    let before = app.twilio.received().len();
    let body =
        json!({"listing_id": "MLS-123", "change": "back_on_market", "address": "123 Main St", "new_price": 440000});
    assert!(app.post_json("/v1/events/mls", &body).await.status().is_success());
    for _ in 0..100 {
        if app.twilio.received().len() > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.twilio.received().len(), before + 1, "texted again once the operator removed the entry");
    app.stop().await;
}

#[tokio::test]
async fn consent_naming_another_seller_or_nobody_blocks_the_first_text() {
    let app = TestApp::spawn().await;
    let cases = [
        ("+12125550151", json!({"seller": "Zillow Group"}), "consent.wrong_seller"),
        ("+12125550152", json!({"disclosure": "I agree to receive texts from partners."}), "consent.seller_unnamed"),
        ("+12125550153", json!({"disclosure": null}), "consent.incomplete"),
    ];
    for (phone, change, rule) in cases {
        let mut lead = lead_with_consent(phone, phone);
        for (k, v) in change.as_object().unwrap() {
            lead["consent"][k] = v.clone();
        }
        assert!(app.post_lead(&lead).await.status().is_success());
        let t = app.timeline(phone).await;
        assert_eq!(rules(&t, "text_blocked"), vec![rule.to_string()], "{phone}: {t:#?}");
    }
    assert!(app.twilio.received().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_declared_source_counts_as_consent_and_shows_in_the_consent_export() {
    let app = TestApp::spawn_with(|s| {
        let mut sources = BTreeMap::new();
        sources.insert(
            "realtor".to_string(),
            SourcePolicy {
                consent: SourceConsent::Declared,
                disclosure: "By submitting, you agree to receive automated texts from Acme Realty.".into(),
            },
        );
        s.compliance.sources = SourcePolicies::from(sources);
    })
    .await;
    let declared = json!({"source": "realtor", "phone": ANA, "first_name": "Ana"});
    assert!(app.post_lead(&declared).await.status().is_success());
    app.wait_timeline(ANA, "text_sent").await;
    let undeclared = json!({"source": "homes", "phone": "+12125550161"});
    assert!(app.post_lead(&undeclared).await.status().is_success());
    assert_eq!(rules(&app.timeline("+12125550161").await, "text_blocked"), vec!["consent.missing".to_string()]);

    let res = app.admin_get(&format!("/v1/admin/leads/{}/consent", urlencode(ANA))).await;
    let export: Value = res.json().await.unwrap();
    let row = &export["history"][0];
    assert_eq!(row["event"], "declared", "{export}");
    assert_eq!(row["rule"], "consent.declared");
    assert_eq!(row["captured_from"], "realtor");
    app.stop().await;
}

#[tokio::test]
async fn an_operator_blackout_defers_texts_in_the_named_states_only() {
    use leadline_core::quiet_hours::Blackout;
    let app = TestApp::spawn_with(|s| {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        s.compliance.blackouts = vec![Blackout::new(&["FL"], day, day)];
    })
    .await;
    let miami = "+13055550142";
    assert!(app.post_lead(&lead_with_consent(miami, "Z-M")).await.status().is_success());
    assert!(app.post_lead(&lead_with_consent(ANA, "Z-NY")).await.status().is_success());
    assert_eq!(rules(&app.timeline(miami).await, "text_deferred"), vec!["quiet_hours.blackout".to_string()]);
    app.wait_timeline(ANA, "text_sent").await;
    app.stop().await;
}

fn leadline(data: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadline"));
    cmd.args(args).current_dir(data.parent().unwrap()).env("LEADLINE__STORAGE__PATH", data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the leadline binary runs")
}

#[tokio::test]
async fn compliance_rescan_opts_out_leads_whose_earlier_reply_is_a_revocation_now() {
    let app = TestApp::spawn().await;
    contacted(&app).await;
    // Not a revocation for this build's classifier: an ordinary reply, handed to a person.
    assert_eq!(app.inbound(ANA, "bananas forever", "SM-1").await.status(), 200);
    assert_eq!(app.lead(ANA).await["status"], "ENGAGED");
    let data = app.settings.storage.path.clone();
    let dir = app.dir.clone();
    app.stop().await;

    // A later classifier (here: the same build with one more revocation phrase) reads it as one.
    let newer = [("LEADLINE__CLASSIFIER__EXTRA_OPT_OUT_PHRASES", r#"["bananas forever"]"#)];
    let dry = leadline(&data, &["compliance", "rescan", "--dry-run"], &newer);
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{out} {}", String::from_utf8_lossy(&dry.stderr));
    assert!(out.contains("would opt out +1212***0142"), "{out}");
    assert!(out.contains("1 lead(s) would be opted out"), "{out}");

    let run = leadline(&data, &["compliance", "rescan"], &newer);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success() && out.contains("1 lead(s) opted out"), "{out}");
    let again = leadline(&data, &["compliance", "rescan"], &newer);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 lead(s) opted out"), "a re-run changes nothing");

    let show = leadline(&data, &["lead", "show", ANA], &[]);
    let shown: Value = serde_json::from_slice(&show.stdout).expect("lead show prints JSON");
    assert_eq!(shown["lead"]["status"], "OPT_OUT", "{shown:#}");
    let t = shown["timeline"].as_array().unwrap();
    assert!(rules(t, "status_changed").contains(&"opt_out.rescan".to_string()), "{t:#?}");
    let verify = leadline(&data, &["audit", "verify"], &[]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    drop(dir);
}

#[tokio::test]
async fn numbers_outside_the_allowed_countries_or_non_geographic_are_stored_but_never_texted() {
    let app = TestApp::spawn().await;
    let cases = [
        ("+49 151 12345678", "+4915112345678", "number.country_not_allowed"),
        ("+1 876 210 1234", "+18762101234", "number.country_not_allowed"),
        ("+1 800 555 0199", "+18005550199", "number.non_geographic"),
        ("+1 533 555 0142", "+15335550142", "number.non_geographic"),
        ("+1 604 555 0142", "+16045550142", "number.country_not_allowed"),
    ];
    for (raw, e164, rule) in cases {
        let res = app.post_lead(&lead_with_consent(raw, e164)).await;
        assert!(res.status().is_success(), "{raw}: {}", res.text().await.unwrap_or_default());
        assert_eq!(app.lead(e164).await["phone"], e164, "stored as the same number");
        let t = app.timeline(e164).await;
        assert_eq!(rules(&t, "text_blocked"), vec![rule.to_string()], "{raw}: {t:#?}");
        // Not even the opt-out confirmation goes to such a number; the opt-out is recorded.
        assert_eq!(app.inbound(e164, "STOP", &format!("SM-{e164}")).await.status(), 200);
        assert_eq!(app.lead(e164).await["status"], "OPT_OUT");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(app.twilio.received().is_empty(), "{:?}", app.twilio.received());
    app.stop().await;
}

#[tokio::test]
async fn canadian_numbers_when_allowed_are_texted_in_their_provinces_hours() {
    use chrono::TimeZone;
    let app = TestApp::spawn_with(|s| s.compliance.allowed_countries = vec!["US".into(), "CA".into()]).await;
    // 21:30 in Vancouver (Pacific), 00:30 in New York.
    app.clock.set(chrono::Utc.with_ymd_and_hms(2026, 11, 27, 5, 30, 0).unwrap());
    let vancouver = "+16045550142";
    assert!(app.post_lead(&lead_with_consent(vancouver, "C-1")).await.status().is_success());
    let t = app.timeline(vancouver).await;
    let deferred = t.iter().find(|e| e["kind"] == "text_deferred").expect("deferred at night");
    let detail = deferred["detail"].as_str().unwrap();
    assert!(detail.contains("2026-11-27T16:00:00"), "08:00 Pacific: {detail}");
    assert!(detail.contains("America/Vancouver"), "{detail}");
    app.stop().await;
}

#[tokio::test]
async fn a_state_holiday_ban_defers_the_first_text_to_the_next_allowed_morning() {
    // 2026-11-26 is Thanksgiving: Alabama bans solicitation on it; New York does not.
    let app = TestApp::spawn().await;
    let birmingham = "+12055550142";
    assert!(app.post_lead(&lead_with_consent(birmingham, "H-1")).await.status().is_success());
    let t = app.timeline(birmingham).await;
    let deferred = t.iter().find(|e| e["kind"] == "text_deferred").expect("deferred on the holiday");
    assert_eq!(deferred["rule"], "quiet_hours.holiday", "{deferred}");
    let detail = deferred["detail"].as_str().unwrap();
    assert!(detail.contains("Thanksgiving"), "{detail}");
    assert!(detail.contains("2026-11-27T14:00:00"), "08:00 Central the next day: {detail}");
    assert!(app.post_lead(&lead_with_consent(ANA, "H-2")).await.status().is_success());
    app.wait_timeline(ANA, "text_sent").await;
    app.stop().await;
}
