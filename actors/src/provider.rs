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

/// Who a text is sent from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sender {
    /// A phone number of ours (E.164).
    From(String),
    /// A Twilio Messaging Service, which picks the number itself.
    MessagingService(String),
}

impl Sender {
    pub fn label(&self) -> &str {
        match self {
            Sender::From(n) | Sender::MessagingService(n) => n,
        }
    }
}

/// The provider did not take the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// Worth trying again: the provider certainly did not take it (429, 5xx, connection refused).
    pub retryable: bool,
    /// We cannot know whether the provider took it (a timeout after the request was sent):
    /// never retried automatically, parked for a person instead.
    pub outcome_unknown: bool,
    /// The provider's error code (Twilio: 21211, 21610, ...).
    pub code: Option<u32>,
    pub http_status: Option<u16>,
    pub message: String,
}

#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn send(&self, text: &OutboundText, sender: &Sender) -> Result<Accepted, ProviderError>;
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

    async fn send(&self, text: &OutboundText, _sender: &Sender) -> Result<Accepted, ProviderError> {
        self.record(text).map_err(|e| ProviderError {
            retryable: true,
            outcome_unknown: false,
            code: None,
            http_status: None,
            message: format!("dry-run could not record to {}: {e}", self.path.display()),
        })?;
        tracing::info!(to = %text.to.masked(), id = %text.log_id(), kind = text.kind.as_str(), "dry-run: would send");
        Ok(Accepted { provider_id: format!("DRY{}", text.id.replace(['+', '#'], "")), status: "dry-run".into() })
    }
}
