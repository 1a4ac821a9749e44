//! Integration tests: the real service over HTTP, real sled, real actors, a fake Twilio
//! that is a real HTTP server.

mod fake_twilio;
mod foundation;
mod helpers;
mod inputs;
