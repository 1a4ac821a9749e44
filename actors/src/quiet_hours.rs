//! Recipient-local quiet hours, holidays, operator blackouts and per-state frequency caps (gate checks 3
//! and 4 of the send path).
//!
//! Pure: no I/O and no clock at run time. Three tables are embedded at compile time and parsed once into
//! static maps: the NANP area-code table (`data/area_codes.csv`), the per-state rules
//! (`data/state_rules.psv`, every row naming its statute or vendor source) and the holiday calendars
//! (`data/holidays.psv`, every holiday computed by rule for any year).
//!
//! Model:
//! - A recipient's possible zones come from the area code of their E.164 number. An area code that spans
//!   zones lists every zone. When the area code is unknown (non-NANP, non-geographic or unassigned), the
//!   policy's `fallback_zone` is used, plus the zones of the lead's address state if that is known.
//! - The applicable rules are the federal window, the rule of the area code's region, the rule of the
//!   lead's address state (if any), and the operator's blackouts that name either region (or `"*"`).
//!   Every rule is checked in every possible zone. The strictest result wins.
//! - A state rule may ban whole days: weekdays (`closed_days`) and holidays (`holidays`, names of holiday
//!   sets such as `federal` or `RI`). Holidays and blackouts are dates in the recipient's local zone.
//! - A message that may not go now is deferred to the earliest instant at which every (zone, rule) pair
//!   allows it.
//!
//! Rule ids (stable, for audit logs):
//! - `quiet_hours.federal`: 47 CFR 64.1200(c)(1) window (8am-9pm recipient-local).
//! - `quiet_hours.state.XX`: a state's window on ordinary days.
//! - `quiet_hours.state.XX.sunday` (or `.saturday`, `.monday`, ...): a day-specific rule of state XX,
//!   either a `sunday`/`saturday` window override or a closed day.
//! - `quiet_hours.holiday`: the local date is a holiday on which a state of the recipient bans texting.
//! - `quiet_hours.blackout`: the local date is inside an operator-declared blackout (`[[compliance.blackouts]]`).
//! - `quiet_hours.no_window`: the policy allows no instant in the search horizon (misconfiguration).
//! - `cap.state.XX`: a state's cap on automated texts per rolling 24 hours.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The embedded NANP area-code table. See the header comment of the file for its source and caveats.
const AREA_CODES_CSV: &str = include_str!("../data/area_codes.csv");

/// The embedded per-state rule table. See the header comment of the file for its format.
const STATE_RULES_PSV: &str = include_str!("../data/state_rules.psv");

/// The embedded holiday calendars. See the header comment of the file for its format.
const HOLIDAYS_PSV: &str = include_str!("../data/holidays.psv");

/// How many days ahead `check_window` searches for an allowed instant (before blackouts and holidays
/// extend the horizon).
const SEARCH_DAYS: i64 = 8;

/// Extra search days when a holiday-banning state applies: enough for a run of closed days around a
/// holiday (e.g. a Saturday window closed early, Sunday closed, Monday holiday).
const HOLIDAY_SLACK_DAYS: i64 = 7;

/// A blackout may span at most this many days (`to - from`); longer spans are refused by validation as
/// likely typos (and keep the deferral search bounded).
pub const MAX_BLACKOUT_DAYS: i64 = 366;

// ---------------------------------------------------------------------------------------------------------
// Regions
// ---------------------------------------------------------------------------------------------------------

/// Which NANP country a region belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Country {
    /// The 50 states, DC and the territories PR, VI, GU, MP, AS.
    Us,
    /// Canadian provinces and territories.
    Canada,
}

/// Known region codes: (code, name, country).
const REGIONS: &[(&str, &str, Country)] = &[
    ("AL", "Alabama", Country::Us),
    ("AK", "Alaska", Country::Us),
    ("AZ", "Arizona", Country::Us),
    ("AR", "Arkansas", Country::Us),
    ("CA", "California", Country::Us),
    ("CO", "Colorado", Country::Us),
    ("CT", "Connecticut", Country::Us),
    ("DE", "Delaware", Country::Us),
    ("DC", "District of Columbia", Country::Us),
    ("FL", "Florida", Country::Us),
    ("GA", "Georgia", Country::Us),
    ("HI", "Hawaii", Country::Us),
    ("ID", "Idaho", Country::Us),
    ("IL", "Illinois", Country::Us),
    ("IN", "Indiana", Country::Us),
    ("IA", "Iowa", Country::Us),
    ("KS", "Kansas", Country::Us),
    ("KY", "Kentucky", Country::Us),
    ("LA", "Louisiana", Country::Us),
    ("ME", "Maine", Country::Us),
    ("MD", "Maryland", Country::Us),
    ("MA", "Massachusetts", Country::Us),
    ("MI", "Michigan", Country::Us),
    ("MN", "Minnesota", Country::Us),
    ("MS", "Mississippi", Country::Us),
    ("MO", "Missouri", Country::Us),
    ("MT", "Montana", Country::Us),
    ("NE", "Nebraska", Country::Us),
    ("NV", "Nevada", Country::Us),
    ("NH", "New Hampshire", Country::Us),
    ("NJ", "New Jersey", Country::Us),
    ("NM", "New Mexico", Country::Us),
    ("NY", "New York", Country::Us),
    ("NC", "North Carolina", Country::Us),
    ("ND", "North Dakota", Country::Us),
    ("OH", "Ohio", Country::Us),
    ("OK", "Oklahoma", Country::Us),
    ("OR", "Oregon", Country::Us),
    ("PA", "Pennsylvania", Country::Us),
    ("RI", "Rhode Island", Country::Us),
    ("SC", "South Carolina", Country::Us),
    ("SD", "South Dakota", Country::Us),
    ("TN", "Tennessee", Country::Us),
    ("TX", "Texas", Country::Us),
    ("UT", "Utah", Country::Us),
    ("VT", "Vermont", Country::Us),
    ("VA", "Virginia", Country::Us),
    ("WA", "Washington", Country::Us),
    ("WV", "West Virginia", Country::Us),
    ("WI", "Wisconsin", Country::Us),
    ("WY", "Wyoming", Country::Us),
    ("PR", "Puerto Rico", Country::Us),
    ("VI", "U.S. Virgin Islands", Country::Us),
    ("GU", "Guam", Country::Us),
    ("MP", "Northern Mariana Islands", Country::Us),
    ("AS", "American Samoa", Country::Us),
    ("AB", "Alberta", Country::Canada),
    ("BC", "British Columbia", Country::Canada),
    ("MB", "Manitoba", Country::Canada),
    ("NB", "New Brunswick", Country::Canada),
    ("NL", "Newfoundland and Labrador", Country::Canada),
    ("NS", "Nova Scotia", Country::Canada),
    ("NT", "Northwest Territories", Country::Canada),
    ("NU", "Nunavut", Country::Canada),
    ("ON", "Ontario", Country::Canada),
    ("PE", "Prince Edward Island", Country::Canada),
    ("QC", "Quebec", Country::Canada),
    ("SK", "Saskatchewan", Country::Canada),
    ("YT", "Yukon", Country::Canada),
];

/// Canonical two-letter code for a region given as a code ("fl", " FL ") or a full name ("Florida").
/// `None` when it is neither a US state/territory nor a Canadian province/territory.
pub fn normalize_region(input: &str) -> Option<&'static str> {
    let s = input.trim();
    REGIONS
        .iter()
        .find(|(code, name, _)| code.eq_ignore_ascii_case(s) || name.eq_ignore_ascii_case(s))
        .map(|(code, _, _)| *code)
}

/// The country of a canonical region code (`"FL"` -> `Us`, `"ON"` -> `Canada`).
pub fn region_country(code: &str) -> Option<Country> {
    REGIONS.iter().find(|(c, _, _)| c.eq_ignore_ascii_case(code.trim())).map(|(_, _, country)| *country)
}

// ---------------------------------------------------------------------------------------------------------
// Area-code table
// ---------------------------------------------------------------------------------------------------------

/// Where a phone number's recipient probably is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AreaInfo {
    pub area_code: u16,
    /// Canonical two-letter region code, e.g. "NY", "PR", "ON".
    pub region: &'static str,
    /// Every IANA zone the area code's service area spans (at least one), primary zone first.
    pub zones: &'static [Tz],
}

impl AreaInfo {
    pub fn country(&self) -> Option<Country> {
        region_country(self.region)
    }
}

struct AreaRow {
    region: &'static str,
    zones: Vec<Tz>,
}

struct AreaTable {
    rows: HashMap<u16, AreaRow>,
    /// Union of zones per region, in first-seen order.
    region_zones: HashMap<&'static str, Vec<Tz>>,
    /// Lines that failed to parse, as "line N: problem". Expected to be empty (a unit test asserts it).
    skipped: Vec<String>,
}

fn table() -> &'static AreaTable {
    static TABLE: OnceLock<AreaTable> = OnceLock::new();
    TABLE.get_or_init(|| parse_area_table(AREA_CODES_CSV))
}

fn parse_area_row(line: &str) -> Result<(u16, AreaRow), String> {
    let mut fields = line.split(',').map(str::trim);
    let (Some(code), Some(region), Some(zones), None) = (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("expected exactly 3 comma-separated fields".to_string());
    };
    let area_code: u16 = code.parse().map_err(|_| format!("area code {code:?} is not a number"))?;
    if !(200..=999).contains(&area_code) {
        return Err(format!("area code {area_code} is outside 200..=999"));
    }
    let region = REGIONS
        .iter()
        .find(|(c, _, _)| *c == region)
        .map(|(c, _, _)| *c)
        .ok_or_else(|| format!("unknown region {region:?}"))?;
    let mut tzs = Vec::new();
    for name in zones.split('|').map(str::trim) {
        let tz: Tz = name.parse().map_err(|_| format!("unknown time zone {name:?}"))?;
        if !tzs.contains(&tz) {
            tzs.push(tz);
        }
    }
    if tzs.is_empty() {
        return Err("no time zone".to_string());
    }
    Ok((area_code, AreaRow { region, zones: tzs }))
}

fn parse_area_table(src: &str) -> AreaTable {
    let mut rows: HashMap<u16, AreaRow> = HashMap::new();
    let mut skipped = Vec::new();
    for (idx, raw) in src.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("area_code,") {
            continue;
        }
        match parse_area_row(line) {
            Ok((code, row)) => {
                if let std::collections::hash_map::Entry::Vacant(e) = rows.entry(code) {
                    e.insert(row);
                } else {
                    skipped.push(format!("line {}: duplicate area code {code}", idx + 1));
                }
            }
            Err(e) => skipped.push(format!("line {}: {e}", idx + 1)),
        }
    }
    let mut codes: Vec<u16> = rows.keys().copied().collect();
    codes.sort_unstable();
    let mut region_zones: HashMap<&'static str, Vec<Tz>> = HashMap::new();
    for code in codes {
        if let Some(row) = rows.get(&code) {
            let entry = region_zones.entry(row.region).or_default();
            for tz in &row.zones {
                if !entry.contains(tz) {
                    entry.push(*tz);
                }
            }
        }
    }
    AreaTable { rows, region_zones, skipped }
}

/// Look up from an E.164 string like "+12125550142" (only +1 NANP numbers; others -> None).
/// Also `None` for non-geographic (toll-free, 5XX, 900 ...), non-US/Canadian NANP and unassigned area codes.
pub fn area_info(e164: &str) -> Option<AreaInfo> {
    let digits = e164.trim().strip_prefix("+1")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let area_code: u16 = digits.get(..3)?.parse().ok()?;
    let row = table().rows.get(&area_code)?;
    Some(AreaInfo { area_code, region: row.region, zones: &row.zones })
}

