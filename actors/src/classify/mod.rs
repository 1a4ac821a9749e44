//! Consent classification of inbound SMS replies (classifier version
//! [`CLASSIFIER_VERSION`]).
//!
//! A lead replies to one of our texts and we must decide what the reply means for consent:
//! an opt-out (revocation), an opt-in, a help request, or an ordinary reply.
//!
//! Why this is more than a keyword check: under the FCC revocation rule (FCC 24-24,
//! Report and Order, 89 FR 15756, 47 CFR 64.1200(a)(10)) consent may be revoked by *any
//! reasonable means*. "stop", "quit", "end", "revoke", "opt out", "cancel" and
//! "unsubscribe" are revocation *per se*, and any other wording whose plain meaning is
//! "stop contacting me" (paraphrases, misspellings, Spanish such as "no mas") must be
//! honoured. Twilio's filter only catches single-word keywords, so the app must classify
//! every message itself. A missed revocation costs $500-$1,500 per later text, so **when
//! a message plausibly revokes consent it is treated as an opt-out** and marked
//! `ambiguous = true` so an agent looks at it. Clear non-revocations ("can we stop by at
//! 5?") stay ordinary replies.
//!
//! The module is table-driven: every word list, phrase, pattern, homoglyph and misspelling
//! lives in `tables.rs`; `normalize.rs` turns text into words; `pattern.rs` is a small
//! word-pattern matcher (patterns are compiled once, in a `OnceLock`).
//!
//! # Normalisation
//! Invisible characters (zero-width space/joiners U+200B-U+200D, word joiner U+2060, BOM
//! U+FEFF, soft hyphen U+00AD, bidi marks) are removed, so they cannot split a keyword.
//! Then compatibility decomposition (NFKD, which also folds full-width and mathematical
//! letters such as `𝐒𝐓𝐎𝐏`, `𝓈𝓉𝑜𝓅`), combining marks dropped (accents stripped),
//! look-alike letters mapped to Latin (Cyrillic/Greek homoglyphs such as `е о р с ѕ Т Ρ Ο`,
//! Latin small capitals, regional-indicator letters), lowercase, apostrophes dropped
//! (`don't` -> `dont`), `#` read as the word "number" (`wrong #`), hyphens/underscores and
//! every other non-alphanumeric character (punctuation, emoji, symbols) turned into a
//! space, whitespace collapsed and trimmed, and runs of 3+ identical letters squeezed to one
//! (`stoppp` -> `stop`; `too`, `needs` are untouched). When matching, each word is compared
//! in both its squeezed-to-1 and squeezed-to-2 form, so `calll` still matches `call`.
//! [`normalize`] returns this normalised text.
//!
//! Each word may also match *loosely* (never for the exact per-se keyword tier, so such
//! matches are always `ambiguous`):
//! * *leetspeak*, for words mixing letters with digits or `$ @ |`: `st0p`, `5top`, `qu1t`,
//!   `un5ubscribe`, `0pt out`, `c@ncel`;
//! * a curated *misspelling* table (`stpo`, `sotp`, `cancle`, `revok`, `opt ot`, `txt`...);
//! * *fuzzy* matching: one edit (insertion, deletion, substitution, neighbour swap) away
//!   from a few long words (`unsubscribe`, `cancel`, `revoke`, `texting`, `interested`...),
//!   only for words of 6+ letters with the same first letter and not in an exclusion list
//!   of real words (`cancer`, `testing`, `unsubscribed`...). Short words are never
//!   fuzzy-matched, so `and`/`send`/`weekend`, `quiet`/`quite`, `shop`/`step`/`top`/`spot`
//!   never become `end`/`quit`/`stop`;
//! * *letter spacing*: a run of 3+ one-character words spelling an opt-out word (`S T O P`,
//!   `s.t.o.p`, `Q U I T`) is read as that word.
//!
//! The text is also split into *clauses* at sentence punctuation, emoji, symbols and line
//! breaks (not at hyphens or apostrophes). Clauses are used by patterns and heuristics.
//!
//! # Rules, in precedence order (first tier that fires wins)
//! 1. **Empty** (nothing left after normalisation: whitespace, emoji, punctuation) -> `Reply`.
//! 2. **Exact whole-message keywords** (never overridden by anything; exact spelling
//!    after normalisation, no loose matching):
//!    * opt-out: `stop`, `stopall`, `stop all`, `unsubscribe`, `cancel`, `end`, `quit`,
//!      `revoke`, `optout`, `opt out` (`opt-out`), Spanish `alto`, `basta`, `cancelar`,
//!      `para`, `parar` -> `OptOut`, rule `opt_out.keyword`, not ambiguous.
//!      The unmistakable ones (`stop`, `stopall`, `stop all`, `unsubscribe`, `quit`,
//!      `revoke`, `optout`, `opt out`) may be repeated and surrounded by polite filler
//!      (`please`, `pls`, `now`, `thanks`, `thank you`, `ok`, `just`, `por favor`, `ya`...):
//!      "Stop please", "please stop", "STOP STOP" are still `opt_out.keyword`.
//!    * opt-in: `start`, `unstop` always; `yes` only when the lead is currently opted out
//!      -> `OptIn`, rule `opt_in.keyword`. No filler allowed: re-consent must be unmistakable.
//!    * help: `help`, `info`, `ayuda` -> `Help`, rule `help.keyword`. No filler allowed
//!      ("Info on the HOA fees?" is a reply).
//! 3. **Strong revocations** -> `OptOut`, `opt_out.phrase` (`opt_out.custom_phrase` for
//!    `cfg.extra_opt_out_phrases`), ambiguous:
//!    * strong phrases anywhere on word boundaries, even across clauses ("stop texting",
//!      "remove me", "wrong number", "leave me alone", "do not text", "no mas mensajes"...);
//!    * strong patterns within a clause: wrong number/person in its forms ("wrong #",
//!      "incorrect number", "you have the wrong one", "not the right person", "numero
//!      equivocado", "se equivoco de numero", "new phone who dis"), do-not-call wording
//!      ("DNC", "put me on your do not call list"), remove/delete/lose/forget/take off my
//!      number or info ("take this number off your list", "delete my info", "borren mi
//!      numero", "quitenme de su lista", "darme de baja"), consent withdrawal ("I revoke my
//!      consent", "I do not consent"), go-away wording ("leave me alone", "knock it off",
//!      "buzz off", "cease and desist").
//!
//!    A non-revocation (tier 4) defeats a strong revocation only if it *contains* that
//!    occurrence (e.g. "wrong number of bedrooms" contains "wrong number"; "don't stop
//!    texting me" contains "stop texting"), so "stop by? no, stop texting me" is still an
//!    opt-out.
//! 4. **Non-revocations** (built-in phrases and patterns such as "stop by", "bus stop",
//!    "non stop", "cancel my showing", "end unit", "quit my job", "wrong number of baths",
//!    "reschedule", plus `cfg.extra_non_revocations`), each matched within a single
//!    clause. They defeat the weak rules below that they *overlap*.
//! 5. **Weak rules** -> `OptOut`, `opt_out.phrase`, ambiguous:
//!    * *soft whole messages*, suppressed if any non-revocation occurs in the message: the
//!      keywords that are also ordinary words (`cancel`, `end`, the Spanish ones) with
//!      filler or repeated ("cancel please", "ya basta"); a keyword spelled loosely
//!      ("stopp", "st0p", "stpo", "S T O P"); flat refusals ("not interested", "no
//!      thanks", "no more", "enough", "remove", "go away", "baja", "no me interesa").
//!    * *weak phrases and patterns* anywhere: a per-se word used as a request ("please
//!      cancel these texts", "I want to end this", "quit texting me", "I'd like to
//!      cancel", "opt out of these texts"), do-not-contact wording ("don't contact me
//!      again", "dont txt me", "no more messages"), refusals ("not interested, stop",
//!      "enough with the texts", "sick of these messages", "I never signed up for this",
//!      "who gave you my number", "I don't know you"), wrong-person notices ("this isn't
//!      Ana", "not Ana", "I'm not Ana", "no Ana here", "there is no Mike at this number",
//!      "no soy Ana"), and Spanish requests ("no me escriban", "dejen de escribirme", "ya
//!      no quiero mensajes", "cancelar suscripcion", "no mas").
//!    * *first/last word*: the first or last word of a clause (ignoring filler) is `stop`,
//!      `stopall`, `stop all`, `unsubscribe`, `optout`, `opt out` or `revoke`
//!      ("Stop. Who is this?", "I said stop!"). `cancel`, `end` and `quit` are
//!      deliberately excluded: "cancel my showing" and "when does the open house end" are
//!      ordinary sentences.
//!    * *refusal + channel*: a refusal cue (`stop`, `unsubscribe`, `opt out`, `quit`,
//!      `revoke`, `cease`, `don't want`, `no more`, `no longer`, `enough`, `too many`,
//!      `basta`, `no quiero`...) and a channel noun (`text`, `texts`, `messages`, `sms`,
//!      `mensajes`...) in the same clause ("I don't want these messages").
//!
//!    Each weak rule is defeated by a non-revocation that overlaps the occurrence ("please
//!    stop by" is a reply).
//! 6. Otherwise -> `Reply`, rule `reply`. `matched` then holds the first non-revocation
//!    found (useful on the audit timeline), or `None`.
//!
//! Summary: exact keyword > strong revocation > non-revocation > weak rules > reply.
//!
//! How ambiguity is resolved: everything below the exact keywords that plausibly revokes
//! is an opt-out with `ambiguous = true` (so an agent is notified). A non-revocation only
//! neutralises the occurrences it overlaps (weak rules) or contains (strong rules), never
//! the whole message, so "cancel my appointment. please stop" is still an opt-out.
//! Revocation phrases may span clause boundaries, non-revocations may not ("stop. by the
//! way..." is an opt-out): both choices err towards opt-out.
//!
//! The function is pure (no I/O; the only global state is the immutable compiled pattern
//! table) and never panics.

