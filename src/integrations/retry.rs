//! The retry policy of every backoff loop: the core's [`Backoff`] (exponential, full jitter,
//! at least the peer's `Retry-After`, at most the loop's maximum), defined once in
//! `leadline_core::retry` so the gateway (in the core crate) and the integrations here use
//! the same rule. This module adds reading `Retry-After` from an HTTP answer.
//!
//! Loops and their settings: gateway sends (`[gateway.retry]`), the RESO poller
//! (`integrations.reso.retry_base_ms`, `max_backoff_secs`), the Follow Up Boss worker
//! (`integrations.followupboss.retry_base_ms`, at most [`crate::integrations::followupboss::worker::MAX_BACKOFF`]),
//! the hand-off webhook ([`crate::integrations::handoff`]: from 1 s, at most 10 minutes).

use std::time::Duration;

pub use leadline_core::retry::{parse_retry_after, Backoff};

/// The `Retry-After` of an HTTP answer (delay-seconds or an HTTP-date), if it has a readable one.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_is_read_from_the_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("later"));
        assert_eq!(retry_after(&h), None);
    }
}
