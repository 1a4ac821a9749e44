//! The SMS provider boundary. The gateway actor is the only caller.

use crate::model::OutboundText;
use async_trait::async_trait;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// The provider took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub provider_id: String,
    pub status: String,
}

/// The provider did not take the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// Worth trying again (429, 5xx, timeouts, connection errors).
    pub retryable: bool,
    /// The provider's error code (Twilio: 21211, 21610, ...).
    pub code: Option<u32>,
    pub http_status: Option<u16>,
    pub message: String,
}

#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn send(&self, text: &OutboundText) -> Result<Accepted, ProviderError>;
}

/// Sends nothing: appends each message it would send to a JSON-lines file and logs it.
pub struct DryRunProvider {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl DryRunProvider {
    pub fn new(path: PathBuf) -> Self {
        DryRunProvider { path, file: Mutex::new(None) }
    }

    fn record(&self, text: &OutboundText) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?);
        }
        let line = serde_json::json!({
            "id": text.id, "to": text.to, "kind": text.kind, "body": text.body, "created_at": text.created_at,
        });
        if let Some(f) = guard.as_mut() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

#[async_trait]
impl SmsProvider for DryRunProvider {
    fn name(&self) -> &'static str {
        "dry-run"
    }

    async fn send(&self, text: &OutboundText) -> Result<Accepted, ProviderError> {
        self.record(text).map_err(|e| ProviderError {
            retryable: true,
            code: None,
            http_status: None,
            message: format!("dry-run could not record to {}: {e}", self.path.display()),
        })?;
        tracing::info!(to = %text.to.masked(), id = %text.id, kind = text.kind.as_str(), "dry-run: would send");
        Ok(Accepted { provider_id: format!("DRY{}", text.id.replace(['+', '#'], "")), status: "dry-run".into() })
    }
}
