use clap::{Parser, Subcommand};
use leadline::config::{Secrets, Settings};
use leadline::startup::Application;
use leadline_core::clock::SystemClock;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc instead of glibc's malloc: allocation was a quarter of the service's CPU
/// under load (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// leadline: compliant, event-driven text conversations with real-estate leads.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file, layered over the built-in defaults (default ./config.toml if
    /// present). Offline commands find the database at its `storage.path`. Accepted before
    /// or after the command.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (webhooks, admin API, actors).
    Serve,
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Do-not-contact (suppression) list: import and export. Run while the service is stopped.
    Suppress {
        #[command(subcommand)]
        command: leadline::cli::SuppressCommand,
    },
    /// Named operators of the admin API and page: add, list, revoke, set-password, token.
    /// These open the database directly: run them only while the service is stopped (the
    /// bootstrap path); while it runs, use /v1/admin/operators or the admin page.
    Operators {
        #[command(subcommand)]
        command: leadline::cli::OperatorsCommand,
    },
    /// Audit timeline commands. Run while the service is stopped.
    Audit {
        #[command(subcommand)]
        command: leadline::cli::AuditCommand,
    },
    /// Consent records: export a lead's history for legal defence. Run while the service is stopped.
    Consent {
        #[command(subcommand)]
        command: leadline::cli::ConsentCommand,
    },
    /// Compliance maintenance: `rescan` replies with this build's revocation classifier. Run while the service is stopped.
    Compliance {
        #[command(subcommand)]
        command: leadline::cli::ComplianceCommand,
    },
    /// One lead: state and latest timeline. Run while the service is stopped.
    Lead {
        #[command(subcommand)]
        command: leadline::cli::LeadCommand,
    },
    /// Write a consistent copy of the database into DIR (absent or empty; created 0700).
    /// While the service runs, the service makes the copy (admin API, LEADLINE_ADMIN_TOKEN);
    /// while it is stopped, this command does. Events wait while the trees are copied.
    Backup {
        /// Where to write the copy: a new or empty directory.
        dir: PathBuf,
        /// Ask the service at this base URL (default: when the database is in use, the
        /// service at `server.bind`).
        #[arg(long)]
        url: Option<String>,
    },
    /// Cluster mode on NATS JetStream (docs/cluster.md).
    Cluster {
        #[command(subcommand)]
        command: leadline::cli::ClusterCommand,
    },
    /// Rewrite the database into a fresh one, keeping only live data (sled's log holds
    /// old versions until it reclaims them). Offline: stop the service first.
    Compact,
    /// What-if: replay a JSON-lines file of events through the real decision core with a
    /// simulated clock and print what would be sent, blocked or deferred, and why.
    /// Nothing is stored or sent. See examples/simulate.jsonl for the format.
    Simulate {
        /// The events, one JSON object per line.
        events: PathBuf,
        /// Clock for events without an `at` (RFC 3339, e.g. 2026-11-27T14:00:00Z); default now.
        #[arg(long)]
        start: Option<chrono::DateTime<chrono::Utc>>,
        /// Keep the clock running this many days after the last event (follow-ups fire).
        #[arg(long, default_value_t = 7)]
        tail_days: i64,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration (file + environment), then print a summary.
    Check,
}

/// `--config` if given (must exist), else ./config.toml if it exists, else built-in defaults.
fn load(config: Option<&Path>) -> Result<Settings, String> {
    Settings::load_for_command(config).map_err(|e| e.to_string())
}