mod normalize;
mod pattern;
mod tables;

use serde::{Deserialize, Serialize};

use normalize::{dedup_letters, tokenize, Token};
use tables::*;

/// Version of the classification rules. Record it with every decision: the same text may
/// classify differently under another version.
pub const CLASSIFIER_VERSION: &str = "2";

// ---------------------------------------------------------------------------------------
// Rule ids (stable: they are recorded on the audit timeline).
// ---------------------------------------------------------------------------------------

/// Whole message is a per-se opt-out keyword (possibly with polite filler).
pub const RULE_OPTOUT_KEYWORD: &str = "opt_out.keyword";
/// Built-in phrase, pattern or heuristic judged to revoke consent (always ambiguous).
pub const RULE_OPTOUT_PHRASE: &str = "opt_out.phrase";
/// A phrase from `ClassifierConfig::extra_opt_out_phrases` (always ambiguous).
pub const RULE_OPTOUT_CUSTOM_PHRASE: &str = "opt_out.custom_phrase";
/// Whole message is an opt-in keyword.
pub const RULE_OPTIN_KEYWORD: &str = "opt_in.keyword";
/// Whole message is a help keyword.
pub const RULE_HELP_KEYWORD: &str = "help.keyword";
/// Ordinary reply.
pub const RULE_REPLY: &str = "reply";

// ---------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------

/// What an inbound text means for consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Intent {
    /// Consent revoked (or plausibly revoked, see `Classification::ambiguous`).
    OptOut,
    /// Consent given again (START, UNSTOP, or YES while opted out).
    OptIn,
    /// HELP / INFO request.
    Help,
    /// Ordinary conversation; consent unchanged.
    Reply,
}

/// The outcome of [`classify`], with enough detail for the audit timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// What the text means for consent.
    pub intent: Intent,
    /// Stable rule id recorded on the audit timeline, e.g. "opt_out.keyword", "opt_out.phrase",
    /// "opt_out.custom_phrase", "opt_in.keyword", "help.keyword", "reply".
    pub rule: &'static str,
    /// The keyword/phrase that matched (normalised form), if any. For a `Reply` this is the
    /// first non-revocation found in the text, if any.
    pub matched: Option<String>,
    /// True when the text was treated as an opt-out but is not a per-se keyword (a person should look).
    pub ambiguous: bool,
}

/// Extra configuration from config.toml (serde Deserialize, Default = empty lists).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ClassifierConfig {
    /// Additional phrases that revoke consent, matched after normalisation (same as built-ins).
    pub extra_opt_out_phrases: Vec<String>,
    /// Phrases that must never count as revocation (checked before phrase rules, not before exact keywords).
    pub extra_non_revocations: Vec<String>,
}

/// Pure; no I/O. `opted_out` = the lead is currently opted out (YES only counts as opt-in then).
pub fn classify(text: &str, opted_out: bool, cfg: &ClassifierConfig) -> Classification {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return Classification::reply(None);
    }
    if let Some(hit) = exact_keyword(&tokens, opted_out) {
        return hit;
    }

    let custom_non_revocations = normalized_phrases(&cfg.extra_non_revocations);
    let masks = non_revocation_masks(&tokens, &custom_non_revocations);

    let custom_opt_outs = normalized_phrases(&cfg.extra_opt_out_phrases);
    if let Some(hit) = strong_phrase(&tokens, &masks, &custom_opt_outs) {
        return hit;
    }
    if let Some(hit) = soft_whole_message(&tokens, &masks) {
        return hit;
    }
    if let Some(hit) = weak_phrase(&tokens, &masks) {
        return hit;
    }
    if let Some(hit) = weak_heuristic(&tokens, &masks) {
        return hit;
    }
    Classification::reply(masks.first().map(|m| m.pattern.clone()))
}

