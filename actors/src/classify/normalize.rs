//! Normalisation and tokenisation (see the module documentation of `classify`).

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use super::tables::{FUZZY_EXCLUDE, FUZZY_TARGETS, HOMOGLYPHS, INVISIBLE, LEET, MISSPELLINGS, SPELLED_OUT_OPT_OUTS};

/// One normalised word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    /// Runs of 3+ identical letters squeezed to one ("stoppp" -> "stop").
    pub one: String,
    /// Runs of 3+ identical letters squeezed to two ("calll" -> "call").
    pub two: String,
    /// Digits and symbols read as letters, for words mixing them ("st0p" -> "stop").
    pub leet: Option<String>,
    /// The word this one is a known (or one-edit) misspelling of ("stpo" -> "stop").
    pub canon: Option<&'static str>,
    /// False when the word was decoded (spelled out letter by letter): it then only counts
    /// in the loose (ambiguous) tiers, never as an exact per-se keyword.
    pub plain: bool,
    /// Index of the clause (split at sentence punctuation, emoji, line breaks).
    pub clause: usize,
}

impl Token {
    pub(super) fn new(raw: &str, clause: usize, plain: bool) -> Self {
        let one = squeeze(raw, 1);
        let two = squeeze(raw, 2);
        let mixed = raw.chars().any(char::is_alphabetic) && raw.chars().any(|c| leet(c).is_some());
        let leet = mixed.then(|| squeeze(&raw.chars().map(|c| leet(c).unwrap_or(c)).collect::<String>(), 1));
        let canon = canonical(&one).or_else(|| canonical(&two)).or_else(|| leet.as_deref().and_then(canonical));
        Token { one, two, leet, canon, plain, clause }
    }

    /// Does this word spell `word` exactly (after normalisation)? Used for per-se keywords.
    pub(super) fn is_exactly(&self, word: &str) -> bool {
        self.plain && (self.one == word || self.two == word)
    }

    /// Does this word spell `word`, also through leetspeak or a misspelling?
    pub(super) fn is(&self, word: &str) -> bool {
        self.one == word || self.two == word || self.leet.as_deref() == Some(word) || self.canon == Some(word)
    }

    /// Does this word start with `prefix` (plain spelling only)?
    pub(super) fn starts_with(&self, prefix: &str) -> bool {
        self.one.starts_with(prefix) || self.two.starts_with(prefix)
    }
}

fn leet(c: char) -> Option<char> {
    LEET.iter().find(|(from, _)| *from == c).map(|(_, to)| *to)
}

/// The canonical word `word` misspells: from the curated table, or one edit away from a
/// fuzzy target (only for words of 6+ letters with the same first letter).
fn canonical(word: &str) -> Option<&'static str> {
    if let Some((_, to)) = MISSPELLINGS.iter().find(|(from, _)| *from == word) {
        return Some(to);
    }
    let len = word.chars().count();
    if len < 6 || !word.chars().all(|c| c.is_ascii_lowercase()) || FUZZY_EXCLUDE.contains(&word) {
        return None;
    }
    FUZZY_TARGETS.iter().copied().find(|t| *t != word && t.chars().next() == word.chars().next() && one_edit(word, t))
}

/// Are `a` and `b` at most one edit apart (insertion, deletion, substitution, or
/// transposition of two neighbours)?
pub(super) fn one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a == b {
        return true;
    }
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let p = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = |s: &[char], from: usize| s.get(from..).map(<[char]>::to_vec);
    match a.len().cmp(&b.len()) {
        std::cmp::Ordering::Equal => {
            if tail(&a, p + 1) == tail(&b, p + 1) {
                return true;
            }
            let swapped = a.get(p) == b.get(p + 1) && a.get(p + 1) == b.get(p);
            swapped && tail(&a, p + 2) == tail(&b, p + 2)
        }
        std::cmp::Ordering::Less => tail(&a, p) == tail(&b, p + 1),
        std::cmp::Ordering::Greater => tail(&a, p + 1) == tail(&b, p),
    }
}

/// What a character becomes after normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Letter(char),
    /// `$`, `@`, `|`: letters only inside a word ("$top", "c@ncel").
    Symbol(char),
    /// `#`: read as the word "number" ("wrong #").
    Number,
    Space,
    ClauseBreak,
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '`' | '\u{00B4}' | '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02BC}' | '\u{2032}')
}

