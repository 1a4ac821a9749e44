//! Listing changes (`POST /v1/events/mls` and the RESO poller): the MLS change body,
//! validated and normalised (statuses to RESO `StandardStatus` names), then fanned out to
//! every lead watching the listing ([`super::fanout`]).

use super::fanout::{fan_out, FanoutReport};
use super::{App, AppError};
use leadline_core::model::{ListingChange, ListingChangeKind};
use leadline_core::Ts;
use serde::Deserialize;

/// RESO Data Dictionary `StandardStatus` values.
const STANDARD_STATUSES: [&str; 11] = [
    "Active",
    "ActiveUnderContract",
    "Canceled",
    "Closed",
    "ComingSoon",
    "Delete",
    "Expired",
    "Hold",
    "Incomplete",
    "Pending",
    "Withdrawn",
];

/// Normalises a status to its `StandardStatus` name: case, spaces, dashes and underscores
/// do not matter ("Active Under Contract", "active_under_contract" -> "ActiveUnderContract";
/// "Cancelled" -> "Canceled"). Unknown values are returned trimmed, unchanged.
pub fn normalize_status(raw: &str) -> String {
    let squashed: String =
        raw.chars().filter(|c| !matches!(c, ' ' | '_' | '-' | '\t')).collect::<String>().to_ascii_lowercase();
    let squashed = if squashed == "cancelled" { "canceled".to_string() } else { squashed };
    STANDARD_STATUSES
        .iter()
        .find(|s| s.to_ascii_lowercase() == squashed)
        .map(|s| s.to_string())
        .unwrap_or_else(|| raw.trim().to_string())
}

/// The values `change` accepts (the HTTP contract, docs/http-api.md).
pub const CHANGE_KINDS: [&str; 5] = ["price_drop", "price_increase", "status_change", "back_on_market", "new_listing"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"listing_id": "MLS-123", "change": "price_drop", "address": "123 Main St", "old_price": 450000, "new_price": 429000}))]
pub struct MlsBody {
    pub listing_id: String,
    #[schema(value_type = ListingChangeKind)]
    pub change: String,
    pub address: Option<String>,
    pub old_price: Option<u64>,
    /// Required for `price_drop` and `price_increase`.
    pub new_price: Option<u64>,
    /// RESO `StandardStatus` names (`Active`, `Pending`, `Closed`, ...); normalised.
    pub old_status: Option<String>,
    /// Required for `status_change`; `Active` by default for `back_on_market`.
    pub new_status: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Ts>,
}

pub fn parse_change_kind(raw: &str) -> Result<ListingChangeKind, AppError> {
    Ok(match raw.trim() {
        "price_drop" => ListingChangeKind::PriceDrop,
        "price_increase" => ListingChangeKind::PriceIncrease,
        "status_change" => ListingChangeKind::StatusChange,
        "back_on_market" => ListingChangeKind::BackOnMarket,
        "new_listing" => ListingChangeKind::NewListing,
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(AppError::field(format!("`change` must be one of {}; got '{shown}'", CHANGE_KINDS.join(", "))));
        }
    })
}

impl MlsBody {
    /// Validates and normalises (statuses to RESO `StandardStatus` names).
    pub fn into_change(self) -> Result<(ListingChange, Option<Ts>), AppError> {
        let listing_id = self.listing_id.trim().to_string();
        if listing_id.is_empty() {
            return Err(AppError::field("`listing_id` must not be empty"));
        }
        let kind = parse_change_kind(&self.change)?;
        let clean = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let address = clean(self.address);
        leadline_core::limits::check_address("address", address.as_deref())?;
        let old_status = clean(self.old_status).map(|s| normalize_status(&s));
        let mut new_status = clean(self.new_status).map(|s| normalize_status(&s));
        match kind {
            ListingChangeKind::PriceDrop | ListingChangeKind::PriceIncrease => {
                let Some(new) = self.new_price else {
                    return Err(AppError::missing(format!("`new_price` is required for change = {}", kind.as_str())));
                };
                if let Some(old) = self.old_price {
                    let consistent = match kind {
                        ListingChangeKind::PriceDrop => new < old,
                        _ => new > old,
                    };
                    if !consistent {
                        return Err(AppError::field(format!(
                            "{} from {old} to {new} is not a {}",
                            kind.as_str(),
                            kind.as_str().replace('_', " ")
                        )));
                    }
                }
            }
            ListingChangeKind::StatusChange if new_status.is_none() => {
                return Err(AppError::missing("`new_status` is required for change = status_change"));
            }
            ListingChangeKind::BackOnMarket if new_status.is_none() => new_status = Some("Active".into()),
            _ => {}
        }
        let change = ListingChange {
            listing_id,
            change: kind,
            address,
            old_price: self.old_price,
            new_price: self.new_price,
            old_status,
            new_status,
        };
        Ok((change, self.occurred_at))
    }
}

/// Fans `change` out to every lead watching the listing and waits for their acknowledgements.
/// `source` labels the metric (`push`, `reso`).
pub async fn apply(
    app: &App,
    change: &ListingChange,
    occurred_at: Option<Ts>,
    source: &'static str,
) -> Result<FanoutReport, AppError> {
    metrics::counter!("leadline_mls_changes_total", "change" => change.change.as_str(), "source" => source)
        .increment(1);
    let occurrence = occurred_at.map(|t| t.rfc3339());
    Ok(fan_out(app, change, occurrence.as_deref()).await?)
}
