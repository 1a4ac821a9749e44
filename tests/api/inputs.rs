//! Bad input gets a clear 4xx JSON error and changes nothing.

use super::helpers::*;
use serde_json::{json, Value};

async fn error_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("<no error.code>").to_string();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "error message present: {body}");
    (status, code)
}

#[tokio::test]
async fn bad_lead_bodies_get_the_right_4xx() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/events/leads", app.base);
    let raw = |body: &'static str| app.client.post(&url).header("content-type", "application/json").body(body).send();

    assert_eq!(error_of(raw("{not json").await.unwrap()).await, (400, "malformed_json".into()));
    assert_eq!(error_of(raw("").await.unwrap()).await, (400, "malformed_json".into()));
    assert_eq!(error_of(raw(r#"{"phone": "2125550142"}"#).await.unwrap()).await, (422, "invalid_body".into()));
    assert_eq!(error_of(raw(r#"{"source": "zillow", "phone": 5}"#).await.unwrap()).await, (422, "invalid_body".into()));
    let (status, code) = error_of(app.post_lead(&json!({"source": "zillow", "phone": "555"})).await).await;
    assert_eq!((status, code.as_str()), (422, "invalid_phone"));
    let (status, code) = error_of(app.post_lead(&json!({"source": " ", "phone": "2125550142"})).await).await;
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    let bad_time = json!({"source": "z", "phone": "2125550142", "consent": {"granted_at": "yesterday"}});
    assert_eq!(error_of(app.post_lead(&bad_time).await).await, (422, "invalid_body".into()));

    let huge = json!({"source": "zillow", "phone": "2125550142", "message": "x".repeat(20_000)});
    assert_eq!(error_of(app.post_lead(&huge).await).await, (413, "body_too_large".into()));

    // None of that created a lead.
    assert_eq!(app.admin_get("/v1/admin/leads/2125550142").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn forged_or_missing_twilio_signatures_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let phone = "+12125550177";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "Z-sig")).await.status(), 202);
    app.twilio.wait_for(phone, 1).await;
    let before = app.timeline(phone).await.len();

    let form = [("MessageSid", "SM-forged"), ("From", phone), ("To", FROM), ("Body", "STOP")];
    let url = format!("{}/v1/twilio/inbound", app.base);
    let unsigned = app.client.post(&url).form(&form).send().await.unwrap();
    assert_eq!(error_of(unsigned).await, (403, "invalid_signature".into()));
    let forged = app
        .client
        .post(&url)
        .header("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(forged).await, (403, "invalid_signature".into()));

    // A valid signature over different parameters (tampered body) is refused too.
    let owned: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sig =
        leadline::webhook_auth::twilio_signature(&format!("{PUBLIC_URL}/v1/twilio/inbound"), &owned, TWILIO_TOKEN);
    let tampered = [("MessageSid", "SM-forged"), ("From", phone), ("To", FROM), ("Body", "yes")];
    let res = app.client.post(&url).header("X-Twilio-Signature", sig).form(&tampered).send().await.unwrap();
    assert_eq!(res.status(), 403);

    assert_eq!(app.lead(phone).await["status"], "CONTACTED_SMS");
    assert_eq!(app.timeline(phone).await.len(), before);
    app.stop().await;
}

#[tokio::test]
async fn admin_api_needs_the_bearer_token_and_unknown_leads_are_404() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/admin/leads/%2B12125550142", app.base);
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(error_of(none).await, (401, "unauthorized".into()));
    let wrong = app.client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(error_of(wrong).await, (401, "unauthorized".into()));
    assert_eq!(error_of(app.admin_get("/v1/admin/leads/%2B12125550142").await).await, (404, "not_found".into()));
    assert_eq!(error_of(app.admin_get("/v1/admin/leads/not-a-phone").await).await, (422, "invalid_phone".into()));
    assert_eq!(
        error_of(app.admin_post("/v1/admin/leads/2125550142/freeze", None).await).await,
        (404, "not_found".into())
    );

    let health = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    for name in ["leadline_leads_stored", "leadline_store_size_bytes", "leadline_http_request_duration_seconds"] {
        assert!(metrics.contains(name), "{name} missing from /metrics:\n{metrics}");
    }
    // Route templates, never raw paths with phone numbers.
    assert!(metrics.contains("route=\"/v1/admin/leads/{phone}\""), "{metrics}");
    assert!(!metrics.contains("2125550142"), "a phone number leaked into metrics");
    app.stop().await;
}

#[tokio::test]
async fn an_operator_can_record_an_opt_out_given_by_phone() {
    let app = TestApp::spawn().await;
    let phone = "+12125550188";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "OPT-1")).await.status(), 202);
    assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1);
    let path = format!("/v1/admin/leads/{}/opt-out", urlencode(phone));
    let res = app.admin_post(&path, Some(json!({"reason": "called the office", "bogus": 1}))).await;
    assert_eq!(error_of(res).await, (422, "invalid_body".into()));
    let res = app.admin_post(&path, Some(json!({"reason": "called the office"}))).await;
    assert_eq!(res.status(), 200);
    let lead: Value = res.json().await.unwrap();
    assert_eq!(lead["status"], "OPT_OUT");
    let revoked = lead["consent_history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(revoked["Revoked"]["rule"], "admin.opt_out", "{revoked}");
    // No confirmation unless asked for, and nothing automated afterwards.
    assert_eq!(app.post_lead(&lead_with_consent(phone, "OPT-2")).await.status(), 202);
    assert_eq!(app.twilio.settle(phone).await.len(), 1);
    app.stop().await;
}