/// Characters that separate words but not clauses ("opt-out", "non-stop").
fn is_word_joiner(c: char) -> bool {
    matches!(c, '-' | '_' | '\u{2010}' | '\u{2011}')
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn piece(c: char) -> Piece {
    if c.is_alphanumeric() {
        Piece::Letter(c)
    } else if matches!(c, '$' | '@' | '|') {
        Piece::Symbol(c)
    } else if c == '#' {
        Piece::Number
    } else if is_word_joiner(c) || (c.is_whitespace() && !is_line_break(c)) {
        Piece::Space
    } else {
        Piece::ClauseBreak
    }
}

/// Map a look-alike letter to the Latin letter it imitates.
fn unconfuse(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    // Regional indicator symbols (🇸🇹🇴🇵) spell letters.
    if ('\u{1F1E6}'..='\u{1F1FF}').contains(&c) {
        return char::from_u32(u32::from('a') + (u32::from(c) - 0x1F1E6)).unwrap_or(c);
    }
    HOMOGLYPHS.iter().find(|(from, _)| *from == c).map_or(c, |(_, to)| *to)
}

/// Feed the normalised character stream of `text` to `sink`.
fn for_each_piece(text: &str, mut sink: impl FnMut(Piece)) {
    for raw in text.chars() {
        // Dropped before decomposition: U+00B4 would decompose into space + accent.
        if is_apostrophe(raw) || INVISIBLE.contains(&raw) {
            continue;
        }
        decompose_compatible(raw, |d| {
            if is_combining_mark(d) || is_apostrophe(d) || INVISIBLE.contains(&d) {
                return;
            }
            for lower in unconfuse(d).to_lowercase() {
                // to_lowercase can emit combining marks ('İ' -> "i\u{307}").
                if !is_combining_mark(lower) {
                    sink(piece(unconfuse(lower)));
                }
            }
        });
    }
}

/// U+1F6D1 OCTAGONAL SIGN.
const STOP_SIGN: char = '\u{1F6D1}';

/// Split `text` into normalised words tagged with their clause.
pub(super) fn tokenize(text: &str) -> Vec<Token> {
    // The stop-sign emoji says the word: "🛑" alone is a STOP.
    let text: std::borrow::Cow<'_, str> =
        if text.contains(STOP_SIGN) { text.replace(STOP_SIGN, " stop ").into() } else { text.into() };
    let mut pieces = Vec::new();
    for_each_piece(&text, |p| pieces.push(p));

    let mut words: Vec<(String, usize)> = Vec::new();
    let mut word = String::new();
    let mut clause = 0usize;
    let mut flush = |word: &mut String, clause: usize| {
        if !word.is_empty() {
            words.push((std::mem::take(word), clause));
        }
    };
    for (i, p) in pieces.iter().enumerate() {
        match *p {
            Piece::Letter(c) => word.push(c),
            Piece::Symbol(c) => {
                // A symbol is a letter only when a letter follows ("$top", "c@ncel").
                let next_is_letter = matches!(pieces.get(i + 1), Some(Piece::Letter(n)) if n.is_alphabetic());
                if next_is_letter {
                    word.push(c);
                } else {
                    flush(&mut word, clause);
                }
            }
            Piece::Number => {
                flush(&mut word, clause);
                word.push_str("number");
                flush(&mut word, clause);
            }
            Piece::Space => flush(&mut word, clause),
            Piece::ClauseBreak => {
                flush(&mut word, clause);
                clause += 1;
            }
        }
    }
    flush(&mut word, clause);
    join_spelled_out(words)
}

/// Replace runs of one-character words that spell an opt-out word ("S T O P",
/// "s.t.o.p", "u n s u b") by that word, marked as decoded.
fn join_spelled_out(words: Vec<(String, usize)>) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let rest = words.get(i..).unwrap_or(&[]);
        let run = rest.iter().take_while(|(w, _)| w.chars().count() == 1).count().max(1);
        let group = rest.get(..run).unwrap_or(&[]);
        // The longest spelled-out word is "unsubscribe" (11 letters).
        if (3..=12).contains(&run) {
            let joined: String = group.iter().map(|(w, _)| w.as_str()).collect();
            let clause = group.first().map_or(0, |(_, c)| *c);
            let tok = Token::new(&joined, clause, false);
            if SPELLED_OUT_OPT_OUTS.iter().any(|kw| tok.is(kw)) {
                tokens.push(tok);
                i += run;
                continue;
            }
        }
        tokens.extend(group.iter().map(|(w, clause)| Token::new(w, *clause, true)));
        i += run;
    }
    tokens
}

/// Squeeze runs of 3+ identical letters down to `keep` copies. Digits and shorter runs
/// are left alone so "too", "needs" and "1000" survive.
pub(super) fn squeeze(word: &str, keep: usize) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1usize;
        while chars.next_if_eq(&c).is_some() {
            run += 1;
        }
        let n = if run >= 3 && c.is_alphabetic() { keep.min(run) } else { run };
        out.extend(std::iter::repeat_n(c, n));
    }
    out
}

/// Collapse every run of identical characters to one ("stopp" -> "stop"). Only used for
/// the soft misspelling check on whole messages.
pub(super) fn dedup_letters(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut last = None;
    for c in word.chars() {
        if last != Some(c) {
            out.push(c);
        }
        last = Some(c);
    }
    out
}
