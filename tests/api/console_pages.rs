//! The admin page's do-not-contact list, forced opt-out and consent CSV, and the API upload
//! of suppressions.

use super::helpers::*;
use serde_json::Value;

const LEAD: &str = "+12125550191";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[start..].split('"').next().unwrap().to_string()
}

async fn admin_cookie(app: &TestApp) -> String {
    let res = no_redirects()
        .post(format!("{}/admin/login", app.base))
        .form(&[("token", ADMIN_TOKEN), ("next", "/admin")])
        .send()
        .await
        .unwrap();
    res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn an_upload_imports_numbers_in_batches_and_reports_bad_lines() {
    let app = TestApp::spawn().await;
    let csv = "phone,reason,list\n+12125550101,asked,litigator\nnot a phone,x,\n(212) 555-0102,,\n";
    let res = app
        .client
        .post(format!("{}/v1/admin/suppressions/import", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["imported"], 2);
    assert_eq!(v["skipped"][0]["line"], 3);
    assert_eq!(v["batches"], 1);
    let listed: Value = app.admin_get("/v1/admin/suppressions").await.json().await.unwrap();
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["suppressions"][0]["list"], "litigator");
    // JSON is not a CSV.
    let res = app
        .client
        .post(format!("{}/v1/admin/suppressions/import", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"phone": "+12125550103"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    app.stop().await;
}

#[tokio::test]
async fn the_do_not_contact_page_adds_searches_and_removes_with_a_reason() {
    let app = TestApp::spawn().await;
    let http = no_redirects();
    let cookie = admin_cookie(&app).await;
    let url = |p: &str| format!("{}{p}", app.base);
    let html =
        http.get(url("/admin/suppressions")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&html);
    let res = http
        .post(url("/admin/suppressions"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("phone", "(305) 555-0177"), ("reason", "called the office")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = http
        .post(url("/admin/suppressions/import"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("csv", "+12125550111\n+12125550112,moved\nnope\n")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Imported 2 number(s)"), "{html}");
    assert!(html.contains("line 3"));
    let html = http
        .get(url("/admin/suppressions?q=305"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("+13055550177") && !html.contains("+12125550111"));
    // Removing asks first, and needs a reason.
    let res = http
        .post(url("/admin/suppressions/%2B13055550177/remove"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Take +13055550177 off the do-not-contact list?"));
    let res = http
        .post(url("/admin/suppressions/%2B13055550177/remove"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes"), ("reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = http
        .post(url("/admin/suppressions/%2B13055550177/remove"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes"), ("reason", "added by mistake")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(app.admin_get("/v1/admin/suppressions/%2B13055550177").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_lead_page_records_an_opt_out_after_a_confirmation_and_downloads_consent() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_lead(&lead_with_consent(LEAD, "cp-1")).await.status(), 202);
    // Suppressing and un-suppressing a lead's number is on its timeline, with who did it.
    let suppression = format!("{}/v1/admin/suppressions/{}", app.base, urlencode(LEAD));
    let res = app
        .client
        .put(&suppression)
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"reason": "asked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(app.lead(LEAD).await["suppressed"]["list"], "admin", "the lead's view shows it at once");
    assert_eq!(app.client.delete(&suppression).bearer_auth(ADMIN_TOKEN).send().await.unwrap().status(), 200);
    let timeline = app.timeline(LEAD).await;
    for rule in ["admin.suppressed", "admin.unsuppressed"] {
        let e = timeline.iter().find(|e| e["rule"] == rule).unwrap_or_else(|| panic!("{rule} on the timeline"));
        assert!(e["detail"].as_str().unwrap().ends_with("(by operator admin-token)"), "{e}");
    }

    let http = no_redirects();
    let cookie = admin_cookie(&app).await;
    let lead_page = format!("{}/admin/leads/{}", app.base, urlencode(LEAD));
    let html = http.get(&lead_page).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"force-opt-out\"") && html.contains("id=\"consent-csv\""));
    assert!(html.contains("Times are shown in America"));
    assert!(html.contains("lead-local-time") && html.contains("EST (America"), "the lead's own time");
    let csrf = csrf_of(&html);
    let res = http
        .post(format!("{lead_page}/opt-out"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "asks first");
    assert_eq!(app.lead(LEAD).await["status"], "CONTACTED_SMS");
    let res = http
        .post(format!("{lead_page}/opt-out"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes"), ("reason", "asked by email")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(app.lead(LEAD).await["status"], "OPT_OUT");
    let timeline = app.timeline(LEAD).await;
    assert!(timeline.iter().any(|e| e["detail"].as_str().unwrap_or("").contains("(by operator admin-token)")));

    let res = http.get(format!("{lead_page}/consent.csv")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    assert!(csv.lines().count() >= 3, "header, grant, revocation: {csv}");
    app.stop().await;
}
