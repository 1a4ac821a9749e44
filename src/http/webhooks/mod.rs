//! Webhooks that integrations call: Twilio (replies and delivery receipts), Follow Up Boss,
//! the lead-source adapters (Realtor.com-style, Zillow-style, a web form), and the signature
//! guard of the event routes. Twilio's and Follow Up Boss's webhooks verify their own
//! signatures; what their payloads mean is `crate::integrations`'.

pub mod followupboss;
pub mod lead_sources;
pub mod signed;
pub mod twilio;
