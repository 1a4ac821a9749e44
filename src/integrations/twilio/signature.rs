//! Twilio's `X-Twilio-Signature` on webhooks: `base64(HMAC-SHA1(auth_token, url + sorted
//! params))`, following the official SDKs (twilio-python `request_validator.py`, twilio-node
//! `webhooks.js`), including their port quirk and the `bodySHA256` scheme for JSON bodies.
//! Twilio's description: <https://www.twilio.com/docs/usage/webhooks/webhooks-security>.
//!
//! Same policy as every verifier in [`crate::integrations::signature`]: constant-time
//! comparisons, a malformed or empty header or an empty token is `false`, surrounding ASCII
//! whitespace in the header is ignored, nothing panics whatever the input.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// Query parameter Twilio adds when the request body is JSON.
const BODY_SHA256_PARAM: &str = "bodySHA256";

/// Twilio `X-Twilio-Signature`: base64(HMAC-SHA1(auth_token, url + sorted params)).
///
/// `url` is the full public URL Twilio requested (scheme, host, path, query) exactly as
/// configured/received; it is never decoded or re-encoded. `params` are the form fields in
/// arrival order; duplicates are allowed (they are de-duplicated as `(name, value)` pairs and
/// sorted by name then value in byte order, like the SDKs' `sorted(set(...))`).
///
/// Accepts the signature computed over the URL as given, and (for `http`/`https` URLs) the URL
/// with the default port added (when it has no explicit port) or with the explicit port
/// removed — the SDKs' port quirk.
///
/// If the URL query contains `bodySHA256`, the request carries a JSON body whose hash must be
/// checked, which this function cannot do: it returns `false` (fail closed). Use
/// [`verify_twilio_json`] with the raw body for such requests.
pub fn verify_twilio(url: &str, params: &[(String, String)], auth_token: &str, signature_header: &str) -> bool {
    if !body_sha256_values(url).is_empty() {
        return false;
    }
    verify_twilio_url(url, params, auth_token, signature_header)
}

/// For JSON bodies: the URL carries `bodySHA256=<hex sha256(body)>`; checks both the URL
/// signature (computed with no params, with the same port quirk as [`verify_twilio`]) and that
/// the hash matches `body`.
///
/// Returns `false` when the URL has no `bodySHA256` parameter or has more than one.
/// The hex in the URL may be lower or upper case.
pub fn verify_twilio_json(url: &str, body: &[u8], auth_token: &str, signature_header: &str) -> bool {
    let hashes = body_sha256_values(url);
    let [claimed] = hashes.as_slice() else {
        return false;
    };
    let hash_ok = match hex::decode(claimed.trim()) {
        Ok(claimed) => bool::from(Sha256::digest(body).as_slice().ct_eq(&claimed)),
        Err(_) => false,
    };
    // Evaluate both checks (no short-circuit) so timing does not reveal which one failed.
    let sig_ok = verify_twilio_url(url, &[], auth_token, signature_header);
    hash_ok & sig_ok
}