/// The normalisation used for matching: invisible characters removed, compatibility
/// decomposition (NFKD), accents stripped, look-alike letters mapped to Latin, lowercase,
/// apostrophes dropped ("don't" -> "dont"), `#` read as "number", punctuation/emoji/symbols
/// and hyphens turned into spaces ("opt-out" -> "opt out"), whitespace collapsed and
/// trimmed, and runs of 3+ identical letters squeezed to one ("stoppp" -> "stop",
/// "pleeease" -> "please"; "needs", "too" survive: only 3+ repeats are squeezed, and
/// matching also tries the squeezed-to-2 form).
pub fn normalize(text: &str) -> String {
    let tokens = tokenize(text);
    let words: Vec<&str> = tokens.iter().map(|t| t.one.as_str()).collect();
    words.join(" ")
}

impl Classification {
    fn opt_out(rule: &'static str, matched: &str, ambiguous: bool) -> Self {
        Classification { intent: Intent::OptOut, rule, matched: Some(matched.to_string()), ambiguous }
    }

    fn reply(matched: Option<String>) -> Self {
        Classification { intent: Intent::Reply, rule: RULE_REPLY, matched, ambiguous: false }
    }
}

fn normalized_phrases(phrases: &[String]) -> Vec<String> {
    phrases.iter().map(|p| normalize(p)).filter(|p| !p.is_empty()).collect()
}

// ---------------------------------------------------------------------------------------
// Phrase matching
// ---------------------------------------------------------------------------------------

/// Half-open token range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn overlaps(self, other: Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    fn contains(self, other: Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// A non-revocation occurrence.
#[derive(Debug, Clone)]
struct Mask {
    span: Span,
    pattern: String,
}

/// How words are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spelling {
    /// Normalised spelling only (per-se keywords).
    Exact,
    /// Also leetspeak, misspellings, letter spacing.
    Loose,
}

fn word_matches(tok: &Token, word: &str, spelling: Spelling) -> bool {
    match spelling {
        Spelling::Exact => tok.is_exactly(word),
        Spelling::Loose => tok.is(word),
    }
}

/// Does `phrase` occur in `tokens` starting at `start`? With `same_clause`, every word
/// must come from one clause.
fn matches_at(tokens: &[Token], start: usize, phrase: &str, same_clause: bool, spelling: Spelling) -> Option<Span> {
    let first = tokens.get(start)?;
    let mut end = start;
    for word in phrase.split(' ').filter(|w| !w.is_empty()) {
        let tok = tokens.get(end)?;
        if !word_matches(tok, word, spelling) || (same_clause && tok.clause != first.clause) {
            return None;
        }
        end += 1;
    }
    (end > start).then_some(Span { start, end })
}

/// All occurrences of `phrase` in `tokens`.
fn occurrences(tokens: &[Token], phrase: &str, same_clause: bool) -> Vec<Span> {
    (0..tokens.len()).filter_map(|i| matches_at(tokens, i, phrase, same_clause, Spelling::Loose)).collect()
}

/// Occurrences of `phrase` inside the token range `within` (absolute spans). Keeps the
/// per-clause heuristics linear in the message length.
fn occurrences_in(tokens: &[Token], within: Span, phrase: &str) -> Vec<Span> {
    let slice = tokens.get(within.start..within.end).unwrap_or(&[]);
    occurrences(slice, phrase, true)
        .into_iter()
        .map(|s| Span { start: s.start + within.start, end: s.end + within.start })
        .collect()
}

/// Is `tokens` exactly `phrase`?
fn is_exactly(tokens: &[Token], phrase: &str, spelling: Spelling) -> bool {
    matches_at(tokens, 0, phrase, false, spelling).is_some_and(|s| s.end == tokens.len())
}

/// Is `tokens` `phrase` up to doubled letters ("stopp" ~ "stop")?
fn is_loosely(tokens: &[Token], phrase: &str) -> bool {
    let words: Vec<&str> = phrase.split(' ').collect();
    words.len() == tokens.len() && tokens.iter().zip(&words).all(|(t, w)| dedup_letters(&t.one) == dedup_letters(w))
}

/// Length of the filler phrase starting at `start`, if any.
fn filler_at(tokens: &[Token], start: usize) -> Option<usize> {
    FILLER.iter().find_map(|f| matches_at(tokens, start, f, false, Spelling::Loose)).map(|s| s.end - s.start)
}

/// `tokens` with all filler removed, and whether anything was removed.
fn without_filler(tokens: &[Token]) -> (Vec<Token>, bool) {
    let mut kept = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while let Some(tok) = tokens.get(i) {
        match filler_at(tokens, i) {
            Some(len) => i += len,
            None => {
                kept.push(tok.clone());
                i += 1;
            }
        }
    }
    let removed = kept.len() != tokens.len();
    (kept, removed)
}

/// `span` shrunk so that it neither starts nor ends with filler.
fn trim_filler(tokens: &[Token], mut span: Span) -> Span {
    // Leading filler.
    while span.start < span.end {
        match filler_at(tokens, span.start) {
            Some(len) if span.start + len <= span.end => span.start += len,
            _ => break,
        }
    }
    // Trailing filler: find a filler phrase that ends exactly at span.end.
    'outer: while span.start < span.end {
        for start in span.start..span.end {
            if let Some(len) = filler_at(tokens, start) {
                if start + len == span.end {
                    span.end = start;
                    continue 'outer;
                }
            }
        }
        break;
    }
    span
}

/// Token ranges of the clauses, in order.
fn clauses(tokens: &[Token]) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        match spans.last_mut() {
            Some(last) if tokens.get(last.start).map(|t| t.clause) == Some(tok.clause) => {
                last.end = i + 1;
            }
            _ => spans.push(Span { start: i, end: i + 1 }),
        }
    }
    spans
}

/// The normalised text of `span`, for `Classification::matched`.
fn text_of(tokens: &[Token], span: Span) -> String {
    let words: Vec<&str> = tokens.get(span.start..span.end).unwrap_or(&[]).iter().map(|t| t.one.as_str()).collect();
    words.join(" ")
}

/// Occurrences of a compiled pattern: per clause, or over the whole message.
fn pattern_occurrences(tokens: &[Token], clause_spans: &[Span], p: &pattern::Pattern) -> Vec<Span> {
    if p.message {
        return pattern::occurrences(tokens, p, Span { start: 0, end: tokens.len() });
    }
    clause_spans.iter().flat_map(|c| pattern::occurrences(tokens, p, *c)).collect()
}

/// Is the pattern switched off by one of its `unless` phrases?
fn switched_off(tokens: &[Token], p: &pattern::Pattern) -> bool {
    p.unless.iter().any(|u| !occurrences(tokens, u, false).is_empty())
}

// ---------------------------------------------------------------------------------------
// Rule tiers
// ---------------------------------------------------------------------------------------

/// Result of reading a whole message as "keyword(s) + filler".
struct KeywordMessage {
    first: &'static str,
    count: usize,
    any_filler_safe: bool,
    had_filler: bool,
}