/// Every area code in the embedded table, sorted by code.
pub fn all_area_codes() -> Vec<AreaInfo> {
    let mut out: Vec<AreaInfo> = table()
        .rows
        .iter()
        .map(|(code, row)| AreaInfo { area_code: *code, region: row.region, zones: &row.zones })
        .collect();
    out.sort_by_key(|a| a.area_code);
    out
}

/// Lines of the embedded CSV that failed to parse and were skipped ("line N: problem"). Empty for the
/// shipped table (a unit test asserts it); worth logging at startup if not.
pub fn area_table_problems() -> &'static [String] {
    &table().skipped
}

/// Union of the zones of every area code of a region (code or name, any case). Empty if unknown.
pub fn region_zones(region: &str) -> &'static [Tz] {
    normalize_region(region).and_then(|code| table().region_zones.get(code)).map(Vec::as_slice).unwrap_or(&[])
}

// ---------------------------------------------------------------------------------------------------------
// Windows and rules
// ---------------------------------------------------------------------------------------------------------

const fn hm(hour: u32, min: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, min, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    }
}

/// A daily allowed window in recipient-local time `[start, end)`.
///
/// Serialised as `{ start = "08:00", end = "21:00" }` ("HH:MM"; "HH:MM:SS" is also accepted).
/// A window must not cross midnight: `start >= end` is an empty window (no texting that day) and is
/// reported by [`QuietHoursPolicy::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
}

impl Window {
    /// The federal window, 08:00–21:00 (47 CFR 64.1200(c)(1)).
    pub const FEDERAL: Window = Window::hm(8, 0, 21, 0);

    pub const fn new(start: NaiveTime, end: NaiveTime) -> Self {
        Window { start, end }
    }

    /// `Window::hm(8, 0, 20, 0)` is 08:00–20:00. Out-of-range parts become 00:00.
    pub const fn hm(start_h: u32, start_m: u32, end_h: u32, end_m: u32) -> Self {
        Window { start: hm(start_h, start_m), end: hm(end_h, end_m) }
    }

    /// True when the window allows no time at all (`start >= end`).
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    pub fn contains(&self, t: NaiveTime) -> bool {
        self.start <= t && t < self.end
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", hhmm::format(self.start), hhmm::format(self.end))
    }
}

/// (De)serialise `NaiveTime` as "HH:MM" (or "HH:MM:SS" when seconds are set).
mod hhmm {
    use chrono::{NaiveTime, Timelike};
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn format(t: NaiveTime) -> String {
        if t.second() == 0 && t.nanosecond() == 0 {
            t.format("%H:%M").to_string()
        } else {
            t.format("%H:%M:%S").to_string()
        }
    }

    pub fn parse(s: &str) -> Option<NaiveTime> {
        let s = s.trim();
        NaiveTime::parse_from_str(s, "%H:%M").or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S")).ok()
    }

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s)
            .ok_or_else(|| de::Error::custom(format!("invalid time {s:?}: expected \"HH:MM\" (24-hour, 00:00-23:59)")))
    }
}

/// A state's rule: per-weekday windows (`closed_days` = no texting that day, e.g. AL/LA Sundays), banned
/// holidays, optional cap.
///
/// Weekdays in `closed_days` serialise as "Mon", "Tue", ... "Sun"; "Sunday"/"sunday" are accepted too.
/// `holidays` names holiday sets from `data/holidays.psv` ("federal", "RI", ...), see [`holiday_sets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRule {
    /// Window applied on days that have no override below.
    pub window: Window,
    /// Sunday override, e.g. TX 12:00–21:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunday: Option<Window>,
    /// Saturday override, e.g. RI 10:00–17:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturday: Option<Window>,
    /// Days with no texting at all. Takes precedence over `window`, `sunday` and `saturday`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed_days: Vec<Weekday>,
    /// Holiday sets whose days (actual and observed dates) allow no texting, e.g. `["federal", "RI"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<String>,
    /// Max automated texts per rolling 24h to a recipient in this state (FL, OK, MD: 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_24h: Option<u32>,
}

impl StateRule {
    pub fn new(window: Window) -> Self {
        StateRule {
            window,
            sunday: None,
            saturday: None,
            closed_days: Vec::new(),
            holidays: Vec::new(),
            max_per_24h: None,
        }
    }

    pub fn with_sunday(mut self, w: Window) -> Self {
        self.sunday = Some(w);
        self
    }

    pub fn with_saturday(mut self, w: Window) -> Self {
        self.saturday = Some(w);
        self
    }

    pub fn closed_on(mut self, day: Weekday) -> Self {
        if !self.closed_days.contains(&day) {
            self.closed_days.push(day);
        }
        self
    }

    /// Bans texting on the days of a holiday set (see [`holiday_sets`]).
    pub fn closed_on_holidays(mut self, set: &str) -> Self {
        if !self.holidays.iter().any(|s| s == set) {
            self.holidays.push(set.to_string());
        }
        self
    }

    pub fn with_cap(mut self, max_per_24h: u32) -> Self {
        self.max_per_24h = Some(max_per_24h);
        self
    }

    /// The window in force on `day`; `None` when the day is closed. Ignores holidays: see
    /// [`StateRule::holiday_on`].
    pub fn window_on(&self, day: Weekday) -> Option<Window> {
        self.day_rule(day).0
    }

    /// The name of the banned holiday that falls on local date `date`, if any.
    pub fn holiday_on(&self, date: NaiveDate) -> Option<String> {
        self.holidays.iter().find_map(|set| holiday_on(set, date))
    }

    /// (window or None if closed, whether a day-specific rule applies).
    fn day_rule(&self, day: Weekday) -> (Option<Window>, bool) {
        if self.closed_days.contains(&day) {
            return (None, true);
        }
        match (day, self.sunday, self.saturday) {
            (Weekday::Sun, Some(w), _) => (Some(w), true),
            (Weekday::Sat, _, Some(w)) => (Some(w), true),
            _ => (Some(self.window), false),
        }
    }
}

/// How much a built-in rule or holiday can be relied on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Statute text or a law-firm / law-library source.
    Strong,
    /// Vendor compliance charts only: verify with counsel before relying on it.
    Vendor,
    /// Sources disagree or could not be confirmed; the stricter reading is used.
    Uncertain,
}

impl Confidence {
    fn parse(s: &str) -> Option<Confidence> {
        match s {
            "strong" => Some(Confidence::Strong),
            "vendor" => Some(Confidence::Vendor),
            "uncertain" => Some(Confidence::Uncertain),
            _ => None,
        }
    }
}

/// Where a built-in row comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSource {
    pub confidence: Confidence,
    /// Statute / act (or vendor chart) the row states.
    pub citation: String,
    /// Public URLs for the citation (may be empty when none is known).
    pub urls: Vec<String>,
}

struct StateTable {
    rules: BTreeMap<String, StateRule>,
    sources: BTreeMap<String, RuleSource>,
    /// Lines that failed to parse, as "line N: problem". Expected to be empty (a unit test asserts it).
    skipped: Vec<String>,
}

fn state_table() -> &'static StateTable {
    static TABLE: OnceLock<StateTable> = OnceLock::new();
    TABLE.get_or_init(|| parse_state_table(STATE_RULES_PSV))
}

/// Lines of a pipe-separated table with comments and blank lines removed: (1-based line number, fields).
fn psv_rows(src: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    src.lines().enumerate().filter_map(|(idx, raw)| {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        Some((idx + 1, line.split('|').map(str::trim).collect()))
    })
}

fn dash_none(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

fn parse_window_range(s: &str) -> Result<Window, String> {
    let (a, b) = s.split_once('-').ok_or_else(|| format!("window {s:?}: expected \"HH:MM-HH:MM\""))?;
    let start = hhmm::parse(a).ok_or_else(|| format!("window {s:?}: bad start"))?;
    let end = hhmm::parse(b).ok_or_else(|| format!("window {s:?}: bad end"))?;
    let w = Window::new(start, end);
    if w.is_empty() {
        return Err(format!("window {s:?} is empty"));
    }
    Ok(w)
}

fn parse_weekday(s: &str) -> Result<Weekday, String> {
    s.parse::<Weekday>().map_err(|_| format!("unknown weekday {s:?}"))
}

fn parse_urls(s: &str) -> Vec<String> {
    dash_none(s).map(|s| s.split(" ; ").map(|u| u.trim().to_string()).collect()).unwrap_or_default()
}

fn parse_state_row(fields: &[&str]) -> Result<(String, StateRule, RuleSource), String> {
    let [code, window, saturday, sunday, closed, cap, holidays, confidence, citation, urls] = fields else {
        return Err(format!("expected 10 '|'-separated fields, got {}", fields.len()));
    };
    let code = normalize_region(code)
        .filter(|c| c.eq_ignore_ascii_case(code))
        .ok_or_else(|| format!("unknown state code {code:?}"))?;
    let mut rule = StateRule::new(parse_window_range(window)?);
    if let Some(s) = dash_none(saturday) {
        rule = rule.with_saturday(parse_window_range(s)?);
    }
    if let Some(s) = dash_none(sunday) {
        rule = rule.with_sunday(parse_window_range(s)?);
    }
    if let Some(days) = dash_none(closed) {
        for d in days.split(',') {
            rule = rule.closed_on(parse_weekday(d.trim())?);
        }
    }
    if let Some(n) = dash_none(cap) {
        let n: u32 = n.parse().map_err(|_| format!("max_per_24h {n:?} is not a number"))?;
        rule = rule.with_cap(n);
    }
    if let Some(sets) = dash_none(holidays) {
        for set in sets.split(',').map(str::trim) {
            if !holiday_table().by_set.contains_key(set) {
                return Err(format!("unknown holiday set {set:?}"));
            }
            rule = rule.closed_on_holidays(set);
        }
    }
    let confidence = Confidence::parse(confidence).ok_or_else(|| format!("unknown confidence {confidence:?}"))?;
    if citation.is_empty() || *citation == "-" {
        return Err("no citation".to_string());
    }
    let source = RuleSource { confidence, citation: citation.to_string(), urls: parse_urls(urls) };
    Ok((code.to_string(), rule, source))
}

fn parse_state_table(src: &str) -> StateTable {
    let mut t = StateTable { rules: BTreeMap::new(), sources: BTreeMap::new(), skipped: Vec::new() };
    for (line, fields) in psv_rows(src) {
        match parse_state_row(&fields) {
            Ok((code, rule, source)) => {
                if t.rules.contains_key(&code) {
                    t.skipped.push(format!("line {line}: duplicate state {code}"));
                } else {
                    t.rules.insert(code.clone(), rule);
                    t.sources.insert(code, source);
                }
            }
            Err(e) => t.skipped.push(format!("line {line}: {e}")),
        }
    }
    t
}

/// The built-in state table, from `data/state_rules.psv` (times are recipient-local). Each row names its
/// source, see [`builtin_state_source`]; vendor-sourced and uncertain rows are marked there and must be
/// verified with counsel before relying on them.
pub fn builtin_states() -> BTreeMap<String, StateRule> {
    state_table().rules.clone()
}

/// The source of a built-in state row (statute citation, URLs, confidence).
pub fn builtin_state_source(code: &str) -> Option<&'static RuleSource> {
    state_table().sources.get(code.trim().to_ascii_uppercase().as_str())
}

/// Problems found while parsing the embedded state and holiday tables ("state_rules.psv line N: ...").
/// Expected to be empty; a unit test asserts it.
pub fn builtin_table_problems() -> Vec<String> {
    let states = state_table().skipped.iter().map(|p| format!("state_rules.psv {p}"));
    let holidays = holiday_table().skipped.iter().map(|p| format!("holidays.psv {p}"));
    states.chain(holidays).collect()
}

