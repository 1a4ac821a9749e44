//! The admin web page in a real browser: Debian's headless Chromium, driven through
//! chromedriver (WebDriver) with fantoccini, against the real service (`TestApp`: port 0,
//! fake Twilio, manual clock).
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages `chromium` and
//! `chromium-driver`; `.ci/run` installs them). Without them the test fails when `CI` is
//! set and is skipped (with a message) otherwise.
//!
//! Screenshots of every step, at a laptop and a phone window size, are saved as PNG under
//! `target/browser-artifacts/` (with chromedriver's log), for a person to look at.

#[path = "../support/fake_twilio.rs"]
mod fake_twilio;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use anyhow::{bail, ensure, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};
use helpers::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ANA: &str = "+12125550142";
const BOB: &str = "+12125550177";
const CY: &str = "+12125550188";
const LAPTOP: (u32, u32) = (1366, 900);
const PHONE: (u32, u32) = (390, 844);
const WAIT: Duration = Duration::from_secs(15);

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("browser-artifacts");
    std::fs::create_dir_all(&dir).expect("cannot create target/browser-artifacts");
    dir
}

/// chromedriver, started on a free port; killed (with its browser) when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(log: &Path) -> Result<Driver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log_file = std::fs::File::create(log)?;
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}")).stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
        // Its own process group, so that the browser it starts can be ended with it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().with_context(|| format!("cannot start {CHROMEDRIVER}"))?;
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(res) = http.get(format!("{}/status", driver.url)).send().await {
                if res.status().is_success() {
                    return Ok(driver);
                }
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not become ready on {} (see {})", driver.url, log.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The process group id is chromedriver's pid (process_group(0) above).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_browser(driver: &Driver, profile: &Path) -> Result<Client> {
    let args = [
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={},{}", LAPTOP.0, LAPTOP.1),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    let Value::Object(caps) = caps else { unreachable!() };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .context("cannot open a Chromium session through chromedriver")?;
    Ok(client)
}

struct Run<'a> {
    c: &'a Client,
    app: &'a TestApp,
    dir: PathBuf,
}

impl Run<'_> {
    async fn goto(&self, path: &str) -> Result<()> {
        self.c.goto(&format!("{}{path}", self.app.base)).await?;
        Ok(())
    }

    async fn wait_for(&self, css: &str) -> Result<fantoccini::elements::Element> {
        self.c.wait().at_most(WAIT).for_element(Locator::Css(css)).await.with_context(|| format!("waiting for {css}"))
    }

    async fn wait_url(&self, part: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.c.current_url().await?;
            if url.as_str().contains(part) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the browser is at {url}, expected an address with '{part}'");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn body_text(&self) -> Result<String> {
        Ok(self.c.find(Locator::Css("body")).await?.text().await?)
    }

    async fn size(&self, (w, h): (u32, u32)) -> Result<()> {
        self.c.set_window_size(w, h).await?;
        Ok(())
    }

    /// A screenshot of the whole page at the current width (the window grows to the page's
    /// height for the shot, up to 5000 px, and then goes back).
    async fn shot(&self, name: &str) -> Result<()> {
        let (w, h) = self.c.get_window_size().await?;
        let v = self.c.execute("return [document.documentElement.scrollHeight, window.innerHeight]", vec![]).await?;
        let (page_h, inner_h) = (v[0].as_u64().unwrap_or(h), v[1].as_u64().unwrap_or(h));
        // The window's outer height exceeds the viewport by the browser's frame.
        let frame = h.saturating_sub(inner_h);
        let tall = (page_h + frame).clamp(h, 5000);
        self.c.set_window_size(w as u32, tall as u32).await?;
        let png = self.c.screenshot().await?;
        self.c.set_window_size(w as u32, h as u32).await?;
        ensure!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        let path = self.dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        println!("screenshot: {}", path.display());
        Ok(())
    }

    /// A screenshot of what the window shows, after scrolling `css` (if any) to the top.
    async fn shot_view(&self, name: &str, css: Option<&str>) -> Result<()> {
        if let Some(css) = css {
            let el = self.wait_for(css).await?;
            self.c.execute("arguments[0].scrollIntoView(true)", vec![serde_json::to_value(&el)?]).await?;
        }
        let png = self.c.screenshot().await?;
        ensure!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        let path = self.dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        println!("screenshot: {}", path.display());
        Ok(())
    }

    /// The page fits the window's width: nothing scrolls sideways (the phone layout works).
    async fn fits_width(&self) -> Result<()> {
        let v = self.c.execute("return [document.documentElement.scrollWidth, window.innerWidth]", vec![]).await?;
        let (scroll, inner) = (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0));
        ensure!(scroll <= inner, "the page is {scroll} px wide in a {inner} px window");
        Ok(())
    }
}

