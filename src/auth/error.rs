//! What can go wrong in the service, in terms the contract distinguishes.
use diesel::result::Error as DieselError;

use super::password::HashError;
use super::tokens::TokenError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("username or email already taken")]
    Conflict { username: bool, email: bool },
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    #[error("the refresh token was reused; its session is revoked")]
    RefreshTokenReused,
    #[error("access token: {0}")]
    Token(#[from] TokenError),
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("the reset token is invalid, used or expired")]
    InvalidResetToken,
    #[error("the last administrator cannot lose the role")]
    LastAdmin,
    /// A correct password on an account with a second factor: the token carries it to the code step.
    #[error("a second factor is required")]
    MfaRequired { mfa_token: secrecy::SecretString },
    #[error("the code is wrong, used or expired")]
    InvalidMfaCode,
    #[error("the mfa_token is unknown, used or expired")]
    InvalidMfaToken,
    #[error("the passkey could not be verified")]
    InvalidPasskey,
    #[error("two-factor authentication is already on")]
    MfaAlreadyEnabled,
    #[error("too many attempts; retry in {0} s")]
    RateLimited(u64),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DieselError> for AuthError {
    fn from(e: DieselError) -> Self {
        AuthError::Db(DbError::from(e))
    }
}