/// Read the message as one or more opt-out keywords surrounded by filler, or `None`.
fn keyword_message(tokens: &[Token], spelling: Spelling) -> Option<KeywordMessage> {
    let (core, had_filler) = without_filler(tokens);
    let mut parsed: Option<KeywordMessage> = None;
    let mut i = 0;
    while i < core.len() {
        // OPT_OUT_KEYWORDS lists "stop all" before "stop", so the longest wins.
        let (kw, span) =
            OPT_OUT_KEYWORDS.iter().find_map(|kw| matches_at(&core, i, kw, false, spelling).map(|s| (*kw, s)))?;
        let safe = FILLER_SAFE_OPT_OUT_KEYWORDS.contains(&kw);
        let entry = parsed.get_or_insert(KeywordMessage { first: kw, count: 0, any_filler_safe: false, had_filler });
        entry.count += 1;
        entry.any_filler_safe |= safe;
        i = span.end;
    }
    parsed
}

/// Tier 2: the whole message is a keyword. Never overridden.
fn exact_keyword(tokens: &[Token], opted_out: bool) -> Option<Classification> {
    if let Some(kw) = keyword_message(tokens, Spelling::Exact) {
        let bare = kw.count == 1 && !kw.had_filler;
        if bare || kw.any_filler_safe {
            return Some(Classification::opt_out(RULE_OPTOUT_KEYWORD, kw.first, false));
        }
        // "cancel please" etc. is left to the soft tier.
    }
    let opt_in = OPT_IN_KEYWORDS
        .iter()
        .chain(if opted_out { OPT_IN_WHEN_OPTED_OUT } else { &[] })
        .find(|kw| is_exactly(tokens, kw, Spelling::Exact));
    if let Some(kw) = opt_in {
        return Some(Classification {
            intent: Intent::OptIn,
            rule: RULE_OPTIN_KEYWORD,
            matched: Some((*kw).to_string()),
            ambiguous: false,
        });
    }
    HELP_KEYWORDS.iter().find(|kw| is_exactly(tokens, kw, Spelling::Exact)).map(|kw| Classification {
        intent: Intent::Help,
        rule: RULE_HELP_KEYWORD,
        matched: Some((*kw).to_string()),
        ambiguous: false,
    })
}

/// Tier 4 (computed before the tiers that consult it): non-revocation occurrences.
fn non_revocation_masks(tokens: &[Token], custom: &[String]) -> Vec<Mask> {
    let builtin = NON_REVOCATIONS.iter().copied();
    let mut masks: Vec<Mask> = builtin
        .chain(custom.iter().map(String::as_str))
        .flat_map(|pattern| {
            occurrences(tokens, pattern, true).into_iter().map(move |span| Mask { span, pattern: pattern.to_string() })
        })
        .collect();
    let clause_spans = clauses(tokens);
    for p in &pattern::compiled().masks {
        for span in pattern_occurrences(tokens, &clause_spans, p) {
            masks.push(Mask { span, pattern: text_of(tokens, span) });
        }
    }
    masks.sort_by_key(|m| m.span.start);
    masks
}

fn overlaps_mask(span: Span, masks: &[Mask]) -> bool {
    masks.iter().any(|m| m.span.overlaps(span))
}

fn contained_in_mask(span: Span, masks: &[Mask]) -> bool {
    masks.iter().any(|m| m.span.contains(span))
}

/// Tier 5a: whole message is a soft opt-out (weak keyword with filler, loosely spelled
/// keyword, flat refusal). Any non-revocation in such a short message wins.
fn soft_whole_message(tokens: &[Token], masks: &[Mask]) -> Option<Classification> {
    if !masks.is_empty() {
        return None;
    }
    let matched = keyword_message(tokens, Spelling::Loose).map(|kw| kw.first).or_else(|| {
        let (core, _) = without_filler(tokens);
        let misspelled = OPT_OUT_KEYWORDS.iter().find(|kw| is_loosely(&core, kw));
        let refusal = || {
            SOFT_WHOLE_MESSAGE_OPT_OUTS
                .iter()
                .find(|p| is_exactly(&core, p, Spelling::Loose) || is_exactly(tokens, p, Spelling::Loose))
        };
        misspelled.or_else(refusal).copied()
    })?;
    Some(Classification::opt_out(RULE_OPTOUT_PHRASE, matched, true))
}

/// The longest occurrence of any phrase that `keep` accepts.
fn longest_phrase<'a>(
    tokens: &[Token],
    phrases: impl Iterator<Item = &'a str>,
    keep: impl Fn(Span) -> bool,
) -> Option<&'a str> {
    let mut best: Option<(usize, &'a str)> = None;
    for phrase in phrases {
        for span in occurrences(tokens, phrase, false) {
            let len = span.end - span.start;
            if keep(span) && best.is_none_or(|(l, _)| len > l) {
                best = Some((len, phrase));
            }
        }
    }
    best.map(|(_, p)| p)
}

/// The first occurrence (in table order) of a compiled pattern that `keep` accepts.
fn first_pattern(tokens: &[Token], patterns: &[pattern::Pattern], keep: impl Fn(Span) -> bool) -> Option<String> {
    let clause_spans = clauses(tokens);
    patterns.iter().filter(|p| !switched_off(tokens, p)).find_map(|p| {
        pattern_occurrences(tokens, &clause_spans, p).into_iter().find(|s| keep(*s)).map(|s| text_of(tokens, s))
    })
}

/// Tier 3: strong phrases and patterns, then custom phrases. Defeated only by a
/// containing mask.
fn strong_phrase(tokens: &[Token], masks: &[Mask], custom: &[String]) -> Option<Classification> {
    let keep = |span| !contained_in_mask(span, masks);
    if let Some(p) = longest_phrase(tokens, STRONG_PHRASES.iter().copied(), keep) {
        return Some(Classification::opt_out(RULE_OPTOUT_PHRASE, p, true));
    }
    if let Some(found) = first_pattern(tokens, &pattern::compiled().strong, keep) {
        return Some(Classification::opt_out(RULE_OPTOUT_PHRASE, &found, true));
    }
    longest_phrase(tokens, custom.iter().map(String::as_str), keep)
        .map(|p| Classification::opt_out(RULE_OPTOUT_CUSTOM_PHRASE, p, true))
}

/// Tier 5b: weak phrases and patterns, defeated by any overlapping mask.
fn weak_phrase(tokens: &[Token], masks: &[Mask]) -> Option<Classification> {
    let keep = |span| !overlaps_mask(span, masks);
    if let Some(p) = longest_phrase(tokens, WEAK_PHRASES.iter().copied(), keep) {
        return Some(Classification::opt_out(RULE_OPTOUT_PHRASE, p, true));
    }
    first_pattern(tokens, &pattern::compiled().weak, keep)
        .map(|found| Classification::opt_out(RULE_OPTOUT_PHRASE, &found, true))
}

/// Tier 5c/5d: per-clause heuristics, defeated by any overlapping mask.
fn weak_heuristic(tokens: &[Token], masks: &[Mask]) -> Option<Classification> {
    for clause in clauses(tokens) {
        if let Some(kw) = edge_keyword(tokens, clause, masks) {
            return Some(Classification::opt_out(RULE_OPTOUT_PHRASE, kw, true));
        }
        if let Some(found) = refusal_and_channel(tokens, clause, masks) {
            return Some(Classification::opt_out(RULE_OPTOUT_PHRASE, &found, true));
        }
    }
    None
}

