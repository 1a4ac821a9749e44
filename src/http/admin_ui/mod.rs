//! The admin web page (`/admin`): server-rendered HTML (minijinja, HTML autoescaping on,
//! no JavaScript) for operators to search leads, inspect one (state, consent, timeline,
//! conversation), freeze or unfreeze it, and review dead letters.
//!
//! Sign-in: the form posts the admin token (`LEADLINE_ADMIN_TOKEN`) to `/admin/login`,
//! which sets the cookie `leadline_admin` = `<issued millis>.<HMAC-SHA256(token, "session:" + millis)>`
//! (HttpOnly, SameSite=Strict, Path=/admin, 12 hours; `Secure` when the request came over
//! HTTPS, i.e. `X-Forwarded-Proto: https` or the `Host` of an https `server.public_url`).
//! The raw token is never stored in the browser; rotating the token ends every session.
//! Every POST form carries a CSRF token, the HMAC of the session cookie; with SameSite=Strict
//! cookies that is defence in depth. Actions run the same code as the JSON admin API
//! (`App::submit` for freeze/unfreeze, `dead_letters::{retry,discard}_dead_letter`).
//! Every error renders a readable page with a 4xx (or 503 when the service is busy).

use super::api::search::SearchParams;
use super::body::read_limited;
use super::error::ApiError;
use super::openapi::ADMIN_SESSION;
use crate::app::leads::find as known_lead;
use crate::app::views::consent_rows;
use crate::app::{dead_letters, search, App};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hmac::{Hmac, Mac};
use leadline_core::model::{EntryKind, Event, LeadState, TimelineEntry};
use leadline_core::Ts;
use minijinja::{AutoEscape, Environment};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::LazyLock;
use subtle::ConstantTimeEq;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Required, ResponseBuilder, Type};
use utoipa::Modify;

const COOKIE: &str = "leadline_admin";
const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
/// How many of a lead's most recent timeline entries the page shows.
const TIMELINE_SHOWN: u64 = 500;
const REASON_MAX_CHARS: usize = 500;

pub fn router() -> Router<App> {
    Router::new()
        .route("/admin", get(leads_page))
        .route("/admin/", get(leads_page))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", get(logout).post(logout))
        .route("/admin/leads", get(leads_page))
        .route("/admin/leads/{phone}", get(lead_page))
        .route("/admin/leads/{phone}/freeze", get(back_to_lead).post(freeze))
        .route("/admin/leads/{phone}/unfreeze", get(back_to_lead).post(unfreeze))
        .route("/admin/dead-letters", get(dead_letters_page))
        .route("/admin/dead-letters/{id}/retry", get(back_to_dead_letters).post(retry))
        .route("/admin/dead-letters/{id}/discard", get(back_to_dead_letters).post(discard))
        .route("/admin/{*rest}", get(not_found_page).post(not_found_page))
}

// ---------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------

const TEMPLATES: [(&str, &str); 6] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("leads.html", include_str!("templates/leads.html")),
    ("lead.html", include_str!("templates/lead.html")),
    ("dead_letters.html", include_str!("templates/dead_letters.html")),
    ("error.html", include_str!("templates/error.html")),
];

/// The templates, compiled once (a unit test checks that they compile).
static ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(|e| format!("{name}: {e:#}"))?;
    }
    Ok(env)
});

fn render_html(name: &str, ctx: &Value) -> Result<String, String> {
    let env = ENV.as_ref().map_err(Clone::clone)?;
    env.get_template(name).and_then(|t| t.render(minijinja::Value::from_serialize(ctx))).map_err(|e| format!("{e:#}"))
}

/// Renders a page with the security headers every admin page carries.
fn page(status: StatusCode, name: &str, ctx: Value) -> Response {
    let mut res = match render_html(name, &ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "admin page template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<h1>Internal error</h1><p>The page could not be rendered.</p>"))
                .into_response()
        }
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

