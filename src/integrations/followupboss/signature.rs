//! Follow Up Boss's `FUB-Signature` on webhooks: hex HMAC-SHA256 keyed with the system key
//! over base64(raw body). FUB's description:
//! <https://docs.followupboss.com/reference/webhooks-guide>. Same policy as every verifier in
//! [`crate::integrations::signature`].

use crate::integrations::signature::{hex_hmac_sha256, verify_hex_hmac_sha256};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// Follow Up Boss: header `FUB-Signature` = hex HMAC-SHA256 keyed with the system key over
/// base64(raw body) (standard alphabet, with padding). Hex may be lower or upper case.
pub fn verify_fub(body: &[u8], system_key: &str, header: &str) -> bool {
    verify_hex_hmac_sha256(system_key, BASE64.encode(body).as_bytes(), header.trim())
}

/// Returns the lower-case hex `FUB-Signature` for `body`.
pub fn fub_signature(body: &[u8], system_key: &str) -> String {
    hex_hmac_sha256(system_key, BASE64.encode(body).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    type HmacSha256 = Hmac<Sha256>;

    #[test]
    fn fub_signs_base64_of_body() {
        let body = br#"{"eventId":"abc","event":"peopleCreated","resourceIds":[1]}"#;
        let b64 = BASE64.encode(body);
        let mut mac = HmacSha256::new_from_slice(b"syskey").unwrap();
        mac.update(b64.as_bytes());
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(fub_signature(body, "syskey"), expected);
        // Not the same as signing the raw body.
        assert_ne!(fub_signature(body, "syskey"), hex_hmac_sha256("syskey", body));
    }

    #[test]
    fn fub_known_vector() {
        // base64("what do ya want for nothing?") = "d2hhdCBkbyB5YSB3YW50IGZvciBub3RoaW5nPw==",
        // HMAC-SHA256 computed independently with Python's hmac module.
        let body = b"what do ya want for nothing?";
        assert_eq!(BASE64.encode(body), "d2hhdCBkbyB5YSB3YW50IGZvciBub3RoaW5nPw==");
        let expected = "16841a40f389f50b8b0118d6185d67acd5dd9a63368254b8fdb086c80692b104";
        assert_eq!(fub_signature(body, "Jefe"), expected);
    }

    #[test]
    fn fub_round_trip_and_case() {
        let body = br#"{"event":"peopleUpdated"}"#;
        let sig = fub_signature(body, "syskey");
        assert_eq!(sig.len(), 64);
        assert!(verify_fub(body, "syskey", &sig));
        assert!(verify_fub(body, "syskey", &sig.to_ascii_uppercase()));
        assert!(verify_fub(body, "syskey", &format!("{sig}\r\n")));
    }

    #[test]
    fn fub_rejections() {
        let body = br#"{"event":"peopleUpdated"}"#;
        let sig = fub_signature(body, "syskey");
        assert!(!verify_fub(br#"{"event":"peopleDeleted"}"#, "syskey", &sig), "tampered");
        assert!(!verify_fub(body, "other", &sig), "wrong key");
        assert!(!verify_fub(body, "", &fub_signature(body, "")), "empty key");
        assert!(!verify_fub(body, "syskey", ""), "empty");
        assert!(!verify_fub(body, "syskey", &format!("sha256={sig}")), "prefix");
        assert!(!verify_fub(body, "syskey", "not hex"), "garbage");
        assert!(!verify_fub(body, "syskey", &sig[..62]), "truncated");
        let raw_body_sig = hex_hmac_sha256("syskey", body);
        assert!(!verify_fub(body, "syskey", &raw_body_sig), "raw-body signature");
    }
}
