//! The SMS provider boundary. The gateway actor is the only caller.
//!
//! The core never reads a provider's error codes: a provider module (Twilio's lives in the
//! service crate, `integrations::twilio::codes`) classifies each refusal as a
//! [`SendFailure`] and each failed delivery receipt as a [`ReceiptFailure`], and the
//! decision core and the gateway act on those. The numeric code travels along unchanged,
//! because timeline rule ids (`provider.21610`, `delivery.undelivered.30003`) quote it.

use crate::model::OutboundText;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Why the provider refused a text, in the terms the core acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendFailure {
    /// The number cannot receive texts (not a valid or not an SMS-capable number): the lead
    /// becomes UNDELIVERABLE.
    InvalidNumber,
    /// The recipient opted out at the carrier or provider (replied STOP there): recorded as
    /// the lead's revocation of consent.
    RecipientOptedOut,
    /// Our own sender or campaign setup is wrong, not the lead's number: an operator must act
    /// (dead letter reason `configuration.<code>`).
    SenderMisconfigured,
    /// The provider throttled us (HTTP 429 or its own rate-limit code): worth retrying.
    RateLimited,
    /// Anything else (network errors, 5xx, codes with no meaning for the core).
    #[default]
    Other,
}

/// What a failed delivery receipt says about the number, in the terms the core acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptFailure {
    /// The carrier says the number cannot receive texts (unknown or landline destination):
    /// the lead becomes UNDELIVERABLE at once.
    CannotReceive,
    /// The handset could not be reached (off, out of coverage): UNDELIVERABLE only after
    /// `delivery.unreachable_limit` such receipts in a row.
    Unreachable,
    /// The carrier filtered the text (spam filter): noted for an operator (`carrier.filtered`).
    Filtered,
    /// Any other failure code.
    Other,
}

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
    /// The provider's error code, kept for the records (`provider.<code>` rule ids).
    pub code: Option<u32>,
    /// What the refusal means, filled in by the provider module from its codes.
    pub failure: SendFailure,
    /// The provider asked us to wait this long before trying again (`Retry-After`).
    pub retry_after: Option<Duration>,
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
            *guard = Some(open_private(&self.path)?);
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

/// Opens the record for appending. It holds full phone numbers and message bodies: a new
/// file is created `0600`, and an existing regular file that group or others may read is
/// changed to `0600` (special files such as `/dev/stdout` are left alone).
fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        let meta = file.metadata()?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_file() && mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            tracing::warn!(path = %path.display(), was = %format!("{mode:04o}"), "dry-run record was readable by other users; changed it to 0600");
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
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
            failure: SendFailure::Other,
            retry_after: None,
            http_status: None,
            message: format!("dry-run could not record to {}: {e}", self.path.display()),
        })?;
        tracing::info!(to = %text.to.masked(), id = %text.log_id(), kind = text.kind.as_str(), "dry-run: would send");
        Ok(Accepted { provider_id: format!("DRY{}", text.id.replace(['+', '#'], "")), status: "dry-run".into() })
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use crate::model::TextKind;
    use crate::{Phone, Ts};
    use std::os::unix::fs::PermissionsExt;

    fn text() -> OutboundText {
        OutboundText {
            id: "+12125550142#1".into(),
            to: Phone::parse("+12125550142").unwrap(),
            kind: TextKind::FirstContact,
            body: "Hi Ana".into(),
            rule: "sequence.first_contact".into(),
            created_at: Ts::from_millis(0).unwrap(),
        }
    }

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    // Whatever the process umask (tests usually run with 022), the record is created 0600.
    #[tokio::test]
    async fn the_dry_run_record_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.jsonl");
        let provider = DryRunProvider::new(path.clone());
        provider.send(&text(), &Sender::From("+12125550100".into())).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().contains("+12125550142"));
    }

    #[tokio::test]
    async fn an_existing_open_record_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.jsonl");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let provider = DryRunProvider::new(path.clone());
        provider.send(&text(), &Sender::From("+12125550100".into())).await.unwrap();
        assert_eq!(mode(&path), 0o600);
    }
}
