//! Twilio webhooks: `POST /v1/twilio/inbound` (replies from leads) and `POST /v1/twilio/status`
//! (delivery receipts). The forms are typed in [`crate::integrations::twilio::form`], which
//! also classifies a receipt's error code for the core.
//!
//! Every request must carry a valid `X-Twilio-Signature` computed over the configured
//! `server.public_url` + the request path (and query): behind a proxy Twilio signs the
//! public URL, not the one our socket sees.

use crate::app::App;
use crate::http::body::read_limited;
use crate::http::error::ApiError;
use crate::integrations::twilio::form::{self, InboundMessage, StatusCallback};
use crate::integrations::twilio::signature;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use leadline_core::model::Event;
use leadline_core::Phone;

const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// Reads a Twilio form body and checks its signature. Returns the fields in arrival order.
pub async fn verified_form(
    app: &App,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<(String, String)>, ApiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let params: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
    if app.settings.twilio_webhooks.verify_signatures {
        let Some(token) = app.secrets.twilio_auth_token.as_deref() else {
            return Err(ApiError::forbidden("TWILIO_AUTH_TOKEN is not set, so Twilio signatures cannot be verified"));
        };
        let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
        let url = public_url_for(app, uri);
        if signature.is_empty() || !signature::verify_twilio(&url, &params, token, signature) {
            metrics::counter!("leadline_webhook_rejected_total", "reason" => "twilio_signature").increment(1);
            return Err(ApiError::forbidden("missing or invalid X-Twilio-Signature"));
        }
    }
    Ok(params)
}

/// The URL Twilio called: the configured public base plus this request's path and query.
pub fn public_url_for(app: &App, uri: &Uri) -> String {
    let base = app.settings.server.public_url.as_str().trim_end_matches('/');
    let pq = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    format!("{base}{pq}")
}

/// The verified fields as one of Twilio's typed payloads ([`form`]).
fn parse_form<T: serde::de::DeserializeOwned>(params: &[(String, String)]) -> Result<T, ApiError> {
    form::parse(params).map_err(|e| ApiError::unprocessable("invalid_body", format!("unreadable Twilio form: {e}")))
}

/// A reply from a lead (STOP, HELP, START, questions)
///
/// Twilio's incoming-message webhook. The same `MessageSid` is applied once. Answers with
/// empty TwiML: any reply text is sent through the API, after the compliance checks.
#[utoipa::path(
    post,
    path = "/v1/twilio/inbound",
    tag = "twilio",
    operation_id = "twilio_inbound",
    request_body(content = InboundMessage, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses(
        (status = 200, description = "Stored; empty TwiML", body = String, content_type = "text/xml",
            example = json!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>")),
        (status = 403, description = "Missing or invalid `X-Twilio-Signature` (`invalid_signature`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "`From` missing (`missing_field`) or not a phone number (`invalid_phone`)", body = crate::http::error::ErrorBody),
        (status = 503, description = "Not stored; Twilio retries", body = crate::http::error::ErrorBody),
    )
)]
pub async fn inbound(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let params = verified_form(&app, &uri, &headers, body).await?;
    let msg: InboundMessage = parse_form(&params)?;
    let from =
        msg.from.as_deref().ok_or_else(|| ApiError::unprocessable("missing_field", "form field `From` is required"))?;
    let phone = Phone::parse(from)?;
    let sid = msg.sid().map(str::to_string);
    let text = msg.body.unwrap_or_default();
    // Twilio retries webhooks; the same MessageSid is applied once.
    let dedupe = sid.as_ref().map(|s| format!("twilio:in:{s}"));
    app.submit(phone, Event::InboundText { body: text, message_sid: sid }, dedupe).await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML))
}

/// `POST /v1/twilio/status`: delivery receipts. Verified like inbound. The MessageSid leads
/// to our message id and so to the lead; the lead decides what the status means. The same
/// (MessageSid, status) twice is applied once; an unknown MessageSid is acknowledged and
/// ignored (it may belong to another application on the same account).
#[utoipa::path(
    post,
    path = "/v1/twilio/status",
    tag = "twilio",
    operation_id = "twilio_status",
    summary = "A delivery receipt (Twilio status callback)",
    request_body(content = StatusCallback, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses(
        (status = 204, description = "Applied, or an unknown `MessageSid` (acknowledged and ignored)"),
        (status = 403, description = "Missing or invalid `X-Twilio-Signature` (`invalid_signature`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "`MessageSid` or `MessageStatus` missing (`missing_field`)", body = crate::http::error::ErrorBody),
        (status = 503, description = "Not stored; Twilio retries", body = crate::http::error::ErrorBody),
    )
)]
pub async fn status(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let params = verified_form(&app, &uri, &headers, body).await?;
    let receipt: StatusCallback = parse_form(&params)?;
    let sid =
        receipt.sid().ok_or_else(|| ApiError::unprocessable("missing_field", "form field `MessageSid` is required"))?;
    let status = receipt
        .status()
        .ok_or_else(|| ApiError::unprocessable("missing_field", "form field `MessageStatus` is required"))?;
    let (error_code, failure) = (receipt.error_code(), receipt.failure());
    let Some(message_id) = app.store.message_for_provider_id(sid)? else {
        metrics::counter!("leadline_receipts_unknown_total").increment(1);
        return Ok(StatusCode::NO_CONTENT);
    };
    let Some(record) = app.store.outbox(&message_id)? else {
        return Ok(StatusCode::NO_CONTENT);
    };
    metrics::counter!("leadline_receipts_total", "status" => receipt.status_label()).increment(1);
    let dedupe = format!("twilio:status:{sid}:{status}");
    let event = Event::DeliveryReceipt {
        message_id,
        provider_id: sid.to_string(),
        status: status.to_string(),
        error_code,
        failure,
    };
    app.submit(record.text.to.clone(), event, Some(dedupe)).await?;
    Ok(StatusCode::NO_CONTENT)
}
