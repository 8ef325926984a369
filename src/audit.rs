//! Audit events: what happened, to whom, by whom, from where.
use diesel::QueryResult;

use crate::db::audit::{self, AuditRow};
use crate::db::AnyConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Signup,
    Login,
    LoginFailed,
    Refresh,
    RefreshReused,
    Logout,
    LogoutAll,
    AdminLogoutAll,
    SessionRevoked,
    RateLimited,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    AccountDeleted,
    RoleChanged,
    UserCreated,
}

impl AuditKind {
    pub const ALL: [AuditKind; 16] = [
        AuditKind::Signup,
        AuditKind::Login,
        AuditKind::LoginFailed,
        AuditKind::Refresh,
        AuditKind::RefreshReused,
        AuditKind::Logout,
        AuditKind::LogoutAll,
        AuditKind::AdminLogoutAll,
        AuditKind::SessionRevoked,
        AuditKind::RateLimited,
        AuditKind::PasswordChanged,
        AuditKind::PasswordResetRequested,
        AuditKind::PasswordReset,
        AuditKind::AccountDeleted,
        AuditKind::RoleChanged,
        AuditKind::UserCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Signup => "signup",
            AuditKind::Login => "login",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::Refresh => "refresh",
            AuditKind::RefreshReused => "refresh_reused",
            AuditKind::Logout => "logout",
            AuditKind::LogoutAll => "logout_all",
            AuditKind::AdminLogoutAll => "admin_logout_all",
            AuditKind::SessionRevoked => "session_revoked",
            AuditKind::RateLimited => "rate_limited",
            AuditKind::PasswordChanged => "password_changed",
            AuditKind::PasswordResetRequested => "password_reset_requested",
            AuditKind::PasswordReset => "password_reset",
            AuditKind::AccountDeleted => "account_deleted",
            AuditKind::RoleChanged => "role_changed",
            AuditKind::UserCreated => "user_created",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
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

    fn render(&self) -> Option<String> {
        match self {
            Actor::User(id) => Some(format!("user:{id}")),
            Actor::Admin(id) => Some(format!("admin:{id}")),
            Actor::Cli => Some("cli".into()),
            Actor::Anonymous => None,
        }
    }
}

pub fn record(
    conn: &mut AnyConnection,
    kind: AuditKind,
    user_id: Option<&str>,
    actor: &Actor,
    client: &Requester,
    detail: &str,
) -> QueryResult<()> {
    let at_us = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64;
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
