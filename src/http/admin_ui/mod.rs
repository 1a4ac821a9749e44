//! The admin web page (`/admin`): server-rendered HTML (minijinja, HTML autoescaping on,
//! no JavaScript) for operators to search leads, inspect one (state, consent, timeline,
//! conversation), freeze or unfreeze it, and review dead letters.
//!
//! The pages render the application layer's views (`crate::app::views`: [`LeadView`],
//! [`ConsentRow`], [`DeadLetterView`], [`Stats`] and the core's `TimelineEntry`), the same
//! values the JSON admin API returns, plus presentation-only extras (names, hrefs, the
//! conversation); times are formatted by the templates' `when` filter ([`templates`]).
//!
//! - [`session`]: the sign-in cookie, CSRF tokens, the sign-in and sign-out handlers;
//! - [`templates`]: the minijinja environment, rendering, the context every page shares;
//! - [`leads`]: the search page, a lead's page, freeze and unfreeze;
//! - [`dead_letters`]: the dead letters page and its retry and discard buttons;
//! - [`integrations`]: dead event webhook deliveries and Follow Up Boss writes;
//! - [`operators`]: the operators page (role admin): create, change a role, revoke, issue a token;
//! - [`error`]: [`UiError`], every error as a readable page with a 4xx (503 when busy).
//!
//! Actions run the same code as the JSON admin API (`App::submit` for freeze/unfreeze,
//! `app::dead_letters::{retry, discard}`). [`ADMIN_PAGES`] lists the pages for the OpenAPI
//! document ([`AdminPages`]).
//!
//! [`LeadView`]: crate::app::views::LeadView
//! [`ConsentRow`]: crate::app::views::ConsentRow
//! [`DeadLetterView`]: crate::app::views::DeadLetterView
//! [`Stats`]: crate::app::views::Stats

mod dead_letters;
mod error;
mod integrations;
mod leads;
mod operators;
mod session;
mod suppressions;
mod templates;

pub use error::UiError;

use super::body::read_limited;
use super::openapi::ADMIN_SESSION;
use crate::app::App;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Required, ResponseBuilder, Type};
use utoipa::Modify;

/// The pages; every path here is listed in [`ADMIN_PAGES`] (but the catch-all).
/// `upload_max_bytes`: the CSV upload's body limit (`admin.upload_max_bytes`).
pub fn router(upload_max_bytes: usize) -> Router<App> {
    let upload = axum::routing::post(suppressions::upload)
        .get(suppressions::back)
        .layer(axum::extract::DefaultBodyLimit::max(upload_max_bytes));
    Router::new()
        .route("/admin", get(leads::leads_page))
        .route("/admin/", get(leads::leads_page))
        .route("/admin/login", get(session::login_page).post(session::login))
        .route("/admin/logout", get(session::logout).post(session::logout))
        .route("/admin/leads", get(leads::leads_page))
        .route("/admin/leads/{phone}", get(leads::lead_page))
        .route("/admin/leads/{phone}/freeze", get(leads::back_to_lead).post(leads::freeze))
        .route("/admin/leads/{phone}/unfreeze", get(leads::back_to_lead).post(leads::unfreeze))
        .route("/admin/leads/{phone}/reply", get(leads::back_to_lead).post(leads::reply))
        .route("/admin/operators", get(operators::operators_page).post(operators::create))
        .route("/admin/suppressions", get(suppressions::suppressions_page).post(suppressions::add))
        .route("/admin/suppressions/import", get(suppressions::back).post(suppressions::import))
        .route(crate::http::security::UPLOAD_PATH, upload)
        .route("/admin/suppressions/uploads/{id}", get(suppressions::upload_page))
        .route("/admin/suppressions/{phone}/remove", get(suppressions::back).post(suppressions::remove))
        .route("/admin/leads/{phone}/opt-out", get(leads::back_to_lead).post(leads::opt_out))
        .route("/admin/leads/{phone}/consent.csv", get(leads::consent_csv))
        .route("/admin/operators/{name}/revoke", get(operators::back).post(operators::revoke))
        .route("/admin/operators/{name}/token", get(operators::back).post(operators::token))
        .route("/admin/operators/{name}/role", get(operators::back).post(operators::role))
        .route("/admin/operators/{name}/password", get(operators::back).post(operators::password))
        .route("/admin/dead-letters", get(dead_letters::dead_letters_page))
        .route("/admin/dead-letters/{id}/retry", get(dead_letters::back_to_dead_letters).post(dead_letters::retry))
        .route("/admin/dead-letters/{id}/discard", get(dead_letters::back_to_dead_letters).post(dead_letters::discard))
        .route("/admin/integrations", get(integrations::integrations_page))
        .route("/admin/{*rest}", get(not_found_page).post(not_found_page))
}

