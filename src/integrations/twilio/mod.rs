//! Everything leadline knows about Twilio: the REST client that sends texts ([`client`]),
//! webhook signature verification ([`signature`]), the webhook form bodies ([`form`]) and
//! the meaning of Twilio's error codes ([`codes`], the only place they are read).

pub mod client;
pub mod codes;
pub mod form;
pub mod signature;

pub use client::TwilioProvider;
