//! leadline's core: the domain, the pure decision function, storage and the actors.

pub mod actors;
pub mod audit;
pub mod classify;
pub mod clock;
pub mod codec;
pub mod consent;
pub mod content;
pub mod decide;
pub mod lead_events;
pub mod limits;
pub mod model;
pub mod numbers;
pub mod operators;
pub mod phone;
pub mod policy;
pub mod provider;
pub mod quiet_hours;
pub mod retry;
pub mod segments;
pub mod storage;
pub mod ts;

pub use phone::Phone;
pub use ts::Ts;
