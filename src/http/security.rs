//! Guards every route shares, outermost first:
//!
//! 1. a request span that never carries a full phone number or a query string (the path is
//!    masked like `Phone::masked`; queries can hold phones and the adapters' `?key=`);
//! 2. per-client-IP rate limiting (`server.rate_limit_per_ip_per_sec`, `rate_limit_burst`;
//!    0 = off) on everything but `/healthz`, `/readyz` and `/metrics`: 429 `rate_limited` with
//!    `Retry-After`. The key is the socket's peer address, never `X-Forwarded-For` (which any
//!    client can forge): behind a reverse proxy every client shares the proxy's address, so
//!    limit at the proxy or raise the limit;
//! 3. a body-size ceiling: a `Content-Length` above `server.max_body_bytes` is refused with
//!    413 `body_too_large` before any handler or guard runs, and axum's own extractors get the
//!    same limit (handlers read bodies with `body::read_limited`, which covers chunked ones).
//!    The one exception is the admin page's CSV upload ([`UPLOAD_PATH`]): its route's own
//!    extractor limit, `admin.upload_max_bytes`, applies while the signed-in admin's body is
//!    read (and the page says "File too large");
//! 4. a whole-request deadline (`server.request_timeout_ms`: reading the body and handling
//!    it): 503 `request_timeout`. Nothing is acknowledged by a timed-out request; a retry
//!    with the same identity is harmless (dedupe keys, `Idempotency-Key`).

use super::error::ApiError;
use crate::config::ServerSettings;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower_http::trace::TraceLayer;

/// The admin page's CSV upload: the only route with its own body ceiling.
pub const UPLOAD_PATH: &str = "/admin/suppressions/upload";

/// Wraps the finished router in the shared guards.
pub fn guard(app: Router, server: &ServerSettings) -> Router {
    let limiter = IpLimiter::new(server.rate_limit_per_ip_per_sec, server.rate_limit_burst).map(Arc::new);
    let deadline = Duration::from_millis(server.request_timeout_ms.max(1));
    let max_body = server.max_body_bytes;
    app.layer(middleware::from_fn_with_state(deadline, request_deadline))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(max_body, body_ceiling))
        .layer(middleware::from_fn_with_state(limiter, rate_limit))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::debug_span!("request", method = %req.method(), path = %mask_path(req.uri().path()))
        }))
}

/// Per-IP token buckets. Stale keys are dropped now and then so memory stays bounded.
pub struct IpLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

impl IpLimiter {
    /// `None` when `per_sec` is 0 (limiting off). A burst of 0 means "same as per_sec".
    pub fn new(per_sec: u32, burst: u32) -> Option<IpLimiter> {
        let rate = NonZeroU32::new(per_sec)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(IpLimiter { limiter: DefaultKeyedRateLimiter::keyed(quota), checks: AtomicU64::new(0) })
    }

    /// `Err(wait)` when this IP is over its quota.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&ip).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

async fn rate_limit(State(limiter): State<Option<Arc<IpLimiter>>>, req: Request, next: Next) -> Response {
    let Some(limiter) = limiter else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    let Some(ip) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) else {
        return next.run(req).await; // not served over a socket (router tests)
    };
    match limiter.check(ip) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            metrics::counter!("leadline_rate_limited_total").increment(1);
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut res = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from this address; retry in {secs} s"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
    }
}

async fn body_ceiling(State(max): State<usize>, req: Request, next: Next) -> Response {
    if req.uri().path() == UPLOAD_PATH {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        metrics::counter!("leadline_body_too_large_total").increment(1);
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body is larger than {max} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}

async fn request_deadline(State(deadline): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            metrics::counter!("leadline_request_timeouts_total").increment(1);
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request_timeout",
                format!(
                    "the request did not complete within {} ms; nothing was acknowledged, retry (with the same \
                     Idempotency-Key if you sent one)",
                    deadline.as_millis()
                ),
            )
            .into_response()
        }
    }
}

/// The path with every phone-number-like run of digits masked like `Phone::masked`
/// (`/v1/admin/leads/%2B12125550142` -> `/v1/admin/leads/+1212***0142`).
pub fn mask_path(path: &str) -> String {
    let decoded = path.replace("%2B", "+").replace("%2b", "+");
    let mut out = String::with_capacity(decoded.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let digits = run.chars().filter(char::is_ascii_digit).count();
        if digits >= 7 {
            out.push_str(&leadline_core::phone::mask(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in decoded.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    // Numbers written with separators (`646-555-0183`, `%28646%29%20555-0183`).
    match crate::telemetry::redact_phone_numbers(out.as_bytes()) {
        std::borrow::Cow::Borrowed(_) => out,
        std::borrow::Cow::Owned(masked) => String::from_utf8_lossy(&masked).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_carry_full_numbers() {
        assert_eq!(mask_path("/v1/admin/leads/%2B12125550142/timeline"), "/v1/admin/leads/+1212***0142/timeline");
        assert_eq!(mask_path("/v1/admin/leads/12125550142"), "/v1/admin/leads/12125***0142");
        assert_eq!(
            mask_path("/admin/dead-letters/%2B12125550142%2315/retry"),
            "/admin/dead-letters/+1212***0142%2315/retry"
        );
        assert_eq!(mask_path("/v1/admin/leads/646-555-0183"), "/v1/admin/leads/***0183");
        assert_eq!(mask_path("/v1/admin/leads/%2B1%20646%20555%200183"), "/v1/admin/leads/+1646***0183");
        assert_eq!(mask_path("/v1/admin/leads/%28646%29%20555.0183"), "/v1/admin/leads/***0183");
        assert_eq!(mask_path("/v1/events/leads"), "/v1/events/leads");
        assert_eq!(mask_path("/2010-04-01/x"), "/2010-04-01/x");
    }

    #[test]
    fn limiter_refuses_past_the_burst_and_zero_disables_it() {
        assert!(IpLimiter::new(0, 10).is_none());
        let l = IpLimiter::new(1, 3).unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(ip).is_ok());
        }
        assert!(l.check(ip).is_err());
        assert!(l.check("192.0.2.2".parse().unwrap()).is_ok(), "per IP");
    }
}
