//! leadline: compliant, event-driven text conversations with real-estate leads.
//!
//! This crate is the service shell: configuration, HTTP (webhooks and admin API), the
//! integrations with outside services (Twilio, RESO, Follow Up Boss, the hand-off webhook)
//! and start-up. The domain, the decision core, storage and the actors live
//! in the `leadline-core` workspace crate.

pub mod app;
pub mod background;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod csv_cell;
pub mod data_dir;
pub mod http;
pub mod integrations;
pub mod metrics_catalog;
pub mod rescan;
pub mod serve;
pub mod simulate;
pub mod startup;
pub mod telemetry;
