//! Logging: human-readable by default, JSON by config. `RUST_LOG` overrides the filter.
//! Phone numbers are masked at the call sites (`Phone::masked`) and secrets are never logged.

use crate::config::{LogFormat, LogSettings};
use tracing_subscriber::{fmt, EnvFilter};

pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    // Colours only on a terminal: log files and log shippers get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = fmt().with_env_filter(filter).with_ansi(ansi);
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