/// Any other path under `/admin`: the admin page's own "not found".
async fn not_found_page(State(app): State<App>, headers: HeaderMap) -> UiError {
    UiError::new(StatusCode::NOT_FOUND, "Not found", "There is no admin page at this address.")
        .signed_in(session::session(&app, &headers).is_some())
}

// ---------------------------------------------------------------------------------------
// What every page handler uses
// ---------------------------------------------------------------------------------------

/// `+12125550142` -> `%2B12125550142` (a path segment any router and browser keep intact).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The one path parameter of a page (`{phone}` or `{id}`), or a 400 page.
fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, UiError> {
    path.map(|Path(p)| p)
        .map_err(|_| UiError::new(StatusCode::BAD_REQUEST, "Bad address", "The address of this page is malformed."))
}

fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A POST form's fields (the body is limited like every request body).
async fn read_form(app: &App, body: Body) -> Result<HashMap<String, String>, UiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// A POST form of a signed-in operator with at least `role`: its fields and the session
/// (CSRF checked), or the error page.
async fn posted_form(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    role: leadline_core::operators::Role,
) -> Result<(HashMap<String, String>, session::Session), UiError> {
    let form = read_form(app, body).await?;
    let s = session::require_post_session(app, headers, &form)?;
    s.require(role)?;
    Ok((form, s))
}

fn query_map(raw: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes()).into_owned().collect()
}

// ---------------------------------------------------------------------------------------
// The pages in the OpenAPI document
// ---------------------------------------------------------------------------------------

/// The HTML admin pages: (method, path, summary, needs a session).
pub const ADMIN_PAGES: &[(&str, &str, &str, bool)] = &[
    ("GET", "/admin", "Lead search page", true),
    ("GET", "/admin/", "Lead search page", true),
    ("GET", "/admin/login", "Sign-in form", false),
    ("POST", "/admin/login", "Sign in with the admin token (form field `token`); sets the session cookie", false),
    ("GET", "/admin/logout", "Sign out (clears the session cookie)", false),
    ("POST", "/admin/logout", "Sign out (clears the session cookie)", false),
    ("GET", "/admin/leads", "Lead search page", true),
    ("GET", "/admin/leads/{phone}", "One lead: state, consent, timeline, conversation", true),
    ("GET", "/admin/leads/{phone}/freeze", "Redirects to the lead's page", false),
    ("POST", "/admin/leads/{phone}/freeze", "Freeze the lead (form: `reason`, `csrf`)", true),
    ("GET", "/admin/leads/{phone}/unfreeze", "Redirects to the lead's page", false),
    ("POST", "/admin/leads/{phone}/unfreeze", "Unfreeze the lead (form: `csrf`)", true),
    ("GET", "/admin/leads/{phone}/reply", "Redirects to the lead's page", false),
    ("POST", "/admin/leads/{phone}/reply", "A person's reply to the lead, role agent (form: `body`, `csrf`)", true),
    ("GET", "/admin/operators", "Operators page (role admin)", true),
    ("GET", "/admin/suppressions", "Do-not-contact list page: search (`q`), paged (`cursor`)", true),
    ("POST", "/admin/suppressions", "Add a number, role admin (form: `phone`, `list`, `reason`, `csrf`)", true),
    ("GET", "/admin/suppressions/import", "Redirects to the do-not-contact page", false),
    ("POST", "/admin/suppressions/import", "Import pasted CSV, role admin (form: `csv`, `list`, `csrf`)", true),
    ("GET", "/admin/suppressions/upload", "Redirects to the do-not-contact page", false),
    (
        "POST",
        "/admin/suppressions/upload",
        "Upload a CSV file, role admin (multipart: `file`, `list`, `csrf`; up to `admin.upload_max_bytes`); \
         redirects to its progress page",
        true,
    ),
    ("GET", "/admin/suppressions/uploads/{id}", "An upload's progress, then its outcome (role admin)", true),
    ("GET", "/admin/suppressions/{phone}/remove", "Redirects to the do-not-contact page", false),
    (
        "POST",
        "/admin/suppressions/{phone}/remove",
        "Remove a number after a confirmation, role admin (form: `reason`, `confirm`, `csrf`)",
        true,
    ),
    ("GET", "/admin/leads/{phone}/opt-out", "Redirects to the lead's page", false),
    (
        "POST",
        "/admin/leads/{phone}/opt-out",
        "Record an opt-out after a confirmation, role admin (form: `reason`, `confirm`, `csrf`)",
        true,
    ),
    (
        "GET",
        "/admin/leads/{phone}/consent.csv",
        "The lead's consent history as CSV, role admin (logged with the operator)",
        true,
    ),
    ("POST", "/admin/operators", "Create an operator (form: `name`, `role`, `password`, `csrf`)", true),
    ("GET", "/admin/operators/{name}/revoke", "Redirects to the operators page", false),
    ("POST", "/admin/operators/{name}/revoke", "Revoke an operator (form: `csrf`)", true),
    ("GET", "/admin/operators/{name}/token", "Redirects to the operators page", false),
    ("POST", "/admin/operators/{name}/token", "Issue an API token, shown once (form: `csrf`)", true),
    ("GET", "/admin/operators/{name}/role", "Redirects to the operators page", false),
    ("POST", "/admin/operators/{name}/role", "Change an operator's role (form: `role`, `csrf`)", true),
    ("GET", "/admin/operators/{name}/password", "Redirects to the operators page", false),
    (
        "POST",
        "/admin/operators/{name}/password",
        "Set an operator's page password; ends their sessions (form: `password`, `csrf`)",
        true,
    ),
    ("GET", "/admin/dead-letters", "Dead letters page", true),
    ("GET", "/admin/dead-letters/{id}/retry", "Redirects to the dead letters page", false),
    ("POST", "/admin/dead-letters/{id}/retry", "Retry a dead letter (form: `csrf`)", true),
    ("GET", "/admin/dead-letters/{id}/discard", "Redirects to the dead letters page", false),
    ("POST", "/admin/dead-letters/{id}/discard", "Discard a dead letter (form: `csrf`)", true),
    ("GET", "/admin/integrations", "Event webhook and Follow Up Boss write-back failures", true),
];

