//! The article's sequence end to end, and that it survives a restart.

use super::helpers::*;
use serde_json::json;

const ANA: &str = "+12125550142";

#[tokio::test]
async fn the_four_steps_work_over_http_and_survive_a_restart() {
    let app = TestApp::spawn().await;

    // 1. A new lead for 123 Main St arrives (the documented example body; phone in local format).
    let mut body = lead_with_consent("(212) 555-0142", "Z-123");
    body["source"] = json!("zillow");
    let res = app.post_lead(&body).await;
    assert_eq!(res.status(), 202);
    let ack: serde_json::Value = res.json().await.unwrap();
    assert_eq!(ack["phone"], ANA);
    assert_eq!(ack["status"], "CONTACTED_SMS");

    // 2. leadline texts the lead through Twilio: names the property and the sender, says how to opt out.
    let sent = app.twilio.wait_for(ANA, 1).await;
    assert_eq!(sent.len(), 1, "exactly one first text");
    let first = &sent[0];
    assert_eq!(first.account_sid, ACCOUNT_SID);
    assert_eq!(first.basic_auth, Some((ACCOUNT_SID.to_string(), TWILIO_TOKEN.to_string())));
    assert_eq!(first.field("From"), Some(FROM));
    assert_eq!(first.field("StatusCallback"), Some(format!("{PUBLIC_URL}/v1/twilio/status").as_str()));
    assert!(first.body().contains("123 Main St"), "{}", first.body());
    assert!(first.body().contains("Acme Realty"), "{}", first.body());
    assert!(first.body().ends_with("Reply HELP for help, STOP to opt out."), "{}", first.body());

    // 3. The lead's state is what the article shows.
    let lead = app.lead(ANA).await;
    assert_eq!(lead["status"], "CONTACTED_SMS");
    assert_eq!(lead["last_property"], "123 Main St");
    assert_eq!(lead["interests"], json!(["MLS-123"]));
    assert_eq!(lead["consent"]["source_url"], "https://agent.example.com/listing/123");
    let timeline = app.wait_timeline(ANA, "text_sent").await;
    let queued = timeline.iter().find(|e| e["kind"] == "text_queued").expect("decision on the timeline");
    assert!(queued["detail"].as_str().unwrap().starts_with("first_contact (1 segment, GSM-7): Hi Ana"), "{queued}");
    let sent_entry = timeline.iter().find(|e| e["kind"] == "text_sent").expect("provider acceptance on the timeline");
    assert!(sent_entry["detail"].as_str().unwrap().contains(&first.sid));
    // "Last contacted" is when the provider accepted the text.
    assert_eq!(app.lead(ANA).await["last_contacted_at"], "2026-11-26T18:00:00.000Z");

    // 4. The lead replies STOP: opted out, exactly one confirmation.
    let res = app.inbound(ANA, "Stop.", "SM-in-1").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/xml");
    let sent = app.twilio.wait_for(ANA, 2).await;
    assert_eq!(sent.len(), 2);
    assert!(sent[1].body().contains("unsubscribed"), "{}", sent[1].body());
    assert_eq!(app.lead(ANA).await["status"], "OPT_OUT");

    // Every later automated text is blocked: a new inquiry, HELP, a second STOP.
    let again = lead_with_consent(ANA, "Z-124");
    assert_eq!(app.post_lead(&again).await.status(), 202);
    assert_eq!(app.inbound(ANA, "HELP", "SM-in-2").await.status(), 200);
    assert_eq!(app.inbound(ANA, "STOP", "SM-in-3").await.status(), 200);
    assert_eq!(app.twilio.settle(ANA).await.len(), 2, "nothing but the one confirmation after STOP");

    // Restart on the same data dir: state and opt-out survive; still nothing is sent.
    let app = app.restart().await;
    let lead = app.lead(ANA).await;
    assert_eq!(lead["status"], "OPT_OUT");
    assert_eq!(lead["last_property"], "123 Main St");
    assert_eq!(app.post_lead(&lead_with_consent(ANA, "Z-125")).await.status(), 202);
    assert_eq!(app.twilio.settle(ANA).await.len(), 2);
    let rules: Vec<_> = kinds_and_rules(&app.timeline(ANA).await);
    assert!(rules.contains(&("text_blocked".into(), "opt_out".into())), "{rules:?}");

    // START opts back in with a confirmation; the timeline shows the whole story.
    assert_eq!(app.inbound(ANA, "START", "SM-in-4").await.status(), 200);
    let sent = app.twilio.wait_for(ANA, 3).await;
    assert!(sent[2].body().contains("subscribed again"), "{}", sent[2].body());
    assert_eq!(app.lead(ANA).await["status"], "CONTACTED_SMS");
    app.stop().await;
}

