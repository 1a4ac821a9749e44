//! The dead letters page (`/admin/dead-letters`): texts that were not sent automatically,
//! as `app::views::DeadLetterView`s, with their retry and discard buttons (the same
//! `app::dead_letters` operations as the JSON admin API).

use super::error::{UiError, UiResult};
use super::session::{require_post_session, require_session};
use super::templates::ConfirmPage;
use super::templates::{page, Base};
use super::{path_param, path_segment, query_map, read_form, see_other};
use crate::app::views::DeadLetterView;
use crate::app::{dead_letters, App};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;

/// `dead_letters.html`.
#[derive(Serialize)]
struct DeadLettersPage {
    items: Vec<DeadLetterRow>,
    notice: Option<&'static str>,
    /// The next page, if any.
    next_href: Option<String>,
}

/// Dead letters per page.
const PAGE: usize = 200;

/// A dead letter as the API lists it, with the hrefs of its lead and its buttons.
#[derive(Serialize)]
struct DeadLetterRow {
    letter: DeadLetterView,
    /// The id as a path segment (`%2B12125550142%233`).
    id_path: String,
    lead_href: String,
}

impl From<DeadLetterView> for DeadLetterRow {
    fn from(letter: DeadLetterView) -> Self {
        DeadLetterRow {
            id_path: path_segment(&letter.id),
            lead_href: format!("/admin/leads/{}", path_segment(letter.phone.as_str())),
            letter,
        }
    }
}

pub(super) async fn dead_letters_page(State(app): State<App>, headers: HeaderMap, RawQuery(raw): RawQuery) -> UiResult {
    let s = match require_session(&app, &headers, "/admin/dead-letters") {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    let q = query_map(raw.as_deref());
    let after = q.get("cursor").map(String::as_str).filter(|c| !c.is_empty());
    let list = dead_letters::list(&app, after, PAGE)?;
    let next_href = list.next_cursor.as_deref().map(|c| {
        let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("cursor", c).finish();
        format!("/admin/dead-letters?{q}")
    });
    let items = list.dead_letters.into_iter().map(DeadLetterRow::from).collect();
    let notice = match q.get("done").map(String::as_str) {
        Some("retried") => Some("Queued again. It passes the compliance checks again before it is sent."),
        Some("discarded") => Some("Dead letter discarded."),
        _ => None,
    };
    let ctx = DeadLettersPage { items, notice, next_href };
    Ok(page(StatusCode::OK, "dead_letters.html", Base::new(Some(&s), "Dead letters", "dead"), ctx))
}

pub(super) async fn back_to_dead_letters() -> Response {
    see_other("/admin/dead-letters")
}

pub(super) async fn retry(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    dead_letter_button(&app, &headers, path, body, Action::Retry).await
}

pub(super) async fn discard(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    dead_letter_button(&app, &headers, path, body, Action::Discard).await
}

#[derive(Debug)]
enum Action {
    Retry,
    Discard,
}

/// A dead-letter button: a signed-in POST with its CSRF token, the action, back to the list.
async fn dead_letter_button(
    app: &App,
    headers: &HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
    action: Action,
) -> UiResult {
    let id = path_param(path)?;
    let form = read_form(app, body).await?;
    let s = require_post_session(app, headers, &form)?;
    s.require(leadline_core::operators::Role::Admin)?;
    tracing::info!(operator = %s.operator.name, action = ?action, "admin page: dead letter");
    if matches!(action, Action::Discard) && form.get("confirm").map(String::as_str) != Some("yes") {
        // Discarding is for good: ask first (no JavaScript: a page with the real button).
        let Some(dl) = app.store.dead_letter(&id).map_err(crate::app::AppError::from)? else {
            return Err(UiError::new(StatusCode::NOT_FOUND, "Not found", format!("no dead letter {id}")));
        };
        let ctx = ConfirmPage {
            question: "Discard this dead letter for good?".into(),
            detail: format!(
                "The text to {} will never be sent: \"{}\" ({})",
                dl.text.to.masked(),
                dl.text.body,
                dl.reason
            ),
            action: format!("/admin/dead-letters/{}/discard", path_segment(&id)),
            button: "Yes, discard it".into(),
            back: "/admin/dead-letters".into(),
        };
        return Ok(page(StatusCode::OK, "confirm.html", Base::new(Some(&s), "Confirm", "dead"), ctx));
    }
    let done = match action {
        Action::Retry => {
            dead_letters::retry(app, &id, &s.operator.name).await?;
            "retried"
        }
        Action::Discard => {
            dead_letters::discard(app, &id, &s.operator.name).await?;
            "discarded"
        }
    };
    Ok(see_other(&format!("/admin/dead-letters?done={done}")))
}