// ---------------------------------------------------------------------------------------------------------
// Holidays
// ---------------------------------------------------------------------------------------------------------

/// How a holiday's date is found in a given year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolidayRule {
    /// The same month and day every year.
    Fixed { month: u32, day: u32 },
    /// The `n`-th (1-5) `weekday` of `month`.
    Nth { n: u8, weekday: Weekday, month: u32 },
    /// The last `weekday` of `month`.
    Last { weekday: Weekday, month: u32 },
    /// `offset` days from Western (Gregorian) Easter Sunday: Good Friday -2, Mardi Gras -47.
    Easter { offset: i64 },
    /// The Tuesday after the first Monday of November (every year, or only even years).
    ElectionDay { even_years_only: bool },
}

/// The weekday shift that gives a holiday's observed date (both the actual and the observed date are
/// banned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    None,
    /// Saturday -> preceding Friday, Sunday -> following Monday (5 U.S.C. § 6103(b); E.O. 11582).
    FridayOrMonday,
    /// Sunday -> following Monday.
    SundayToMonday,
    /// Saturday or Sunday -> following Monday.
    WeekendToMonday,
    /// Tuesday-Friday -> preceding Monday; Saturday or Sunday -> following Monday (Utah Juneteenth).
    MondayOfWeek,
}

/// One holiday of a holiday set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    /// "federal" or a state code.
    pub set: String,
    pub name: String,
    pub rule: HolidayRule,
    pub observed: Observed,
    /// First year the holiday applies (e.g. Juneteenth 2021).
    pub since: Option<i32>,
    pub source: RuleSource,
}

impl Holiday {
    /// The actual date in `year` (`None` before `since`, or for an off-year election day).
    pub fn date_in(&self, year: i32) -> Option<NaiveDate> {
        if self.since.is_some_and(|s| year < s) {
            return None;
        }
        match self.rule {
            HolidayRule::Fixed { month, day } => NaiveDate::from_ymd_opt(year, month, day),
            HolidayRule::Nth { n, weekday, month } => NaiveDate::from_weekday_of_month_opt(year, month, weekday, n),
            HolidayRule::Last { weekday, month } => {
                let first_next = if month == 12 {
                    NaiveDate::from_ymd_opt(year + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(year, month + 1, 1)
                }?;
                let mut d = first_next.pred_opt()?;
                while d.weekday() != weekday {
                    d = d.pred_opt()?;
                }
                Some(d)
            }
            HolidayRule::Easter { offset } => easter_sunday(year)?.checked_add_signed(TimeDelta::days(offset)),
            HolidayRule::ElectionDay { even_years_only } => {
                if even_years_only && year % 2 != 0 {
                    return None;
                }
                NaiveDate::from_weekday_of_month_opt(year, 11, Weekday::Mon, 1)?.succ_opt()
            }
        }
    }

    /// The observed date for an actual date (equal to it when there is no shift).
    pub fn observed_for(&self, actual: NaiveDate) -> NaiveDate {
        let shift = |days: i64| actual.checked_add_signed(TimeDelta::days(days)).unwrap_or(actual);
        let wd = actual.weekday();
        match (self.observed, wd) {
            (Observed::FridayOrMonday, Weekday::Sat) => shift(-1),
            (Observed::FridayOrMonday | Observed::SundayToMonday | Observed::WeekendToMonday, Weekday::Sun) => shift(1),
            (Observed::WeekendToMonday, Weekday::Sat) => shift(2),
            (Observed::MondayOfWeek, Weekday::Sat) => shift(2),
            (Observed::MondayOfWeek, Weekday::Sun) => shift(1),
            (Observed::MondayOfWeek, _) => shift(-i64::from(wd.num_days_from_monday())),
            _ => actual,
        }
    }

    /// The name to report when `date` is this holiday's actual or observed date, else `None`.
    pub fn matches(&self, date: NaiveDate) -> Option<String> {
        // An observed date can fall in the neighbouring year (New Year's Day on a Saturday -> Dec 31).
        for year in [date.year() - 1, date.year(), date.year() + 1] {
            let Some(actual) = self.date_in(year) else {
                continue;
            };
            if actual == date {
                return Some(self.name.clone());
            }
            if self.observed_for(actual) == date {
                return Some(format!("{} (observed)", self.name));
            }
        }
        None
    }
}

/// Western Easter Sunday (Gregorian calendar), by the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

struct HolidayTable {
    by_set: BTreeMap<String, Vec<Holiday>>,
    skipped: Vec<String>,
}

fn holiday_table() -> &'static HolidayTable {
    static TABLE: OnceLock<HolidayTable> = OnceLock::new();
    TABLE.get_or_init(|| parse_holiday_table(HOLIDAYS_PSV))
}

fn parse_holiday_rule(s: &str) -> Result<HolidayRule, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let month = |m: &str| -> Result<u32, String> {
        m.parse::<u32>().ok().filter(|m| (1..=12).contains(m)).ok_or_else(|| format!("bad month {m:?} in {s:?}"))
    };
    match parts.as_slice() {
        ["fixed", md] => {
            let (m, d) = md.split_once('-').ok_or_else(|| format!("bad fixed date {s:?}"))?;
            let (month, day) = (month(m)?, d.parse::<u32>().map_err(|_| format!("bad day in {s:?}"))?);
            // 2024 is a leap year: accepts Feb 29 but no impossible date.
            NaiveDate::from_ymd_opt(2024, month, day).ok_or_else(|| format!("impossible date {s:?}"))?;
            Ok(HolidayRule::Fixed { month, day })
        }
        ["nth", n, wd, m] => {
            let n = n.parse::<u8>().ok().filter(|n| (1..=5).contains(n)).ok_or_else(|| format!("bad n in {s:?}"))?;
            Ok(HolidayRule::Nth { n, weekday: parse_weekday(wd)?, month: month(m)? })
        }
        ["last", wd, m] => Ok(HolidayRule::Last { weekday: parse_weekday(wd)?, month: month(m)? }),
        ["easter", off] => {
            let offset = off.parse::<i64>().map_err(|_| format!("bad Easter offset in {s:?}"))?;
            Ok(HolidayRule::Easter { offset })
        }
        ["election", "even"] => Ok(HolidayRule::ElectionDay { even_years_only: true }),
        ["election", "every"] => Ok(HolidayRule::ElectionDay { even_years_only: false }),
        _ => Err(format!("unknown holiday rule {s:?}")),
    }
}

fn parse_holiday_row(fields: &[&str]) -> Result<Holiday, String> {
    let [set, name, rule, observed, since, confidence, citation, urls] = fields else {
        return Err(format!("expected 8 '|'-separated fields, got {}", fields.len()));
    };
    if *set != "federal" && normalize_region(set).is_none_or(|c| c != *set) {
        return Err(format!("holiday set {set:?} is neither \"federal\" nor an upper-case state code"));
    }
    if name.is_empty() {
        return Err("empty holiday name".to_string());
    }
    let observed = match *observed {
        "none" => Observed::None,
        "fri-mon" => Observed::FridayOrMonday,
        "sun-mon" => Observed::SundayToMonday,
        "weekend-mon" => Observed::WeekendToMonday,
        "ut-monday" => Observed::MondayOfWeek,
        other => return Err(format!("unknown observance {other:?}")),
    };
    let since = dash_none(since).map(|y| y.parse::<i32>().map_err(|_| format!("bad since {y:?}"))).transpose()?;
    let confidence = Confidence::parse(confidence).ok_or_else(|| format!("unknown confidence {confidence:?}"))?;
    if citation.is_empty() || *citation == "-" {
        return Err("no citation".to_string());
    }
    Ok(Holiday {
        set: set.to_string(),
        name: name.to_string(),
        rule: parse_holiday_rule(rule)?,
        observed,
        since,
        source: RuleSource { confidence, citation: citation.to_string(), urls: parse_urls(urls) },
    })
}

fn parse_holiday_table(src: &str) -> HolidayTable {
    let mut t = HolidayTable { by_set: BTreeMap::new(), skipped: Vec::new() };
    for (line, fields) in psv_rows(src) {
        match parse_holiday_row(&fields) {
            Ok(h) => t.by_set.entry(h.set.clone()).or_default().push(h),
            Err(e) => t.skipped.push(format!("line {line}: {e}")),
        }
    }
    t
}

/// Names of the built-in holiday sets ("federal", "AL", "LA", ...).
pub fn holiday_sets() -> Vec<&'static str> {
    holiday_table().by_set.keys().map(String::as_str).collect()
}

/// The holidays of a built-in set (empty for an unknown set).
pub fn holidays_of(set: &str) -> &'static [Holiday] {
    holiday_table().by_set.get(set).map(Vec::as_slice).unwrap_or(&[])
}

/// The holiday of `set` that falls on `date` (actual or observed date), by name; `None` if none does.
pub fn holiday_on(set: &str, date: NaiveDate) -> Option<String> {
    holidays_of(set).iter().find_map(|h| h.matches(date))
}

// ---------------------------------------------------------------------------------------------------------
// Operator blackouts
// ---------------------------------------------------------------------------------------------------------

/// An operator-declared blackout (`[[compliance.blackouts]]` in config.toml), e.g. a declared state of
/// emergency during which a state bans telephone solicitation (Louisiana does: La. R.S. 45:844.31).
///
/// ```toml
/// [[compliance.blackouts]]
/// states = ["FL"]          # two-letter codes; "*" = every recipient, whatever their state
/// from = "2026-12-01"      # first day, inclusive (quoted "YYYY-MM-DD")
/// to = "2026-12-03"        # last day, inclusive
/// reason = "Hurricane state of emergency"
/// ```
///
/// The dates are local dates in each recipient's own zone(s): no automated text goes to a recipient of a
/// listed state from 00:00 on `from` to the end of `to` in their local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blackout {
    pub states: Vec<String>,
    #[serde(with = "ymd")]
    pub from: NaiveDate,
    #[serde(with = "ymd")]
    pub to: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Blackout {
    pub fn new(states: &[&str], from: NaiveDate, to: NaiveDate) -> Self {
        Blackout { states: states.iter().map(|s| s.to_string()).collect(), from, to, reason: None }
    }

    pub fn with_reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    /// Whether the blackout names region `code` (or `"*"`).
    pub fn applies_to(&self, code: &str) -> bool {
        self.states.iter().any(|s| s.trim() == "*" || s.trim().eq_ignore_ascii_case(code))
    }

    /// Whether local date `date` is inside the blackout (both ends inclusive).
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && date <= self.to
    }

    fn applies_to_all(&self) -> bool {
        self.states.iter().any(|s| s.trim() == "*")
    }
}

/// Problems in `[[compliance.blackouts]]`, each naming the entry index (`compliance.blackouts[1]: ...`):
/// `from` after `to`, a span over [`MAX_BLACKOUT_DAYS`], no states, or a state that is not a two-letter
/// US state/territory or Canadian province code (nor `"*"`). Empty when all entries are sound.
pub fn validate_blackouts(blackouts: &[Blackout]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, b) in blackouts.iter().enumerate() {
        let at = format!("compliance.blackouts[{i}]");
        if b.from > b.to {
            problems.push(format!("{at}: from {} is after to {}", b.from, b.to));
        } else if (b.to - b.from).num_days() > MAX_BLACKOUT_DAYS {
            problems.push(format!(
                "{at}: {} .. {} spans more than {MAX_BLACKOUT_DAYS} days (typo in a year?)",
                b.from, b.to
            ));
        }
        if b.states.is_empty() {
            problems.push(format!("{at}: states is empty (list two-letter codes, or \"*\" for all)"));
        }
        for s in &b.states {
            let s = s.trim();
            if s != "*" && normalize_region(s).is_none_or(|c| !c.eq_ignore_ascii_case(s)) {
                problems.push(format!(
                    "{at}: unknown state {s:?} (a two-letter US state/territory or Canadian province code, or \"*\")"
                ));
            }
        }
    }
    problems
}

