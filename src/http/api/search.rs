//! Admin lead list/search and service stats (bearer `LEADLINE_ADMIN_TOKEN`, merged into
//! the admin router):
//!
//! - `GET /v1/admin/leads?status=&frozen=&crm_status=&source=&listing=&q=&limit=&cursor=`:
//!   leads in phone order, a [`LeadList`].
//!   `status` is one of `NEW`, `CONTACTED_SMS`, `ENGAGED`, `OPT_OUT`, `UNDELIVERABLE`
//!   (any case); `frozen` is `true`/`false`; `crm_status`, `source` and `listing` (a
//!   listing id in the lead's interests) compare case-insensitively; `q` is part of the
//!   first or last name (case-insensitive) or of the phone's digits. `cursor` is the
//!   `next_cursor` of the previous page; `limit` is 1 to 200 (default 50; more is a 400). Empty
//!   parameters are ignored (as a web form sends them); unknown ones are a 400.
//!   A page scans the store from the cursor (see `Store::search_leads`: O(leads)).
//! - `GET /v1/admin/stats`: [`Stats`].

use crate::app::search::{self, parse_newest_cursor, parse_status, Order, Search, DEFAULT_LIMIT, MAX_LIMIT};
use crate::app::views::{LeadList, Stats};
use crate::app::App;
use crate::http::error::{ApiError, ErrorBody};
use axum::extract::{RawQuery, State};
use axum::Json;
use leadline_core::storage::LeadFilter;
use leadline_core::Phone;
use serde::Serialize;

/// The search parameters as given (strings, so a form can be re-filled with them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SearchParams {
    pub status: String,
    pub frozen: String,
    pub crm_status: String,
    pub source: String,
    pub listing: String,
    pub q: String,
    pub limit: String,
    pub cursor: String,
    /// `phone` (the API's default) or `newest` (the admin page's default).
    pub sort: String,
    /// Dates (`YYYY-MM-DD` in `[admin] time_zone`, both ends included) or RFC 3339 times.
    pub created_from: String,
    pub created_to: String,
    pub active_from: String,
    pub active_to: String,
}

/// `YYYY-MM-DD` (midnight in `zone`; `end` = the next midnight, so the day is included) or
/// an RFC 3339 time.
fn parse_moment(name: &str, v: &str, zone: chrono_tz::Tz, end: bool) -> Result<leadline_core::Ts, ApiError> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(leadline_core::Ts::from(t.with_timezone(&chrono::Utc)));
    }
    let bad =
        || ApiError::bad_request("invalid_query", format!("{name} must be a date (YYYY-MM-DD) or an RFC 3339 time"));
    let day = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| bad())?;
    let day = if end { day.succ_opt().ok_or_else(bad)? } else { day };
    let midnight = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
    let t = zone.from_local_datetime(&midnight).earliest().ok_or_else(bad)?;
    Ok(leadline_core::Ts::from(t.with_timezone(&chrono::Utc)))
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl SearchParams {
    /// Reads a query string; unknown parameters are an error (a typo should not silently
    /// widen a search).
    pub fn from_query(raw: Option<&str>) -> Result<SearchParams, ApiError> {
        let mut p = SearchParams::default();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let slot = match k.as_ref() {
                "status" => &mut p.status,
                "frozen" => &mut p.frozen,
                "crm_status" => &mut p.crm_status,
                "source" => &mut p.source,
                "listing" => &mut p.listing,
                "q" => &mut p.q,
                "limit" => &mut p.limit,
                "cursor" => &mut p.cursor,
                "sort" => &mut p.sort,
                "created_from" => &mut p.created_from,
                "created_to" => &mut p.created_to,
                "active_from" => &mut p.active_from,
                "active_to" => &mut p.active_to,
                other => {
                    let shown: String = other.chars().take(40).collect();
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        format!(
                            "unknown parameter '{shown}'; use status, frozen, crm_status, source, listing, q, created_from, created_to, active_from, active_to, sort, limit, cursor"
                        ),
                    ));
                }
            };
            *slot = v.chars().take(200).collect();
        }
        Ok(p)
    }

    /// Validates the parameters.
    pub fn to_search(&self, zone: chrono_tz::Tz) -> Result<Search, ApiError> {
        let status = match non_empty(&self.status) {
            None => None,
            Some(s) => Some(parse_status(&s).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("unknown status '{s}'; use NEW, CONTACTED_SMS, ENGAGED, OPT_OUT or UNDELIVERABLE"),
                )
            })?),
        };
        let frozen = match non_empty(&self.frozen).map(|f| f.to_ascii_lowercase()).as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("frozen must be true or false, not '{other}'"),
                ))
            }
        };
        let limit = match non_empty(&self.limit) {
            None => DEFAULT_LIMIT,
            Some(l) => l.parse::<usize>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
                ApiError::bad_request("invalid_query", format!("limit must be a number from 1 to {MAX_LIMIT}"))
            })?,
        };
        let order = match non_empty(&self.sort).map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("phone") => Order::Phone,
            Some("newest") => Order::Newest,
            Some(other) => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("sort must be phone or newest, not '{other}'"),
                ))
            }
        };
        let bad_cursor =
            || ApiError::bad_request("invalid_cursor", "cursor must be the next_cursor of a previous page");
        let (after, newest_after) = match (non_empty(&self.cursor), order) {
            (None, _) => (None, None),
            (Some(c), Order::Phone) => (Some(Phone::parse(&c).map_err(|_| bad_cursor())?), None),
            (Some(c), Order::Newest) => (None, Some(parse_newest_cursor(&c).ok_or_else(bad_cursor)?)),
        };
        let moment = |name: &str, v: &str, end: bool| match non_empty(v) {
            None => Ok(None),
            Some(v) => parse_moment(name, &v, zone, end).map(Some),
        };
        let filter = LeadFilter {
            status,
            frozen,
            crm_status: non_empty(&self.crm_status),
            source: non_empty(&self.source),
            listing: non_empty(&self.listing),
            q: non_empty(&self.q),
            created_from: moment("created_from", &self.created_from, false)?,
            created_before: moment("created_to", &self.created_to, true)?,
            active_from: moment("active_from", &self.active_from, false)?,
            active_before: moment("active_to", &self.active_to, true)?,
        };
        Ok(Search { filter, after, limit, order, newest_after })
    }

    /// Whether any filter is set (the admin page shows "all leads" otherwise).
    pub fn has_filter(&self) -> bool {
        [
            &self.status,
            &self.frozen,
            &self.crm_status,
            &self.source,
            &self.listing,
            &self.q,
            &self.created_from,
            &self.created_to,
            &self.active_from,
            &self.active_to,
        ]
        .iter()
        .any(|s| !s.trim().is_empty())
    }
}

