use clap::{Parser, Subcommand};
use leadline::config::{Secrets, Settings};
use leadline::startup::Application;
use leadline_actors::clock::SystemClock;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// leadline: compliant, event-driven text conversations with real-estate leads.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (webhooks, admin API, actors).
    Serve {
        /// Configuration file, layered over the built-in defaults. Defaults to ./config.toml if present.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
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
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration (file + environment), then print a summary.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// `--config` if given (must exist), else ./config.toml if it exists, else built-in defaults.
fn load(config: Option<&Path>) -> Result<Settings, String> {
    let default = Path::new("config.toml");
    let path = config.or(default.exists().then_some(default));
    Settings::load(path).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Suppress { command } => leadline::cli::suppress(command),
        Command::Audit { command } => leadline::cli::audit(command),
        Command::Consent { command } => leadline::cli::consent(command),
        Command::Serve { config } => {
            let settings = match load(config.as_deref()) {
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
            let result = runtime.block_on(async {
                let app = Application::build(settings, Secrets::from_env(), Arc::new(SystemClock)).await?;
                app.run_until_signal().await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("leadline: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config { command: ConfigCommand::Check { config } } => match load(config.as_deref()) {
            Ok(s) => {
                let secrets = Secrets::from_env();
                println!("configuration OK");
                println!("  listen: {}   public url: {}", s.server.bind, s.server.public_url);
                println!("  storage: {}   provider: {:?}", s.storage.path.display(), s.gateway.provider);
                println!(
                    "  admin token: {}",
                    if secrets.admin_token.is_some() { "set" } else { "NOT SET (admin API disabled)" }
                );
                println!(
                    "  twilio auth token: {}",
                    if secrets.twilio_auth_token.is_some() { "set" } else { "not set" }
                );
                match leadline_actors::policy::Policy::new(s.policy_settings()) {
                    Ok(_) => println!("  templates and compliance rules: OK"),
                    Err(e) => {
                        eprintln!("leadline: invalid configuration: {e}");
                        return ExitCode::from(2);
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("leadline: {e}");
                ExitCode::from(2)
            }
        },
    }
}
