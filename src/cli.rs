//! Offline commands: the suppression list (import/export), the audit-chain check and the
//! consent export.
//!
//! They open the sled database at `storage.path` directly. sled holds an exclusive lock on
//! it, so they run while the service is stopped; while it runs, use the admin API instead
//! (`/v1/admin/suppressions`, `/v1/admin/leads/{phone}/consent`).
//!
//! Exit codes: 0 success, 1 failure (a broken audit chain, an unknown lead, an unusable
//! database), 2 bad usage (invalid configuration, file, phone or list name).

use crate::app::compliance::{check_list_name, consent_csv};
#[cfg(test)]
use crate::app::suppress_import::ImportPlan;
use crate::app::suppress_import::{parse_import, store_rows, IMPORT_CHUNK};
use crate::app::views::{consent_rows, BackupView, ConsentExport, LeadView};
use crate::config::Settings;
use clap::{Subcommand, ValueEnum};
use leadline_core::audit;
use leadline_core::model::TimelineEntry;
use leadline_core::storage::{Store, StoreError};
use leadline_core::{Phone, Ts};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use crate::app::suppress_import::DEFAULT_IMPORT_LIST;

#[derive(Debug, Subcommand)]
pub enum SuppressCommand {
    /// Import a CSV of phone numbers onto a do-not-contact list (run while the service is stopped).
    ///
    /// The first column is the phone number; a header row is optional. With a header row
    /// (first column named `phone`), optional `reason` and `list` columns are read too.
    /// Without one, a second column is the reason. Invalid numbers are reported with their
    /// line number and skipped. A number already on a list gets the new entry. A reason
    /// written by `suppress export` with a leading `'` (see there) is read without it.
    Import {
        /// CSV file to import (`-` reads standard input).
        file: PathBuf,
        /// List to put the numbers on, e.g. `litigator`, `internal_dnc` (a-z, 0-9, _).
        /// Overrides a `list` column; without either, `internal_dnc`.
        #[arg(long)]
        list: Option<String>,
    },
    /// Write the whole suppression list to standard output as CSV (phone,list,reason,added_at).
    ///
    /// A value a spreadsheet would run as a formula (first character `=`, `+`, `-`, `@`, tab
    /// or carriage return; plain numbers and E.164 phone numbers excepted) is written with a
    /// leading `'`.
    Export,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Print the cluster as NATS sees it (JSON): the log's length, the gateway lease holder,
    /// and each node's applied sequence, lag and heartbeat age. Uses `[cluster]` settings
    /// (nats_url, credentials from the environment); runs while the service runs.
    Status,
    /// Move this node's database (storage.path; stop the service first) into a new
    /// cluster: its records are published to the cluster log, which must still be empty
    /// (import before starting the cluster's nodes). Prints a JSON report; progress on stderr.
    Import,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every lead's hash-chained timeline; exits 1 if any chain is broken.
    ///
    /// Prints the number of leads and entries checked and, for each break, the masked
    /// phone, the sequence number and the reason. Run while the service is stopped.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Write one lead's consent history (grants, revocations, re-opt-ins) to standard output.
    Export {
        /// The lead's phone number (E.164 or US digits).
        phone: String,
        /// Output format. In CSV, a value a spreadsheet would run as a formula gets a
        /// leading `'`; JSON is verbatim.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum LeadCommand {
    /// Print one lead's state (as the admin API shows it) and its latest timeline entries.
    Show {
        /// The lead's phone number (E.164 or US digits).
        phone: String,
        /// How many of the latest timeline entries to print.
        #[arg(long, default_value_t = 20)]
        timeline: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// Re-read every stored reply with this build's revocation classifier and opt out each
    /// lead whose earlier reply is a revocation (rule `opt_out.rescan`, no confirmation
    /// text). Run after upgrading, while the service is stopped.
    Rescan {
        /// Only list the leads that would be opted out.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `leadline operators …`: the bootstrap path for named operators. These open the
/// database directly, so they run only while the service is stopped; while it runs, use
/// the admin API (`/v1/admin/operators`) or the admin page's Operators tab.
#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Create an operator (service stopped). With `--password-stdin`, the first line of
    /// standard input is their admin-page password (at least 12 characters).
    Add {
        /// Letters, digits, `.`, `-`, `_`, `@`; shown on the timeline.
        name: String,
        /// `viewer` (reads), `agent` (also replies, freezes, unfreezes) or `admin` (everything).
        #[arg(long)]
        role: String,
        /// Read the page password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the operators: name, role, password set, tokens, revoked (service stopped).
    List,
    /// Revoke an operator: tokens, password and sessions stop working (service stopped).
    Revoke { name: String },
    /// Set an operator's page password from the first line of standard input; ends their
    /// sessions (service stopped).
    SetPassword { name: String },
    /// Issue an API token for an operator and print it (shown once; service stopped).
    Token { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON document: current consent and the history.
    Json,
    /// CSV with a header row, one row per history entry.
    Csv,
}

/// A command's failure: message for stderr, exit code.
struct Fail(u8, String);

impl Fail {
    fn usage(msg: impl Into<String>) -> Fail {
        Fail(2, msg.into())
    }
    fn failed(msg: impl Into<String>) -> Fail {
        Fail(1, msg.into())
    }
}

fn finish(result: Result<ExitCode, Fail>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(Fail(code, msg)) => {
            eprintln!("leadline: {msg}");
            ExitCode::from(code)
        }
    }
}

pub fn suppress(command: SuppressCommand, config: Option<&Path>) -> ExitCode {
    finish(match command {
        SuppressCommand::Import { file, list } => suppress_import(config, &file, list.as_deref()),
        SuppressCommand::Export => suppress_export(config),
    })
}

pub fn operators(command: OperatorsCommand, config: Option<&Path>) -> ExitCode {
    finish(operators_run(command, config))
}

fn read_password_line() -> Result<String, Fail> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Fail::failed(format!("cannot read the password from standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn operators_run(command: OperatorsCommand, config: Option<&Path>) -> Result<ExitCode, Fail> {
    use crate::app::operators as ops;
    let settings = load_settings(config)?;
    let store = open_store(&settings, matches!(command, OperatorsCommand::Add { .. }))?;
    crate::cluster::offline::attach(&settings, &store);
    let now = Ts::from(chrono::Utc::now());
    let by = "cli";
    let app_err = |e: crate::app::AppError| match e {
        crate::app::AppError::Unavailable(m) => Fail::failed(m),
        other => Fail::usage(other.to_string()),
    };
    let mut out = std::io::stdout().lock();
    match command {
        OperatorsCommand::Add { name, role, password_stdin } => {
            let role = leadline_core::operators::Role::parse(&role)
                .ok_or_else(|| Fail::usage(format!("unknown role '{role}' (viewer, agent or admin)")))?;
            let password = if password_stdin { Some(read_password_line()?) } else { None };
            let op = block_on(ops::create(&store, by, &name, role, password.as_deref(), now))?.map_err(app_err)?;
            writeln!(out, "created operator {} ({})", op.name, op.role.as_str()).map_err(stdout_error)?;
        }
        OperatorsCommand::List => {
            for op in ops::list(&store).map_err(app_err)? {
                let revoked = op.revoked_at.map(|t| format!(" revoked {t}")).unwrap_or_default();
                writeln!(
                    out,
                    "{}\t{}\tpassword={}\ttokens={}{revoked}",
                    op.name,
                    op.role.as_str(),
                    if op.has_password { "yes" } else { "no" },
                    op.tokens.len()
                )
                .map_err(stdout_error)?;
            }
        }
        OperatorsCommand::Revoke { name } => {
            block_on(ops::revoke(&store, by, &name, now))?.map_err(app_err)?;
            writeln!(out, "revoked operator {name}").map_err(stdout_error)?;
        }
        OperatorsCommand::SetPassword { name } => {
            let password = read_password_line()?;
            block_on(ops::set_password(&store, by, &name, &password))?.map_err(app_err)?;
            writeln!(out, "password set for {name}").map_err(stdout_error)?;
        }
        OperatorsCommand::Token { name } => {
            let issued = block_on(ops::issue_token(&store, by, &name, now))?.map_err(app_err)?;
            writeln!(out, "{}", issued.token).map_err(stdout_error)?;
            eprintln!("token {} for {name}: shown once, keep it secret", issued.token_id);
        }
    }
    block_on(store.flush())?.map_err(|e| Fail::failed(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

pub fn audit(command: AuditCommand, config: Option<&Path>) -> ExitCode {
    finish(match command {
        AuditCommand::Verify => audit_verify(config),
    })
}

pub fn consent(command: ConsentCommand, config: Option<&Path>) -> ExitCode {
    finish(match command {
        ConsentCommand::Export { phone, format } => consent_export(config, &phone, format),
    })
}

pub fn compliance(command: ComplianceCommand, config: Option<&Path>) -> ExitCode {
    finish(match command {
        ComplianceCommand::Rescan { dry_run } => compliance_rescan(config, dry_run),
    })
}

fn compliance_rescan(config: Option<&Path>, dry_run: bool) -> Result<ExitCode, Fail> {
    let settings = load_settings(config)?;
    let policy =
        leadline_core::policy::Policy::new(settings.policy_settings()).map_err(|e| Fail::usage(e.to_string()))?;
    let store = open_store(&settings, false)?;
    let findings = crate::rescan::scan(&store, &policy).map_err(Fail::failed)?;
    let mut out = std::io::stdout().lock();
    let now = Ts::from(chrono::Utc::now());
    // The opt-outs are outbound events too (webhook subscribers, the FUB write-back).
    let subscriptions = crate::integrations::event_webhooks::resolve(&settings, |k| std::env::var(k).ok())
        .map_err(Fail::usage)?
        .into_iter()
        .map(|s| s.core)
        .collect();
    let fub_key = crate::config::Secrets::from_env().fub_api_key.is_some();
    let outbound = crate::rescan::Outbound {
        subscriptions,
        fub: crate::integrations::followupboss::writeback::subscription(&settings, fub_key),
    };
    if settings.cluster.enabled && !dry_run {
        // Every node opts them out as it applies the log (the events carry the rescan's keys).
        let events = findings
            .iter()
            .map(|f| {
                let (event, key) = crate::rescan::event_of(f);
                (f.lead.phone.clone(), event, key)
            })
            .collect();
        block_on(crate::cluster::offline::publish_events(&settings, events))?.map_err(Fail::failed)?;
    }
    for f in &findings {
        if !dry_run && !settings.cluster.enabled {
            block_on(crate::rescan::apply(&store, &policy, f, now, &outbound))?.map_err(Fail::failed)?;
        }
        let verb = if dry_run { "would opt out" } else { "opted out" };
        writeln!(out, "{verb} {} (timeline seq {}, {}): \"{}\"", f.lead.phone.masked(), f.seq, f.rule, f.reply)
            .map_err(stdout_error)?;
    }
    let verb = if dry_run { "would be opted out" } else { "opted out" };
    writeln!(out, "classifier v{}: {} lead(s) {verb}", leadline_core::classify::CLASSIFIER_VERSION, findings.len())
        .map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

pub fn lead(command: LeadCommand, config: Option<&Path>) -> ExitCode {
    finish(match command {
        LeadCommand::Show { phone, timeline } => lead_show(config, &phone, timeline),
    })
}

fn lead_show(config: Option<&Path>, raw: &str, last: usize) -> Result<ExitCode, Fail> {
    let settings = load_settings(config)?;
    let phone = Phone::parse(raw).map_err(|e| Fail::usage(e.to_string()))?;
    let store = open_store(&settings, false)?;
    let lead = store
        .lead(&phone)
        .map_err(|e| Fail::failed(e.to_string()))?
        .ok_or_else(|| Fail::failed(format!("no lead with phone {phone}")))?;
    let after = lead.timeline_len.saturating_sub(last as u64);
    let entries = store.timeline(&phone, after, last).map_err(|e| Fail::failed(e.to_string()))?;
    let out = serde_json::json!({ "lead": LeadView::from(&lead), "timeline": entries });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

/// The configuration, as `serve` reads it (`Settings::load_for_command`).
fn load_settings(config: Option<&Path>) -> Result<Settings, Fail> {
    Settings::load_for_command(config).map_err(|e| Fail::usage(e.to_string()))
}

/// Opens the database at `storage.path`. Only `create` may start a new one: reading
/// commands refuse a missing directory rather than report on an empty database.
fn open_store(settings: &Settings, create: bool) -> Result<Store, Fail> {
    let path = &settings.storage.path;
    if !create && !path.is_dir() {
        return Err(Fail::failed(format!(
            "no database at storage.path {} (set it with --config or LEADLINE__STORAGE__PATH)",
            path.display()
        )));
    }
    let dir = crate::data_dir::prepare(path)
        .map_err(|e| Fail::failed(format!("cannot create storage.path {}: {e}", path.display())))?;
    if let Some(warning) = dir.warning(path) {
        eprintln!("leadline: warning: {warning}");
    }
    Store::open(path).map_err(|e| match e {
        // Not a lock: a newer build wrote this database.
        StoreError::NewerSchema { .. } => Fail::failed(format!("cannot open the database at {}: {e}", path.display())),
        e => Fail::failed(format!(
            "cannot open the database at {}: {e}\n  is the service running? These commands need exclusive access to \
             the database: stop the service first, or use the admin API while it runs.",
            path.display()
        )),
    })
}

/// Runs a future on a small runtime (the store's writes flush asynchronously).
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, Fail> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::failed(format!("cannot start the async runtime: {e}")))?;
    Ok(rt.block_on(f))
}

fn stdout_error(e: std::io::Error) -> Fail {
    Fail::failed(format!("cannot write to standard output: {e}"))
}

// ---------------------------------------------------------------------------------------
// suppress import / export
// ---------------------------------------------------------------------------------------

fn suppress_import(config: Option<&Path>, file: &Path, list: Option<&str>) -> Result<ExitCode, Fail> {
    let settings = load_settings(config)?;
    if let Some(l) = list {
        check_list_name(l).map_err(|e| Fail::usage(format!("--list: {e}")))?;
    }
    let from_stdin = file == Path::new("-");
    let data = if from_stdin {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| Fail::usage(format!("cannot read standard input: {e}")))?;
        buf
    } else {
        std::fs::read(file).map_err(|e| Fail::usage(format!("cannot read {}: {e}", file.display())))?
    };
    let name = match file.file_name() {
        Some(f) if !from_stdin => f.to_string_lossy().into_owned(),
        _ => "standard input".to_string(),
    };
    let fallback = format!("imported from {name}");
    let plan = parse_import(&data, list, &fallback).map_err(Fail::usage)?;
    for (line, why) in &plan.skipped {
        eprintln!("line {line}: skipped: {why}");
    }
    let store = open_store(&settings, true)?;
    crate::cluster::offline::attach(&settings, &store);
    let now = Ts::from(chrono::Utc::now());
    let written = block_on(store_rows(&store, &plan.rows, now, |done, total| {
        if total > IMPORT_CHUNK {
            eprintln!("imported {done} / {total}");
        }
    }))?;
    let replaced = written.map_err(|e| Fail::failed(format!("import stopped: {e}")))?;
    let mut lists: Vec<&str> = plan.rows.iter().map(|r| r.list.as_str()).collect();
    lists.sort_unstable();
    lists.dedup();
    let mut summary = format!("imported {}, skipped {}", plan.rows.len(), plan.skipped.len());
    if !lists.is_empty() {
        summary.push_str(&format!(" (list: {})", lists.join(", ")));
    }
    if replaced > 0 {
        summary.push_str(&format!("; {replaced} number(s) were already listed and were updated"));
    }
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

fn suppress_export(config: Option<&Path>) -> Result<ExitCode, Fail> {
    let settings = load_settings(config)?;
    let store = open_store(&settings, false)?;
    let entries = store.suppression_list().map_err(|e| Fail::failed(format!("cannot read the list: {e}")))?;
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    let csv_err = |e: csv::Error| Fail::failed(format!("cannot write CSV: {e}"));
    crate::csv_cell::write_record(&mut w, &["phone", "list", "reason", "added_at"]).map_err(csv_err)?;
    for (phone, s) in &entries {
        let added = s.added_at.to_string();
        let fields = [phone.as_str(), &s.list, s.reason.as_deref().unwrap_or(""), &added];
        crate::csv_cell::write_record(&mut w, &fields).map_err(csv_err)?;
    }
    w.flush().map_err(stdout_error)?;
    eprintln!("exported {} number(s)", entries.len());
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// audit verify
// ---------------------------------------------------------------------------------------

/// Where one lead's audit trail is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub phone: Phone,
    pub seq: u64,
    pub reason: String,
}

/// What `audit verify` found.
#[derive(Debug, Default)]
pub struct AuditReport {
    pub leads: usize,
    pub entries: u64,
    pub breaks: Vec<Finding>,
}

/// Timeline entries read per page.
const PAGE: usize = 1000;

/// Verifies every lead's chain, and that it ends where the lead's snapshot says it does
/// (so entries cut off the end are noticed too).
pub fn verify_store(store: &Store) -> Result<AuditReport, String> {
    let mut report = AuditReport::default();
    let phones = store.lead_phones().map_err(|e| format!("cannot list the leads: {e}"))?;
    for phone in phones {
        report.leads += 1;
        let broken = |seq: u64, reason: String| Finding { phone: phone.clone(), seq, reason };
        let mut entries: Vec<TimelineEntry> = Vec::new();
        let read = loop {
            let after = entries.last().map(|e| e.seq).unwrap_or(0);
            match store.timeline(&phone, after, PAGE) {
                Ok(page) if page.is_empty() => break Ok(()),
                Ok(page) => {
                    let full = page.len() == PAGE;
                    entries.extend(page);
                    if !full {
                        break Ok(());
                    }
                }
                Err(e) => break Err(broken(after + 1, format!("timeline entry is unreadable: {e}"))),
            }
        };
        report.entries += entries.len() as u64;
        if let Err(finding) = read {
            report.breaks.push(finding);
            continue;
        }
        if let Err(b) = audit::verify(&entries) {
            report.breaks.push(broken(b.seq, b.reason));
            continue;
        }
        let lead = match store.lead(&phone) {
            Ok(Some(lead)) => lead,
            Ok(None) => continue,
            Err(e) => {
                report.breaks.push(broken(0, format!("the lead's snapshot is unreadable: {e}")));
                continue;
            }
        };
        let last_seq = entries.last().map(|e| e.seq).unwrap_or(0);
        let last_hash = entries.last().map(|e| e.hash.as_str()).unwrap_or("");
        if last_seq != lead.timeline_len {
            let reason = format!(
                "the timeline ends at seq {last_seq} but the lead's snapshot records {} entries",
                lead.timeline_len
            );
            report.breaks.push(broken(last_seq.min(lead.timeline_len) + 1, reason));
        } else if last_hash != lead.timeline_head {
            report
                .breaks
                .push(broken(last_seq, "the last entry's hash is not the chain head in the lead's snapshot".into()));
        }
    }
    Ok(report)
}

fn audit_verify(config: Option<&Path>) -> Result<ExitCode, Fail> {
    let settings = load_settings(config)?;
    let store = open_store(&settings, false)?;
    let report = verify_store(&store).map_err(Fail::failed)?;
    let mut out = std::io::stdout().lock();
    for b in &report.breaks {
        writeln!(out, "BROKEN {} seq {}: {}", b.phone.masked(), b.seq, b.reason).map_err(stdout_error)?;
    }
    let verdict = if report.breaks.is_empty() {
        "every chain is intact".to_string()
    } else {
        format!("{} broken chain(s)", report.breaks.len())
    };
    writeln!(out, "checked {} lead(s), {} entries: {verdict}", report.leads, report.entries).map_err(stdout_error)?;
    Ok(if report.breaks.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

// ---------------------------------------------------------------------------------------
// backup
// ---------------------------------------------------------------------------------------

/// `leadline backup DIR`: a consistent copy of the database into `DIR` (absent or empty).
/// While the service is stopped, this process opens the database and copies it; while it
/// runs (sled's lock is held), the service does it (`POST /v1/admin/backup` at `url`, else
/// at `server.bind`, with `LEADLINE_ADMIN_TOKEN`). Prints the [`BackupView`] as JSON.
pub fn backup(config: Option<&Path>, dir: &Path, url: Option<&str>) -> ExitCode {
    finish(backup_inner(config, dir, url))
}

fn backup_inner(config: Option<&Path>, dir: &Path, url: Option<&str>) -> Result<ExitCode, Fail> {
    let settings = load_settings(config)?;
    // The service resolves paths against its own working directory: send it an absolute one.
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| Fail::failed(format!("cannot read the working directory: {e}")))?.join(dir)
    };
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Fail::usage(format!("{} exists and is not empty; back up into a new directory", dir.display())));
    }
    let view = match url {
        Some(url) => backup_over_http(url, &dir)?,
        None => {
            let path = &settings.storage.path;
            if !path.is_dir() {
                return Err(Fail::failed(format!(
                    "no database at storage.path {} (set it with --config or LEADLINE__STORAGE__PATH)",
                    path.display()
                )));
            }
            match Store::open(path) {
                Ok(store) => crate::app::backup::run(&store, &dir).map_err(app_fail)?,
                // sled's lock: the service has the database open, so it makes the copy.
                Err(StoreError::Sled(sled_error)) if sled_error.to_string().contains("could not acquire lock") => {
                    let url = format!("http://{}", local_address(settings.server.bind));
                    eprintln!("leadline: the database is in use; asking the service at {url} for the backup");
                    backup_over_http(&url, &dir)?
                }
                Err(e) => return Err(Fail::failed(format!("cannot open the database at {}: {e}", path.display()))),
            }
        }
    };
    println!("{}", serde_json::to_string_pretty(&view).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// cluster
// ---------------------------------------------------------------------------------------

/// `leadline cluster status`.
pub fn cluster(command: ClusterCommand, config: Option<&Path>) -> ExitCode {
    finish(cluster_inner(command, config))
}

fn cluster_inner(command: ClusterCommand, config: Option<&Path>) -> Result<ExitCode, Fail> {
    let settings = load_settings(config)?;
    match command {
        ClusterCommand::Status => {
            let status = block_on(crate::cluster::status::status(&settings.cluster))?
                .map_err(|e| Fail::failed(format!("{e:#}")))?;
            let text = serde_json::to_string_pretty(&status).map_err(|e| Fail::failed(e.to_string()))?;
            println!("{text}");
        }
        ClusterCommand::Import => {
            let store = open_store(&settings, false)?;
            let progress = |n: u64| eprintln!("published {n} records");
            let report = block_on(crate::cluster::import::import(&settings, &store, progress))?
                .map_err(|e| Fail::failed(format!("{e:#}")))?;
            let text = serde_json::to_string_pretty(&report).map_err(|e| Fail::failed(e.to_string()))?;
            println!("{text}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// compact
// ---------------------------------------------------------------------------------------

/// `leadline compact`: rewrites the database at `storage.path` into a fresh one (offline:
/// stop the service first). Prints the [`CompactView`](crate::app::views::CompactView) as JSON.
pub fn compact(config: Option<&Path>) -> ExitCode {
    finish(compact_inner(config))
}

fn compact_inner(config: Option<&Path>) -> Result<ExitCode, Fail> {
    let settings = load_settings(config)?;
    let path = settings.storage.path.clone();
    let interrupted = crate::app::compact::interrupted(&path).is_some();
    if !path.is_dir() && !interrupted {
        return Err(Fail::failed(format!(
            "no database at storage.path {} (set it with --config or LEADLINE__STORAGE__PATH)",
            path.display()
        )));
    }
    let open = |_: &Path| open_store(&settings, false).map_err(|f| crate::app::AppError::Unavailable(f.1));
    let view = crate::app::compact::run(&path, open).map_err(app_fail)?;
    println!("{}", serde_json::to_string_pretty(&view).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

fn app_fail(e: crate::app::AppError) -> Fail {
    match e {
        crate::app::AppError::Invalid { message, .. } => Fail::usage(message),
        e => Fail::failed(e.to_string()),
    }
}

/// Where this machine reaches a service listening on `bind` (an unspecified address, e.g.
/// `0.0.0.0`, is reached on loopback).
fn local_address(bind: std::net::SocketAddr) -> std::net::SocketAddr {
    let ip = match bind.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    std::net::SocketAddr::new(ip, bind.port())
}

/// Asks the running service at `base` for the backup. A refusal of the directory (422) is
/// bad usage (exit 2), anything else a failure (exit 1).
fn backup_over_http(base: &str, dir: &Path) -> Result<BackupView, Fail> {
    let token = crate::config::Secrets::from_env()
        .admin_token
        .ok_or_else(|| Fail::usage("LEADLINE_ADMIN_TOKEN must be set to ask the running service for a backup"))?;
    let endpoint = format!("{}/v1/admin/backup", base.trim_end_matches('/'));
    let body = serde_json::json!({ "dir": dir.display().to_string() });
    block_on(async {
        let response = reqwest::Client::new()
            .post(&endpoint)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| Fail::failed(format!("cannot reach the service at {endpoint}: {e}")))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Fail::failed(format!("no reply from {endpoint}: {e}")))?;
        if status.is_success() {
            return serde_json::from_str::<BackupView>(&text)
                .map_err(|e| Fail::failed(format!("unexpected reply from {endpoint}: {e}")));
        }
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        let message = format!("the service refused the backup ({status}): {message}");
        Err(if status == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
            Fail::usage(message)
        } else {
            Fail::failed(message)
        })
    })?
}

// ---------------------------------------------------------------------------------------
// consent export
// ---------------------------------------------------------------------------------------

fn consent_export(config: Option<&Path>, raw: &str, format: ExportFormat) -> Result<ExitCode, Fail> {
    let phone = Phone::parse(raw).map_err(|e| Fail::usage(e.to_string()))?;
    let settings = load_settings(config)?;
    let store = open_store(&settings, false)?;
    let lead = store
        .lead(&phone)
        .map_err(|e| Fail::failed(format!("cannot read the lead: {e}")))?
        .ok_or_else(|| Fail::failed(format!("no lead with phone {}", phone.masked())))?;
    let bytes = match format {
        ExportFormat::Json => {
            let mut b =
                serde_json::to_vec_pretty(&ConsentExport::from(&lead)).map_err(|e| Fail::failed(e.to_string()))?;
            b.push(b'\n');
            b
        }
        ExportFormat::Csv => {
            consent_csv(&consent_rows(&lead)).map_err(|e| Fail::failed(format!("cannot write CSV: {e}")))?
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes).and_then(|()| out.flush()).map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(csv: &str, list: Option<&str>) -> ImportPlan {
        parse_import(csv.as_bytes(), list, "imported from test.csv").unwrap()
    }

    #[test]
    fn import_with_header_reason_and_list_columns() {
        let p = plan("phone,reason,list\n(212) 555-0142,sued us,litigator\nnope,x\n+13105550100,,\n", None);
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].0, 3);
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].phone.as_str(), "+12125550142");
        assert_eq!(p.rows[0].reason.as_deref(), Some("sued us"));
        assert_eq!(p.rows[0].list, "litigator");
        assert_eq!(p.rows[1].line, 4);
        assert_eq!(p.rows[1].reason.as_deref(), Some("imported from test.csv"));
        assert_eq!(p.rows[1].list, DEFAULT_IMPORT_LIST);
    }

    #[test]
    fn import_without_header_and_the_list_flag_wins() {
        let p = plan("\u{feff}2125550142, asked us to stop\n\n# a comment\n555\n", Some("admin"));
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].reason.as_deref(), Some("asked us to stop"));
        assert_eq!(p.rows[0].list, "admin");
        assert_eq!(p.skipped, vec![(4, "'555' is not a valid, dialable phone number".to_string())]);
    }

    #[test]
    fn line_numbers_count_quoted_newlines_blank_lines_and_comments() {
        let p = plan("phone,reason\n2125550142,\"two\nlines\"\n\n# note\r\n\r\n555\n2125550143\n", None);
        assert_eq!(p.rows[0].reason.as_deref(), Some("two\nlines"));
        assert_eq!(p.skipped.iter().map(|s| s.0).collect::<Vec<_>>(), [7]);
        assert_eq!(p.rows[1].line, 8);
    }

    #[test]
    fn a_bad_list_column_skips_the_line() {
        let p = plan("PHONE,List\n2125550142,Bad List\n", None);
        assert!(p.rows.is_empty());
        assert_eq!(p.skipped[0].0, 2);
    }
}
