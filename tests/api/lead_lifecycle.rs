//! The lead's lifecycle over HTTP: a freeze pauses the follow-up and the unfreeze brings it
//! back (re-gated when due); a first text the provider refuses for good (Twilio 30034) is
//! listed under "texts not sent" and leaves the lead NEW and never contacted.

use super::fake_twilio::Reply;
use super::helpers::*;
use chrono::Duration as Span;
use serde_json::{json, Value};
use std::time::Duration;

fn fast(s: &mut leadline::config::Settings) {
    s.scheduler.tick_ms = 20;
}

fn rules(decisions: &Value) -> Vec<String> {
    decisions["decisions"]
        .as_array()
        .map_or(Vec::new(), |d| d.iter().filter_map(|d| d["rule"].as_str().map(str::to_string)).collect())
}

/// Waits (bounded) until the lead's JSON satisfies `ok`.
async fn wait_lead(app: &TestApp, phone: &str, ok: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..250 {
        let lead = app.lead(phone).await;
        if ok(&lead) {
            return lead;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.lead(phone).await
}

async fn freeze(app: &TestApp, phone: &str) -> Value {
    let res = app
        .admin_post(&format!("/v1/admin/leads/{}/freeze", urlencode(phone)), Some(json!({"reason": "agent call"})))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn unfreeze(app: &TestApp, phone: &str) -> Value {
    let res = app.admin_post(&format!("/v1/admin/leads/{}/unfreeze", urlencode(phone)), None).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn an_unfreeze_brings_back_the_nudge_the_freeze_paused() {
    let app = TestApp::spawn_with(fast).await;
    let (ana, ben) = ("+12125550511", "+12125550512");
    for (p, id) in [(ana, "L-1"), (ben, "L-2")] {
        assert_eq!(app.post_lead(&lead_with_consent(p, id)).await.status(), 202);
        assert_eq!(app.twilio.wait_for(p, 1).await.len(), 1);
        wait_lead(&app, p, |l| !l["last_contacted_at"].is_null()).await;
    }

    // Two hours after the first text both are frozen: 22 hours of the wait are left.
    app.clock.advance(Span::hours(2));
    for p in [ana, ben] {
        let frozen = freeze(&app, p).await;
        assert!(rules(&frozen).contains(&"sequence.paused".to_string()), "{frozen}");
        assert_eq!(frozen["follow_up"]["paused"], true, "{frozen}");
    }
    // Ben opts out while frozen: he gets the one confirmation, then nothing ever again.
    assert_eq!(app.inbound(ben, "STOP", "SM-l2").await.status(), 200);
    assert_eq!(app.twilio.wait_for(ben, 2).await.len(), 2);

    // The nudge's old moment passes while frozen: nothing goes out.
    app.clock.advance(Span::days(2));
    assert_eq!(app.twilio.settle(ana).await.len(), 1, "nothing while frozen");

    let thawed = unfreeze(&app, ana).await;
    assert!(rules(&thawed).contains(&"sequence.resumed".to_string()), "{thawed}");
    assert_eq!(thawed["follow_up"]["paused"], false, "{thawed}");
    assert_eq!(thawed["follow_up"]["step"], 1, "{thawed}");
    let thawed_ben = unfreeze(&app, ben).await;
    assert!(!rules(&thawed_ben).contains(&"sequence.resumed".to_string()), "{thawed_ben}");
    assert!(thawed_ben["follow_up"].is_null(), "{thawed_ben}");
    assert_eq!(app.twilio.settle(ana).await.len(), 1, "unfreezing sends nothing by itself");

    // 22 hours after the unfreeze, the nudge goes out (through the gate), once.
    app.clock.advance(Span::hours(21));
    assert_eq!(app.twilio.settle(ana).await.len(), 1, "not before its re-planned moment");
    app.clock.advance(Span::hours(1));
    let sent = app.twilio.wait_for(ana, 2).await;
    assert_eq!(sent.len(), 2);
    assert!(sent[1].body().contains("just checking in"), "{}", sent[1].body());
    assert!(kinds_and_rules(&app.timeline(ana).await).contains(&("text_queued".into(), "sequence.follow_up.1".into())));

    app.clock.advance(Span::days(10));
    assert_eq!(app.twilio.settle(ben).await.len(), 2, "an opt-out while frozen stays an opt-out");
    app.stop().await;
}

#[tokio::test]
async fn a_first_text_refused_with_30034_is_listed_as_not_sent_and_the_lead_stays_new() {
    let app = TestApp::spawn_with(fast).await;
    let phone = "+12125550513";
    app.twilio.script([Reply::Error(400, 30034, "Message from an Unregistered Number")]);
    assert_eq!(app.post_lead(&lead_with_consent(phone, "L-3")).await.status(), 202);
    let timeline = app.wait_timeline(phone, "text_failed").await;
    let failed = timeline.iter().find(|e| e["kind"] == "text_failed").expect("a failed entry");
    assert_eq!(failed["rule"], "provider.30034", "{failed}");
    let id = failed["message_id"].as_str().expect("the text's id").to_string();

    let lead = wait_lead(&app, phone, |l| l["status"] == "NEW").await;
    assert_eq!(lead["status"], "NEW", "never contacted: {lead}");
    assert!(lead["last_contacted_at"].is_null(), "{lead}");
    assert!(lead["follow_up"].is_null(), "no follow-up to a lead who never got the first text: {lead}");

    // Its dead letter has the text's message id.
    let res = app.admin_get("/v1/admin/dead-letters").await;
    let dl: Value = res.json().await.unwrap();
    let dl = dl["dead_letters"].as_array().unwrap();
    assert!(dl.iter().any(|d| d["id"] == id.as_str() && d["reason"] == "configuration.30034"), "{dl:?}");

    // The lead's page lists it under "texts not sent" with the reason, linked to the dead letter.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = |p: &str| format!("{}{p}", app.base);
    let res = http.post(url("/admin/login")).form(&[("token", ADMIN_TOKEN), ("next", "/admin")]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = |p: String| {
        let http = http.clone();
        let cookie = cookie.clone();
        async move { http.get(p).header("cookie", cookie).send().await.unwrap().text().await.unwrap() }
    };
    let html = page(url(&format!("/admin/leads/{}", urlencode(phone)))).await;
    // (The page's HTML escaping writes `/` in attribute values as `&#x2f;`.)
    let html = html.replace("&#x2f;", "/");
    let held = html.split("id=\"held\"").nth(1).and_then(|h| h.split("</div>").next()).expect("texts not sent");
    assert!(held.contains("Texts not sent"), "{held}");
    assert!(held.contains("provider.30034") && held.contains("Message from an Unregistered Number"), "{held}");
    let anchor = format!("dl-{}", id.replace('+', "%2B").replace('#', "%23"));
    assert!(held.contains(&format!("href=\"/admin/dead-letters#{anchor}\"")), "{held}");
    assert!(html.contains("id=\"lead-status\">NEW<"), "the page shows NEW");
    assert!(html.contains("id=\"last-contacted\">never<"), "the page shows never contacted");
    let dead = page(url("/admin/dead-letters")).await;
    assert!(dead.contains(&format!("id=\"{anchor}\"")), "the link's target exists");

    // The campaign is fixed and the operator retries it: now the lead is contacted.
    let res = app
        .admin_post(&format!("/v1/admin/dead-letters/{}/retry", id.replace('+', "%2B").replace('#', "%23")), None)
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1, "the retry was accepted (refusals are not recorded)");
    let lead = wait_lead(&app, phone, |l| l["status"] == "CONTACTED_SMS").await;
    assert_eq!(lead["status"], "CONTACTED_SMS", "{lead}");
    assert!(!lead["last_contacted_at"].is_null(), "{lead}");
    assert_eq!(lead["follow_up"]["step"], 1, "the sequence starts with the accepted text: {lead}");
    app.stop().await;
}
