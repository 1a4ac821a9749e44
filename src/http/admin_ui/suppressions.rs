//! The do-not-contact page (`/admin/suppressions`): the list a page at a time, searched by
//! digits; add a number; remove one with a reason (after a confirmation); paste a CSV to
//! import many (the format of `leadline suppress import`, stored 5,000 per durable write).
//! Reading needs a session; changes need the admin role. The same `app::compliance` and
//! `app::suppress_import` operations as the JSON API.

use super::error::{UiError, UiResult};
use super::session::require_session;
use super::templates::{page, Base, ConfirmPage};
use super::{path_param, path_segment, posted_form, query_map, see_other};
use crate::app::views::{SuppressionImport, SuppressionView};
use crate::app::{compliance, suppress_import, App};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use leadline_core::operators::Role;
use leadline_core::Phone;
use serde::Serialize;

/// Numbers per page.
const PAGE: usize = 100;

#[derive(Serialize)]
struct SuppressionsPage {
    items: Vec<Row>,
    q: String,
    next_href: Option<String>,
    notice: Option<String>,
    /// The result of a CSV upload, shown once.
    imported: Option<SuppressionImport>,
}

#[derive(Serialize)]
struct Row {
    s: SuppressionView,
    phone_path: String,
}

fn render(
    app: &App,
    s: &super::session::Session,
    q: &str,
    cursor: Option<&str>,
    notice: Option<String>,
    imported: Option<SuppressionImport>,
) -> UiResult {
    let after = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => Some(Phone::parse(c).map_err(|_| {
            UiError::new(StatusCode::BAD_REQUEST, "Bad address", "The page's cursor is not a phone number.")
        })?),
        None => None,
    };
    let list = compliance::suppressions(app, None, Some(q), after.as_ref(), PAGE)?;
    let next_href = list.next_cursor.as_ref().map(|c| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", q)
            .append_pair("cursor", c.as_str())
            .finish();
        format!("/admin/suppressions?{q}")
    });
    let items = list.suppressions.into_iter().map(|s| Row { phone_path: path_segment(s.phone.as_str()), s }).collect();
    let ctx = SuppressionsPage { items, q: q.to_string(), next_href, notice, imported };
    Ok(page(StatusCode::OK, "suppressions.html", Base::new(Some(s), "Do not contact", "suppressions"), ctx))
}

pub(super) async fn suppressions_page(State(app): State<App>, headers: HeaderMap, RawQuery(raw): RawQuery) -> UiResult {
    let s = match require_session(&app, &headers, "/admin/suppressions") {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    let q = query_map(raw.as_deref());
    let notice = match q.get("done").map(String::as_str) {
        Some("added") => Some("Number added: nothing automated, and no reply, goes to it.".to_string()),
        Some("removed") => Some("Number removed from the list. Consent and opt-outs still apply.".to_string()),
        _ => None,
    };
    let search = q.get("q").map(String::as_str).unwrap_or("");
    render(&app, &s, search, q.get("cursor").map(String::as_str), notice, None)
}

pub(super) async fn back() -> Response {
    see_other("/admin/suppressions")
}

fn field(form: &std::collections::HashMap<String, String>, name: &str) -> Option<String> {
    form.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

pub(super) async fn add(State(app): State<App>, headers: HeaderMap, body: Body) -> UiResult {
    let (form, s) = posted_form(&app, &headers, body, Role::Admin).await?;
    let phone = field(&form, "phone").unwrap_or_default();
    let put =
        compliance::suppress(&app, &phone, field(&form, "list"), field(&form, "reason"), &s.operator.name).await?;
    tracing::info!(operator = %s.operator.name, number = %put.entry.phone.masked(), "admin page: suppression added");
    Ok(see_other("/admin/suppressions?done=added"))
}

pub(super) async fn remove(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let raw = path_param(path)?;
    let (form, s) = posted_form(&app, &headers, body, Role::Admin).await?;
    let reason = field(&form, "reason");
    if form.get("confirm").map(String::as_str) != Some("yes") || reason.is_none() {
        let entry = compliance::suppression(&app, &raw)?;
        let ctx = ConfirmPage {
            question: format!("Take {} off the do-not-contact list?", entry.phone),
            detail: format!(
                "It is on the {} list ({}). Automated texts may reach it again if the lead has consent. Say why below: it is kept in the logs with your name.",
                entry.list,
                entry.reason.as_deref().unwrap_or("no reason given")
            ),
            action: format!("/admin/suppressions/{}/remove", path_segment(entry.phone.as_str())),
            button: "Yes, remove it".into(),
            back: "/admin/suppressions".into(),
        };
        let mut res = page(StatusCode::OK, "confirm.html", Base::new(Some(&s), "Confirm", "suppressions"), ctx);
        if reason.is_none() && form.contains_key("confirm") {
            *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        }
        return Ok(res);
    }
    let removed = compliance::unsuppress(&app, &raw, &s.operator.name, reason.as_deref()).await?;
    tracing::info!(
        operator = %s.operator.name,
        number = %removed.phone.masked(),
        reason = %reason.unwrap_or_default(),
        "admin page: suppression removed"
    );
    Ok(see_other("/admin/suppressions?done=removed"))
}

pub(super) async fn import(State(app): State<App>, headers: HeaderMap, body: Body) -> UiResult {
    let (form, s) = posted_form(&app, &headers, body, Role::Admin).await?;
    let csv = form.get("csv").map(String::as_str).unwrap_or("");
    if csv.trim().is_empty() {
        return Err(UiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Nothing to import", "Paste the CSV first."));
    }
    let list = field(&form, "list");
    let result = suppress_import::import(&app, &s.operator.name, csv.as_bytes(), list.as_deref()).await?;
    let notice = Some(format!(
        "Imported {} number(s) in {} write(s); {} were already listed; {} line(s) skipped.",
        result.imported,
        result.batches,
        result.already_listed,
        result.skipped.len()
    ));
    render(&app, &s, "", None, notice, Some(result))
}