/// (De)serialise `NaiveDate` as a quoted "YYYY-MM-DD" string.
mod ymd {
    use chrono::NaiveDate;
    use serde::{de, Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.format("%Y-%m-%d").to_string())
    }

    struct V;

    impl<'de> de::Visitor<'de> for V {
        type Value = NaiveDate;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a quoted date \"YYYY-MM-DD\"")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<NaiveDate, E> {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| E::custom(format!("invalid date {s:?}: expected \"YYYY-MM-DD\"")))
        }

        /// An unquoted TOML date (`from = 2026-12-01`) reaches us as a one-entry map holding
        /// its text (how the toml crate, and figment after it, carry datetimes).
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<NaiveDate, A::Error> {
            let Some((_, text)) = map.next_entry::<String, String>()? else {
                return Err(de::Error::custom("expected a date \"YYYY-MM-DD\""));
            };
            self.visit_str(&text)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        d.deserialize_any(V)
    }
}

fn default_fallback_zone() -> Tz {
    Tz::America__New_York
}

fn default_federal() -> Window {
    Window::FEDERAL
}

fn default_true() -> bool {
    true
}

/// The whole policy, deserialisable from config.toml:
///
/// ```toml
/// [compliance.quiet_hours]
/// federal = { start = "08:00", end = "21:00" }
/// fallback_zone = "America/New_York"
/// [compliance.quiet_hours.states.FL]
/// window = { start = "08:00", end = "20:00" }
/// max_per_24h = 3
/// ```
///
/// Every field is optional when deserialising. `states` given in config are merged OVER the built-in
/// table ([`builtin_states`]) unless `inherit_builtin_states = false`, so overriding one state never
/// silently drops the others. State keys are normalised to upper case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "PolicyConfig")]
pub struct QuietHoursPolicy {
    pub federal: Window,
    pub states: BTreeMap<String, StateRule>,
    /// Zone used when the area code is unknown (non-NANP or unassigned): the brokerage's own zone.
    pub fallback_zone: Tz,
    /// Whether built-in state rules are added for states that `states` does not mention (default true).
    pub inherit_builtin_states: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyConfig {
    #[serde(default = "default_federal")]
    federal: Window,
    #[serde(default)]
    states: BTreeMap<String, StateRule>,
    #[serde(default = "default_fallback_zone")]
    fallback_zone: Tz,
    #[serde(default = "default_true")]
    inherit_builtin_states: bool,
}

impl From<PolicyConfig> for QuietHoursPolicy {
    fn from(c: PolicyConfig) -> Self {
        let mut states: BTreeMap<String, StateRule> =
            c.states.into_iter().map(|(k, v)| (k.trim().to_ascii_uppercase(), v)).collect();
        if c.inherit_builtin_states {
            for (k, v) in builtin_states() {
                states.entry(k).or_insert(v);
            }
        }
        QuietHoursPolicy {
            federal: c.federal,
            states,
            fallback_zone: c.fallback_zone,
            inherit_builtin_states: c.inherit_builtin_states,
        }
    }
}

impl Default for QuietHoursPolicy {
    /// Federal 08:00–21:00, fallback America/New_York, and the built-in state table.
    fn default() -> Self {
        QuietHoursPolicy {
            federal: Window::FEDERAL,
            states: builtin_states(),
            fallback_zone: default_fallback_zone(),
            inherit_builtin_states: true,
        }
    }
}

impl QuietHoursPolicy {
    /// The rule for a region code, matched case-insensitively.
    pub fn state_rule(&self, code: &str) -> Option<&StateRule> {
        self.states.get(code).or_else(|| self.states.iter().find(|(k, _)| k.eq_ignore_ascii_case(code)).map(|(_, v)| v))
    }

    /// Configuration problems worth refusing to start on: empty windows, unknown region keys, states
    /// closed every day, zero caps, unknown holiday sets. Empty when the policy is sound.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.federal.is_empty() {
            problems.push(format!("federal window {} is empty", self.federal));
        }
        for (code, rule) in &self.states {
            if normalize_region(code) != Some(code.as_str()) {
                problems.push(format!("states.{code}: not a two-letter US state/territory or Canadian province code"));
            }
            let named = [("window", Some(rule.window)), ("sunday", rule.sunday), ("saturday", rule.saturday)];
            for (name, w) in named {
                if let Some(w) = w {
                    if w.is_empty() {
                        problems.push(format!("states.{code}.{name}: window {w} is empty (start must be before end)"));
                    }
                }
            }
            let all_days =
                [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
            if all_days.iter().all(|d| rule.window_on(*d).is_none_or(|w| w.is_empty())) {
                problems.push(format!("states.{code}: no day allows texting"));
            }
            if rule.max_per_24h == Some(0) {
                problems.push(format!("states.{code}.max_per_24h is 0 (blocks every text)"));
            }
            for set in &rule.holidays {
                if holidays_of(set).is_empty() {
                    problems.push(format!(
                        "states.{code}.holidays: unknown holiday set {set:?} (known: {})",
                        holiday_sets().join(", ")
                    ));
                }
            }
        }
        problems
    }
}

// ---------------------------------------------------------------------------------------------------------
// Checking a recipient
// ---------------------------------------------------------------------------------------------------------

/// Where the recipient is, as far as we can tell: zones from the area code, plus the lead's own address
/// state if known (a code like "FL"/"fl" or a name like "Florida").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient<'a> {
    pub e164: &'a str,
    pub address_state: Option<&'a str>,
}

impl<'a> Recipient<'a> {
    pub fn new(e164: &'a str) -> Self {
        Recipient { e164, address_state: None }
    }

    pub fn with_address_state(mut self, state: &'a str) -> Self {
        self.address_state = Some(state);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowCheck {
    Allowed,
    /// Not allowed now; the earliest instant (UTC) at which every applicable rule allows a text.
    DeferUntil {
        until: DateTime<Utc>,
        rule: String,
        reason: String,
    },
}

/// Region codes whose rules apply: area-code region first, then the address state (deduplicated).
/// Unknown address states are kept upper-cased so a custom policy key can still match.
fn applicable_regions(recipient: &Recipient, area: Option<&AreaInfo>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(a) = area {
        out.push(a.region.to_string());
    }
    if let Some(s) = recipient.address_state {
        let s = s.trim();
        if !s.is_empty() {
            let code = normalize_region(s).map(str::to_string).unwrap_or_else(|| s.to_ascii_uppercase());
            if !out.contains(&code) {
                out.push(code);
            }
        }
    }
    out
}

/// The zones `check_window` evaluates for this recipient: every zone of the area code; or, when the area
/// code is unknown, the policy's fallback zone plus the zones of the address state (if known).
pub fn applicable_zones(policy: &QuietHoursPolicy, recipient: &Recipient) -> Vec<Tz> {
    match area_info(recipient.e164) {
        Some(a) => a.zones.to_vec(),
        None => {
            let mut zones = vec![policy.fallback_zone];
            if let Some(s) = recipient.address_state {
                for tz in region_zones(s) {
                    if !zones.contains(tz) {
                        zones.push(*tz);
                    }
                }
            }
            zones
        }
    }
}

#[derive(Clone, Copy)]
enum Source<'p> {
    Federal(Window),
    State(&'p str, &'p StateRule),
    Blackout(&'p Blackout),
}

/// One (zone, rule) pair.
#[derive(Clone, Copy)]
struct Constraint<'p> {
    zone: Tz,
    source: Source<'p>,
}

/// Why a constraint does not allow an instant.
struct Violation {
    rule: String,
    reason: String,
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

impl Constraint<'_> {
    /// Window in force on a local date; `None` = closed all day (closed weekday or banned holiday).
    /// Blackouts have no window (they ban whole dates): see `allows` and `starts`.
    fn window_on(&self, date: NaiveDate) -> Option<Window> {
        match self.source {
            Source::Federal(w) => Some(w),
            Source::State(_, rule) => {
                let w = rule.window_on(date.weekday())?;
                if rule.holiday_on(date).is_some() {
                    return None;
                }
                Some(w)
            }
            Source::Blackout(_) => None,
        }
    }

    fn allows(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.zone);
        match self.source {
            Source::Blackout(b) => !b.covers(local.date_naive()),
            _ => self.window_on(local.date_naive()).is_some_and(|w| w.contains(local.time())),
        }
    }

    /// Instants in `(after, limit]` at which this constraint's allowed periods begin: window starts on
    /// open days; for a blackout, local midnight after its last day.
    fn starts(&self, after: DateTime<Utc>, horizon_days: i64, out: &mut Vec<DateTime<Utc>>) {
        let today: NaiveDate = after.with_timezone(&self.zone).date_naive();
        if let Source::Blackout(b) = self.source {
            if let Some(next) = b.to.succ_opt() {
                if next >= today.pred_opt().unwrap_or(today) {
                    local_starts(self.zone, next.and_time(NaiveTime::MIN), out);
                }
            }
            return;
        }
        for offset in -1..=horizon_days {
            let Some(date) = today.checked_add_signed(TimeDelta::days(offset)) else {
                continue;
            };
            if let Some(w) = self.window_on(date) {
                if !w.is_empty() {
                    local_starts(self.zone, date.and_time(w.start), out);
                }
            }
        }
    }

    /// Rule id and human-readable reason why `t` is not allowed (`None` if it is allowed).
    fn violation(&self, t: DateTime<Utc>) -> Option<Violation> {
        if self.allows(t) {
            return None;
        }
        let local = t.with_timezone(&self.zone);
        let date = local.date_naive();
        let day = local.weekday();
        let zone = self.zone.name();
        let time = local.format("%H:%M").to_string();
        let (window, rule, label) = match self.source {
            Source::Federal(w) => (Some(w), "quiet_hours.federal".to_string(), "federal".to_string()),
            Source::Blackout(b) => {
                let states = if b.applies_to_all() { "all states".to_string() } else { b.states.join(", ") };
                let why = b.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                return Some(Violation {
                    rule: "quiet_hours.blackout".to_string(),
                    reason: format!(
                        "{} {date} in {zone} is inside the operator blackout {} to {} for {states}{why}",
                        weekday_name(day),
                        b.from,
                        b.to
                    ),
                });
            }
            Source::State(code, rule) => {
                let (w, day_specific) = rule.day_rule(day);
                if w.is_some() {
                    if let Some(holiday) = rule.holiday_on(date) {
                        return Some(Violation {
                            rule: "quiet_hours.holiday".to_string(),
                            reason: format!(
                                "{} {date} in {zone} is {holiday}: no texting on holidays (state {code})",
                                weekday_name(day)
                            ),
                        });
                    }
                }
                if day_specific {
                    let dn = weekday_name(day);
                    (w, format!("quiet_hours.state.{code}.{}", dn.to_ascii_lowercase()), format!("state {code}, {dn}"))
                } else {
                    (w, format!("quiet_hours.state.{code}"), format!("state {code}"))
                }
            }
        };
        let reason = match window {
            None => format!("{} in {zone}: no texting on {}s ({label})", weekday_name(day), weekday_name(day)),
            Some(w) if w.is_empty() => {
                format!("{time} in {zone}: window {w} is empty ({label})")
            }
            Some(w) => format!("{time} in {zone} is outside {w} ({label})"),
        };
        Some(Violation { rule, reason })
    }
}

