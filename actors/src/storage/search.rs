//! Lead search for the admin API and the admin page.
//!
//! `Store::search_leads` walks the `leads` tree in phone (key) order from a cursor and
//! decodes every snapshot it passes, so one page costs O(leads scanned): O(leads) in the
//! worst case (a filter that matches little or nothing). That is fine up to roughly 100k
//! leads (a few hundred milliseconds for a full scan); beyond that this wants secondary
//! indexes (status, source, name tokens) maintained in `commit_lead`. The newest-first order
//! (the admin page's default) reads the by-creation index, `commit_lead` keeps it.

use super::{Result, Store};
use crate::codec;
use crate::model::{LeadState, LeadStatus};
use crate::phone::Phone;
use std::ops::Bound;

/// What an operator is looking for. Every `Some` criterion must match (AND); `None` or
/// an empty string matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadFilter {
    pub status: Option<LeadStatus>,
    pub frozen: Option<bool>,
    /// CRM status, compared case-insensitively.
    pub crm_status: Option<String>,
    /// Lead source (`zillow`, `followupboss`, ...), compared case-insensitively.
    pub source: Option<String>,
    /// A listing id the lead is interested in (case-insensitive).
    pub listing: Option<String>,
    /// Free text: case-insensitive part of the first name, the last name or "first last",
    /// or, when it is made of digits and phone punctuation, part of the phone's digits.
    pub q: Option<String>,
    /// Created at or after / before this moment.
    pub created_from: Option<crate::ts::Ts>,
    pub created_before: Option<crate::ts::Ts>,
    /// Last activity (the snapshot's last change) at or after / before this moment.
    pub active_from: Option<crate::ts::Ts>,
    pub active_before: Option<crate::ts::Ts>,
}

/// Where a newest-first page starts: after this lead (created at, phone), descending.
pub type NewestCursor = (crate::ts::Ts, Phone);

fn eq_ci(wanted: &Option<String>, have: Option<&str>) -> bool {
    match wanted.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        None => true,
        Some(w) => have.is_some_and(|h| h.trim().eq_ignore_ascii_case(w)),
    }
}

impl LeadFilter {
    /// Whether `lead` passes every criterion.
    pub fn matches(&self, lead: &LeadState) -> bool {
        if self.status.is_some_and(|s| s != lead.status) {
            return false;
        }
        if self.frozen.is_some_and(|f| f != lead.frozen.is_some()) {
            return false;
        }
        if self.created_from.is_some_and(|t| lead.created_at < t)
            || self.created_before.is_some_and(|t| lead.created_at >= t)
            || self.active_from.is_some_and(|t| lead.updated_at < t)
            || self.active_before.is_some_and(|t| lead.updated_at >= t)
        {
            return false;
        }
        if !eq_ci(&self.crm_status, lead.crm_status.as_deref()) || !eq_ci(&self.source, lead.profile.source.as_deref())
        {
            return false;
        }
        if let Some(listing) = self.listing.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            if !lead.interests.iter().any(|i| i.eq_ignore_ascii_case(listing)) {
                return false;
            }
        }
        match self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            None => true,
            Some(q) => text_matches(q, lead),
        }
    }
}

fn text_matches(q: &str, lead: &LeadState) -> bool {
    let looks_like_phone = q.chars().any(|c| c.is_ascii_digit())
        && q.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '(' | ')' | '-' | '.' | ' '));
    if looks_like_phone {
        let digits: String = q.chars().filter(char::is_ascii_digit).collect();
        let phone_digits: String = lead.phone.as_str().chars().filter(char::is_ascii_digit).collect();
        return phone_digits.contains(&digits);
    }
    let needle = q.to_lowercase();
    let first = lead.profile.first_name.as_deref().unwrap_or("").trim().to_lowercase();
    let last = lead.profile.last_name.as_deref().unwrap_or("").trim().to_lowercase();
    first.contains(&needle) || last.contains(&needle) || format!("{first} {last}").contains(&needle)
}

