//! What the texts themselves must say, checked on the rendered templates at start-up.
//!
//! - Opt-out instructions: the first text and HELP (CTIA Messaging Principles and Best
//!   Practices, 2023, 5.1.2 and 5.1.3), and every automated text when Canadian numbers are
//!   allowed (CASL, S.C. 2010 c. 23, s. 6(2)(c): an unsubscribe mechanism in every
//!   commercial electronic message).
//! - The first text identifies the sender (the brand or a legal name) and, with
//!   `compliance.require_ctia_disclosures`, states the message frequency, "Msg & data rates
//!   may apply" and how to get HELP (CTIA 5.1.2; carriers' 10DLC campaign review).

use crate::consent::SellerNames;

/// Words that turn "STOP" into an instruction ("Reply STOP to opt out", "Text STOP to end").
const OPT_OUT_VERBS: &[&str] = &["opt out", "optout", "unsubscribe", "end", "stop", "cancel", "quit"];

/// Whether the text tells the lead how to opt out: the keyword STOP as a word, and a
/// word saying what it does.
pub fn has_opt_out_instructions(text: &str) -> bool {
    let w = words(text);
    let has_stop = w.iter().any(|x| x == "stop");
    let phrase = format!(" {} ", w.join(" "));
    let explained = OPT_OUT_VERBS.iter().filter(|v| **v != "stop").any(|v| phrase.contains(&format!(" {v} ")))
        || phrase.matches(" stop ").count() >= 2
        || phrase.contains(" to stop ");
    has_stop && explained
}

/// What a first text lacks (empty when it is complete), in words for the error message.
pub fn missing_first_text_disclosures(text: &str, names: &SellerNames, ctia: bool) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if names.named_in(text).is_none() {
        missing.push("identify the brokerage by its brand or a legal name");
    }
    if !has_opt_out_instructions(text) {
        missing.push("say how to opt out (\"Reply STOP to opt out\")");
    }
    if ctia {
        let phrase = format!(" {} ", words(text).join(" "));
        if !(phrase.contains(" frequency ") || phrase.contains(" freq ")) {
            missing.push("state the message frequency (\"Msg frequency varies\")");
        }
        let rates = ["msg & data rates may apply", "msg and data rates may apply", "message and data rates may apply"];
        let lower = text.to_lowercase();
        if !rates.iter().any(|r| lower.contains(r)) {
            missing.push("say \"Msg & data rates may apply\"");
        }
        if !phrase.contains(" help ") {
            missing.push("say how to get help (\"Reply HELP for help\")");
        }
    }
    missing
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '&')).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_instructions_need_the_keyword_and_what_it_does() {
        assert!(has_opt_out_instructions("Reply STOP to opt out."));
        assert!(has_opt_out_instructions("Text STOP to unsubscribe"));
        assert!(has_opt_out_instructions("Reply HELP for help, STOP to opt out."));
        assert!(has_opt_out_instructions("STOP to end"));
        assert!(!has_opt_out_instructions("We never stop looking for homes for you."));
        assert!(!has_opt_out_instructions("Stop by the open house!"));
        assert!(!has_opt_out_instructions("Reply to opt out"), "without the keyword the lead cannot act");
        assert!(!has_opt_out_instructions("unstoppable deals"));
    }

    #[test]
    fn the_first_text_carries_brand_and_ctia_disclosures() {
        let names = SellerNames::new("Acme Realty", &[]);
        let full = "Hi Ana, this is Acme Realty. Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.";
        assert!(missing_first_text_disclosures(full, &names, true).is_empty());
        let short = "Hi Ana, this is Acme Realty. Reply STOP to opt out.";
        assert!(missing_first_text_disclosures(short, &names, false).is_empty());
        assert_eq!(missing_first_text_disclosures(short, &names, true).len(), 3);
        let anonymous = "Hi Ana! Reply STOP to opt out.";
        assert_eq!(missing_first_text_disclosures(anonymous, &names, false).len(), 1);
    }
}
