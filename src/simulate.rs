//! `leadline simulate EVENTS.jsonl`: a what-if run of a playbook before it goes live.
//!
//! Each line of the file is one event. The events are replayed through the real decision
//! core (`decide`) with the configured policy (templates, follow-ups, quiet hours, caps,
//! CRM rules) and a simulated clock; durable timers (deferred texts, follow-ups) fire at
//! their due times in between. Nothing is stored and nothing is sent: "sent" means the
//! gateway would have been asked to send it then (the dry-run view). The output lists, in
//! time order, what would be sent, blocked or deferred, and why.
//!
//! Line format (JSON): `{"at": "2026-11-27T14:00:00Z", "type": ..., ...}`; `at` is
//! optional (`"after": "2h"` / `"30m"` / `"3d"` relative to the previous event, else the
//! same moment). Types and fields:
//! - `lead`: the `/v1/events/leads` body (`source`, `phone`, `consent`, `listing`, ...)
//! - `reply`: `phone`, `body` (an inbound text)
//! - `crm`: `phone`, `status`, `agent?`
//! - `interest`: `phone`, `listing_id`, `address?`
//! - `mls`: the `/v1/events/mls` body (fans out to leads interested in `listing_id`)
//! - `freeze` (`phone`, `reason?`), `unfreeze` (`phone`)
//! - `wait`: nothing happens; the clock moves (timers fire)

use crate::app::leads::LeadBody;
use crate::app::listings::MlsBody;
use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Duration, Utc};
use leadline_core::decide::decide;
use leadline_core::model::{EntryKind, Event, LeadState, Note, SendResult};
use leadline_core::policy::Policy;
use leadline_core::{Phone, Ts};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Debug, Deserialize)]
struct Line {
    at: Option<DateTime<Utc>>,
    after: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    rest: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct PhoneOnly {
    phone: String,
    body: Option<String>,
    status: Option<String>,
    agent: Option<String>,
    reason: Option<String>,
    listing_id: Option<String>,
    address: Option<String>,
}

/// What the run produced, for printing and for tests.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub sent: usize,
    pub blocked: usize,
    pub deferred: usize,
}

fn parse_after(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().with_context(|| format!("bad duration '{s}' (use e.g. 30m, 2h, 3d)"))?;
    Ok(match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => bail!("bad duration unit in '{s}' (use s, m, h or d)"),
    })
}

struct Sim<'a> {
    policy: &'a Policy,
    leads: BTreeMap<Phone, LeadState>,
    report: Report,
}

impl Sim<'_> {
    fn lead(&mut self, phone: &Phone, now: Ts) -> LeadState {
        self.leads.get(phone).cloned().unwrap_or_else(|| LeadState::new(phone.clone(), now))
    }

    fn apply(&mut self, phone: &Phone, event: Event, now: Ts) {
        let state = self.lead(phone, now);
        let d = decide(&state, &event, self.policy, now);
        for note in &d.notes {
            self.print(now, phone, note);
        }
        let mut next = d.state;
        next.timeline_len += d.notes.len() as u64;
        self.leads.insert(phone.clone(), next);
        // The dry-run view: the provider takes every text the gateway is asked to send, so
        // the lead is contacted (`last_contacted_at`, status) as it would be.
        for text in d.sends {
            let result = SendResult::Accepted { provider_id: "simulated".into(), status: "dry-run".into() };
            self.apply(phone, Event::SendOutcome { message_id: text.id, kind: text.kind, result }, now);
        }
    }

    fn print(&mut self, now: Ts, phone: &Phone, note: &Note) {
        let (tag, counter) = match note.kind {
            EntryKind::TextQueued => ("SEND ", Some(&mut self.report.sent)),
            EntryKind::TextBlocked => ("BLOCK", Some(&mut self.report.blocked)),
            EntryKind::TextDeferred => ("DEFER", Some(&mut self.report.deferred)),
            EntryKind::StatusChanged => ("STATE", None),
            _ => return,
        };
        if let Some(c) = counter {
            *c += 1;
        }
        let rule = note.rule.as_deref().unwrap_or("-");
        self.report.lines.push(format!(
            "{}  {phone}  {tag}  [{rule}]  {}",
            now.0.format("%Y-%m-%d %H:%M UTC"),
            note.detail
        ));
    }

    /// Fires every timer due up to `until`, in due order.
    fn run_timers(&mut self, until: Ts) {
        loop {
            let next = self
                .leads
                .values()
                .filter_map(|l| {
                    let due = l.next_wake_at()?;
                    Some((due, l.phone.clone()))
                })
                .filter(|(due, _)| *due <= until)
                .min();
            let Some((due, phone)) = next else { return };
            self.apply(&phone, Event::Wake, due);
        }
    }
}

