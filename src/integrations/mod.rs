//! leadline's integrations with outside services, each in its own module: Twilio (sending,
//! webhook signatures and forms, error codes), the RESO Web API poller, Follow Up Boss
//! (webhook verification, the durable worker, the People API), the hand-off notification
//! webhook, Standard Webhooks signatures on inbound events, and the one retry policy they and the gateway share ([`retry`]).
//!
//! Dependency rule: integrations use [`crate::app`] and the core crate, never `crate::http`;
//! HTTP handlers call into them for everything but HTTP plumbing.

pub mod event_webhooks;
pub mod followupboss;
pub mod handoff;
pub mod reso;
pub mod retry;
pub mod signature;
pub mod standard_webhooks;
pub mod twilio;

/// An error with its causes ("error sending request: connection refused"), for logs.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}
