//! A tiny word-pattern language over tokens (syntax in `tables.rs`). Patterns are
//! compiled once (`OnceLock`) and matched with bounded backtracking.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::normalize::Token;
use super::tables::{Rule, CLASSES, FILLER, MASK_PATTERNS, NOT_NAMES, STRONG_PATTERNS, TAIL_WORDS, WEAK_PATTERNS};
use super::Span;

/// Spanish verb endings that make a prefix match a past/imperfect form ("no me
/// mandaron las fotos" is not a request).
const PAST_ENDINGS: &[&str] = &["aron", "ieron", "aste", "iste", "o", "aba", "aban", "ia", "ian", "ado", "ido"];

/// Endings that mark a word as an ordinary adjective/verb/noun rather than a name.
const NOT_NAME_SUFFIXES: &[&str] =
    &["ing", "able", "ible", "ful", "ous", "ive", "ness", "ment", "tion", "sion", "less", "ish", "ally"];

/// Words that may open a clause before a `^` pattern ("hey, not Ana").
const LEAD_WORDS: &[&str] = &["hi", "hey", "hello", "hola", "um", "uh", "uhh", "oh", "ugh", "yo", "omg", "well", "so"];

#[derive(Debug, Clone)]
enum Alt {
    Words(Vec<String>),
    Prefix(String),
}

#[derive(Debug, Clone)]
enum Elem {
    Alts(Vec<Alt>),
    Name,
    Gap(usize),
    Start,
    End,
}

#[derive(Debug, Clone)]
struct Item {
    elem: Elem,
    optional: bool,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    items: Vec<Item>,
    /// Words one of which must be at the start of any match (a quick pre-check), if known.
    first_words: Option<HashSet<String>>,
    /// May span clauses.
    pub message: bool,
    /// Normalised phrases that switch the pattern off when present in the message.
    pub unless: Vec<String>,
}

pub(super) struct Compiled {
    pub strong: Vec<Pattern>,
    pub weak: Vec<Pattern>,
    pub masks: Vec<Pattern>,
}

/// All built-in patterns, compiled on first use.
pub(super) fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| Compiled {
        strong: STRONG_PATTERNS.iter().map(compile_rule).collect(),
        weak: WEAK_PATTERNS.iter().map(compile_rule).collect(),
        masks: MASK_PATTERNS.iter().map(|p| compile(p, false)).collect(),
    })
}

fn compile_rule(rule: &Rule) -> Pattern {
    let mut p = compile(rule.pat, rule.message);
    p.unless = rule.unless.iter().map(|s| s.to_string()).collect();
    p
}

fn alt(entry: &str) -> Alt {
    match entry.strip_suffix('*') {
        Some(prefix) => Alt::Prefix(prefix.to_string()),
        None => Alt::Words(entry.split([' ', '+']).filter(|w| !w.is_empty()).map(str::to_string).collect()),
    }
}

/// The entries of a class; an unknown class is empty (a unit test checks none is unknown).
pub(super) fn class(name: &str) -> Option<&'static [&'static str]> {
    CLASSES.iter().find(|(n, _)| *n == name).map(|(_, entries)| *entries)
}

/// Compile `source`; never fails (an unknown class matches nothing).
pub(super) fn compile(source: &str, message: bool) -> Pattern {
    let items = source
        .split_whitespace()
        .map(|part| {
            let (body, optional) = match part.strip_suffix('?') {
                Some(b) => (b, true),
                None => (part, false),
            };
            let elem = match body {
                "^" => Elem::Start,
                "$" => Elem::End,
                "NAME" => Elem::Name,
                _ if body.starts_with('~') => Elem::Gap(body.get(1..).and_then(|n| n.parse().ok()).unwrap_or(0)),
                _ => Elem::Alts(
                    body.split('|')
                        .filter(|a| !a.is_empty())
                        .flat_map(|a| match a.strip_prefix('@') {
                            Some(name) => class(name).unwrap_or(&[]).iter().map(|e| alt(e)).collect::<Vec<Alt>>(),
                            None => vec![alt(a)],
                        })
                        .collect(),
                ),
            };
            Item { elem, optional }
        })
        .collect::<Vec<Item>>();
    let first_words = first_words(&items);
    Pattern { items, message, unless: Vec::new(), first_words }
}

/// The words a match must start with, when the first element is a required list of words.
fn first_words(items: &[Item]) -> Option<HashSet<String>> {
    let first = items.iter().find(|i| !matches!(i.elem, Elem::Start))?;
    let Elem::Alts(alts) = &first.elem else { return None };
    if first.optional {
        return None;
    }
    alts.iter()
        .map(|a| match a {
            Alt::Words(w) => w.first().cloned(),
            Alt::Prefix(_) => None,
        })
        .collect()
}

fn could_start(tok: &Token, words: &HashSet<String>) -> bool {
    words.contains(&tok.one)
        || words.contains(&tok.two)
        || tok.leet.as_ref().is_some_and(|l| words.contains(l))
        || tok.canon.is_some_and(|c| words.contains(c))
}

