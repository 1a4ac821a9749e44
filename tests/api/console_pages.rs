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

/// A `multipart/form-data` body (as a browser sends the upload form) and its content type.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----leadlinetestboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    if let Some((name, data)) = file {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: text/csv\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(data);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The page's file upload: a 20,000-number file (far above `server.max_body_bytes`) is taken,
/// imported in the background, and its progress page ends with the outcome and the bad lines;
/// without a session, with a stale form, or above `admin.upload_max_bytes` it is refused.
#[tokio::test]
async fn the_page_uploads_a_large_csv_file_and_shows_the_import_progress() {
    let app = TestApp::spawn_with(|s| s.admin.upload_max_bytes = 2 * 1024 * 1024).await;
    let cookie = admin_cookie(&app).await;
    let http = no_redirects();
    let page = http.get(format!("{}/admin/suppressions", app.base)).header("cookie", &cookie).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"upload-suppressions\""), "the page has the upload form");
    let csrf = csrf_of(&html);

    let mut csv = String::from("phone,reason\n");
    for i in 0..20_000 {
        csv.push_str(&format!("+1646{:03}{:04},asked by phone\n", 200 + i / 10_000, i % 10_000));
    }
    csv.push_str("not a phone,x\n");
    assert!(csv.len() > app.settings.server.max_body_bytes, "bigger than any other request may be");
    let upload = |fields: Vec<(&'static str, String)>, data: Vec<u8>, cookie: Option<String>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (content_type, body) = multipart(&fields, Some(("dnc.csv", &data)));
        let mut req = http.post(format!("{}/admin/suppressions/upload", app.base)).header("content-type", content_type);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.body(body).send()
    };

    let res = upload(vec![("csrf", csrf.clone())], csv.clone().into_bytes(), None).await.unwrap();
    assert_eq!(res.status(), 401, "no session");
    let res = upload(vec![("csrf", "stale".into())], csv.clone().into_bytes(), Some(cookie.clone())).await.unwrap();
    assert_eq!(res.status(), 403, "a stale form");
    assert_eq!(app.admin_get("/v1/admin/suppressions").await.json::<Value>().await.unwrap()["count"], 0);
    let huge = vec![b'1'; 3 * 1024 * 1024];
    let res = upload(vec![("csrf", csrf.clone())], huge, Some(cookie.clone())).await.unwrap();
    assert_eq!(res.status(), 413, "above admin.upload_max_bytes");
    assert!(res.text().await.unwrap().contains("File too large"));

    let fields = vec![("csrf", csrf.clone()), ("list", "litigator".to_string())];
    let res = upload(fields, csv.into_bytes(), Some(cookie.clone())).await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap_or_default());
    let progress = res.headers()["location"].to_str().unwrap().to_string();
    assert!(progress.starts_with("/admin/suppressions/uploads/"), "{progress}");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let res = http.get(format!("{}{progress}", app.base)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(html.contains("id=\"upload-bar\""), "a progress bar: {html}");
        if html.contains("id=\"upload-done\"") {
            assert!(!html.contains("http-equiv=\"refresh\" content=\"1\""), "a finished upload stops refreshing");
            break html;
        }
        assert!(html.contains("http-equiv=\"refresh\" content=\"1\""), "a running upload refreshes itself");
        assert!(std::time::Instant::now() < deadline, "the upload did not finish within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(done.contains("Imported 20000 number(s) in 4 write(s)"), "{done}");
    assert!(done.contains("line 20002"), "the bad line is named: {done}");
    for last in ["+16462000000", "+16462019999"] {
        let entry: Value =
            app.admin_get(&format!("/v1/admin/suppressions/{}", urlencode(last))).await.json().await.unwrap();
        assert_eq!(entry["list"], "litigator", "{last}: {entry}");
    }
    let unknown = http.get(format!("{}/admin/suppressions/uploads/nope", app.base)).header("cookie", &cookie);
    assert_eq!(unknown.send().await.unwrap().status(), 404);
    app.stop().await;
}
