//! Standard Webhooks signatures (<https://www.standardwebhooks.com>, symmetric scheme `v1`):
//!
//! - headers `webhook-id` (the message id, the same on every retry), `webhook-timestamp`
//!   (unix seconds) and `webhook-signature`: a space-separated list of `v1,<base64>`;
//! - each signature is `base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))`;
//! - a secret is written `whsec_<base64 of the key>`; the HMAC key is the decoded bytes.
//!
//! leadline accepts them on `/v1/events/*` and the lead-source adapters (the HTTP side, with
//! the timestamp tolerance and the `webhook-id` replay, is `http::webhooks::signed`), with
//! several secrets at once for rotation (`LEADLINE_WEBHOOK_SECRETS`). The policy of
//! [`crate::integrations::signature`] holds here too: constant-time comparisons, malformed
//! input is `false`, nothing panics.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The signature version leadline accepts (symmetric HMAC-SHA256).
pub const VERSION_PREFIX: &str = "v1,";
/// The specification recommends keys of 24 to 64 bytes; shorter ones are refused.
pub const MIN_KEY_BYTES: usize = 24;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Standard base64 that accepts the encoding with or without its `=` padding (senders differ).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// What signatures are written with: standard base64 with padding, as the specification does.
const BASE64_OUT: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One HMAC key, decoded from a `whsec_...` secret. `Debug` never prints it.
#[derive(Clone)]
pub struct WebhookKey(Vec<u8>);

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookKey(<{} bytes>)", self.0.len())
    }
}

/// Why a secret is not a Standard Webhooks secret (the message never contains the secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("it is empty (a stray comma?)")]
    Empty,
    #[error("it does not start with {SECRET_PREFIX}")]
    NoPrefix,
    #[error("the part after {SECRET_PREFIX} is not valid base64")]
    NotBase64,
    #[error("its key is {0} bytes long; at least {MIN_KEY_BYTES} are required")]
    TooShort(usize),
}

impl WebhookKey {
    /// Parses `whsec_<base64>` (surrounding whitespace ignored).
    pub fn parse(secret: &str) -> Result<WebhookKey, SecretError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(SecretError::Empty);
        }
        let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(SecretError::NoPrefix)?;
        let key = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if key.len() < MIN_KEY_BYTES {
            return Err(SecretError::TooShort(key.len()));
        }
        Ok(WebhookKey(key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Option<[u8; 32]> {
        let mut mac = HmacSha256::new_from_slice(&self.0).ok()?;
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        Some(mac.finalize().into_bytes().into())
    }
}

/// Parses every secret of a list (`LEADLINE_WEBHOOK_SECRETS`, already split at the commas);
/// the error names the entry by its position (1-based), never by its value.
pub fn parse_secrets(secrets: &[String]) -> Result<Vec<WebhookKey>, String> {
    secrets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            WebhookKey::parse(s).map_err(|e| {
                format!(
                    "LEADLINE_WEBHOOK_SECRETS: entry {} of {} is not a Standard Webhooks secret: {e} (expected \
                     {SECRET_PREFIX}<base64 of a random key of {MIN_KEY_BYTES} to 64 bytes>, e.g. \
                     \"{SECRET_PREFIX}$(openssl rand -base64 32)\"; separate several secrets with commas)",
                    i + 1,
                    secrets.len()
                )
            })
        })
        .collect()
}

/// The `webhook-signature` value for one key: `v1,<base64 HMAC-SHA256>`.
pub fn sign(key: &WebhookKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    match key.mac(id, timestamp, body) {
        Some(mac) => format!("{VERSION_PREFIX}{}", BASE64_OUT.encode(mac)),
        // HMAC accepts keys of any length, so this branch is unreachable in practice.
        None => String::new(),
    }
}

