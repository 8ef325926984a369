//! The one place where internal errors become the contract's status codes and error codes.
use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::tokens::TokenError;
use crate::auth::AuthError;
use crate::db::DbError;

pub type Fields = BTreeMap<&'static str, String>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{description}")]
    InvalidRequest { description: String, fields: Fields },
    #[error("an access token is required")]
    MissingToken,
    #[error("the access token has expired")]
    TokenExpired,
    #[error("the access token is invalid")]
    InvalidToken,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the reset token is invalid, used or expired")]
    InvalidResetToken,
    #[error("a refresh token is required")]
    RefreshTokenRequired,
    #[error("the refresh token is invalid, revoked or expired")]
    InvalidRefreshToken,
    #[error("the refresh token was already used; the session has been revoked")]
    RefreshTokenReused,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("{description}")]
    Conflict { description: &'static str, fields: Fields },
    #[error("this method is not allowed here; see the Allow header")]
    MethodNotAllowed,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("the body must be application/json or application/x-www-form-urlencoded")]
    UnsupportedMediaType,
    #[error("the password does not meet the rules")]
    WeakPassword { fields: Fields },
    #[error("a second factor is required: enter the code from your authenticator app")]
    MfaRequired { mfa_token: secrecy::SecretString },
    #[error("the code is wrong, already used or expired")]
    InvalidMfaCode,
    #[error("the sign-in step expired or was already used; sign in again")]
    InvalidMfaToken,
    #[error("the passkey could not be verified")]
    InvalidPasskey,
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

/// The contract's error body. `mfa_token` and `methods` come with `mfa_required` only.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// The contract's error code (`invalid_request`, `token_expired`, ...; RFC 6749 codes on `/oauth/token`).
    #[schema(value_type = String)]
    error: &'static str,
    error_description: String,
    /// Field name → what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    fields: Option<&'a Fields>,
    /// With `mfa_required`: the single-use token for `/auth/login/mfa` (5 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_token: Option<&'a str>,
    /// With `mfa_required`: the second factors the account accepts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    methods: Option<&'static [&'static str]>,
}

impl ApiError {
    pub fn invalid(description: impl Into<String>) -> Self {
        ApiError::InvalidRequest { description: description.into(), fields: Fields::new() }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. } => "invalid_request",
            ApiError::MissingToken => "missing_token",
            ApiError::TokenExpired => "token_expired",
            ApiError::InvalidToken => "invalid_token",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::InvalidResetToken => "invalid_reset_token",
            ApiError::RefreshTokenRequired => "refresh_token_required",
            ApiError::InvalidRefreshToken => "invalid_refresh_token",
            ApiError::RefreshTokenReused => "refresh_token_reused",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::WeakPassword { .. } => "weak_password",
            ApiError::MfaRequired { .. } => "mfa_required",
            ApiError::InvalidMfaCode => "invalid_mfa_code",
            ApiError::InvalidMfaToken => "invalid_mfa_token",
            ApiError::InvalidPasskey => "invalid_passkey",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    /// The request fields this error is about (for forms to point at them).
    pub fn field_names(&self) -> Vec<&'static str> {
        self.fields().map(|fields| fields.keys().copied().collect()).unwrap_or_default()
    }

    fn fields(&self) -> Option<&Fields> {
        match self {
            ApiError::InvalidRequest { fields, .. }
            | ApiError::Conflict { fields, .. }
            | ApiError::WeakPassword { fields }
                if !fields.is_empty() =>
            {
                Some(fields)
            }
            _ => None,
        }
    }

    /// The human sentence shown to the user (also on HTML pages).
    pub fn message(&self) -> String {
        match self.fields() {
            Some(fields) if matches!(self, ApiError::InvalidRequest { .. } | ApiError::WeakPassword { .. }) => fields
                .iter()
                .map(|(name, problem)| format!("{} {problem}", name.replace('_', " ")))
                .collect::<Vec<_>>()
                .join("; "),
            _ => self.to_string(),
        }
    }
}

