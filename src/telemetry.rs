//! Logging: human-readable by default, JSON by config. `RUST_LOG` overrides the filter.
//! Phone numbers are masked at the call sites (`Phone::masked`) and secrets are never logged;
//! as a backstop, the log writer masks anything that still looks like a phone number.

use crate::config::{LogFormat, LogSettings};
use std::io::Write;
use tracing_subscriber::{fmt, EnvFilter};

pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    // Colours only on a terminal: log files and log shippers get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // Every line passes the redacting writer: a full phone number that reaches a log call
    // (a message id is `<phone>#<seq>`, a third-party crate logs a URL) is masked anyway.
    let builder = fmt().with_env_filter(filter).with_ansi(ansi).with_writer(|| Redacting(std::io::stdout()));
    // try_init: a second call (tests) is a no-op instead of a panic.
    let _ = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// One Prometheus recorder per process (tests start many apps in one process).
pub fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// A writer that masks phone-number-like digit runs in each formatted log event.
struct Redacting<W>(W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&redact_phone_numbers(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Masks every run of 10 to 15 digits that stands alone (not part of a word or a longer
/// number): `+12125550142` (also URL-encoded `%2B12125550142`) becomes `+1212***0142` like
/// `Phone::masked`; a bare `2125550142` becomes `***0142`. Shorter and longer runs and digits
/// glued to letters (ids, hashes) are left alone.
pub fn redact_phone_numbers(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < line.len() {
        let (plus_len, start) = if line[i] == b'+' {
            (1, i + 1)
        } else if line[i] == b'%' && line.get(i + 1) == Some(&b'2') && matches!(line.get(i + 2), Some(b'B' | b'b')) {
            (3, i + 3)
        } else if line[i].is_ascii_digit() && (i == 0 || !is_word(line[i - 1])) {
            (0, i)
        } else {
            i += 1;
            continue;
        };
        let mut end = start;
        while end < line.len() && line[end].is_ascii_digit() {
            end += 1;
        }
        let digits = end - start;
        let glued = end < line.len() && is_word(line[end]);
        if (10..=15).contains(&digits) && !glued {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(line.len()));
            buf.extend_from_slice(&line[copied..i]);
            let run = &line[start..end];
            if plus_len > 0 {
                buf.push(b'+');
                buf.extend_from_slice(&run[..4]);
            }
            buf.extend_from_slice(b"***");
            buf.extend_from_slice(&run[digits - 4..]);
            copied = end;
        }
        i = end.max(i + 1);
    }
    match out {
        None => std::borrow::Cow::Borrowed(line),
        Some(mut buf) => {
            buf.extend_from_slice(&line[copied..]);
            std::borrow::Cow::Owned(buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_phone_numbers;

    fn r(s: &str) -> String {
        String::from_utf8(redact_phone_numbers(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn phone_numbers_are_masked_in_any_form() {
        assert_eq!(r("id=+12125550161#1 attempts=1"), "id=+1212***0161#1 attempts=1");
        assert_eq!(r("path=/v1/admin/leads/%2B12125550161/timeline"), "path=/v1/admin/leads/+1212***0161/timeline");
        assert_eq!(r("to 2125550161."), "to ***0161.");
        assert_eq!(r("\"+447946095812\""), "\"+4479***5812\"");
        assert_eq!(r("a +12125550161 and +13125550162"), "a +1212***0161 and +1312***0162");
    }

    #[test]
    fn other_numbers_are_left_alone() {
        for s in [
            "2026-11-27T08:35:57.268530Z",
            "SM00000000000000000000000000000042",
            "lsn 123456789",
            "sha 1234567890abcdef",
            "+1212***0161",
            "n=1234567890123456",
        ] {
            assert_eq!(r(s), s);
        }
    }
}
