pub mod fake_twilio;
pub mod server;
