//! The real `leadline` binary as a child process, configured only through environment
//! variables (`LEADLINE__SECTION__KEY` and the secrets), plus a small HTTP client that
//! signs what it sends the way each sender would.

#![allow(dead_code)] // each suite uses a different part

use leadline::integrations::signature::leadline_signature;
use leadline::integrations::twilio::signature::twilio_signature;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "crash-admin-token-5b8e1f";
pub const TWILIO_TOKEN: &str = "crash-twilio-token-9c2d7a";
pub const WEBHOOK_SECRET: &str = "crash-webhook-secret-3e4f60";
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000042";
pub const FROM: &str = "+12125550100";
/// What Twilio signs; independent of the port the binary listens on.
pub const PUBLIC_URL: &str = "https://leadline.test";

/// The environment every suite starts the binary with: Twilio provider pointed at the fake,
/// fast scheduler, no quiet hours or daily caps in the way (the suites test durability and
/// robustness, not the compliance calendar, and must pass at any hour of the day).
pub fn base_env(data_dir: &Path, twilio_base: &str) -> Vec<(String, String)> {
    let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
    vec![
        kv("LEADLINE__SERVER__PUBLIC_URL", PUBLIC_URL),
        kv("LEADLINE__STORAGE__PATH", &data_dir.display().to_string()),
        kv("LEADLINE__GATEWAY__PROVIDER", "twilio"),
        kv("LEADLINE__GATEWAY__TWILIO__API_BASE", twilio_base),
        kv("LEADLINE__GATEWAY__TWILIO__ACCOUNT_SID", ACCOUNT_SID),
        kv("LEADLINE__GATEWAY__TWILIO__FROM_NUMBERS", &format!("[\"{FROM}\"]")),
        kv("LEADLINE__GATEWAY__TWILIO__TIMEOUT_MS", "3000"),
        kv("LEADLINE__GATEWAY__LIMITS__ACCOUNT_MPS", "1000"),
        kv("LEADLINE__GATEWAY__LIMITS__SENDER_MPS", "1000"),
        kv("LEADLINE__GATEWAY__RETRY__BASE_DELAY_MS", "20"),
        kv("LEADLINE__GATEWAY__RETRY__MAX_DELAY_MS", "200"),
        kv("LEADLINE__SCHEDULER__TICK_MS", "50"),
        kv("LEADLINE__COMPLIANCE__MAX_AUTOMATED_PER_24H", "100000"),
        kv("LEADLINE__COMPLIANCE__QUIET_HOURS__FEDERAL", "{start=\"00:00\",end=\"23:59:59\"}"),
        kv("LEADLINE__COMPLIANCE__QUIET_HOURS__INHERIT_BUILTIN_STATES", "false"),
        kv("LEADLINE__SERVER__SHUTDOWN_GRACE_MS", "3000"),
        kv("LEADLINE__LOG__FILTER", "warn"),
        kv("LEADLINE_ADMIN_TOKEN", ADMIN_TOKEN),
        kv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        kv("LEADLINE_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ]
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Server {
    child: tokio::process::Child,
    pub base: String,
    pub pid: u32,
    pub stderr_path: PathBuf,
    pub client: Client,
}

impl Server {
    /// Starts `leadline serve` with exactly `env` (nothing inherited) and waits until
    /// `/healthz` answers. `work_dir` holds its stderr (`stderr-<n>.log`).
    pub async fn start(work_dir: &Path, env: &[(String, String)]) -> Server {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Self::try_start(work_dir, env).await {
                Ok(s) => return s,
                // The port we picked was taken meanwhile: pick another.
                Err(e) if Instant::now() < deadline && e.contains("cannot listen") => continue,
                Err(e) => panic!("leadline did not start: {e}"),
            }
        }
    }

    async fn try_start(work_dir: &Path, env: &[(String, String)]) -> Result<Server, String> {
        let port = free_port();
        let n = std::fs::read_dir(work_dir).map(|d| d.count()).unwrap_or(0);
        let stderr_path = work_dir.join(format!("stderr-{n}-{port}.log"));
        // The service logs to stdout (tracing's default); both streams go to one file.
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let stdout = stderr.try_clone().unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadline"));
        cmd.arg("serve")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("LEADLINE__SERVER__BIND", format!("127.0.0.1:{port}"))
            .current_dir(work_dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
        let pid = child.id().unwrap_or(0);
        let base = format!("http://127.0.0.1:{port}");
        let client = Client::new(&base);
        // Above the 60 s a cluster node waits for JetStream before it serves (a NATS cluster
        // that is starting elects its leaders first; slow on 2 busy cores).
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                return Err(format!("exited with {status}: {}", tail(&log, 2000)));
            }
            if let Ok(r) = client.http.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    return Ok(Server { child, base, pid, stderr_path, client });
                }
            }
            if Instant::now() > deadline {
                let _ = child.start_kill();
                return Err("no /healthz within 90 s".into());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL (`Child::kill` is SIGKILL on Unix), then reap.
    pub async fn kill9(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then wait (bounded) for a graceful exit; returns whether it exited 0.
    pub async fn terminate(mut self) -> bool {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => {
                let _ = self.child.start_kill();
                false
            }
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Resident set size (kB) and open file descriptors of the process, from /proc.
    pub fn rss_kb_and_fds(&self) -> (u64, usize) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let rss = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map(|d| d.count()).unwrap_or(0);
        (rss, fds)
    }
}

pub fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

pub fn urlencode(phone: &str) -> String {
    phone.replace('+', "%2B")
}

/// A client that speaks to one running binary, signing like the real senders.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(10)).pool_max_idle_per_host(64).build().unwrap();
        Client { base: base.to_string(), http }
    }

    /// `POST /v1/events/*` signed with `X-Leadline-Signature`.
    pub async fn post_event(&self, path: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
        let raw = serde_json::to_vec(body).unwrap();
        let sig = leadline_signature(&raw, WEBHOOK_SECRET);
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-leadline-signature", sig)
            .body(raw)
            .send()
            .await
    }

    /// A Twilio webhook form, signed with the auth token over the public URL.
    pub async fn twilio(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Result<reqwest::Response> {
        let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let sig = twilio_signature(&format!("{PUBLIC_URL}{path}"), &owned, TWILIO_TOKEN);
        self.http.post(format!("{}{path}", self.base)).header("x-twilio-signature", sig).form(&owned).send().await
    }

    /// A reply from a lead (`sid` is Twilio's MessageSid).
    pub async fn inbound(&self, from: &str, body: &str, sid: &str) -> reqwest::Result<reqwest::Response> {
        self.twilio(
            "/v1/twilio/inbound",
            &[("MessageSid", sid), ("AccountSid", ACCOUNT_SID), ("From", from), ("To", FROM), ("Body", body)],
        )
        .await
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(ADMIN_TOKEN).send().await
    }

    /// `GET` an admin path and parse its JSON (None on a non-200).
    pub async fn admin_json(&self, path: &str) -> Option<Value> {
        let res = self.admin_get(path).await.ok()?;
        if res.status() != 200 {
            return None;
        }
        res.json().await.ok()
    }

    pub async fn lead(&self, phone: &str) -> Option<Value> {
        self.admin_json(&format!("/v1/admin/leads/{}", urlencode(phone))).await
    }

    pub async fn timeline(&self, phone: &str) -> Vec<Value> {
        self.admin_json(&format!("/v1/admin/leads/{}/timeline?limit=1000", urlencode(phone)))
            .await
            .and_then(|v| v["entries"].as_array().cloned())
            .unwrap_or_default()
    }

    pub async fn dead_letters(&self) -> Vec<Value> {
        self.admin_json("/v1/admin/dead-letters")
            .await
            .and_then(|v| v["dead_letters"].as_array().cloned())
            .unwrap_or_default()
    }
}

/// A lead body with complete consent (granted an hour ago by the real clock: the binary
/// runs on the system clock).
pub fn lead_body(phone: &str, source_lead_id: &str, listing_id: &str, first_name: &str) -> Value {
    let granted = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    serde_json::json!({
        "source": "zillow", "source_lead_id": source_lead_id,
        "phone": phone, "first_name": first_name, "last_name": "Ruiz",
        "listing": {"id": listing_id, "address": format!("{listing_id} Main St"), "price": 500000},
        "message": "Is this still available?",
        "consent": {"granted_at": granted,
                    "source_url": "https://agent.example.com/listing/123",
                    "disclosure": "By checking this box I agree to receive automated texts from Acme Realty.",
                    "ip": "203.0.113.9", "user_agent": "Mozilla/5.0"},
    })
}

/// Distinct valid US numbers: +1 <area> 555 01xx style, validated through `Phone::parse`.
pub fn phones(prefix_area: &[&str], count: usize, offset: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(count);
    let mut i = offset;
    while out.len() < count {
        let area = prefix_area[i % prefix_area.len()];
        let line = i / prefix_area.len();
        let candidate = format!("+1{area}555{:04}", line % 10_000);
        if leadline_core::Phone::parse(&candidate).is_ok_and(|p| p.as_str() == candidate) {
            out.push(candidate);
        }
        i += 1;
        assert!(i < offset + count * 10 + 1000, "could not generate enough valid phone numbers");
    }
    out
}