fn constraints<'p>(
    policy: &'p QuietHoursPolicy,
    blackouts: &'p [Blackout],
    recipient: &Recipient,
) -> Vec<Constraint<'p>> {
    let area = area_info(recipient.e164);
    let zones = applicable_zones(policy, recipient);
    let regions = applicable_regions(recipient, area.as_ref());
    let mut sources = vec![Source::Federal(policy.federal)];
    for code in &regions {
        if let Some((key, rule)) = policy
            .states
            .get_key_value(code.as_str())
            .or_else(|| policy.states.iter().find(|(k, _)| k.eq_ignore_ascii_case(code)))
        {
            sources.push(Source::State(key.as_str(), rule));
        }
    }
    for b in blackouts {
        if b.applies_to_all() || regions.iter().any(|code| b.applies_to(code)) {
            sources.push(Source::Blackout(b));
        }
    }
    zones.iter().flat_map(|zone| sources.iter().map(|source| Constraint { zone: *zone, source: *source })).collect()
}

/// UTC instants at which local wall-clock time `naive` in `zone` begins. Both instants of an ambiguous
/// (fall-back) time; for a time skipped by a spring-forward gap, the first instant after the gap.
fn local_starts(zone: Tz, naive: NaiveDateTime, out: &mut Vec<DateTime<Utc>>) {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => out.push(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => {
            out.push(a.with_timezone(&Utc));
            out.push(b.with_timezone(&Utc));
        }
        LocalResult::None => {
            // Gap: step forward minute by minute (gaps are at most a few hours) to the first local time
            // that exists, i.e. the transition instant.
            for m in 1..=(6 * 60) {
                let Some(later) = naive.checked_add_signed(TimeDelta::minutes(m)) else {
                    break;
                };
                if let Some(t) = zone.from_local_datetime(&later).earliest() {
                    out.push(t.with_timezone(&Utc));
                    break;
                }
            }
        }
    }
}

/// Sorted, deduplicated allowed-period start instants in `(after, limit]` for every constraint.
fn candidate_instants(
    cons: &[Constraint],
    after: DateTime<Utc>,
    limit: DateTime<Utc>,
    horizon_days: i64,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for c in cons {
        c.starts(after, horizon_days, &mut out);
    }
    out.retain(|t| *t > after && *t <= limit);
    out.sort_unstable();
    out.dedup();
    out
}

/// How many days ahead to search: [`SEARCH_DAYS`], plus the days of blackouts that are not over yet, plus
/// slack for holidays when a holiday-banning state applies.
fn horizon_days(cons: &[Constraint], now: DateTime<Utc>) -> i64 {
    let today = now.date_naive();
    let mut days = SEARCH_DAYS;
    let mut seen: Vec<*const Blackout> = Vec::new();
    let mut holidays = false;
    for c in cons {
        match c.source {
            Source::Blackout(b) if !seen.contains(&(b as *const Blackout)) => {
                seen.push(b as *const Blackout);
                if b.to >= today.pred_opt().unwrap_or(today) {
                    days += (b.to - b.from).num_days().clamp(0, MAX_BLACKOUT_DAYS) + 2;
                }
            }
            Source::State(_, rule) if !rule.holidays.is_empty() => holidays = true,
            _ => {}
        }
    }
    if holidays {
        days += HOLIDAY_SLACK_DAYS;
    }
    days
}

/// Pure. The strictest applicable rule wins: the federal window, the rule of the area code's region and
/// the rule of the address state (if any), including their closed weekdays and banned holidays, and the
/// operator's `blackouts` that name either region (or `"*"`), in EVERY zone the area code spans (and the
/// fallback zone if unknown, plus the address state's zones). Holidays and blackouts are local dates in
/// each zone.
///
/// `rule` is a stable id like "quiet_hours.federal", "quiet_hours.state.FL", "quiet_hours.state.TX.sunday",
/// "quiet_hours.holiday", "quiet_hours.blackout"; `reason` is human readable, e.g. "21:30 in
/// America/New_York is outside 08:00–21:00 (federal)" or "Thursday 2026-11-26 in America/Chicago is
/// Thanksgiving Day: no texting on holidays (state AL)". Both describe the rule that blocks `now` and, of
/// those, the one that keeps blocking longest.
pub fn check_window(
    policy: &QuietHoursPolicy,
    blackouts: &[Blackout],
    recipient: &Recipient,
    now: DateTime<Utc>,
) -> WindowCheck {
    let cons = constraints(policy, blackouts, recipient);
    let failing: Vec<&Constraint> = cons.iter().filter(|c| !c.allows(now)).collect();
    if failing.is_empty() {
        return WindowCheck::Allowed;
    }
    let horizon = horizon_days(&cons, now);
    let limit = now.checked_add_signed(TimeDelta::days(horizon)).unwrap_or(now);
    let candidates = candidate_instants(&cons, now, limit, horizon);
    let until = candidates.iter().copied().find(|t| cons.iter().all(|c| c.allows(*t)));

    let Some(until) = until else {
        let blocking = failing
            .first()
            .and_then(|c| c.violation(now))
            .map(|v| format!("; now blocked by {}: {}", v.rule, v.reason))
            .unwrap_or_default();
        return WindowCheck::DeferUntil {
            until: now.checked_add_signed(TimeDelta::days(1)).unwrap_or(now),
            rule: "quiet_hours.no_window".to_string(),
            reason: format!(
                "no instant in the next {horizon} days satisfies every quiet-hours rule \
                 (check the policy){blocking}"
            ),
        };
    };

    // Report the failing constraint whose own next allowed instant is latest (ties: the more specific
    // rule, i.e. the later one in federal -> area state -> address state -> blackout order).
    let mut best: Option<(&Constraint, DateTime<Utc>)> = None;
    for c in failing {
        let own_next = candidates.iter().copied().find(|t| c.allows(*t)).unwrap_or(until);
        if best.is_none_or(|(_, t)| own_next >= t) {
            best = Some((c, own_next));
        }
    }
    let (rule, reason) = best
        .and_then(|(c, _)| c.violation(now))
        .map(|v| (v.rule, v.reason))
        .unwrap_or_else(|| ("quiet_hours.federal".to_string(), "outside the allowed window".to_string()));
    WindowCheck::DeferUntil { until, rule, reason }
}

