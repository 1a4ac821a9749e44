//! The JSON API: event sources (`/v1/events/*`), the admin API (`/v1/admin/*`, bearer
//! token), health and metrics. Handlers parse and answer; what they do is the application
//! layer's (`crate::app`), and what they return are its views (`app::views`).

pub mod admin;
pub mod compliance;
pub mod crm;
pub mod dead_letters;
pub mod event_webhooks;
pub mod health;
pub mod leads;
pub mod mls;
pub mod operators;
pub mod search;
