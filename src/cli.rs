//! The command line: serve, migrate, create-user, logout-all, purge-expired, rotate-keys.
use std::io::BufRead;

use clap::{Parser, Subcommand};

use crate::audit::{Actor, Requester};
use crate::auth::{AuthError, AuthService};
use crate::clock;
use crate::config::Settings;
use crate::db;
use crate::domain::{Email, Password, Role, Username};

#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about = "A sign-in server with rotating refresh tokens")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP on PORTCULLIS_ADDR (the default command).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an account; the password is read from standard input (one line).
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// End every session of a user and invalidate their access tokens.
    LogoutAll {
        #[arg(long)]
        username: String,
    },
    /// Delete expired and long-revoked refresh tokens and sessions, and old audit events.
    PurgeExpired,
    /// EdDSA/ES256: retire the signing key for a new one; every instance follows within a
    /// second, and the old key verifies until its last token has expired.
    RotateKeys,
}

/// Rows that ended this long ago are no longer needed for reuse detection.
const KEEP_ENDED_SECS: i64 = 86_400;

pub async fn create_user(
    auth: &AuthService,
    username: &str,
    email: &str,
    admin: bool,
    stdin: impl BufRead,
) -> anyhow::Result<String> {
    let username = Username::parse(username).map_err(|why| anyhow::anyhow!("username {why}"))?;
    let email = Email::parse(email).map_err(|why| anyhow::anyhow!("email {why}"))?;
    let password = read_password(stdin)?;
    let password = Password::parse_new(password, &[username.as_str(), email.as_str()])
        .map_err(|why| anyhow::anyhow!("weak password: it {why}"))?;
    let role = if admin { Role::Admin } else { Role::User };
    match auth.create_user(username, email, password, role).await {
        Ok(user) => Ok(user.id),
        Err(AuthError::Conflict { username: true, .. }) => anyhow::bail!("duplicate: the username is already taken"),
        Err(AuthError::Conflict { .. }) => anyhow::bail!("duplicate: the email is already registered"),
        Err(e) => Err(anyhow::Error::from(e).context("failed to create the user")),
    }
}

fn read_password(mut stdin: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    stdin.read_line(&mut line).map_err(|_| anyhow::anyhow!("could not read the password from standard input"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(password.to_string())
}

pub async fn logout_all(auth: &AuthService, username: &str) -> anyhow::Result<usize> {
    let key = username.to_ascii_lowercase();
    let user = db::run(auth.pool(), move |conn| Ok::<_, AuthError>(db::users::find_by_login(conn, &key, false)?))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user named {username:?}"))?;
    Ok(auth.logout_all(&user.id, Actor::Cli, Requester::cli()).await?)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub refresh_tokens: usize,
    pub sessions: usize,
    pub audit_events: usize,
}

pub async fn purge_expired(auth: &AuthService) -> anyhow::Result<Purged> {
    let retention_days = auth.settings().audit_retention_days;
    Ok(db::write(auth.pool(), move |conn| {
        let now = clock::now();
        let refresh_tokens = db::tokens::purge(conn, now, now - KEEP_ENDED_SECS)?;
        let sessions = db::sessions::purge_ended(conn, now - KEEP_ENDED_SECS)?;
        let cutoff_us = (now - retention_days * 86_400) * 1_000_000;
        let audit_events = db::audit::purge_older_than(conn, cutoff_us)?;
        db::resets::purge(conn, now)?;
        db::mfa::purge_challenges(conn, now)?;
        db::passkeys::purge_ceremonies(conn, now)?;
        db::devices::purge(conn, now, crate::auth::devices::DEVICE_TTL_SECS)?;
        // Events older than any access token: a starting instance never reads them.
        db::revocations::purge_before(conn, now - KEEP_ENDED_SECS)?;
        Ok::<_, AuthError>(Purged { refresh_tokens, sessions, audit_events })
    })
    .await?)
}

/// Loads settings and reports the development secrets that had to be generated.
pub fn load_settings() -> Result<Settings, crate::config::ConfigError> {
    let settings = Settings::from_env()?;
    for var in &settings.generated_secrets {
        tracing::warn!(
            "{var} is not set: using a random development secret. Tokens will not survive a restart. \
             Set {var} (32+ random bytes) before going to production."
        );
    }
    Ok(settings)
}
