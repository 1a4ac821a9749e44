//! Integration tests: the real service over HTTP, real sled, real actors, a fake Twilio
//! that is a real HTTP server.

mod admin_search;
mod compliance;
mod compliance_v2;
mod console_pages;
mod contract;
mod conversation;
mod event_sources;
mod event_webhooks;
#[path = "../support/fake_twilio.rs"]
mod fake_twilio;
mod fixture;
mod foundation;
mod fub_writeback;
mod gateway;
mod helpers;
mod inputs;
mod lead_lifecycle;
mod metrics;
mod openapi;
mod operators;
mod paging;
mod signatures;
