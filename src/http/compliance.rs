//! Compliance admin API (bearer `LEADLINE_ADMIN_TOKEN`, like the rest of `/v1/admin`):
//!
//! - `GET /v1/admin/leads/{phone}/consent`: the lead's consent history (grants,
//!   revocations, re-opt-ins) as JSON, or as CSV with `Accept: text/csv` (or `?format=csv`),
//!   for legal defence.
//! - `GET /v1/admin/suppressions[?list=NAME]`, `GET|PUT|DELETE /v1/admin/suppressions/{phone}`:
//!   the do-not-contact list. The decision core blocks automated texts to a listed number
//!   (rule `suppression.<list>`) and the gateway re-checks the list just before sending.
//!
//! The row and CSV builders are shared with the offline CLI (`leadline consent export`).

use super::admin::{known_lead, require_admin};
use super::body::{parse_json, read_limited};
use super::error::ApiError;
use super::App;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use leadline_core::model::{ConsentChange, LeadState, Suppression};
use leadline_core::{Phone, Ts};
use serde::{Deserialize, Serialize};

pub fn router(state: App) -> Router<App> {
    Router::new()
        .route("/v1/admin/leads/{phone}/consent", get(consent_export))
        .route("/v1/admin/suppressions", get(list_suppressions))
        .route("/v1/admin/suppressions/{phone}", get(get_suppression).put(put_suppression).delete(delete_suppression))
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

// ---------------------------------------------------------------------------------------
// Consent export
// ---------------------------------------------------------------------------------------

/// The CSV columns of a consent export, in order (also the JSON field names of a row).
pub const CONSENT_COLUMNS: [&str; 13] = [
    "phone",
    "event",
    "at",
    "granted_at",
    "source_url",
    "disclosure",
    "disclosure_sha256",
    "ip",
    "user_agent",
    "seller",
    "captured_from",
    "rule",
    "evidence",
];

/// One entry of a lead's consent history, flattened for export.
///
/// `at` is when leadline recorded the change; for a grant, `granted_at` is when the lead
/// gave consent according to the lead source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConsentRow {
    pub phone: String,
    /// `granted`, `declared` (by source policy), `revoked` or `reinstated`.
    #[schema(value_type = String)]
    pub event: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub at: Ts,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub granted_at: Option<Ts>,
    pub source_url: Option<String>,
    pub disclosure: Option<String>,
    pub disclosure_sha256: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub seller: Option<String>,
    pub captured_from: Option<String>,
    /// For a grant, `consent.granted`; otherwise the rule that recognised the revocation or re-opt-in.
    pub rule: Option<String>,
    /// For a revocation or re-opt-in, what the lead wrote (or the carrier/admin said).
    pub evidence: Option<String>,
}

/// The lead's consent history, oldest first.
pub fn consent_rows(lead: &LeadState) -> Vec<ConsentRow> {
    let phone = lead.phone.as_str().to_string();
    lead.consent_history
        .iter()
        .map(|change| {
            let mut row = ConsentRow {
                phone: phone.clone(),
                event: "granted",
                at: lead.created_at,
                granted_at: None,
                source_url: None,
                disclosure: None,
                disclosure_sha256: None,
                ip: None,
                user_agent: None,
                seller: None,
                captured_from: None,
                rule: None,
                evidence: None,
            };
            match change {
                ConsentChange::Granted(r) | ConsentChange::Declared(r) => {
                    if matches!(change, ConsentChange::Declared(_)) {
                        row.event = "declared";
                        row.evidence = Some("declared by source policy".into());
                    }
                    row.at = r.recorded_at;
                    row.granted_at = r.granted_at;
                    row.source_url = r.source_url.clone();
                    row.disclosure = r.disclosure.clone();
                    row.disclosure_sha256 = r.disclosure_sha256.clone();
                    row.ip = r.ip.clone();
                    row.user_agent = r.user_agent.clone();
                    row.seller = r.seller.clone();
                    row.captured_from = r.captured_from.clone();
                    row.rule =
                        Some(if row.event == "declared" { "consent.declared" } else { "consent.granted" }.into());
                }
                ConsentChange::Revoked { at, rule, evidence } => {
                    row.event = "revoked";
                    row.at = *at;
                    row.rule = Some(rule.clone());
                    row.evidence = Some(evidence.clone());
                }
                ConsentChange::Reinstated { at, rule, evidence } => {
                    row.event = "reinstated";
                    row.at = *at;
                    row.rule = Some(rule.clone());
                    row.evidence = Some(evidence.clone());
                }
            }
            row
        })
        .collect()
}

