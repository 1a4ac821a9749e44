//! The Twilio provider: `POST {api_base}/2010-04-01/Accounts/{sid}/Messages.json`,
//! form-encoded, HTTP Basic auth. `api_base` is configurable so tests can point it at a
//! local fake that speaks the same wire format. A refusal carries Twilio's code and its
//! neutral meaning ([`super::codes::send_failure`]), and a `Retry-After` if Twilio sent one.
//! API reference: <https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>.

use super::codes;
use async_trait::async_trait;
use leadline_core::model::OutboundText;
use leadline_core::provider::{Accepted, ProviderError, SendFailure, Sender, SmsProvider};
use serde::Deserialize;
use std::time::Duration;

pub struct TwilioProvider {
    http: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: String,
    status_callback: String,
}

#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    status: Option<String>,
}

/// Twilio's error body: `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<u32>,
    message: Option<String>,
}

impl TwilioProvider {
    pub fn new(
        api_base: &url::Url,
        account_sid: String,
        auth_token: String,
        status_callback: String,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        let base = api_base.as_str().trim_end_matches('/');
        let messages_url = format!("{base}/2010-04-01/Accounts/{account_sid}/Messages.json");
        Ok(TwilioProvider { http, messages_url, account_sid, auth_token, status_callback })
    }
}

#[async_trait]
impl SmsProvider for TwilioProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, text: &OutboundText, sender: &Sender) -> Result<Accepted, ProviderError> {
        let (from_field, from_value) = match sender {
            Sender::From(n) => ("From", n.as_str()),
            Sender::MessagingService(sid) => ("MessagingServiceSid", sid.as_str()),
        };
        let form = [
            ("To", text.to.as_str()),
            (from_field, from_value),
            ("Body", text.body.as_str()),
            ("StatusCallback", self.status_callback.as_str()),
        ];
        let response = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                // Refused before the request was written: certainly not sent, safe to retry.
                // Anything else (a timeout waiting for the reply): Twilio may have taken it.
                let certain = e.is_connect();
                ProviderError {
                    retryable: certain,
                    outcome_unknown: !certain,
                    code: None,
                    failure: SendFailure::Other,
                    retry_after: None,
                    http_status: None,
                    message: if e.is_timeout() {
                        format!("timed out calling Twilio: {e}")
                    } else {
                        format!("could not reach Twilio: {e}")
                    },
                }
            })?;
        let status = response.status();
        let retry_after = crate::integrations::retry::retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| ProviderError {
            // The status line arrived but the body did not: a success may have been lost.
            retryable: false,
            outcome_unknown: status.is_success(),
            code: None,
            failure: SendFailure::Other,
            retry_after: None,
            http_status: Some(status.as_u16()),
            message: format!("could not read Twilio's reply: {e}"),
        })?;
        if status.is_success() {
            let msg: MessageResource = serde_json::from_slice(&bytes).map_err(|e| ProviderError {
                // Twilio took the request but the reply is unreadable: do not resend blindly.
                retryable: false,
                outcome_unknown: true,
                code: None,
                failure: SendFailure::Other,
                retry_after: None,
                http_status: Some(status.as_u16()),
                message: format!("unreadable success reply from Twilio: {e}"),
            })?;
            return Ok(Accepted { provider_id: msg.sid, status: msg.status.unwrap_or_else(|| "queued".into()) });
        }
        let err: Option<TwilioError> = serde_json::from_slice(&bytes).ok();
        let code = err.as_ref().and_then(|e| e.code);
        let message = err.and_then(|e| e.message).unwrap_or_else(|| {
            format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>())
        });
        let http_status = Some(status.as_u16());
        let failure = codes::send_failure(code, http_status);
        let retryable = status.as_u16() == 429 || status.is_server_error() || failure == SendFailure::RateLimited;
        Err(ProviderError { retryable, outcome_unknown: false, code, failure, retry_after, http_status, message })
    }
}
