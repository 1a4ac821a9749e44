//! Builds and runs the whole service: storage, actors, HTTP. Tests use the same code path
//! (`Application::build` on port 0 with a temporary data dir).

use crate::app::{App, AppInner};
use crate::cluster::Cluster;
use crate::config::{ProviderKind, Secrets, Settings};
use crate::http::router;
use crate::integrations::twilio::TwilioProvider;
use anyhow::Context;
use leadline_core::actors::gateway::{Gateway, GatewayArgs, GatewayMsg};
use leadline_core::actors::link::ClusterLink;
use leadline_core::actors::scheduler::{Scheduler, SchedulerArgs, SchedulerMsg};
use leadline_core::actors::supervisor::{LeadSupervisor, SupervisorMsg};
use leadline_core::actors::LeadDeps;
use leadline_core::clock::Clock;
use leadline_core::policy::Policy;
use leadline_core::provider::{DryRunProvider, SmsProvider};
use leadline_core::storage::Store;
use ractor::{Actor, ActorRef};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Application {
    addr: SocketAddr,
    settings: Settings,
    store: Store,
    supervisor: ActorRef<SupervisorMsg>,
    gateway: ActorRef<GatewayMsg>,
    scheduler: ActorRef<SchedulerMsg>,
    server: JoinHandle<std::io::Result<()>>,
    stop_server: oneshot::Sender<()>,
    background: crate::background::Background,
    /// The hand-off notifier task and its stop signal.
    notifier: (tokio::sync::watch::Sender<bool>, JoinHandle<()>),
    /// Cluster mode: the log consumer and the lease task, and their stop signal.
    cluster: (tokio::sync::watch::Sender<bool>, Vec<JoinHandle<()>>),
    /// The event webhook delivery task and its stop signal.
    deliverer: (tokio::sync::watch::Sender<bool>, JoinHandle<()>),
    /// The Follow Up Boss write-back task (when on) and its stop signal.
    fub_writer: (tokio::sync::watch::Sender<bool>, Option<JoinHandle<()>>),
}

/// Builds the SMS provider the config asks for.
fn provider(settings: &Settings, secrets: &Secrets) -> anyhow::Result<Arc<dyn SmsProvider>> {
    Ok(match settings.gateway.provider {
        ProviderKind::DryRun => Arc::new(DryRunProvider::new(settings.dry_run_file())),
        ProviderKind::Twilio => {
            let token = secrets
                .twilio_auth_token
                .clone()
                .context("TWILIO_AUTH_TOKEN must be set when gateway.provider = \"twilio\"")?;
            let t = &settings.gateway.twilio;
            let callback = format!("{}/v1/twilio/status", settings.server.public_url.as_str().trim_end_matches('/'));
            Arc::new(TwilioProvider::new(
                &t.api_base,
                t.account_sid.clone(),
                token,
                callback,
                Duration::from_millis(t.timeout_ms),
            )?)
        }
    })
}

