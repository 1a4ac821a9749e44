//! Signing in to the admin page, the session cookie and the CSRF token of every form.
//!
//! The sign-in form posts an operator's name and password (or, with the name left empty,
//! the shared `LEADLINE_ADMIN_TOKEN`; the legacy form field `token` still works) to
//! `/admin/login`. Sign-ins are throttled per account and per client IP
//! (`app::operators::LoginThrottle`). A success stores a server-side session
//! (`app::operators::login`: the `Sessions` part, keyed by the SHA-256 of the cookie) and
//! sets the cookie `leadline_admin` = 32 random bytes, hex (HttpOnly, SameSite=Strict,
//! Path=/admin, 12 hours; `Secure` when the request came over HTTPS, i.e.
//! `X-Forwarded-Proto: https` or the `Host` of an https `server.public_url`). Signing out
//! deletes the session, and revoking the operator or setting a new password ends all of
//! theirs, at once. Every POST form carries the session's random CSRF token; with
//! SameSite=Strict cookies that is defence in depth.

use super::error::UiError;
use super::templates::{page, Base};
use super::{query_map, read_form, see_other};
use crate::app::operators::{self, LoginError, Principal};
use crate::app::App;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use leadline_core::operators::Role;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

const COOKIE: &str = "leadline_admin";
const DISABLED: &str =
    "The admin page is disabled until LEADLINE_ADMIN_TOKEN is set on the server or an operator with a password exists (leadline operators add).";

/// A signed-in operator: who, and the CSRF token their forms carry.
pub(super) struct Session {
    pub csrf: String,
    pub operator: Principal,
    /// `[admin] time_zone`: the page's times are shown in it.
    pub tz: String,
}

impl Session {
    /// A page for the operator's role or a "not allowed" page naming the role needed.
    pub fn require(&self, needed: Role) -> Result<(), UiError> {
        if self.operator.role.allows(needed) {
            return Ok(());
        }
        Err(UiError::new(
            StatusCode::FORBIDDEN,
            "Not allowed",
            format!(
                "This needs the {} role. You are signed in as {} with the {} role; ask an admin if you need more.",
                needed.as_str(),
                self.operator.name,
                self.operator.role.as_str()
            ),
        ))
    }
}

fn ct_eq_str(a: &str, b: &str) -> bool {
    // Compare fixed-length digests so the comparison does not leak the length either.
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    bool::from(da.as_slice().ct_eq(db.as_slice()))
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

/// The signed-in operator's session, if the cookie names a live server-side session.
pub(super) fn session(app: &App, headers: &HeaderMap) -> Option<Session> {
    let cookie = cookie_from(headers)?;
    match operators::session(&app.store, &cookie, app.clock.now().into()) {
        Ok(Some((operator, s))) => {
            Some(Session { csrf: s.csrf, operator, tz: app.settings.admin.zone().name().to_string() })
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "admin page: the session could not be read");
            None
        }
    }
}

/// The session of a GET page, or the address of the sign-in form to redirect to (back to
/// `here` after).
pub(super) fn require_session(app: &App, headers: &HeaderMap, here: &str) -> Result<Session, String> {
    session(app, headers).ok_or_else(|| {
        let next: String = form_urlencoded::Serializer::new(String::new()).append_pair("next", here).finish();
        format!("/admin/login?{next}")
    })
}