/// The consent export as JSON: the current grant (if any applies) and the full history.
pub fn consent_json(lead: &LeadState) -> serde_json::Value {
    serde_json::json!({
        "phone": lead.phone,
        "status": lead.status,
        "consent": lead.current_consent(),
        "history": consent_rows(lead),
    })
}

impl ConsentRow {
    /// The row's values in [`CONSENT_COLUMNS`] order, as text (absent values are empty).
    pub fn cells(&self) -> [String; 13] {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            self.phone.clone(),
            self.event.to_string(),
            self.at.to_string(),
            self.granted_at.map(|t| t.to_string()).unwrap_or_default(),
            text(&self.source_url),
            text(&self.disclosure),
            text(&self.disclosure_sha256),
            text(&self.ip),
            text(&self.user_agent),
            text(&self.seller),
            text(&self.captured_from),
            text(&self.rule),
            text(&self.evidence),
        ]
    }
}

/// The consent export as CSV (RFC 4180, header row first, even when the history is empty).
/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or carriage return
/// first) starts with `'` ([`crate::csv_cell::escape`]); the JSON export is the verbatim
/// evidence, and `disclosure_sha256` is the hash of the original disclosure text.
pub fn consent_csv(rows: &[ConsentRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    crate::csv_cell::write_record(&mut w, &CONSENT_COLUMNS)?;
    for row in rows {
        let cells = row.cells();
        let fields: Vec<&str> = cells.iter().map(String::as_str).collect();
        crate::csv_cell::write_record(&mut w, &fields)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `json` or `csv`; overrides the Accept header.
    format: Option<String>,
}

/// Whether the Accept header asks for CSV (`text/csv`, with any parameters, q > 0).
fn accepts_csv(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let q_zero = parts.any(|p| {
            p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")).and_then(|q| q.parse::<f32>().ok()) == Some(0.0)
        });
        media.eq_ignore_ascii_case("text/csv") && !q_zero
    })
}

