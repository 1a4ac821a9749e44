//! The lead pages: the search page (`/admin`, `/admin/leads`), a lead's page
//! (`/admin/leads/{phone}`) and its freeze and unfreeze buttons.
//!
//! The pages render `app::views::LeadView` (with its `ConsentRow`s) and the core's
//! `TimelineEntry`s, as the JSON admin API returns them, next to presentation-only extras:
//! the lead's display name and hrefs, the conversation (inbound texts and ours, read from
//! the timeline), and the texts that were not sent (blocked, deferred, refused by the
//! provider or cancelled before sending; a refused one linked to its dead letter).

use super::error::{UiError, UiResult};
use super::session::require_session;
use super::templates::{page, Base};
use super::{path_param, path_segment, posted_form, query_map, see_other};
use crate::app::views::{LeadView, Stats};
use crate::app::{dead_letters, leads, search, App};
use crate::http::api::search::SearchParams;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use leadline_core::model::{EntryKind, Event, TimelineEntry};
use leadline_core::operators::Role;
use leadline_core::Ts;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// How many of a lead's most recent timeline entries the page shows.
const TIMELINE_SHOWN: u64 = 500;
/// How many of the texts held back the top of a lead's page lists.
const HELD_SHOWN: usize = 10;
const REASON_MAX_CHARS: usize = 500;
const STATUSES: [&str; 5] = ["NEW", "CONTACTED_SMS", "ENGAGED", "OPT_OUT", "UNDELIVERABLE"];

fn lead_href(phone: &str) -> String {
    format!("/admin/leads/{}", path_segment(phone))
}