#[tokio::test]
async fn a_lead_without_consent_is_stored_but_not_texted_and_the_timeline_says_why() {
    let app = TestApp::spawn().await;
    let phone = "+13125550199";
    let res = app.post_lead(&json!({"source": "website", "phone": phone, "first_name": "Bo"})).await;
    assert_eq!(res.status(), 202);
    let lead = app.lead(phone).await;
    assert_eq!(lead["status"], "NEW");
    assert_eq!(lead["consent"], serde_json::Value::Null);
    let rules = kinds_and_rules(&app.timeline(phone).await);
    assert!(rules.contains(&("text_blocked".into(), "consent.missing".into())), "{rules:?}");

    // Consent without a source URL is not enough either.
    let phone2 = "+13125550198";
    let body = json!({"source": "website", "phone": phone2, "consent": {"granted_at": "2026-11-26T14:00:00Z"}});
    assert_eq!(app.post_lead(&body).await.status(), 202);
    let rules = kinds_and_rules(&app.timeline(phone2).await);
    assert!(rules.contains(&("text_blocked".into(), "consent.incomplete".into())), "{rules:?}");

    assert!(app.twilio.settle(phone).await.is_empty());
    assert!(app.twilio.received_for(phone2).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_frozen_lead_gets_no_automated_text_but_its_opt_out_is_recorded() {
    let app = TestApp::spawn().await;
    let phone = "+14155550123";
    // Create the lead without consent so nothing is sent, then freeze it.
    assert_eq!(app.post_lead(&json!({"source": "website", "phone": phone})).await.status(), 202);
    let res = app
        .admin_post(&format!("/v1/admin/leads/{}/freeze", urlencode(phone)), Some(json!({"reason": "agent asked"})))
        .await;
    assert_eq!(res.status(), 200);
    let lead: serde_json::Value = res.json().await.unwrap();
    assert_eq!(lead["frozen"], true);
    assert_eq!(lead["frozen_reason"], "agent asked");

    // Now a complete inquiry arrives: still no text, because of the freeze.
    assert_eq!(app.post_lead(&lead_with_consent(phone, "W-1")).await.status(), 202);
    assert!(app.twilio.settle(phone).await.is_empty());
    let rules = kinds_and_rules(&app.timeline(phone).await);
    assert!(rules.contains(&("text_blocked".into(), "frozen".into())), "{rules:?}");

    // An opt-out while frozen is recorded (and confirmed, as the law requires).
    assert_eq!(app.inbound(phone, "unsubscribe", "SM-f-1").await.status(), 200);
    assert_eq!(app.lead(phone).await["status"], "OPT_OUT");
    let sent = app.twilio.wait_for(phone, 1).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body().contains("unsubscribed"));

    // Unfreeze (plain-digits path form works too).
    let res = app.admin_post("/v1/admin/leads/14155550123/unfreeze", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.lead(phone).await["frozen"], false);
    app.stop().await;
}

#[tokio::test]
async fn a_reply_hands_the_lead_to_a_person_and_help_gets_the_required_reply() {
    let app = TestApp::spawn().await;
    let phone = "+16175550123";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "Z-9")).await.status(), 202);
    app.twilio.wait_for(phone, 1).await;

    assert_eq!(app.inbound(phone, "help", "SM-h-1").await.status(), 200);
    let sent = app.twilio.wait_for(phone, 2).await;
    let help = sent[1].body();
    for needle in ["Acme Realty", "Msg & data rates may apply", "STOP", "Msg frequency varies"] {
        assert!(help.contains(needle), "HELP reply lacks {needle:?}: {help}");
    }
    assert_eq!(app.lead(phone).await["status"], "CONTACTED_SMS", "HELP does not change state");

    assert_eq!(app.inbound(phone, "Yes I'd love to see it Saturday", "SM-h-2").await.status(), 200);
    assert_eq!(app.lead(phone).await["status"], "ENGAGED");
    // A re-delivered webhook (same MessageSid) changes nothing.
    let before = app.timeline(phone).await.len();
    assert_eq!(app.inbound(phone, "Yes I'd love to see it Saturday", "SM-h-2").await.status(), 200);
    assert_eq!(app.timeline(phone).await.len(), before);
    assert_eq!(app.twilio.settle(phone).await.len(), 2, "no automated text to an engaged lead");
    app.stop().await;
}

#[tokio::test]
async fn the_same_lead_delivered_twice_is_texted_once() {
    let app = TestApp::spawn().await;
    let phone = "+12065550111";
    let body = lead_with_consent(phone, "Z-dup");
    let (a, b) = tokio::join!(app.post_lead(&body), app.post_lead(&body));
    assert_eq!(a.status(), 202);
    assert_eq!(b.status(), 202);
    let acks: Vec<serde_json::Value> = vec![a.json().await.unwrap(), b.json().await.unwrap()];
    assert_eq!(acks.iter().filter(|a| a["duplicate"] == true).count(), 1);
    assert_eq!(app.twilio.settle(phone).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_provider_error_is_recorded_with_twilios_code_and_message() {
    let app = TestApp::spawn().await;
    let phone = "+17185550123";
    app.twilio.script([super::fake_twilio::Reply::Error(400, 21211, "The 'To' number is not a valid phone number.")]);
    assert_eq!(app.post_lead(&lead_with_consent(phone, "Z-bad")).await.status(), 202);
    let timeline = app.wait_timeline(phone, "text_failed").await;
    let failed = timeline.iter().find(|e| e["kind"] == "text_failed").expect("failure on the timeline");
    assert_eq!(failed["rule"], "provider.21211");
    assert!(failed["detail"].as_str().unwrap().contains("not a valid phone number"), "{failed}");
    // 21211 means the number cannot receive texts.
    for _ in 0..50 {
        if app.lead(phone).await["status"] == "UNDELIVERABLE" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.lead(phone).await["status"], "UNDELIVERABLE");
    assert!(app.twilio.received_for(phone).is_empty());
    app.stop().await;
}
