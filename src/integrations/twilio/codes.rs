//! The one place Twilio's error codes are read: each is mapped to the provider-neutral
//! classification the core acts on ([`SendFailure`] for a refused send, [`ReceiptFailure`]
//! for a failed delivery receipt). The code itself travels along unchanged: timeline rule ids
//! such as `provider.21610` and `delivery.undelivered.30003` quote it.
//!
//! Meanings from Twilio's error dictionary, `https://www.twilio.com/docs/errors/<code>`:
//!
//! | code  | Twilio's title                                            | here                  |
//! |-------|-----------------------------------------------------------|-----------------------|
//! | 20429 | Too Many Requests                                         | `RateLimited`         |
//! | 21211 | Invalid 'To' Phone Number                                 | `InvalidNumber`       |
//! | 21408 | Permission to send an SMS has not been enabled for the region | `SenderMisconfigured` |
//! | 21610 | Attempt to send to unsubscribed recipient                 | `RecipientOptedOut`   |
//! | 21614 | 'To' number is not a valid mobile number                  | `InvalidNumber`       |
//! | 30034 | Message from an Unregistered Number (US A2P 10DLC)        | `SenderMisconfigured` |
//! | 30003 | Unreachable destination handset                           | `Unreachable`         |
//! | 30005 | Unknown destination handset                               | `CannotReceive`       |
//! | 30006 | Landline or unreachable carrier                           | `CannotReceive`       |
//! | 30007 | Message filtered (carrier violation)                      | `Filtered`            |

use leadline_core::provider::{ReceiptFailure, SendFailure};

/// What a refused send means, from Twilio's code and the HTTP status of its answer.
pub fn send_failure(code: Option<u32>, http_status: Option<u16>) -> SendFailure {
    match code {
        Some(21211 | 21614) => SendFailure::InvalidNumber,
        Some(21610) => SendFailure::RecipientOptedOut,
        Some(21408 | 30034) => SendFailure::SenderMisconfigured,
        Some(20429) => SendFailure::RateLimited,
        _ if http_status == Some(429) => SendFailure::RateLimited,
        _ => SendFailure::Other,
    }
}

/// What the `ErrorCode` of a status callback means; `None` when there is no code.
pub fn receipt_failure(code: Option<u32>) -> Option<ReceiptFailure> {
    code.map(|c| match c {
        30005 | 30006 => ReceiptFailure::CannotReceive,
        30003 => ReceiptFailure::Unreachable,
        30007 => ReceiptFailure::Filtered,
        _ => ReceiptFailure::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_codes_map_to_the_neutral_failures() {
        let cases = [
            (Some(21211), Some(400), SendFailure::InvalidNumber),
            (Some(21614), Some(400), SendFailure::InvalidNumber),
            (Some(21610), Some(400), SendFailure::RecipientOptedOut),
            (Some(21408), Some(400), SendFailure::SenderMisconfigured),
            (Some(30034), Some(400), SendFailure::SenderMisconfigured),
            (Some(20429), Some(429), SendFailure::RateLimited),
            (Some(20429), None, SendFailure::RateLimited),
            (None, Some(429), SendFailure::RateLimited),
            (None, Some(503), SendFailure::Other),
            (None, None, SendFailure::Other),
            (Some(30007), Some(400), SendFailure::Other),
            (Some(21612), Some(400), SendFailure::Other),
        ];
        for (code, status, want) in cases {
            assert_eq!(send_failure(code, status), want, "{code:?} / HTTP {status:?}");
        }
    }

    #[test]
    fn receipt_codes_map_to_the_neutral_failures() {
        assert_eq!(receipt_failure(None), None);
        assert_eq!(receipt_failure(Some(30003)), Some(ReceiptFailure::Unreachable));
        assert_eq!(receipt_failure(Some(30005)), Some(ReceiptFailure::CannotReceive));
        assert_eq!(receipt_failure(Some(30006)), Some(ReceiptFailure::CannotReceive));
        assert_eq!(receipt_failure(Some(30007)), Some(ReceiptFailure::Filtered));
        assert_eq!(receipt_failure(Some(30008)), Some(ReceiptFailure::Other));
        assert_eq!(receipt_failure(Some(21610)), Some(ReceiptFailure::Other), "a send code is not a receipt class");
    }
}