/// `Ana Ruiz`, `Ana`, or `""` without a name.
fn name_of(lead: &LeadView) -> String {
    let parts: Vec<&str> = [lead.first_name.as_deref(), lead.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    parts.join(" ")
}

// ---------------------------------------------------------------------------------------
// Lead search
// ---------------------------------------------------------------------------------------

/// `leads.html`: the search form (as given), the stats and one page of leads.
#[derive(Serialize)]
struct LeadsPage<'a> {
    p: &'a SearchParams,
    filtered: bool,
    paged: bool,
    error: Option<String>,
    leads: Vec<LeadRow>,
    next_href: Option<String>,
    stats: Stats,
    statuses: [&'static str; 5],
}

/// A row of the search results: the lead as the API lists it, its name and page.
#[derive(Serialize)]
struct LeadRow {
    lead: LeadView,
    name: String,
    href: String,
}

impl From<LeadView> for LeadRow {
    fn from(lead: LeadView) -> Self {
        LeadRow { name: name_of(&lead), href: lead_href(lead.phone.as_str()), lead }
    }
}

pub(super) async fn leads_page(State(app): State<App>, headers: HeaderMap, RawQuery(raw): RawQuery) -> UiResult {
    let here = match raw.as_deref() {
        Some(q) if !q.is_empty() => format!("/admin/leads?{q}"),
        _ => "/admin".to_string(),
    };
    let s = match require_session(&app, &headers, &here) {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    // The page lists the newest leads first unless asked otherwise.
    let with_default = |mut p: SearchParams| {
        if p.sort.trim().is_empty() {
            p.sort = "newest".into();
        }
        p
    };
    let params = with_default(SearchParams::from_query(raw.as_deref()).unwrap_or_default());
    let mut error = None;
    let mut rows = Vec::new();
    let mut next_href = None;
    let zone = app.settings.admin.zone();
    match SearchParams::from_query(raw.as_deref()).map(with_default).and_then(|p| p.to_search(zone)) {
        Ok(found) => {
            let list = search::lead_list(&app, found).await?;
            rows = list.leads.into_iter().map(LeadRow::from).collect();
            if let Some(next) = list.next_cursor {
                let mut p = params.clone();
                p.cursor = next;
                next_href = Some(format!("/admin/leads?{}", search_query(&p)));
            }
        }
        Err(e) => error = Some(e.message),
    }
    let stats = search::stats(&app).await;
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let ctx = LeadsPage {
        p: &params,
        filtered: params.has_filter(),
        paged: !params.cursor.trim().is_empty(),
        error,
        leads: rows,
        next_href,
        stats,
        statuses: STATUSES,
    };
    Ok(page(status, "leads.html", Base::new(Some(&s), "Leads", "leads"), ctx))
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
        ("created_from", &p.created_from),
        ("created_to", &p.created_to),
        ("active_from", &p.active_from),
        ("active_to", &p.active_to),
        ("sort", &p.sort),
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

/// `lead.html`: the lead as the API shows it, and what the page adds.
#[derive(Serialize)]
struct LeadPage {
    lead: LeadView,
    name: String,
    /// This page.
    path: String,
    conversation: Vec<Message>,
    /// The latest entries, newest first.
    timeline: Vec<TimelineEntry>,
    /// Whether the lead has more entries than `timeline` shows.
    timeline_truncated: bool,
    /// Texts not sent among the entries shown (blocked, deferred, refused by the provider or
    /// cancelled before sending), and the latest of them.
    held_count: usize,
    held_recent: Vec<HeldText>,
    notice: Option<String>,
    /// The page reloads itself every few seconds (new replies appear); no reply box then.
    watch: bool,
    /// The lead's own local time now (zone from the area code), e.g. `Thu 09:03 EST (America/New_York)`.
    lead_local: Option<String>,
}

/// A text that was not sent: its timeline entry (rule and reason), and where its dead letter
/// is while it has one (a text the provider refused, or whose send is in doubt).
#[derive(Serialize)]
struct HeldText {
    entry: TimelineEntry,
    dead_letter_href: Option<String>,
}

/// Timeline entries that say a text was not sent (now, or at all).
fn is_held(kind: EntryKind) -> bool {
    matches!(kind, EntryKind::TextBlocked | EntryKind::TextDeferred | EntryKind::TextFailed)
}

/// Where a dead letter is listed: its row on the dead letters page.
fn dead_letter_href(id: &str) -> String {
    format!("/admin/dead-letters#dl-{}", path_segment(id))
}

/// A text of the conversation.
#[derive(Serialize)]
struct Message {
    /// `in` (the lead wrote) or `out` (we sent or queued it).
    dir: &'static str,
    at: Ts,
    body: String,
    /// For ours: kind, rule and the latest outcome.
    meta: String,
}

fn kind_name(kind: EntryKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Inbound texts and our texts, from the timeline, oldest first.
fn conversation(entries: &[TimelineEntry]) -> Vec<Message> {
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
            out.push(Message { dir: "in", at: e.at, body: body.to_string(), meta: String::new() });
        } else if e.kind == EntryKind::TextQueued {
            let (kind, body) = e.detail.split_once(": ").unwrap_or(("", &e.detail));
            // A person's reply names them at the end (`decide`: "(by operator <name>)").
            let (body, by) = match body.rsplit_once(" (by operator ") {
                Some((b, who)) if who.ends_with(')') => (b, format!(" · by {}", who.trim_end_matches(')'))),
                _ => (body, String::new()),
            };
            let status = e
                .message_id
                .as_deref()
                .and_then(|id| outcome.get(id))
                .map(|o| format!("{}: {}", kind_name(o.kind).replace('_', " "), o.detail))
                .unwrap_or_else(|| "queued".into());
            let rule = e.rule.as_deref().unwrap_or_default();
            out.push(Message {
                dir: "out",
                at: e.at,
                body: body.to_string(),
                meta: format!("{kind} · {rule} · {status}{by}"),
            });
        }
    }
    out
}

fn lead_page_context(
    lead: LeadView,
    entries: Vec<TimelineEntry>,
    dead_letters: &HashSet<String>,
    notice: Option<String>,
) -> LeadPage {
    let conversation = conversation(&entries);
    let timeline_truncated = lead.timeline_entries > entries.len() as u64;
    let mut timeline = entries;
    timeline.reverse();
    let held: Vec<&TimelineEntry> = timeline.iter().filter(|e| is_held(e.kind)).collect();
    let held_count = held.len();
    let held_recent = held
        .into_iter()
        .take(HELD_SHOWN)
        .map(|e| HeldText {
            dead_letter_href: e
                .message_id
                .as_deref()
                .filter(|id| e.kind == EntryKind::TextFailed && dead_letters.contains(*id))
                .map(dead_letter_href),
            entry: e.clone(),
        })
        .collect();
    let path = lead_href(lead.phone.as_str());
    LeadPage {
        name: name_of(&lead),
        path,
        conversation,
        timeline,
        timeline_truncated,
        held_count,
        held_recent,
        notice,
        lead,
        watch: false,
        lead_local: None,
    }
}

pub(super) async fn lead_page(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> UiResult {
    let raw_phone = path_param(path)?;
    let s = match require_session(&app, &headers, &lead_href(&raw_phone)) {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    let (phone, lead) = leads::find(&app, &raw_phone)?;
    let lead = LeadView::from(&lead);
    let after = lead.timeline_entries.saturating_sub(TIMELINE_SHOWN);
    let entries = leads::timeline(&app, phone.as_str(), after, TIMELINE_SHOWN as usize)?.entries;
    let dead_letters = dead_letters::ids_of_lead(&app, &phone)?;
    let q = query_map(raw.as_deref());
    let rule = q.get("rule").map(String::as_str).unwrap_or("");
    let notice = match q.get("done").map(String::as_str) {
        Some("frozen") => Some("Automation frozen for this lead.".to_string()),
        Some("unfrozen") => Some("Automation resumed for this lead.".to_string()),
        Some("replied") => Some(format!("Your reply is queued and goes out through the gateway (rule {rule}).")),
        Some("deferred") => Some(format!(
            "Your reply waits for the lead's allowed hours and goes out then (rule {rule}); see \"Texts not sent\"."
        )),
        Some("blocked") => Some(format!("Your reply was not sent (rule {rule}); the timeline says why.")),
        Some("opted_out") => {
            Some("Opt-out recorded: nothing more goes to this lead unless they text START.".to_string())
        }
        _ => None,
    };
    let mut ctx = lead_page_context(lead, entries, &dead_letters, notice);
    ctx.watch = q.get("watch").is_some_and(|w| w == "1");
    ctx.lead_local = lead_local_time(phone.as_str(), app.clock.now());
    Ok(page(StatusCode::OK, "lead.html", Base::new(Some(&s), format!("Lead {}", ctx.name), "leads"), ctx))
}

pub(super) async fn back_to_lead(path: Result<Path<String>, PathRejection>) -> UiResult {
    let raw = path_param(path)?;
    Ok(see_other(&lead_href(&raw)))
}

pub(super) async fn freeze(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let raw = path_param(path)?;
    let (form, s) = posted_form(&app, &headers, body, Role::Agent).await?;
    let reason: String = form.get("reason").map(|r| r.trim()).unwrap_or("").chars().take(REASON_MAX_CHARS).collect();
    let reason = (!reason.is_empty()).then_some(reason);
    let changed = leads::command(&app, &raw, &s.operator.name, Event::Freeze { reason }).await?;
    tracing::info!(phone = %changed.lead.phone.masked(), "admin page: lead frozen");
    Ok(see_other(&format!("{}?done=frozen", lead_href(changed.lead.phone.as_str()))))
}

pub(super) async fn unfreeze(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let raw = path_param(path)?;
    let (_, s) = posted_form(&app, &headers, body, Role::Agent).await?;
    let changed = leads::command(&app, &raw, &s.operator.name, Event::Unfreeze).await?;
    tracing::info!(phone = %changed.lead.phone.masked(), "admin page: lead unfrozen");
    Ok(see_other(&format!("{}?done=unfrozen", lead_href(changed.lead.phone.as_str()))))
}

/// Records an opt-out the lead gave another way (role admin), after a confirmation page.
pub(super) async fn opt_out(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let raw = path_param(path)?;
    let (form, s) = posted_form(&app, &headers, body, Role::Admin).await?;
    let reason: String = form.get("reason").map(|r| r.trim()).unwrap_or("").chars().take(REASON_MAX_CHARS).collect();
    if form.get("confirm").map(String::as_str) != Some("yes") {
        let (phone, _) = leads::find(&app, &raw)?;
        let ctx = super::templates::ConfirmPage {
            question: format!("Record an opt-out for {phone}?"),
            detail: "Use this when the lead asked not to be texted another way (a call, an email). Nothing automated, and no reply, goes to this number until the lead texts START. No confirmation text is sent.".into(),
            action: format!("{}/opt-out", lead_href(phone.as_str())),
            button: "Yes, opt this lead out".into(),
            back: lead_href(phone.as_str()),
        };
        return Ok(page(StatusCode::OK, "confirm.html", Base::new(Some(&s), "Confirm", "leads"), ctx));
    }
    let reason = (!reason.is_empty()).then_some(reason);
    let event = Event::AdminOptOut { reason, send_confirmation: false };
    let changed = leads::command(&app, &raw, &s.operator.name, event).await?;
    Ok(see_other(&format!("{}?done=opted_out", lead_href(changed.lead.phone.as_str()))))
}

/// The lead's consent history as CSV (role admin), logged with who took it.
pub(super) async fn consent_csv(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> UiResult {
    let raw = path_param(path)?;
    let s = match require_session(&app, &headers, &lead_href(&raw)) {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    s.require(Role::Admin)?;
    let (phone, lead) = leads::find(&app, &raw)?;
    let body = crate::app::compliance::consent_csv(&crate::app::views::consent_rows(&lead)).map_err(|e| {
        UiError::new(StatusCode::SERVICE_UNAVAILABLE, "The service is busy", format!("The export failed: {e}"))
    })?;
    tracing::info!(operator = %s.operator.name, lead = %phone.masked(), "consent export taken (admin page)");
    let file = format!("attachment; filename=\"consent-{}.csv\"", phone.as_str().trim_start_matches('+'));
    let mut res = axum::response::IntoResponse::into_response(body);
    let h = res.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = axum::http::HeaderValue::from_str(&file) {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    h.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The lead's local time at `now`, from the area code's primary zone (US/Canada numbers).
fn lead_local_time(e164: &str, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let zone = *leadline_core::quiet_hours::area_info(e164)?.zones.first()?;
    Some(format!("{} ({})", now.with_timezone(&zone).format("%a %H:%M %Z"), zone.name()))
}

/// The reply box: a person's reply through `app::leads::reply` (the lead's actor decides:
/// `decide::manual_gate`), back to the lead's page with what became of it.
pub(super) async fn reply(
    State(app): State<App>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> UiResult {
    let raw = path_param(path)?;
    let (form, s) = posted_form(&app, &headers, body, Role::Agent).await?;
    let text = form.get("body").map(|b| b.trim().to_string()).unwrap_or_default();
    let body = leads::ReplyBody { body: Some(text), template: None, vars: None };
    let d = leads::reply(&app, &raw, &s.operator.name, body).await?;
    let (phone, _) = leads::find(&app, &raw)?;
    let done = match d.decision {
        "queued" => "replied",
        "deferred" => "deferred",
        _ => "blocked",
    };
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("done", done)
        .append_pair("rule", d.rule.as_deref().unwrap_or(""))
        .finish();
    Ok(see_other(&format!("{}?{q}#conversation", lead_href(phone.as_str()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::Phone;

    fn entry(seq: u64, kind: EntryKind, rule: &str, detail: &str, message_id: Option<&str>) -> TimelineEntry {
        TimelineEntry {
            seq,
            at: Ts(chrono::DateTime::from_timestamp(1_800_000_000 + seq as i64 * 60, 0).unwrap_or_default()),
            kind,
            rule: Some(rule.into()),
            detail: detail.into(),
            message_id: message_id.map(Into::into),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_refused_text_is_not_sent_and_links_to_its_dead_letter() {
        let entries = [
            entry(1, EntryKind::TextQueued, "sequence.first_contact", "first_contact: Hi Ana", Some("+12125550142#1")),
            entry(
                2,
                EntryKind::TextFailed,
                "provider.30034",
                "first_contact failed permanently",
                Some("+12125550142#1"),
            ),
            entry(
                3,
                EntryKind::TextFailed,
                "opt_out",
                "listing_alert cancelled before sending",
                Some("+12125550142#2"),
            ),
        ];
        let lead = LeadView::from(&leadline_core::model::LeadState::new(
            Phone::parse("+12125550142").unwrap_or_else(|e| panic!("{e}")),
            entries[0].at,
        ));
        let dead: HashSet<String> = ["+12125550142#1".to_string()].into();
        let page = lead_page_context(lead, entries.to_vec(), &dead, None);
        assert_eq!(page.held_count, 2);
        let held: Vec<(u64, Option<&str>)> =
            page.held_recent.iter().map(|h| (h.entry.seq, h.dead_letter_href.as_deref())).collect();
        assert_eq!(held, vec![(3, None), (2, Some("/admin/dead-letters#dl-%2B12125550142%231"))]);
    }

    #[test]
    fn the_conversation_pairs_our_texts_with_their_latest_outcome() {
        let entries = [
            entry(1, EntryKind::TextQueued, "consent.granted", "first_contact: Hi Ana", Some("+1#1")),
            entry(2, EntryKind::TextSent, "provider.accepted", "accepted", Some("+1#1")),
            entry(3, EntryKind::Event, "event.inbound_text", "lead wrote: \"Yes\"", None),
            entry(4, EntryKind::TextBlocked, "quiet_hours.federal", "nudge", None),
        ];
        let c = conversation(&entries);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].dir, c[0].body.as_str()), ("out", "Hi Ana"));
        assert_eq!(c[0].meta, "first_contact · consent.granted · text sent: accepted");
        assert_eq!((c[1].dir, c[1].body.as_str()), ("in", "Yes"));

        let lead = LeadView::from(&leadline_core::model::LeadState::new(
            Phone::parse("+12125550142").unwrap_or_else(|e| panic!("{e}")),
            entries[0].at,
        ));
        let page = lead_page_context(lead, entries.to_vec(), &HashSet::new(), None);
        assert_eq!(page.timeline.first().map(|e| e.seq), Some(4), "newest first");
        assert_eq!(page.held_count, 1);
        assert_eq!(page.path, "/admin/leads/%2B12125550142");
        assert_eq!(page.name, "");
    }
}