#[utoipa::path(
    get,
    path = "/v1/admin/leads",
    tag = "admin",
    summary = "List and search leads, in phone order (or newest first with `sort=newest`)",
    description = "Empty parameters are ignored (as a web form sends them); unknown ones are a 400. \
        A page scans the store from the cursor.",
    params(
        ("status" = Option<leadline_core::model::LeadStatus>, Query, description = "Lead status (any case)"),
        ("frozen" = Option<bool>, Query, description = "`true` or `false`"),
        ("crm_status" = Option<String>, Query, description = "CRM status (case-insensitive)"),
        ("source" = Option<String>, Query, description = "Lead source (case-insensitive)"),
        ("listing" = Option<String>, Query, description = "A listing id in the lead's interests (case-insensitive)"),
        ("q" = Option<String>, Query, description = "Part of the first or last name (case-insensitive) or of the phone's digits"),
        ("limit" = Option<u32>, Query, description = "Page size: default 50, at most 200", minimum = 1, maximum = 200),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
        ("sort" = Option<String>, Query, description = "`phone` (default) or `newest` (by creation, newest first)"),
        ("created_from" = Option<String>, Query, description = "Created on or after this date (`YYYY-MM-DD` in `[admin] time_zone`) or RFC 3339 time"),
        ("created_to" = Option<String>, Query, description = "Created on or before this date (the whole day) or before this RFC 3339 time"),
        ("active_from" = Option<String>, Query, description = "Last activity on or after this date or time"),
        ("active_to" = Option<String>, Query, description = "Last activity on or before this date (the whole day) or before this time"),
    ),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "A page of leads", body = LeadList),
        (status = 400, description = "A bad or unknown parameter (`invalid_query`) or cursor (`invalid_cursor`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
    )
)]
pub async fn list_leads(State(app): State<App>, RawQuery(raw): RawQuery) -> Result<Json<LeadList>, ApiError> {
    let search = SearchParams::from_query(raw.as_deref())?.to_search(app.settings.admin.zone())?;
    Ok(Json(search::lead_list(&app, search).await?))
}

#[utoipa::path(
    get,
    path = "/v1/admin/stats",
    tag = "admin",
    summary = "Service counts for an operator's dashboard",
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The counts", body = Stats),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
    )
)]
pub async fn stats(State(app): State<App>) -> Json<Stats> {
    Json(search::stats(&app).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::model::LeadStatus;

    #[test]
    fn parses_and_validates_parameters() {
        let p = SearchParams::from_query(Some(
            "status=contacted_sms&frozen=TRUE&q=Ana&limit=200&source=&cursor=%2B12125550142",
        ))
        .unwrap();
        let s = p.to_search(chrono_tz::America::New_York).unwrap();
        assert_eq!(s.filter.status, Some(LeadStatus::ContactedSms));
        assert_eq!(s.filter.frozen, Some(true));
        assert_eq!(s.filter.q.as_deref(), Some("Ana"));
        assert_eq!(s.filter.source, None);
        assert_eq!(s.limit, MAX_LIMIT);
        assert_eq!(s.after.as_ref().map(Phone::as_str), Some("+12125550142"));
        assert!(p.has_filter());
        assert_eq!(
            SearchParams::from_query(None).unwrap().to_search(chrono_tz::America::New_York).unwrap().limit,
            DEFAULT_LIMIT
        );

        for bad in [
            "status=LOST",
            "frozen=maybe",
            "limit=0",
            "limit=201",
            "limit=100000000",
            "limit=x",
            "cursor=abc",
            "colour=red",
        ] {
            let r = SearchParams::from_query(Some(bad)).and_then(|p| p.to_search(chrono_tz::America::New_York));
            let e = r.expect_err(bad);
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