fn not_names() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| NOT_NAMES.iter().chain(FILLER).chain(TAIL_WORDS).copied().collect())
}

/// Does `tokens[pos..]` start with the words of `words` (all inside `within`)?
fn words_at<'a>(tokens: &[Token], pos: usize, words: impl IntoIterator<Item = &'a str>, within: Span) -> Option<usize> {
    let mut end = pos;
    for w in words {
        if end >= within.end {
            return None;
        }
        if !tokens.get(end)?.is(w) {
            return None;
        }
        end += 1;
    }
    Some(end)
}

/// Length of the filler/tail phrase at `pos`, if any.
fn noise_at(tokens: &[Token], pos: usize, within: Span, lists: &[&[&str]]) -> Option<usize> {
    lists
        .iter()
        .flat_map(|l| l.iter())
        .find_map(|phrase| words_at(tokens, pos, phrase.split(' '), within).map(|end| end - pos))
}

/// Is every token in `[pos, within.end)` filler or a tail word?
fn only_noise_until_end(tokens: &[Token], mut pos: usize, within: Span) -> bool {
    while pos < within.end {
        match noise_at(tokens, pos, within, &[FILLER, TAIL_WORDS]) {
            Some(len) if len > 0 => pos += len,
            _ => return false,
        }
    }
    true
}

/// Is every token in `[within.start, pos)` filler or a greeting?
fn only_noise_before(tokens: &[Token], pos: usize, within: Span) -> bool {
    let mut i = within.start;
    while i < pos {
        match noise_at(tokens, i, within, &[FILLER, LEAD_WORDS]) {
            Some(len) if len > 0 && i + len <= pos => i += len,
            _ => return false,
        }
    }
    true
}

/// Could this word be a person's name ("Ana", "John")?
fn is_name(tok: &Token) -> bool {
    let w = tok.one.as_str();
    let len = w.chars().count();
    (2..=12).contains(&len)
        && w.chars().all(|c| c.is_ascii_lowercase())
        && tok.canon.is_none()
        && !not_names().contains(w)
        && !not_names().contains(tok.two.as_str())
        && !NOT_NAME_SUFFIXES.iter().any(|s| len >= s.len() + 3 && w.ends_with(s))
        && !(len >= 6 && w.ends_with("ed"))
}

fn prefix_matches(tok: &Token, prefix: &str) -> bool {
    tok.starts_with(prefix) && !PAST_ENDINGS.iter().any(|e| tok.one.ends_with(e) && tok.one.len() > prefix.len())
}

/// Match `items` at `pos`, returning the end of the match.
fn match_items(tokens: &[Token], pos: usize, items: &[Item], within: Span, depth: usize) -> Option<usize> {
    let Some((item, rest)) = items.split_first() else {
        return Some(pos);
    };
    if depth > 64 {
        return None;
    }
    let found = match_elem(tokens, pos, &item.elem, rest, within, depth);
    if found.is_none() && item.optional {
        return match_items(tokens, pos, rest, within, depth + 1);
    }
    found
}

/// Match `elem` at `pos`, then `rest`.
fn match_elem(tokens: &[Token], pos: usize, elem: &Elem, rest: &[Item], within: Span, depth: usize) -> Option<usize> {
    match elem {
        Elem::Start => {
            if only_noise_before(tokens, pos, within) {
                match_items(tokens, pos, rest, within, depth + 1)
            } else {
                None
            }
        }
        Elem::End => only_noise_until_end(tokens, pos, within).then_some(pos),
        Elem::Name => {
            let tok = tokens.get(pos).filter(|_| pos < within.end)?;
            if is_name(tok) {
                match_items(tokens, pos + 1, rest, within, depth + 1)
            } else {
                None
            }
        }
        Elem::Gap(n) => (0..=*n)
            .take_while(|k| pos + k <= within.end)
            .find_map(|k| match_items(tokens, pos + k, rest, within, depth + 1)),
        Elem::Alts(alts) => alts.iter().find_map(|a| {
            let end = match a {
                Alt::Words(words) => words_at(tokens, pos, words.iter().map(String::as_str), within)?,
                Alt::Prefix(p) => {
                    let tok = tokens.get(pos).filter(|_| pos < within.end)?;
                    if !prefix_matches(tok, p) {
                        return None;
                    }
                    pos + 1
                }
            };
            match_items(tokens, end, rest, within, depth + 1)
        }),
    }
}

/// All non-empty occurrences of `pattern` in `within` (at most one per start position).
pub(super) fn occurrences(tokens: &[Token], pattern: &Pattern, within: Span) -> Vec<Span> {
    (within.start..within.end)
        .filter(|start| match (&pattern.first_words, tokens.get(*start)) {
            (Some(words), Some(tok)) => could_start(tok, words),
            (None, Some(_)) => true,
            _ => false,
        })
        .filter_map(|start| {
            let end = match_items(tokens, start, &pattern.items, within, 0)?;
            (end > start).then_some(Span { start, end })
        })
        .collect()
}