/// The session of a POST form whose CSRF token matches, or an error page.
pub(super) fn require_post_session(
    app: &App,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Session, UiError> {
    let s = signed_in_for_post(app, headers)?;
    check_csrf(&s, form.get("csrf").map(String::as_str).unwrap_or(""))?;
    Ok(s)
}

/// The session of a POST, CSRF not checked yet (an upload checks it once its body is read).
pub(super) fn signed_in_for_post(app: &App, headers: &HeaderMap) -> Result<Session, UiError> {
    session(app, headers).ok_or_else(|| {
        UiError::new(
            StatusCode::UNAUTHORIZED,
            "Please sign in again",
            "Your session has expired or you are not signed in. Sign in and try again.",
        )
        .signed_in(false)
    })
}

/// The form's CSRF token is the session's.
pub(super) fn check_csrf(s: &Session, given: &str) -> Result<(), UiError> {
    if given.is_empty() || !ct_eq_str(given, &s.csrf) {
        return Err(UiError::new(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is out of date (its security token does not match your session). Go back, reload the page and try again.",
        ));
    }
    Ok(())
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

/// `login.html`'s own fields.
#[derive(Serialize)]
struct LoginPage<'a> {
    next: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

fn login_form(status: StatusCode, next: &str, error: Option<&str>, notice: Option<&str>) -> Response {
    page(status, "login.html", Base::new(None, "Sign in", "login"), LoginPage { next, error, notice })
}

/// Whether any way of signing in exists: the shared token, or an operator.
fn sign_in_possible(app: &App) -> bool {
    app.secrets.admin_token.as_deref().is_some_and(|t| !t.is_empty())
        || app.store.operators().is_ok_and(|ops| ops.iter().any(|o| o.active() && o.password_hash.is_some()))
}

pub(super) async fn login_page(State(app): State<App>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query_map(raw.as_deref());
    let next = safe_next(q.get("next").map(String::as_str));
    if !sign_in_possible(&app) {
        return login_form(StatusCode::SERVICE_UNAVAILABLE, &next, Some(DISABLED), None);
    }
    if session(&app, &headers).is_some() {
        return see_other(&next);
    }
    let notice = q.contains_key("signed_out").then_some("You are signed out.");
    login_form(StatusCode::OK, &next, None, notice)
}

pub(super) async fn login(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let headers = parts.headers;
    let form = match read_form(&app, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let next = safe_next(form.get("next").map(String::as_str));
    if !sign_in_possible(&app) {
        return login_form(StatusCode::SERVICE_UNAVAILABLE, &next, Some(DISABLED), None);
    }
    let name = form.get("name").map(|n| n.trim()).unwrap_or("");
    // `token` is the sign-in form's field before named operators (the shared token).
    let secret = form.get("password").or_else(|| form.get("token")).map(|t| t.trim()).unwrap_or("");
    let now = app.clock.now().into();
    let result =
        operators::login(&app.store, &app.logins, app.secrets.admin_token.as_deref(), name, secret, ip, now).await;
    let new = match result {
        Ok(new) => new,
        Err(LoginError::Wrong) => {
            metrics::counter!("leadline_admin_sign_ins_total", "outcome" => "wrong").increment(1);
            tracing::warn!(operator = %name, "admin page: failed sign-in");
            // Slow down guessing a little.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let msg = if name.is_empty() { "That token is not right." } else { "That name and password do not match." };
            return login_form(StatusCode::UNAUTHORIZED, &next, Some(msg), None);
        }
        Err(LoginError::Throttled) => {
            metrics::counter!("leadline_admin_sign_ins_total", "outcome" => "throttled").increment(1);
            let msg = "Too many sign-in attempts. Wait a minute and try again.";
            let mut res = login_form(StatusCode::TOO_MANY_REQUESTS, &next, Some(msg), None);
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return res;
        }
        Err(LoginError::Unavailable(e)) => {
            tracing::warn!(error = %e, "admin page: no session could be created");
            return login_form(
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                Some("No session could be created; try again."),
                None,
            );
        }
    };
    metrics::counter!("leadline_admin_sign_ins_total", "outcome" => "ok").increment(1);
    let mut res = see_other(&next);
    let ttl = operators::SESSION_TTL_HOURS * 3600;
    set_cookie(&mut res, &new.cookie, ttl, over_https(&app, &headers));
    tracing::info!(operator = %new.session.operator, "admin page: operator signed in");
    res
}

pub(super) async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(cookie) = cookie_from(&headers) {
        if let Err(e) = operators::logout(&app.store, &cookie).await {
            tracing::warn!(error = %e, "admin page: the session could not be ended");
        }
    }
    let mut res = see_other("/admin/login?signed_out=1");
    set_cookie(&mut res, "", 0, over_https(&app, &headers));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_admin_pages_follow_a_sign_in() {
        assert_eq!(safe_next(Some("/admin/leads?q=a")), "/admin/leads?q=a");
        assert_eq!(safe_next(Some("https://evil.example")), "/admin");
        assert_eq!(safe_next(Some("/admin//evil")), "/admin");
        assert_eq!(safe_next(Some("/admin/logout")), "/admin");
        assert_eq!(safe_next(None), "/admin");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; leadline_admin=1.abc ; c=d"));
        assert_eq!(cookie_from(&h).as_deref(), Some("1.abc"));
    }
}
