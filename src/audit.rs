//! Audit events: what happened, to whom, by whom, from where.
use diesel::QueryResult;

use crate::db::audit::{self, AuditRow};
use crate::db::AnyConnection;

/// Declares `AuditKind` from one table of variants and their contract names.
macro_rules! audit_kinds {
    ($($variant:ident => $name:literal),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum AuditKind {
            $($variant),*
        }

        impl AuditKind {
            pub const ALL: &'static [AuditKind] = &[$(AuditKind::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditKind::$variant => $name),*
                }
            }
        }
    };
}

audit_kinds! {
    Signup => "signup",
    Login => "login",
    LoginFailed => "login_failed",
    Refresh => "refresh",
    RefreshReused => "refresh_reused",
    Logout => "logout",
    LogoutAll => "logout_all",
    AdminLogoutAll => "admin_logout_all",
    SessionRevoked => "session_revoked",
    RateLimited => "rate_limited",
    PasswordChanged => "password_changed",
    PasswordResetRequested => "password_reset_requested",
    PasswordReset => "password_reset",
    AccountDeleted => "account_deleted",
    RoleChanged => "role_changed",
    UserCreated => "user_created",
    MfaEnabled => "mfa_enabled",
    MfaDisabled => "mfa_disabled",
    MfaFailed => "mfa_failed",
    RecoveryCodeUsed => "recovery_code_used",
    PasskeyAdded => "passkey_added",
    PasskeyRemoved => "passkey_removed",
    AdminMfaReset => "admin_mfa_reset",
    KeysRotated => "keys_rotated",
}

impl AuditKind {
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// Where a request came from, as recorded on sessions and audit events.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    pub ip: String,
    pub user_agent: String,
}

impl Requester {
    /// The command line, for events that no HTTP request caused.
    pub fn cli() -> Self {
        Requester { ip: String::new(), user_agent: "portcullis-cli".into() }
    }
}

/// Who caused an event: the user themselves, an admin, or the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    Admin(String),
    Cli,
    Anonymous,
}

impl Actor {
    pub fn user(id: &str) -> Self {
        Actor::User(id.to_string())
    }

    pub fn admin(id: &str) -> Self {
        Actor::Admin(id.to_string())
    }

    /// What a user's own actions are recorded as, before their id.
    pub const USER_PREFIX: &'static str = "user:";

    fn render(&self) -> Option<String> {
        match self {
            Actor::User(id) => Some(format!("{}{id}", Self::USER_PREFIX)),
            Actor::Admin(id) => Some(format!("admin:{id}")),
            Actor::Cli => Some("cli".into()),
            Actor::Anonymous => None,
        }
    }
}

/// An event's time: microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

pub fn record(
    conn: &mut AnyConnection,
    kind: AuditKind,
    user_id: Option<&str>,
    actor: &Actor,
    client: &Requester,
    detail: &str,
) -> QueryResult<()> {
    let at_us = now_us();
    crate::metrics::auth_event(kind.as_str());
    audit::insert(
        conn,
        &AuditRow {
            id: crate::ids::new_id(),
            at_us,
            kind: kind.as_str().into(),
            user_id: user_id.map(str::to_string),
            actor: actor.render(),
            ip: Some(client.ip.clone()).filter(|s| !s.is_empty()),
            user_agent: Some(client.user_agent.clone()).filter(|s| !s.is_empty()),
            detail: detail.into(),
        },
    )
}
