//! `POST /oauth/token` (RFC 6749 §4.3, §6): the password and refresh-token grants for native
//! apps and other OAuth clients. Public clients only: no client authentication.
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::extract::{BodyKind, Input};
use crate::audit::Requester;
use crate::auth::mfa::SecondFactor;
use crate::auth::{AuthError, AuthService, Issued};
use crate::domain::LoginName;
use crate::error::ApiError;

/// RFC 6749 token request (a form). `password`: `username`, `password`; `refresh_token`:
/// `refresh_token`; the mfa-otp grant: `mfa_token` and `otp` or `recovery_code`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = OAuthTokenRequest)]
pub struct TokenRequest {
    /// Checked by the handler (a missing one is `invalid_request`, another one
    /// `unsupported_grant_type`), so the field is optional in Rust but required in the document.
    #[schema(schema_with = grant_type_schema, required = true)]
    grant_type: Option<String>,
    #[schema(value_type = String, required = false)]
    username: Option<String>,
    #[schema(value_type = String, required = false)]
    password: Option<String>,
    #[schema(value_type = String, required = false)]
    refresh_token: Option<String>,
    #[schema(value_type = String, required = false)]
    mfa_token: Option<String>,
    #[schema(value_type = String, required = false)]
    otp: Option<String>,
    #[schema(value_type = String, required = false)]
    recovery_code: Option<String>,
}

/// The grants `grant` takes, for the document.
fn grant_type_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["password", "refresh_token", MFA_OTP_GRANT]))
        .examples(["password"])
        .build()
}

/// The second step for a native client whose password grant answered `mfa_required`: the
/// grant type Auth0 uses for the same thing, so OAuth libraries that know it work unchanged.
pub const MFA_OTP_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-otp";

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OAuthTokenResponse)]
struct TokenResponse {
    access_token: String,
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
}

/// RFC 6749 §5.2 error codes.
enum OAuthError {
    InvalidRequest(&'static str),
    InvalidGrant(&'static str),
    UnsupportedGrantType,
    /// Anything that is not the grant's fault (rate limits, outages) keeps the contract's answer.
    Api(ApiError),
}

impl From<AuthError> for OAuthError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => OAuthError::InvalidGrant("invalid username or password"),
            AuthError::InvalidRefreshToken => {
                OAuthError::InvalidGrant("the refresh token is invalid, revoked or expired")
            }
            AuthError::RefreshTokenReused => {
                OAuthError::InvalidGrant("the refresh token was already used; the session has been revoked")
            }
            AuthError::InvalidMfaCode => OAuthError::InvalidGrant("the code is wrong, used or expired"),
            AuthError::InvalidMfaToken => OAuthError::InvalidGrant("the mfa_token is unknown, used or expired"),
            other => OAuthError::Api(other.into()),
        }
    }
}

impl OAuthError {
    fn respond(self) -> HttpResponse {
        let (code, description) = match self {
            OAuthError::InvalidRequest(d) => ("invalid_request", d),
            OAuthError::InvalidGrant(d) => ("invalid_grant", d),
            OAuthError::UnsupportedGrantType => {
                ("unsupported_grant_type", "grant_type must be password, refresh_token or the mfa-otp grant")
            }
            OAuthError::Api(e) => return actix_web::ResponseError::error_response(&e),
        };
        HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(serde_json::json!({ "error": code, "error_description": description }))
    }
}

#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content((TokenRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Tokens (RFC 6749 §5.1)", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2: invalid_request, invalid_grant, unsupported_grant_type"),
        (status = 403, description = "mfa_required (with `mfa_token`): continue with the mfa-otp grant"),
        (status = 429, description = "rate_limited"),
    ))]
/// Body problems (413, 415, malformed) answer through `Input` with the contract's codes, whose
/// `{"error": "invalid_request", "error_description"}` shape is RFC 6749's too.
pub async fn token(
    req: actix_web::HttpRequest,
    auth: web::Data<AuthService>,
    client: Requester,
    input: Result<Input<TokenRequest>, ApiError>,
) -> HttpResponse {
    let outcome = match input {
        Ok(input) => grant(&auth, client, input, super::cookies::device_of(&req).as_deref()).await,
        // RFC 6749 §5.2: a body of the wrong type is an invalid request, not a 415.
        Err(ApiError::UnsupportedMediaType) => {
            Err(OAuthError::InvalidRequest("the body must be application/x-www-form-urlencoded"))
        }
        Err(e) => Err(OAuthError::Api(e)),
    };
    match outcome {
        Ok(issued) => HttpResponse::Ok().insert_header((header::PRAGMA, "no-cache")).json(TokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token,
        }),
        Err(e) => e.respond(),
    }
}

/// A client that keeps cookies may present its device cookie here too (see `auth::devices`).
async fn grant(
    auth: &AuthService,
    client: Requester,
    input: Input<TokenRequest>,
    device_cookie: Option<&str>,
) -> Result<Issued, OAuthError> {
    if input.kind != BodyKind::Form {
        return Err(OAuthError::InvalidRequest("the body must be application/x-www-form-urlencoded"));
    }
    let request = input.body;
    match request.grant_type.as_deref() {
        Some("password") => {
            let (Some(username), Some(password)) = (request.username, request.password) else {
                return Err(OAuthError::InvalidRequest("username and password are required"));
            };
            let login = LoginName::parse(&username).map_err(|_| OAuthError::InvalidRequest("username is invalid"))?;
            if password.is_empty() {
                return Err(OAuthError::InvalidRequest("password is required"));
            }
            // Longer than any password can be (and never handed to bcrypt, which truncates).
            if password.len() > crate::domain::PASSWORD_MAX_BYTES {
                return Err(OAuthError::InvalidGrant("invalid username or password"));
            }
            Ok(auth.login(login, &secrecy::SecretString::from(password), client, device_cookie).await?)
        }
        Some("refresh_token") => {
            let token = request.refresh_token.ok_or(OAuthError::InvalidRequest("refresh_token is required"))?;
            Ok(auth.refresh(&token, client).await?)
        }
        Some(MFA_OTP_GRANT) => {
            let token = request.mfa_token.ok_or(OAuthError::InvalidRequest("mfa_token is required"))?;
            let factor = match (request.otp, request.recovery_code) {
                (Some(otp), None) => SecondFactor::Code(otp.trim().to_string()),
                (None, Some(code)) => SecondFactor::RecoveryCode(code),
                _ => return Err(OAuthError::InvalidRequest("exactly one of otp and recovery_code is required")),
            };
            Ok(auth.login_mfa(&token, factor, client).await?)
        }
        Some(_) => Err(OAuthError::UnsupportedGrantType),
        None => Err(OAuthError::InvalidRequest("grant_type is required")),
    }
}
