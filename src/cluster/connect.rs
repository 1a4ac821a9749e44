//! The NATS connection: seeds from `cluster.nats_url`, credentials from the environment.

use crate::config::ClusterSettings;
use anyhow::Context;
use async_nats::{ConnectOptions, ServerAddr};
use std::time::Duration;

/// `LEADLINE_NATS_CREDS`: a creds file (JWT + NKey seed), as `nsc` writes them.
pub const CREDS_ENV: &str = "LEADLINE_NATS_CREDS";
/// `LEADLINE_NATS_USER` / `LEADLINE_NATS_PASSWORD`: user and password authentication.
pub const USER_ENV: &str = "LEADLINE_NATS_USER";
pub const PASSWORD_ENV: &str = "LEADLINE_NATS_PASSWORD";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The seed URLs, each checked (`nats://host:port`, `tls://host:port`, or `host:port`).
pub fn seeds(nats_url: &str) -> anyhow::Result<Vec<ServerAddr>> {
    nats_url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<ServerAddr>().with_context(|| format!("cluster.nats_url: {s:?} is not a NATS URL")))
        .collect()
}

/// Connects; while no seed answers, tries again every second for `wait` (a node may start
/// before its NATS servers do, e.g. in one compose file).
pub async fn connect(settings: &ClusterSettings, node_id: &str, wait: Duration) -> anyhow::Result<async_nats::Client> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match connect_once(settings, node_id).await {
            Err(e) if std::time::Instant::now() < deadline && is_unreachable(&e) => {
                tracing::warn!(error = %format!("{e:#}"), "NATS not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// No seed answered (as opposed to bad settings or credentials, which a retry cannot fix).
fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<async_nats::ConnectError>().is_some_and(|c| {
            matches!(c.kind(), async_nats::ConnectErrorKind::Io | async_nats::ConnectErrorKind::TimedOut)
        })
    })
}

async fn connect_once(settings: &ClusterSettings, node_id: &str) -> anyhow::Result<async_nats::Client> {
    let seeds = seeds(&settings.nats_url)?;
    let tls = seeds.iter().any(|s| s.tls_required());
    let options = match (env(CREDS_ENV), env(USER_ENV)) {
        (Some(path), _) => ConnectOptions::with_credentials_file(&path)
            .await
            .with_context(|| format!("{CREDS_ENV}={path}: cannot read the creds file"))?,
        (None, Some(user)) => ConnectOptions::with_user_and_password(user, env(PASSWORD_ENV).unwrap_or_default()),
        (None, None) => ConnectOptions::new(),
    };
    options
        .name(format!("leadline {node_id}"))
        .require_tls(tls)
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(Duration::from_secs(5)))
        // Reconnect for ever: while disconnected, webhooks answer 503 and /readyz fails.
        .max_reconnects(None)
        .connect(seeds)
        .await
        .with_context(|| format!("cannot connect to NATS at cluster.nats_url = {}", settings.nats_url))
}