impl Store {
    /// Leads matching `filter`, newest first (by creation; the phone breaks ties), after
    /// `after` (the previous page's last lead), at most `limit`; and the next page's cursor.
    ///
    /// Cost: the by-creation index (`Part::LeadsByCreated`) read backwards from the cursor,
    /// bounded by the filter's creation dates, until the page is full: O(leads passed), like
    /// `search_leads`, so a page without a selective filter costs `limit` reads.
    pub fn search_leads_newest(
        &self,
        filter: &LeadFilter,
        after: Option<&NewestCursor>,
        limit: usize,
    ) -> Result<(Vec<LeadState>, Option<NewestCursor>)> {
        if limit == 0 {
            return Ok((Vec::new(), None));
        }
        // Index keys are the creation millis (big-endian) and then the phone: every key of a
        // moment sorts after that moment's bare 8 bytes, and before the next moment's.
        let mut upper = after.map(|(t, p)| super::created_key(*t, p));
        if let Some(before) = filter.created_before {
            let bound = before.millis().to_be_bytes().to_vec();
            upper = Some(upper.filter(|u| *u < bound).unwrap_or(bound));
        }
        let lower = filter.created_from.map(|t| t.millis().to_be_bytes().to_vec());
        let end = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let start = lower.as_deref().map_or(Bound::Unbounded, Bound::Included);
        let mut leads = Vec::new();
        for kv in self.leads_by_created.range(start, end).rev() {
            let (key, _) = kv?;
            let Some(phone) = key.get(8..).and_then(|p| std::str::from_utf8(p).ok()) else { continue };
            let Some(value) = self.leads.get(phone)? else { continue };
            let Ok(lead) = codec::decode::<LeadState>(&value) else { continue };
            if filter.matches(&lead) {
                leads.push(lead);
                if leads.len() > limit {
                    break;
                }
            }
        }
        let more = leads.len() > limit;
        leads.truncate(limit);
        let next = if more { leads.last().map(|l| (l.created_at, l.phone.clone())) } else { None };
        Ok((leads, next))
    }

