//! portcullis: a sign-in server with short-lived JWT access tokens and rotating refresh tokens.
#![recursion_limit = "256"]
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod device;
pub mod domain;
pub mod error;
pub mod ids;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod net;
pub mod routes;
pub mod startup;
