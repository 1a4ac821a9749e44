//! `leadline-load`: the load harness and scale probes behind docs/performance.md.
//!
//! By default it starts the real service in-process (`Application::build`) on a temporary
//! data dir with the dry-run provider, drives realistic mixed traffic over HTTP (new leads
//! with consent, signed Twilio replies and STOPs, CRM changes, MLS price drops fanning out,
//! delivery receipts) and prints acknowledged events/s, latency percentiles, errors by
//! status, peak RSS and the data dir size. In the same run it measures the **ceiling**: a
//! trivial axum handler that reads the body and answers 202, under the same load settings.
//!
//! ```text
//! leadline-load --mode closed --concurrency 64 --duration 20     # the max (closed loop)
//! leadline-load --mode open --rate 2000 --duration 20            # latency at a fixed rate
//! leadline-load --mode max-then-half --duration 20               # the max, then p99 at half of it
//! leadline-load --durability power                               # with fsync before every ack
//! leadline-load --target http://127.0.0.1:8080                   # a running service (loopback only)
//! leadline-load --probe million [--leads N] [--via store|http]   # 1M leads: RSS, bytes/lead, restart
//! leadline-load --probe fanout                                   # one price drop to 10,000 leads
//! ```
//!
//! Everything is bounded in time and talks to 127.0.0.1 only. Figures are printed, never asserted.

use anyhow::{bail, Context};
use chrono::{DateTime, TimeZone, Utc};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use leadline::config::{ProviderKind, Secrets, Settings};
use leadline::integrations::twilio::signature::twilio_signature;
use leadline::startup::Application;
use leadline_core::actors::lead::Prepared;
use leadline_core::clock::{Clock, SystemClock};
use leadline_core::decide::{decide, Decision};

