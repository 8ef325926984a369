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

/// `POST /auth/passkeys/register/start`: `{"publicKey": PublicKeyCredentialCreationOptions}`.
pub async fn register_start(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
) -> Result<HttpResponse, ApiError> {
    let options = auth.start_passkey_registration(&caller).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(options))
}

#[derive(Debug, Default, Deserialize)]
pub struct RegisterBody {
    name: Option<String>,
    credential: Option<serde_json::Value>,
}

/// `POST /auth/passkeys/register/finish`: `{"name", "credential"}` → `201 Passkey`.
pub async fn register_finish(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let body = input.body;
    let mut check = Checker::default();
    let name = check.required("name", body.name).map(|n| n.trim().to_string());
    check.finish()?;
    let name = vouched(name)?;
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::InvalidRequest {
            description: "name must be 1 to 64 characters".into(),
            fields: Fields::from([("name", "must be 1 to 64 characters".to_string())]),
        });
    }
    let credential = body.credential.ok_or_else(|| ApiError::InvalidRequest {
        description: "credential is required".into(),
        fields: Fields::from([("credential", "is required".to_string())]),
    })?;
    let row = auth.finish_passkey_registration(&caller, name, credential, client).await?;
    Ok(HttpResponse::Created().json(PasskeyView::from(row)))
}

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

/// `POST /auth/passkeys/login/start`: `{"publicKey": PublicKeyCredentialRequestOptions, "login_id"}`.
pub async fn login_start(auth: web::Data<AuthService>) -> Result<HttpResponse, ApiError> {
    let (mut options, login_id) = auth.start_passkey_login().await?;
    if let Some(object) = options.as_object_mut() {
        object.insert("login_id".into(), login_id.into());
    }
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(options))
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginBody {
    login_id: Option<String>,
    credential: Option<serde_json::Value>,
}

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
