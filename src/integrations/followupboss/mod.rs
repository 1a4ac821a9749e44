//! Follow Up Boss: its webhook signature ([`signature`]), its payloads ([`payload`]: the
//! webhook notification, people), the People API ([`client`]) and the durable worker that
//! applies acknowledged notifications ([`worker`]). The HTTP handler
//! (`POST /v1/webhooks/followupboss`) only reads the request and answers; it hands the
//! notification to [`worker::accept`].
//!
//! FUB sends a thin notification `{eventId, eventCreated, event, resourceIds, uri}`
//! (<https://docs.followupboss.com/reference/webhooks-guide>); leadline acts on
//! [`HANDLED_EVENTS`]:
//!
//! - `peopleCreated` -> a lead capture (source `followupboss`, `phones[0].value`,
//!   `firstName`, `lastName`, `emails[0].value`) plus, if the person has a `stage`, a CRM
//!   status change to that stage;
//! - `peopleStageUpdated`, `peopleUpdated` -> `CrmChanged { status: stage }` (skipped when
//!   the stage did not change; a person leadline does not know yet is captured first).
//!
//! The other direction, [`writeback`]: texts sent, replies, opt-outs and hand-offs logged on
//! the lead's FUB person, from a durable queue.
//!
//! FUB people carry no consent record, so these leads are stored but never texted
//! automatically (timeline: `consent.missing`).

pub mod client;
pub mod payload;
pub mod signature;
pub mod worker;
pub mod writeback;

pub use payload::{Notification, PendingEvent};

/// The request header carrying the signature.
pub const SIGNATURE_HEADER: &str = "fub-signature";
/// The events leadline acts on.
pub const HANDLED_EVENTS: [&str; 3] = ["peopleCreated", "peopleUpdated", "peopleStageUpdated"];
