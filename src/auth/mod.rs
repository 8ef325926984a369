//! The authentication service: every surface (JSON, forms, OAuth, CLI) goes through here.
pub mod account;
pub mod admin;
pub mod devices;
pub mod gate;
pub mod keys;
pub mod password;
pub mod revocation;
pub mod service;
pub mod signin;
pub mod throttle;
pub mod tokens;

pub use service::{Auth, AuthError, Caller, Issued, Revoker};
