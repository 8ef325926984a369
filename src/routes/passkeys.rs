//! `/auth/passkeys/*`: the WebAuthn ceremonies as JSON (the page script drives them), and the
//! removal of a passkey from `/account`.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::signed_in_json;
use super::bodies::PasskeyView;
use super::extract::Input;
use super::pages;
use super::redirect::see_other;
use super::respond::Audience;
use super::validate::{vouched, Checker};
use crate::audit::Requester;
use crate::auth::{AuthService, Caller};
use crate::error::{ApiError, Fields};

#[utoipa::path(post, path = "/auth/passkeys/register/start", tag = "passkeys", security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "`{\"publicKey\": PublicKeyCredentialCreationOptions}`", body = Object),
        (status = 401, description = "missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request without the CSRF token"),
        (status = 404, description = "not_found: passkeys are off (no PUBLIC_URL)"),
    ))]
/// `POST /auth/passkeys/register/start`: `{"publicKey": PublicKeyCredentialCreationOptions}`.
pub async fn register_start(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
) -> Result<HttpResponse, ApiError> {
    let options = auth.start_passkey_registration(&caller).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(options))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = PasskeyRegistration)]
pub struct RegisterBody {
    /// What the user calls this passkey.
    #[schema(schema_with = super::openapi::fields::passkey_name, required = true)]
    name: Option<String>,
    /// The browser's `PublicKeyCredential` (WebAuthn JSON).
    #[schema(value_type = Object, required = true)]
    credential: Option<serde_json::Value>,
}

#[utoipa::path(post, path = "/auth/passkeys/register/finish", tag = "passkeys", security(("bearer" = []), ("accessCookie" = [])),
    request_body(content((RegisterBody = "application/json"))),
    responses(
        (status = 201, description = "Stored", body = super::bodies::PasskeyView),
        (status = 400, description = "invalid_request, invalid_passkey"),
        (status = 401, description = "missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request without the CSRF token"),
        (status = 404, description = "not_found: no registration in progress, or passkeys are off"),
    ))]
/// `POST /auth/passkeys/register/finish`: `{"name", "credential"}` → `201 Passkey`.
pub async fn register_finish(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let body = input.body;
    let mut check = Checker::default();
    let name = check.required("name", body.name);
    check.finish()?;
    let name = vouched(name)?;
    // The rule the document states (`fields::passkey_name`): 1 to 64 characters, not all
    // blank, no control characters.
    let fits = (1..=64).contains(&name.chars().count())
        && name.chars().any(|c| !c.is_whitespace())
        && !name.chars().any(char::is_control);
    if !fits {
        return Err(ApiError::InvalidRequest {
            description: "name must be 1 to 64 characters, not all blank".into(),
            fields: Fields::from([("name", "must be 1 to 64 characters, not all blank".to_string())]),
        });
    }
    let credential = body.credential.ok_or_else(|| ApiError::InvalidRequest {
        description: "credential is required".into(),
        fields: Fields::from([("credential", "is required".to_string())]),
    })?;
    let row = auth.finish_passkey_registration(&caller, name, credential, client).await?;
    Ok(HttpResponse::Created().json(PasskeyView::from(row)))
}

#[utoipa::path(delete, path = "/auth/passkeys/{id}", tag = "passkeys", security(("bearer" = []), ("accessCookie" = [])), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request without the CSRF token"),
        (status = 404, description = "not_found: no passkey of the caller has that id"),
    ))]
/// `DELETE /auth/passkeys/{id}` (and `POST /auth/passkeys/{id}/delete` from `/account`).
pub async fn remove(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    let outcome = auth.remove_passkey(&caller, &path.into_inner().0, client).await;
    match (audience, outcome) {
        (Audience::Api, Ok(())) => Ok(HttpResponse::NoContent().finish()),
        (Audience::Api, Err(e)) => Err(e.into()),
        (Audience::Browser, result) => {
            let message =
                if result.is_ok() { "The passkey has been removed." } else { "That passkey was already gone." };
            pages::flash(&session, message);
            Ok(see_other("/account").finish())
        }
    }
}

/// `POST /auth/passkeys/{id}/delete`: the `/account` page's form twin of the `DELETE`.
#[utoipa::path(post, path = "/auth/passkeys/{id}/delete", tag = "passkeys", security(("bearer" = []), ("accessCookie" = [])), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content((super::extract::FormMeta = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "Removed (a JSON client)"),
        (status = 303, description = "Back to /account, saying what happened"),
        (status = 401, description = "missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: without the CSRF token"),
        (status = 404, description = "not_found"),
    ))]
pub async fn remove_form(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    remove(auth, session, audience, caller, client, path).await
}

#[utoipa::path(post, path = "/auth/passkeys/login/start", tag = "passkeys",
    responses(
        (status = 200, description = "`{\"publicKey\": PublicKeyCredentialRequestOptions, \"login_id\"}`", body = Object),
        (status = 404, description = "not_found: passkeys are off (no PUBLIC_URL)"),
        (status = 429, description = "rate_limited"),
    ))]
/// `POST /auth/passkeys/login/start`: `{"publicKey": PublicKeyCredentialRequestOptions, "login_id"}`.
pub async fn login_start(auth: web::Data<AuthService>) -> Result<HttpResponse, ApiError> {
    let (mut options, login_id) = auth.start_passkey_login().await?;
    if let Some(object) = options.as_object_mut() {
        object.insert("login_id".into(), login_id.into());
    }
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(options))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = PasskeyLogin)]
pub struct LoginBody {
    /// From `/auth/passkeys/login/start`.
    #[schema(schema_with = super::openapi::fields::required_text, required = true)]
    login_id: Option<String>,
    /// The browser's `PublicKeyCredential` (WebAuthn JSON).
    #[schema(value_type = Object, required = true)]
    credential: Option<serde_json::Value>,
}

#[utoipa::path(post, path = "/auth/passkeys/login/finish", tag = "passkeys",
    request_body(content((LoginBody = "application/json"))),
    responses(
        (status = 200, description = "Signed in", body = super::bodies::TokenResponse),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_passkey"),
        (status = 404, description = "not_found: passkeys are off"),
        (status = 429, description = "rate_limited"),
    ))]
/// `POST /auth/passkeys/login/finish`: `{"login_id", "credential"}` → `TokenResponse` and cookies.
pub async fn login_finish(
    auth: web::Data<AuthService>,
    session: Session,
    client: Requester,
    input: Input<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let body = input.body;
    let mut check = Checker::default();
    let login_id = check.required("login_id", body.login_id);
    check.finish()?;
    let login_id = vouched(login_id)?;
    let credential = body.credential.ok_or_else(|| ApiError::InvalidRequest {
        description: "credential is required".into(),
        fields: Fields::from([("credential", "is required".to_string())]),
    })?;
    let issued = auth.finish_passkey_login(&login_id, credential, client).await?;
    Ok(signed_in_json(&session, &auth, issued, StatusCode::OK))
}
