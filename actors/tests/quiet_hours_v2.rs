//! Quiet hours v2: Rhode Island as written in its statute, holiday bans, operator blackouts.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::America::{Chicago, Denver, New_York};
use chrono_tz::Tz;
use leadline_core::quiet_hours::{
    applicable_zones, area_info, check_window, holiday_on, Blackout, QuietHoursPolicy, Recipient, WindowCheck,
};
use proptest::prelude::*;

const RHODE_ISLAND: &str = "+14015550100";
const BIRMINGHAM_AL: &str = "+12055550100";
const PHENIX_CITY_AL: &str = "+13345550100"; // Central and Eastern
const MIAMI_FL: &str = "+13055550100";
const NEW_YORK: &str = "+12125550142";
const NEW_ORLEANS_LA: &str = "+15045550100";
const PHILADELPHIA_PA: &str = "+12155550100";
const SALT_LAKE_UT: &str = "+18015550100";

fn local(zone: Tz, y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    zone.with_ymd_and_hms(y, m, d, h, mi, 0).earliest().expect("valid local time").with_timezone(&Utc)
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn check(phone: &str, blackouts: &[Blackout], now: DateTime<Utc>) -> WindowCheck {
    check_window(&QuietHoursPolicy::default(), blackouts, &Recipient::new(phone), now)
}

fn deferred(c: &WindowCheck) -> (DateTime<Utc>, &str, &str) {
    match c {
        WindowCheck::DeferUntil { until, rule, reason } => (*until, rule.as_str(), reason.as_str()),
        WindowCheck::Allowed => panic!("expected a deferral, got Allowed"),
    }
}

// 2026-11-28 is a Saturday, 2026-11-29 a Sunday, 2026-11-30 a Monday.

#[test]
fn rhode_island_sunday_deferred_to_monday_0900() {
    let c = check(RHODE_ISLAND, &[], local(New_York, 2026, 11, 29, 12, 0));
    let (until, rule, reason) = deferred(&c);
    assert_eq!(until, local(New_York, 2026, 11, 30, 9, 0));
    assert_eq!(rule, "quiet_hours.state.RI.sunday");
    assert_eq!(reason, "Sunday in America/New_York: no texting on Sundays (state RI, Sunday)");
}

#[test]
fn rhode_island_saturday_1730_deferred_to_monday_0900() {
    let c = check(RHODE_ISLAND, &[], local(New_York, 2026, 11, 28, 17, 30));
    let (until, rule, _) = deferred(&c);
    assert_eq!(until, local(New_York, 2026, 11, 30, 9, 0));
    assert_eq!(rule, "quiet_hours.state.RI.saturday");
    // Saturday 10:00-17:00 and weekdays 09:00-18:00 still apply.
    assert_eq!(check(RHODE_ISLAND, &[], local(New_York, 2026, 11, 28, 16, 59)), WindowCheck::Allowed);
    assert_eq!(check(RHODE_ISLAND, &[], local(New_York, 2026, 11, 30, 17, 59)), WindowCheck::Allowed);
}

#[test]
fn rhode_island_victory_day_deferred_to_tuesday() {
    // Victory Day 2026: second Monday of August = August 10.
    let c = check(RHODE_ISLAND, &[], local(New_York, 2026, 8, 10, 11, 0));
    let (until, rule, reason) = deferred(&c);
    assert_eq!(until, local(New_York, 2026, 8, 11, 9, 0));
    assert_eq!(rule, "quiet_hours.holiday");
    assert!(reason.contains("Victory Day"), "{reason}");
    // A Saturday before a Monday holiday: Sunday closed, Monday holiday -> Tuesday 09:00.
    let c = check(RHODE_ISLAND, &[], local(New_York, 2026, 8, 8, 17, 30));
    assert_eq!(deferred(&c).0, local(New_York, 2026, 8, 11, 9, 0));
}

#[test]
fn alabama_thanksgiving_2026_deferred_to_friday_0800() {
    let c = check(BIRMINGHAM_AL, &[], local(Chicago, 2026, 11, 26, 12, 0));
    let (until, rule, reason) = deferred(&c);
    assert_eq!(until, local(Chicago, 2026, 11, 27, 8, 0));
    assert_eq!(rule, "quiet_hours.holiday");
    assert_eq!(reason, "Thursday 2026-11-26 in America/Chicago is Thanksgiving Day: no texting on holidays (state AL)");
    // Not a holiday-ban state: New York is open on Thanksgiving within the federal window.
    assert_eq!(check(NEW_YORK, &[], local(New_York, 2026, 11, 26, 12, 0)), WindowCheck::Allowed);
}

#[test]
fn july_4_2026_is_a_saturday_observed_friday_july_3() {
    assert_eq!(holiday_on("federal", ymd(2026, 7, 3)).as_deref(), Some("Independence Day (observed)"));
    for (phone, zone) in [(BIRMINGHAM_AL, Chicago), (SALT_LAKE_UT, Denver), (PHILADELPHIA_PA, New_York)] {
        let c = check(phone, &[], local(zone, 2026, 7, 3, 12, 0));
        let (until, rule, reason) = deferred(&c);
        assert_eq!(rule, "quiet_hours.holiday", "{phone}");
        assert!(reason.contains("Independence Day (observed)"), "{phone}: {reason}");
        // Saturday July 4 itself is banned too, Sunday is closed: Monday July 6.
        let start = if phone == PHILADELPHIA_PA { 9 } else { 8 };
        assert_eq!(until, local(zone, 2026, 7, 6, start, 0), "{phone}");
    }
    assert_eq!(check(NEW_YORK, &[], local(New_York, 2026, 7, 3, 12, 0)), WindowCheck::Allowed);
}

#[test]
fn louisiana_mardi_gras_is_computed_from_easter() {
    // Easter 2026 is April 5: Mardi Gras is February 17.
    let c = check(NEW_ORLEANS_LA, &[], local(Chicago, 2026, 2, 17, 12, 0));
    let (until, rule, reason) = deferred(&c);
    assert_eq!(rule, "quiet_hours.holiday");
    assert!(reason.contains("Mardi Gras"), "{reason}");
    assert_eq!(until, local(Chicago, 2026, 2, 18, 8, 0));
}

#[test]
fn florida_blackout_defers_to_the_morning_after_and_spares_new_york() {
    let blackouts = [Blackout::new(&["FL"], ymd(2026, 12, 1), ymd(2026, 12, 3)).with_reason("state of emergency")];
    let c = check(MIAMI_FL, &blackouts, local(New_York, 2026, 12, 2, 12, 0));
    let (until, rule, reason) = deferred(&c);
    assert_eq!(until, local(New_York, 2026, 12, 4, 8, 0));
    assert_eq!(rule, "quiet_hours.blackout");
    assert_eq!(
        reason,
        "Wednesday 2026-12-02 in America/New_York is inside the operator blackout 2026-12-01 to 2026-12-03 \
         for FL: state of emergency"
    );
    assert_eq!(check(NEW_YORK, &blackouts, local(New_York, 2026, 12, 2, 12, 0)), WindowCheck::Allowed);
    // The evening before the blackout: FL closes at 20:00, so the next window is after it.
    let c = check(MIAMI_FL, &blackouts, local(New_York, 2026, 11, 30, 20, 30));
    assert_eq!(deferred(&c).0, local(New_York, 2026, 12, 4, 8, 0));
    // By address state too, and "*" means everyone.
    let r = Recipient::new(NEW_YORK).with_address_state("Florida");
    let c = check_window(&QuietHoursPolicy::default(), &blackouts, &r, local(New_York, 2026, 12, 2, 12, 0));
    assert_eq!(deferred(&c).1, "quiet_hours.blackout");
    let all = [Blackout::new(&["*"], ymd(2026, 12, 2), ymd(2026, 12, 2))];
    let c = check(NEW_YORK, &all, local(New_York, 2026, 12, 2, 12, 0));
    assert_eq!(deferred(&c).0, local(New_York, 2026, 12, 3, 8, 0));
    let c = check("+447911123456", &all, local(New_York, 2026, 12, 2, 12, 0));
    assert_eq!(deferred(&c).1, "quiet_hours.blackout");
}

#[test]
fn long_blackout_is_searched_past_its_end() {
    let blackouts = [Blackout::new(&["fl"], ymd(2026, 9, 1), ymd(2026, 10, 15))];
    let c = check(MIAMI_FL, &blackouts, local(New_York, 2026, 9, 10, 12, 0));
    assert_eq!(deferred(&c).0, local(New_York, 2026, 10, 16, 8, 0));
}

/// Whether some local date of the recipient is a banned holiday of one of its states, or inside a
/// blackout naming one of its states, at instant `t` (an oracle built from the public calendar API).
fn banned_date(phone: &str, blackouts: &[Blackout], t: DateTime<Utc>) -> Option<String> {
    let policy = QuietHoursPolicy::default();
    let r = Recipient::new(phone);
    let region = area_info(phone).map(|a| a.region.to_string());
    for zone in applicable_zones(&policy, &r) {
        let date = t.with_timezone(&zone).date_naive();
        if let Some(rule) = region.as_deref().and_then(|code| policy.states.get(code)) {
            for set in &rule.holidays {
                if let Some(h) = holiday_on(set, date) {
                    return Some(format!("{h} in {zone}"));
                }
            }
        }
        for b in blackouts {
            let names = b.states.iter().any(|s| s == "*" || Some(s.to_ascii_uppercase()) == region);
            if names && b.covers(date) {
                return Some(format!("blackout {}..{} in {zone}", b.from, b.to));
            }
        }
    }
    None
}

fn blackout_strategy() -> impl Strategy<Value = Blackout> {
    (prop::sample::select(vec!["FL", "RI", "AL", "NY", "UT", "*"]), 0i64..40, 0i64..6).prop_map(|(s, start, len)| {
        let from = ymd(2026, 11, 1) + TimeDelta::days(start);
        Blackout::new(&[s], from, from + TimeDelta::days(len))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// check_window never allows, and never defers to, an instant on a banned holiday or inside a
    /// blackout for the recipient's states; a deferral target is itself allowed.
    #[test]
    fn never_allows_a_banned_date(
        phone in prop::sample::select(vec![
            RHODE_ISLAND, BIRMINGHAM_AL, PHENIX_CITY_AL, MIAMI_FL, NEW_YORK, NEW_ORLEANS_LA, PHILADELPHIA_PA,
            SALT_LAKE_UT,
        ]),
        // 2024-01-01 .. about 2032: covers every holiday rule across many years; plus a dense window
        // around the generated blackouts.
        minutes in prop_oneof![0i64..(9 * 366 * 24 * 60), (1_490_000i64..1_560_000)],
        blackouts in prop::collection::vec(blackout_strategy(), 0..3),
    ) {
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minutes);
        match check(phone, &blackouts, now) {
            WindowCheck::Allowed => {
                prop_assert_eq!(banned_date(phone, &blackouts, now), None, "{} allowed at {}", phone, now);
            }
            WindowCheck::DeferUntil { until, rule, reason } => {
                prop_assert_ne!(rule.as_str(), "quiet_hours.no_window", "{}", reason);
                prop_assert!(until > now);
                prop_assert_eq!(banned_date(phone, &blackouts, until), None, "{} deferred into a ban: {}", phone, until);
                prop_assert_eq!(check(phone, &blackouts, until), WindowCheck::Allowed);
                // Nothing earlier is allowed (sampled: 6 instants between now and until).
                let span = (until - now).num_minutes();
                for k in 1..=6 {
                    let t = now + TimeDelta::minutes(span * k / 7);
                    if t < until {
                        prop_assert_ne!(check(phone, &blackouts, t), WindowCheck::Allowed, "{} at {}", phone, t);
                    }
                }
            }
        }
    }
}
