//! CSRF tokens for cookie-authenticated state changes, kept in the signed, encrypted session.
use actix_session::Session;
use subtle::ConstantTimeEq;

use super::extract::BodyKind;
use crate::error::ApiError;

const SESSION_KEY: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";
pub const FIELD: &str = "csrf_token";

/// The session's CSRF token, created on first use.
pub fn token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(SESSION_KEY) {
        return token;
    }
    rotate(session)
}

/// A fresh token (after sign-in, so a token planted before it is worthless).
pub fn rotate(session: &Session) -> String {
    let token = crate::ids::random_b64(32);
    // Serialising a String cannot fail; if the session were unusable, verify() refuses anyway.
    let _ = session.insert(SESSION_KEY, &token);
    token
}

/// Accepts the request only if it presents the session's token (compared in constant time).
pub fn verify(session: &Session, presented: Option<&str>) -> Result<(), ApiError> {
    let expected = session.get::<String>(SESSION_KEY).ok().flatten();
    match (expected, presented) {
        (Some(expected), Some(presented)) if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) => Ok(()),
        _ => Err(ApiError::Forbidden("missing or invalid CSRF token")),
    }
}

/// Forms (sign-in and sign-up included: login CSRF) must carry the token; JSON bodies are not
/// something a foreign page can make a browser send, so they need none.
pub fn verify_form(session: &Session, kind: BodyKind, presented: Option<&str>) -> Result<(), ApiError> {
    if kind == BodyKind::Form {
        verify(session, presented).map_err(|_| ApiError::Forbidden("this form has expired; please try again"))?;
    }
    Ok(())
}