/// Lists [`ADMIN_PAGES`] in the OpenAPI document, briefly (tag `admin-ui`, no schemas; the
/// catch-all `/admin/{*rest}`, the admin page's own "not found", is not listed).
pub struct AdminPages;

impl Modify for AdminPages {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (method, path, summary, session) in ADMIN_PAGES {
            let http_method = if *method == "POST" { HttpMethod::Post } else { HttpMethod::Get };
            let html =
                || ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String).build())).build();
            let mut op = OperationBuilder::new()
                .tag("admin-ui")
                .summary(Some(*summary))
                .operation_id(Some(format!("admin_page_{}_{}", method.to_lowercase(), page_id(path))))
                .response("200", ResponseBuilder::new().description("An HTML page").content("text/html", html()))
                .response("303", ResponseBuilder::new().description("Redirect (`Location`), e.g. to the sign-in form"))
                .response("4XX", ResponseBuilder::new().description("An HTML error page").content("text/html", html()));
            if *method == "POST" {
                op = op.request_body(Some(
                    utoipa::openapi::request_body::RequestBodyBuilder::new()
                        .description(Some("The page's form"))
                        .content(
                            "application/x-www-form-urlencoded",
                            ContentBuilder::new().schema(Some(ObjectBuilder::new().build())).build(),
                        )
                        .build(),
                ));
            }
            if *session {
                op = op.security(SecurityRequirement::new(ADMIN_SESSION, Vec::<String>::new()));
            }
            for name in path_params(path) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String).build())),
                );
            }
            openapi.paths.add_path_operation(path, vec![http_method], op.build());
        }
    }
}

/// `{phone}` and `{id}` in a path, in order.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// `/admin/leads/{phone}/freeze` -> `leads_phone_freeze` (`/admin` -> `index`).
fn page_id(path: &str) -> String {
    let parts: Vec<String> = path
        .trim_start_matches("/admin")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(|c| c == '{' || c == '}').replace('-', "_"))
        .collect();
    match (parts.is_empty(), path.ends_with('/')) {
        (true, false) => "index".into(),
        (true, true) => "index_slash".into(),
        _ => parts.join("_"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(path_segment("+12125550142#3"), "%2B12125550142%233");
        assert_eq!(page_id("/admin"), "index");
        assert_eq!(page_id("/admin/"), "index_slash");
        assert_eq!(page_id("/admin/dead-letters/{id}/retry"), "dead_letters_id_retry");
        assert_eq!(path_params("/admin/leads/{phone}/freeze").collect::<Vec<_>>(), ["phone"]);
    }
}