    /// Leads matching `filter`, in phone order, starting after the phone `after` (the
    /// previous page's cursor), at most `limit` of them. The scan stops as soon as `limit`
    /// leads matched. Returns the page and the cursor of the next page: the last phone
    /// returned when the page is full and more leads follow it (the next page may turn
    /// out empty), otherwise `None`.
    ///
    /// Cost: O(leads scanned), see the module note. A snapshot that cannot be decoded is
    /// skipped with a warning rather than failing every search.
    pub fn search_leads(
        &self,
        filter: &LeadFilter,
        after: Option<&Phone>,
        limit: usize,
    ) -> Result<(Vec<LeadState>, Option<Phone>)> {
        let mut found = Vec::new();
        if limit == 0 {
            return Ok((found, None));
        }
        let start = match after {
            Some(p) => Bound::Excluded(p.as_str().as_bytes()),
            None => Bound::Unbounded,
        };
        for kv in self.leads.range(start, Bound::Unbounded) {
            let (key, value) = kv?;
            let lead: LeadState = match codec::decode(&value) {
                Ok(lead) => lead,
                Err(e) => {
                    let shown = crate::phone::mask(&String::from_utf8_lossy(&key));
                    tracing::warn!(phone = %shown, error = %e, "lead search skipped an unreadable snapshot");
                    continue;
                }
            };
            if filter.matches(&lead) {
                found.push(lead);
                if found.len() == limit {
                    break;
                }
            }
        }
        let next = match found.last() {
            Some(last) if found.len() == limit => {
                let more = self
                    .leads
                    .range(Bound::Excluded(last.phone.as_str().as_bytes()), Bound::Unbounded)
                    .next()
                    .is_some();
                more.then(|| last.phone.clone())
            }
            _ => None,
        };
        Ok((found, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Freeze, LeadState, LeadStatus};
    use crate::ts::Ts;

    fn lead(phone: &str, first: &str, last: &str) -> LeadState {
        let now = Ts::from_millis(1_700_000_000_000).unwrap();
        let mut l = LeadState::new(Phone::parse(phone).unwrap(), now);
        l.profile.first_name = Some(first.into());
        l.profile.last_name = Some(last.into());
        l.profile.source = Some("zillow".into());
        l
    }

    fn put(store: &Store, l: &LeadState) {
        store.leads.insert(l.phone.as_str(), codec::encode(l).unwrap()).unwrap();
    }

    #[test]
    fn newest_first_reads_the_creation_index_which_an_open_builds_for_older_databases() {
        let dir = tempfile::tempdir().unwrap();
        let day = |d: i64| Ts::from_millis(1_700_000_000_000 + d * 86_400_000).unwrap();
        let phones = ["+12125550181", "+12125550182", "+12125550183", "+12125550184"];
        {
            // Written as an older build did: leads, no index, no marker.
            let store = Store::open(dir.path()).unwrap();
            for (i, p) in phones.iter().enumerate() {
                let mut l = lead(p, "Ana", "Ruiz");
                l.created_at = day(i as i64 / 2); // two leads a day: the phone breaks ties
                put(&store, &l);
            }
            store.meta.remove(super::super::LEADS_BY_CREATED_INDEXED).unwrap();
            store.db.flush().unwrap();
            assert_eq!(store.search_leads_newest(&LeadFilter::default(), None, 10).unwrap().0.len(), 0);
        }
        let store = Store::open(dir.path()).unwrap();
        let order = |(leads, next): (Vec<LeadState>, Option<NewestCursor>)| {
            (leads.iter().map(|l| l.phone.as_str().to_string()).collect::<Vec<_>>(), next)
        };
        let (first, next) = order(store.search_leads_newest(&LeadFilter::default(), None, 3).unwrap());
        assert_eq!(first, [phones[3], phones[2], phones[1]]);
        let (rest, end) = order(store.search_leads_newest(&LeadFilter::default(), next.as_ref(), 3).unwrap());
        assert_eq!((rest, end), (vec![phones[0].to_string()], None));
        let day_one = LeadFilter { created_from: Some(day(1)), created_before: Some(day(2)), ..Default::default() };
        assert_eq!(order(store.search_leads_newest(&day_one, None, 10).unwrap()).0, [phones[3], phones[2]]);
        let before = LeadFilter { created_before: Some(day(1)), ..Default::default() };
        assert_eq!(order(store.search_leads_newest(&before, None, 10).unwrap()).0, [phones[1], phones[0]]);
        let named = LeadFilter { q: Some("0182".into()), ..Default::default() };
        assert_eq!(order(store.search_leads_newest(&named, None, 10).unwrap()).0, [phones[1]]);
    }

    #[test]
    fn filter_criteria() {
        let mut l = lead("+12125550142", "Ana", "Ruiz");
        l.crm_status = Some("Active Client".into());
        l.interests = vec!["MLS-123".into()];
        let f = |f: LeadFilter| f.matches(&l);
        assert!(f(LeadFilter::default()));
        assert!(f(LeadFilter { q: Some("ana".into()), ..Default::default() }));
        assert!(f(LeadFilter { q: Some("RUI".into()), ..Default::default() }));
        assert!(f(LeadFilter { q: Some("ana ruiz".into()), ..Default::default() }));
        assert!(f(LeadFilter { q: Some("(212) 555".into()), ..Default::default() }));
        assert!(f(LeadFilter { q: Some("0142".into()), ..Default::default() }));
        assert!(!f(LeadFilter { q: Some("0143".into()), ..Default::default() }));
        assert!(!f(LeadFilter { q: Some("bob".into()), ..Default::default() }));
        assert!(f(LeadFilter { crm_status: Some("active client".into()), ..Default::default() }));
        assert!(!f(LeadFilter { crm_status: Some("lead".into()), ..Default::default() }));
        assert!(f(LeadFilter { source: Some("Zillow".into()), ..Default::default() }));
        assert!(f(LeadFilter { listing: Some("mls-123".into()), ..Default::default() }));
        assert!(!f(LeadFilter { listing: Some("MLS-9".into()), ..Default::default() }));
        assert!(f(LeadFilter { status: Some(LeadStatus::New), frozen: Some(false), ..Default::default() }));
        assert!(!f(LeadFilter { status: Some(LeadStatus::OptOut), ..Default::default() }));
        assert!(!f(LeadFilter { frozen: Some(true), ..Default::default() }));
        assert!(f(LeadFilter { q: Some("  ".into()), source: Some(String::new()), ..Default::default() }));
    }

    #[test]
    fn pages_in_phone_order_and_stops_at_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (i, name) in ["Ana", "Bob", "Ana", "Cy", "Ana"].iter().enumerate() {
            let mut l = lead(&format!("+1212555010{i}"), name, "X");
            if i == 4 {
                l.frozen = Some(Freeze { reason: None, at: l.created_at });
            }
            put(&store, &l);
        }
        let all = LeadFilter::default();
        let (page, next) = store.search_leads(&all, None, 2).unwrap();
        let phones: Vec<_> = page.iter().map(|l| l.phone.as_str().to_string()).collect();
        assert_eq!(phones, ["+12125550100", "+12125550101"]);
        assert_eq!(next.as_ref().map(Phone::as_str), Some("+12125550101"));
        let (page, next) = store.search_leads(&all, next.as_ref(), 10).unwrap();
        assert_eq!(page.len(), 3);
        assert_eq!(next, None);

        let anas = LeadFilter { q: Some("ana".into()), ..Default::default() };
        let (page, next) = store.search_leads(&anas, None, 2).unwrap();
        assert_eq!(page.len(), 2);
        let (page2, next2) = store.search_leads(&anas, next.as_ref(), 2).unwrap();
        assert_eq!(page2.len(), 1);
        assert_eq!(page2[0].phone.as_str(), "+12125550104");
        assert_eq!(next2, None);

        let frozen = LeadFilter { frozen: Some(true), ..Default::default() };
        let (page, next) = store.search_leads(&frozen, None, 50).unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(next, None);
        assert!(store.search_leads(&all, None, 0).unwrap().0.is_empty());
    }
}
