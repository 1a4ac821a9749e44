//! `spawn_app`: the real service on an ephemeral port, a temporary data dir, a manual
//! clock and the fake Twilio. Set `TEST_LOG=1` to see the service's logs.

use super::fake_twilio::FakeTwilio;
use chrono::{DateTime, TimeZone, Utc};
use leadline::config::{ProviderKind, Secrets, Settings};
use leadline::integrations::twilio::signature::twilio_signature;
use leadline::startup::Application;
use leadline_core::clock::ManualClock;
use serde_json::{json, Value};
use std::sync::{Arc, LazyLock};

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const TWILIO_TOKEN: &str = "test-twilio-token";
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
pub const FROM: &str = "+12125550100";
pub const PUBLIC_URL: &str = "https://leadline.example.com";

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt().with_env_filter("info,leadline=debug").try_init();
    }
});

/// Thursday 2026-11-26 18:00 UTC = 13:00 in New York, 10:00 in Seattle: inside every US window.
pub fn weekday_midday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0).unwrap()
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub twilio: FakeTwilio,
    pub clock: ManualClock,
    pub settings: Settings,
    pub dir: Arc<tempfile::TempDir>,
    /// The secrets the app runs with (kept across `restart`).
    pub secrets: Secrets,
    app: Option<Application>,
}

pub fn test_settings(dir: &std::path::Path, twilio: &FakeTwilio) -> Settings {
    let mut s = Settings::defaults().expect("built-in config is valid");
    s.server.bind = "127.0.0.1:0".parse().unwrap();
    s.server.public_url = PUBLIC_URL.parse().unwrap();
    s.server.max_body_bytes = 16 * 1024;
    s.server.shutdown_grace_ms = 3000;
    s.storage.path = dir.join("data");
    s.gateway.provider = ProviderKind::Twilio;
    s.gateway.limits.account_mps = std::num::NonZeroU32::new(100).unwrap();
    s.gateway.limits.sender_mps = std::num::NonZeroU32::new(100).unwrap();
    s.gateway.retry.base_delay_ms = 20;
    s.gateway.retry.max_delay_ms = 100;
    s.gateway.twilio.api_base = twilio.base_url.parse().unwrap();
    s.gateway.twilio.account_sid = ACCOUNT_SID.into();
    s.gateway.twilio.from_numbers = vec![FROM.into()];
    s.gateway.twilio.timeout_ms = 2000;
    s
}