/// Replays `input` (JSON lines). `start` is the clock for lines without `at`.
pub fn run(policy: &Policy, input: &str, start: DateTime<Utc>, tail: Duration) -> anyhow::Result<Report> {
    let mut sim = Sim { policy, leads: BTreeMap::new(), report: Report::default() };
    let mut now = Ts::from(start);
    for (i, raw) in input.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let line: Line = serde_json::from_str(raw).with_context(|| format!("line {n}: not a valid event"))?;
        let at = match (line.at, line.after.as_deref()) {
            (Some(at), _) => Ts::from(at),
            (None, Some(after)) => Ts::from(now.0 + parse_after(after).with_context(|| format!("line {n}"))?),
            (None, None) => now,
        };
        if at < now {
            bail!("line {n}: events must be in time order ({at} is before {now})");
        }
        sim.run_timers(at);
        now = at;
        let err = |e: crate::app::AppError| anyhow!("line {n}: {e}");
        let simple = || -> anyhow::Result<(Phone, PhoneOnly)> {
            let p: PhoneOnly = serde_json::from_value(line.rest.clone()).with_context(|| format!("line {n}"))?;
            Ok((Phone::parse(&p.phone).map_err(|e| anyhow!("line {n}: {e}"))?, p))
        };
        match line.kind.as_str() {
            "lead" => {
                let body: LeadBody = serde_json::from_value(line.rest.clone()).with_context(|| format!("line {n}"))?;
                let (phone, capture) = body.into_event().map_err(err)?;
                sim.apply(&phone, Event::LeadCaptured(Box::new(capture)), now);
            }
            "reply" => {
                let (phone, p) = simple()?;
                let body = p.body.unwrap_or_default();
                sim.apply(&phone, Event::InboundText { body, message_sid: None }, now);
            }
            "crm" => {
                let (phone, p) = simple()?;
                let status = p.status.ok_or_else(|| anyhow!("line {n}: crm needs `status`"))?;
                sim.apply(&phone, Event::CrmChanged { status, agent: p.agent, source: None }, now);
            }
            "interest" => {
                let (phone, p) = simple()?;
                let listing_id = p.listing_id.ok_or_else(|| anyhow!("line {n}: interest needs `listing_id`"))?;
                sim.apply(&phone, Event::InterestAdded { listing_id, address: p.address, how: "saved".into() }, now);
            }
            "freeze" => {
                let (phone, p) = simple()?;
                sim.apply(&phone, Event::Freeze { reason: p.reason }, now);
            }
            "opt_out" => {
                let (phone, p) = simple()?;
                sim.apply(&phone, Event::AdminOptOut { reason: p.reason, send_confirmation: false }, now);
            }
            "unfreeze" => {
                let (phone, _) = simple()?;
                sim.apply(&phone, Event::Unfreeze, now);
            }
            "mls" => {
                let body: MlsBody = serde_json::from_value(line.rest.clone()).with_context(|| format!("line {n}"))?;
                let (change, _) = body.into_change().map_err(err)?;
                let watchers: Vec<Phone> = sim
                    .leads
                    .values()
                    .filter(|l| l.interests.contains(&change.listing_id))
                    .map(|l| l.phone.clone())
                    .collect();
                for phone in watchers {
                    sim.apply(&phone, Event::ListingChanged(Box::new(change.clone())), now);
                }
            }
            "wait" => {}
            other => {
                bail!("line {n}: unknown type '{other}' (lead, reply, crm, interest, mls, freeze, unfreeze, wait)")
            }
        }
    }
    sim.run_timers(Ts::from(now.0 + tail));
    Ok(sim.report)
}

/// The CLI entry point: prints the report.
pub fn main(
    policy: &Policy,
    path: &std::path::Path,
    start: Option<DateTime<Utc>>,
    tail_days: i64,
) -> anyhow::Result<()> {
    let input = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report = run(policy, &input, start.unwrap_or_else(Utc::now), Duration::days(tail_days))?;
    let mut out = std::io::stdout().lock();
    for line in &report.lines {
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "\n{} would be sent, {} blocked, {} deferred (simulated; nothing stored or sent)",
        report.sent, report.blocked, report.deferred
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SAMPLE: &str = include_str!("../examples/simulate.jsonl");

    #[test]
    fn the_sample_playbook_shows_sends_blocks_and_deferrals_with_their_rules() {
        let policy = Policy::with_defaults("Acme Realty");
        let start = Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0).unwrap();
        let report = run(&policy, SAMPLE, start, Duration::days(7)).unwrap();
        let text = report.lines.join("\n");
        // Ana: first text at once, then the 24 h nudge; her reply cancels the last step.
        assert!(text.contains("+12125550142  SEND   [sequence.first_contact]"), "{text}");
        assert!(text.contains("2026-11-27 18:00 UTC  +12125550142  SEND   [sequence.follow_up.1]"), "{text}");
        assert!(!text.contains("+12125550142  SEND   [sequence.follow_up.2]"), "{text}");
        // Bo has no consent: blocked, with the rule.
        assert!(text.contains("+13055550143  BLOCK  [consent.missing]"), "{text}");
        // Cy writes in at night in Miami: deferred to 08:00 local (13:00 UTC).
        assert!(text.contains("+13055550144  DEFER  [quiet_hours"), "{text}");
        assert!(text.contains("2026-11-27 13:00 UTC  +13055550144  SEND   [sequence.first_contact]"), "{text}");
        // The price drop reaches the lead watching the listing.
        assert!(text.contains("[listing.price_drop]"), "{text}");
        assert!(report.sent >= 4 && report.blocked >= 1 && report.deferred >= 1, "{report:?}");
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let policy = Policy::with_defaults("Acme");
        let start = Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0).unwrap();
        let err = run(&policy, "{\"type\":\"lead\",\"source\":\"x\",\"phone\":\"12\"}", start, Duration::days(1))
            .unwrap_err();
        assert!(err.to_string().starts_with("line 1"), "{err}");
        let err = run(&policy, "\n{\"type\":\"nope\",\"phone\":\"2125550142\"}", start, Duration::days(1)).unwrap_err();
        assert!(err.to_string().contains("line 2: unknown type"), "{err}");
    }
}
