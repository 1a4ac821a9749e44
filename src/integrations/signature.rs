//! Webhook signatures that are plain HMAC-SHA256: leadline's own `X-Leadline-Signature`
//! (`sha256=<hex HMAC-SHA256(secret, raw body)>`, on `/v1/events/*`, where it is the legacy
//! scheme next to Standard Webhooks ([`crate::integrations::standard_webhooks`]), and on the
//! hand-off notifications leadline sends) and the hex helpers Follow Up Boss's scheme reuses
//! ([`crate::integrations::followupboss::signature`]). Twilio's scheme is in
//! [`crate::integrations::twilio::signature`].
//!
//! Policy shared by every `verify_*` function of the integrations:
//!
//! * Comparisons are constant-time (`Mac::verify_slice`, `subtle::ConstantTimeEq`).
//! * A malformed header (empty, bad base64/hex, wrong prefix, wrong length) returns `false`.
//! * An empty key/token/secret returns `false` (fail closed on misconfiguration).
//! * Surrounding ASCII whitespace in a header value is ignored.
//! * Hex signatures are accepted in lower or upper case.
//! * Nothing here panics, whatever the input.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of the `X-Leadline-Signature` header value.
const LEADLINE_PREFIX: &str = "sha256=";

/// Generic webhooks: header `X-Leadline-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.
///
/// The `sha256=` prefix must be present and lower case; the hex may be lower or upper case.
pub fn verify_leadline(body: &[u8], secret: &str, header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix(LEADLINE_PREFIX) else {
        return false;
    };
    verify_hex_hmac_sha256(secret, body, hex_sig)
}

/// Returns `"sha256=<lower-case hex HMAC-SHA256(secret, body)>"`.
pub fn leadline_signature(body: &[u8], secret: &str) -> String {
    format!("{LEADLINE_PREFIX}{}", hex_hmac_sha256(secret, body))
}

pub(crate) fn hex_hmac_sha256(key: &str, message: &[u8]) -> String {
    match HmacSha256::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(message);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length, so this branch is unreachable in practice.
        Err(_) => String::new(),
    }
}

pub(crate) fn verify_hex_hmac_sha256(key: &str, message: &[u8], hex_sig: &str) -> bool {
    if key.is_empty() || hex_sig.is_empty() {
        return false;
    }
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(key.as_bytes()) else {
        return false;
    };
    mac.update(message);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadline_known_vector() {
        // RFC 4231 test case 2: HMAC-SHA256(key="Jefe", "what do ya want for nothing?").
        let body = b"what do ya want for nothing?";
        let expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(leadline_signature(body, "Jefe"), expected);
        assert!(verify_leadline(body, "Jefe", expected));
    }

    #[test]
    fn leadline_round_trip() {
        let body = br#"{"event":"lead.created","id":42}"#;
        let header = leadline_signature(body, "s3cr3t");
        assert!(header.starts_with("sha256="));
        assert_eq!(header.len(), 7 + 64);
        assert!(verify_leadline(body, "s3cr3t", &header));
        assert!(verify_leadline(body, "s3cr3t", &format!(" {header} ")));
    }

    #[test]
    fn leadline_uppercase_hex_accepted() {
        let body = b"payload";
        let header = leadline_signature(body, "s3cr3t");
        let upper = format!("sha256={}", header["sha256=".len()..].to_ascii_uppercase());
        assert!(verify_leadline(body, "s3cr3t", &upper));
    }

    #[test]
    fn leadline_rejections() {
        let body = b"payload";
        let header = leadline_signature(body, "s3cr3t");
        let hex_part = &header["sha256=".len()..];
        assert!(!verify_leadline(b"payload!", "s3cr3t", &header), "tampered body");
        assert!(!verify_leadline(body, "other", &header), "wrong secret");
        assert!(!verify_leadline(body, "", &leadline_signature(body, "")), "empty secret");
        assert!(!verify_leadline(body, "s3cr3t", hex_part), "missing prefix");
        assert!(!verify_leadline(body, "s3cr3t", &format!("sha1={hex_part}")), "wrong prefix");
        assert!(!verify_leadline(body, "s3cr3t", &format!("SHA256={hex_part}")), "prefix case");
        assert!(!verify_leadline(body, "s3cr3t", ""), "empty");
        assert!(!verify_leadline(body, "s3cr3t", "sha256="), "empty hex");
        assert!(!verify_leadline(body, "s3cr3t", "sha256=zz"), "bad hex");
        assert!(!verify_leadline(body, "s3cr3t", &header[..header.len() - 2]), "truncated");
        assert!(!verify_leadline(body, "s3cr3t", &format!("{header}00")), "too long");
        assert!(!verify_leadline(body, "s3cr3t", &format!("{header}0")), "odd length");
    }
}
