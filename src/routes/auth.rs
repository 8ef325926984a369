//! `/auth/*`: sign-up, sign-in, refresh, logout and the caller's sessions.
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;

use super::bodies::{Session, TokenResponse};
use super::cookies::{self, REFRESH_COOKIE};
use super::extract::{access_token_of, Input, PresentedToken};
use super::validate::{vouched, Checker};
use crate::audit::{Actor, AuditKind, Client};
use crate::auth::{Auth, AuthError, Caller};
use crate::error::ApiError;

#[derive(Debug, Default, Deserialize)]
pub struct SignupBody {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

pub async fn signup(auth: web::Data<Auth>, client: Client, input: Input<SignupBody>) -> Result<HttpResponse, ApiError> {
    let mut check = Checker::default();
    let username = check.username(input.body.username);
    let email = check.email(input.body.email);
    let password = check.new_password("password", input.body.password);
    check.finish()?;
    let issued = auth.signup(vouched(username)?, vouched(email)?, vouched(password)?, "user", client).await?;
    let mut response = HttpResponse::Created();
    cookies::set_both(&mut response, &auth.settings, &issued);
    Ok(response.json(TokenResponse::new(issued, false)))
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginBody {
    username: Option<String>,
    password: Option<String>,
}

pub async fn login(auth: web::Data<Auth>, client: Client, input: Input<LoginBody>) -> Result<HttpResponse, ApiError> {
    let mut check = Checker::default();
    let login = check.login_name(input.body.username);
    let password = check.current_password("password", input.body.password);
    check.finish()?;
    let issued = auth.login(vouched(login)?, &vouched(password)?, client).await?;
    let mut response = HttpResponse::Ok();
    cookies::set_both(&mut response, &auth.settings, &issued);
    Ok(response.json(TokenResponse::new(issued, false)))
}

#[derive(Debug, Default, Deserialize)]
pub struct RefreshBody {
    refresh_token: Option<String>,
}

/// Where a refresh token came from decides where its successor goes.
enum RefreshSource {
    Body(String),
    Cookie(String),
}

fn refresh_source(req: &HttpRequest, body: RefreshBody) -> Option<RefreshSource> {
    match body.refresh_token {
        Some(token) => Some(RefreshSource::Body(token)),
        None => req
            .cookie(REFRESH_COOKIE)
            .map(|c| c.value().to_string())
            .filter(|v| !v.is_empty())
            .map(RefreshSource::Cookie),
    }
}

pub async fn refresh(
    req: HttpRequest,
    auth: web::Data<Auth>,
    client: Client,
    input: Input<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    match refresh_source(&req, input.body).ok_or(ApiError::RefreshTokenRequired)? {
        RefreshSource::Body(raw) => {
            let issued = auth.refresh(&raw, client).await?;
            Ok(HttpResponse::Ok().json(TokenResponse::new(issued, true)))
        }
        RefreshSource::Cookie(raw) => match auth.refresh(&raw, client).await {
            Ok(issued) => {
                let mut response = HttpResponse::Ok();
                cookies::set_both(&mut response, &auth.settings, &issued);
                Ok(response.json(TokenResponse::new(issued, false)))
            }
            // A dead refresh cookie is useless to the browser: drop both cookies with the error.
            Err(e) => Ok(with_cleared_cookies(ApiError::from(e).error_response(), &auth)),
        },
    }
}

fn with_cleared_cookies(response: HttpResponse, auth: &Auth) -> HttpResponse {
    let mut cleared = HttpResponse::Ok();
    cookies::clear(&mut cleared, &auth.settings);
    let cleared = cleared.finish();
    let mut response = response;
    for cookie in cleared.cookies() {
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// Ends this session, named by a refresh token (body or cookie) or else by the access token.
pub async fn logout(
    req: HttpRequest,
    auth: web::Data<Auth>,
    client: Client,
    input: Input<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let source = refresh_source(&req, input.body);
    let mut failure = ApiError::RefreshTokenRequired;
    let ended = match &source {
        Some(RefreshSource::Body(raw) | RefreshSource::Cookie(raw)) => {
            match auth.logout_with_refresh(raw, client.clone()).await {
                Ok(_) => true,
                Err(AuthError::InvalidRefreshToken) => {
                    failure = ApiError::InvalidRefreshToken;
                    false
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => false,
    };
    if !ended {
        let Some(PresentedToken::Bearer(token) | PresentedToken::Cookie(token)) = access_token_of(&req) else {
            return Ok(with_cleared_cookies(failure.error_response(), &auth));
        };
        let caller = auth.authenticate(&token).await?;
        auth.end_session(&caller.session_id, Some(&caller.user_id), AuditKind::Logout, client).await?;
    }
    let mut response = HttpResponse::NoContent();
    cookies::clear(&mut response, &auth.settings);
    Ok(response.finish())
}

pub async fn logout_all(
    auth: web::Data<Auth>,
    caller: web::ReqData<Caller>,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    auth.logout_all(&caller.user_id, Actor::User(&caller.user_id), client).await?;
    let mut response = HttpResponse::NoContent();
    cookies::clear(&mut response, &auth.settings);
    Ok(response.finish())
}

pub async fn list_sessions(auth: web::Data<Auth>, caller: web::ReqData<Caller>) -> Result<HttpResponse, ApiError> {
    let sessions = auth.live_sessions(&caller.user_id).await?;
    let body: Vec<Session> = sessions.into_iter().map(|s| Session::new(s, &caller.session_id)).collect();
    Ok(HttpResponse::Ok().json(body))
}

pub async fn revoke_session(
    auth: web::Data<Auth>,
    caller: web::ReqData<Caller>,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    if session_id.len() > 64 {
        return Err(ApiError::NotFound);
    }
    auth.end_session(&session_id, Some(&caller.user_id), AuditKind::SessionRevoked, client).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(auth: web::Data<Auth>, caller: web::ReqData<Caller>) -> Result<HttpResponse, ApiError> {
    let user = auth.user(&caller.user_id).await?;
    Ok(HttpResponse::Ok().json(super::bodies::User::from(user)))
}
