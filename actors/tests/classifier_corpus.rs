//! Runs the classifier over a labelled corpus of realistic SMS replies
//! (`tests/corpus/replies.tsv`, `label<TAB>text`):
//! * every `revoke` line must be an opt-out (100% recall; every miss is listed);
//! * the false-revocation rate on `reply` lines is printed (run with `--nocapture`) and
//!   must stay at or under [`MAX_FALSE_REVOCATION_RATE`]; the false positives are listed;
//! * `help` lines must be help requests, `optin` lines (classified while opted out) opt-ins.

use leadline_core::classify::{classify, ClassifierConfig, Intent, CLASSIFIER_VERSION};

const CORPUS: &str = include_str!("corpus/replies.tsv");

/// Highest acceptable share of ordinary replies classified as revocations.
const MAX_FALSE_REVOCATION_RATE: f64 = 0.05;

fn corpus() -> Vec<(&'static str, &'static str)> {
    CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('\t').unwrap_or_else(|| panic!("line without a tab: {l:?}")))
        .collect()
}

#[test]
fn corpus_is_well_formed_and_large_enough() {
    let rows = corpus();
    assert!(rows.len() >= 450, "corpus has only {} lines", rows.len());
    for (label, _) in &rows {
        assert!(["revoke", "reply", "help", "optin"].contains(label), "unknown label {label:?}");
    }
    for label in ["revoke", "reply", "help", "optin"] {
        let n = rows.iter().filter(|(l, _)| *l == label).count();
        println!("corpus: {n} {label} lines");
        assert!(n > 0, "no {label} lines");
    }
}

#[test]
fn classifier_corpus() {
    let cfg = ClassifierConfig::default();
    let rows = corpus();
    let mut misses = Vec::new();
    let mut false_revocations = Vec::new();
    let mut wrong_other = Vec::new();
    let (mut revokes, mut replies) = (0usize, 0usize);

    for (label, text) in &rows {
        let opted_out = *label == "optin";
        let c = classify(text, opted_out, &cfg);
        match *label {
            "revoke" => {
                revokes += 1;
                if c.intent != Intent::OptOut {
                    misses.push(format!("  {text:?} -> {:?} ({}, matched {:?})", c.intent, c.rule, c.matched));
                }
            }
            "reply" => {
                replies += 1;
                if c.intent == Intent::OptOut {
                    false_revocations.push(format!("  {text:?} -> {} (matched {:?})", c.rule, c.matched));
                } else if c.intent != Intent::Reply {
                    wrong_other.push(format!("  reply {text:?} -> {c:?}"));
                }
            }
            "help" if c.intent != Intent::Help => wrong_other.push(format!("  help {text:?} -> {c:?}")),
            "optin" if c.intent != Intent::OptIn => wrong_other.push(format!("  optin {text:?} -> {c:?}")),
            _ => {}
        }
    }

    let recall = (revokes - misses.len()) as f64 / revokes.max(1) as f64;
    let fp_rate = false_revocations.len() as f64 / replies.max(1) as f64;
    println!("classifier version {CLASSIFIER_VERSION}");
    println!("revocation recall: {:.2}% ({} of {revokes} revoke lines)", recall * 100.0, revokes - misses.len());
    println!("false-revocation rate: {:.2}% ({} of {replies} reply lines)", fp_rate * 100.0, false_revocations.len());
    if !false_revocations.is_empty() {
        println!("false revocations:\n{}", false_revocations.join("\n"));
    }

    assert!(misses.is_empty(), "missed revocations ({}):\n{}", misses.len(), misses.join("\n"));
    assert!(wrong_other.is_empty(), "wrong help/opt-in/reply intents:\n{}", wrong_other.join("\n"));
    assert!(
        fp_rate <= MAX_FALSE_REVOCATION_RATE,
        "false-revocation rate {:.2}% above {:.0}%:\n{}",
        fp_rate * 100.0,
        MAX_FALSE_REVOCATION_RATE * 100.0,
        false_revocations.join("\n")
    );
}
