//! The authentication service: every surface (JSON, forms, OAuth, CLI) goes through here.
pub mod account;
pub mod admin;
pub mod devices;
pub mod error;
pub mod gate;
pub mod keys;
pub mod mfa;
pub mod passkeys;
pub mod password;
pub mod revocation;
pub mod rotation;
pub mod seal;
pub mod service;
pub mod sessions;
pub mod signin;
pub mod signing;
pub mod signup;
pub mod status_list;
pub mod throttle;
pub mod tokens;
pub mod totp;

pub use error::AuthError;
pub use service::{AuthService, Caller, Issued, Revoker};
