//! Webhooks that integrations call: lead-source adapters (Realtor.com-style, Zillow-style,
//! a web form) and the signature guard of the event routes. Twilio's and Follow Up Boss's
//! webhooks verify their own signatures.

pub mod lead_sources;
pub mod signed;
