//! Operators (role `admin`): list, create, change a role or password, revoke, issue and
//! revoke API tokens. What an operator may do is their role (`leadline_core::operators::Role`,
//! checked per route by `admin::require_operator`); docs/operators.md.

use crate::app::operators::{self, Principal};
use crate::app::views::{IssuedToken, OperatorList, OperatorView};
use crate::app::App;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiJson;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use leadline_core::operators::Role;
use serde::Deserialize;

#[utoipa::path(
    get,
    path = "/v1/admin/operators",
    tag = "operators",
    operation_id = "list_operators",
    summary = "Every operator (revoked ones too)",
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The operators, by name", body = OperatorList),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
    )
)]
pub async fn list(State(app): State<App>) -> Result<Json<OperatorList>, ApiError> {
    let operators = operators::list(&app.store)?;
    Ok(Json(OperatorList { count: operators.len(), operators }))
}

/// `POST /v1/admin/operators`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ana.ruiz", "role": "agent", "password": "a long passphrase"}))]
pub struct NewOperator {
    /// Letters, digits, `.`, `-`, `_`, `@`; 1 to 64 characters. Shown on the timeline.
    pub name: String,
    /// `viewer`, `agent` or `admin`.
    #[schema(value_type = String)]
    pub role: Role,
    /// For the admin page (at least 12 characters); without one the operator uses API tokens only.
    pub password: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/operators",
    tag = "operators",
    operation_id = "create_operator",
    summary = "Create an operator",
    request_body(content = NewOperator, content_type = "application/json"),
    security(("admin_bearer" = [])),
    responses(
        (status = 201, description = "Created", body = OperatorView),
        (status = 400, description = "Not JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 409, description = "The name is taken (`operator_exists`)", body = ErrorBody),
        (status = 415, description = "A body that is not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad name, role or password (`invalid_field`, `invalid_body`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    ApiJson(body): ApiJson<NewOperator>,
) -> Result<(StatusCode, Json<OperatorView>), ApiError> {
    let now = app.clock.now().into();
    let op = operators::create(&app.store, &by.name, &body.name, body.role, body.password.as_deref(), now).await?;
    Ok((StatusCode::CREATED, Json(op)))
}

#[utoipa::path(
    get,
    path = "/v1/admin/operators/{name}",
    tag = "operators",
    operation_id = "get_operator",
    params(("name" = String, Path, description = "The operator's name")),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The operator", body = OperatorView),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such operator (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get(State(app): State<App>, Path(name): Path<String>) -> Result<Json<OperatorView>, ApiError> {
    Ok(Json(operators::find(&app.store, &name)?))
}

/// `PATCH /v1/admin/operators/{name}`: what to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorChange {
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// A new page password; the operator's page sessions end.
    pub password: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/v1/admin/operators/{name}",
    tag = "operators",
    operation_id = "update_operator",
    summary = "Change an operator's role or page password (a new password ends their page sessions)",
    params(("name" = String, Path, description = "The operator's name")),
    request_body(content = OperatorChange, content_type = "application/json"),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The operator after the change", body = OperatorView),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such operator (`not_found`)", body = ErrorBody),
        (status = 409, description = "The operator is revoked (`operator_revoked`)", body = ErrorBody),
        (status = 422, description = "A bad role or password, or nothing to change (`invalid_field`, `missing_field`)", body = ErrorBody),
    )
)]
pub async fn update(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    ApiJson(change): ApiJson<OperatorChange>,
) -> Result<Json<OperatorView>, ApiError> {
    if change.role.is_none() && change.password.is_none() {
        return Err(ApiError::unprocessable("missing_field", "send `role`, `password` or both"));
    }
    let mut view = operators::find(&app.store, &name)?;
    if let Some(password) = change.password.as_deref() {
        view = operators::set_password(&app.store, &by.name, &name, password).await?;
    }
    if let Some(role) = change.role {
        view = operators::set_role(&app.store, &by.name, &name, role).await?;
    }
    Ok(Json(view))
}

#[utoipa::path(
    delete,
    path = "/v1/admin/operators/{name}",
    tag = "operators",
    operation_id = "revoke_operator",
    summary = "Revoke an operator: tokens, password and page sessions stop working at once (the name stays on record)",
    params(("name" = String, Path, description = "The operator's name")),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The operator, revoked", body = OperatorView),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such operator (`not_found`)", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<OperatorView>, ApiError> {
    let now = app.clock.now().into();
    Ok(Json(operators::revoke(&app.store, &by.name, &name, now).await?))
}

#[utoipa::path(
    post,
    path = "/v1/admin/operators/{name}/tokens",
    tag = "operators",
    operation_id = "issue_operator_token",
    summary = "Issue an API token for the operator (shown once; only its SHA-256 is stored)",
    params(("name" = String, Path, description = "The operator's name")),
    security(("admin_bearer" = [])),
    responses(
        (status = 201, description = "The new token", body = IssuedToken),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such operator (`not_found`)", body = ErrorBody),
        (status = 409, description = "The operator is revoked (`operator_revoked`)", body = ErrorBody),
    )
)]
pub async fn issue_token(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let now = app.clock.now().into();
    Ok((StatusCode::CREATED, Json(operators::issue_token(&app.store, &by.name, &name, now).await?)))
}

#[utoipa::path(
    delete,
    path = "/v1/admin/operators/{name}/tokens/{token_id}",
    tag = "operators",
    operation_id = "revoke_operator_token",
    summary = "Revoke one API token of the operator",
    params(
        ("name" = String, Path, description = "The operator's name"),
        ("token_id" = String, Path, description = "The token's public id"),
    ),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The operator after the change", body = OperatorView),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such operator or token (`not_found`)", body = ErrorBody),
    )
)]
pub async fn revoke_token(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path((name, token_id)): Path<(String, String)>,
) -> Result<Json<OperatorView>, ApiError> {
    Ok(Json(operators::revoke_token(&app.store, &by.name, &name, &token_id).await?))
}
