//! Signing in to the admin page, the session cookie and the CSRF token of every form.
//!
//! The sign-in form posts the admin token (`LEADLINE_ADMIN_TOKEN`) to `/admin/login`, which
//! sets the cookie `leadline_admin` = `<issued millis>.<HMAC-SHA256(token, "session:" + millis)>`
//! (HttpOnly, SameSite=Strict, Path=/admin, 12 hours; `Secure` when the request came over
//! HTTPS, i.e. `X-Forwarded-Proto: https` or the `Host` of an https `server.public_url`).
//! The raw token is never stored in the browser; rotating the token ends every session.
//! Every POST form carries a CSRF token, the HMAC of the session cookie; with SameSite=Strict
//! cookies that is defence in depth.

use super::error::UiError;
use super::templates::{page, Base};
use super::{query_map, read_form, see_other};
use crate::app::App;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

const COOKIE: &str = "leadline_admin";
const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
const DISABLED: &str = "The admin page is disabled until LEADLINE_ADMIN_TOKEN is set on the server.";

/// A signed-in operator: the CSRF token their forms carry.
pub(super) struct Session {
    pub csrf: String,
}

/// `None` only if the key were refused, which HMAC never does (it takes keys of any length).
fn hmac_hex(key: &str, msg: &str) -> Option<String> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).ok()?;
    m.update(msg.as_bytes());
    Some(hex::encode(m.finalize().into_bytes()))
}

fn ct_eq_str(a: &str, b: &str) -> bool {
    // Compare fixed-length digests so the comparison does not leak the length either.
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    bool::from(da.as_slice().ct_eq(db.as_slice()))
}

fn session_cookie_value(token: &str, issued_ms: i64) -> Option<String> {
    Some(format!("{issued_ms}.{}", hmac_hex(token, &format!("leadline-admin-session:{issued_ms}"))?))
}

fn csrf_for(token: &str, cookie: &str) -> Option<String> {
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
pub(super) fn session(app: &App, headers: &HeaderMap) -> Option<Session> {
    let token = app.secrets.admin_token.as_deref().filter(|t| !t.is_empty())?;
    let cookie = cookie_from(headers)?;
    let (issued, _) = cookie.split_once('.')?;
    let issued: i64 = issued.parse().ok()?;
    let age = now_ms(app) - issued;
    // A little slack for clocks that moved back.
    if !(-5 * 60 * 1000..=SESSION_TTL_MS).contains(&age) {
        return None;
    }
    if !ct_eq_str(&cookie, &session_cookie_value(token, issued)?) {
        return None;
    }
    Some(Session { csrf: csrf_for(token, &cookie)? })
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
    let Some(s) = session(app, headers) else {
        return Err(UiError::new(
            StatusCode::UNAUTHORIZED,
            "Please sign in again",
            "Your session has expired or you are not signed in. Sign in and try again.",
        )
        .signed_in(false));
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

pub(super) async fn login_page(State(app): State<App>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query_map(raw.as_deref());
    let next = safe_next(q.get("next").map(String::as_str));
    if app.secrets.admin_token.as_deref().is_none_or(str::is_empty) {
        return login_form(StatusCode::SERVICE_UNAVAILABLE, &next, Some(DISABLED), None);
    }
    if session(&app, &headers).is_some() {
        return see_other(&next);
    }
    let notice = q.contains_key("signed_out").then_some("You are signed out.");
    login_form(StatusCode::OK, &next, None, notice)
}

pub(super) async fn login(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let form = match read_form(&app, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let next = safe_next(form.get("next").map(String::as_str));
    let Some(expected) = app.secrets.admin_token.as_deref().filter(|t| !t.is_empty()) else {
        return login_form(StatusCode::SERVICE_UNAVAILABLE, &next, Some(DISABLED), None);
    };
    let given = form.get("token").map(|t| t.trim()).unwrap_or("");
    if given.is_empty() || !ct_eq_str(given, expected) {
        tracing::warn!("admin page: failed sign-in");
        // Slow down guessing a little.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        return login_form(StatusCode::UNAUTHORIZED, &next, Some("That token is not right."), None);
    }
    let Some(value) = session_cookie_value(expected, now_ms(&app)) else {
        return login_form(
            StatusCode::SERVICE_UNAVAILABLE,
            &next,
            Some("No session could be created; try again."),
            None,
        );
    };
    let mut res = see_other(&next);
    set_cookie(&mut res, &value, SESSION_TTL_MS / 1000, over_https(&app, &headers));
    tracing::info!("admin page: operator signed in");
    res
}

pub(super) async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    let mut res = see_other("/admin/login?signed_out=1");
    set_cookie(&mut res, "", 0, over_https(&app, &headers));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_csrf_are_bound_to_the_token() {
        let cookie = |token: &str, ms: i64| session_cookie_value(token, ms).unwrap();
        let a = cookie("token-a", 1_000);
        assert_eq!(a, cookie("token-a", 1_000));
        assert_ne!(a, cookie("token-b", 1_000));
        assert_ne!(a, cookie("token-a", 1_001));
        assert!(!a.contains("token-a"));
        assert_ne!(csrf_for("token-a", &a), csrf_for("token-b", &a));
        assert!(ct_eq_str("x", "x") && !ct_eq_str("x", "xy"));
    }

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
