//! Liveness, readiness and Prometheus metrics (no authentication).

use crate::app::views::{Health, Readiness};
use crate::app::App;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;

/// Liveness: the process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    metrics::gauge!("leadline_store_size_bytes").set(app.store.size_on_disk() as f64);
    // Set from the store on each scrape, so the gauge is true after a restart, a discard
    // or a retry whatever path removed the dead letter (few: each waits for a person).
    metrics::gauge!("leadline_dead_letters").set(app.store.dead_letter_count() as f64);
    metrics::gauge!("leadline_ready").set(if readiness(&app).await.0 { 1.0 } else { 0.0 });
    // Reads /proc/self: a few small files, off the async threads all the same.
    let _ = tokio::task::spawn_blocking(crate::metrics_catalog::record_process_metrics).await;
    // Counting leads is a scan of the whole tree in sled (1M leads: about a second of CPU):
    // at most once a minute, off the async threads, not on every scrape.
    static LEADS_COUNTED_AT: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let recount = {
        let mut at = LEADS_COUNTED_AT.lock().unwrap_or_else(|p| p.into_inner());
        let stale = at.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60));
        if stale {
            *at = Some(std::time::Instant::now());
        }
        stale
    };
    if recount {
        let store = app.store.clone();
        let count = tokio::task::spawn_blocking(move || store.lead_count()).await.unwrap_or_default();
        metrics::gauge!("leadline_leads_stored").set(count as f64);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render())
}

/// Readiness: the store answers and the lead supervisor answers (in cluster mode also: NATS
/// is connected and the node caught up with the log). 503 otherwise, so a load balancer or
/// orchestrator holds traffic until all are up.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready: the store and the lead supervisor answer", body = Readiness),
        (status = 503, description = "Not ready (same body, `status` = `not_ready`)", body = Readiness),
    )
)]
pub async fn readyz(State(app): State<App>) -> impl IntoResponse {
    let (ready, store_ok, live) = readiness(&app).await;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        store: if store_ok { "ok" } else { "unavailable" },
        live_lead_actors: live,
        cluster: app.cluster.as_ref().map(|c| c.readiness()),
        partitions_owned: app.cluster.as_ref().map(|c| c.partitions_owned()),
    };
    let status = if ready { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

/// (ready, store answers and its latest flush did not fail, live lead actors if the
/// supervisor answered): what `/readyz` answers and `leadline_ready` reports.
async fn readiness(app: &App) -> (bool, bool, Option<usize>) {
    use leadline_core::actors::supervisor::SupervisorMsg;
    let store_ok = app.store.ping().is_ok();
    let live = ractor::call_t!(app.supervisor, SupervisorMsg::LiveCount, 1000).ok();
    let cluster_ok = app.cluster.as_ref().is_none_or(|c| c.readiness() == "ok");
    (store_ok && live.is_some() && cluster_ok, store_ok, live)
}