/// Computes the Twilio signature over `url` exactly as given, plus `params`
/// (used by tests and by our fake Twilio to sign the requests it sends).
///
/// For a JSON-body request, put `bodySHA256=<hex>` in the URL and pass no params.
pub fn twilio_signature(url: &str, params: &[(String, String)], auth_token: &str) -> String {
    match HmacSha1::new_from_slice(auth_token.as_bytes()) {
        Ok(mut mac) => {
            feed_twilio(&mut mac, url, params);
            BASE64.encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length, so this branch is unreachable in practice.
        Err(_) => String::new(),
    }
}

/// Checks the signature over the URL candidates (as given / port added / port removed).
fn verify_twilio_url(url: &str, params: &[(String, String)], auth_token: &str, signature_header: &str) -> bool {
    if auth_token.is_empty() {
        return false;
    }
    let header = signature_header.trim();
    if header.is_empty() {
        return false;
    }
    let Ok(expected) = BASE64.decode(header) else {
        return false;
    };
    let Ok(keyed) = HmacSha1::new_from_slice(auth_token.as_bytes()) else {
        return false;
    };
    let sorted = sorted_params(params);
    let mut ok = false;
    for candidate in url_candidates(url) {
        let mut mac = keyed.clone();
        mac.update(candidate.as_bytes());
        for (name, value) in &sorted {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        ok |= mac.verify_slice(&expected).is_ok();
    }
    ok
}

fn feed_twilio(mac: &mut HmacSha1, url: &str, params: &[(String, String)]) {
    mac.update(url.as_bytes());
    for (name, value) in sorted_params(params) {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
}

/// De-duplicated `(name, value)` pairs sorted by name, then value, in byte order.
fn sorted_params(params: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut grouped: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        grouped.entry(name.as_str()).or_default().insert(value.as_str());
    }
    grouped.into_iter().flat_map(|(name, values)| values.into_iter().map(move |value| (name, value))).collect()
}

/// Values of every `bodySHA256` query parameter (percent-decoded).
fn body_sha256_values(url: &str) -> Vec<String> {
    let Some(query_start) = url.find('?') else {
        return Vec::new();
    };
    let query = &url[query_start + 1..];
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == BODY_SHA256_PARAM)
        .map(|(_, value)| value.into_owned())
        .collect()
}

/// The URL as given, plus the SDK port-quirk variant: for `http`/`https` URLs, the default port
/// (`:80`/`:443`) inserted when there is no explicit port, or the explicit port removed.
/// Only the authority is touched; everything else is kept byte for byte.
fn url_candidates(url: &str) -> Vec<String> {
    let mut candidates = vec![url.to_owned()];
    let Some(parts) = split_url(url) else {
        return candidates;
    };
    let default_port = if parts.scheme.eq_ignore_ascii_case("https") {
        "443"
    } else if parts.scheme.eq_ignore_ascii_case("http") {
        "80"
    } else {
        return candidates;
    };
    let variant = match parts.port {
        Some(_) => format!("{}{}{}", parts.before_host, parts.host, parts.rest),
        None => format!("{}{}:{}{}", parts.before_host, parts.host, default_port, parts.rest),
    };
    if variant != url {
        candidates.push(variant);
    }
    candidates
}

/// A URL cut into the pieces needed to add or remove the port, without any normalisation.
#[derive(Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: &'a str,
    /// `scheme://` plus any `userinfo@`.
    before_host: &'a str,
    /// Host, including brackets for an IPv6 literal.
    host: &'a str,
    /// Explicit port digits (possibly empty for `host:`), without the colon.
    port: Option<&'a str>,
    /// Path, query and fragment, starting at the first `/`, `?` or `#` after the authority.
    rest: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    let mut scheme_chars = scheme.chars();
    let first_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return None;
    }
    let authority_start = scheme_end + 3;
    let after = &url[authority_start..];
    let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..authority_len];
    let rest = &after[authority_len..];

    let host_offset = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_offset..];
    let before_host = &url[..authority_start + host_offset];

    let (host, port) = if host_port.starts_with('[') {
        let close = host_port.find(']')?;
        let host = &host_port[..=close];
        let tail = &host_port[close + 1..];
        if tail.is_empty() {
            (host, None)
        } else {
            (host, Some(tail.strip_prefix(':')?))
        }
    } else {
        match host_port.rfind(':') {
            Some(colon) => (&host_port[..colon], Some(&host_port[colon + 1..])),
            None => (host_port, None),
        }
    };
    let bracketed = host.starts_with('[');
    if host.is_empty() || (!bracketed && host.contains(':')) {
        return None;
    }
    if let Some(port) = port {
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    Some(UrlParts { scheme, before_host, host, port, rest })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DEFAULT_SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    const BODY: &str = r#"{"property": "value", "boolean": true}"#;
    const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    const EMPTY_BODY_HASH: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// twilio-python's default params, in its declaration order.
    fn default_params() -> Vec<(String, String)> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ])
    }

    fn dup_params() -> Vec<(String, String)> {
        p(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")])
    }

    fn with_hash(url: &str, hash: &str) -> String {
        format!("{url}&bodySHA256={hash}")
    }

    // ----- signing string / compute_signature -------------------------------------------

    #[test]
    fn signing_order_default_params() {
        let sorted: String = sorted_params(&default_params()).into_iter().map(|(k, v)| format!("{k}{v}")).collect();
        assert_eq!(
            format!("{URL}{sorted}"),
            "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
        );
    }

    #[test]
    fn signing_order_multi_valued() {
        let sorted: String = sorted_params(&dup_params()).into_iter().map(|(k, v)| format!("{k}{v}")).collect();
        assert_eq!(sorted, "Digits1234Digits5678SidCA123SidAccountAC123");
    }

    #[test]
    fn python_compute_signature() {
        assert_eq!(twilio_signature(URL, &default_params(), TOKEN), DEFAULT_SIG);
    }

    #[test]
    fn python_compute_signature_duplicate_params() {
        assert_eq!(twilio_signature(URL, &dup_params(), TOKEN), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn compute_signature_port_forms() {
        let params = default_params();
        assert_eq!(
            twilio_signature("https://mycompany.com:443/myapp.php?foo=1&bar=2", &params, TOKEN),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            twilio_signature("http://mycompany.com:80/myapp.php?foo=1&bar=2", &params, TOKEN),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        );
        assert_eq!(
            twilio_signature("http://mycompany.com:1234/myapp.php?foo=1&bar=2", &params, TOKEN),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
    }

    #[test]
    fn python_compute_hash() {
        assert_eq!(hex::encode(Sha256::digest(BODY.as_bytes())), BODY_HASH);
        assert_eq!(hex::encode(Sha256::digest(b"{}")), EMPTY_BODY_HASH);
    }

    // ----- twilio-python validate vectors ------------------------------------------------

    #[test]
    fn python_validation() {
        assert!(verify_twilio(URL, &default_params(), TOKEN, DEFAULT_SIG));
    }

    #[test]
    fn python_validation_duplicate_multi_dict() {
        // MultiDict without the repeated 1234.
        let params = p(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]);
        assert!(verify_twilio(URL, &params, TOKEN, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    }

    #[test]
    fn python_validation_duplicate_query_dict() {
        let params: Vec<(String, String)> =
            form_urlencoded::parse(b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234").into_owned().collect();
        assert!(verify_twilio(URL, &params, TOKEN, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    }

    #[test]
    fn python_validation_removes_port_on_https() {
        let url = URL.replace(".com", ".com:1234");
        assert!(verify_twilio(&url, &default_params(), TOKEN, DEFAULT_SIG));
    }

    #[test]
    fn python_validation_removes_port_on_http() {
        // The signature is over the http URL *with* :1234, i.e. the URL as given.
        let url = URL.replace(".com", ".com:1234").replace("https", "http");
        assert!(verify_twilio(&url, &default_params(), TOKEN, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
    }

    #[test]
    fn python_validation_adds_port_on_https() {
        assert!(verify_twilio(URL, &default_params(), TOKEN, "kvajT1Ptam85bY51eRf/AJRuM3w="));
    }

    #[test]
    fn python_validation_adds_port_on_http() {
        let url = URL.replace("https", "http");
        assert!(verify_twilio(&url, &default_params(), TOKEN, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    }

    #[test]
    fn python_validation_of_body_succeeds() {
        assert!(verify_twilio_json(&with_hash(URL, BODY_HASH), BODY.as_bytes(), TOKEN, "a9nBmqA0ju/hNViExpshrM61xv4="));
    }

    #[test]
    fn compute_signature_json_url() {
        assert_eq!(twilio_signature(&with_hash(URL, BODY_HASH), &[], TOKEN), "a9nBmqA0ju/hNViExpshrM61xv4=");
    }

    // ----- twilio-node spec/validation.spec.js vectors ------------------------------------

    #[test]
    fn node_default_signature() {
        assert!(verify_twilio(URL, &default_params(), TOKEN, DEFAULT_SIG));
    }

    #[test]
    fn node_wrong_signature() {
        assert!(!verify_twilio(URL, &default_params(), TOKEN, "WRONG_SIGNATURE"));
    }

    #[test]
    fn node_request_body_hash() {
        assert!(verify_twilio_json(&with_hash(URL, BODY_HASH), BODY.as_bytes(), TOKEN, "a9nBmqA0ju/hNViExpshrM61xv4="));
    }

    #[test]
    fn node_request_body_empty_object() {
        // Ldidvp… is the signature of the :443 form of the URL.
        assert_eq!(
            twilio_signature(
                &with_hash("https://mycompany.com:443/myapp.php?foo=1&bar=2", EMPTY_BODY_HASH),
                &[],
                TOKEN
            ),
            "Ldidvp12m26NI7eqEvxnEpkd9Hc="
        );
        assert!(verify_twilio_json(&with_hash(URL, EMPTY_BODY_HASH), b"{}", TOKEN, "Ldidvp12m26NI7eqEvxnEpkd9Hc="));
    }

    #[test]
    fn node_request_body_only_sha_param() {
        let url = format!("https://mycompany.com/myapp.php?bodySHA256={BODY_HASH}");
        assert!(verify_twilio_json(&url, BODY.as_bytes(), TOKEN, "y77kIzt2vzLz71DgmJGsen2scGs="));
    }

    #[test]
    fn node_body_without_body_sha_param_fails() {
        assert!(!verify_twilio_json(URL, BODY.as_bytes(), TOKEN, DEFAULT_SIG));
    }

    #[test]
    fn node_signature_undefined_fails() {
        assert!(!verify_twilio(URL, &default_params(), TOKEN, ""));
    }

    #[test]
    fn node_https_port_stripped() {
        let url = URL.replace(".com", ".com:1234");
        assert!(verify_twilio(&url, &default_params(), TOKEN, DEFAULT_SIG));
    }

    #[test]
    fn node_http_with_port() {
        let url = URL.replace(".com", ".com:1234").replace("https", "http");
        assert!(verify_twilio(&url, &default_params(), TOKEN, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
    }

    #[test]
    fn node_https_adds_443() {
        assert!(verify_twilio(URL, &default_params(), TOKEN, "kvajT1Ptam85bY51eRf/AJRuM3w="));
    }

    #[test]
    fn node_http_adds_80() {
        let url = URL.replace("https", "http");
        assert!(verify_twilio(&url, &default_params(), TOKEN, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    }

    #[test]
    fn node_url_with_credentials() {
        assert!(verify_twilio(
            "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2",
            &default_params(),
            TOKEN,
            "CukzLTc1tT5dXEDIHm/tKBanW10="
        ));
    }

    #[test]
    fn node_url_with_just_username() {
        // A vector from the twilio-node test suite; recomputed with Python hmac and it matches.
        assert!(verify_twilio(
            "https://user@mycompany.com/myapp.php?foo=1&bar=2",
            &default_params(),
            TOKEN,
            "2YRLlVAflCqxaNicjMpJcSTgzSs="
        ));
    }

    #[test]
    fn node_url_with_credentials_adds_port() {
        assert!(verify_twilio(
            "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2",
            &default_params(),
            TOKEN,
            "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI="
        ));
    }

    #[test]
    fn node_url_with_credentials_and_explicit_port() {
        // Removing the port keeps the userinfo intact.
        assert!(verify_twilio(
            "https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2",
            &default_params(),
            TOKEN,
            "CukzLTc1tT5dXEDIHm/tKBanW10="
        ));
    }

    #[test]
    fn node_special_characters_percent_encoded() {
        // twilio-node (commit 45d3d65): Node's legacy URL formatter signed `'` as %27.
        // We sign the URL as received, so the %27 form must be passed as-is.
        let url = format!("{URL}&Body=It%27s+amazing");
        assert!(verify_twilio(&url, &default_params(), TOKEN, "TfZzewPq8wqrGlMfyAud8+/IvJ0="));
    }

    #[test]
    fn node_special_characters_raw_quote() {
        // Current twilio-node spec signs the raw `'` (dsq4…); no decoding/re-encoding here.
        let url = format!("{URL}&Body=It's+amazing");
        assert!(verify_twilio(&url, &default_params(), TOKEN, "dsq4Ehbj6cs+KdTkpF5sSSplOWw="));
        // …and the two encodings are not interchangeable.
        assert!(!verify_twilio(&url, &default_params(), TOKEN, "TfZzewPq8wqrGlMfyAud8+/IvJ0="));
    }

    #[test]
    fn node_array_param() {
        let params = p(&[("MessagingBinding.Address", "+1325xxxxxxx"), ("MessagingBinding.Address", "+1415xxxxxxx")]);
        assert!(verify_twilio(URL, &params, TOKEN, "83O6e2vORAoJHUNzJjDWN1jz+BA="));
    }

    #[test]
    fn node_array_param_any_order() {
        let params = p(&[("MessagingBinding.Address", "+1415xxxxxxx"), ("MessagingBinding.Address", "+1325xxxxxxx")]);
        assert!(verify_twilio(URL, &params, TOKEN, "83O6e2vORAoJHUNzJjDWN1jz+BA="));
    }

    #[test]
    fn node_multiple_params_and_values() {
        assert!(verify_twilio(URL, &dup_params(), TOKEN, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    }

    #[test]
    fn node_unexpected_query_param_fails() {
        let url = format!("{URL}&somethingUnexpected=true");
        assert!(!verify_twilio(&url, &default_params(), TOKEN, DEFAULT_SIG));
    }

    // ----- Twilio negative tests ---------------------------------------------------------

    #[test]
    fn twilio_wrong_token() {
        assert!(!verify_twilio(URL, &default_params(), "54321", DEFAULT_SIG));
    }

    #[test]
    fn twilio_empty_token() {
        let sig = twilio_signature(URL, &default_params(), "");
        assert!(!verify_twilio(URL, &default_params(), "", &sig));
    }

    #[test]
    fn twilio_tampered_param() {
        let mut params = default_params();
        params[1].1 = "1235".to_owned();
        assert!(!verify_twilio(URL, &params, TOKEN, DEFAULT_SIG));
    }

    #[test]
    fn twilio_param_added() {
        let mut params = default_params();
        params.push(("Body".to_owned(), "STOP".to_owned()));
        assert!(!verify_twilio(URL, &params, TOKEN, DEFAULT_SIG));
    }

    #[test]
    fn twilio_param_removed() {
        let mut params = default_params();
        params.pop();
        assert!(!verify_twilio(URL, &params, TOKEN, DEFAULT_SIG));
    }

    #[test]
    fn twilio_duplicate_pair_is_ignored_but_new_value_is_not() {
        let mut params = default_params();
        params.push(("Digits".to_owned(), "1234".to_owned()));
        assert!(verify_twilio(URL, &params, TOKEN, DEFAULT_SIG));
        params.push(("Digits".to_owned(), "9999".to_owned()));
        assert!(!verify_twilio(URL, &params, TOKEN, DEFAULT_SIG));
    }

    #[test]
    fn twilio_missing_header() {
        assert!(!verify_twilio(URL, &default_params(), TOKEN, ""));
        assert!(!verify_twilio(URL, &default_params(), TOKEN, "   "));
    }

    #[test]
    fn twilio_garbage_header() {
        for garbage in [
            "not base64!!",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8",   // padding missing
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=x", // trailing junk
            "AAAA",                          // valid base64, wrong length
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            "sha1=RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            "\u{0}\u{1}",
            "é",
        ] {
            assert!(!verify_twilio(URL, &default_params(), TOKEN, garbage), "{garbage:?}");
        }
    }

    #[test]
    fn twilio_header_whitespace_trimmed() {
        assert!(verify_twilio(URL, &default_params(), TOKEN, " RSOYDt4T1cUTdK1PDd93/VVr8B8=\t"));
    }

    #[test]
    fn twilio_tampered_url() {
        let params = default_params();
        for url in [
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            "https://mycompany.com/myapp2.php?foo=1&bar=2",
            "https://evil.com/myapp.php?foo=1&bar=2",
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            "https://mycompany.com/myapp.php?bar=2&foo=1",
            "https://mycompany.com:444/x/../myapp.php?foo=1&bar=2",
        ] {
            assert!(!verify_twilio(url, &params, TOKEN, DEFAULT_SIG), "{url}");
        }
    }

    #[test]
    fn twilio_form_verifier_rejects_body_sha_urls() {
        // Even with the correct URL signature, the body hash cannot be checked here.
        let url = with_hash(URL, BODY_HASH);
        assert!(!verify_twilio(&url, &[], TOKEN, "a9nBmqA0ju/hNViExpshrM61xv4="));
    }

    #[test]
    fn twilio_json_tampered_body() {
        let url = with_hash(URL, BODY_HASH);
        let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
        assert!(!verify_twilio_json(&url, br#"{"property": "value", "boolean": false}"#, TOKEN, sig));
        assert!(!verify_twilio_json(&url, b"", TOKEN, sig));
        assert!(!verify_twilio_json(&url, BODY.as_bytes(), "54321", sig));
        assert!(!verify_twilio_json(&url, BODY.as_bytes(), TOKEN, DEFAULT_SIG));
        assert!(!verify_twilio_json(&url, BODY.as_bytes(), TOKEN, ""));
    }

    #[test]
    fn twilio_json_hash_for_other_body_fails_even_if_url_signed() {
        // A correctly signed URL whose bodySHA256 does not match the body we received.
        let url = with_hash(URL, EMPTY_BODY_HASH);
        let sig = twilio_signature(&url, &[], TOKEN);
        assert!(verify_twilio_json(&url, b"{}", TOKEN, &sig));
        assert!(!verify_twilio_json(&url, BODY.as_bytes(), TOKEN, &sig));
    }

    #[test]
    fn twilio_json_malformed_or_repeated_hash_param() {
        for url in [
            with_hash(URL, "zz"),
            with_hash(URL, ""),
            with_hash(URL, &BODY_HASH[..62]),
            format!("{}&bodySHA256={BODY_HASH}", with_hash(URL, BODY_HASH)),
        ] {
            let sig = twilio_signature(&url, &[], TOKEN);
            assert!(!verify_twilio_json(&url, BODY.as_bytes(), TOKEN, &sig), "{url}");
        }
    }

    #[test]
    fn twilio_json_uppercase_hash_accepted() {
        let url = with_hash(URL, &BODY_HASH.to_ascii_uppercase());
        let sig = twilio_signature(&url, &[], TOKEN);
        assert!(verify_twilio_json(&url, BODY.as_bytes(), TOKEN, &sig));
    }

    #[test]
    fn twilio_round_trip_with_fake_twilio() {
        let url = "https://leadline.example/hooks/twilio/sms?tenant=a%20b";
        let params =
            p(&[("Body", "Hi “there” 😀"), ("From", "+15551234567"), ("To", "+15557654321"), ("MessageSid", "SM123")]);
        let sig = twilio_signature(url, &params, "tok");
        assert!(verify_twilio(url, &params, "tok", &sig));
        let mut reversed = params.clone();
        reversed.reverse();
        assert!(verify_twilio(url, &reversed, "tok", &sig));
        assert!(!verify_twilio(url, &params, "tok2", &sig));
    }

    // ----- URL splitting / port quirk ----------------------------------------------------

    #[test]
    fn url_candidates_forms() {
        assert_eq!(url_candidates("https://h.com/p?q=1"), vec!["https://h.com/p?q=1", "https://h.com:443/p?q=1"]);
        assert_eq!(url_candidates("http://h.com"), vec!["http://h.com", "http://h.com:80"]);
        assert_eq!(
            url_candidates("HTTPS://u:p@h.com:8443?x=1:2"),
            vec!["HTTPS://u:p@h.com:8443?x=1:2", "HTTPS://u:p@h.com?x=1:2"]
        );
        assert_eq!(url_candidates("https://[::1]:8443/p"), vec!["https://[::1]:8443/p", "https://[::1]/p"]);
        assert_eq!(url_candidates("https://[::1]/p"), vec!["https://[::1]/p", "https://[::1]:443/p"]);
        assert_eq!(url_candidates("https://h.com:/p"), vec!["https://h.com:/p", "https://h.com/p"]);
        // Percent-encoding and odd path segments are preserved byte for byte.
        assert_eq!(
            url_candidates("https://h.com/a%2Fb/./c?x=It%27s#frag"),
            vec!["https://h.com/a%2Fb/./c?x=It%27s#frag", "https://h.com:443/a%2Fb/./c?x=It%27s#frag"]
        );
        // Other schemes and unparseable URLs: only the URL as given.
        assert_eq!(url_candidates("ftp://h.com/p"), vec!["ftp://h.com/p"]);
        assert_eq!(url_candidates("/relative?x=1"), vec!["/relative?x=1"]);
        assert_eq!(url_candidates("https://h.com:44x/p"), vec!["https://h.com:44x/p"]);
        assert_eq!(url_candidates("https://[::1/p"), vec!["https://[::1/p"]);
        assert_eq!(url_candidates("https:///p"), vec!["https:///p"]);
    }

    #[test]
    fn odd_inputs_never_panic() {
        let urls = [
            "",
            ":",
            "://",
            "https://",
            "https://@",
            "https://@:",
            "https://[",
            "https://]:",
            "https://[]:1",
            "https://ü:ñ@é:1/ö?ä=ß",
            "https://h:99999999999999999999999/",
            "h\u{0}ttps://x",
            "https://x?bodySHA256",
            "https://x?bodySHA256=%",
            "https://x?&&&=&bodySHA256=%zz",
            "😀://😀@😀:😀/😀?😀#😀",
        ];
        let params = p(&[("", ""), ("é", "😀")]);
        for url in urls {
            let sig = twilio_signature(url, &params, TOKEN);
            let _ = verify_twilio(url, &params, TOKEN, &sig);
            let _ = verify_twilio(url, &params, TOKEN, "%%%");
            let _ = verify_twilio_json(url, b"\xff\xfe", TOKEN, &sig);
            let _ = url_candidates(url);
        }
    }

    #[test]
    fn pseudo_random_urls_never_panic() {
        // Deterministic LCG over an alphabet of structurally significant and multi-byte chars.
        let alphabet: Vec<char> = ":/@[]?#%&=.hsptx0129 é😀".chars().collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        for _ in 0..20_000 {
            let len = next() % 24;
            let mut url = String::from(["https://", "http://", "", "x://"][next() % 4]);
            for _ in 0..len {
                url.push(alphabet[next() % alphabet.len()]);
            }
            let candidates = url_candidates(&url);
            assert_eq!(candidates[0], url);
            assert!(candidates.len() <= 2);
            let sig = twilio_signature(&url, &[], TOKEN);
            assert!(verify_twilio(&url, &[], TOKEN, &sig) || !body_sha256_values(&url).is_empty());
            let _ = verify_twilio_json(&url, b"{}", TOKEN, &sig);
        }
    }
}
