//! leadline: compliant, event-driven text conversations with real-estate leads.
//!
//! This crate is the service shell: configuration, HTTP (webhooks and admin API), the
//! Twilio client and start-up. The domain, the decision core, storage and the actors live
//! in the `leadline-core` workspace crate.

pub mod app;
pub mod background;
pub mod cli;
pub mod config;
pub mod csv_cell;
pub mod data_dir;
pub mod http;
pub mod notifier;
pub mod rescan;
pub mod reso;
pub mod serve;
pub mod simulate;
pub mod startup;
pub mod telemetry;
pub mod twilio_client;
pub mod webhook_auth;