/// A page's common context: who is signed in and the CSRF token for its forms.
fn base_ctx(session: Option<&Session>, title: &str, nav: &str) -> Value {
    json!({
        "title": title,
        "nav": nav,
        "signed_in": session.is_some(),
        "csrf": session.map(|s| s.csrf.clone()).unwrap_or_default(),
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// An error shown as a page.
#[derive(Debug)]
pub struct UiError {
    status: StatusCode,
    title: &'static str,
    message: String,
    signed_in: bool,
}

impl UiError {
    fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        UiError { status, title, message: message.into(), signed_in: true }
    }
}

impl From<crate::app::SubmitError> for UiError {
    fn from(e: crate::app::SubmitError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::app::AppError> for UiError {
    fn from(e: crate::app::AppError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        let title = match e.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::PAYLOAD_TOO_LARGE => "Too much data",
            s if s.is_server_error() => "The service is busy",
            _ => "That did not work",
        };
        UiError::new(e.status, title, e.message)
    }
}

impl From<leadline_core::storage::StoreError> for UiError {
    fn from(e: leadline_core::storage::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, message = %self.message, "admin page error");
        }
        let ctx = json!({
            "title": self.title, "nav": "", "signed_in": self.signed_in, "csrf": "",
            "status": self.status.as_u16(), "message": self.message,
        });
        page(self.status, "error.html", ctx)
    }
}

type UiResult = Result<Response, UiError>;

// ---------------------------------------------------------------------------------------
// Sessions and CSRF
// ---------------------------------------------------------------------------------------

struct Session {
    csrf: String,
}

fn hmac_hex(key: &str, msg: &str) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    m.update(msg.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

fn ct_eq_str(a: &str, b: &str) -> bool {
    // Compare fixed-length digests so the comparison does not leak the length either.
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    bool::from(da.as_slice().ct_eq(db.as_slice()))
}

fn session_cookie_value(token: &str, issued_ms: i64) -> String {
    format!("{issued_ms}.{}", hmac_hex(token, &format!("leadline-admin-session:{issued_ms}")))
}

fn csrf_for(token: &str, cookie: &str) -> String {
    hmac_hex(token, &format!("leadline-admin-csrf:{cookie}"))
}

fn cookie_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
}

fn now_ms(app: &App) -> i64 {
    app.clock.now().timestamp_millis()
}

/// The signed-in operator's session, if the cookie is valid and not expired.
fn session(app: &App, headers: &HeaderMap) -> Option<Session> {
    let token = app.secrets.admin_token.as_deref().filter(|t| !t.is_empty())?;
    let cookie = cookie_from(headers)?;
    let (issued, _) = cookie.split_once('.')?;
    let issued: i64 = issued.parse().ok()?;
    let age = now_ms(app) - issued;
    // A little slack for clocks that moved back.
    if !(-5 * 60 * 1000..=SESSION_TTL_MS).contains(&age) {
        return None;
    }
    if !ct_eq_str(&cookie, &session_cookie_value(token, issued)) {
        return None;
    }
    Some(Session { csrf: csrf_for(token, &cookie) })
}

/// The session of a GET page, or the address of the sign-in form to redirect to.
fn require_session(app: &App, headers: &HeaderMap, here: &str) -> Result<Session, String> {
    session(app, headers).ok_or_else(|| {
        let next: String = form_urlencoded::Serializer::new(String::new()).append_pair("next", here).finish();
        format!("/admin/login?{next}")
    })
}

/// The session of a POST form whose CSRF token matches, or an error page.
fn require_post_session(app: &App, headers: &HeaderMap, form: &HashMap<String, String>) -> Result<Session, UiError> {
    let Some(s) = session(app, headers) else {
        let mut e = UiError::new(
            StatusCode::UNAUTHORIZED,
            "Please sign in again",
            "Your session has expired or you are not signed in. Sign in and try again.",
        );
        e.signed_in = false;
        return Err(e);
    };
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    if given.is_empty() || !ct_eq_str(given, &s.csrf) {
        return Err(UiError::new(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is out of date (its security token does not match your session). Go back, reload the page and try again.",
        ));
    }
    Ok(s)
}

/// Whether the browser reached us over HTTPS (directly or through a proxy).
fn over_https(app: &App, headers: &HeaderMap) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().unwrap_or("").trim().eq_ignore_ascii_case("https"));
    if forwarded {
        return true;
    }
    let public = &app.settings.server.public_url;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    public.scheme() == "https" && public.host_str().is_some_and(|p| p.eq_ignore_ascii_case(host))
}