impl Application {
    pub async fn build(settings: Settings, secrets: Secrets, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        check_bind_policy(&settings, &secrets)?;
        crate::integrations::standard_webhooks::parse_secrets(&secrets.webhook_secrets).map_err(anyhow::Error::msg)?;
        let event_subscriptions = Arc::new(
            crate::integrations::event_webhooks::resolve(&settings, |k| std::env::var(k).ok())
                .map_err(anyhow::Error::msg)?,
        );
        let webhook_wake = Arc::new(tokio::sync::Notify::new());
        let fub_writeback =
            crate::integrations::followupboss::writeback::subscription(&settings, secrets.fub_api_key.is_some());
        // Load the phone-number metadata and the area-code table now, off the async threads and
        // while storage opens; lazily, the first request paid ~200 ms for them (leadline-load
        // --probe million: "first event for a cold lead").
        tokio::task::spawn_blocking(|| {
            let _ = leadline_core::Phone::parse("+12125550142");
            let _ = leadline_core::quiet_hours::area_info("+12125550142");
        });
        // Everything that can be refused for configuration is checked before touching storage.
        let provider = provider(&settings, &secrets)?;
        let policy = Arc::new(Policy::new(settings.policy_settings()).context("invalid configuration")?);
        let path = &settings.storage.path;
        if let Some(old) = crate::app::compact::interrupted(path) {
            anyhow::bail!(
                "an interrupted `leadline compact` left {} behind; run `leadline compact` again to finish it",
                old.display()
            );
        }
        let dir =
            crate::data_dir::prepare(path).with_context(|| format!("cannot create storage.path {}", path.display()))?;
        if let Some(warning) = dir.warning(path) {
            tracing::warn!("{warning}");
        }
        let store = Store::open_with(path, settings.storage.store_options())
            .with_context(|| format!("cannot open the database in storage.path {}", path.display()))?;
        // The recorder first: start-up work (a snapshot restore) counts in the metrics too.
        let metrics = crate::telemetry::metrics_handle();
        let cluster = match settings.cluster.enabled {
            true => Some(
                Cluster::connect(
                    &settings.cluster,
                    settings.server.bind.port(),
                    clock.clone(),
                    crate::cluster::SETUP_WAIT,
                )
                .await?,
            ),
            false => None,
        };
        let link = cluster.clone().map(|c| Arc::new(c) as Arc<dyn ClusterLink>);
        if let Some(c) = &cluster {
            // A node the log was compacted past starts from the snapshot (before anything reads
            // the store).
            crate::cluster::snapshot::restore_if_needed(c, &store).await?;
            store.set_replicator(Arc::new(c.clone()));
        }
        let gateway_args = GatewayArgs {
            provider,
            store: store.clone(),
            policy: policy.clone(),
            clock: clock.clone(),
            limits: settings.gateway.limits.clone(),
            retry: settings.gateway.retry.clone(),
            from_numbers: match settings.gateway.provider {
                ProviderKind::Twilio => settings.gateway.twilio.from_numbers.clone(),
                ProviderKind::DryRun => vec![],
            },
            messaging_service_sid: Some(settings.gateway.twilio.messaging_service_sid.trim().to_string())
                .filter(|s| !s.is_empty() && settings.gateway.provider == ProviderKind::Twilio),
            link: link.clone(),
        };
        let (gateway, _) = Actor::spawn(None, Gateway, gateway_args).await.context("cannot start the gateway actor")?;
        let notify = Arc::new(tokio::sync::Notify::new());
        let deps = Arc::new(LeadDeps {
            store: store.clone(),
            policy,
            clock,
            gateway: gateway.clone(),
            notify: notify.clone(),
            subscriptions: Arc::new(event_subscriptions.iter().map(|s| s.core.clone()).collect()),
            webhook_wake: webhook_wake.clone(),
            fub_writeback: fub_writeback.clone(),
            idle_after: Duration::from_millis(settings.actors.passivate_after_ms.max(10)),
        });
        let (stop_notifier, notifier_stopped) = tokio::sync::watch::channel(false);
        let notifier = crate::integrations::handoff::Notifier {
            store: store.clone(),
            settings: settings.handoff.clone(),
            secret: secrets.webhook_secret.clone(),
            wake: notify,
            cluster: cluster.clone(),
        };
        let notifier = tokio::spawn(notifier.run(notifier_stopped));
        let (stop_deliverer, deliverer_stopped) = tokio::sync::watch::channel(false);
        let mut deliverer = crate::integrations::event_webhooks::Deliverer::new(
            store.clone(),
            &settings,
            event_subscriptions.clone(),
            webhook_wake.clone(),
        );
        deliverer.cluster = cluster.clone();
        let deliverer = tokio::spawn(deliverer.run(deliverer_stopped));
        let (supervisor, _) =
            Actor::spawn(None, LeadSupervisor, deps.clone()).await.context("cannot start the lead supervisor")?;
        gateway.cast(GatewayMsg::Attach(supervisor.clone()))?;
        // Texts persisted but not yet handed over before a restart go out now; in-doubt ones are
        // parked. In cluster mode the node that takes the gateway lease does this (cluster::lease).
        if cluster.is_none() {
            gateway.cast(GatewayMsg::Recover)?;
        }
        let scheduler_args = SchedulerArgs {
            store: store.clone(),
            clock: deps.clock.clone(),
            supervisor: supervisor.clone(),
            tick: Duration::from_millis(settings.scheduler.tick_ms.max(10)),
            link,
        };
        let (scheduler, _) =
            Actor::spawn(None, Scheduler, scheduler_args).await.context("cannot start the scheduler")?;
        let (stop_cluster, cluster_stopping) = tokio::sync::watch::channel(false);
        let cluster_tasks = match &cluster {
            Some(c) => {
                let targets = crate::cluster::apply::Targets {
                    store: store.clone(),
                    snapshot_dir: settings.storage.path.clone(),
                    supervisor: supervisor.clone(),
                    gateway: gateway.clone(),
                };
                tracing::info!(node = %c.node_id, "cluster mode: applying the JetStream log");
                vec![
                    crate::cluster::apply::spawn(c.clone(), targets, cluster_stopping.clone()),
                    crate::cluster::snapshot::spawn_trigger(c.clone(), cluster_stopping.clone()),
                    crate::cluster::lease::spawn(c.clone(), gateway.clone(), cluster_stopping.clone()),
                    crate::cluster::partitions::spawn(c.clone(), cluster_stopping),
                ]
            }
            None => vec![],
        };

        let listener = tokio::net::TcpListener::bind(settings.server.bind)
            .await
            .with_context(|| format!("cannot listen on server.bind = {}", settings.server.bind))?;
        let addr = listener.local_addr()?;
        let state = App(Arc::new(AppInner {
            settings: settings.clone(),
            secrets,
            store: store.clone(),
            supervisor: supervisor.clone(),
            gateway: gateway.clone(),
            metrics,
            clock: deps.clock.clone(),
            cluster: cluster.clone(),
            event_subscriptions,
            webhook_wake,
            logins: crate::app::operators::LoginThrottle::default(),
            imports: Default::default(),
        }));
        let (stop_server, stopped) = oneshot::channel::<()>();
        let background = crate::background::Background::start(&state, &state.secrets)?;
        let (stop_fub_writer, fub_writer_stopped) = tokio::sync::watch::channel(false);
        let fub_writer = fub_writeback.map(|subscription| {
            let f = &settings.integrations.followupboss;
            let writer = crate::integrations::followupboss::writeback::Writer {
                app: state.clone(),
                subscription,
                backoff: crate::integrations::retry::Backoff::new(
                    Duration::from_millis(f.retry_base_ms),
                    crate::integrations::followupboss::worker::MAX_BACKOFF,
                ),
            };
            tokio::spawn(writer.run(fub_writer_stopped))
        });
        let app = router(state);
        let limits = crate::serve::ServeLimits::from_settings(&settings.server);
        let server = tokio::spawn(crate::serve::serve(listener, app, limits, async move {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, provider = ?settings.gateway.provider, "leadline is listening");
        Ok(Application {
            addr,
            settings,
            store,
            supervisor,
            gateway,
            scheduler,
            server,
            stop_server,
            background,
            notifier: (stop_notifier, notifier),
            cluster: (stop_cluster, cluster_tasks),
            deliverer: (stop_deliverer, deliverer),
            fub_writer: (stop_fub_writer, fub_writer),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Runs a RESO poll now and returns what it did (needs `integrations.reso.enabled`).
    pub async fn reso_poll_now(&self) -> anyhow::Result<crate::integrations::reso::PollReport> {
        self.background.reso_poll_now().await
    }

    /// Serves until SIGINT/SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; draining");
        self.stop().await
    }

    /// Graceful shutdown: stop accepting requests and finish in-flight ones, let in-flight
    /// sends finish, let every lead actor drain its mailbox, flush storage.
    pub async fn stop(self) -> anyhow::Result<()> {
        let grace = Duration::from_millis(self.settings.server.shutdown_grace_ms);
        let _ = self.stop_server.send(());
        match tokio::time::timeout(grace, self.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server task failed"),
            Err(_) => tracing::warn!("HTTP server did not finish within the grace period"),
        }
        self.background.stop();
        self.scheduler.stop_and_wait(None, Some(grace)).await.ok();
        let _ = ractor::call_t!(self.gateway, GatewayMsg::Drain, grace.as_millis() as u64 + 1000, grace);
        // Cluster mode: after in-flight sends finished, release the gateway lease (another node
        // takes over at once) and stop applying the log (the next start resumes it).
        let _ = self.cluster.0.send(true);
        for task in self.cluster.1 {
            let _ = tokio::time::timeout(grace, task).await;
        }
        let _ = ractor::call_t!(self.supervisor, SupervisorMsg::DrainAll, grace.as_millis() as u64 + 1000, grace);
        self.supervisor.stop_and_wait(None, Some(grace)).await.ok();
        self.gateway.stop_and_wait(None, Some(grace)).await.ok();
        let _ = self.notifier.0.send(true);
        let _ = tokio::time::timeout(grace, self.notifier.1).await;
        let _ = self.deliverer.0.send(true);
        let _ = tokio::time::timeout(grace, self.deliverer.1).await;
        let _ = self.fub_writer.0.send(true);
        if let Some(writer) = self.fub_writer.1 {
            let _ = tokio::time::timeout(grace, writer).await;
        }
        self.store.flush().await.context("final flush failed")?;
        tracing::info!("leadline stopped");
        Ok(())
    }
}

/// `serve` must not expose unsigned event endpoints beyond this machine by accident.
pub fn check_bind_policy(settings: &Settings, secrets: &Secrets) -> anyhow::Result<()> {
    let bind = settings.server.bind;
    if bind.ip().is_loopback() || secrets.signs_webhooks() || settings.server.allow_unsigned_webhooks {
        return Ok(());
    }
    anyhow::bail!(
        "server.bind = {bind} is not a loopback address and neither LEADLINE_WEBHOOK_SECRETS nor \
         LEADLINE_WEBHOOK_SECRET is set, so anyone who can reach this port could post unsigned events \
         (leads, CRM and MLS changes). Set LEADLINE_WEBHOOK_SECRETS (whsec_... secrets; senders then \
         sign with Standard Webhooks headers) or the legacy LEADLINE_WEBHOOK_SECRET (X-Leadline-Signature), or set \
         server.allow_unsigned_webhooks = true (LEADLINE__SERVER__ALLOW_UNSIGNED_WEBHOOKS=true) if \
         something in front of leadline already authenticates callers"
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// After a graceful stop: let sled write its start-up snapshot now, so the next start does
/// not replay the whole log written by this run (docs/performance.md). Best effort: a failure
/// or a kill here only means the next start is slower.
pub fn checkpoint(data_dir: &std::path::Path) {
    let started = std::time::Instant::now();
    match leadline_core::storage::Store::checkpoint(data_dir) {
        Ok(()) => tracing::info!(took_ms = started.elapsed().as_millis() as u64, "storage checkpoint written"),
        Err(e) => tracing::warn!(error = %e, "storage checkpoint skipped; the next start replays the log"),
    }
}
