//! Lead search and service counts for operators (the admin API and the admin page).
//!
//! A search pages through the leads in phone order, filtered ([`LeadFilter`]); a page scans
//! the store from its cursor (`Store::search_leads`: O(leads)), so it runs off the async
//! workers.

use super::views::{LeadList, Stats};
use super::{App, AppError};
use leadline_core::actors::supervisor::SupervisorMsg;
use leadline_core::model::{LeadState, LeadStatus};
use leadline_core::storage::{LeadFilter, NewestCursor};
use leadline_core::Phone;

/// Page size when none is given, and the largest allowed.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// The order of a page of leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Phone order (`Store::search_leads`; the API's default).
    Phone,
    /// Newest first by creation (`Store::search_leads_newest`; the admin page's default).
    Newest,
}

/// A validated search: what `Store::search_leads` (or `search_leads_newest`) takes.
#[derive(Debug, Clone)]
pub struct Search {
    pub filter: LeadFilter,
    pub after: Option<Phone>,
    pub limit: usize,
    pub order: Order,
    /// The cursor of a newest-first page.
    pub newest_after: Option<NewestCursor>,
}

/// A newest-first cursor as text: `<created millis>~<phone>`.
pub fn newest_cursor_text(c: &NewestCursor) -> String {
    format!("{}~{}", c.0.millis(), c.1)
}

pub fn parse_newest_cursor(s: &str) -> Option<NewestCursor> {
    let (ms, phone) = s.split_once('~')?;
    Some((leadline_core::Ts::from_millis(ms.parse().ok()?)?, Phone::parse(phone).ok()?))
}

/// `NEW`, `contacted_sms`, ... through the same names the API prints.
pub fn parse_status(s: &str) -> Option<LeadStatus> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_uppercase())).ok()
}

/// One page of leads and the cursor of the next (`None` on the last page).
pub async fn leads(app: &App, search: Search) -> Result<(Vec<LeadState>, Option<String>), AppError> {
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || match search.order {
        Order::Phone => store
            .search_leads(&search.filter, search.after.as_ref(), search.limit)
            .map(|(leads, next)| (leads, next.map(|p| p.as_str().to_string()))),
        Order::Newest => store
            .search_leads_newest(&search.filter, search.newest_after.as_ref(), search.limit)
            .map(|(leads, next)| (leads, next.as_ref().map(newest_cursor_text))),
    })
    .await
    .map_err(|_| AppError::Unavailable("the search was interrupted; retry".into()))?
    .map_err(AppError::from)
}

/// One page of leads as the API lists them.
pub async fn lead_list(app: &App, search: Search) -> Result<LeadList, AppError> {
    let (leads, next_cursor) = leads(app, search).await?;
    Ok(LeadList { count: leads.len(), leads: leads.iter().map(Into::into).collect(), next_cursor })
}

/// Counts for an operator's dashboard.
pub async fn stats(app: &App) -> Stats {
    let live = match ractor::call_t!(app.supervisor, SupervisorMsg::LiveCount, 2000) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "the supervisor did not report its live actors");
            None
        }
    };
    let store = app.store.clone();
    let counts =
        tokio::task::spawn_blocking(move || (store.lead_count(), store.dead_letter_count(), store.timer_count())).await;
    let (leads_stored, dead_letters, timers_scheduled) = counts.unwrap_or_default();
    Stats { leads_stored, live_lead_actors: live, dead_letters, timers_scheduled }
}