impl ApiError {
    /// The JSON body of this error, for responses built outside `ResponseError`.
    pub fn body(&self) -> serde_json::Value {
        let mfa_token = match self {
            ApiError::MfaRequired { mfa_token } => Some(secrecy::ExposeSecret::expose_secret(mfa_token)),
            _ => None,
        };
        serde_json::to_value(ErrorBody {
            error: self.code(),
            error_description: self.message(),
            fields: self.fields(),
            mfa_token,
            methods: mfa_token.map(|_| &["totp", "recovery_code"][..]),
        })
        .unwrap_or_default()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } | ApiError::InvalidResetToken => StatusCode::BAD_REQUEST,
            ApiError::MissingToken
            | ApiError::TokenExpired
            | ApiError::InvalidToken
            | ApiError::InvalidCredentials
            | ApiError::RefreshTokenRequired
            | ApiError::InvalidRefreshToken
            | ApiError::RefreshTokenReused
            | ApiError::InvalidMfaCode
            | ApiError::InvalidMfaToken
            | ApiError::InvalidPasskey => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::MfaRequired { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::WeakPassword { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        // RFC 6750 §3: say why a bearer token was refused.
        let challenge = match self {
            ApiError::MissingToken => Some(r#"Bearer realm="portcullis""#.to_string()),
            ApiError::TokenExpired | ApiError::InvalidToken => {
                Some(format!(r#"Bearer realm="portcullis", error="invalid_token", error_description="{self}""#))
            }
            _ => None,
        };
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let ApiError::RateLimited { retry_after_secs } = self {
            for header in rate_limit_headers(*retry_after_secs, None) {
                response.insert_header(header);
            }
        }
        response.json(self.body())
    }
}

/// The headers of every `429`, built here only: `Retry-After`, and the IETF draft "RateLimit
/// header fields for HTTP" (`RateLimit-Remaining`, `-Reset`, and with a known per-IP policy
/// `(burst, window seconds)` also `-Limit` and `-Policy`).
pub fn rate_limit_headers(retry_after_secs: u64, policy: Option<(u32, u64)>) -> Vec<(HeaderName, HeaderValue)> {
    let wait = HeaderValue::from(retry_after_secs);
    let mut headers = vec![
        (header::RETRY_AFTER, wait.clone()),
        (HeaderName::from_static("ratelimit-remaining"), HeaderValue::from_static("0")),
        (HeaderName::from_static("ratelimit-reset"), wait),
    ];
    if let Some((burst, window_secs)) = policy {
        headers.push((HeaderName::from_static("ratelimit-limit"), HeaderValue::from(burst)));
        if let Ok(policy) = HeaderValue::from_str(&format!("{burst};w={window_secs}")) {
            headers.push((HeaderName::from_static("ratelimit-policy"), policy));
        }
    }
    headers
}

fn taken(username: bool, email: bool) -> Fields {
    let mut fields = Fields::new();
    if username {
        fields.insert("username", "is already taken".into());
    }
    if email {
        fields.insert("email", "is already registered".into());
    }
    fields
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::InvalidCredentials,
            AuthError::Conflict { username, email } => {
                ApiError::Conflict { description: "already taken", fields: taken(username, email) }
            }
            AuthError::LastAdmin => ApiError::Conflict {
                description: "the last administrator cannot lose the role",
                fields: Fields::from([("role", "the last administrator cannot lose the role".to_string())]),
            },
            AuthError::InvalidRefreshToken => ApiError::InvalidRefreshToken,
            AuthError::RefreshTokenReused => ApiError::RefreshTokenReused,
            AuthError::Token(TokenError::Expired) => ApiError::TokenExpired,
            AuthError::Token(TokenError::Invalid) => ApiError::InvalidToken,
            AuthError::NotFound => ApiError::NotFound,
            AuthError::Forbidden(why) => ApiError::Forbidden(why),
            AuthError::InvalidResetToken => ApiError::InvalidResetToken,
            AuthError::MfaRequired { mfa_token } => ApiError::MfaRequired { mfa_token },
            AuthError::InvalidMfaCode => ApiError::InvalidMfaCode,
            AuthError::InvalidMfaToken => ApiError::InvalidMfaToken,
            AuthError::InvalidPasskey => ApiError::InvalidPasskey,
            AuthError::MfaAlreadyEnabled => {
                ApiError::Conflict { description: "two-factor authentication is already on", fields: Fields::new() }
            }
            AuthError::RateLimited(retry_after_secs) => {
                crate::metrics::refused(crate::metrics::Limiter::Throttle);
                ApiError::RateLimited { retry_after_secs }
            }
            AuthError::Db(DbError::Unavailable(source)) => {
                tracing::error!(error = %source, "database unavailable");
                ApiError::Unavailable
            }
            AuthError::Db(DbError::Busy) => {
                tracing::error!("every database connection stayed busy for the checkout timeout");
                ApiError::Unavailable
            }
            AuthError::Db(DbError::Down) => {
                // Logged once by the revocation feed when it went down, not per request.
                tracing::debug!("database known to be down; request refused at once");
                ApiError::Unavailable
            }
            AuthError::Db(DbError::Lost(source)) => {
                tracing::error!(error = %source, "database connection lost or locked");
                ApiError::Unavailable
            }
            other => {
                // The client learns nothing; the log gets the whole chain.
                tracing::error!(error = ?anyhow::Error::from(other), "unexpected error");
                ApiError::Internal
            }
        }
    }
}
