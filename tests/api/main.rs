//! Integration tests: the real service over HTTP, real sled, real actors, a fake Twilio
//! that is a real HTTP server.

mod compliance;
mod fake_twilio;
mod foundation;
mod gateway;
mod helpers;
mod inputs;