async fn create_leads(app: &TestApp) -> Result<()> {
    let res = app.post_lead(&lead_with_consent(ANA, "Z-1")).await;
    ensure!(res.status() == 202, "lead Ana: {}", res.status());
    ensure!(app.twilio.wait_for(ANA, 1).await.len() == 1, "Ana's first text was not sent");
    let res = app.inbound(ANA, "Is it still available? Could I see it Saturday?", "SM-browser-1").await;
    ensure!(res.status() == 200, "Ana's reply: {}", res.status());

    // Bob came without consent: his first text is blocked, and the page must show why.
    let mut bob = lead_with_consent(BOB, "Z-2");
    bob["first_name"] = json!("Bob");
    bob["last_name"] = json!("Stone");
    bob["source"] = json!("realtor");
    bob["listing"] = json!({"id": "MLS-9", "address": "9 Elm St", "price": 300000});
    bob.as_object_mut().unwrap().remove("consent");
    let res = app.post_lead(&bob).await;
    ensure!(res.status() == 202, "lead Bob: {}", res.status());

    // Cy's first text is refused by the provider: a dead letter to review.
    app.twilio.script([fake_twilio::Reply::Error(
        400,
        21606,
        "The 'From' phone number is not a valid, SMS-capable number",
    )]);
    let mut cy = lead_with_consent(CY, "Z-3");
    cy["first_name"] = json!("Cy");
    cy["last_name"] = json!("Vance");
    let res = app.post_lead(&cy).await;
    ensure!(res.status() == 202, "lead Cy: {}", res.status());
    for _ in 0..250 {
        let v: Value = app.admin_get("/v1/admin/dead-letters").await.json().await?;
        if v["count"] == 1 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("Cy's text never reached the dead letters")
}

async fn steps(r: &Run<'_>) -> Result<()> {
    let app = r.app;
    r.size(LAPTOP).await?;

    // Not signed in: /admin sends the browser to the sign-in form.
    r.goto("/admin").await?;
    r.wait_for("#token").await?;
    r.wait_url("/admin/login").await?;
    r.shot("01-laptop-sign-in").await?;

    // A wrong token is refused with a readable message.
    r.wait_for("#token").await?.send_keys("not-the-token").await?;
    r.wait_for("#sign-in").await?.click().await?;
    r.wait_for(".alert").await?;
    ensure!(r.body_text().await?.contains("That token is not right"), "no message for a wrong token");

    r.wait_for("#token").await?.send_keys(ADMIN_TOKEN).await?;
    r.wait_for("#sign-in").await?.click().await?;
    r.wait_for("#q").await?;
    let text = r.body_text().await?;
    ensure!(text.contains("Ana Ruiz") && text.contains("Bob Stone"), "the lead list shows both leads:\n{text}");
    r.shot("02-laptop-leads").await?;

    // Search by name.
    r.wait_for("#q").await?.send_keys("ruiz").await?;
    r.wait_for("#search").await?.click().await?;
    r.wait_url("q=ruiz").await?;
    let results = r.wait_for("#results").await?.text().await?;
    ensure!(results.contains("Ana Ruiz") && results.contains(ANA), "search results: {results}");
    ensure!(!results.contains("Bob Stone"), "Bob does not match 'ruiz': {results}");
    r.shot("03-laptop-search").await?;

    // Open Ana.
    r.c.find(Locator::LinkText("Ana Ruiz")).await?.click().await?;
    r.wait_for("#freeze").await?;
    let text = r.body_text().await?;
    ensure!(text.contains("Could I see it Saturday?"), "the conversation shows Ana's reply");
    ensure!(text.contains("STOP to opt out."), "the conversation shows our first text");
    ensure!(text.contains("https://agent.example.com/listing/123"), "the consent's source URL is shown");
    r.shot("04-laptop-lead").await?;

    // Freeze with a reason.
    let reason = "Agent is handling this lead by phone";
    r.wait_for("#reason").await?.send_keys(reason).await?;
    r.wait_for("#freeze").await?.click().await?;
    let banner = r.wait_for("#frozen-banner").await?.text().await?;
    ensure!(banner.contains("Frozen") && banner.contains(reason), "frozen banner: {banner}");
    ensure!(r.wait_for("#frozen-badge").await?.text().await? == "Frozen");
    ensure!(r.body_text().await?.contains("Automation frozen for this lead."));
    r.wait_for("#unfreeze").await?;
    r.shot("05-laptop-lead-frozen").await?;

    // The JSON API agrees.
    let lead = app.lead(ANA).await;
    ensure!(lead["frozen"] == true, "the API says frozen: {lead}");
    ensure!(lead["frozen_reason"] == reason, "the API has the reason: {lead}");
    let timeline = app.timeline(ANA).await;
    ensure!(
        timeline.iter().any(|e| e["rule"] == "admin.freeze" && e["detail"].as_str().unwrap_or("").contains(reason)),
        "the freeze is on the timeline"
    );

    // Bob's page shows the blocked text and its rule.
    r.goto(&format!("/admin/leads/{}", urlencode(BOB))).await?;
    let blocked = r.wait_for("#timeline tr.blocked").await?.text().await?;
    ensure!(blocked.contains("consent."), "the blocked row names its consent rule: {blocked}");
    let held = r.wait_for("#held").await?.text().await?;
    ensure!(held.contains("consent.") && held.contains("blocked"), "the blocked text is summarised on top: {held}");
    r.shot("06-laptop-lead-blocked").await?;

    // Dead letters: Cy's refused text, then Retry.
    r.goto("/admin/dead-letters").await?;
    let table = r.wait_for("#dead-letters").await?.text().await?;
    ensure!(table.contains("provider.21606") && table.contains(CY), "dead letters: {table}");
    r.shot("07-laptop-dead-letters").await?;

    // The phone layout: the same pages in a phone-size window, nothing scrolls sideways.
    r.size(PHONE).await?;
    let inner = r.c.execute("return window.innerWidth", vec![]).await?;
    ensure!(inner.as_u64().unwrap_or(0) <= u64::from(PHONE.0), "phone-size window: innerWidth {inner}");
    r.fits_width().await?;
    r.shot("08-phone-dead-letters").await?;
    r.c.find(Locator::Css("#dead-letters button[type=submit]")).await?.click().await?;
    r.wait_url("done=retried").await?;
    ensure!(r.body_text().await?.contains("No dead letters"), "retry emptied the dead letters");
    ensure!(app.twilio.wait_for(CY, 1).await.len() == 1, "the retried text was sent once");

    r.goto("/admin/leads?q=ruiz").await?;
    r.wait_for("#results").await?;
    r.fits_width().await?;
    r.shot("09-phone-search").await?;

    r.goto(&format!("/admin/leads/{}", urlencode(ANA))).await?;
    r.wait_for("#frozen-banner").await?;
    r.fits_width().await?;
    r.shot_view("10-phone-lead-frozen", None).await?;
    r.shot_view("11-phone-lead-conversation", Some("#conversation")).await?;
    r.shot_view("12-phone-lead-timeline", Some("#timeline")).await?;
    r.shot("13-phone-lead-full").await?;

    // Unfreeze from the phone.
    r.wait_for("#unfreeze").await?.click().await?;
    r.wait_url("done=unfrozen").await?;
    r.wait_for("#freeze").await?;
    ensure!(app.lead(ANA).await["frozen"] == false, "the API says unfrozen");

    // Sign out: the pages need signing in again.
    r.size(LAPTOP).await?;
    r.wait_for("header form button[type=submit]").await?.click().await?;
    r.wait_for("#token").await?;
    r.goto(&format!("/admin/leads/{}", urlencode(ANA))).await?;
    r.wait_for("#token").await?;
    r.wait_url("/admin/login").await?;
    Ok(())
}

/// Signs in on the form with a name (empty: the shared token) and password.
async fn sign_in(r: &Run<'_>, name: &str, password: &str) -> Result<()> {
    r.goto("/admin/login").await?;
    r.wait_for("#token").await?;
    if !name.is_empty() {
        r.wait_for("#name").await?.send_keys(name).await?;
    }
    r.wait_for("#token").await?.send_keys(password).await?;
    r.wait_for("#sign-in").await?.click().await?;
    r.wait_for("#q").await?;
    Ok(())
}

/// Signs out (the header's button, or its link on an error page).
async fn sign_out(r: &Run<'_>) -> Result<()> {
    match r.c.find(Locator::Css("header form button[type=submit]")).await {
        Ok(button) => button.click().await?,
        Err(_) => r.goto("/admin/logout").await?,
    }
    r.wait_for("#token").await?;
    Ok(())
}

/// The operator console: an agent signs in under their own name, sees the lead's reply and
/// answers it from the page (the text goes out through the gateway, the timeline names the
/// agent); a viewer cannot; an admin manages operators and the do-not-contact list.
async fn console_steps(r: &Run<'_>) -> Result<()> {
    let app = r.app;
    const PASSWORD: &str = "a long agent passphrase";
    for (name, role) in [("ana.agent", "agent"), ("victor", "viewer")] {
        let res = app
            .admin_post("/v1/admin/operators", Some(json!({"name": name, "role": role, "password": PASSWORD})))
            .await;
        ensure!(res.status() == 201, "operator {name}: {}", res.status());
    }
    r.size(LAPTOP).await?;

    // The agent: sees Ana's reply, answers it.
    sign_in(r, "ana.agent", PASSWORD).await?;
    ensure!(r.wait_for("#whoami").await?.text().await?.contains("ana.agent"), "the header names the agent");
    r.goto(&format!("/admin/leads/{}", urlencode(ANA))).await?;
    r.wait_for("#reply-form").await?;
    ensure!(r.body_text().await?.contains("Could I see it Saturday?"), "the agent sees Ana's reply");
    let before = app.twilio.received_for(ANA).len();
    let answer = "Hi Ana, yes! Saturday at 11 at 123 Main St works?";
    r.wait_for("#reply-body").await?.send_keys(answer).await?;
    r.shot("20-laptop-agent-reply-typed").await?;
    r.wait_for("#send-reply").await?.click().await?;
    r.wait_url("done=replied").await?;
    ensure!(r.body_text().await?.contains("Your reply is queued"), "the page says the reply is queued");
    let sent = app.twilio.wait_for(ANA, before + 1).await;
    ensure!(sent.last().map(|m| m.body()) == Some(answer), "the reply went out through the gateway as written");
    let conversation = r.wait_for("#conversation").await?.text().await?;
    ensure!(conversation.contains(answer) && conversation.contains("by ana.agent"), "thread: {conversation}");
    let timeline = app.timeline(ANA).await;
    ensure!(
        timeline
            .iter()
            .any(|e| e["kind"] == "text_queued"
                && e["detail"].as_str().unwrap_or("").contains("(by operator ana.agent)")),
        "the timeline names the agent"
    );
    r.shot_view("21-laptop-agent-reply-sent", Some("#conversation-card")).await?;
    sign_out(r).await?;

    // The viewer: reads, but has no reply box, and the operators page is not theirs.
    sign_in(r, "victor", PASSWORD).await?;
    r.goto(&format!("/admin/leads/{}", urlencode(ANA))).await?;
    r.wait_for("#conversation-card").await?;
    ensure!(r.c.find(Locator::Css("#reply-form")).await.is_err(), "a viewer has no reply box");
    ensure!(r.body_text().await?.contains("Replying needs the agent role"));
    r.shot_view("22-laptop-viewer-no-reply", Some("#conversation-card")).await?;
    r.goto("/admin/operators").await?;
    ensure!(r.wait_for("h1").await?.text().await? == "Not allowed", "a viewer cannot manage operators");
    r.shot("23-laptop-viewer-not-allowed").await?;
    sign_out(r).await?;

    // The bootstrap admin: operators, the do-not-contact list, a confirmation.
    sign_in(r, "", ADMIN_TOKEN).await?;
    r.shot("24-laptop-leads-newest-first").await?;
    r.goto("/admin/operators").await?;
    let table = r.wait_for("#operators").await?.text().await?;
    ensure!(table.contains("ana.agent") && table.contains("victor"), "operators: {table}");
    r.shot("25-laptop-operators").await?;
    r.goto("/admin/suppressions").await?;
    r.wait_for("#s-phone").await?.send_keys("(212) 555-0199").await?;
    r.wait_for("#s-reason").await?.send_keys("asked by phone").await?;
    r.wait_for("#add-number").await?.click().await?;
    r.wait_url("done=added").await?;
    let list = r.wait_for("#suppressions").await?.text().await?;
    ensure!(list.contains("+12125550199"), "the list shows the number: {list}");
    r.shot("26-laptop-do-not-contact").await?;
    r.c.find(Locator::Css("#suppressions button[type=submit]")).await?.click().await?;
    r.wait_for("#confirm").await?;
    r.shot("27-laptop-confirm-removal").await?;
    r.wait_for("#confirm-cancel").await?.click().await?;
    r.wait_for("#suppressions").await?;
    // A CSV file through the upload form: the progress page, then the outcome.
    let csv = std::env::temp_dir().join(format!("leadline-dnc-{}.csv", std::process::id()));
    let rows: String =
        (0..12_000).map(|i| format!("+1917{:03}{:04},asked by phone\n", 300 + i / 10_000, i % 10_000)).collect();
    std::fs::write(&csv, format!("phone,reason\n{rows}not a phone,x\n"))?;
    r.wait_for("#s-file").await?.send_keys(&csv.display().to_string()).await?;
    r.wait_for("#upload").await?.click().await?;
    r.wait_url("/admin/suppressions/uploads/").await?;
    let done = r.wait_for("#upload-done").await?.text().await?;
    ensure!(done.contains("Imported 12000 number(s)"), "the upload's outcome: {done}");
    ensure!(r.body_text().await?.contains("line 12002"), "the skipped line is named");
    r.shot("27b-laptop-upload-done").await?;
    let _ = std::fs::remove_file(&csv);
    r.goto("/admin/suppressions").await?;
    r.wait_for("#suppressions").await?;
    r.size(PHONE).await?;
    r.fits_width().await?;
    r.shot("28-phone-do-not-contact").await?;
    r.size(LAPTOP).await?;
    Ok(())
}

#[tokio::test]
async fn admin_page_signs_in_searches_and_freezes_a_lead_in_chromium() {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if !missing.is_empty() {
        let msg = format!(
            "browser test: {} not found; install Debian's chromium and chromium-driver \
             (apt-get install -y --no-install-recommends chromium chromium-driver)",
            missing.join(" and ")
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg} (CI is set, so this is a failure)");
        }
        println!("SKIPPED: {msg}");
        return;
    }

    let dir = artifacts_dir();
    let app = TestApp::spawn().await;
    create_leads(&app).await.expect("test data");
    let driver = Driver::start(&dir.join("chromedriver.log")).await.expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let client = open_browser(&driver, profile.path()).await.expect("a browser session");

    let run = Run { c: &client, app: &app, dir: dir.clone() };
    let mut result = steps(&run).await;
    if result.is_ok() {
        result = console_steps(&run).await;
    }
    if result.is_err() {
        let _ = run.shot("zz-failure").await;
    }
    let _ = client.close().await;
    drop(driver);
    app.stop().await;
    if let Err(e) = result {
        panic!("admin page in Chromium: {e:#}\n(screenshots in {})", dir.display());
    }
}