/// mimalloc instead of glibc's malloc: allocation was a quarter of the service's CPU
/// under load (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use leadline_core::model::{ConsentInput, Event, LeadCapture, LeadState, ListingRef, SendResult};
use leadline_core::policy::Policy;
use leadline_core::storage::{Durability, OutboxStatus, Store};
use leadline_core::{Phone, Ts};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TWILIO_TOKEN: &str = "leadline-load-twilio-token";
/// No run, phase or wait of the harness lasts longer than this.
const MAX_PHASE: Duration = Duration::from_secs(1800);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// N workers, each sends its next request as soon as the previous one is answered.
    Closed,
    /// Requests scheduled at a fixed rate; latency counts from the intended send time.
    Open,
    /// A closed run to find the max, then an open run at half of it.
    MaxThenHalf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Probe {
    /// Store N leads, report RSS and bytes per lead, restart, time to ready and first cold event.
    Million,
    /// One MLS price drop to a listing with 10,000 interested leads.
    Fanout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Via {
    /// Through `Store::commit_lead` in-process, with states the real decision core produced.
    Store,
    /// Through the service's HTTP API (POST /v1/events/leads).
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DurabilityArg {
    Process,
    Power,
}

impl From<DurabilityArg> for Durability {
    fn from(d: DurabilityArg) -> Durability {
        match d {
            DurabilityArg::Process => Durability::Process,
            DurabilityArg::Power => Durability::Power,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Where {
    /// In this process (RSS then includes the load generator).
    InProcess,
    /// A child process (this binary re-executed), so its RSS is the service's alone.
    Child,
}

/// Load harness and scale probes for leadline (see docs/performance.md).
#[derive(Parser, Debug)]
#[command(about)]
struct Cli {
    /// A running leadline to load instead of starting one (must be a loopback address).
    #[arg(long)]
    target: Option<String>,
    /// The service's `server.public_url` (Twilio signatures are computed over it). Default: --target.
    #[arg(long)]
    public_url: Option<String>,
    /// Twilio auth token of the --target service (default: $TWILIO_AUTH_TOKEN).
    #[arg(long)]
    twilio_token: Option<String>,
    #[arg(long, value_enum, default_value = "closed")]
    mode: Mode,
    /// Closed loop: concurrent requests. A comma-separated list runs one measurement each.
    #[arg(long, default_value = "64", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Open loop: requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Measured seconds per run (at most 600).
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Unmeasured seconds before each run.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Open loop: at most this many requests in flight (more wait, and the wait counts as latency).
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,
    /// `storage.durability` of the service started by the harness.
    #[arg(long, value_enum, default_value = "process")]
    durability: DurabilityArg,
    /// `storage.flush_linger_us` of the service started by the harness (default: config.toml's).
    #[arg(long)]
    flush_linger_us: Option<u64>,
    /// Where the service runs when the harness starts it.
    #[arg(long, value_enum, default_value = "in-process")]
    service: Where,
    /// Skip the trivial-handler ceiling and the storage ceiling.
    #[arg(long)]
    no_ceiling: bool,
    /// Traffic mix in percent: lead,reply,crm,receipt,mls.
    #[arg(long, default_value = "35,25,20,18,2", value_delimiter = ',')]
    mix: Vec<u32>,
    /// Listings the generated leads are interested in (MLS price drops fan out to their leads).
    #[arg(long, default_value_t = 500)]
    listings: u32,
    /// The listings on the market move on by one every this many new leads, so fan-outs stop
    /// growing (a listing collects about this many new leads' interest, plus CRM saves).
    #[arg(long, default_value_t = 20)]
    listing_step: u64,
    /// Use the wall clock instead of a clock that starts on a weekday at 13:00 New York time
    /// (at night most first texts would be deferred by quiet hours).
    #[arg(long)]
    system_clock: bool,
    /// Run a scale probe instead of the load test.
    #[arg(long, value_enum)]
    probe: Option<Probe>,
    /// `--probe million`: how many leads.
    #[arg(long, default_value_t = 1_000_000)]
    leads: u64,
    /// `--probe million`: how the leads are stored.
    #[arg(long, value_enum, default_value = "store")]
    via: Via,
    /// `--probe million`: after the restart, this many CRM events to random stored leads
    /// (closed loop, concurrency 64), to see the RSS once traffic has touched the population.
    #[arg(long, default_value_t = 100_000)]
    touch: u64,
    /// `--probe million`: skip filling and restart on this data dir, filled before with
    /// `--probe million --keep-data` and the same `--leads`.
    #[arg(long)]
    reuse: Option<PathBuf>,
    /// `--probe million`: give up filling after this many seconds (the report says so).
    #[arg(long, default_value_t = 900)]
    fill_timeout: u64,
    /// `--probe fanout`: interested leads.
    #[arg(long, default_value_t = 10_000)]
    fanout_leads: u64,
    /// The account rate (`gateway.limits.account_mps`) of the service. `--probe fanout`: the rate
    /// the sends must be paced at (default 10, the shipped config's value). Load runs: unlimited
    /// unless given, so that the gateway sends as fast as the CPU allows and its work is measured.
    #[arg(long)]
    account_mps: Option<u32>,
    /// `--probe fanout`: seconds of sends to observe for pacing.
    #[arg(long, default_value_t = 10)]
    pace_secs: u64,
    /// `actors.passivate_after_ms` of the started service.
    #[arg(long)]
    passivate_ms: Option<u64>,
    /// Keep the data dir (its path is printed).
    #[arg(long)]
    keep_data: bool,
    /// Internal: serve a data dir as a child process.
    #[arg(long, hide = true)]
    serve_child: Option<PathBuf>,
    /// Internal: the child's clock starts here (RFC 3339); absent = wall clock.
    #[arg(long, hide = true)]
    clock_base: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Clock, settings, service lifecycle

/// Wall-clock progress from a fixed start, so quiet hours allow texts whenever the harness runs.
struct OffsetClock {
    base: DateTime<Utc>,
    start: Instant,
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default()
    }
}

/// Thursday 2026-11-26 18:00 UTC: 13:00 in New York, 10:00 in Seattle, inside every US window.
fn default_clock_base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0).single().unwrap_or_else(Utc::now)
}

fn make_clock(base: Option<DateTime<Utc>>) -> Arc<dyn Clock> {
    match base {
        Some(base) => Arc::new(OffsetClock { base, start: Instant::now() }),
        None => Arc::new(SystemClock),
    }
}

#[derive(Debug, Clone, Copy)]
struct ServiceOpts {
    durability: Durability,
    passivate_ms: Option<u64>,
    account_mps: Option<u32>,
    flush_linger_us: Option<u64>,
}

fn service_settings(dir: &Path, o: &ServiceOpts) -> anyhow::Result<Settings> {
    let mut s = Settings::defaults()?;
    s.server.bind = "127.0.0.1:0".parse()?;
    // All the load comes from one address: the per-client-IP limit would answer 429.
    s.server.rate_limit_per_ip_per_sec = 0;
    s.storage.path = dir.to_path_buf();
    s.storage.durability = o.durability;
    if let Some(us) = o.flush_linger_us {
        s.storage.flush_linger_us = us;
    }
    s.gateway.provider = ProviderKind::DryRun;
    let mps = NonZeroU32::new(o.account_mps.unwrap_or(1_000_000)).context("account_mps must be > 0")?;
    s.gateway.limits.account_mps = mps;
    s.gateway.limits.sender_mps = if o.account_mps.is_some() { NonZeroU32::MAX } else { mps };
    s.gateway.limits.daily_cap = 0;
    s.log.filter = "warn".into();
    if let Some(ms) = o.passivate_ms {
        s.actors.passivate_after_ms = ms;
    }
    Ok(s)
}

fn secrets() -> Secrets {
    Secrets { twilio_auth_token: Some(TWILIO_TOKEN.into()), ..Secrets::default() }
}

/// The service under load. One value per run, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Service {
    InProcess { app: Application, dir: PathBuf },
    Child { child: tokio::process::Child, pid: u32, base: String, dir: PathBuf },
    External { base: String },
}

impl Service {
    async fn start(
        at: Where,
        dir: &Path,
        o: &ServiceOpts,
        clock_base: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Service> {
        match at {
            Where::InProcess => {
                let settings = service_settings(dir, o)?;
                leadline::telemetry::init(&settings.log);
                let app = Application::build(settings, secrets(), make_clock(clock_base)).await?;
                Ok(Service::InProcess { app, dir: dir.to_path_buf() })
            }
            Where::Child => {
                let exe = std::env::current_exe()?;
                let mut cmd = tokio::process::Command::new(exe);
                cmd.arg("--serve-child").arg(dir).arg("--durability").arg(match o.durability {
                    Durability::Process => "process",
                    Durability::Power => "power",
                });
                if let Some(ms) = o.passivate_ms {
                    cmd.arg("--passivate-ms").arg(ms.to_string());
                }
                if let Some(mps) = o.account_mps {
                    cmd.arg("--account-mps").arg(mps.to_string());
                }
                if let Some(us) = o.flush_linger_us {
                    cmd.arg("--flush-linger-us").arg(us.to_string());
                }
                if let Some(b) = clock_base {
                    cmd.arg("--clock-base").arg(b.to_rfc3339());
                }
                cmd.stdout(std::process::Stdio::piped()).stdin(std::process::Stdio::null()).kill_on_drop(true);
                let mut child = cmd.spawn().context("cannot start the service child process")?;
                let pid = child.id().context("child has no pid")?;
                let stdout = child.stdout.take().context("no stdout")?;
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(stdout).lines();
                let addr = tokio::time::timeout(Duration::from_secs(120), async {
                    while let Some(line) = lines.next_line().await? {
                        if let Some(addr) = line.strip_prefix("LISTENING ") {
                            return Ok::<_, anyhow::Error>(addr.trim().to_string());
                        }
                    }
                    bail!("the service child exited before listening")
                })
                .await
                .context("the service child did not start within 120 s")??;
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                Ok(Service::Child { child, pid, base: format!("http://{addr}"), dir: dir.to_path_buf() })
            }
        }
    }

    fn base(&self) -> String {
        match self {
            Service::InProcess { app, .. } => format!("http://{}", app.address()),
            Service::Child { base, .. } | Service::External { base } => base.clone(),
        }
    }

    fn dir(&self) -> Option<&Path> {
        match self {
            Service::InProcess { dir, .. } | Service::Child { dir, .. } => Some(dir),
            Service::External { .. } => None,
        }
    }

    /// (peak, current) resident set of the process serving, in bytes.
    fn rss(&self) -> Option<(u64, u64)> {
        match self {
            Service::InProcess { .. } => proc_rss("self"),
            Service::Child { pid, .. } => proc_rss(&pid.to_string()),
            Service::External { .. } => None,
        }
    }

    fn cpu_ms(&self) -> Option<u64> {
        match self {
            Service::InProcess { .. } => proc_cpu_ms("self"),
            Service::Child { pid, .. } => proc_cpu_ms(&pid.to_string()),
            Service::External { .. } => None,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Service::InProcess { .. } => "in-process (RSS includes the load generator)",
            Service::Child { .. } => "child process (RSS is the service's alone)",
            Service::External { .. } => "external (--target)",
        }
    }

    /// Graceful stop (drain, flush). A child gets SIGTERM, then SIGKILL after 60 s.
    async fn stop(self) -> anyhow::Result<Duration> {
        let t = Instant::now();
        match self {
            Service::InProcess { app, .. } => app.stop().await?,
            Service::Child { mut child, pid, .. } => {
                let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
                match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
                    Ok(status) => {
                        let status = status?;
                        if !status.success() {
                            eprintln!("warning: service child exited with {status}");
                        }
                    }
                    Err(_) => {
                        eprintln!("warning: service child did not stop within 60 s; killing it");
                        child.kill().await?;
                    }
                }
            }
            Service::External { .. } => {}
        }
        Ok(t.elapsed())
    }
}

/// The child process: serve `dir` until SIGTERM.
async fn serve_child(cli: &Cli, dir: &Path) -> anyhow::Result<()> {
    let o = ServiceOpts {
        durability: cli.durability.into(),
        passivate_ms: cli.passivate_ms,
        account_mps: cli.account_mps,
        flush_linger_us: cli.flush_linger_us,
    };
    let base = match &cli.clock_base {
        Some(b) => Some(DateTime::parse_from_rfc3339(b)?.with_timezone(&Utc)),
        None => None,
    };
    let settings = service_settings(dir, &o)?;
    leadline::telemetry::init(&settings.log);
    let app = Application::build(settings, secrets(), make_clock(base)).await?;
    println!("LISTENING {}", app.address());
    app.run_until_signal().await
}

fn proc_status_kb(pid: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn proc_rss(pid: &str) -> Option<(u64, u64)> {
    Some((proc_status_kb(pid, "VmHWM:")? * 1024, proc_status_kb(pid, "VmRSS:")? * 1024))
}

/// User + system CPU time of a process, in milliseconds.
fn proc_cpu_ms(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10) // USER_HZ = 100 on Linux
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn fresh_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("LEADLINE_LOAD_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let stamp = Utc::now().format("%Y%m%d-%H%M%S");
    let dir = base.join(format!("leadline-load-{tag}-{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn check_loopback(url: &str) -> anyhow::Result<()> {
    let u = url::Url::parse(url).with_context(|| format!("--target {url} is not a URL"))?;
    let host = u.host_str().unwrap_or("");
    let ok = host == "localhost"
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false);
    if !ok {
        bail!("--target must be a loopback address (127.0.0.0/8, localhost, [::1]); got {host}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Traffic

/// Distinct, valid US numbers: (area code, exchange) pairs checked with the service's own
/// parser, times 10,000 line numbers.
struct Phones {
    prefixes: Vec<String>,
}

impl Phones {
    fn new() -> Phones {
        // Area codes in every US time zone (quiet hours differ), Florida (stricter state rule) included.
        const AREAS: [&str; 24] = [
            "212", "646", "718", "917", "305", "407", "813", "404", "617", "312", "773", "713", "214", "512", "303",
            "602", "415", "213", "310", "206", "503", "702", "808", "907",
        ];
        let mut prefixes = Vec::new();
        for exch in 200..1000u32 {
            for area in AREAS {
                if exch % 100 == 11 || exch == 555 || exch == 950 || exch == 958 || exch == 959 || exch == 976 {
                    continue;
                }
                let p = format!("+1{area}{exch}");
                if Phone::parse(&format!("{p}4567")).is_ok() {
                    prefixes.push(p);
                }
            }
        }
        Phones { prefixes }
    }

    fn get(&self, i: u64) -> String {
        let n = self.prefixes.len() as u64;
        format!("{}{:04}", self.prefixes[(i % n) as usize], (i / n) % 10_000)
    }

    fn capacity(&self) -> u64 {
        self.prefixes.len() as u64 * 10_000
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Lead,
    Reply,
    Stop,
    Crm,
    Receipt,
    Mls,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Lead => "lead capture",
            Kind::Reply => "inbound reply",
            Kind::Stop => "inbound STOP",
            Kind::Crm => "crm change",
            Kind::Receipt => "delivery receipt",
            Kind::Mls => "mls price drop",
        }
    }
}

struct Request {
    kind: Kind,
    path: &'static str,
    body: String,
    form: bool,
    signature: Option<String>,
}

/// The consent disclosure the generated lead forms show.
const DISCLOSURE: &str = "By checking this box I agree to receive automated texts from Acme Realty at the number \
    provided. Consent is not a condition of purchase. Reply STOP to opt out.";

const REPLIES: [&str; 8] = [
    "Is this still available?",
    "Can I see it this weekend?",
    "What are the HOA fees?",
    "Yes please send more info",
    "Does it have a garage?",
    "HELP",
    "How old is the roof?",
    "Thanks, what's the lowest they'd take?",
];
const CRM_STATUSES: [&str; 5] = ["nurture", "contacted", "appointment_set", "new", "viewing_scheduled"];

/// Generates the requests. Lead numbers are handed out in order; other events pick leads
/// that were created a while ago.
struct Traffic {
    phones: Arc<Phones>,
    /// Leads handed out so far (new-lead requests take the next index).
    next_lead: AtomicU64,
    first_lead: u64,
    listings: u32,
    /// New leads per step of the listing window (see `window`).
    listing_step: u64,
    /// Per listing slot: how many price drops it has had (each drop is a new, lower price).
    drops: Vec<AtomicU64>,
    msg_seq: AtomicU64,
    public_url: String,
    token: String,
    clock: Arc<dyn Clock>,
    /// Cumulative weights: lead, reply, crm, receipt, mls.
    cumulative: [u32; 5],
    rng: Mutex<u64>,
}

impl Traffic {
    fn new(
        phones: Arc<Phones>,
        first_lead: u64,
        cli: &Cli,
        public_url: String,
        token: String,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut cumulative = [0u32; 5];
        let mut acc = 0;
        for (i, c) in cumulative.iter_mut().enumerate() {
            acc += cli.mix.get(i).copied().unwrap_or(0);
            *c = acc;
        }
        Traffic {
            phones,
            next_lead: AtomicU64::new(first_lead),
            first_lead,
            listings: cli.listings.max(1),
            listing_step: cli.listing_step.max(1),
            drops: (0..cli.listings.max(1)).map(|_| AtomicU64::new(0)).collect(),
            msg_seq: AtomicU64::new(0),
            public_url: public_url.trim_end_matches('/').to_string(),
            token,
            clock,
            cumulative,
            rng: Mutex::new(0x9E37_79B9_7F4A_7C15 ^ first_lead),
        }
    }

    fn rand(&self) -> u64 {
        // xorshift64*: cheap and good enough for picking request kinds and leads.
        let mut s = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A lead created at least `lag` leads ago, if there is one.
    fn old_lead(&self, lag: u64) -> Option<u64> {
        let created = self.next_lead.load(Ordering::Relaxed).saturating_sub(self.first_lead);
        if created <= lag {
            return None;
        }
        Some(self.first_lead + self.rand() % (created - lag))
    }

    fn next(&self) -> Request {
        let total = self.cumulative[4].max(1);
        let roll = (self.rand() % u64::from(total)) as u32;
        let pick = self.cumulative.iter().position(|&c| roll < c).unwrap_or(0);
        let req = match pick {
            1 => self.old_lead(64).map(|i| self.reply(i)),
            2 => self.old_lead(64).map(|i| self.crm(i)),
            3 => self.old_lead(2000).map(|i| self.receipt(i)),
            4 => self.old_lead(2000).map(|_| self.mls()),
            _ => None,
        };
        req.unwrap_or_else(|| self.new_lead(self.next_lead.fetch_add(1, Ordering::Relaxed), None))
    }

    /// The listings on the market are `window .. window + listings`; the window moves on by one
    /// listing every `listing_step` new leads. So the number of leads watching a listing, and
    /// with it the size of a price drop's fan-out, stops growing once the first listings leave
    /// the market: the work per request is the same in every run of a session, and "half the
    /// max" really is half the work.
    fn window(&self) -> u64 {
        self.next_lead.load(Ordering::Relaxed).saturating_sub(self.first_lead) / self.listing_step
    }

    fn listing_id(&self, r: u64) -> String {
        format!("MLS-{}", self.window() + r % u64::from(self.listings))
    }

    fn listing_of(&self, i: u64) -> String {
        self.listing_id(i.wrapping_mul(2_654_435_761))
    }

    fn new_lead(&self, i: u64, listing: Option<&str>) -> Request {
        let now = self.now();
        let granted = (now - chrono::Duration::seconds(60)).to_rfc3339();
        let listing = listing.map(str::to_string).unwrap_or_else(|| self.listing_of(i));
        let body = serde_json::json!({
            "source": "zillow",
            "source_lead_id": format!("Z-{i}"),
            "phone": self.phones.get(i),
            "first_name": "Ana",
            "last_name": "Ruiz",
            "email": format!("lead{i}@example.com"),
            "listing": {"id": listing, "address": format!("{} Main St", 100 + i % 900), "price": 450_000},
            "message": "Is this still available?",
            "consent": {
                "granted_at": granted,
                "source_url": "https://agent.example.com/listing/123",
                "disclosure": DISCLOSURE,
                "ip": "203.0.113.9",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
            },
            "occurred_at": now.to_rfc3339(),
        });
        Request { kind: Kind::Lead, path: "/v1/events/leads", body: body.to_string(), form: false, signature: None }
    }

    fn twilio(&self, kind: Kind, path: &'static str, params: Vec<(String, String)>) -> Request {
        let signature = twilio_signature(&format!("{}{path}", self.public_url), &params, &self.token);
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
        Request { kind, path, body, form: true, signature: Some(signature) }
    }

    fn reply(&self, i: u64) -> Request {
        let r = self.rand();
        let (kind, text) = if r % 100 < 8 { (Kind::Stop, "STOP") } else { (Kind::Reply, REPLIES[(r % 8) as usize]) };
        let sid = format!("SM{:032x}", self.msg_seq.fetch_add(1, Ordering::Relaxed) ^ (self.first_lead << 40));
        let params = vec![
            ("AccountSid".to_string(), "AC00000000000000000000000000000001".to_string()),
            ("Body".to_string(), text.to_string()),
            ("From".to_string(), self.phones.get(i)),
            ("MessageSid".to_string(), sid),
            ("NumMedia".to_string(), "0".to_string()),
            ("To".to_string(), "+12125550100".to_string()),
        ];
        self.twilio(kind, "/v1/twilio/inbound", params)
    }

    fn receipt(&self, i: u64) -> Request {
        // The dry-run provider's id for a lead's first text (`<phone>#1`).
        let phone = self.phones.get(i);
        let sid = format!("DRY{}1", phone.trim_start_matches('+'));
        let status = if self.rand() % 2 == 0 { "sent" } else { "delivered" };
        let params = vec![
            ("AccountSid".to_string(), "AC00000000000000000000000000000001".to_string()),
            ("MessageSid".to_string(), sid),
            ("MessageStatus".to_string(), status.to_string()),
            ("To".to_string(), phone),
        ];
        self.twilio(Kind::Receipt, "/v1/twilio/status", params)
    }

    fn crm(&self, i: u64) -> Request {
        let r = self.rand();
        let mut body = serde_json::json!({
            "phone": self.phones.get(i),
            "status": CRM_STATUSES[(r % 5) as usize],
            "source": "followupboss",
            "agent": "Jordan Smith",
            "occurred_at": self.now().to_rfc3339(),
        });
        if r % 10 < 3 {
            body["listing_id"] = self.listing_id(r >> 8).into();
            body["listing_action"] = "saved".into();
        }
        Request { kind: Kind::Crm, path: "/v1/events/crm", body: body.to_string(), form: false, signature: None }
    }

    fn mls(&self) -> Request {
        let r = self.rand();
        let n = self.drops[(r % u64::from(self.listings)) as usize].fetch_add(1, Ordering::Relaxed);
        self.price_drop(&self.listing_id(r), 450_000 - 1_000 * n.min(400))
    }

    fn price_drop(&self, listing: &str, old_price: u64) -> Request {
        let body = serde_json::json!({
            "listing_id": listing,
            "change": "price_drop",
            "address": "123 Main St",
            "old_price": old_price,
            "new_price": old_price - 1_000,
            "occurred_at": self.now().to_rfc3339(),
        });
        Request { kind: Kind::Mls, path: "/v1/events/mls", body: body.to_string(), form: false, signature: None }
    }
}

// ---------------------------------------------------------------------------------------
// Load runs

fn client(pool: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// The outcome of one request: status and the lead events it acknowledged.
async fn send(client: &reqwest::Client, base: &str, req: &Request) -> Result<(u16, u64), String> {
    let mut rb = client.post(format!("{base}{}", req.path)).body(req.body.clone());
    rb = rb.header(
        reqwest::header::CONTENT_TYPE,
        if req.form { "application/x-www-form-urlencoded" } else { "application/json" },
    );
    if let Some(sig) = &req.signature {
        rb = rb.header("X-Twilio-Signature", sig);
    }
    let res = rb.send().await.map_err(|e| if e.is_timeout() { "timeout".to_string() } else { "io".to_string() })?;
    let status = res.status().as_u16();
    let bytes = res.bytes().await.map_err(|_| "io (body)".to_string())?;
    let mut events = u64::from((200..300).contains(&status));
    if req.kind == Kind::Mls && events == 1 {
        // One request, one lead event per interested lead.
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            if let Some(n) = v.get("applied").and_then(|a| a.as_u64()) {
                events = n + v.get("duplicates").and_then(|d| d.as_u64()).unwrap_or(0);
            }
        }
    }
    Ok((status, events))
}

fn histogram() -> Histogram<u64> {
    // Microseconds, 1 us .. 120 s, 3 significant digits.
    Histogram::new_with_bounds(1, 120_000_000, 3).unwrap_or_else(|_| Histogram::new(3).expect("histogram"))
}

struct Stats {
    all: Histogram<u64>,
    by_kind: BTreeMap<Kind, (u64, Histogram<u64>)>,
    statuses: BTreeMap<String, u64>,
    ok: u64,
    lead_events: u64,
    /// Acknowledged during the warm-up (not in any other figure).
    warm_ok: u64,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            all: histogram(),
            by_kind: BTreeMap::new(),
            statuses: BTreeMap::new(),
            ok: 0,
            lead_events: 0,
            warm_ok: 0,
        }
    }

    fn record(&mut self, kind: Kind, latency: Duration, outcome: &Result<(u16, u64), String>) {
        let us = (latency.as_micros() as u64).clamp(1, 120_000_000);
        let label = match outcome {
            Ok((s, events)) => {
                if (200..300).contains(s) {
                    self.ok += 1;
                    self.lead_events += events;
                }
                s.to_string()
            }
            Err(e) => e.clone(),
        };
        *self.statuses.entry(label).or_default() += 1;
        let _ = self.all.record(us);
        let e = self.by_kind.entry(kind).or_insert_with(|| (0, histogram()));
        e.0 += 1;
        let _ = e.1.record(us);
    }
}

#[derive(Debug, Clone, Copy)]
enum Spec {
    Closed { concurrency: usize },
    Open { rate: u64, max_in_flight: usize },
}

struct RunReport {
    label: String,
    spec: Spec,
    elapsed: Duration,
    stats: Stats,
}

impl RunReport {
    fn req_rate(&self) -> f64 {
        self.stats.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn event_rate(&self) -> f64 {
        self.stats.lead_events as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self) {
        let ms = |us: u64| us as f64 / 1000.0;
        let h = &self.stats.all;
        let spec = match self.spec {
            Spec::Closed { concurrency } => format!("closed loop, concurrency {concurrency}"),
            Spec::Open { rate, .. } => format!("open loop, {rate} req/s scheduled"),
        };
        println!("--- {} ({spec}, {:.1} s measured)", self.label, self.elapsed.as_secs_f64());
        println!(
            "  acknowledged: {} requests = {:.0} req/s; {} lead events = {:.0} events/s",
            self.stats.ok,
            self.req_rate(),
            self.stats.lead_events,
            self.event_rate()
        );
        println!(
            "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (n = {})",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max()),
            h.len()
        );
        for (kind, (n, h)) in &self.stats.by_kind {
            println!(
                "    {:<17} n {:>8}  p50 {:>8.2}  p99 {:>8.2}  p99.9 {:>8.2}  max {:>8.2}",
                kind.name(),
                n,
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.value_at_quantile(0.999)),
                ms(h.max())
            );
        }
        let statuses: Vec<String> = self.stats.statuses.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("  responses by status: {}", statuses.join(", "));
    }
}

/// One measured run (after an unmeasured warm-up with the same settings).
async fn run(
    label: &str,
    base: &str,
    traffic: Arc<Traffic>,
    spec: Spec,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<RunReport> {
    let pool = match spec {
        Spec::Closed { concurrency } => concurrency,
        Spec::Open { max_in_flight, .. } => max_in_flight,
    };
    let client = client(pool)?;
    let stats = Arc::new(Mutex::new(Stats::new()));
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    match spec {
        Spec::Closed { concurrency } => {
            let mut workers = tokio::task::JoinSet::new();
            for _ in 0..concurrency.max(1) {
                let (client, traffic, stats, base) = (client.clone(), traffic.clone(), stats.clone(), base.to_string());
                workers.spawn(async move {
                    loop {
                        let sent = Instant::now();
                        if sent >= end {
                            break;
                        }
                        let req = traffic.next();
                        let outcome = send(&client, &base, &req).await;
                        let mut stats = stats.lock().unwrap_or_else(|p| p.into_inner());
                        if sent >= measure_from {
                            stats.record(req.kind, sent.elapsed(), &outcome);
                        } else if matches!(outcome, Ok((200..=299, _))) {
                            stats.warm_ok += 1;
                        }
                    }
                });
            }
            while workers.join_next().await.is_some() {}
        }
        Spec::Open { rate, max_in_flight } => {
            let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
            let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
            let mut tasks = tokio::task::JoinSet::new();
            let mut i: u64 = 0;
            loop {
                let intended = start + interval.mul_f64(i as f64);
                if intended >= end {
                    break;
                }
                i += 1;
                tokio::time::sleep_until(intended.into()).await;
                // Waiting for a permit delays the send but not the intended time: it counts as latency.
                let permit = permits.clone().acquire_owned().await?;
                let (client, traffic, stats, base) = (client.clone(), traffic.clone(), stats.clone(), base.to_string());
                tasks.spawn(async move {
                    let req = traffic.next();
                    let outcome = send(&client, &base, &req).await;
                    drop(permit);
                    let mut stats = stats.lock().unwrap_or_else(|p| p.into_inner());
                    if intended >= measure_from {
                        stats.record(req.kind, intended.elapsed(), &outcome);
                    } else if matches!(outcome, Ok((200..=299, _))) {
                        stats.warm_ok += 1;
                    }
                });
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
        }
    }
    // Requests still running at `end` are included, so the elapsed time runs until the last one.
    let elapsed = Instant::now().saturating_duration_since(measure_from).max(Duration::from_millis(1));
    let stats = Arc::try_unwrap(stats).map_err(|_| anyhow::anyhow!("stats still shared"))?;
    Ok(RunReport { label: label.into(), spec, elapsed, stats: stats.into_inner().unwrap_or_else(|p| p.into_inner()) })
}

/// The ceiling: a trivial axum handler that reads the body and answers 202, on every path.
async fn start_ceiling() -> anyhow::Result<(String, tokio::sync::oneshot::Sender<()>)> {
    async fn trivial(body: axum::body::Bytes) -> axum::http::StatusCode {
        std::hint::black_box(body);
        axum::http::StatusCode::ACCEPTED
    }
    let app = axum::Router::new().route("/", axum::routing::post(trivial)).fallback(trivial);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok((format!("http://{addr}"), tx))
}

async fn load_test(cli: &Cli) -> anyhow::Result<()> {
    let duration = Duration::from_secs(cli.duration.clamp(1, 600));
    let warmup = Duration::from_secs(cli.warmup.min(60));
    let clock_base = (!cli.system_clock && cli.target.is_none()).then(default_clock_base);
    let clock = make_clock(clock_base);
    let phones = Arc::new(Phones::new());
    let (service, public_url, token) = match &cli.target {
        Some(t) => {
            check_loopback(t)?;
            let token = cli
                .twilio_token
                .clone()
                .or_else(|| std::env::var("TWILIO_AUTH_TOKEN").ok())
                .context("--twilio-token or TWILIO_AUTH_TOKEN is needed to sign Twilio webhooks for --target")?;
            let public = cli.public_url.clone().unwrap_or_else(|| t.clone());
            (Service::External { base: t.trim_end_matches('/').to_string() }, public, token)
        }
        None => {
            let dir = fresh_dir("run")?;
            let o = ServiceOpts {
                durability: cli.durability.into(),
                passivate_ms: cli.passivate_ms,
                account_mps: cli.account_mps,
                flush_linger_us: cli.flush_linger_us,
            };
            let s = Service::start(cli.service, &dir, &o, clock_base).await?;
            let public = Settings::defaults()?.server.public_url.to_string();
            (s, public, TWILIO_TOKEN.to_string())
        }
    };
    let base = service.base();
    println!("leadline-load: {} at {base}", service.describe());
    println!(
        "  durability {:?}; mix lead/reply/crm/receipt/mls = {:?}%; {} listings on the market, one replaced every {} new leads; {} cores; clock {}",
        cli.durability,
        cli.mix,
        cli.listings,
        cli.listing_step,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        if clock_base.is_some() { "from Thu 13:00 New York" } else { "wall clock" }
    );
    println!("  load average before: {}", loadavg());
    let cpu_before = service.cpu_ms();
    // Each run gets its own range of lead numbers, so new leads are really new.
    let mut lead_offset = (Utc::now().timestamp() as u64 % 1000) * 1_000_000 % phones.capacity().max(1);
    let mut next_traffic = |public: &str| {
        let t = Traffic::new(phones.clone(), lead_offset, cli, public.to_string(), token.clone(), clock.clone());
        lead_offset = (lead_offset + 5_000_000) % phones.capacity().max(1);
        Arc::new(t)
    };
    // Only the harness's own service with unlimited sends drains its backlog in useful time.
    let settle_between_runs = cli.target.is_none() && cli.account_mps.is_none();
    let mut service_traffic: Option<Arc<Traffic>> = None;
    let mut results = Vec::new();
    let specs: Vec<Spec> = match cli.mode {
        Mode::Closed | Mode::MaxThenHalf => {
            cli.concurrency.iter().map(|&c| Spec::Closed { concurrency: c.max(1) }).collect()
        }
        Mode::Open => vec![Spec::Open { rate: cli.rate.max(1), max_in_flight: cli.max_in_flight }],
    };
    for spec in specs {
        let mut ceiling = None;
        if !cli.no_ceiling {
            let (cbase, stop) = start_ceiling().await?;
            let r =
                run("ceiling: trivial axum handler", &cbase, next_traffic(&public_url), spec, warmup, duration).await?;
            let _ = stop.send(());
            r.print();
            ceiling = Some(r.req_rate());
        }
        let traffic = service_traffic.get_or_insert_with(|| next_traffic(&public_url)).clone();
        if settle_between_runs {
            settle(&base).await;
        }
        let cpu0 = service.cpu_ms();
        let bytes0 = metric_sum(&base, "leadline_store_bytes_written_total").await;
        let r = run("leadline", &base, traffic, spec, warmup, duration).await?;
        r.print();
        let bytes1 = metric_sum(&base, "leadline_store_bytes_written_total").await;
        if let (Some(a), Some(b), Where::Child) = (cpu0, service.cpu_ms(), cli.service) {
            // Robust to other load on the machine, unlike the rate: what one request costs.
            let reqs = r.stats.ok + r.stats.warm_ok;
            println!(
                "  service CPU: {:.1} s for {reqs} acknowledged requests (warm-up included) = {:.0} us per request",
                (b - a) as f64 / 1000.0,
                (b - a) as f64 * 1000.0 / reqs.max(1) as f64
            );
        }
        if let Some(c) = ceiling {
            println!(
                "  => leadline {:.0} req/s vs ceiling {:.0} req/s: {:.1}% of the trivial handler",
                r.req_rate(),
                c,
                100.0 * r.req_rate() / c
            );
        }
        // The storage ceiling: the same store, options and bytes per event, nothing else.
        if let (false, Some(b0), Some(b1), Spec::Closed { concurrency }) = (cli.no_ceiling, bytes0, bytes1, spec) {
            // Warm-up events wrote too: spread the bytes over all acknowledged events.
            let events = r.stats.lead_events as f64 * (r.stats.ok + r.stats.warm_ok) as f64 / r.stats.ok.max(1) as f64;
            let per_event = ((b1 - b0) / events.max(1.0)).round().max(1.0) as usize;
            let sc = storage_ceiling(cli, concurrency, per_event, warmup, duration).await?;
            println!(
                "--- ceiling: durable batched writes to the store alone ({per_event} bytes per event, concurrency {concurrency}): {sc:.0} events/s"
            );
            match ceiling {
                Some(c) => println!(
                    "  => leadline {:.0} events/s ({:.0} req/s): {:.1}% of the trivial handler ({c:.0} req/s), {:.1}% of the storage ceiling ({sc:.0} events/s)",
                    r.event_rate(),
                    r.req_rate(),
                    100.0 * r.req_rate() / c,
                    100.0 * r.event_rate() / sc
                ),
                None => println!("  => leadline {:.0} events/s: {:.1}% of the storage ceiling", r.event_rate(), 100.0 * r.event_rate() / sc),
            }
        }
        results.push(r);
    }
    if cli.mode == Mode::MaxThenHalf {
        let max = results.iter().map(RunReport::req_rate).fold(0.0, f64::max);
        let half = ((max / 2.0).round() as u64).max(1);
        println!("  => max {max:.0} req/s; now an open-loop run at half of it: {half} req/s");
        let traffic = service_traffic.get_or_insert_with(|| next_traffic(&public_url)).clone();
        let spec = Spec::Open { rate: half, max_in_flight: cli.max_in_flight };
        if settle_between_runs {
            settle(&base).await;
        }
        let r = run("leadline at half the max", &base, traffic, spec, warmup, duration).await?;
        r.print();
    }
    print_metrics(&base).await;
    println!("--- resources");
    if let Some((peak, now)) = service.rss() {
        println!("  service process RSS: peak (VmHWM) {}, now {} — {}", mib(peak), mib(now), service.describe());
    }
    if let (Some(a), Some(b)) = (cpu_before, service.cpu_ms()) {
        println!("  service process CPU time during the runs: {:.1} s", (b - a) as f64 / 1000.0);
    }
    if let Some((peak, _)) = proc_rss("self") {
        if !matches!(service, Service::InProcess { .. }) {
            println!("  load generator RSS: peak {}", mib(peak));
        }
    }
    println!("  load average after: {}", loadavg());
    let dir = service.dir().map(Path::to_path_buf);
    if let Some(d) = &dir {
        println!("  data dir {}: {} after the runs", d.display(), mib(dir_size(d)));
    }
    let took = service.stop().await?;
    println!("  graceful stop took {:.2} s", took.as_secs_f64());
    if let Some(d) = &dir {
        println!("  data dir after stop: {}", mib(dir_size(d)));
        cleanup(d, cli.keep_data);
    }
    Ok(())
}

/// The sum of a metric family's samples on `/metrics` (a counter over all its labels).
async fn metric_sum(base: &str, name: &str) -> Option<f64> {
    let text = client(1).ok()?.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{')))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The store's own durable write rate: `concurrency` writers, each committing one new key of
/// `bytes` bytes at a time through the same commit queue and options as the service (group
/// commit, flush linger, durability), on a fresh data dir. What the service could reach if
/// everything but storage were free.
async fn storage_ceiling(
    cli: &Cli,
    concurrency: usize,
    bytes: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<f64> {
    let dir = fresh_dir("storage-ceiling")?;
    let mut settings = Settings::defaults()?;
    settings.storage.durability = cli.durability.into();
    if let Some(us) = cli.flush_linger_us {
        settings.storage.flush_linger_us = us;
    }
    let store = Store::open_with(&dir, settings.storage.store_options())?;
    let value = "x".repeat(bytes.saturating_sub(24).max(1));
    let start = Instant::now();
    let (measure_from, end) = (start + warmup, start + warmup + duration);
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency.max(1) {
        let (store, value, done) = (store.clone(), value.clone(), done.clone());
        tasks.spawn(async move {
            let mut i = 0u64;
            loop {
                let at = Instant::now();
                if at >= end {
                    return Ok::<_, anyhow::Error>(());
                }
                store.meta_commit(&format!("ceiling:{w:04}:{i:012}"), &value).await?;
                i += 1;
                if at >= measure_from {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from).max(Duration::from_millis(1));
    drop(store);
    cleanup(&dir, false);
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64())
}

/// The service's own counters that explain a run: flushes (and how many were shared by
/// group commit), events by kind, sends, live actors, passivations.
async fn print_metrics(base: &str) {
    const WANTED: [&str; 8] = [
        "leadline_flushes_total",
        "leadline_flush_seconds",
        "leadline_flush_waits_total",
        "leadline_events_total",
        "leadline_sends_total",
        "leadline_live_lead_actors",
        "leadline_passivations_total",
        "leadline_gateway_in_flight",
    ];
    let Ok(c) = client(1) else { return };
    let Ok(res) = c.get(format!("{base}/metrics")).send().await else { return };
    let Ok(text) = res.text().await else { return };
    // A histogram (leadline_flush_seconds) shows as its _sum and _count, not its buckets.
    let wanted = |l: &str| {
        WANTED.iter().any(|w| {
            l.strip_prefix(w)
                .is_some_and(|rest| !rest.starts_with('_') || rest.starts_with("_sum") || rest.starts_with("_count"))
        })
    };
    let lines: Vec<&str> = text.lines().filter(|l| wanted(l)).collect();
    if !lines.is_empty() {
        println!("--- service metrics (cumulative, warm-ups and ceiling-free runs included)");
        for l in lines {
            println!("  {l}");
        }
    }
}

/// Waits (at most [`MAX_SETTLE`]) until the gateway has no texts in flight, so that a run
/// starts from a steady state instead of competing with the send backlog a previous run
/// left (the dry-run provider and generous limits let the gateway go as fast as the CPU).
async fn settle(base: &str) {
    let Ok(c) = client(1) else { return };
    let t = Instant::now();
    let mut last = None;
    while t.elapsed() < MAX_SETTLE {
        let text = match c.get(format!("{base}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => return,
        };
        let in_flight = text
            .lines()
            .find_map(|l| l.strip_prefix("leadline_gateway_in_flight "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        match in_flight {
            None => return, // not our service, or metrics off
            Some(v) if v <= 0.0 => {
                if t.elapsed() > Duration::from_millis(500) {
                    println!(
                        "  (waited {:.1} s for the gateway to send its backlog before this run)",
                        t.elapsed().as_secs_f64()
                    );
                }
                return;
            }
            Some(v) => last = Some(v),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "  (the gateway still had {} texts in flight after {} s; measuring anyway)",
        last.unwrap_or(0.0),
        MAX_SETTLE.as_secs()
    );
}

const MAX_SETTLE: Duration = Duration::from_secs(300);

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cleanup(dir: &Path, keep: bool) {
    if keep {
        println!("  data kept in {}", dir.display());
    } else if let Err(e) = std::fs::remove_dir_all(dir) {
        eprintln!("warning: could not remove {}: {e}", dir.display());
    }
}

// ---------------------------------------------------------------------------------------
// Probe: a million leads

/// Applies one event to `state` exactly as the lead actor does (decide, chain, commit).
async fn apply(
    store: &Store,
    policy: &Policy,
    state: &mut LeadState,
    event: Event,
    dedupe_key: Option<&str>,
    now: Ts,
) -> anyhow::Result<Vec<leadline_core::model::OutboundText>> {
    let Decision { state: decided, notes, sends, notifications } = decide(state, &event, policy, now);
    let prepared = Prepared::new(state, decided, notes, now);
    store.commit_lead(prepared.commit(state, &sends, &notifications, dedupe_key)).await?;
    *state = prepared.next;
    Ok(sends)
}

/// One lead as the service would leave it after its capture and its first text: captured
/// with consent, first text decided, sent (outbox `Accepted`, provider id mapped), outcome applied.
async fn store_one(store: &Store, policy: &Policy, traffic: &Traffic, i: u64) -> anyhow::Result<()> {
    let now = Ts::from(traffic.now());
    let phone = Phone::parse(&traffic.phones.get(i))?;
    let capture = LeadCapture {
        source: "zillow".into(),
        source_lead_id: Some(format!("Z-{i}")),
        first_name: Some("Ana".into()),
        last_name: Some("Ruiz".into()),
        email: Some(format!("lead{i}@example.com")),
        address_state: None,
        listing: Some(ListingRef {
            id: Some(traffic.listing_of(i)),
            address: Some(format!("{} Main St", 100 + i % 900)),
            price: Some(450_000),
        }),
        message: Some("Is this still available?".into()),
        consent: Some(ConsentInput {
            granted_at: Some(Ts::from(now.0 - chrono::Duration::seconds(60))),
            source_url: Some("https://agent.example.com/listing/123".into()),
            disclosure: Some(DISCLOSURE.into()),
            ip: Some("203.0.113.9".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36".into()),
            seller: None,
        }),
        occurred_at: Some(now),
    };
    let mut state = LeadState::new(phone, now);
    let key = format!("lead:zillow:Z-{i}");
    let sends = apply(store, policy, &mut state, Event::LeadCaptured(Box::new(capture)), Some(&key), now).await?;
    for text in sends {
        let provider_id = format!("DRY{}", text.id.replace(['+', '#'], ""));
        let accepted = OutboxStatus::Accepted { provider_id: provider_id.clone(), status: "dry-run".into(), at: now };
        store.set_outbox_status(&text.id, accepted, now).await?;
        let event = Event::SendOutcome {
            message_id: text.id.clone(),
            kind: text.kind,
            result: SendResult::Accepted { provider_id, status: "dry-run".into() },
        };
        let key = format!("outcome:{}:accepted", text.id);
        apply(store, policy, &mut state, event, Some(&key), now).await?;
    }
    Ok(())
}

/// The admin page's first page of leads (newest first, its default) and the API's (phone
/// order), 100 rows, timed in-process on the filled data dir.
fn time_searches(dir: &Path) -> anyhow::Result<()> {
    use leadline_core::storage::LeadFilter;
    let store = Store::open(dir)?;
    let filter = LeadFilter::default();
    for _ in 0..2 {
        let t = Instant::now();
        let (newest, _) = store.search_leads_newest(&filter, None, 100)?;
        let newest_ms = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let (phone_order, _) = store.search_leads(&filter, None, 100)?;
        let phone_ms = t.elapsed().as_secs_f64() * 1000.0;
        println!(
            "  first page of leads (100): newest first {newest_ms:.0} ms ({} rows), phone order {phone_ms:.1} ms ({} rows)",
            newest.len(),
            phone_order.len()
        );
    }
    Ok(())
}

async fn fill_via_store(dir: &Path, n: u64, traffic: Arc<Traffic>, deadline: Instant) -> anyhow::Result<u64> {
    let settings = service_settings(
        dir,
        &ServiceOpts { durability: Durability::Process, passivate_ms: None, account_mps: None, flush_linger_us: None },
    )?;
    let policy = Arc::new(Policy::new(settings.policy_settings())?);
    let store = Store::open_with(dir, settings.storage.store_options())?;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (store, policy, traffic, next, done, failed) =
            (store.clone(), policy.clone(), traffic.clone(), next.clone(), done.clone(), failed.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline || failed.load(Ordering::Relaxed) {
                    return Ok::<_, anyhow::Error>(());
                }
                if let Err(e) = store_one(&store, &policy, &traffic, i).await {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let progress = progress_printer(done.clone(), n);
    while let Some(r) = workers.join_next().await {
        r??;
    }
    progress.abort();
    store.flush().await?;
    drop(store);
    Ok(done.load(Ordering::Relaxed))
}

fn progress_printer(done: Arc<AtomicU64>, n: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(15)).await;
            let d = done.load(Ordering::Relaxed);
            let rss = proc_rss("self").map(|(_, now)| mib(now)).unwrap_or_default();
            println!(
                "  ... {d} / {n} leads after {:.0} s ({:.0}/s; harness RSS {rss}; load {})",
                start.elapsed().as_secs_f64(),
                d as f64 / start.elapsed().as_secs_f64(),
                loadavg()
            );
        }
    })
}

async fn fill_via_http(base: &str, n: u64, traffic: Arc<Traffic>, deadline: Instant) -> anyhow::Result<(u64, u64)> {
    let client = client(64)?;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (client, traffic, next, done, errors, base) =
            (client.clone(), traffic.clone(), next.clone(), done.clone(), errors.clone(), base.to_string());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline {
                    return;
                }
                match send(&client, &base, &traffic.new_lead(i, None)).await {
                    Ok((s, _)) if (200..300).contains(&s) => done.fetch_add(1, Ordering::Relaxed),
                    _ => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    let progress = progress_printer(done.clone(), n);
    while workers.join_next().await.is_some() {}
    progress.abort();
    Ok((done.load(Ordering::Relaxed), errors.load(Ordering::Relaxed)))
}

/// Polls /healthz until it answers 200; returns how long that took.
async fn wait_healthy(base: &str, since: Instant) -> anyhow::Result<Duration> {
    let c = client(1)?;
    loop {
        if let Ok(r) = c.get(format!("{base}/healthz")).timeout(Duration::from_secs(1)).send().await {
            if r.status().is_success() {
                return Ok(since.elapsed());
            }
        }
        if since.elapsed() > Duration::from_secs(300) {
            bail!("/healthz did not answer within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn probe_million(cli: &Cli) -> anyhow::Result<()> {
    let n = cli.leads.max(1);
    let clock_base = (!cli.system_clock).then(default_clock_base);
    let harness_start = Instant::now();
    let clock = make_clock(clock_base);
    let child_base =
        |since: Instant| clock_base.map(|b| b + chrono::Duration::from_std(since.elapsed()).unwrap_or_default());
    let phones = Arc::new(Phones::new());
    let public = Settings::defaults()?.server.public_url.to_string();
    let traffic = Arc::new(Traffic::new(phones.clone(), 0, cli, public, TWILIO_TOKEN.into(), clock.clone()));
    let dir = match &cli.reuse {
        Some(d) => d.clone(),
        None => fresh_dir("million")?,
    };
    let passivate = cli.passivate_ms.or(Some(2_000));
    let o = ServiceOpts {
        durability: cli.durability.into(),
        passivate_ms: passivate,
        account_mps: None,
        flush_linger_us: cli.flush_linger_us,
    };
    let deadline = Instant::now() + Duration::from_secs(cli.fill_timeout).min(MAX_PHASE);
    println!("leadline-load --probe million: {n} leads into {}", dir.display());
    println!("  load average before: {}", loadavg());
    let fill_start = Instant::now();
    let (stored, how) = match cli.via {
        _ if cli.reuse.is_some() => (n, "before (--reuse: this run only restarts on that data dir)"),
        Via::Store => {
            let stored = fill_via_store(&dir, n, traffic.clone(), deadline).await?;
            let how = concat!(
                "in-process through Store::commit_lead (states produced by the real decide(): ",
                "lead captured with consent, first text queued, outbox Accepted, send outcome applied)"
            );
            (stored, how)
        }
        Via::Http => {
            let svc = Service::start(Where::Child, &dir, &o, child_base(harness_start)).await?;
            let (ok, errors) = fill_via_http(&svc.base(), n, traffic.clone(), deadline).await?;
            if errors > 0 {
                println!("  {errors} lead requests failed");
            }
            // Let the gateway finish the first texts, then stop.
            tokio::time::sleep(Duration::from_secs(5)).await;
            if let Some((peak, now)) = svc.rss() {
                println!("  service RSS while filling: peak {}, now {}", mib(peak), mib(now));
            }
            svc.stop().await?;
            (ok, "through the service's HTTP API (POST /v1/events/leads with consent), service in a child process")
        }
    };
    let fill = fill_start.elapsed();
    println!("--- stored {stored} leads {how}");
    println!(
        "  took {:.1} s ({:.0} leads/s); load average now {}",
        fill.as_secs_f64(),
        stored as f64 / fill.as_secs_f64(),
        loadavg()
    );
    if stored < n {
        println!("  NOTE: stopped at the fill timeout ({} s) before reaching {n}", cli.fill_timeout);
    }
    let size = dir_size(&dir);
    println!(
        "  data dir: {} = {:.0} bytes per lead on disk (everything: snapshots, timelines, outbox, indexes)",
        mib(size),
        size as f64 / stored.max(1) as f64
    );

    time_searches(&dir)?;

    // Restart: a fresh process on that data dir.
    println!("--- restart on the {stored}-lead data dir (a new process; the OS page cache is warm)");
    let t0 = Instant::now();
    let svc = Service::start(Where::Child, &dir, &o, child_base(harness_start)).await?;
    let listening = t0.elapsed();
    let ready = wait_healthy(&svc.base(), t0).await?;
    println!(
        "  process start -> listening {:.0} ms; -> /healthz answered {:.0} ms",
        listening.as_secs_f64() * 1000.0,
        ready.as_secs_f64() * 1000.0
    );
    let cpu0 = svc.cpu_ms();
    if let Some((peak, now)) = svc.rss() {
        println!("  service RSS when ready: peak {}, now {}", mib(peak), mib(now));
    }
    let base = svc.base();
    let c = client(1)?;
    let cold = |k: u64| {
        let i = (k.wrapping_mul(0x9E37_79B9) ^ 0x5555) % stored.max(1);
        serde_json::json!({"phone": phones.get(i), "status": "nurture", "source": "load-probe"})
    };
    // The very first event after start-up, for a lead no actor holds.
    let t = Instant::now();
    let r = c.post(format!("{base}/v1/events/crm")).json(&cold(1)).send().await?;
    let first = t.elapsed();
    println!(
        "  first event for a cold lead (POST /v1/events/crm): {:.2} ms, status {}",
        first.as_secs_f64() * 1000.0,
        r.status()
    );
    let mut h = histogram();
    let mut statuses = BTreeMap::<u16, u64>::new();
    let mut slow = Vec::new();
    for k in 2..202u64 {
        let t = Instant::now();
        let r = c.post(format!("{base}/v1/events/crm")).json(&cold(k)).send().await?;
        let took = t.elapsed();
        let _ = h.record((took.as_micros() as u64).max(1));
        *statuses.entry(r.status().as_u16()).or_default() += 1;
        if took > Duration::from_millis(50) {
            slow.push(format!(
                "#{k} at +{:.2} s after ready: {:.0} ms",
                (t - t0 - ready).as_secs_f64(),
                took.as_secs_f64() * 1000.0
            ));
        }
    }
    if !slow.is_empty() {
        println!("  cold events over 50 ms: {}", slow.join("; "));
    }
    println!(
        "  next 200 cold leads, one at a time: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  statuses {:?}",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        statuses
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    if let (Some(a), Some(b)) = (cpu0, svc.cpu_ms()) {
        println!("  service CPU time from ready to +5 s (background start-up work): {} ms", b.saturating_sub(a));
    }
    let (peak, now) = svc.rss().unwrap_or_default();
    println!("  service RSS after restart and 201 cold events: peak {}, now {}", mib(peak), mib(now));
    if cli.touch > 0 {
        touch_leads(&svc, &phones, stored, cli.touch).await?;
        let idle = Duration::from_millis(passivate.unwrap_or(2_000) * 2 + 1_000);
        tokio::time::sleep(idle).await;
        if let Some((peak, now)) = svc.rss() {
            println!(
                "  service RSS {:.0} s later (idle actors passivated): peak {}, now {}",
                idle.as_secs_f64(),
                mib(peak),
                mib(now)
            );
        }
    }
    let took = svc.stop().await?;
    println!("  graceful stop took {:.2} s", took.as_secs_f64());
    println!("  data dir after stop: {}", mib(dir_size(&dir)));
    cleanup(&dir, cli.keep_data);
    Ok(())
}

/// CRM changes to `n` random stored leads (64 at a time): mostly cold activations, so the
/// snapshot cache and the passivation of idle actors both show in the RSS.
async fn touch_leads(svc: &Service, phones: &Phones, stored: u64, n: u64) -> anyhow::Result<()> {
    let base = svc.base();
    let client = client(64)?;
    let stats = Arc::new(Mutex::new(Stats::new()));
    let t = Instant::now();
    let deadline = t + Duration::from_secs(600);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut k = 0u64;
    while k < n && Instant::now() < deadline {
        while in_flight.len() < 64 && k < n {
            let i = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7) % stored.max(1);
            let status = CRM_STATUSES[(k % 5) as usize];
            let body = serde_json::json!({"phone": phones.get(i), "status": status, "source": "load-probe"});
            let req = Request {
                kind: Kind::Crm,
                path: "/v1/events/crm",
                body: body.to_string(),
                form: false,
                signature: None,
            };
            let (client, stats, base) = (client.clone(), stats.clone(), base.clone());
            in_flight.spawn(async move {
                let sent = Instant::now();
                let outcome = send(&client, &base, &req).await;
                stats.lock().unwrap_or_else(|p| p.into_inner()).record(Kind::Crm, sent.elapsed(), &outcome);
            });
            k += 1;
        }
        in_flight.join_next().await;
    }
    while in_flight.join_next().await.is_some() {}
    let elapsed = t.elapsed();
    let stats = stats.lock().unwrap_or_else(|p| p.into_inner());
    let h = &stats.all;
    println!(
        "  {k} CRM events to random stored leads (64 in flight): {:.1} s = {:.0}/s, p50 {:.2} ms p99 {:.2} ms; statuses {:?}",
        elapsed.as_secs_f64(),
        stats.ok as f64 / elapsed.as_secs_f64(),
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        stats.statuses
    );
    if let Some((peak, now)) = svc.rss() {
        println!("  service RSS after them: peak {}, now {}", mib(peak), mib(now));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Probe: fan-out

fn count_lines(path: &Path) -> u64 {
    std::fs::read(path).map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64).unwrap_or(0)
}

async fn probe_fanout(cli: &Cli) -> anyhow::Result<()> {
    let n = cli.fanout_leads.max(1);
    let clock_base = (!cli.system_clock).then(default_clock_base);
    let harness_start = Instant::now();
    let child_base =
        |since: Instant| clock_base.map(|b| b + chrono::Duration::from_std(since.elapsed()).unwrap_or_default());
    let clock = make_clock(clock_base);
    let phones = Arc::new(Phones::new());
    let public = Settings::defaults()?.server.public_url.to_string();
    let traffic = Arc::new(Traffic::new(phones, 0, cli, public, TWILIO_TOKEN.into(), clock));
    let dir = fresh_dir("fanout")?;
    let record = dir.join("dry-run-messages.jsonl");
    let listing = "MLS-FANOUT-1";
    println!("leadline-load --probe fanout: {n} leads interested in {listing}, data dir {}", dir.display());

    // 1. The leads: captures with consent on that listing (generous send limits, so their
    //    first texts go out quickly).
    let fast = ServiceOpts {
        durability: cli.durability.into(),
        passivate_ms: cli.passivate_ms,
        account_mps: None,
        flush_linger_us: cli.flush_linger_us,
    };
    let svc = Service::start(Where::Child, &dir, &fast, child_base(harness_start)).await?;
    let base = svc.base();
    let client = client(64)?;
    let next = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (client, traffic, next, base) = (client.clone(), traffic.clone(), next.clone(), base.clone());
        workers.spawn(async move {
            let mut failed = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return failed;
                }
                match send(&client, &base, &traffic.new_lead(i, Some(listing))).await {
                    Ok((s, _)) if (200..300).contains(&s) => {}
                    _ => failed += 1,
                }
            }
        });
    }
    let mut failed = 0;
    while let Some(f) = workers.join_next().await {
        failed += f?;
    }
    println!("  created {n} leads in {:.1} s ({failed} failed)", t.elapsed().as_secs_f64());
    let waited = Instant::now();
    while count_lines(&record) < n && waited.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "  their first texts: {} recorded by the dry-run provider after {:.1} s more",
        count_lines(&record),
        waited.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    svc.stop().await?;

    // 2. Restart with the configured account rate: every lead is cold (no live actor).
    let mps = cli.account_mps.unwrap_or(10);
    let paced = ServiceOpts { account_mps: Some(mps), ..fast };
    let svc = Service::start(Where::Child, &dir, &paced, child_base(harness_start)).await?;
    let base = svc.base();
    wait_healthy(&base, Instant::now()).await?;
    let before = count_lines(&record);
    println!("--- one price drop on {listing}; service restarted (all {n} leads cold), account_mps = {mps}");
    let c = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(120)).build()?;
    let req = traffic.price_drop(listing, 500_000);
    let cpu0 = svc.cpu_ms();
    let t = Instant::now();
    let res = c
        .post(format!("{base}{}", req.path))
        .header("content-type", "application/json")
        .body(req.body.clone())
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    let decided = t.elapsed();
    println!(
        "  POST /v1/events/mls -> {status} after {:.3} s: leads {}, applied {}, duplicates {} (every lead decided and persisted before the reply)",
        decided.as_secs_f64(),
        body["leads"],
        body["applied"],
        body["duplicates"]
    );
    if let (Some(a), Some(b)) = (cpu0, svc.cpu_ms()) {
        println!("  service CPU time for it: {} ms ({:.0} us per lead)", b - a, (b - a) as f64 * 1000.0 / n as f64);
    }
    // 3. Pacing: sample the dry-run record while the alerts go out.
    let window = Duration::from_secs(cli.pace_secs.clamp(2, 120));
    let start = Instant::now();
    let mut samples = vec![(Duration::ZERO, count_lines(&record))];
    while start.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(100)).await;
        samples.push((start.elapsed(), count_lines(&record)));
    }
    let sent = samples.last().map(|s| s.1).unwrap_or(0) - samples[0].1;
    let secs = samples.last().map(|s| s.0.as_secs_f64()).unwrap_or(1.0);
    let mut max_1s = 0;
    for (i, &(ti, ci)) in samples.iter().enumerate() {
        if let Some(&(_, cj)) = samples[i..].iter().take_while(|(tj, _)| *tj <= ti + Duration::from_secs(1)).last() {
            max_1s = max_1s.max(cj - ci);
        }
    }
    println!(
        "  sends observed over {:.1} s after the reply: {sent} = {:.2}/s (configured account_mps {}); most in any sampled 1 s window: {max_1s}",
        secs,
        sent as f64 / secs,
        mps
    );
    println!(
        "  (sends before the reply: {}; remaining ~{} alerts go out at that rate, ~{:.0} min)",
        samples[0].1 - before,
        n.saturating_sub(sent),
        n.saturating_sub(sent) as f64 / f64::from(mps) / 60.0
    );
    if let Some((peak, now)) = svc.rss() {
        println!("  service RSS: peak {}, now {}", mib(peak), mib(now));
    }
    // Stop without waiting for the remaining alerts: a graceful stop lets in-flight sends
    // finish only within the grace period; the rest stay Queued in the outbox.
    let took = svc.stop().await?;
    println!("  stop took {:.1} s", took.as_secs_f64());
    cleanup(&dir, cli.keep_data);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = rt.block_on(async {
        if let Some(dir) = &cli.serve_child {
            return serve_child(&cli, dir).await;
        }
        match cli.probe {
            Some(Probe::Million) => probe_million(&cli).await,
            Some(Probe::Fanout) => probe_fanout(&cli).await,
            None => load_test(&cli).await,
        }
    });
    // As `leadline serve` does: once every handle on the database is gone with the runtime.
    rt.shutdown_timeout(Duration::from_secs(10));
    if let (Some(dir), Ok(())) = (&cli.serve_child, &result) {
        leadline::startup::checkpoint(dir);
    }
    result
}