#[utoipa::path(
    get,
    path = "/v1/admin/leads/{phone}/consent",
    tag = "compliance",
    summary = "The lead's consent history, as JSON or CSV (for legal defence)",
    description = "CSV with `Accept: text/csv` or `?format=csv` (RFC 4180, header row first). In the CSV, a value starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'` so spreadsheets do not run it as a formula (plain numbers and E.164 phone numbers excepted); the JSON export is verbatim, and `disclosure_sha256` is always the SHA-256 of the original disclosure.",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142"), ExportQuery),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The consent export", content(
            (super::openapi::ConsentExport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = super::openapi::ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`) or a bad `format` (`invalid_field`)", body = super::openapi::ErrorBody),
    )
)]
async fn consent_export(
    State(app): State<App>,
    Path(raw): Path<String>,
    Query(q): Query<ExportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref().map(str::trim) {
        None | Some("") => accepts_csv(&headers),
        Some(f) if f.eq_ignore_ascii_case("csv") => true,
        Some(f) if f.eq_ignore_ascii_case("json") => false,
        Some(_) => return Err(ApiError::unprocessable("invalid_field", "`format` must be `json` or `csv`")),
    };
    let (phone, lead) = known_lead(&app, &raw)?;
    let vary = (header::VARY, HeaderValue::from_static("accept"));
    if !csv {
        return Ok(([vary], Json(consent_json(&lead))).into_response());
    }
    let body = consent_csv(&consent_rows(&lead))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "export_failed", e.to_string()))?;
    let file = format!("attachment; filename=\"consent-{}.csv\"", phone.as_str().trim_start_matches('+'));
    let disposition = HeaderValue::from_str(&file).unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
            vary,
        ],
        body,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------
// Suppression list
// ---------------------------------------------------------------------------------------

/// The list a suppression goes on when none is named.
pub const DEFAULT_ADMIN_LIST: &str = "admin";
/// Longest accepted list name and reason.
pub const MAX_LIST_NAME: usize = 64;
pub const MAX_REASON: usize = 1000;

/// A list name is 1 to 64 characters of `[a-z0-9_]` (it becomes part of the rule
/// `suppression.<list>` on the timeline).
pub fn check_list_name(list: &str) -> Result<(), String> {
    if list.is_empty() {
        return Err("`list` must not be empty".into());
    }
    if list.len() > MAX_LIST_NAME {
        return Err(format!("`list` must be at most {MAX_LIST_NAME} characters"));
    }
    if !list.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        let shown: String = list.chars().take(MAX_LIST_NAME).collect();
        return Err(format!("`list` must contain only a-z, 0-9 and _ (got '{shown}')"));
    }
    Ok(())
}

/// A reason is trimmed; an empty one is none.
pub fn clean_reason(reason: Option<&str>) -> Result<Option<String>, String> {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.chars().count() > MAX_REASON => Err(format!("`reason` must be at most {MAX_REASON} characters")),
        other => Ok(other.map(str::to_string)),
    }
}

/// One suppression as the API and the CLI export show it.
pub fn suppression_json(phone: &Phone, s: &Suppression) -> serde_json::Value {
    serde_json::json!({ "phone": phone, "list": s.list, "reason": s.reason, "added_at": s.added_at })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this list.
    list: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/admin/suppressions",
    tag = "compliance",
    summary = "The do-not-contact list",
    params(ListQuery),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The listed numbers", body = super::openapi::SuppressionList),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
    )
)]
async fn list_suppressions(
    State(app): State<App>,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let entries: Vec<_> = app
        .store
        .suppression_list()?
        .into_iter()
        .filter(|(_, s)| q.list.as_deref().is_none_or(|l| s.list == l))
        .map(|(p, s)| suppression_json(&p, &s))
        .collect();
    Ok(Json(serde_json::json!({ "count": entries.len(), "suppressions": entries })))
}

#[utoipa::path(
    get,
    path = "/v1/admin/suppressions/{phone}",
    tag = "compliance",
    summary = "One number's do-not-contact entry",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The entry", body = super::openapi::Suppression),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "Not on the list (`not_found`)", body = super::openapi::ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = super::openapi::ErrorBody),
    )
)]
async fn get_suppression(State(app): State<App>, Path(raw): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let phone = Phone::parse(&raw)?;
    match app.store.suppression(&phone)? {
        Some(s) => Ok(Json(suppression_json(&phone, &s))),
        None => Err(ApiError::not_found(format!("{phone} is not on the suppression list"))),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SuppressBody {
    /// `[a-z0-9_]`, 1 to 64 characters; default `admin`.
    list: Option<String>,
    /// At most 1000 characters.
    reason: Option<String>,
}

/// Puts a number on a do-not-contact list (201 if it was not listed, 200 if its entry
/// was replaced). The number need not be a known lead: lists are often loaded before the
/// leads arrive.
#[utoipa::path(
    put,
    path = "/v1/admin/suppressions/{phone}",
    tag = "compliance",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    request_body(content = Option<SuppressBody>, description = "Optional; an empty body is `{}`"),
    security(("admin_bearer" = [])),
    responses(
        (status = 201, description = "Listed (it was not)", body = super::openapi::SuppressionPut),
        (status = 200, description = "Its entry was replaced (`previous`)", body = super::openapi::SuppressionPut),
        (status = 400, description = "Not JSON (`malformed_json`)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`), an unknown field (`invalid_body`) or a bad `list`/`reason` (`invalid_field`)", body = super::openapi::ErrorBody),
        (status = 503, description = "Not stored; retry (`unavailable`)", body = super::openapi::ErrorBody),
    )
)]
async fn put_suppression(State(app): State<App>, Path(raw): Path<String>, body: Body) -> Result<Response, ApiError> {
    let phone = Phone::parse(&raw)?;
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let SuppressBody { list, reason } = parse_json(&bytes, true)?;
    let list = list.unwrap_or_else(|| DEFAULT_ADMIN_LIST.to_string());
    check_list_name(&list).map_err(|m| ApiError::unprocessable("invalid_field", m))?;
    let reason = clean_reason(reason.as_deref()).map_err(|m| ApiError::unprocessable("invalid_field", m))?;
    let previous = app.store.suppression(&phone)?;
    // App carries no clock; the list's own timestamps use the wall clock.
    let entry = Suppression { list, reason, added_at: Ts::from(chrono::Utc::now()) };
    app.store.suppress(&phone, &entry).await?;
    tracing::info!(phone = %phone.masked(), list = %entry.list, "number suppressed");
    let mut out = suppression_json(&phone, &entry);
    out["previous"] = previous.map(|p| suppression_json(&phone, &p)).unwrap_or(serde_json::Value::Null);
    let status = if out["previous"].is_null() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(out)).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/admin/suppressions/{phone}",
    tag = "compliance",
    summary = "Take a number off the do-not-contact list",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "Removed; the entry it had", body = super::openapi::SuppressionRemoved),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "Not on the list (`not_found`)", body = super::openapi::ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = super::openapi::ErrorBody),
        (status = 503, description = "Not removed; retry (`unavailable`)", body = super::openapi::ErrorBody),
    )
)]
async fn delete_suppression(
    State(app): State<App>,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let phone = Phone::parse(&raw)?;
    let Some(entry) = app.store.suppression(&phone)? else {
        return Err(ApiError::not_found(format!("{phone} is not on the suppression list")));
    };
    app.store.unsuppress(&phone).await?;
    tracing::info!(phone = %phone.masked(), list = %entry.list, "number removed from the suppression list");
    Ok(Json(serde_json::json!({ "phone": phone, "removed": suppression_json(&phone, &entry) })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names() {
        for ok in ["admin", "litigator", "internal_dnc", "list_2"] {
            assert_eq!(check_list_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Litigator", "bad-list", "a b", " admin", "dnc!", &"x".repeat(65)] {
            assert!(check_list_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accept_header_negotiation() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts_csv(&h("text/csv")));
        assert!(accepts_csv(&h("Text/CSV; charset=utf-8")));
        assert!(accepts_csv(&h("application/json;q=0.5, text/csv")));
        assert!(!accepts_csv(&h("text/csv;q=0")));
        assert!(!accepts_csv(&h("application/json")));
        assert!(!accepts_csv(&h("*/*")));
        assert!(!accepts_csv(&HeaderMap::new()));
    }

    #[test]
    fn csv_has_a_header_even_without_rows_and_quotes_what_needs_quoting() {
        assert_eq!(String::from_utf8(consent_csv(&[]).unwrap()).unwrap(), CONSENT_COLUMNS.join(",") + "\n");
        let row = ConsentRow {
            phone: "+12125550142".into(),
            event: "revoked",
            at: Ts::from_millis(0).unwrap(),
            granted_at: None,
            source_url: None,
            disclosure: None,
            disclosure_sha256: None,
            ip: None,
            user_agent: None,
            seller: None,
            captured_from: None,
            rule: Some("opt_out.keyword".into()),
            evidence: Some("stop, \"please\"\nnow".into()),
        };
        let out = String::from_utf8(consent_csv(&[row]).unwrap()).unwrap();
        let line = out.lines().nth(1).unwrap();
        assert!(line.starts_with("+12125550142,revoked,1970-01-01T00:00:00.000Z,,,,,,,,,opt_out.keyword,"), "{out}");
        assert!(out.ends_with("\"stop, \"\"please\"\"\nnow\"\n"), "{out}");
    }
}
