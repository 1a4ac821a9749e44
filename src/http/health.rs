use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;

/// Liveness: the process is up and serving.
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// Prometheus text exposition.
pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("leadline_store_size_bytes").set(app.store.size_on_disk() as f64);
    metrics::gauge!("leadline_leads_stored").set(app.store.lead_count() as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render())
}
