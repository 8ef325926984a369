//! The JSON bodies of the contract.
use serde::Serialize;

use crate::auth::Issued;
use crate::clock::rfc3339;
use crate::db::sessions::SessionRow;
use crate::db::users::UserRow;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    #[schema(value_type = super::openapi::RoleName)]
    pub role: String,
    pub created_at: String,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        User { id: u.id, username: u.username, email: u.email, role: u.role, created_at: rfc3339(u.created_at) }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    pub expires_in: i64,
    pub user: User,
    /// Only to a client that sent its refresh token in the body; browsers get the cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Passkey)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// Null until the passkey is first used.
    #[schema(required = true)]
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

/// `GET /auth/csrf`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CsrfToken {
    pub csrf_token: String,
}

/// `GET /healthz`: `ok`, or `unavailable` with 503.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(value_type = String, example = "ok")]
    pub status: &'static str,
}

/// `202` from `POST /auth/password/forgot`: the same whether or not the account exists.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    #[schema(value_type = String, example = "accepted")]
    pub status: &'static str,
    #[schema(value_type = String)]
    pub message: &'static str,
}

/// `GET /auth/mfa`: what protects the caller's account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = MfaStatus)]
pub struct MfaStatusView {
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: Vec<PasskeyView>,
}

/// `GET /.well-known/jwks.json` (RFC 7517): the keys whose tokens may still be unexpired.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JwkSet {
    /// JWKs: `kty`, `kid`, `alg`, `use`, and the key's public parameters.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}