/// The states whose caps apply to this recipient (area-code region and address state): returns the
/// smallest `max_per_24h` among applicable rules with its rule id (e.g. "cap.state.FL"), or `None`.
pub fn cap_per_24h(policy: &QuietHoursPolicy, recipient: &Recipient) -> Option<(u32, String)> {
    let area = area_info(recipient.e164);
    let mut best: Option<(u32, String)> = None;
    for code in applicable_regions(recipient, area.as_ref()) {
        let Some(cap) = policy.state_rule(&code).and_then(|r| r.max_per_24h) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| cap < *b) {
            best = Some((cap, format!("cap.state.{code}")));
        }
    }
    best
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::{Chicago, Los_Angeles, New_York};

    fn local(zone: Tz, y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        zone.with_ymd_and_hms(y, m, d, h, mi, 0).earliest().expect("valid local time").with_timezone(&Utc)
    }

    fn defer(check: &WindowCheck) -> (DateTime<Utc>, String, String) {
        match check {
            WindowCheck::DeferUntil { until, rule, reason } => (*until, rule.clone(), reason.clone()),
            WindowCheck::Allowed => panic!("expected DeferUntil, got Allowed"),
        }
    }

    // 2026-11-27 is a Friday; 2026-11-28 Saturday; 2026-11-29 Sunday; 2026-11-30 Monday.

    struct Case {
        name: &'static str,
        e164: &'static str,
        address_state: Option<&'static str>,
        now: DateTime<Utc>,
        /// None = Allowed; Some((until, rule id)).
        expect: Option<(DateTime<Utc>, &'static str)>,
    }

    #[test]
    fn check_window_table() {
        let cases = vec![
            Case {
                name: "NY 212 at 22:30 -> 08:00 next day",
                e164: "+12125550142",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 22, 30),
                expect: Some((local(New_York, 2026, 11, 28, 8, 0), "quiet_hours.federal")),
            },
            Case {
                name: "NY 212 at 20:59 allowed",
                e164: "+12125550142",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 20, 59),
                expect: None,
            },
            Case {
                name: "NY 212 at 07:59 -> 08:00",
                e164: "+12125550142",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 7, 59),
                expect: Some((local(New_York, 2026, 11, 27, 8, 0), "quiet_hours.federal")),
            },
            Case {
                name: "Miami 305 at 20:30 -> 08:00 next day (FL 8pm)",
                e164: "+13055550100",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 20, 30),
                expect: Some((local(New_York, 2026, 11, 28, 8, 0), "quiet_hours.state.FL")),
            },
            Case {
                name: "Miami 305 at 19:59 allowed",
                e164: "+13055550100",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 19, 59),
                expect: None,
            },
            Case {
                name: "Dallas 214 Sunday 10:00 -> 12:00 same day",
                e164: "+12145550100",
                address_state: None,
                now: local(Chicago, 2026, 11, 29, 10, 0),
                expect: Some((local(Chicago, 2026, 11, 29, 12, 0), "quiet_hours.state.TX.sunday")),
            },
            Case {
                name: "Dallas 214 Saturday 10:00 allowed",
                e164: "+12145550100",
                address_state: None,
                now: local(Chicago, 2026, 11, 28, 10, 0),
                expect: None,
            },
            Case {
                name: "Dallas 214 Saturday 08:30 -> 09:00 (TX 9am)",
                e164: "+12145550100",
                address_state: None,
                now: local(Chicago, 2026, 11, 28, 8, 30),
                expect: Some((local(Chicago, 2026, 11, 28, 9, 0), "quiet_hours.state.TX")),
            },
            Case {
                // The rule reported is the one blocking `now` (Saturday's window).
                name: "Dallas 214 Saturday 21:15 -> Sunday 12:00",
                e164: "+12145550100",
                address_state: None,
                now: local(Chicago, 2026, 11, 28, 21, 15),
                expect: Some((local(Chicago, 2026, 11, 29, 12, 0), "quiet_hours.state.TX")),
            },
            Case {
                name: "El Paso 915 uses Mountain time",
                e164: "+19155550100",
                address_state: None,
                now: local(Tz::America__Denver, 2026, 11, 27, 8, 30),
                expect: Some((local(Tz::America__Denver, 2026, 11, 27, 9, 0), "quiet_hours.state.TX")),
            },
            Case {
                name: "Connecticut 203 at 08:30 -> 09:00",
                e164: "+12035550100",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 8, 30),
                expect: Some((local(New_York, 2026, 11, 27, 9, 0), "quiet_hours.state.CT")),
            },
            Case {
                name: "Alabama 205 Sunday -> Monday 08:00",
                e164: "+12055550100",
                address_state: None,
                now: local(Chicago, 2026, 11, 29, 10, 0),
                expect: Some((local(Chicago, 2026, 11, 30, 8, 0), "quiet_hours.state.AL.sunday")),
            },
            Case {
                name: "Alabama 205 Saturday 20:30 -> Monday 08:00",
                e164: "+12055550100",
                address_state: None,
                now: local(Chicago, 2026, 11, 28, 20, 30),
                expect: Some((local(Chicago, 2026, 11, 30, 8, 0), "quiet_hours.state.AL")),
            },
            Case {
                name: "FL panhandle 850 at 07:30 Central (08:30 Eastern) -> 08:00 Central",
                e164: "+18505550100",
                address_state: None,
                now: local(Chicago, 2026, 11, 27, 7, 30),
                expect: Some((local(Chicago, 2026, 11, 27, 8, 0), "quiet_hours.state.FL")),
            },
            Case {
                name: "FL panhandle 850 at 19:30 Central (20:30 Eastern) -> 08:00 Central",
                e164: "+18505550100",
                address_state: None,
                now: local(Chicago, 2026, 11, 27, 19, 30),
                expect: Some((local(Chicago, 2026, 11, 28, 8, 0), "quiet_hours.state.FL")),
            },
            Case {
                name: "NY number with FL address uses FL's 20:00 end",
                e164: "+12125550142",
                address_state: Some("FL"),
                now: local(New_York, 2026, 11, 27, 20, 30),
                expect: Some((local(New_York, 2026, 11, 28, 8, 0), "quiet_hours.state.FL")),
            },
            Case {
                name: "NY number with address 'florida' (name, lower case) also uses FL",
                e164: "+12125550142",
                address_state: Some("florida"),
                now: local(New_York, 2026, 11, 27, 20, 30),
                expect: Some((local(New_York, 2026, 11, 28, 8, 0), "quiet_hours.state.FL")),
            },
            Case {
                name: "NY number with FL address at 19:59 allowed",
                e164: "+12125550142",
                address_state: Some("FL"),
                now: local(New_York, 2026, 11, 27, 19, 59),
                expect: None,
            },
            Case {
                name: "Unknown (toll-free 800) uses fallback America/New_York",
                e164: "+18005550100",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 21, 30),
                expect: Some((local(New_York, 2026, 11, 28, 8, 0), "quiet_hours.federal")),
            },
            Case {
                name: "Non-NANP +44 uses fallback America/New_York",
                e164: "+447911123456",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 7, 0),
                expect: Some((local(New_York, 2026, 11, 27, 8, 0), "quiet_hours.federal")),
            },
            Case {
                name: "Non-NANP at 12:00 fallback allowed",
                e164: "+447911123456",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 12, 0),
                expect: None,
            },
            Case {
                name: "Unknown area code with CA address: fallback AND Pacific zones checked",
                e164: "+447911123456",
                address_state: Some("CA"),
                now: local(New_York, 2026, 11, 27, 10, 0), // 07:00 Pacific
                expect: Some((local(Los_Angeles, 2026, 11, 27, 9, 0), "quiet_hours.state.CA")),
            },
            Case {
                name: "DST spring-forward day NY: 01:30 EST -> 08:00 EDT",
                e164: "+12125550142",
                address_state: None,
                now: local(New_York, 2026, 3, 8, 1, 30),
                expect: Some((local(New_York, 2026, 3, 8, 8, 0), "quiet_hours.federal")),
            },
            Case {
                name: "DST fall-back day NY: 01:30 (first) -> 08:00 EST",
                e164: "+12125550142",
                address_state: None,
                now: local(New_York, 2026, 11, 1, 1, 30),
                expect: Some((local(New_York, 2026, 11, 1, 8, 0), "quiet_hours.federal")),
            },
            Case {
                name: "Rhode Island Saturday 09:30 -> 10:00",
                e164: "+14015550100",
                address_state: None,
                now: local(New_York, 2026, 11, 28, 9, 30),
                expect: Some((local(New_York, 2026, 11, 28, 10, 0), "quiet_hours.state.RI.saturday")),
            },
            Case {
                name: "Rhode Island Friday 18:30 -> Saturday 10:00",
                e164: "+14015550100",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 18, 30),
                expect: Some((local(New_York, 2026, 11, 28, 10, 0), "quiet_hours.state.RI")),
            },
            Case {
                name: "Kentucky 859 09:30 -> 10:00",
                e164: "+18595550100",
                address_state: None,
                now: local(New_York, 2026, 11, 27, 9, 30),
                expect: Some((local(New_York, 2026, 11, 27, 10, 0), "quiet_hours.state.KY")),
            },
            Case {
                name: "Boise 208 spans Mountain and Pacific: 07:30 Pacific (08:30 Mountain) -> 08:00 Pacific",
                e164: "+12085550100",
                address_state: None,
                now: local(Los_Angeles, 2026, 11, 27, 7, 30),
                expect: Some((local(Los_Angeles, 2026, 11, 27, 8, 0), "quiet_hours.federal")),
            },
            Case {
                name: "Honolulu 808",
                e164: "+18085550100",
                address_state: None,
                now: local(Tz::Pacific__Honolulu, 2026, 11, 27, 21, 0),
                expect: Some((local(Tz::Pacific__Honolulu, 2026, 11, 28, 8, 0), "quiet_hours.federal")),
            },
        ];
        let policy = QuietHoursPolicy::default();
        for case in cases {
            let r = Recipient { e164: case.e164, address_state: case.address_state };
            let got = check_window(&policy, &[], &r, case.now);
            match (case.expect, &got) {
                (None, WindowCheck::Allowed) => {}
                (Some((until, rule)), WindowCheck::DeferUntil { .. }) => {
                    let (u, ru, reason) = defer(&got);
                    assert_eq!(u, until, "{}: until ({reason})", case.name);
                    assert_eq!(ru, rule, "{}: rule ({reason})", case.name);
                    assert!(!reason.is_empty(), "{}", case.name);
                    // The deferral target itself is allowed.
                    assert_eq!(
                        check_window(&policy, &[], &r, u),
                        WindowCheck::Allowed,
                        "{}: until is not allowed",
                        case.name
                    );
                }
                (expect, got) => panic!("{}: expected {expect:?}, got {got:?}", case.name),
            }
        }
    }

    #[test]
    fn reasons_are_readable() {
        let policy = QuietHoursPolicy::default();
        let r = Recipient::new("+12125550142");
        let got = check_window(&policy, &[], &r, local(New_York, 2026, 11, 27, 21, 30));
        assert_eq!(defer(&got).2, "21:30 in America/New_York is outside 08:00–21:00 (federal)");
        let al = Recipient::new("+12055550100");
        let got = check_window(&policy, &[], &al, local(Chicago, 2026, 11, 29, 10, 0));
        assert_eq!(defer(&got).2, "Sunday in America/Chicago: no texting on Sundays (state AL, Sunday)");
        let tx = Recipient::new("+12145550100");
        let got = check_window(&policy, &[], &tx, local(Chicago, 2026, 11, 29, 10, 0));
        assert_eq!(defer(&got).2, "10:00 in America/Chicago is outside 12:00–21:00 (state TX, Sunday)");
    }

    #[test]
    fn fallback_zone_is_configurable() {
        let policy = QuietHoursPolicy { fallback_zone: Los_Angeles, ..QuietHoursPolicy::default() };
        let r = Recipient::new("+447911123456");
        // 09:00 Eastern = 06:00 Pacific: deferred to 08:00 Pacific.
        let got = check_window(&policy, &[], &r, local(New_York, 2026, 11, 27, 9, 0));
        assert_eq!(defer(&got).0, local(Los_Angeles, 2026, 11, 27, 8, 0));
        let got = check_window(&policy, &[], &Recipient::new("+19995550100"), local(New_York, 2026, 11, 27, 9, 0));
        assert_eq!(defer(&got).0, local(Los_Angeles, 2026, 11, 27, 8, 0));
    }

    #[test]
    fn dst_gap_window_start_defers_to_transition() {
        // A window starting at 02:30, which does not exist on the spring-forward day in New York.
        let policy = QuietHoursPolicy {
            federal: Window::hm(2, 30, 23, 0),
            states: BTreeMap::new(),
            fallback_zone: New_York,
            inherit_builtin_states: false,
        };
        let r = Recipient::new("+12125550142");
        let now = local(New_York, 2026, 3, 8, 1, 0); // 06:00 UTC
        let (until, _, _) = defer(&check_window(&policy, &[], &r, now));
        // 03:00 EDT == 07:00 UTC, the transition instant.
        assert_eq!(until, Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap());
        assert_eq!(check_window(&policy, &[], &r, until), WindowCheck::Allowed);
    }

    #[test]
    fn dst_overlap_window_start_uses_both_instants() {
        // Window 01:00–01:30 on the fall-back day: both the EDT and the EST 01:00 begin a window.
        let policy = QuietHoursPolicy {
            federal: Window::hm(1, 0, 1, 30),
            states: BTreeMap::new(),
            fallback_zone: New_York,
            inherit_builtin_states: false,
        };
        let r = Recipient::new("+12125550142");
        let first = Utc.with_ymd_and_hms(2026, 11, 1, 5, 0, 0).unwrap(); // 01:00 EDT
        let second = Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap(); // 01:00 EST
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 4, 0, 0).unwrap(); // 00:00 EDT
        assert_eq!(defer(&check_window(&policy, &[], &r, now)).0, first);
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 5, 45, 0).unwrap(); // 01:45 EDT
        assert_eq!(defer(&check_window(&policy, &[], &r, now)).0, second);
    }

    #[test]
    fn misconfiguration_never_loops() {
        let mut closed = StateRule::new(Window::hm(8, 0, 20, 0));
        for d in [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun] {
            closed = closed.closed_on(d);
        }
        let mut policy = QuietHoursPolicy::default();
        policy.states.insert("NY".to_string(), closed);
        assert!(!policy.validate().is_empty());
        let now = local(New_York, 2026, 11, 27, 12, 0);
        let (until, rule, _) = defer(&check_window(&policy, &[], &Recipient::new("+12125550142"), now));
        assert_eq!(rule, "quiet_hours.no_window");
        assert_eq!(until, now + TimeDelta::days(1));

        // Disjoint windows in two zones of one area code (850: Central + Eastern).
        let policy = QuietHoursPolicy { federal: Window::hm(8, 0, 8, 30), ..QuietHoursPolicy::default() };
        let (_, rule, _) = defer(&check_window(&policy, &[], &Recipient::new("+18505550100"), now));
        assert_eq!(rule, "quiet_hours.no_window");

        // Empty federal window.
        let policy = QuietHoursPolicy { federal: Window::hm(9, 0, 9, 0), ..QuietHoursPolicy::default() };
        assert!(!policy.validate().is_empty());
        let (_, rule, _) = defer(&check_window(&policy, &[], &Recipient::new("+12125550142"), now));
        assert_eq!(rule, "quiet_hours.no_window");
    }

    /// Brute force: for many instants and recipients, `until` is allowed and nothing earlier (minute
    /// resolution) is.
    #[test]
    fn deferral_is_earliest_allowed_minute() {
        let policy = QuietHoursPolicy::default();
        let numbers = [
            ("+12125550142", None),
            ("+18505550100", None),
            ("+12145550100", None),
            ("+12055550100", Some("RI")),
            ("+19285550100", None),
            ("+17015550100", Some("TX")),
            ("+14015550100", None),
            ("+12155550100", None),
        ];
        let start = Utc.with_ymd_and_hms(2026, 3, 6, 0, 0, 0).unwrap();
        for (e164, addr) in numbers {
            let r = Recipient { e164, address_state: addr };
            // Every 193 minutes over 4 days spanning the DST change.
            for step in 0..30 {
                let now = start + TimeDelta::minutes(193 * step);
                match check_window(&policy, &[], &r, now) {
                    WindowCheck::Allowed => {}
                    WindowCheck::DeferUntil { until, rule, .. } => {
                        assert_ne!(rule, "quiet_hours.no_window", "{e164} at {now}");
                        assert!(until > now);
                        assert_eq!(check_window(&policy, &[], &r, until), WindowCheck::Allowed);
                        let mut t = now;
                        while t < until {
                            assert_ne!(
                                check_window(&policy, &[], &r, t),
                                WindowCheck::Allowed,
                                "{e164}: {t} allowed before {until}"
                            );
                            t += TimeDelta::minutes(1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn caps() {
        let policy = QuietHoursPolicy::default();
        assert_eq!(cap_per_24h(&policy, &Recipient::new("+13055550100")), Some((3, "cap.state.FL".to_string())));
        assert_eq!(cap_per_24h(&policy, &Recipient::new("+12125550142")), None);
        assert_eq!(
            cap_per_24h(&policy, &Recipient::new("+12125550142").with_address_state("md")),
            Some((3, "cap.state.MD".to_string()))
        );
        assert_eq!(cap_per_24h(&policy, &Recipient::new("+14055550100")), Some((3, "cap.state.OK".to_string())));
        assert_eq!(cap_per_24h(&policy, &Recipient::new("+447911123456")), None);
        // Strictest of two caps wins.
        let mut policy = QuietHoursPolicy::default();
        if let Some(ok) = policy.states.get_mut("OK") {
            ok.max_per_24h = Some(2);
        }
        assert_eq!(
            cap_per_24h(&policy, &Recipient::new("+13055550100").with_address_state("OK")),
            Some((2, "cap.state.OK".to_string()))
        );
    }

    #[test]
    fn csv_parses_cleanly() {
        let t = table();
        assert!(t.skipped.is_empty(), "skipped lines: {:#?}", t.skipped);
        assert!(area_table_problems().is_empty());
        let all = all_area_codes();
        assert_eq!(all.len(), t.rows.len());
        for a in &all {
            assert!(normalize_region(a.region) == Some(a.region), "{}", a.area_code);
            assert!(!a.zones.is_empty(), "{}", a.area_code);
            assert!(a.country().is_some());
        }
        let us = all.iter().filter(|a| a.country() == Some(Country::Us)).count();
        let ca = all.iter().filter(|a| a.country() == Some(Country::Canada)).count();
        assert!(us >= 300, "only {us} US area codes");
        assert!(ca >= 40, "only {ca} Canadian area codes");
        // Every US state, DC and territory is covered.
        for (code, _, country) in REGIONS {
            if *country == Country::Us {
                assert!(!region_zones(code).is_empty(), "no area code for {code}");
            }
        }
        // Non-geographic codes are absent.
        for code in [
            "500", "521", "533", "544", "566", "577", "588", "600", "622", "700", "710", "800", "833", "844", "855",
            "866", "877", "888", "900",
        ] {
            assert_eq!(area_info(&format!("+1{code}5550100")), None, "{code}");
        }
    }

    #[test]
    fn parser_skips_bad_lines() {
        let src = "# comment\narea_code,region,time_zones\n212,NY,America/New_York\n\
                   213,XX,America/Los_Angeles\n214,TX,Mars/Olympus\n215\n21a,PA,America/New_York\n\
                   212,NY,America/New_York\n216,OH,\n 217 , IL , America/Chicago | America/Chicago \n";
        let t = parse_area_table(src);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.skipped.len(), 6, "{:#?}", t.skipped);
        assert_eq!(t.rows.get(&217).map(|r| r.zones.clone()), Some(vec![Tz::America__Chicago]));
    }

    #[test]
    fn known_codes() {
        let cases: &[(&str, u16, &str, Tz)] = &[
            ("+12125550142", 212, "NY", New_York),
            ("+12135550100", 213, "CA", Los_Angeles),
            ("+13125550100", 312, "IL", Chicago),
            ("+16025550100", 602, "AZ", Tz::America__Phoenix),
            ("+18085550100", 808, "HI", Tz::Pacific__Honolulu),
            ("+19075550100", 907, "AK", Tz::America__Anchorage),
            ("+17875550100", 787, "PR", Tz::America__Puerto_Rico),
            ("+14165550100", 416, "ON", Tz::America__Toronto),
            ("+12085550100", 208, "ID", Tz::America__Boise),
            ("+19155550100", 915, "TX", Tz::America__Denver),
            ("+16045550100", 604, "BC", Tz::America__Vancouver),
            ("+12025550100", 202, "DC", New_York),
            ("+16715550100", 671, "GU", Tz::Pacific__Guam),
        ];
        for (e164, code, region, tz) in cases {
            let a = area_info(e164).unwrap_or_else(|| panic!("{e164} unknown"));
            assert_eq!(a.area_code, *code);
            assert_eq!(a.region, *region, "{e164}");
            assert_eq!(a.zones.first(), Some(tz), "{e164}");
        }
        let multi: &[(&str, &[Tz])] = &[
            ("+18505550100", &[Chicago, New_York]),
            ("+12085550100", &[Tz::America__Boise, Los_Angeles]),
            ("+19065550100", &[Tz::America__Detroit, Tz::America__Menominee]),
            ("+15415550100", &[Los_Angeles, Tz::America__Boise]),
            ("+17755550100", &[Los_Angeles, Tz::America__Denver]),
            ("+16205550100", &[Chicago, Tz::America__Denver]),
            ("+17855550100", &[Chicago, Tz::America__Denver]),
            ("+13085550100", &[Chicago, Tz::America__Denver]),
        ];
        for (e164, zones) in multi {
            let a = area_info(e164).unwrap_or_else(|| panic!("{e164} unknown"));
            for z in *zones {
                assert!(a.zones.contains(z), "{e164} lacks {z}");
            }
        }
        assert_eq!(area_info("+12145550100").and_then(|a| a.country()), Some(Country::Us));
        assert_eq!(area_info("+15145550100").and_then(|a| a.country()), Some(Country::Canada));
    }

    #[test]
    fn area_info_rejects_malformed() {
        for bad in [
            "",
            "+1",
            "+1212555014",
            "+121255501420",
            "12125550142",
            "+1212555014x",
            "+447911123456",
            "+18765550100", // Jamaica: NANP but not US/Canada
        ] {
            assert_eq!(area_info(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn region_helpers() {
        assert_eq!(normalize_region(" fl "), Some("FL"));
        assert_eq!(normalize_region("New York"), Some("NY"));
        assert_eq!(normalize_region("Quebec"), Some("QC"));
        assert_eq!(normalize_region("XX"), None);
        assert!(region_zones("TX").contains(&Tz::America__Denver));
        assert!(region_zones("FL").contains(&Chicago));
        assert!(region_zones("zz").is_empty());
    }

    #[test]
    fn default_policy_is_valid_and_complete() {
        let p = QuietHoursPolicy::default();
        assert_eq!(p.validate(), Vec::<String>::new());
        assert_eq!(p.federal, Window::hm(8, 0, 21, 0));
        assert_eq!(p.fallback_zone, New_York);
        for code in [
            "FL", "OK", "MD", "WA", "CT", "TX", "VA", "NJ", "AL", "LA", "MS", "MA", "KY", "MI", "MN", "NM", "NV", "CA",
            "RI", "IL", "PA", "UT",
        ] {
            assert!(p.states.contains_key(code), "{code} missing");
        }
        assert_eq!(p.states.len(), 22);
        let tx = &p.states["TX"];
        assert_eq!(tx.window_on(Weekday::Sun), Some(Window::hm(12, 0, 21, 0)));
        assert_eq!(tx.window_on(Weekday::Sat), Some(Window::hm(9, 0, 21, 0)));
        assert_eq!(p.states["AL"].window_on(Weekday::Sun), None);
        assert_eq!(p.states["PA"].window_on(Weekday::Sun), None);
        for code in ["FL", "OK", "MD"] {
            assert_eq!(p.states[code].max_per_24h, Some(3));
        }
    }

    #[test]
    fn window_serde_hhmm() {
        let w = Window::hm(8, 0, 21, 0);
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#"{"start":"08:00","end":"21:00"}"#);
        assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), w);
        let w2: Window = serde_json::from_str(r#"{"start":"8:05:30","end":"20:00"}"#).unwrap();
        assert_eq!(w2.start, NaiveTime::from_hms_opt(8, 5, 30).unwrap());
        assert_eq!(serde_json::to_string(&w2).unwrap(), r#"{"start":"08:05:30","end":"20:00"}"#);
        for bad in [
            r#"{"start":"8am","end":"20:00"}"#,
            r#"{"start":"24:00","end":"20:00"}"#,
            r#"{"start":"08:00"}"#,
            r#"{"start":"08:00","end":"20:00","tz":"x"}"#,
        ] {
            assert!(serde_json::from_str::<Window>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weekday_serde_format() {
        let rule = StateRule::new(Window::hm(8, 0, 20, 0)).closed_on(Weekday::Sun);
        let json = serde_json::to_value(&rule).unwrap();
        assert_eq!(json["closed_days"], serde_json::json!(["Sun"]));
        for spelling in ["Sun", "Sunday", "sunday", "SUN"] {
            let v = serde_json::json!({"window": {"start": "08:00", "end": "20:00"}, "closed_days": [spelling]});
            let r: StateRule = serde_json::from_value(v).unwrap();
            assert_eq!(r.closed_days, vec![Weekday::Sun], "{spelling}");
        }
        let v = serde_json::json!({"window": {"start": "08:00", "end": "20:00"}, "closed_days": ["Funday"]});
        assert!(serde_json::from_value::<StateRule>(v).is_err());
    }

    #[test]
    fn policy_serde_round_trip() {
        let p = QuietHoursPolicy::default();
        let json = serde_json::to_string(&p).unwrap();
        let back: QuietHoursPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);

        // Shaped like the config.toml section, as JSON.
        let cfg = serde_json::json!({
            "federal": {"start": "08:00", "end": "21:00"},
            "fallback_zone": "America/Chicago",
            "states": {
                "FL": {"window": {"start": "08:00", "end": "20:00"}, "max_per_24h": 3},
                "tx": {"window": {"start": "09:00", "end": "21:00"},
                       "sunday": {"start": "12:00", "end": "21:00"}},
                "AL": {"window": {"start": "08:00", "end": "20:00"}, "closed_days": ["Sun"]}
            }
        });
        let p: QuietHoursPolicy = serde_json::from_value(cfg).unwrap();
        assert_eq!(p.fallback_zone, Chicago);
        assert_eq!(p.states["FL"].max_per_24h, Some(3));
        assert_eq!(p.states["TX"].sunday, Some(Window::hm(12, 0, 21, 0)));
        // Built-ins not mentioned are inherited.
        assert_eq!(p.states["CT"].window, Window::hm(9, 0, 20, 0));
        assert_eq!(p.states.len(), builtin_states().len());
        let again: QuietHoursPolicy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(again, p);

        // Empty section = default policy.
        let p: QuietHoursPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, QuietHoursPolicy::default());

        // Opting out of the built-in table.
        let p: QuietHoursPolicy = serde_json::from_value(serde_json::json!({
            "inherit_builtin_states": false,
            "states": {"FL": {"window": {"start": "08:00", "end": "20:00"}}}
        }))
        .unwrap();
        assert_eq!(p.states.keys().collect::<Vec<_>>(), vec!["FL"]);

        // Typos are rejected rather than silently ignored.
        assert!(serde_json::from_value::<QuietHoursPolicy>(serde_json::json!({
            "states": {"FL": {"window": {"start": "08:00", "end": "20:00"}, "max_per_day": 3}}
        }))
        .is_err());
        assert!(serde_json::from_value::<QuietHoursPolicy>(serde_json::json!({
            "fallback_zone": "America/Nowhere"
        }))
        .is_err());
    }

    #[test]
    fn validate_flags_bad_keys() {
        let mut p = QuietHoursPolicy::default();
        p.states.insert("Florida".to_string(), StateRule::new(Window::hm(20, 0, 8, 0)));
        let problems = p.validate();
        assert_eq!(problems.len(), 3, "{problems:#?}");
    }

    #[test]
    fn embedded_tables_parse_and_every_row_has_a_source() {
        assert_eq!(builtin_table_problems(), Vec::<String>::new());
        let states = builtin_states();
        assert_eq!(states.len(), 22);
        for (code, rule) in &states {
            let src = builtin_state_source(code).unwrap_or_else(|| panic!("{code}: no source"));
            assert!(src.citation.len() > 10, "{code}: citation {:?}", src.citation);
            if src.confidence == Confidence::Strong {
                assert!(!src.urls.is_empty(), "{code}: a strong row names a public URL");
            }
            for u in &src.urls {
                assert!(u.starts_with("http://") || u.starts_with("https://"), "{code}: url {u:?}");
            }
            for set in &rule.holidays {
                assert!(!holidays_of(set).is_empty(), "{code}: unknown holiday set {set}");
            }
        }
        let sets = holiday_sets();
        assert_eq!(sets, vec!["AL", "LA", "PA", "RI", "UT", "federal"]);
        assert_eq!(holidays_of("federal").len(), 11);
        for set in sets {
            for h in holidays_of(set) {
                assert!(!h.source.citation.is_empty() && !h.source.urls.is_empty(), "{set} {}", h.name);
            }
        }
        assert_eq!(builtin_state_source("ri").map(|s| s.confidence), Some(Confidence::Strong));
        assert_eq!(builtin_state_source("NJ").map(|s| s.confidence), Some(Confidence::Vendor));
    }

    #[test]
    fn table_parser_reports_bad_rows() {
        let t = parse_state_table(
            "# comment\n\
             FL | 08:00-20:00 | - | - | - | 3 | - | strong | Fla. Stat. x | https://a\n\
             XX | 08:00-20:00 | - | - | - | - | - | strong | c | -\n\
             NY | 20:00-08:00 | - | - | - | - | - | strong | c | -\n\
             NV | 08:00-20:00 | - | - | - | - | nope | strong | c | -\n\
             MA | 08:00-20:00 | - | - | - | - | - | sure | c | -\n\
             CT | 08:00-20:00 | - | - | - | - | - | strong | - | -\n\
             FL | 08:00-20:00 | - | - | - | 3 | - | strong | dup | -\n\
             TX | 08:00-20:00\n",
        );
        assert_eq!(t.rules.keys().collect::<Vec<_>>(), vec!["FL"]);
        assert_eq!(t.skipped.len(), 7, "{:#?}", t.skipped);
        let h = parse_holiday_table(
            "federal | A | fixed:02-30 | none | - | strong | c | -\n\
             federal | B | nth:6:Mon:01 | none | - | strong | c | -\n\
             federal | C | easter:x | none | - | strong | c | -\n\
             federal | D | fixed:01-01 | sometimes | - | strong | c | -\n\
             fl | E | fixed:01-01 | none | - | strong | c | -\n\
             RI | F | last:Mon:05 | none | - | strong | c | -\n",
        );
        assert_eq!(h.skipped.len(), 5, "{:#?}", h.skipped);
        assert_eq!(h.by_set["RI"].len(), 1);
    }

    /// The data file keeps the rules of the previous hard-coded table for every state except RI (now as
    /// written in its statute) and the holiday bans (AL, LA, PA gain holiday sets; UT is new).
    #[test]
    fn data_file_keeps_previous_rules() {
        use Weekday::Sun;
        let w8_20 = Window::hm(8, 0, 20, 0);
        let w9_21 = Window::hm(9, 0, 21, 0);
        let previous: Vec<(&str, StateRule)> = vec![
            ("FL", StateRule::new(w8_20).with_cap(3)),
            ("OK", StateRule::new(w8_20).with_cap(3)),
            ("MD", StateRule::new(w8_20).with_cap(3)),
            ("WA", StateRule::new(w8_20)),
            ("CT", StateRule::new(Window::hm(9, 0, 20, 0))),
            ("TX", StateRule::new(w9_21).with_sunday(Window::hm(12, 0, 21, 0))),
            ("VA", StateRule::new(Window::FEDERAL)),
            ("NJ", StateRule::new(w8_20)),
            ("AL", StateRule::new(w8_20).closed_on(Sun)),
            ("LA", StateRule::new(w8_20).closed_on(Sun)),
            ("MS", StateRule::new(w8_20).closed_on(Sun)),
            ("MA", StateRule::new(w8_20)),
            ("KY", StateRule::new(Window::hm(10, 0, 21, 0))),
            ("MI", StateRule::new(w9_21)),
            ("MN", StateRule::new(w9_21)),
            ("NM", StateRule::new(w9_21)),
            ("NV", StateRule::new(Window::hm(9, 0, 20, 0))),
            ("CA", StateRule::new(w9_21)),
            ("IL", StateRule::new(w9_21)),
            ("PA", StateRule::new(Window::hm(9, 0, 20, 0)).closed_on(Sun)),
        ];
        let now = builtin_states();
        for (code, old) in previous {
            let mut new = now[code].clone();
            new.holidays.clear();
            assert_eq!(new, old, "{code}");
        }
        for code in ["AL", "LA", "PA", "RI", "UT"] {
            assert_eq!(now[code].holidays, vec!["federal".to_string(), code.to_string()], "{code}");
        }
        let ri = &now["RI"];
        assert_eq!(ri.window_on(Weekday::Mon), Some(Window::hm(9, 0, 18, 0)));
        assert_eq!(ri.window_on(Weekday::Sat), Some(Window::hm(10, 0, 17, 0)));
        assert_eq!(ri.window_on(Sun), None);
        assert_eq!(now["UT"].window_on(Weekday::Mon), Some(Window::FEDERAL));
        assert_eq!(now["UT"].window_on(Sun), None);
    }

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn easter_known_dates() {
        for (y, m, d) in [(2024, 3, 31), (2025, 4, 20), (2026, 4, 5), (2027, 3, 28), (2038, 4, 25), (2000, 4, 23)] {
            assert_eq!(easter_sunday(y), Some(ymd(y, m, d)), "{y}");
        }
    }

    #[test]
    fn federal_holidays_by_rule() {
        let fed = |d: NaiveDate| holiday_on("federal", d);
        let named = |y, m, d, name: &str| {
            assert_eq!(fed(ymd(y, m, d)).as_deref(), Some(name), "{y}-{m}-{d}");
        };
        named(2026, 1, 1, "New Year's Day");
        named(2026, 1, 19, "Birthday of Martin Luther King, Jr.");
        named(2026, 2, 16, "Washington's Birthday");
        named(2026, 5, 25, "Memorial Day");
        named(2026, 6, 19, "Juneteenth National Independence Day");
        named(2026, 7, 4, "Independence Day");
        named(2026, 7, 3, "Independence Day (observed)");
        named(2026, 9, 7, "Labor Day");
        named(2026, 10, 12, "Columbus Day");
        named(2026, 11, 11, "Veterans Day");
        named(2026, 11, 26, "Thanksgiving Day");
        named(2026, 12, 25, "Christmas Day");
        // Saturday New Year's Day 2022 -> Friday 2021-12-31; Sunday holidays -> Monday.
        named(2021, 12, 31, "New Year's Day (observed)");
        named(2022, 6, 20, "Juneteenth National Independence Day (observed)");
        named(2022, 12, 26, "Christmas Day (observed)");
        named(2027, 7, 5, "Independence Day (observed)");
        named(2027, 12, 24, "Christmas Day (observed)");
        named(2027, 12, 31, "New Year's Day (observed)");
        named(2033, 11, 24, "Thanksgiving Day");
        // Juneteenth only since 2021; ordinary days are not holidays.
        assert_eq!(fed(ymd(2020, 6, 19)), None);
        assert_eq!(fed(ymd(2026, 11, 27)), None);
        assert_eq!(fed(ymd(2026, 7, 6)), None);
        // State sets.
        assert_eq!(holiday_on("RI", ymd(2026, 8, 10)).as_deref(), Some("Victory Day"));
        assert_eq!(holiday_on("RI", ymd(2026, 5, 4)).as_deref(), Some("Rhode Island Independence Day"));
        assert_eq!(holiday_on("RI", ymd(2026, 11, 3)).as_deref(), Some("Election Day"));
        assert_eq!(holiday_on("RI", ymd(2027, 11, 2)), None);
        // RI: July 4, 2026 (Saturday) is also celebrated on Monday July 6.
        assert_eq!(holiday_on("RI", ymd(2026, 7, 6)).as_deref(), Some("Independence Day (Rhode Island) (observed)"));
        assert_eq!(holiday_on("AL", ymd(2026, 4, 27)).as_deref(), Some("Confederate Memorial Day"));
        assert_eq!(holiday_on("AL", ymd(2026, 6, 1)).as_deref(), Some("Birthday of Jefferson Davis"));
        assert_eq!(holiday_on("LA", ymd(2026, 2, 17)).as_deref(), Some("Mardi Gras"));
        assert_eq!(holiday_on("LA", ymd(2026, 4, 3)).as_deref(), Some("Good Friday"));
        assert_eq!(holiday_on("UT", ymd(2026, 7, 24)).as_deref(), Some("Pioneer Day"));
        // Utah Juneteenth 2026 (a Friday) is the preceding Monday.
        assert_eq!(
            holiday_on("UT", ymd(2026, 6, 15)).as_deref(),
            Some("Juneteenth National Freedom Day (Utah) (observed)")
        );
        assert_eq!(holiday_on("PA", ymd(2026, 6, 14)).as_deref(), Some("Flag Day"));
        assert_eq!(holiday_on("nope", ymd(2026, 1, 1)), None);
    }

    #[test]
    fn blackout_validation_names_the_entry() {
        let ok = Blackout::new(&["FL", "*", "ga"], ymd(2026, 12, 1), ymd(2026, 12, 3));
        assert_eq!(validate_blackouts(std::slice::from_ref(&ok)), Vec::<String>::new());
        let bad = vec![
            ok,
            Blackout::new(&["FL"], ymd(2026, 12, 3), ymd(2026, 12, 1)),
            Blackout::new(&["Florida", "XX"], ymd(2026, 12, 1), ymd(2026, 12, 1)),
            Blackout::new(&[], ymd(2026, 12, 1), ymd(2026, 12, 1)),
            Blackout::new(&["FL"], ymd(2026, 12, 1), ymd(2062, 12, 1)),
        ];
        let problems = validate_blackouts(&bad);
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].starts_with("compliance.blackouts[1]: from 2026-12-03 is after to 2026-12-01"));
        assert!(problems[1].starts_with("compliance.blackouts[2]: unknown state \"Florida\""));
        assert!(problems[2].starts_with("compliance.blackouts[2]: unknown state \"XX\""));
        assert!(problems[3].starts_with("compliance.blackouts[3]: states is empty"));
        assert!(problems[4].starts_with("compliance.blackouts[4]:"), "{}", problems[4]);
    }

    #[test]
    fn blackout_serde() {
        let v = serde_json::json!({"states": ["FL"], "from": "2026-12-01", "to": "2026-12-03", "reason": "storm"});
        let b: Blackout = serde_json::from_value(v).unwrap();
        assert_eq!(b, Blackout::new(&["FL"], ymd(2026, 12, 1), ymd(2026, 12, 3)).with_reason("storm"));
        let back: Blackout = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
        let bad = serde_json::json!({"states": ["FL"], "from": "12/01/2026", "to": "2026-12-03"});
        let err = serde_json::from_value::<Blackout>(bad).unwrap_err().to_string();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
        let typo = serde_json::json!({"states": ["FL"], "from": "2026-12-01", "until": "2026-12-03"});
        assert!(serde_json::from_value::<Blackout>(typo).is_err());
    }

    #[test]
    fn unknown_holiday_set_is_a_policy_problem() {
        let mut p = QuietHoursPolicy::default();
        p.states.insert("NY".to_string(), StateRule::new(Window::FEDERAL).closed_on_holidays("NY"));
        let problems = p.validate();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].starts_with("states.NY.holidays: unknown holiday set \"NY\""), "{}", problems[0]);
    }
}
