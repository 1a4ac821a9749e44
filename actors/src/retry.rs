//! The one retry rule of every backoff loop (gateway sends, the RESO poller, the Follow Up
//! Boss worker, the hand-off webhook): exponential backoff with full jitter, raised to the
//! peer's `Retry-After` when it sends one, never above the loop's maximum.
//!
//! Full jitter (a uniform draw between zero and the exponential ceiling) is the variant the
//! AWS Architecture Blog measured as spreading retries best: "Exponential Backoff And
//! Jitter", <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>.
//! `Retry-After` is either delay-seconds or an HTTP-date (RFC 9110 section 10.2.3,
//! <https://www.rfc-editor.org/rfc/rfc9110#name-retry-after>).

use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

/// Exponential backoff with full jitter: retry `n` (1 = the first retry) waits a uniform
/// random time in `[0, min(max, base * 2^(n-1))]`, at least the peer's `Retry-After`, and
/// never more than `max`. Millisecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// The longest wait before retry `retry` (1 = the first): `min(max, base * 2^(retry-1))`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(32);
        let base = u64::try_from(self.base.as_millis()).unwrap_or(u64::MAX);
        let exp = base.saturating_mul(1u64 << doublings);
        Duration::from_millis(exp).min(self.max)
    }

    /// The wait before retry `retry`, drawn with the thread's random generator.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.delay_with(retry, retry_after, &mut rand::rng())
    }

    /// [`Backoff::delay`] with a given random generator (tests).
    pub fn delay_with<R: Rng + ?Sized>(&self, retry: u32, retry_after: Option<Duration>, rng: &mut R) -> Duration {
        let ceiling = u64::try_from(self.ceiling(retry).as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(rng.random_range(0..=ceiling));
        jittered.max(retry_after.unwrap_or(Duration::ZERO)).min(self.max)
    }
}

/// Reads a `Retry-After` header value: delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, read relative to `now`; a date in the past is zero).
/// `None` when it is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn the_ceiling_doubles_from_base_and_stops_at_max() {
        let b = Backoff::new(MS(100), MS(1_000));
        let ceilings: Vec<u64> = (1..=6).map(|n| b.ceiling(n).as_millis() as u64).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(b.ceiling(0), MS(100), "retry 0 is read as the first");
        assert_eq!(b.ceiling(u32::MAX), MS(1_000), "no overflow");
        // Millisecond resolution: a ceiling past u64::MAX ms saturates there instead of panicking.
        let huge = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        assert_eq!(huge.ceiling(40), MS(u64::MAX));
        assert!(huge.delay(40, None) <= MS(u64::MAX));
    }

    #[test]
    fn jitter_stays_between_zero_and_the_ceiling_and_spreads() {
        let b = Backoff::new(MS(100), MS(10_000));
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 1..=8 {
            let draws: Vec<Duration> = (0..2_000).map(|_| b.delay_with(retry, None, &mut rng)).collect();
            let ceiling = b.ceiling(retry);
            assert!(draws.iter().all(|d| *d <= ceiling), "retry {retry}");
            // Full jitter: both halves of the range are used.
            assert!(draws.iter().any(|d| *d < ceiling / 2), "retry {retry}");
            assert!(draws.iter().any(|d| *d > ceiling / 2), "retry {retry}");
        }
    }

    #[test]
    fn retry_after_is_a_floor_but_max_still_caps() {
        let b = Backoff::new(MS(10), MS(5_000));
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..500 {
            let d = b.delay_with(1, Some(MS(2_000)), &mut rng);
            assert_eq!(d, MS(2_000), "the jittered wait (<= 10 ms) is raised to Retry-After");
            assert_eq!(b.delay_with(1, Some(Duration::from_secs(3_600)), &mut rng), MS(5_000));
            assert!(b.delay_with(1, Some(Duration::ZERO), &mut rng) <= MS(10));
        }
    }

    #[test]
    fn a_zero_maximum_means_no_wait() {
        let b = Backoff::new(MS(500), Duration::ZERO);
        assert_eq!(b.delay(3, Some(MS(100))), Duration::ZERO);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO), "past");
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }
}