fn secrets() -> Secrets {
    Secrets {
        admin_token: Some(ADMIN_TOKEN.into()),
        twilio_auth_token: Some(TWILIO_TOKEN.into()),
        ..Secrets::default()
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        LazyLock::force(&TRACING);
        let twilio = FakeTwilio::start().await;
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut settings = test_settings(dir.path(), &twilio);
        tweak(&mut settings);
        let clock = ManualClock::new(weekday_midday());
        Self::boot(settings, twilio, clock, dir).await
    }

    /// Like `spawn_with`, with the secrets changed too (webhook secret, FUB and RESO keys).
    pub async fn spawn_with_secrets(
        tweak: impl FnOnce(&mut Settings),
        tweak_secrets: impl FnOnce(&mut Secrets),
    ) -> TestApp {
        LazyLock::force(&TRACING);
        let twilio = FakeTwilio::start().await;
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut settings = test_settings(dir.path(), &twilio);
        tweak(&mut settings);
        let mut secrets = secrets();
        tweak_secrets(&mut secrets);
        let clock = ManualClock::new(weekday_midday());
        Self::boot_with(settings, secrets, twilio, clock, dir).await
    }

    async fn boot(settings: Settings, twilio: FakeTwilio, clock: ManualClock, dir: Arc<tempfile::TempDir>) -> TestApp {
        Self::boot_with(settings, secrets(), twilio, clock, dir).await
    }

    async fn boot_with(
        settings: Settings,
        secrets: Secrets,
        twilio: FakeTwilio,
        clock: ManualClock,
        dir: Arc<tempfile::TempDir>,
    ) -> TestApp {
        let app =
            Application::build(settings.clone(), secrets.clone(), Arc::new(clock.clone())).await.expect("app builds");
        TestApp {
            secrets,
            base: format!("http://{}", app.address()),
            client: reqwest::Client::new(),
            twilio,
            clock,
            settings,
            dir,
            app: Some(app),
        }
    }

    /// Graceful stop, then a new process-equivalent on the same data dir, fake Twilio and clock.
    pub async fn restart(mut self) -> TestApp {
        self.app.take().unwrap().stop().await.expect("clean stop");
        let (settings, secrets) = (self.settings.clone(), self.secrets.clone());
        Self::boot_with(settings, secrets, self.twilio.clone(), self.clock.clone(), self.dir.clone()).await
    }

    /// Runs a RESO poll now (the app must have `integrations.reso.enabled = true`).
    pub async fn reso_poll(&self) -> anyhow::Result<leadline::integrations::reso::PollReport> {
        self.app.as_ref().expect("app is running").reso_poll_now().await
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await.expect("clean stop");
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).json(body).send().await.unwrap()
    }

    pub async fn post_lead(&self, body: &Value) -> reqwest::Response {
        self.post_json("/v1/events/leads", body).await
    }

    /// A signed Twilio webhook (form-encoded), exactly as Twilio would send it.
    pub async fn twilio_webhook(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let signature = twilio_signature(&format!("{PUBLIC_URL}{path}"), &owned, TWILIO_TOKEN);
        self.client
            .post(format!("{}{path}", self.base))
            .header("X-Twilio-Signature", signature)
            .form(&owned)
            .send()
            .await
            .unwrap()
    }

    /// A reply from a lead. `sid` makes it unique (Twilio's MessageSid).
    pub async fn inbound(&self, from: &str, body: &str, sid: &str) -> reqwest::Response {
        self.twilio_webhook(
            "/v1/twilio/inbound",
            &[
                ("MessageSid", sid),
                ("AccountSid", ACCOUNT_SID),
                ("From", from),
                ("To", FROM),
                ("Body", body),
                ("NumMedia", "0"),
            ],
        )
        .await
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap()
    }

    pub async fn admin_post(&self, path: &str, body: Option<Value>) -> reqwest::Response {
        let req = self.client.post(format!("{}{path}", self.base)).bearer_auth(ADMIN_TOKEN);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        req.send().await.unwrap()
    }

    pub async fn lead(&self, phone: &str) -> Value {
        let res = self.admin_get(&format!("/v1/admin/leads/{}", urlencode(phone))).await;
        assert_eq!(res.status(), 200, "lead {phone} should exist");
        res.json().await.unwrap()
    }

    pub async fn timeline(&self, phone: &str) -> Vec<Value> {
        let res = self.admin_get(&format!("/v1/admin/leads/{}/timeline", urlencode(phone))).await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["entries"].as_array().unwrap().clone()
    }

    /// Waits (bounded) until the lead's timeline has an entry of this kind, and returns the timeline.
    pub async fn wait_timeline(&self, phone: &str, kind: &str) -> Vec<Value> {
        for _ in 0..250 {
            let t = self.timeline(phone).await;
            if t.iter().any(|e| e["kind"] == kind) {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.timeline(phone).await
    }
}

pub fn urlencode(s: &str) -> String {
    s.replace('+', "%2B")
}

/// A lead with complete consent, as the example in docs/http-api.md.
pub fn lead_with_consent(phone: &str, source_lead_id: &str) -> Value {
    json!({
        "source": "zillow", "source_lead_id": source_lead_id,
        "phone": phone, "first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com",
        "listing": {"id": "MLS-123", "address": "123 Main St", "price": 450000},
        "message": "Is this still available?",
        "consent": {"granted_at": "2026-11-26T14:03:00Z",
                    "source_url": "https://agent.example.com/listing/123",
                    "disclosure": "By checking this box I agree to receive automated texts from Acme Realty ...",
                    "ip": "203.0.113.9", "user_agent": "Mozilla/5.0"},
        "occurred_at": "2026-11-26T14:03:05Z"
    })
}

pub fn kinds_and_rules(timeline: &[Value]) -> Vec<(String, String)> {
    timeline
        .iter()
        .map(|e| (e["kind"].as_str().unwrap_or("").to_string(), e["rule"].as_str().unwrap_or("").to_string()))
        .collect()
}
