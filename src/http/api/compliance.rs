//! Compliance admin API (bearer `LEADLINE_ADMIN_TOKEN`, like the rest of `/v1/admin`):
//!
//! - `GET /v1/admin/leads/{phone}/consent`: the lead's consent history (grants,
//!   revocations, re-opt-ins) as JSON, or as CSV with `Accept: text/csv` (or `?format=csv`),
//!   for legal defence.
//! - `GET /v1/admin/suppressions[?list=NAME]`, `GET|PUT|DELETE /v1/admin/suppressions/{phone}`:
//!   the do-not-contact list.
//!
//! The export and the list's operations are the application layer's (`app::compliance`),
//! shared with the offline CLI (`leadline consent export`).

use crate::app::compliance::{self, consent_csv};
use crate::app::leads;
use crate::app::operators::Principal;
use crate::app::views::SuppressionImport;
use crate::app::views::{
    consent_rows, ConsentExport, SuppressionList, SuppressionPut, SuppressionRemoved, SuppressionView,
};
use crate::app::App;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJsonOrEmpty, ApiQuery};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
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
            (ConsentExport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`) or a bad `format` (`invalid_field`)", body = ErrorBody),
    )
)]
pub async fn consent_export(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    tracing::info!(operator = %by.name, lead = %crate::http::security::mask_path(&raw), "consent export taken");
    let csv = match q.format.as_deref().map(str::trim) {
        None | Some("") => accepts_csv(&headers),
        Some(f) if f.eq_ignore_ascii_case("csv") => true,
        Some(f) if f.eq_ignore_ascii_case("json") => false,
        Some(_) => return Err(ApiError::unprocessable("invalid_field", "`format` must be `json` or `csv`")),
    };
    let (phone, lead) = leads::find(&app, &raw)?;
    let vary = (header::VARY, HeaderValue::from_static("accept"));
    if !csv {
        return Ok(([vary], Json(ConsentExport::from(&lead))).into_response());
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this list.
    pub list: Option<String>,
    /// Only numbers containing these digits (formatting ignored): an area code, the last four.
    pub q: Option<String>,
    /// Page size: default 500, 1 to 1000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Page size of the suppression and dead-letter lists when none is given, and the largest.
pub const LIST_DEFAULT_LIMIT: usize = 500;
pub const LIST_MAX_LIMIT: usize = 1000;

/// `limit` checked: 1 to [`LIST_MAX_LIMIT`] (400 `invalid_query` otherwise).
pub fn list_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(LIST_DEFAULT_LIMIT);
    if !(1..=LIST_MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be a number from 1 to {LIST_MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

#[utoipa::path(
    get,
    path = "/v1/admin/suppressions",
    tag = "compliance",
    summary = "The do-not-contact list, a page at a time (phone order; `cursor` + `limit` as for leads)",
    params(ListQuery),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "A page of the listed numbers", body = SuppressionList),
        (status = 400, description = "A bad parameter (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
    )
)]
pub async fn list_suppressions(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<SuppressionList>, ApiError> {
    let limit = list_limit(q.limit)?;
    let after = match q.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Some(leadline_core::Phone::parse(c).map_err(|_| {
            ApiError::bad_request("invalid_cursor", "cursor must be the next_cursor of a previous page")
        })?),
        None => None,
    };
    Ok(Json(compliance::suppressions(&app, q.list.as_deref(), q.q.as_deref(), after.as_ref(), limit)?))
}

#[utoipa::path(
    get,
    path = "/v1/admin/suppressions/{phone}",
    tag = "compliance",
    summary = "One number's do-not-contact entry",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The entry", body = SuppressionView),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "Not on the list (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = ErrorBody),
    )
)]
pub async fn get_suppression(
    State(app): State<App>,
    Path(raw): Path<String>,
) -> Result<Json<SuppressionView>, ApiError> {
    Ok(Json(compliance::suppression(&app, &raw)?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressBody {
    /// `[a-z0-9_]`, 1 to 64 characters; default `admin`.
    pub list: Option<String>,
    /// At most 1000 characters.
    pub reason: Option<String>,
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
        (status = 201, description = "Listed (it was not)", body = SuppressionPut),
        (status = 200, description = "Its entry was replaced (`previous`)", body = SuppressionPut),
        (status = 400, description = "Not JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 415, description = "A body that is not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`), an unknown field (`invalid_body`) or a bad `list`/`reason` (`invalid_field`)", body = ErrorBody),
        (status = 503, description = "Not stored; retry (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn put_suppression(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(raw): Path<String>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<SuppressBody>,
) -> Result<(StatusCode, Json<SuppressionPut>), ApiError> {
    tracing::info!(operator = %by.name, number = %crate::http::security::mask_path(&raw), "suppression added");
    let put = compliance::suppress(&app, &raw, body.list, body.reason, &by.name).await?;
    let status = if put.previous.is_none() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(put)))
}

#[utoipa::path(
    delete,
    path = "/v1/admin/suppressions/{phone}",
    tag = "compliance",
    summary = "Take a number off the do-not-contact list",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "Removed; the entry it had", body = SuppressionRemoved),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "Not on the list (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = ErrorBody),
        (status = 503, description = "Not removed; retry (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn delete_suppression(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(raw): Path<String>,
) -> Result<Json<SuppressionRemoved>, ApiError> {
    tracing::info!(operator = %by.name, number = %crate::http::security::mask_path(&raw), "suppression removed");
    Ok(Json(compliance::unsuppress(&app, &raw, &by.name, None).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The list for every number (overrides a `list` column; default `internal_dnc`).
    pub list: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/suppressions/import",
    tag = "compliance",
    operation_id = "import_suppressions",
    summary = "Upload a CSV of numbers onto the do-not-contact list (stored 5,000 per durable write)",
    description = "The format of `leadline suppress import`: the first column is the phone; a header row         (first column `phone`) may name `reason` and `list` columns; without one a second column is the reason.         Invalid lines are reported and skipped. The body is limited by `server.max_body_bytes`; for files larger         than that, split them or use `leadline suppress import` while the service is stopped.",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The CSV"),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "Imported; the lines skipped and why", body = SuppressionImport),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 413, description = "Larger than `server.max_body_bytes` (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "Not `text/csv` or `text/plain` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad `list` or unreadable CSV (`invalid_field`)", body = ErrorBody),
        (status = 503, description = "Not (fully) stored; retry, an import is idempotent (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn import_suppressions(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<SuppressionImport>, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime != "text/csv" && mime != "text/plain" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the CSV with Content-Type: text/csv",
        ));
    }
    let data = crate::http::body::read_limited(body, app.settings.server.max_body_bytes).await?;
    Ok(Json(crate::app::suppress_import::import(&app, &by.name, &data, q.list.as_deref()).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