/// The error and its causes, like `{e:#}`, but leaving out a cause whose text the message
/// before it already contains: many errors print their source in their own message (e.g.
/// `storage error: <sled's error>`), and `{e:#}` then shows the same text twice.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread starts: every file and directory `serve` and the offline commands
    // (or sled for them) create is private to this user (src/data_dir.rs).
    leadline::data_dir::restrict_umask();
    match cli.command {
        Command::Suppress { command } => leadline::cli::suppress(command, cli.config.as_deref()),
        Command::Audit { command } => leadline::cli::audit(command, cli.config.as_deref()),
        Command::Operators { command } => leadline::cli::operators(command, cli.config.as_deref()),
        Command::Consent { command } => leadline::cli::consent(command, cli.config.as_deref()),
        Command::Lead { command } => leadline::cli::lead(command, cli.config.as_deref()),
        Command::Compliance { command } => leadline::cli::compliance(command, cli.config.as_deref()),
        Command::Backup { dir, url } => leadline::cli::backup(cli.config.as_deref(), &dir, url.as_deref()),
        Command::Compact => leadline::cli::compact(cli.config.as_deref()),
        Command::Cluster { command } => leadline::cli::cluster(command, cli.config.as_deref()),
        Command::Simulate { events, start, tail_days } => {
            let policy = load(cli.config.as_deref())
                .and_then(|s| leadline_core::policy::Policy::new(s.policy_settings()).map_err(|e| e.to_string()));
            let result = policy
                .map_err(anyhow::Error::msg)
                .and_then(|p| leadline::simulate::main(&p, &events, start, tail_days));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("leadline: {}", error_chain(&e));
                    ExitCode::from(2)
                }
            }
        }
        Command::Serve => {
            let settings = match load(cli.config.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("leadline: {e}");
                    return ExitCode::from(2);
                }
            };
            leadline::telemetry::init(&settings.log);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("leadline: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let data_dir = settings.storage.path.clone();
            let result = runtime.block_on(async {
                let app = Application::build(settings, Secrets::from_env(), Arc::new(SystemClock)).await?;
                app.run_until_signal().await
            });
            // Every task (and with them every handle on the database) ends with the runtime;
            // bounded, so a stuck blocking task cannot keep the process from exiting.
            runtime.shutdown_timeout(std::time::Duration::from_secs(10));
            match result {
                Ok(()) => {
                    leadline::startup::checkpoint(&data_dir);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("leadline: {}", error_chain(&e));
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config { command: ConfigCommand::Check } => match load(cli.config.as_deref()) {
            Ok(s) => {
                let secrets = Secrets::from_env();
                if let Err(e) = leadline_core::policy::Policy::new(s.policy_settings()) {
                    eprintln!("leadline: invalid configuration: {e}");
                    return ExitCode::from(2);
                }
                if s.gateway.provider == leadline::config::ProviderKind::Twilio && secrets.twilio_auth_token.is_none() {
                    eprintln!("leadline: TWILIO_AUTH_TOKEN must be set when gateway.provider = \"twilio\"");
                    return ExitCode::from(2);
                }
                if let Err(e) = leadline::integrations::standard_webhooks::parse_secrets(&secrets.webhook_secrets) {
                    eprintln!("leadline: {e}");
                    return ExitCode::from(2);
                }
                println!("configuration OK");
                println!("  listen: {}   public url: {}", s.server.bind, s.server.public_url);
                println!(
                    "  storage: {} ({:?})   provider: {:?}",
                    s.storage.path.display(),
                    s.storage.durability,
                    s.gateway.provider
                );
                println!(
                    "  admin token: {}",
                    if secrets.admin_token.is_some() { "set" } else { "NOT SET (admin API disabled)" }
                );
                println!(
                    "  twilio auth token: {}",
                    if secrets.twilio_auth_token.is_some() { "set" } else { "not set" }
                );
                println!(
                    "  webhook signatures: Standard Webhooks secrets: {} (tolerance {} s)   legacy secret: {}",
                    secrets.webhook_secrets.len(),
                    s.webhooks.inbound_tolerance_secs,
                    if secrets.webhook_secret.is_some() { "set" } else { "not set" }
                );
                println!("  templates and compliance rules: OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("leadline: {e}");
                ExitCode::from(2)
            }
        },
    }
}
