//! CRM events: a stage/status change (`POST /v1/events/crm`) and a lead's interest in a
//! listing (`POST /v1/events/interest`, or `listing_id` + `listing_action` on a CRM change).
//!
//! An unknown phone creates the lead: the CRM (or the website) knows it, and the decision
//! core handles a fresh lead (without a consent record it is never texted automatically).

use super::views::{CrmApplied, InterestApplied};
use super::{App, AppError};
use leadline_core::limits;
use leadline_core::model::Event;
use leadline_core::{Phone, Ts};
use serde::Deserialize;

/// Values of `listing_action` that add the listing to the lead's interests.
pub const LISTING_ACTIONS: [&str; 2] = ["saved", "viewed"];
const MAX_TOKEN: usize = 100;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"phone": "+12125550142", "status": "Active Client", "source": "followupboss", "agent": "Dana"}))]
pub struct CrmBody {
    pub phone: String,
    pub status: String,
    /// Which CRM sent it (logged; the timeline records the status change itself).
    pub source: Option<String>,
    pub agent: Option<String>,
    /// Makes a re-delivery of the same change harmless (de-duplicated by phone, status and this).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Ts>,
    pub listing_id: Option<String>,
    /// `saved` or `viewed` (with `listing_id`): adds the listing to the lead's interests.
    pub listing_action: Option<String>,
    /// Address of `listing_id`, if known (shown on the timeline).
    pub address: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"phone": "+12125550142", "listing_id": "MLS-123", "address": "123 Main St", "how": "saved"}))]
pub struct InterestBody {
    pub phone: String,
    pub listing_id: String,
    pub address: Option<String>,
    /// How the interest was expressed: `saved`, `viewed`, ...
    pub how: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Ts>,
}

fn non_empty(field: &str, value: &str) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::field(format!("`{field}` must not be empty")));
    }
    if v.chars().count() > MAX_TOKEN {
        return Err(AppError::field(format!("`{field}` is longer than {MAX_TOKEN} characters")));
    }
    Ok(v.to_string())
}

fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The interest event for a listing, validated.
fn interest_event(listing_id: &str, address: Option<String>, how: &str) -> Result<Event, AppError> {
    let address = clean(address);
    limits::check_address("address", address.as_deref())?;
    Ok(Event::InterestAdded {
        listing_id: non_empty("listing_id", listing_id)?,
        address,
        how: non_empty("how", how)?.to_lowercase(),
    })
}

/// Validates a CRM change (everything before anything is applied, so an error changes
/// nothing) and applies it, then the listing interest it carries, if any.
pub async fn status_changed(app: &App, body: CrmBody) -> Result<CrmApplied, AppError> {
    let phone = Phone::parse(&body.phone)?;
    let status = non_empty("status", &body.status)?;
    // Refused even without a listing (where it is unused), so the rule reads the same everywhere.
    limits::check_address("address", body.address.as_deref().map(str::trim))?;
    let interest = match (clean(body.listing_id), clean(body.listing_action)) {
        (None, None) => None,
        (None, Some(_)) => return Err(AppError::missing("`listing_action` needs a `listing_id`")),
        (Some(_), None) => {
            return Err(AppError::missing(format!(
                "`listing_id` needs a `listing_action` ({})",
                LISTING_ACTIONS.join(" or ")
            )));
        }
        (Some(listing), Some(action)) => {
            let action = action.to_lowercase();
            if !LISTING_ACTIONS.contains(&action.as_str()) {
                return Err(AppError::field(format!("`listing_action` must be one of {}", LISTING_ACTIONS.join(", "))));
            }
            Some((interest_event(&listing, body.address, &action)?, listing))
        }
    };
    let at = body.occurred_at.map(|t| t.rfc3339());
    tracing::info!(
        phone = %phone.masked(),
        status = %status,
        source = body.source.as_deref().unwrap_or("-"),
        "CRM status change"
    );
    // A re-delivery of the same change (same phone, status and occurred_at) is applied once.
    let dedupe = at.as_ref().map(|at| format!("crm:{phone}:{}:{at}", status.to_lowercase()));
    let event = Event::CrmChanged { status, agent: clean(body.agent), source: clean(body.source) };
    let applied = app.submit(phone.clone(), event, dedupe).await?;
    let interest = match interest {
        Some((event, listing)) => {
            let key = at.map(|at| format!("interest:{phone}:{listing}:{at}"));
            Some((&app.submit(phone, event, key).await?).into())
        }
        None => None,
    };
    Ok(CrmApplied { applied: (&applied).into(), interest })
}

/// Adds a listing to the lead's interests, so MLS changes to it reach the lead.
pub async fn interest(app: &App, body: InterestBody) -> Result<InterestApplied, AppError> {
    let phone = Phone::parse(&body.phone)?;
    let event = interest_event(&body.listing_id, body.address, &body.how)?;
    let listing_id = body.listing_id.trim().to_string();
    let dedupe = body.occurred_at.map(|at| format!("interest:{phone}:{listing_id}:{at}"));
    let applied = app.submit(phone, event, dedupe).await?;
    Ok(InterestApplied { applied: (&applied).into(), listing_id })
}