/// The `webhook-signature` value of an outbound message signed with every key (several
/// during a rotation): the `v1,<base64>` entries separated by spaces, as the specification
/// writes them, so a receiver holding any one of the secrets verifies it.
pub fn signature_header(keys: &[WebhookKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter().map(|k| sign(k, id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Parses a `webhook-timestamp`: unix seconds, ASCII digits only (surrounding whitespace
/// ignored). `None` for anything else.
pub fn parse_timestamp(header: &str) -> Option<i64> {
    let t = header.trim();
    if t.is_empty() || t.len() > 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// True if any `v1,` signature in `header` (space-separated; other versions are ignored) is
/// the signature of `id`, `timestamp` and `body` under any of `keys`. Every comparison is
/// constant-time; an empty key list or a header without a usable `v1,` entry is `false`.
pub fn verify(keys: &[WebhookKey], id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let given: Vec<Vec<u8>> = header
        .split_ascii_whitespace()
        .filter_map(|s| s.strip_prefix(VERSION_PREFIX))
        .filter_map(|b64| BASE64.decode(b64).ok())
        .filter(|sig| sig.len() == 32)
        .collect();
    if given.is_empty() {
        return false;
    }
    let mut ok = subtle::Choice::from(0u8);
    for key in keys {
        let Some(expected) = key.mac(id, timestamp, body) else {
            continue;
        };
        for sig in &given {
            ok |= expected.as_slice().ct_eq(sig);
        }
    }
    ok.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The signing test vector of the Standard Webhooks reference libraries:
    // standard-webhooks/standard-webhooks, libraries/go/webhook_test.go, `TestWebhookSign`
    // (commit 449485caf9c0303530c19524fbe4096680aafcf1).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_key() -> WebhookKey {
        WebhookKey::parse(SPEC_SECRET).expect("the specification's secret parses")
    }

    fn key(byte: u8) -> WebhookKey {
        WebhookKey(vec![byte; 32])
    }

    #[test]
    fn the_specifications_test_vector() {
        let keys = [spec_key()];
        assert_eq!(sign(&keys[0], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE);
        assert!(verify(&keys, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE));
        // The reference libraries' "invalid signature" value is refused.
        let wrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
        assert!(!verify(&keys, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, wrong));
        // Their "valid multi sig" header: unknown versions and wrong v1 entries are skipped.
        let multi = format!("{wrong} v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {SPEC_SIGNATURE} {wrong}");
        assert!(verify(&keys, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, &multi));
    }

    #[test]
    fn any_of_several_keys_matches() {
        let (old, new, other) = (key(1), key(2), key(3));
        let sig = sign(&new, "msg_1", 1_700_000_000, b"{}");
        assert!(verify(&[old.clone(), new.clone()], "msg_1", 1_700_000_000, b"{}", &sig));
        assert!(!verify(&[old, other], "msg_1", 1_700_000_000, b"{}", &sig));
        assert!(!verify(&[], "msg_1", 1_700_000_000, b"{}", &sig), "no keys");
    }

    #[test]
    fn every_signed_part_counts() {
        let k = key(7);
        let sig = sign(&k, "msg_1", 1_700_000_000, b"body");
        let keys = [k];
        assert!(verify(&keys, "msg_1", 1_700_000_000, b"body", &sig));
        assert!(!verify(&keys, "msg_2", 1_700_000_000, b"body", &sig), "id");
        assert!(!verify(&keys, "msg_1", 1_700_000_001, b"body", &sig), "timestamp");
        assert!(!verify(&keys, "msg_1", 1_700_000_000, b"body!", &sig), "body");
        let b64 = &sig[VERSION_PREFIX.len()..];
        for bad in ["", " ", "v1,", b64, &format!("v2,{b64}"), &format!("V1,{b64}"), "v1,!!!", "v1,AAAA"] {
            assert!(!verify(&keys, "msg_1", 1_700_000_000, b"body", bad), "{bad:?}");
        }
        // Unpadded base64 and extra whitespace are fine.
        let unpadded = sig.trim_end_matches('=');
        assert!(verify(&keys, "msg_1", 1_700_000_000, b"body", &format!("  {unpadded}  ")));
    }

    #[test]
    fn secrets_are_parsed_strictly() {
        assert!(WebhookKey::parse(&format!(" {SPEC_SECRET} ")).is_ok());
        let padded = format!("{SECRET_PREFIX}{}", BASE64_OUT.encode([9u8; 32]));
        assert!(padded.ends_with('='));
        assert!(WebhookKey::parse(&padded).is_ok());
        assert_eq!(WebhookKey::parse(" ").unwrap_err(), SecretError::Empty);
        assert_eq!(WebhookKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(), SecretError::NoPrefix);
        assert_eq!(WebhookKey::parse("whsec_not base64!").unwrap_err(), SecretError::NotBase64);
        assert_eq!(WebhookKey::parse("whsec_").unwrap_err(), SecretError::TooShort(0));
        assert_eq!(WebhookKey::parse("whsec_c2hvcnQ=").unwrap_err(), SecretError::TooShort(5));

        let list = vec![SPEC_SECRET.to_string(), "whsec_c2hvcnQ=".to_string()];
        let err = parse_secrets(&list).unwrap_err();
        assert!(err.contains("entry 2 of 2") && err.contains("at least 24"), "{err}");
        assert!(!err.contains("c2hvcnQ"), "the message must not show the secret: {err}");
        assert_eq!(parse_secrets(&list[..1]).unwrap().len(), 1);
        assert!(!format!("{:?}", spec_key()).contains("MfKQ"));
    }

    #[test]
    fn timestamps_are_unix_seconds() {
        assert_eq!(parse_timestamp("1614265330"), Some(1614265330));
        assert_eq!(parse_timestamp(" 1614265330 "), Some(1614265330));
        for bad in ["", "-1", "+1", "1.5", "1e9", "2026-11-26T18:00:00Z", "99999999999999999999"] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }
}