fn set_cookie(res: &mut Response, value: &str, max_age_secs: i64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Only local admin pages are valid targets after signing in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/admin") && !n.contains("//") && !n.contains('\\') && !n.starts_with("/admin/log") =>
        {
            n.to_string()
        }
        _ => "/admin".to_string(),
    }
}

async fn read_form(app: &App, body: Body) -> Result<HashMap<String, String>, UiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

fn query_map(raw: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes()).into_owned().collect()
}

// ---------------------------------------------------------------------------------------
// Sign in / out
// ---------------------------------------------------------------------------------------

fn login_form(status: StatusCode, next: &str, error: Option<&str>, notice: Option<&str>) -> Response {
    let ctx = merge(base_ctx(None, "Sign in", "login"), json!({ "next": next, "error": error, "notice": notice }));
    page(status, "login.html", ctx)
}

async fn login_page(State(app): State<App>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query_map(raw.as_deref());
    let next = safe_next(q.get("next").map(String::as_str));
    if app.secrets.admin_token.as_deref().is_none_or(str::is_empty) {
        return login_form(
            StatusCode::SERVICE_UNAVAILABLE,
            &next,
            Some("The admin page is disabled until LEADLINE_ADMIN_TOKEN is set on the server."),
            None,
        );
    }
    if session(&app, &headers).is_some() {
        return see_other(&next);
    }
    let notice = q.contains_key("signed_out").then_some("You are signed out.");
    login_form(StatusCode::OK, &next, None, notice)
}

