//! The operators page (`/admin/operators`, role admin): every operator with their role and
//! tokens; create one, change a role, revoke, issue an API token (shown once). The same
//! `app::operators` operations as `/v1/admin/operators`.

use super::error::{UiError, UiResult};
use super::session::require_session;
use super::templates::{page, Base};
use super::{path_param, path_segment, posted_form, query_map, see_other};
use crate::app::operators;
use crate::app::views::OperatorView;
use crate::app::App;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use leadline_core::operators::Role;
use serde::Serialize;

/// `operators.html`.
#[derive(Serialize)]
struct OperatorsPage {
    items: Vec<OperatorRow>,
    notice: Option<String>,
    /// A token just issued: shown this once.
    issued: Option<(String, String)>,
}

#[derive(Serialize)]
struct OperatorRow {
    op: OperatorView,
    name_path: String,
}

fn list_page(
    app: &App,
    s: &super::session::Session,
    notice: Option<String>,
    issued: Option<(String, String)>,
) -> UiResult {
    s.require(Role::Admin)?;
    let items = operators::list(&app.store)?
        .into_iter()
        .map(|op| OperatorRow { name_path: path_segment(&op.name), op })
        .collect();
    let ctx = OperatorsPage { items, notice, issued };
    Ok(page(StatusCode::OK, "operators.html", Base::new(Some(s), "Operators", "operators"), ctx))
}

pub(super) async fn operators_page(State(app): State<App>, headers: HeaderMap, RawQuery(raw): RawQuery) -> UiResult {
    let s = match require_session(&app, &headers, "/admin/operators") {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    let notice = match query_map(raw.as_deref()).get("done").map(String::as_str) {
        Some("created") => Some("Operator created.".to_string()),
        Some("revoked") => Some("Operator revoked: their tokens, password and sessions no longer work.".to_string()),
        Some("role") => Some("Role changed.".to_string()),
        Some("password") => Some("Password set; the operator's page sessions were ended.".to_string()),
        _ => None,
    };
    list_page(&app, &s, notice, None)
}

pub(super) async fn back() -> Response {
    see_other("/admin/operators")
}

pub(super) async fn create(State(app): State<App>, headers: HeaderMap, body: Body) -> UiResult {
    let (form, s) = posted_form(&app, &headers, body, Role::Admin).await?;
    let name = form.get("name").map(|n| n.trim()).unwrap_or("");
    let role = form.get("role").and_then(|r| Role::parse(r)).ok_or_else(|| {
        UiError::new(StatusCode::UNPROCESSABLE_ENTITY, "That did not work", "Choose a role: viewer, agent or admin.")
    })?;
    let password = form.get("password").map(String::as_str).filter(|p| !p.is_empty());
    let now = app.clock.now().into();
    operators::create(&app.store, &s.operator.name, name, role, password, now).await?;
    Ok(see_other("/admin/operators?done=created"))
}

pub(super) async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let name = path_param(path)?;
    let (form, s) = posted_form(&app, &headers, body, Role::Admin).await?;
    if form.get("confirm").map(String::as_str) != Some("yes") {
        operators::find(&app.store, &name)?;
        let ctx = super::templates::ConfirmPage {
            question: format!("Revoke operator {name}?"),
            detail: "Their API tokens, password and page sessions stop working at once. The name stays on record (the timeline keeps naming them); it cannot be used for a new operator.".into(),
            action: format!("/admin/operators/{}/revoke", path_segment(&name)),
            button: "Yes, revoke".into(),
            back: "/admin/operators".into(),
        };
        return Ok(page(StatusCode::OK, "confirm.html", Base::new(Some(&s), "Confirm", "operators"), ctx));
    }
    operators::revoke(&app.store, &s.operator.name, &name, app.clock.now().into()).await?;
    Ok(see_other("/admin/operators?done=revoked"))
}

pub(super) async fn role(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let name = path_param(path)?;
    let (form, s) = posted_form(&app, &headers, body, Role::Admin).await?;
    let role = form.get("role").and_then(|r| Role::parse(r)).ok_or_else(|| {
        UiError::new(StatusCode::UNPROCESSABLE_ENTITY, "That did not work", "Choose a role: viewer, agent or admin.")
    })?;
    operators::set_role(&app.store, &s.operator.name, &name, role).await?;
    Ok(see_other("/admin/operators?done=role"))
}

/// Sets an operator's page password (their page sessions end).
pub(super) async fn password(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let name = path_param(path)?;
    let (form, s) = posted_form(&app, &headers, body, Role::Admin).await?;
    let password = form.get("password").map(String::as_str).unwrap_or("");
    operators::set_password(&app.store, &s.operator.name, &name, password).await?;
    Ok(see_other("/admin/operators?done=password"))
}

/// Issues a token and shows it on the page this once (not in a redirect's address).
pub(super) async fn token(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let name = path_param(path)?;
    let (_, s) = posted_form(&app, &headers, body, Role::Admin).await?;
    let issued = operators::issue_token(&app.store, &s.operator.name, &name, app.clock.now().into()).await?;
    let notice = Some(format!("New API token for {}: copy it now, it is not shown again.", issued.operator));
    list_page(&app, &s, notice, Some((issued.operator, issued.token)))
}
