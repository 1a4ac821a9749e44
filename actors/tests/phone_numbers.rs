//! Phone-number normalisation: valid numbers of many countries, written in the ways people write them,
//! parse to themselves; libphonenumber's published example numbers parse to exactly themselves; no input
//! is ever turned into a different number.

use leadline_core::phone::{Phone, PhoneError};
use phonenumber::metadata::DATABASE;
use phonenumber::Mode;
use proptest::prelude::*;

/// A template of valid national significant numbers: fixed leading digits followed by `free` random
/// digits. Prefixes follow libphonenumber's metadata for the country (fixed-line and mobile ranges).
struct Template {
    country: &'static str,
    cc: &'static str,
    lead: &'static str,
    free: usize,
    /// The country's national (trunk) prefix, written "(0)" after the country code by some people.
    trunk_zero: bool,
}

const fn t(country: &'static str, cc: &'static str, lead: &'static str, free: usize, trunk_zero: bool) -> Template {
    Template { country, cc, lead, free, trunk_zero }
}

const TEMPLATES: &[Template] = &[
    // NANP: area code, then an exchange 2-9xx (the exchange's first digit is part of `lead`).
    t("US", "1", "2125", 6, false),
    t("US", "1", "6467", 6, false),
    t("US", "1", "4153", 6, false),
    t("US", "1", "3128", 6, false),
    t("US", "1", "7134", 6, false),
    t("CA", "1", "4162", 6, false),
    t("CA", "1", "6049", 6, false),
    t("CA", "1", "5143", 6, false),
    t("CA", "1", "4035", 6, false),
    t("PR", "1", "7872", 6, false),
    t("PR", "1", "9394", 6, false),
    // GB: mobile 74xx, London 20 7/8.
    t("GB", "44", "740", 7, true),
    t("GB", "44", "7712", 6, true),
    t("GB", "44", "207", 7, true),
    // DE: mobile 151/176, Berlin 30.
    t("DE", "49", "151", 8, true),
    t("DE", "49", "176", 8, true),
    t("DE", "49", "302", 7, true),
    // FR: Paris 1, mobile 6.
    t("FR", "33", "14", 7, true),
    t("FR", "33", "61", 7, true),
    t("FR", "33", "75", 7, true),
    // MX: Mexico City 55, Guadalajara 33 (no national prefix since 2019).
    t("MX", "52", "552", 7, false),
    t("MX", "52", "331", 7, false),
    // ES: mobile 6, Madrid 91 (no national prefix).
    t("ES", "34", "6", 8, false),
    t("ES", "34", "912", 6, false),
    // AU: mobile 41x, Sydney 29.
    t("AU", "61", "41", 7, true),
    t("AU", "61", "29", 7, true),
    // IN: mobile 98/99.
    t("IN", "91", "98", 8, true),
    t("IN", "91", "99", 8, true),
    // BR: São Paulo mobile 11 9, fixed 11 3.
    t("BR", "55", "119", 8, true),
    t("BR", "55", "113", 7, true),
];

/// The ways a number is written: E.164, grouped international, 00 and 011 international prefixes,
/// national format (NANP) with and without the trunk 1, and "+CC (0) ..." where the country has trunk 0.
fn spellings(tpl: &Template, e164: &str) -> Vec<String> {
    let parsed = phonenumber::parse(None, e164).expect("template number parses");
    let intl = parsed.format().mode(Mode::International).to_string();
    let national = parsed.format().mode(Mode::National).to_string();
    let digits = &e164[1..];
    let mut out = vec![
        e164.to_string(),
        intl.clone(),
        format!(" {intl} "),
        format!("00{digits}"),
        format!("00 {}", &intl[1..]),
        format!("011 {}", &intl[1..]),
        intl.replace(' ', "-"),
        intl.replace(' ', "."),
    ];
    if tpl.cc == "1" {
        let nsn = &digits[1..];
        out.push(national.clone()); // (212) 555-0142
        out.push(nsn.to_string());
        out.push(format!("1{nsn}"));
        out.push(format!("1 {national}"));
        out.push(format!("{}-{}-{}", &nsn[..3], &nsn[3..6], &nsn[6..]));
    }
    if tpl.trunk_zero {
        if let Some(rest) = national.strip_prefix('0') {
            out.push(format!("+{} (0){rest}", tpl.cc));
            out.push(format!("+{} (0) {rest}", tpl.cc));
        }
    }
    out
}

