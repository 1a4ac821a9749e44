//! Named operators (roles, tokens, page sessions) and a person's replies to a lead
//! (`POST /v1/admin/leads/{phone}/messages`), as an admin, an agent and a viewer see them.

use super::helpers::*;
use serde_json::{json, Value};

const LEAD: &str = "+12125550161";
const OPTED_OUT: &str = "+12125550162";
const PASSWORD: &str = "a long agent passphrase";

/// Creates an operator with a page password and an API token; returns the token.
async fn operator(app: &TestApp, name: &str, role: &str) -> String {
    let res =
        app.admin_post("/v1/admin/operators", Some(json!({"name": name, "role": role, "password": PASSWORD}))).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = app.admin_post(&format!("/v1/admin/operators/{name}/tokens"), None).await;
    assert_eq!(res.status(), 201);
    let issued: Value = res.json().await.unwrap();
    issued["token"].as_str().unwrap().to_string()
}

async fn call(app: &TestApp, method: &str, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.client.request(method, format!("{}{path}", app.base)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn roles_decide_what_an_operator_may_do_and_the_timeline_names_who_did_it() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_lead(&lead_with_consent(LEAD, "op-1")).await.status(), 202);
    let agent = operator(&app, "ana.agent", "agent").await;
    let viewer = operator(&app, "victor", "viewer").await;
    let lead = format!("/v1/admin/leads/{}", urlencode(LEAD));

    // The list never shows a hash or a token.
    let (status, list) = call(&app, "GET", ADMIN_TOKEN, "/v1/admin/operators", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 2);
    let text = list.to_string();
    assert!(!text.contains("argon2") && !text.contains(&agent) && !text.contains("sha256"), "{text}");

    // A viewer reads, and may not freeze: 403 naming the role needed.
    assert_eq!(call(&app, "GET", &viewer, &lead, None).await.0, 200);
    let (status, err) = call(&app, "POST", &viewer, &format!("{lead}/freeze"), Some(json!({}))).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "forbidden");
    assert!(err["error"]["message"].as_str().unwrap().contains("agent role"), "{err}");

    // An agent freezes; the timeline names the agent. Managing operators needs admin.
    let (status, _) =
        call(&app, "POST", &agent, &format!("{lead}/freeze"), Some(json!({"reason": "on the phone"}))).await;
    assert_eq!(status, 200);
    let timeline = app.timeline(LEAD).await;
    let freeze = timeline.iter().find(|e| e["rule"] == "admin.freeze").expect("freeze on the timeline");
    assert!(freeze["detail"].as_str().unwrap().contains("(by operator ana.agent)"), "{freeze}");
    let (status, err) = call(&app, "GET", &agent, "/v1/admin/operators", None).await;
    assert_eq!(status, 403);
    assert!(err["error"]["message"].as_str().unwrap().contains("admin role"));
    assert_eq!(call(&app, "DELETE", &agent, "/v1/admin/suppressions/%2B12125550199", None).await.0, 403);

    // The shared token is the bootstrap admin: its actions are named `admin-token`.
    let (status, _) = call(&app, "POST", ADMIN_TOKEN, &format!("{lead}/unfreeze"), None).await;
    assert_eq!(status, 200);
    let timeline = app.timeline(LEAD).await;
    let unfreeze = timeline.iter().find(|e| e["rule"] == "admin.unfreeze").unwrap();
    assert!(unfreeze["detail"].as_str().unwrap().contains("(by operator admin-token)"), "{unfreeze}");

    // Bad input is a clear 4xx; a duplicate name a 409.
    let (status, err) =
        call(&app, "POST", ADMIN_TOKEN, "/v1/admin/operators", Some(json!({"name": "x y", "role": "agent"}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("invalid_field")));
    let (status, _) =
        call(&app, "POST", ADMIN_TOKEN, "/v1/admin/operators", Some(json!({"name": "z", "role": "root"}))).await;
    assert_eq!(status, 422);
    let (status, err) =
        call(&app, "POST", ADMIN_TOKEN, "/v1/admin/operators", Some(json!({"name": "victor", "role": "agent"}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("operator_exists")));

    // A role change applies at once; revoking ends the operator's tokens at once.
    let (status, v) =
        call(&app, "PATCH", ADMIN_TOKEN, "/v1/admin/operators/victor", Some(json!({"role": "agent"}))).await;
    assert_eq!((status, v["role"].as_str()), (200, Some("agent")));
    assert_eq!(call(&app, "POST", &viewer, &format!("{lead}/freeze"), Some(json!({}))).await.0, 200);
    let (status, v) = call(&app, "DELETE", ADMIN_TOKEN, "/v1/admin/operators/ana.agent", None).await;
    assert_eq!(status, 200);
    assert!(v["revoked_at"].is_string());
    let (status, err) = call(&app, "GET", &agent, &lead, None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (401, Some("unauthorized")));
    app.stop().await;
}

#[tokio::test]
async fn an_agent_replies_through_the_gate_and_a_viewer_cannot() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_lead(&lead_with_consent(LEAD, "op-2")).await.status(), 202);
    assert_eq!(app.post_lead(&lead_with_consent(OPTED_OUT, "op-3")).await.status(), 202);
    app.twilio.wait_for(LEAD, 1).await;
    app.twilio.wait_for(OPTED_OUT, 1).await;
    assert_eq!(app.inbound(LEAD, "Is it still available? Can I see it Saturday?", "SMin-1").await.status(), 200);
    assert_eq!(app.inbound(OPTED_OUT, "STOP", "SMin-2").await.status(), 200);
    app.twilio.wait_for(OPTED_OUT, 2).await; // the one confirmation
    let agent = operator(&app, "ana.agent", "agent").await;
    let viewer = operator(&app, "victor", "viewer").await;
    let messages = |phone: &str| format!("/v1/admin/leads/{}/messages", urlencode(phone));
    let words = "Hi Ana, it is. Saturday at 11 works: 123 Main St.";

    let (status, err) = call(&app, "POST", &viewer, &messages(LEAD), Some(json!({"body": words}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")));

    let (status, d) = call(&app, "POST", &agent, &messages(LEAD), Some(json!({"body": words}))).await;
    assert_eq!(status, 202, "{d}");
    assert_eq!(d["decision"], "queued");
    assert_eq!(d["rule"], "manual.reply");
    assert_eq!(d["operator"], "ana.agent");
    let id = d["message_id"].as_str().unwrap().to_string();
    let sent = app.twilio.wait_for(LEAD, 2).await;
    assert_eq!(sent.last().unwrap().body(), words, "sent by the gateway as written");
    let timeline = app.wait_timeline(LEAD, "text_sent").await;
    let queued = timeline.iter().find(|e| e["message_id"] == id.as_str() && e["kind"] == "text_queued").unwrap();
    assert!(queued["detail"].as_str().unwrap().contains("(by operator ana.agent)"), "{queued}");

    // Never to an opted-out number: 409 with the rule, nothing sent.
    let before = app.twilio.received_for(OPTED_OUT).len();
    let (status, err) = call(&app, "POST", &agent, &messages(OPTED_OUT), Some(json!({"body": "Hello?"}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("reply_blocked")));
    assert!(err["error"]["message"].as_str().unwrap().contains("opt_out"), "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.twilio.received_for(OPTED_OUT).len(), before);

    // Clear 4xx for bad bodies.
    for body in [
        json!({}),
        json!({"body": "a", "template": "help"}),
        json!({"body": "  "}),
        json!({"template": "help", "vars": {"x": "1"}}),
    ] {
        let (status, _) = call(&app, "POST", &agent, &messages(LEAD), Some(body.clone())).await;
        assert_eq!(status, 422, "{body}");
    }
    let (status, _) = call(&app, "POST", &agent, &messages(LEAD), Some(json!({"body": "word ".repeat(300)}))).await;
    assert_eq!(status, 422);
    // A template reply.
    let (status, d) = call(&app, "POST", &agent, &messages(LEAD), Some(json!({"template": "help"}))).await;
    assert_eq!((status, d["decision"].as_str()), (202, Some("queued")), "{d}");
    app.stop().await;
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(app: &TestApp, name: &str, password: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}/admin/login", app.base))
        .form(&[("name", name), ("password", password), ("next", "/admin/leads")])
        .send()
        .await
        .unwrap()
}

fn cookie_of(res: &reqwest::Response) -> String {
    res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn page_sessions_live_on_the_server_and_sign_ins_are_throttled() {
    let app = TestApp::spawn_with(|s| s.server.rate_limit_per_ip_per_sec = 0).await;
    assert_eq!(app.post_lead(&lead_with_consent(LEAD, "op-4")).await.status(), 202);
    operator(&app, "ana.agent", "agent").await;
    let http = no_redirects();
    let page = |cookie: String| {
        let http = http.clone();
        let url = format!("{}/admin/leads", app.base);
        async move { http.get(url).header("cookie", cookie).send().await.unwrap() }
    };

    let res = sign_in(&app, "ana.agent", PASSWORD).await;
    assert_eq!(res.status(), 303);
    let cookie = cookie_of(&res);
    let res = page(cookie.clone()).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("ana.agent"), "the page shows who is signed in");

    // Signing out ends the session on the server: the old cookie no longer works.
    let res = http.post(format!("{}/admin/logout", app.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(page(cookie).await.status(), 303);

    // Revoking the operator ends their live sessions at once.
    let cookie = cookie_of(&sign_in(&app, "ana.agent", PASSWORD).await);
    assert_eq!(page(cookie.clone()).await.status(), 200);
    assert_eq!(
        app.client
            .delete(format!("{}/v1/admin/operators/ana.agent", app.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(page(cookie).await.status(), 303);
    assert_eq!(sign_in(&app, "ana.agent", PASSWORD).await.status(), 401);

    // Wrong passwords: refused, then throttled per account (429) even with the right one.
    operator(&app, "bob", "viewer").await;
    // (5 per minute: a slow machine may earn a new attempt every 12 s, so keep going until
    // the throttle answers; then the right password, at once, is throttled too.)
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) && statuses.len() < 20 {
        statuses.push(sign_in(&app, "bob", "wrong password!!").await.status().as_u16());
    }
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses.len() >= 6, "at least 5 attempts are allowed first: {statuses:?}");
    let res = sign_in(&app, "bob", PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("Too many sign-in attempts"));
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("leadline_admin_sign_ins_total{outcome=\"throttled\"}"), "on-call sees the guessing");
    app.stop().await;
}

fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn the_lead_page_has_a_reply_box_for_agents_and_not_for_viewers() {
    let app = TestApp::spawn_with(|s| s.server.rate_limit_per_ip_per_sec = 0).await;
    assert_eq!(app.post_lead(&lead_with_consent(LEAD, "op-5")).await.status(), 202);
    app.twilio.wait_for(LEAD, 1).await;
    assert_eq!(app.inbound(LEAD, "Can I see it tomorrow?", "SMin-5").await.status(), 200);
    operator(&app, "ana.agent", "agent").await;
    operator(&app, "victor", "viewer").await;
    let http = no_redirects();
    let lead_page = format!("{}/admin/leads/{}", app.base, urlencode(LEAD));

    let agent = cookie_of(&sign_in(&app, "ana.agent", PASSWORD).await);
    let html = http.get(&lead_page).header("cookie", &agent).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Can I see it tomorrow?"), "the lead's reply is in the thread");
    assert!(html.contains("id=\"reply-form\""));
    let csrf = csrf_of(&html);
    let res = http
        .post(format!("{lead_page}/reply"))
        .header("cookie", &agent)
        .form(&[("csrf", csrf.as_str()), ("body", "Yes! 10am works?")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("done=replied"), "{location}");
    assert_eq!(app.twilio.wait_for(LEAD, 2).await.last().unwrap().body(), "Yes! 10am works?");
    let html = http
        .get(format!("{}{location}", app.base))
        .header("cookie", &agent)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Your reply is queued"), "notice");
    assert!(html.contains("by ana.agent"), "the thread names who answered");
    // Agents do not manage operators.
    let res = http.get(format!("{}/admin/operators", app.base)).header("cookie", &agent).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("needs the admin role"));

    let viewer = cookie_of(&sign_in(&app, "victor", PASSWORD).await);
    let html = http.get(&lead_page).header("cookie", &viewer).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("id=\"reply-form\"") && html.contains("Replying needs the agent role"));
    assert!(!html.contains("id=\"freeze\"") && html.contains("Freezing and unfreezing need the agent role"));
    // Watching for replies: the page reloads itself, and has no reply box to lose text from.
    let watch =
        http.get(format!("{lead_page}?watch=1")).header("cookie", &agent).send().await.unwrap().text().await.unwrap();
    assert!(watch.contains("http-equiv=\"refresh\"") && !watch.contains("id=\"reply-form\""));
    let csrf = csrf_of(&html);
    let res = http
        .post(format!("{lead_page}/reply"))
        .header("cookie", &viewer)
        .form(&[("csrf", csrf.as_str()), ("body", "sneaky")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("This needs the agent role"));
    assert_eq!(app.twilio.received_for(LEAD).len(), 2, "nothing more was sent");

    // The bootstrap admin (shared token) manages operators on the page.
    let res = http
        .post(format!("{}/admin/login", app.base))
        .form(&[("token", ADMIN_TOKEN), ("next", "/admin/operators")])
        .send()
        .await
        .unwrap();
    let admin = cookie_of(&res);
    let html = http
        .get(format!("{}/admin/operators", app.base))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("ana.agent") && html.contains("victor"));
    let csrf = csrf_of(&html);
    let res = http
        .post(format!("{}/admin/operators/victor/token", app.base))
        .header("cookie", &admin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let token = html.split("id=\"token-value\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    assert!(token.starts_with("llop_"));
    assert_eq!(call(&app, "GET", &token, &format!("/v1/admin/leads/{}", urlencode(LEAD)), None).await.0, 200);

    // A new password from the page ends the operator's sessions; the new one works.
    let res = http
        .post(format!("{}/admin/operators/ana.agent/password", app.base))
        .header("cookie", &admin)
        .form(&[("csrf", csrf.as_str()), ("password", "another long passphrase")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(http.get(&lead_page).header("cookie", &agent).send().await.unwrap().status(), 303, "signed out");
    assert_eq!(sign_in(&app, "ana.agent", "another long passphrase").await.status(), 303);
    let res = http
        .post(format!("{}/admin/operators/ana.agent/password", app.base))
        .header("cookie", &admin)
        .form(&[("csrf", csrf.as_str()), ("password", "short")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "a short password is refused with a readable page");
    app.stop().await;
}
