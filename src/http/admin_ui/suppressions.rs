//! The do-not-contact page (`/admin/suppressions`): the list a page at a time, searched by
//! digits; add a number; remove one with a reason (after a confirmation); paste a CSV to
//! upload a CSV file of many (the format of `leadline suppress import`, stored 5,000 per
//! durable write, in the background with a progress page), or paste a few.
//! Reading needs a session; changes need the admin role. The same `app::compliance` and
//! `app::suppress_import` operations as the JSON API.

use super::error::{UiError, UiResult};
use super::session::require_session;
use super::templates::{page, Base, ConfirmPage};
use super::{path_param, path_segment, posted_form, query_map, see_other};
use crate::app::views::{SuppressionImport, SuppressionView};
use crate::app::{compliance, suppress_import, App};
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartRejection};
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
    /// The result of a CSV paste, shown once.
    imported: Option<SuppressionImport>,
    /// The upload's limit (`admin.upload_max_bytes`), in MB and in numbers (about 30 bytes each).
    upload_max_mb: usize,
    upload_max_numbers: usize,
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
    let max = app.settings.admin.upload_max_bytes;
    let ctx = SuppressionsPage {
        items,
        q: q.to_string(),
        next_href,
        notice,
        imported,
        upload_max_mb: max.div_ceil(1024 * 1024),
        upload_max_numbers: max / 30,
    };
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

/// The CSV file upload (multipart: `csrf`, `file`, optional `list`). Signed in as an admin
/// before the body is read (it may be large), CSRF checked once it is; the file is checked,
/// then imported in the background, and the browser goes to the upload's progress page.
pub(super) async fn upload(
    State(app): State<App>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> UiResult {
    let s = super::session::signed_in_for_post(&app, &headers)?;
    s.require(Role::Admin)?;
    let bad = |detail: String| UiError::new(StatusCode::BAD_REQUEST, "Upload not read", detail);
    let mut multipart = multipart.map_err(|e| bad(format!("The upload is not a file form: {e}.")))?;
    let (mut csrf, mut list, mut file) = (String::new(), None, None);
    while let Some(part) = multipart.next_field().await.map_err(|e| upload_error(&app, e))? {
        match part.name().unwrap_or("") {
            "csrf" => csrf = part.text().await.map_err(|e| upload_error(&app, e))?,
            "list" => list = Some(part.text().await.map_err(|e| upload_error(&app, e))?),
            "file" => {
                let name = part.file_name().unwrap_or("upload.csv").to_string();
                file = Some((name, part.bytes().await.map_err(|e| upload_error(&app, e))?));
            }
            _ => {}
        }
    }
    super::session::check_csrf(&s, &csrf)?;
    let Some((name, data)) = file.filter(|(_, d)| !d.is_empty()) else {
        return Err(UiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Nothing to import", "Choose a CSV file first."));
    };
    let list = list.map(|l| l.trim().to_string()).filter(|l| !l.is_empty());
    let id = suppress_import::start(&app, &s.operator.name, &name, &data, list.as_deref())?;
    tracing::info!(operator = %s.operator.name, bytes = data.len(), "admin page: suppression list upload started");
    Ok(see_other(&format!("/admin/suppressions/uploads/{id}")))
}

/// A multipart error: too large (413, naming the limit) or unreadable (400).
fn upload_error(app: &App, e: axum::extract::multipart::MultipartError) -> UiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let mb = app.settings.admin.upload_max_bytes.div_ceil(1024 * 1024);
        return UiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "File too large",
            format!("Uploads take up to {mb} MB (admin.upload_max_bytes). Split the file, or use `leadline suppress import`."),
        );
    }
    UiError::new(
        StatusCode::BAD_REQUEST,
        "Upload not read",
        format!("The upload could not be read: {}.", e.body_text()),
    )
}

#[derive(Serialize)]
struct UploadPage {
    job: suppress_import::ImportJob,
    percent: usize,
    bar_max: usize,
    /// While the import runs, the page reloads itself (no JavaScript on these pages).
    refresh_secs: Option<u32>,
}

/// An upload's progress, then its outcome (admins; the node that took the upload knows it).
pub(super) async fn upload_page(
    State(app): State<App>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> UiResult {
    let here = "/admin/suppressions";
    let s = match require_session(&app, &headers, here) {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    s.require(Role::Admin)?;
    let id = path_param(id)?;
    let job = app.imports.get(&id).ok_or_else(|| {
        UiError::new(
            StatusCode::NOT_FOUND,
            "No such upload",
            "This upload is not known here (only the latest 20 are kept, until a restart).",
        )
    })?;
    let percent = (job.done * 100).checked_div(job.total).unwrap_or(100);
    let refresh_secs = (!job.finished()).then_some(1);
    let ctx = UploadPage { bar_max: job.total.max(1), percent, refresh_secs, job };
    Ok(page(StatusCode::OK, "suppression_upload.html", Base::new(Some(&s), "Upload", "suppressions"), ctx))
}
