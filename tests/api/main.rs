//! One integration binary: every database test runs against SQLite and PostgreSQL.
mod helpers;

mod abuse;
mod access_tokens;
mod account;
mod admin;
mod browser;
mod browser_http;
mod cli;
mod config;
mod expired_access;
mod input;
mod key_rotation;
mod mfa;
mod operations;
mod outages;
mod passkeys;
mod protocols;
mod proxies;
mod refresh;
mod revocation;
mod schemathesis;
mod sessions;
mod signup_login;
mod status_list;
mod throttle;
mod writer;
