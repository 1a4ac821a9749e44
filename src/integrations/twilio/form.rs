//! Twilio's webhook form bodies, typed: the incoming-message webhook and the message status
//! callback, with the field names Twilio sends. Field lists:
//! <https://www.twilio.com/docs/messaging/guides/webhook-request> and
//! <https://www.twilio.com/docs/messaging/guides/track-outbound-message-status>.
//!
//! Every field is optional when parsing, so a missing one is reported by the handler with
//! the field's name (`missing_field`) rather than as a parse error; unknown fields are
//! ignored (Twilio adds fields over time). A repeated field keeps its first value.

use super::codes;
use leadline_core::provider::ReceiptFailure;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Twilio's incoming-message webhook (`POST /v1/twilio/inbound`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct InboundMessage {
    /// The lead's number (required).
    #[schema(value_type = String, required = true, example = "+12125550142")]
    pub from: Option<String>,
    /// The text; empty when absent.
    pub body: Option<String>,
    /// De-duplicates Twilio's retries (`SmsSid` is read when it is absent).
    pub message_sid: Option<String>,
    pub sms_sid: Option<String>,
    pub account_sid: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub to: Option<String>,
    pub num_media: Option<String>,
    pub num_segments: Option<String>,
}

/// Twilio's message status callback, a delivery receipt (`POST /v1/twilio/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct StatusCallback {
    /// Required (or `SmsSid`).
    pub message_sid: Option<String>,
    pub sms_sid: Option<String>,
    /// Required (or `SmsStatus`): `queued`, `sent`, `delivered`, `undelivered`, `failed`, ...
    #[schema(example = "delivered")]
    pub message_status: Option<String>,
    pub sms_status: Option<String>,
    /// Twilio error code, e.g. `30003` (unreachable handset).
    pub error_code: Option<String>,
    pub account_sid: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Twilio's message statuses (docs: twilio.com/docs/messaging/api/message-resource, "Message
/// Status values").
const MESSAGE_STATUSES: [&str; 13] = [
    "accepted",
    "scheduled",
    "canceled",
    "queued",
    "sending",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "receiving",
    "received",
    "read",
    "partially_delivered",
];

/// Reads form fields (as verified, in arrival order) into one of the payloads above. Every
/// value is a string, so only a payload with a non-string field could fail.
pub fn parse<T: DeserializeOwned>(params: &[(String, String)]) -> Result<T, serde_json::Error> {
    let mut fields = Map::new();
    for (k, v) in params {
        fields.entry(k.clone()).or_insert_with(|| Value::String(v.clone()));
    }
    serde_json::from_value(Value::Object(fields))
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref()
}

impl InboundMessage {
    /// `MessageSid`, else `SmsSid`.
    pub fn sid(&self) -> Option<&str> {
        present(&self.message_sid).or(present(&self.sms_sid))
    }
}

impl StatusCallback {
    /// `MessageSid`, else `SmsSid`.
    pub fn sid(&self) -> Option<&str> {
        present(&self.message_sid).or(present(&self.sms_sid))
    }

    /// `MessageStatus`, else `SmsStatus`.
    pub fn status(&self) -> Option<&str> {
        present(&self.message_status).or(present(&self.sms_status))
    }

    /// The status as a metric label: one of Twilio's documented message statuses, anything
    /// else `other` (a label value per distinct string would let callers grow `/metrics`).
    pub fn status_label(&self) -> &'static str {
        let status = self.status().unwrap_or_default();
        MESSAGE_STATUSES.iter().find(|known| known.eq_ignore_ascii_case(status)).copied().unwrap_or("other")
    }

    /// `ErrorCode` as a number; absent or not a number is `None`.
    pub fn error_code(&self) -> Option<u32> {
        self.error_code.as_deref().and_then(|c| c.trim().parse::<u32>().ok())
    }

    /// What the error code means for the core ([`codes::receipt_failure`]).
    pub fn failure(&self) -> Option<ReceiptFailure> {
        codes::receipt_failure(self.error_code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(raw.as_bytes()).into_owned().collect()
    }

    #[test]
    fn an_inbound_message_reads_twilio_field_names() {
        let p = pairs("From=%2B12125550142&To=%2B12125550100&Body=STOP&SmsSid=SM2&NumMedia=0&ApiVersion=2010-04-01");
        let m: InboundMessage = parse(&p).unwrap();
        assert_eq!(m.from.as_deref(), Some("+12125550142"));
        assert_eq!(m.body.as_deref(), Some("STOP"));
        assert_eq!(m.sid(), Some("SM2"), "SmsSid when MessageSid is absent");
        assert_eq!(parse::<InboundMessage>(&pairs("MessageSid=SM1&SmsSid=SM2")).unwrap().sid(), Some("SM1"));
        assert_eq!(parse::<InboundMessage>(&[]).unwrap(), InboundMessage::default());
    }

    #[test]
    fn a_repeated_field_keeps_its_first_value() {
        let m: InboundMessage = parse(&pairs("Body=first&Body=second")).unwrap();
        assert_eq!(m.body.as_deref(), Some("first"));
    }

    #[test]
    fn a_status_callback_reads_the_status_and_classifies_the_code() {
        let s: StatusCallback = parse(&pairs("MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003")).unwrap();
        assert_eq!((s.sid(), s.status(), s.error_code()), (Some("SM1"), Some("undelivered"), Some(30003)));
        assert_eq!(s.failure(), Some(ReceiptFailure::Unreachable));
        let s: StatusCallback = parse(&pairs("SmsSid=SM2&SmsStatus=delivered&ErrorCode=")).unwrap();
        assert_eq!((s.sid(), s.status(), s.error_code(), s.failure()), (Some("SM2"), Some("delivered"), None, None));
        assert_eq!(s.status_label(), "delivered");
        let made_up = StatusCallback { message_status: Some("made-up-9".into()), ..Default::default() };
        assert_eq!(made_up.status_label(), "other");
        let s: StatusCallback = parse(&pairs("MessageSid=SM3&MessageStatus=failed&ErrorCode=%2030005%20")).unwrap();
        assert_eq!(s.error_code(), Some(30005));
        assert_eq!(parse::<StatusCallback>(&pairs("ErrorCode=abc")).unwrap().error_code(), None);
    }
}