/// First or last word of the clause (ignoring filler) is an edge keyword.
fn edge_keyword(tokens: &[Token], clause: Span, masks: &[Mask]) -> Option<&'static str> {
    let core = trim_filler(tokens, clause);
    if core.start >= core.end {
        return None;
    }
    EDGE_KEYWORDS.iter().copied().find(|kw| {
        occurrences_in(tokens, clause, kw).into_iter().any(|span| {
            let at_edge = span.start == core.start || span.end == core.end;
            core.contains(span) && at_edge && !overlaps_mask(span, masks)
        })
    })
}

/// A refusal cue and a channel noun in the same clause: "opt out of these texts".
fn refusal_and_channel(tokens: &[Token], clause: Span, masks: &[Mask]) -> Option<String> {
    let in_clause = tokens.get(clause.start..clause.end)?;
    let noun = in_clause.iter().find_map(|t| CHANNEL_NOUNS.iter().find(|n| t.is(n)))?;
    let cue = REFUSAL_CUES
        .iter()
        .find(|cue| occurrences_in(tokens, clause, cue).into_iter().any(|span| !overlaps_mask(span, masks)))?;
    Some(format!("{cue} ... {noun}"))
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::normalize::squeeze;
    use super::*;
    use Intent::{Help, OptIn, OptOut, Reply};

    const KW: &str = RULE_OPTOUT_KEYWORD;
    const PH: &str = RULE_OPTOUT_PHRASE;
    const IN: &str = RULE_OPTIN_KEYWORD;
    const HE: &str = RULE_HELP_KEYWORD;
    const RE: &str = RULE_REPLY;

    type Row = (&'static str, bool, Intent, &'static str);

    fn check_rows(rows: &[Row], cfg: &ClassifierConfig) {
        let mut failures = Vec::new();
        for (text, opted_out, intent, rule) in rows {
            let got = classify(text, *opted_out, cfg);
            if got.intent != *intent || got.rule != *rule {
                failures.push(format!("{text:?} (opted_out={opted_out}): expected {intent:?}/{rule}, got {got:?}"));
            }
            // Invariant: ambiguous exactly when an opt-out is not a per-se keyword.
            let expect_ambiguous = got.intent == OptOut && got.rule != KW;
            if got.ambiguous != expect_ambiguous {
                failures.push(format!("{text:?}: wrong ambiguous flag in {got:?}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn opt_out_keywords() {
        let rows: &[Row] = &[
            ("stop", false, OptOut, KW),
            ("STOP", false, OptOut, KW),
            ("STOP!!", false, OptOut, KW),
            ("  Stop. ", false, OptOut, KW),
            ("stop 🛑", false, OptOut, KW),
            ("STOPPP", false, OptOut, KW),
            ("Stop please", false, OptOut, KW),
            ("please stop", false, OptOut, KW),
            ("Please STOP now, thank you!", false, OptOut, KW),
            ("stop stop stop", false, OptOut, KW),
            ("ok stop", false, OptOut, KW),
            ("stop", true, OptOut, KW),
            ("StopAll", false, OptOut, KW),
            ("stop all", false, OptOut, KW),
            ("Unsubscribe", false, OptOut, KW),
            ("unsubscribe please", false, OptOut, KW),
            ("CANCEL", false, OptOut, KW),
            ("End.", false, OptOut, KW),
            ("quit", false, OptOut, KW),
            ("Revoke", false, OptOut, KW),
            ("optout", false, OptOut, KW),
            ("opt out", false, OptOut, KW),
            ("Opt-Out", false, OptOut, KW),
            ("OPT-OUT please", false, OptOut, KW),
            ("Alto", false, OptOut, KW),
            ("¡Basta!", false, OptOut, KW),
            ("cancelar", false, OptOut, KW),
            ("Para", false, OptOut, KW),
            ("parar", false, OptOut, KW),
            ("ｓｔｏｐ", false, OptOut, KW),
            ("𝐒𝐓𝐎𝐏", false, OptOut, KW),
            ("“Stop”", false, OptOut, KW),
        ];
        check_rows(rows, &ClassifierConfig::default());
    }

    #[test]
    fn opt_in_and_help_keywords() {
        let rows: &[Row] = &[
            ("START", false, OptIn, IN),
            ("start", true, OptIn, IN),
            ("Unstop", true, OptIn, IN),
            ("yes", true, OptIn, IN),
            ("Yes!", true, OptIn, IN),
            ("YESSS", true, OptIn, IN),
            ("yes", false, Reply, RE),
            ("Yes!", false, Reply, RE),
            ("yes please", true, Reply, RE),
            ("start the tour at 5", false, Reply, RE),
            ("HELP", false, Help, HE),
            ("help?", true, Help, HE),
            ("Info", false, Help, HE),
            ("ayuda", false, Help, HE),
            ("Info on the HOA fees?", false, Reply, RE),
            ("help me find a 3 bed", false, Reply, RE),
        ];
        check_rows(rows, &ClassifierConfig::default());
    }

    #[test]
    fn revocation_phrases() {
        let rows: &[Row] = &[
            ("Please stop texting me", false, OptOut, PH),
            ("stop text", false, OptOut, PH),
            ("Can you stop messaging me?", false, OptOut, PH),
            ("stop sending me listings", false, OptOut, PH),
            ("stop contacting me", false, OptOut, PH),
            ("Stop calling me!!!", false, OptOut, PH),
            ("remove me from your list", false, OptOut, PH),
            ("Take me off this list", false, OptOut, PH),
            ("Don't text me again", false, OptOut, PH),
            ("don’t text me", false, OptOut, PH),
            ("don t text me", false, OptOut, PH),
            ("Do not text this number", false, OptOut, PH),
            ("do not contact me", false, OptOut, PH),
            ("dont contact me", false, OptOut, PH),
            ("No more texts please", false, OptOut, PH),
            ("no more text", false, OptOut, PH),
            ("no more messages", false, OptOut, PH),
            ("leave me alone", false, OptOut, PH),
            ("Wrong number", false, OptOut, PH),
            ("you have the wrong person", false, OptOut, PH),
            ("not interested stop", false, OptOut, PH),
            ("unsubscribe me", false, OptOut, PH),
            ("opt me out", false, OptOut, PH),
            ("lose my number", false, OptOut, PH),
            ("delete my number pls", false, OptOut, PH),
            ("never text me again", false, OptOut, PH),
            ("quit texting me", false, OptOut, PH),
            ("stop it", false, OptOut, PH),
            ("No más mensajes", false, OptOut, PH),
            ("no mas", false, OptOut, PH),
            ("No me escriba más", false, OptOut, PH),
            ("no me mande nada", false, OptOut, PH),
            ("deja de escribirme", false, OptOut, PH),
            ("dejen de mandarme cosas", false, OptOut, PH),
            ("no quiero mensajes", false, OptOut, PH),
            ("bórrame de la lista", false, OptOut, PH),
            ("eliminame", false, OptOut, PH),
            ("Leeeave me alone", false, OptOut, PH),
            ("stop textinggg", false, OptOut, PH),
            ("wrong number", true, OptOut, PH),
        ];
        check_rows(rows, &ClassifierConfig::default());
    }

    #[test]
    fn weak_heuristics_and_soft_messages() {
        let rows: &[Row] = &[
            ("Stop. Who is this?", false, OptOut, PH),
            ("I said STOP!", false, OptOut, PH),
            ("stop, I already bought a house", false, OptOut, PH),
            ("ugh stop", false, OptOut, PH),
            ("How do I unsubscribe", false, OptOut, PH),
            ("I want to opt out", false, OptOut, PH),
            ("I want to opt out of these texts", false, OptOut, PH),
            ("revoke consent", false, OptOut, PH),
            ("cancel please", false, OptOut, PH),
            ("ya basta", false, OptOut, PH),
            ("Stopp", false, OptOut, PH),
            ("S T O P", false, OptOut, PH),
            ("s.t.o.p", false, OptOut, PH),
            ("I don't want these texts", false, OptOut, PH),
            ("I do not want any more messages", false, OptOut, PH),
            ("Basta de mensajes", false, OptOut, PH),
            ("No more!", false, OptOut, PH),
            ("enough already", false, OptOut, PH),
            ("cease and desist", false, OptOut, PH),
            ("stpo", false, OptOut, PH),
            ("Not interested.", false, OptOut, PH),
            ("Not interested, thanks", false, OptOut, PH),
            ("stop by? no, stop texting me", false, OptOut, PH),
            ("Can you stop by? Actually no. Stop.", false, OptOut, PH),
            ("Stop at once", false, OptOut, PH),
            ("stop. by the way who is this", false, OptOut, PH),
            ("cancel my showing and stop texting", false, OptOut, PH),
            ("cancel my appointment. please stop", false, OptOut, PH),
        ];
        check_rows(rows, &ClassifierConfig::default());
    }

    #[test]
    fn non_revocations_stay_replies() {
        let rows: &[Row] = &[
            ("yes I'd love to see it Saturday", false, Reply, RE),
            ("can you stop by at 5?", false, Reply, RE),
            ("is the price going to drop?", false, Reply, RE),
            ("Can we stop by the house tomorrow?", false, Reply, RE),
            ("I'll stop by", false, Reply, RE),
            ("what's the bus stop nearby", false, Reply, RE),
            ("Where is the nearest bus stop?", false, Reply, RE),
            ("non-stop flights", false, Reply, RE),
            ("cancel my showing on friday please", false, Reply, RE),
            ("when does the open house end?", false, Reply, RE),
            ("Stop by anytime", false, Reply, RE),
            ("please stop by after 6", false, Reply, RE),
            ("Stop in whenever", false, Reply, RE),
            ("we can stop over on sunday", false, Reply, RE),
            ("stop at the gate and call", false, Reply, RE),
            ("need to reschedule", false, Reply, RE),
            ("Please don't stop texting me, love the listings!", false, Reply, RE),
            ("You have the wrong number of bedrooms listed", false, Reply, RE),
            ("No más de 300 mil por favor", false, Reply, RE),
            ("I can't stop thinking about that kitchen", false, Reply, RE),
            ("the end unit looks nice", false, Reply, RE),
            ("cancel our tour, we found one", false, Reply, RE),
            ("the stoop needs paint", false, Reply, RE),
            ("should I opt out of the HOA?", false, Reply, RE),
            ("I unsubscribed from zillow, send me listings", false, Reply, RE),
            ("Cancel the 3pm, I'll text you a new time", false, Reply, RE),
            ("I quit my job, need a cheaper house", false, Reply, RE),
            ("a b c", false, Reply, RE),
            ("not now", false, Reply, RE),
            ("too many steps, it needs work", false, Reply, RE),
            ("para mañana a las 5?", false, Reply, RE),
            ("Thanks!", false, Reply, RE),
            ("", false, Reply, RE),
            ("   \t\n ", false, Reply, RE),
            ("🙂🙂🏠", false, Reply, RE),
            ("!!!", true, Reply, RE),
        ];
        check_rows(rows, &ClassifierConfig::default());
    }

    #[test]
    fn matched_and_ambiguous_fields() {
        let cfg = ClassifierConfig::default();
        let c = classify("Opt-Out!!", false, &cfg);
        assert_eq!(c.matched.as_deref(), Some("opt out"));
        assert!(!c.ambiguous);

        let c = classify("Please STOP texting me", false, &cfg);
        assert_eq!(c.matched.as_deref(), Some("stop texting"));
        assert!(c.ambiguous);

        let c = classify("stop messaging me", false, &cfg);
        assert_eq!(c.matched.as_deref(), Some("stop messaging me"));

        let c = classify("can you stop by at 5?", false, &cfg);
        assert_eq!(c.matched.as_deref(), Some("stop by"));
        assert!(!c.ambiguous);

        let c = classify("sounds good", false, &cfg);
        assert_eq!(c, Classification::reply(None));

        let c = classify("yes!", true, &cfg);
        assert_eq!(c.matched.as_deref(), Some("yes"));
    }

    #[test]
    fn required_phrases_match_inside_sentences() {
        // Every phrase from the brief, embedded in filler that is not a keyword.
        let phrases = [
            "stop texting",
            "stop text",
            "stop messaging",
            "stop sending",
            "stop contacting",
            "stop calling",
            "stop messaging me",
            "please stop",
            "remove me",
            "take me off",
            "dont text",
            "don't text",
            "don t text",
            "do not text",
            "do not contact",
            "dont contact",
            "no more texts",
            "no more text",
            "no more messages",
            "leave me alone",
            "wrong number",
            "wrong person",
            "not interested stop",
            "unsubscribe me",
            "opt me out",
            "lose my number",
            "delete my number",
            "never text",
            "quit texting",
            "stop it",
            "no mas mensajes",
            "no mas",
            "no me escriba",
            "no me mande",
            "deja de",
            "dejen de",
            "no quiero mensajes",
            "borrame",
            "eliminame",
        ];
        let cfg = ClassifierConfig::default();
        for p in phrases {
            let text = format!("hi, {p} thanks");
            let c = classify(&text, false, &cfg);
            assert_eq!((c.intent, c.rule, c.ambiguous), (OptOut, PH, true), "{text:?} -> {c:?}");
        }
    }

    #[test]
    fn custom_phrases_from_config() {
        let cfg = ClassifierConfig {
            extra_opt_out_phrases: vec!["Quit bugging me!".into(), "  ".into(), "🛑".into(), "cancel".into()],
            extra_non_revocations: vec!["stop the sale".into(), "Stop".into()],
        };
        let rows: &[Row] = &[
            ("please quit bugging me", false, OptOut, RULE_OPTOUT_CUSTOM_PHRASE),
            ("QUIT BUGGINGGG ME", false, OptOut, RULE_OPTOUT_CUSTOM_PHRASE),
            ("I want to cancel everything", false, OptOut, RULE_OPTOUT_CUSTOM_PHRASE),
            // A containing non-revocation defeats a custom phrase too.
            ("cancel my showing please", false, Reply, RE),
            // Empty / emoji-only custom phrases are ignored rather than matching everything.
            ("hello there", false, Reply, RE),
            // Custom non-revocation beats the weak first/last-word heuristic ...
            ("Stop the sale!", false, Reply, RE),
            ("stop. who is this", false, Reply, RE),
            // ... but not the exact keyword or strong phrases.
            ("stop", false, OptOut, KW),
            ("stop texting me", false, OptOut, PH),
        ];
        check_rows(rows, &cfg);

        let c = classify("quit bugging me", false, &cfg);
        assert_eq!(c.matched.as_deref(), Some("quit bugging me"));
        assert!(c.ambiguous);

        // A custom non-revocation that contains a strong phrase disables it.
        let cfg = ClassifierConfig {
            extra_non_revocations: vec!["wrong person to ask".into()],
            ..ClassifierConfig::default()
        };
        check_rows(&[("sorry, wrong person to ask", false, Reply, RE), ("wrong person", false, OptOut, PH)], &cfg);

        // Soft whole-message rules yield to any non-revocation.
        let cfg =
            ClassifierConfig { extra_non_revocations: vec!["not interested".into()], ..ClassifierConfig::default() };
        check_rows(&[("Not interested", false, Reply, RE)], &cfg);
    }

    #[test]
    fn v2_obfuscated_keywords() {
        // Exact after normalisation (homoglyphs, invisible characters, math letters):
        // still the per-se keyword.
        let exact: &[Row] = &[
            ("ЅТОР", false, OptOut, KW),
            ("ѕтор", false, OptOut, KW),
            ("sΤΟΡ", false, OptOut, KW),
            ("st\u{200B}op", false, OptOut, KW),
            ("un\u{2060}subscribe", false, OptOut, KW),
            ("st\u{00AD}op", false, OptOut, KW),
            ("\u{FEFF}stop", false, OptOut, KW),
            ("𝓈𝓉𝑜𝓅", false, OptOut, KW),
            ("ꜱᴛᴏᴘ", false, OptOut, KW),
            ("🇸🇹🇴🇵", false, OptOut, KW),
        ];
        check_rows(exact, &ClassifierConfig::default());
        // Decoded (leetspeak, misspellings, spelling out): ambiguous opt-outs.
        let loose: &[Row] = &[
            ("st0p", false, OptOut, PH),
            ("5top", false, OptOut, PH),
            ("un5ubscribe", false, OptOut, PH),
            ("0pt out", false, OptOut, PH),
            ("qu1t", false, OptOut, PH),
            ("$top", false, OptOut, PH),
            ("sotp", false, OptOut, PH),
            ("unsubscirbe", false, OptOut, PH),
            ("cancle", false, OptOut, PH),
            ("opt-ot", false, OptOut, PH),
            ("revok", false, OptOut, PH),
            ("S T O P", false, OptOut, PH),
            ("Q U I T", false, OptOut, PH),
            ("St0p texting me", false, OptOut, PH),
            ("quite texting me", false, OptOut, PH),
        ];
        check_rows(loose, &ClassifierConfig::default());
    }

    #[test]
    fn v2_near_misses_stay_replies() {
        let rows: &[Row] = &[
            ("and", false, Reply, RE),
            ("send", false, Reply, RE),
            ("weekend", false, Reply, RE),
            ("quiet", false, Reply, RE),
            ("quite", false, Reply, RE),
            ("shop", false, Reply, RE),
            ("step", false, Reply, RE),
            ("top", false, Reply, RE),
            ("spot", false, Reply, RE),
            ("pending", false, Reply, RE),
            ("attend", false, Reply, RE),
            ("recommend", false, Reply, RE),
            ("cancer", false, Reply, RE),
            ("testing", false, Reply, RE),
            ("is it quiet at night?", false, Reply, RE),
            ("the shop nearby?", false, Reply, RE),
            ("I want to cancel my showing tomorrow", false, Reply, RE),
            ("is the bus stop close?", false, Reply, RE),
            ("don't stop sending me listings like this!", false, Reply, RE),
            ("I quit my job so I need something cheaper", false, Reply, RE),
            ("Any updates? Stop by anytime", false, Reply, RE),
            ("is this the end unit?", false, Reply, RE),
            ("what time does the open house end?", false, Reply, RE),
            ("Is the number of bedrooms right? wrong number of baths listed", false, Reply, RE),
            ("what's the HOA number?", false, Reply, RE),
            ("This is not affordable", false, Reply, RE),
            ("not now", false, Reply, RE),
            ("I'm not sure", false, Reply, RE),
            ("no me mandaron las fotos", false, Reply, RE),
        ];
        check_rows(rows, &ClassifierConfig::default());
    }

    #[test]
    fn v2_revocation_families() {
        let rows: &[Row] = &[
            ("please cancel these texts", false, OptOut, PH),
            ("I want to end this", false, OptOut, PH),
            ("I revoke my consent", false, OptOut, PH),
            ("Stop sending me this stuff", false, OptOut, PH),
            ("I'm not interested, stop", false, OptOut, PH),
            ("knock it off", false, OptOut, PH),
            ("enough with the texts", false, OptOut, PH),
            ("I never signed up for this", false, OptOut, PH),
            ("who gave you my number, stop", false, OptOut, PH),
            ("put me on your do not call list", false, OptOut, PH),
            ("DNC", false, OptOut, PH),
            ("dont txt me", false, OptOut, PH),
            ("take this number off your list", false, OptOut, PH),
            ("delete my info", false, OptOut, PH),
            ("wrong #", false, OptOut, PH),
            ("incorrect number", false, OptOut, PH),
            ("this isn't Ana", false, OptOut, PH),
            ("no Ana here", false, OptOut, PH),
            ("not Ana", false, OptOut, PH),
            ("I'm not Ana", false, OptOut, PH),
            ("there is no Mike at this number", false, OptOut, PH),
            ("new number, who dis", false, OptOut, PH),
            ("no me manden mensajes", false, OptOut, PH),
            ("ya no quiero mensajes", false, OptOut, PH),
            ("borren mi número", false, OptOut, PH),
            ("se equivocó de número", false, OptOut, PH),
            ("no soy Ana", false, OptOut, PH),
            ("cancelar suscripción", false, OptOut, PH),
            ("baja", false, OptOut, PH),
            ("detener", false, OptOut, PH),
            ("quítenme de su lista", false, OptOut, PH),
        ];
        check_rows(rows, &ClassifierConfig::default());
    }

    #[test]
    fn pattern_classes_exist() {
        let all = tables::STRONG_PATTERNS
            .iter()
            .chain(tables::WEAK_PATTERNS)
            .map(|r| r.pat)
            .chain(tables::MASK_PATTERNS.iter().copied());
        for pat in all {
            for part in pat.split_whitespace() {
                for alt in part.trim_end_matches('?').split('|') {
                    if let Some(name) = alt.strip_prefix('@') {
                        assert!(pattern::class(name).is_some(), "unknown class @{name} in {pat:?}");
                    }
                }
            }
        }
        // Everything compiles (and is compiled once).
        let c = pattern::compiled();
        assert_eq!(c.strong.len(), tables::STRONG_PATTERNS.len());
    }

    #[test]
    fn fuzzy_matching_is_one_edit() {
        use super::normalize::one_edit;
        assert!(one_edit("unsubscibe", "unsubscribe"));
        assert!(one_edit("cancle", "cancel"));
        assert!(one_edit("cancell", "cancel"));
        assert!(!one_edit("canc", "cancel"));
        assert!(!one_edit("", "ab"));
        assert!(one_edit("", ""));
        assert!(one_edit("a", ""));
    }

    #[test]
    fn default_config_is_empty() {
        let cfg = ClassifierConfig::default();
        assert!(cfg.extra_opt_out_phrases.is_empty());
        assert!(cfg.extra_non_revocations.is_empty());
    }

    #[test]
    fn normalize_examples() {
        let cases = [
            ("No más mensajes", "no mas mensajes"),
            ("STOPPP!!!", "stop"),
            ("don't", "dont"),
            ("Don’t TEXT me", "dont text me"),
            ("stop 🛑🛑", "stop stop stop"), // the stop sign reads as the word,
            ("  Stop.  ", "stop"),
            ("pleeease", "please"),
            ("needs too", "needs too"),
            ("Opt-Out", "opt out"),
            ("ÉLIMINAME", "eliminame"),
            ("1000 sq ft", "1000 sq ft"),
            ("a\u{0301}b", "ab"),
            ("ｓｔｏｐ", "stop"),
            ("İstanbul", "istanbul"),
            ("line1\nline2\tline3", "line1 line2 line3"),
            ("", ""),
            ("🙂", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "normalize({input:?})");
        }
    }

    #[test]
    fn squeeze_keeps_one_or_two() {
        assert_eq!(squeeze("calll", 1), "cal");
        assert_eq!(squeeze("calll", 2), "call");
        assert_eq!(squeeze("too", 1), "too");
        assert_eq!(squeeze("1111", 1), "1111");
        // Words with a real double letter still match through the squeezed-to-2 form.
        let cfg = ClassifierConfig::default();
        let c = classify("take me offff your list", false, &cfg);
        assert_eq!(c.matched.as_deref(), Some("take me off"));
        let c = classify("why do you keep texting, stop spammmming me", false, &cfg);
        assert_eq!(c.matched.as_deref(), Some("stop spamming"));
        assert_eq!(normalize("stop spammmming"), "stop spaming");
    }

    #[test]
    fn tables_are_normalised() {
        let tables: [&[&str]; 13] = [
            SPELLED_OUT_OPT_OUTS,
            OPT_OUT_KEYWORDS,
            FILLER_SAFE_OPT_OUT_KEYWORDS,
            FILLER,
            OPT_IN_KEYWORDS,
            OPT_IN_WHEN_OPTED_OUT,
            HELP_KEYWORDS,
            SOFT_WHOLE_MESSAGE_OPT_OUTS,
            STRONG_PHRASES,
            WEAK_PHRASES,
            NON_REVOCATIONS,
            EDGE_KEYWORDS,
            REFUSAL_CUES,
        ];
        for entry in tables.iter().flat_map(|t| t.iter()).chain(CHANNEL_NOUNS) {
            assert!(!entry.is_empty());
            assert_eq!(normalize(entry), *entry, "table entry not normalised");
        }
        for kw in FILLER_SAFE_OPT_OUT_KEYWORDS.iter().chain(EDGE_KEYWORDS) {
            assert!(OPT_OUT_KEYWORDS.contains(kw), "{kw} is not a per-se keyword");
        }
    }

    #[test]
    fn odd_inputs_never_panic() {
        let long_emoji = "🛑👍🏽👨‍👩‍👧‍👦".repeat(5_000);
        let long_stop = "stop ".repeat(5_000);
        let long_letters = "a".repeat(100_000);
        let combining = "e\u{301}\u{302}\u{303}".repeat(1_000);
        let inputs: Vec<String> = vec![
            String::new(),
            "\u{0}".into(),
            "\u{0}stop\u{0}".into(),
            long_emoji.clone(),
            format!("{long_emoji} stop"),
            long_stop.clone(),
            long_letters,
            combining,
            "\u{301}\u{301}".into(),
            "مرحبا، توقف عن الرسائل".into(),
            "שלום \u{200F}stop\u{200F}".into(),
            "\u{202E}pots".into(),
            "\u{FEFF}\u{200B}\u{200D}".into(),
            "ﬀ ﬁ ½ ™ ℡".into(),
            "\u{10FFFF}\u{E000}".into(),
            "'''---___".into(),
            "-".into(),
            "thank you".into(),
            "please please please".into(),
            "stop by stop by stop by".into(),
        ];
        let cfg = ClassifierConfig {
            extra_opt_out_phrases: vec!["\u{0}".into(), long_emoji, "a".repeat(500)],
            extra_non_revocations: vec!["".into(), "\u{301}".into()],
        };
        for input in &inputs {
            for opted_out in [false, true] {
                let c = classify(input, opted_out, &cfg);
                let _ = normalize(input);
                if c.intent != OptOut {
                    assert!(!c.ambiguous);
                }
            }
        }
        assert_eq!(classify(&long_stop, false, &cfg).rule, KW);
        assert_eq!(classify("\u{0}stop\u{0}", false, &cfg).rule, KW);
        assert_eq!(classify("\u{0}", false, &cfg).intent, Reply);
        assert_eq!(classify("שלום \u{200F}stop\u{200F}", false, &cfg).intent, OptOut);
    }

    #[test]
    fn serde_round_trips_without_extra_crates() {
        use serde::de::value::{Error, MapDeserializer, StrDeserializer};
        use serde::de::IntoDeserializer;

        for (name, want) in [("OptOut", OptOut), ("OptIn", OptIn), ("Help", Help), ("Reply", Reply)] {
            let got = Intent::deserialize(StrDeserializer::<Error>::new(name));
            assert_eq!(got, Ok(want));
        }

        // Missing keys fall back to the defaults (#[serde(default)]).
        let empty: Vec<(&str, Vec<String>)> = Vec::new();
        let cfg = ClassifierConfig::deserialize(MapDeserializer::<_, Error>::new(empty.into_iter()));
        assert!(cfg.is_ok_and(|c| c.extra_opt_out_phrases.is_empty() && c.extra_non_revocations.is_empty()));

        let one = vec![("extra_opt_out_phrases", vec!["quit bugging me".to_string()])];
        let cfg = ClassifierConfig::deserialize(MapDeserializer::<_, Error>::new(
            one.into_iter().map(|(k, v)| (k, v.into_deserializer())),
        ));
        let cfg = cfg.unwrap_or_default();
        assert_eq!(cfg.extra_opt_out_phrases, vec!["quit bugging me".to_string()]);
        assert!(cfg.extra_non_revocations.is_empty());
    }

    #[test]
    fn many_clauses_stay_fast() {
        let text = "a. ".repeat(20_000) + "stop";
        let c = classify(&text, false, &ClassifierConfig::default());
        assert_eq!((c.intent, c.rule), (OptOut, PH));
    }
}