fn template_number() -> impl Strategy<Value = (usize, String)> {
    (0..TEMPLATES.len()).prop_flat_map(|i| {
        let tpl = &TEMPLATES[i];
        proptest::collection::vec(0u8..10, tpl.free).prop_map(move |free| {
            let tpl = &TEMPLATES[i];
            let tail: String = free.iter().map(|d| char::from(b'0' + d)).collect();
            (i, format!("+{}{}{}", tpl.cc, tpl.lead, tail))
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Valid numbers of US, CA, PR, GB, DE, FR, MX, ES, AU, IN, BR, in every spelling, parse to their own
    /// E.164 form.
    #[test]
    fn valid_numbers_round_trip_in_every_spelling((i, e164) in template_number()) {
        let tpl = &TEMPLATES[i];
        let parsed = phonenumber::parse(None, &e164).expect("parses");
        prop_assert!(phonenumber::is_valid(&parsed), "template produced an invalid number {}", e164);
        for s in spellings(tpl, &e164) {
            let got = Phone::parse(&s);
            prop_assert_eq!(got.as_ref().map(Phone::as_str), Ok(e164.as_str()), "{} ({}) from {:?}", e164, tpl.country, s);
        }
    }

    /// Whatever digits come after a '+', the stored number is those digits, or those digits minus a
    /// national prefix 0 (or NANP 1) right after the country code; never anything else.
    #[test]
    fn any_digits_parse_to_themselves_or_not_at_all(digits in "[1-9][0-9]{6,14}") {
        let input = format!("+{digits}");
        if let Ok(p) = Phone::parse(&input) {
            let got = &p.as_str()[1..];
            let (cc, nsn) = p.split().expect("stored numbers have a known country code");
            let with_trunk = |t: &str| format!("{cc}{t}{nsn}") == digits;
            prop_assert!(got == digits || with_trunk("0") || with_trunk("1"), "{} stored as {}", input, p.as_str());
            let again = Phone::parse(p.as_str());
            prop_assert_eq!(again.as_ref().map(Phone::as_str), Ok(p.as_str()));
        }
    }

    /// Ten-digit NANP numbers without a country code are always +1 and those ten digits.
    #[test]
    fn nanp_national_numbers_get_plus_one(digits in "[2-9][0-9]{9}") {
        if let Ok(p) = Phone::parse(&digits) {
            prop_assert_eq!(p.as_str(), format!("+1{digits}"));
        }
    }
}

/// Every example number of libphonenumber's metadata (PhoneNumberMetadata.xml `exampleNumber`, embedded
/// in the `phonenumber` crate), for every region and number type, parses to exactly itself.
#[test]
fn libphonenumber_example_numbers_parse_to_themselves() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for meta in DATABASE.iter() {
        let d = meta.descriptors();
        let kinds = [
            ("fixedLine", d.fixed_line()),
            ("mobile", d.mobile()),
            ("tollFree", d.toll_free()),
            ("premiumRate", d.premium_rate()),
            ("sharedCost", d.shared_cost()),
            ("personalNumber", d.personal_number()),
            ("voip", d.voip()),
            ("pager", d.pager()),
            ("uan", d.uan()),
            ("voicemail", d.voicemail()),
        ];
        for (kind, desc) in kinds {
            let Some(example) = desc.and_then(|x| x.example()) else { continue };
            let e164 = format!("+{}{example}", meta.country_code());
            checked += 1;
            match Phone::parse(&e164) {
                Ok(p) if p.as_str() == e164 => {}
                other => failures.push(format!("{} {kind} {e164}: {other:?}", meta.id())),
            }
        }
    }
    assert!(checked > 1000, "only {checked} examples found");
    assert!(failures.is_empty(), "{} of {checked} examples failed:\n{}", failures.len(), failures.join("\n"));
}

/// A fixed table of libphonenumber example numbers (PhoneNumberMetadata.xml), written as people write them.
#[test]
fn example_number_table() {
    let table = [
        ("+1 201-555-0123", "+12015550123"),      // US fixedLine
        ("+1 506-234-5678", "+15062345678"),      // CA fixedLine
        ("+1 787-234-5678", "+17872345678"),      // PR fixedLine
        ("+44 7400 123456", "+447400123456"),     // GB mobile
        ("+44 121 234 5678", "+441212345678"),    // GB fixedLine
        ("+49 30 123456", "+4930123456"),         // DE fixedLine
        ("+49 1512 3456789", "+4915123456789"),   // DE mobile
        ("+33 1 23 45 67 89", "+33123456789"),    // FR fixedLine
        ("+33 6 12 34 56 78", "+33612345678"),    // FR mobile
        ("+52 200 123 4567", "+522001234567"),    // MX fixedLine
        ("+34 810 12 34 56", "+34810123456"),     // ES fixedLine
        ("+34 612 34 56 78", "+34612345678"),     // ES mobile
        ("+61 2 1234 5678", "+61212345678"),      // AU fixedLine
        ("+61 412 345 678", "+61412345678"),      // AU mobile
        ("+91 74104 10123", "+917410410123"),     // IN fixedLine
        ("+91 81234 56789", "+918123456789"),     // IN mobile
        ("+55 11 2345-6789", "+551123456789"),    // BR fixedLine
        ("+55 11 96123-4567", "+5511961234567"),  // BR mobile
        ("+39 02 1234 5678", "+390212345678"),    // IT fixedLine (leading zero kept)
        ("+39 312 345 6789", "+393123456789"),    // IT mobile
        ("+81 3-1234-5678", "+81312345678"),      // JP fixedLine
        ("+86 131 2345 6789", "+8613123456789"),  // CN mobile
        ("+7 301 123-45-67", "+73011234567"),     // RU fixedLine
        ("+7 912 345-67-89", "+79123456789"),     // RU mobile
        ("+31 10 123 4567", "+31101234567"),      // NL fixedLine
        ("+31 6 12345678", "+31612345678"),       // NL mobile
        ("+353 22 12345", "+3532212345"),         // IE fixedLine
        ("+64 21 123 4567", "+64211234567"),      // NZ mobile
        ("+54 9 11 2345-6789", "+5491123456789"), // AR mobile
        ("+1 876-210-1234", "+18762101234"),      // JM mobile
        ("+1 242-359-1234", "+12423591234"),      // BS mobile
        ("+1 809-234-5678", "+18092345678"),      // DO fixedLine
    ];
    for (input, want) in table {
        assert_eq!(Phone::parse(input).as_ref().map(Phone::as_str), Ok(want), "{input}");
    }
}

/// The German mobile of the bug report, in every spelling, is +4915112345678 and never +495112345678.
#[test]
fn german_mobile_of_the_report() {
    for s in ["+49 151 12345678", "+49 (0)151 12345678", "0049 151 12345678", "011 49 151 12345678", "+49-151-12345678"]
    {
        assert_eq!(Phone::parse(s).as_ref().map(Phone::as_str), Ok("+4915112345678"), "{s}");
    }
}

/// The digits as typed win over a national-prefix reading when they are a valid number themselves.
#[test]
fn national_prefix_is_only_dropped_when_it_cannot_be_part_of_the_number() {
    // "+44 (0)20 ..." drops the 0: 0207... is not a valid UK national significant number.
    assert_eq!(Phone::parse("+44 (0)20 7946 0958").as_ref().map(Phone::as_str), Ok("+442079460958"));
    // Italian fixed lines start with 0 and keep it.
    assert_eq!(Phone::parse("+39 06 1234 5678").as_ref().map(Phone::as_str), Ok("+390612345678"));
    // Mexico has no national prefix any more; the old "1" mobile token is refused, not guessed.
    assert!(Phone::parse("+52 1 55 1234 5678").is_err());
}

/// NANPA's fictional 555-0100..0199 numbers, used by tests and examples, parse in every area code that
/// libphonenumber knows.
#[test]
fn fictional_555_01xx_numbers_parse_in_known_area_codes() {
    let mut unknown_to_libphonenumber = Vec::new();
    for area in leadline_core::quiet_hours::all_area_codes() {
        let code = area.area_code;
        let probe = format!("+1{code}5550142");
        if !phonenumber::parse(None, &probe).is_ok_and(|p| phonenumber::is_valid(&p)) {
            unknown_to_libphonenumber.push(code);
            continue;
        }
        for line in [100, 142, 183, 199] {
            let e164 = format!("+1{code}5550{line}");
            assert_eq!(Phone::parse(&e164).as_ref().map(Phone::as_str), Ok(e164.as_str()));
        }
    }
    // Codes in area_codes.csv newer than the crate's metadata; numbers in them are refused by Phone::parse
    // until the crate is updated. Keep this list short and known.
    assert!(unknown_to_libphonenumber.len() <= 16, "{unknown_to_libphonenumber:?}");
}

#[test]
fn errors_are_specific() {
    assert_eq!(Phone::parse("  "), Err(PhoneError::Empty));
    assert!(matches!(Phone::parse("212-555-0142 ext. 7"), Err(PhoneError::Unparseable(_))));
    assert!(matches!(Phone::parse("+1 212 155 0142"), Err(PhoneError::Invalid(_))));
}

/// The IANA zones of Canada (tzdata's zone.tab, country code CA).
const CANADIAN_ZONES: &[&str] = &[
    "America/St_Johns",
    "America/Halifax",
    "America/Glace_Bay",
    "America/Moncton",
    "America/Goose_Bay",
    "America/Blanc-Sablon",
    "America/Toronto",
    "America/Iqaluit",
    "America/Atikokan",
    "America/Winnipeg",
    "America/Resolute",
    "America/Rankin_Inlet",
    "America/Regina",
    "America/Swift_Current",
    "America/Edmonton",
    "America/Cambridge_Bay",
    "America/Yellowknife",
    "America/Inuvik",
    "America/Creston",
    "America/Dawson_Creek",
    "America/Fort_Nelson",
    "America/Whitehorse",
    "America/Dawson",
    "America/Vancouver",
];

fn canadian_rows() -> Vec<leadline_core::quiet_hours::AreaInfo> {
    use leadline_core::quiet_hours::{all_area_codes, region_country, Country};
    all_area_codes().into_iter().filter(|a| region_country(a.region) == Some(Country::Canada)).collect()
}

/// Every Canadian row of area_codes.csv has valid zones, all in Canada, and the table parsed cleanly.
#[test]
fn canadian_area_codes_have_canadian_zones() {
    assert!(leadline_core::quiet_hours::area_table_problems().is_empty());
    let rows = canadian_rows();
    assert!(rows.len() >= 45, "only {} Canadian area codes", rows.len());
    for row in &rows {
        assert!(!row.zones.is_empty(), "{}", row.area_code);
        for tz in row.zones {
            assert!(
                CANADIAN_ZONES.contains(&tz.name()),
                "{} ({}): {} is not a Canadian zone",
                row.area_code,
                row.region,
                tz.name()
            );
        }
    }
}

/// Province -> zones that must be among its area codes' zones (spot checks of the NANPA/CNAC geography).
#[test]
fn canadian_area_codes_map_to_their_provinces() {
    use leadline_core::quiet_hours::area_info;
    let expect: &[(&[u16], &str, &[&str])] = &[
        (&[368, 403, 587, 780, 825], "AB", &["America/Edmonton"]),
        (&[604], "BC", &["America/Vancouver"]),
        (
            &[236, 250, 257, 672, 778],
            "BC",
            &["America/Vancouver", "America/Creston", "America/Dawson_Creek", "America/Fort_Nelson"],
        ),
        (&[306, 474, 639], "SK", &["America/Regina"]),
        (&[204, 431, 584], "MB", &["America/Winnipeg"]),
        (
            &[226, 249, 289, 343, 365, 382, 416, 437, 519, 548, 613, 647, 683, 705, 742, 753, 905, 942],
            "ON",
            &["America/Toronto"],
        ),
        (&[807], "ON", &["America/Toronto", "America/Winnipeg", "America/Atikokan"]),
        (&[263, 354, 438, 450, 468, 514, 579, 819, 873], "QC", &["America/Toronto"]),
        (&[367, 418, 581], "QC", &["America/Toronto", "America/Halifax"]),
        (&[428, 506], "NB", &["America/Moncton"]),
        (&[782, 902], "NS", &["America/Halifax"]),
        (&[709, 879], "NL", &["America/St_Johns", "America/Goose_Bay"]),
        (&[867], "YT", &["America/Whitehorse", "America/Yellowknife", "America/Iqaluit"]),
    ];
    for (codes, region, zones) in expect {
        for code in *codes {
            let info = area_info(&format!("+1{code}5550142")).unwrap_or_else(|| panic!("{code} missing"));
            assert_eq!(info.region, *region, "{code}");
            let names: Vec<&str> = info.zones.iter().map(|z| z.name()).collect();
            for z in *zones {
                assert!(names.contains(z), "{code}: {z} not in {names:?}");
            }
        }
    }
}

/// Whether libphonenumber's metadata for `region` has `npa` as a geographic (fixed-line or mobile) code.
fn libphonenumber_geographic(region: &str, npa: u16) -> bool {
    let meta = DATABASE.by_id(region).expect("region metadata");
    let d = meta.descriptors();
    let nsn = format!("{npa}2345678");
    [d.fixed_line(), d.mobile()].into_iter().flatten().any(|desc| desc.is_match(&nsn))
}

/// Every Canadian area code libphonenumber knows is in area_codes.csv as Canadian, and vice versa.
#[test]
fn canadian_area_codes_agree_with_libphonenumber() {
    use leadline_core::quiet_hours::{area_info, region_country, Country};
    for npa in 200..1000u16 {
        if libphonenumber_geographic("CA", npa) {
            let info = area_info(&format!("+1{npa}5550142"));
            assert_eq!(info.and_then(|i| region_country(i.region)), Some(Country::Canada), "{npa}");
        }
    }
    for row in canadian_rows() {
        assert!(libphonenumber_geographic("CA", row.area_code), "{} not Canadian in libphonenumber", row.area_code);
    }
}

/// numbers::nanp_non_geographic treats a 5XX code as personal-communications unless area_codes.csv has it;
/// so every 5XX code that libphonenumber knows as geographic anywhere in the NANP must be in the table, and
/// every 5XX code libphonenumber knows as a personal number must be non-geographic.
#[test]
fn five_xx_codes_agree_with_libphonenumber() {
    use leadline_core::numbers::nanp_non_geographic;
    let nanp_regions = DATABASE.region(&1u16).expect("NANP regions");
    for npa in 500..600u16 {
        let geographic = nanp_regions.iter().any(|r| libphonenumber_geographic(r, npa));
        if geographic {
            assert_eq!(nanp_non_geographic(npa), None, "{npa} is geographic");
        }
        let personal = DATABASE
            .by_id("US")
            .and_then(|m| m.descriptors().personal_number())
            .is_some_and(|d| d.is_match(&format!("{npa}2345678")));
        if personal {
            assert!(nanp_non_geographic(npa).is_some(), "{npa} is a personal-communications code");
        }
    }
}