async fn login(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let form = match read_form(&app, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let next = safe_next(form.get("next").map(String::as_str));
    let Some(expected) = app.secrets.admin_token.as_deref().filter(|t| !t.is_empty()) else {
        return login_form(
            StatusCode::SERVICE_UNAVAILABLE,
            &next,
            Some("The admin page is disabled until LEADLINE_ADMIN_TOKEN is set on the server."),
            None,
        );
    };
    let given = form.get("token").map(|t| t.trim()).unwrap_or("");
    if given.is_empty() || !ct_eq_str(given, expected) {
        tracing::warn!("admin page: failed sign-in");
        // Slow down guessing a little.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        return login_form(StatusCode::UNAUTHORIZED, &next, Some("That token is not right."), None);
    }
    let value = session_cookie_value(expected, now_ms(&app));
    let mut res = see_other(&next);
    set_cookie(&mut res, &value, SESSION_TTL_MS / 1000, over_https(&app, &headers));
    tracing::info!("admin page: operator signed in");
    res
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    let mut res = see_other("/admin/login?signed_out=1");
    set_cookie(&mut res, "", 0, over_https(&app, &headers));
    res
}

// ---------------------------------------------------------------------------------------
// Lead search
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

fn when(ts: Option<Ts>) -> String {
    ts.map(|t| t.0.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

fn status_class(status: &str) -> &'static str {
    match status {
        "OPT_OUT" | "UNDELIVERABLE" => "bad",
        "ENGAGED" => "good",
        "CONTACTED_SMS" => "info",
        _ => "neutral",
    }
}

fn name_of(lead: &LeadState) -> String {
    let parts: Vec<&str> = [lead.profile.first_name.as_deref(), lead.profile.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    parts.join(" ")
}

fn lead_row(lead: &LeadState) -> Value {
    let status = lead.status.as_str();
    json!({
        "phone": lead.phone.as_str(),
        "href": format!("/admin/leads/{}", path_segment(lead.phone.as_str())),
        "name": name_of(lead),
        "status": status,
        "status_class": status_class(status),
        "frozen": lead.frozen.is_some(),
        "crm_status": lead.crm_status,
        "source": lead.profile.source,
        "interests": lead.interests.join(", "),
        "last_contacted_at": when(lead.last_contacted_at),
    })
}

async fn leads_page(State(app): State<App>, headers: HeaderMap, RawQuery(raw): RawQuery) -> UiResult {
    let here = match raw.as_deref() {
        Some(q) if !q.is_empty() => format!("/admin/leads?{q}"),
        _ => "/admin".to_string(),
    };
    let s = match require_session(&app, &headers, &here) {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    let params = SearchParams::from_query(raw.as_deref()).unwrap_or_default();
    let mut error = None;
    let mut rows = Vec::new();
    let mut next_href = None;
    match SearchParams::from_query(raw.as_deref()).and_then(|p| p.to_search()) {
        Ok(search) => {
            let (leads, next) = search::leads(&app, search).await?;
            rows = leads.iter().map(lead_row).collect();
            if let Some(next) = next {
                let mut p = params.clone();
                p.cursor = next.as_str().to_string();
                next_href = Some(format!("/admin/leads?{}", search_query(&p)));
            }
        }
        Err(e) => error = Some(e.message),
    }
    let stats = search::stats(&app).await;
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let ctx = merge(
        base_ctx(Some(&s), "Leads", "leads"),
        json!({
            "p": params,
            "filtered": params.has_filter(),
            "paged": !params.cursor.trim().is_empty(),
            "error": error,
            "leads": rows,
            "next_href": next_href,
            "stats": stats,
            "statuses": ["NEW", "CONTACTED_SMS", "ENGAGED", "OPT_OUT", "UNDELIVERABLE"],
        }),
    );
    Ok(page(status, "leads.html", ctx))
}

fn search_query(p: &SearchParams) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("q", &p.q),
        ("status", &p.status),
        ("frozen", &p.frozen),
        ("crm_status", &p.crm_status),
        ("source", &p.source),
        ("listing", &p.listing),
        ("limit", &p.limit),
        ("cursor", &p.cursor),
    ] {
        if !v.trim().is_empty() {
            ser.append_pair(k, v);
        }
    }
    ser.finish()
}

// ---------------------------------------------------------------------------------------
// One lead
// ---------------------------------------------------------------------------------------

fn kind_name(kind: EntryKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn entry_class(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::TextBlocked => "blocked",
        EntryKind::TextDeferred => "deferred",
        EntryKind::TextFailed => "failed",
        EntryKind::TextSent | EntryKind::TextQueued => "sent",
        EntryKind::Admin => "admin",
        _ => "",
    }
}

/// Inbound texts and our texts, from the timeline, oldest first.
fn conversation(entries: &[TimelineEntry]) -> Vec<Value> {
    // The latest outcome of each of our texts (accepted, failed, delivery receipts).
    let mut outcome: HashMap<&str, &TimelineEntry> = HashMap::new();
    for e in entries {
        if matches!(e.kind, EntryKind::TextSent | EntryKind::TextFailed | EntryKind::Delivery) {
            if let Some(id) = e.message_id.as_deref() {
                outcome.insert(id, e);
            }
        }
    }
    let mut out = Vec::new();
    for e in entries {
        if e.kind == EntryKind::Event && e.rule.as_deref() == Some("event.inbound_text") {
            let body = e.detail.strip_prefix("lead wrote: \"").and_then(|b| b.strip_suffix('"')).unwrap_or(&e.detail);
            out.push(json!({ "dir": "in", "at": when(Some(e.at)), "body": body, "meta": "" }));
        } else if e.kind == EntryKind::TextQueued {
            let (kind, body) = e.detail.split_once(": ").unwrap_or(("", &e.detail));
            let status = e
                .message_id
                .as_deref()
                .and_then(|id| outcome.get(id))
                .map(|o| format!("{}: {}", kind_name(o.kind).replace('_', " "), o.detail))
                .unwrap_or_else(|| "queued".into());
            let rule = e.rule.clone().unwrap_or_default();
            out.push(json!({
                "dir": "out", "at": when(Some(e.at)), "body": body,
                "meta": format!("{kind} · {rule} · {status}"),
            }));
        }
    }
    out
}

fn lead_view(lead: &LeadState, entries: &[TimelineEntry]) -> Value {
    let status = lead.status.as_str();
    let consent = lead.current_consent().map(|c| {
        json!({
            "granted_at": when(c.granted_at), "recorded_at": when(Some(c.recorded_at)),
            "source_url": c.source_url, "disclosure": c.disclosure, "disclosure_sha256": c.disclosure_sha256,
            "ip": c.ip, "user_agent": c.user_agent, "seller": c.seller, "captured_from": c.captured_from,
        })
    });
    let history: Vec<Value> = consent_rows(lead)
        .into_iter()
        .map(|r| {
            json!({
                "event": r.event, "at": when(Some(r.at)), "rule": r.rule,
                "detail": r.evidence.or(r.source_url).unwrap_or_default(),
            })
        })
        .collect();
    let timeline: Vec<Value> = entries
        .iter()
        .rev()
        .map(|e| {
            json!({
                "seq": e.seq, "at": when(Some(e.at)), "kind": kind_name(e.kind), "class": entry_class(e.kind),
                "rule": e.rule, "detail": e.detail, "message_id": e.message_id,
            })
        })
        .collect();
    let held_entries: Vec<&TimelineEntry> =
        entries.iter().filter(|e| matches!(e.kind, EntryKind::TextBlocked | EntryKind::TextDeferred)).collect();
    let held = held_entries.len();
    // The most recent texts that were not sent, with their rules, for the top of the page.
    let held_recent: Vec<Value> = held_entries
        .iter()
        .rev()
        .take(10)
        .map(|e| {
            json!({
                "at": when(Some(e.at)), "kind": kind_name(e.kind).replace("text_", ""), "class": entry_class(e.kind),
                "rule": e.rule, "detail": e.detail,
            })
        })
        .collect();
    let scheduled: Vec<Value> = lead
        .pending
        .iter()
        .map(|p| json!({ "kind": p.text.kind.as_str(), "not_before": when(Some(p.not_before)), "rule": p.rule, "body": p.text.body }))
        .collect();
    json!({
        "phone": lead.phone.as_str(),
        "path": format!("/admin/leads/{}", path_segment(lead.phone.as_str())),
        "api_path": format!("/v1/admin/leads/{}", path_segment(lead.phone.as_str())),
        "name": name_of(lead),
        "status": status,
        "status_class": status_class(status),
        "frozen": lead.frozen.is_some(),
        "frozen_reason": lead.frozen.as_ref().and_then(|f| f.reason.clone()),
        "frozen_at": when(lead.frozen.as_ref().map(|f| f.at)),
        "suppressed": lead.suppressed.as_ref().map(|s| json!({"list": s.list, "reason": s.reason, "added_at": when(Some(s.added_at))})),
        "email": lead.profile.email,
        "source": lead.profile.source,
        "source_lead_id": lead.profile.source_lead_id,
        "address_state": lead.profile.address_state,
        "crm_status": lead.crm_status,
        "agent": lead.agent,
        "interests": lead.interests.join(", "),
        "last_property": lead.last_property,
        "last_contacted_at": when(lead.last_contacted_at),
        "last_inbound_at": when(lead.last_inbound_at),
        "created_at": when(Some(lead.created_at)),
        "updated_at": when(Some(lead.updated_at)),
        "consent": consent,
        "consent_history": history,
        "scheduled": scheduled,
        "conversation": conversation(entries),
        "timeline": timeline,
        "held_count": held,
        "held_recent": held_recent,
        "timeline_len": lead.timeline_len,
        "timeline_truncated": lead.timeline_len > entries.len() as u64,
    })
}

fn phone_param(path: Result<Path<String>, PathRejection>) -> Result<String, UiError> {
    path.map(|Path(p)| p)
        .map_err(|_| UiError::new(StatusCode::BAD_REQUEST, "Bad address", "The address of this page is malformed."))
}

async fn lead_page(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> UiResult {
    let raw_phone = phone_param(path)?;
    let here = format!("/admin/leads/{}", path_segment(&raw_phone));
    let s = match require_session(&app, &headers, &here) {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    let (phone, lead) = known_lead(&app, &raw_phone)?;
    let after = lead.timeline_len.saturating_sub(TIMELINE_SHOWN);
    let entries = app.store.timeline(&phone, after, TIMELINE_SHOWN as usize)?;
    let q = query_map(raw.as_deref());
    let notice = match q.get("done").map(String::as_str) {
        Some("frozen") => Some("Automation frozen for this lead."),
        Some("unfrozen") => Some("Automation resumed for this lead."),
        _ => None,
    };
    let ctx = merge(
        base_ctx(Some(&s), &format!("Lead {}", name_of(&lead)), "leads"),
        json!({ "lead": lead_view(&lead, &entries), "notice": notice }),
    );
    Ok(page(StatusCode::OK, "lead.html", ctx))
}

async fn back_to_lead(path: Result<Path<String>, PathRejection>) -> UiResult {
    let raw = phone_param(path)?;
    Ok(see_other(&format!("/admin/leads/{}", path_segment(&raw))))
}

async fn freeze(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let raw = phone_param(path)?;
    let form = read_form(&app, body).await?;
    require_post_session(&app, &headers, &form)?;
    let reason: String = form.get("reason").map(|r| r.trim()).unwrap_or("").chars().take(REASON_MAX_CHARS).collect();
    let reason = (!reason.is_empty()).then_some(reason);
    let (phone, _) = known_lead(&app, &raw)?;
    app.submit(phone.clone(), Event::Freeze { reason }, None).await?;
    tracing::info!(phone = %phone.masked(), "admin page: lead frozen");
    Ok(see_other(&format!("/admin/leads/{}?done=frozen", path_segment(phone.as_str()))))
}

async fn unfreeze(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let raw = phone_param(path)?;
    let form = read_form(&app, body).await?;
    require_post_session(&app, &headers, &form)?;
    let (phone, _) = known_lead(&app, &raw)?;
    app.submit(phone.clone(), Event::Unfreeze, None).await?;
    tracing::info!(phone = %phone.masked(), "admin page: lead unfrozen");
    Ok(see_other(&format!("/admin/leads/{}?done=unfrozen", path_segment(phone.as_str()))))
}

// ---------------------------------------------------------------------------------------
// Dead letters
// ---------------------------------------------------------------------------------------

async fn dead_letters_page(State(app): State<App>, headers: HeaderMap, RawQuery(raw): RawQuery) -> UiResult {
    let s = match require_session(&app, &headers, "/admin/dead-letters") {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    let items = app.store.dead_letters()?;
    let rows: Vec<Value> = items
        .iter()
        .map(|d| {
            json!({
                "id": d.text.id,
                "id_path": path_segment(&d.text.id),
                "phone": d.text.to.as_str(),
                "lead_href": format!("/admin/leads/{}", path_segment(d.text.to.as_str())),
                "kind": d.text.kind.as_str(),
                "body": d.text.body,
                "reason": d.reason,
                "detail": d.detail,
                "at": when(Some(d.at)),
            })
        })
        .collect();
    let q = query_map(raw.as_deref());
    let notice = match q.get("done").map(String::as_str) {
        Some("retried") => Some("Queued again. It passes the compliance checks again before it is sent."),
        Some("discarded") => Some("Dead letter discarded."),
        _ => None,
    };
    let ctx = merge(base_ctx(Some(&s), "Dead letters", "dead"), json!({ "items": rows, "notice": notice }));
    Ok(page(StatusCode::OK, "dead_letters.html", ctx))
}

async fn back_to_dead_letters() -> Response {
    see_other("/admin/dead-letters")
}

fn id_param(path: Result<Path<String>, PathRejection>) -> Result<String, UiError> {
    phone_param(path)
}

async fn retry(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    dead_letter_button(&app, &headers, path, body, DeadLetterAction::Retry).await
}

async fn discard(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    dead_letter_button(&app, &headers, path, body, DeadLetterAction::Discard).await
}

enum DeadLetterAction {
    Retry,
    Discard,
}

/// A dead-letter button: a signed-in POST with its CSRF token, the action, back to the list.
async fn dead_letter_button(
    app: &App,
    headers: &HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
    action: DeadLetterAction,
) -> UiResult {
    let id = id_param(path)?;
    let form = read_form(app, body).await?;
    require_post_session(app, headers, &form)?;
    let done = match action {
        DeadLetterAction::Retry => {
            dead_letters::retry(app, &id).await?;
            "retried"
        }
        DeadLetterAction::Discard => {
            dead_letters::discard(app, &id).await?;
            "discarded"
        }
    };
    Ok(see_other(&format!("/admin/dead-letters?done={done}")))
}

async fn not_found_page(State(app): State<App>, headers: HeaderMap) -> UiError {
    let mut e = UiError::new(StatusCode::NOT_FOUND, "Not found", "There is no admin page at this address.");
    e.signed_in = session(&app, &headers).is_some();
    e
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
    ("GET", "/admin/dead-letters", "Dead letters page", true),
    ("GET", "/admin/dead-letters/{id}/retry", "Redirects to the dead letters page", false),
    ("POST", "/admin/dead-letters/{id}/retry", "Retry a dead letter (form: `csrf`)", true),
    ("GET", "/admin/dead-letters/{id}/discard", "Redirects to the dead letters page", false),
    ("POST", "/admin/dead-letters/{id}/discard", "Discard a dead letter (form: `csrf`)", true),
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
    fn every_template_compiles_and_escapes_html() {
        let env = ENV.as_ref().expect("templates compile");
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let ctx = json!({"title": "<b>x</b>", "nav": "", "signed_in": false, "csrf": "", "status": 404,
                         "message": "<script>alert(1)</script>"});
        let html = render_html("error.html", &ctx).unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn sessions_and_csrf_are_bound_to_the_token() {
        let a = session_cookie_value("token-a", 1_000);
        assert_eq!(a, session_cookie_value("token-a", 1_000));
        assert_ne!(a, session_cookie_value("token-b", 1_000));
        assert_ne!(a, session_cookie_value("token-a", 1_001));
        assert!(!a.contains("token-a"));
        assert_ne!(csrf_for("token-a", &a), csrf_for("token-b", &a));
        assert!(ct_eq_str("x", "x") && !ct_eq_str("x", "xy"));
    }

    #[test]
    fn helpers() {
        assert_eq!(path_segment("+12125550142#3"), "%2B12125550142%233");
        assert_eq!(safe_next(Some("/admin/leads?q=a")), "/admin/leads?q=a");
        assert_eq!(safe_next(Some("https://evil.example")), "/admin");
        assert_eq!(safe_next(Some("/admin//evil")), "/admin");
        assert_eq!(safe_next(Some("/admin/logout")), "/admin");
        assert_eq!(safe_next(None), "/admin");
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; leadline_admin=1.abc ; c=d"));
        assert_eq!(cookie_from(&h).as_deref(), Some("1.abc"));
    }
}
