//! The JSON bodies of the contract.
use serde::Serialize;

use crate::auth::Issued;
use crate::clock::rfc3339;
use crate::db::sessions::SessionRow;
use crate::db::users::UserRow;

#[derive(Debug, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub role: String,
    pub created_at: String,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        User { id: u.id, username: u.username, email: u.email, role: u.role, created_at: rfc3339(u.created_at) }
    }
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub user: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    pub fn new(issued: Issued, with_refresh_token: bool) -> Self {
        TokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            user: issued.user.into(),
            refresh_token: with_refresh_token.then_some(issued.refresh_token),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub user_agent: String,
    /// The user agent in words ("Chrome 131 on macOS"), beside the raw string.
    pub device: String,
    pub ip: String,
    pub current: bool,
}

impl SessionView {
    pub fn new(s: SessionRow, current_id: &str) -> Self {
        SessionView {
            current: s.id == current_id,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            // A session ends at its idle expiry or its absolute limit, whichever comes first.
            expires_at: rfc3339(s.expires_at.min(s.absolute_expires_at)),
            id: s.id,
            // Sessions from before devices were recorded are described now.
            device: if s.device.is_empty() { crate::device::describe(&s.user_agent) } else { s.device },
            user_agent: s.user_agent,
            ip: s.ip,
        }
    }
}

/// `Passkey`: `{"id", "name", "created_at", "last_used_at"}` (never the credential itself).
#[derive(Debug, Serialize)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<crate::db::passkeys::PasskeyRow> for PasskeyView {
    fn from(p: crate::db::passkeys::PasskeyRow) -> Self {
        PasskeyView {
            id: p.id,
            name: p.name,
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
        }
    }
}
