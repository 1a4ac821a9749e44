//! The admin page's templates: the minijinja environment (HTML autoescaping on, compiled
//! once), its filters, rendering a page with the security headers every admin page carries,
//! and the context every page shares.
//!
//! A page's context is the application layer's views as the JSON API serialises them
//! (`app::views`), plus presentation-only extras the handler adds (names, hrefs, notices).
//! The filters do the formatting:
//!
//! - `when`: an RFC 3339 time (as the views serialise `Ts`) -> `2026-11-27 09:03 EST` in the
//!   page's zone (`tz` in the context: `[admin] time_zone`), `2026-11-27 14:03 UTC` without one;
//!   none/undefined -> `""` (so `x|when or "never"` works);
//! - `status_class`: a lead status -> the CSS class of its badge;
//! - `entry_class`: a timeline entry kind -> the CSS class of its row.

use super::session::Session;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use std::sync::LazyLock;

pub(super) const TEMPLATES: [(&str, &str); 11] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("leads.html", include_str!("templates/leads.html")),
    ("lead.html", include_str!("templates/lead.html")),
    ("dead_letters.html", include_str!("templates/dead_letters.html")),
    ("integrations.html", include_str!("templates/integrations.html")),
    ("operators.html", include_str!("templates/operators.html")),
    ("confirm.html", include_str!("templates/confirm.html")),
    ("suppressions.html", include_str!("templates/suppressions.html")),
    ("suppression_upload.html", include_str!("templates/suppression_upload.html")),
    ("error.html", include_str!("templates/error.html")),
];

/// The templates, compiled once (a unit test checks that they compile).
static ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_filter("when", when);
    env.add_filter("status_class", status_class);
    env.add_filter("entry_class", entry_class);
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(|e| format!("{name}: {e:#}"))?;
    }
    Ok(env)
});

/// `2026-11-27T14:03:06.000Z` -> `2026-11-27 14:03 UTC`; nothing -> `""`; a value that is
/// not an RFC 3339 time is shown as it is.
fn when(state: &minijinja::State, ts: Option<String>) -> String {
    let zone: Option<chrono_tz::Tz> = state.lookup("tz").and_then(|v| v.as_str().and_then(|z| z.parse().ok()));
    match ts.as_deref() {
        None | Some("") => String::new(),
        Some(s) => match (DateTime::parse_from_rfc3339(s), zone) {
            (Ok(t), Some(zone)) => t.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string(),
            (Ok(t), None) => t.with_timezone(&Utc).format("%Y-%m-%d %H:%M UTC").to_string(),
            (Err(_), _) => s.to_string(),
        },
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "OPT_OUT" | "UNDELIVERABLE" => "bad",
        "ENGAGED" => "good",
        "CONTACTED_SMS" => "info",
        _ => "neutral",
    }
}

fn entry_class(kind: &str) -> &'static str {
    match kind {
        "text_blocked" => "blocked",
        "text_deferred" => "deferred",
        "text_failed" => "failed",
        "text_sent" | "text_queued" => "sent",
        "admin" => "admin",
        _ => "",
    }
}

/// What every page's context holds: the page title, the highlighted navigation entry, who
/// is signed in and the CSRF token for its forms.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Base {
    pub title: String,
    pub nav: &'static str,
    pub signed_in: bool,
    pub csrf: String,
    /// The signed-in operator's name and role ("" when signed out).
    pub operator: String,
    pub role: &'static str,
    /// Whether the role includes `agent` (reply, freeze) and `admin` (the rest).
    pub can_act: bool,
    pub is_admin: bool,
    /// `[admin] time_zone` (the `when` filter's zone); "" = UTC.
    pub tz: String,
}

impl Base {
    pub fn new(session: Option<&Session>, title: impl Into<String>, nav: &'static str) -> Self {
        Base {
            title: title.into(),
            nav,
            signed_in: session.is_some(),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            operator: session.map(|s| s.operator.name.clone()).unwrap_or_default(),
            role: session.map(|s| s.operator.role.as_str()).unwrap_or(""),
            can_act: session.is_some_and(|s| s.operator.role.allows(leadline_core::operators::Role::Agent)),
            is_admin: session.is_some_and(|s| s.operator.role.allows(leadline_core::operators::Role::Admin)),
            tz: session.map(|s| s.tz.clone()).unwrap_or_default(),
        }
    }
}

/// `confirm.html`: "are you sure?" before a destructive action (no JavaScript: the page's
/// form posts the action again with `confirm=yes`).
#[derive(Serialize)]
pub(super) struct ConfirmPage {
    pub question: String,
    pub detail: String,
    /// Where the real form posts.
    pub action: String,
    pub button: String,
    /// Where "Cancel" goes.
    pub back: String,
}

/// A page's context: [`Base`] and the page's own fields, side by side at the top level.
#[derive(Serialize)]
pub(super) struct Context<T: Serialize> {
    #[serde(flatten)]
    pub base: Base,
    #[serde(flatten)]
    pub page: T,
}

pub(super) fn render_html(name: &str, ctx: &impl Serialize) -> Result<String, String> {
    let env = ENV.as_ref().map_err(Clone::clone)?;
    env.get_template(name).and_then(|t| t.render(minijinja::Value::from_serialize(ctx))).map_err(|e| format!("{e:#}"))
}

/// Renders a page with the security headers every admin page carries.
pub(super) fn page<T: Serialize>(status: StatusCode, name: &str, base: Base, page: T) -> Response {
    let mut res = match render_html(name, &Context { base, page }) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn filters_format_times_and_pick_classes() {
        let env = ENV.as_ref().expect("templates compile");
        let render = |src: &str, ctx: serde_json::Value| env.render_str(src, ctx).unwrap();
        let t = "2026-11-27T14:03:06.000Z";
        assert_eq!(render("{{ t|when }}", json!({"t": t})), "2026-11-27 14:03 UTC");
        assert_eq!(render("{{ t|when or 'never' }}", json!({"t": null})), "never");
        assert_eq!(render("{{ missing|when or 'never' }}", json!({})), "never");
        assert_eq!(render("{{ t|when }}", json!({"t": "soon"})), "soon");
        assert_eq!(render("{{ s|status_class }}", json!({"s": "OPT_OUT"})), "bad");
        assert_eq!(render("{{ s|status_class }}", json!({"s": "NEW"})), "neutral");
        assert_eq!(render("{{ k|entry_class }}", json!({"k": "text_deferred"})), "deferred");
        assert_eq!(render("{{ k|entry_class }}", json!({"k": "event"})), "");
    }
}
