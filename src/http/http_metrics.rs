//! HTTP latency histograms by route template (never the raw path: it holds phone numbers),
//! method and status class.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

pub async fn record(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let response = next.run(req).await;
    let status = format!("{}xx", response.status().as_u16() / 100);
    metrics::histogram!("leadline_http_request_duration_seconds", "route" => route, "method" => method, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}
