//! `/auth/*`: sign-up, sign-in, refresh, logout and the caller's sessions. Each endpoint
//! answers JSON to JSON and, to a form posted from a page, a `303` or the form page again.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::bodies::{SessionView, TokenResponse};
use super::cookies::{self, REFRESH_COOKIE};
use super::csrf;
use super::extract::{access_token_of, Input, PresentedToken};
use super::pages::{self, FormError, Layout, LoginPage, SignupPage};
use super::redirect::{safe_next, see_other};
use super::respond::{form_or_json, Audience, PageError};
use super::validate::{vouched, Checker};
use crate::audit::{Actor, AuditKind, Requester};
use crate::auth::{AuthError, AuthService, Caller, Issued, Revoker};
use crate::domain::Role;
use crate::error::ApiError;

/// After a form sign-in: a new session id (no fixation), a new CSRF token, both token cookies,
/// and `303` to a safe local target.
pub(super) fn signed_in_redirect(
    session: &Session,
    auth: &AuthService,
    issued: &Issued,
    next: Option<&str>,
) -> HttpResponse {
    session.renew();
    csrf::rotate(session);
    let mut response = see_other(&safe_next(next));
    cookies::set_both(&mut response, auth.settings(), issued);
    response.finish()
}

/// After a JSON sign-in: the same session hygiene, both cookies, and the `TokenResponse`.
pub(super) fn signed_in_json(
    session: &Session,
    auth: &AuthService,
    issued: Issued,
    status: StatusCode,
) -> HttpResponse {
    session.renew();
    csrf::rotate(session);
    let mut response = HttpResponse::build(status);
    cookies::set_both(&mut response, auth.settings(), &issued);
    response.json(TokenResponse::new(issued, false))
}

#[derive(Debug, Default, Deserialize)]
pub struct SignupBody {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

pub async fn signup(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    client: Requester,
    input: Input<SignupBody>,
) -> Result<HttpResponse, ApiError> {
    let Input { body, kind, csrf_token, next } = input;
    let (typed_username, typed_email) = (body.username.clone(), body.email.clone());
    let outcome = async {
        csrf::verify_form(&session, kind, csrf_token.as_deref())?;
        let mut check = Checker::default();
        let inputs = [typed_username.as_deref().unwrap_or(""), typed_email.as_deref().unwrap_or("")];
        let password = check.new_password("password", body.password, &inputs);
        let username = check.username(body.username);
        let email = check.email(body.email);
        check.finish()?;
        Ok::<_, ApiError>(
            auth.signup(vouched(username)?, vouched(email)?, vouched(password)?, Role::User, client).await?,
        )
    }
    .await;
    form_or_json(
        audience,
        outcome,
        |issued| {
            pages::flash(&session, "Welcome! Your account is ready.");
            signed_in_redirect(&session, &auth, &issued, next.as_deref())
        },
        |e| {
            let page = SignupPage {
                layout: Layout::new(&session, None),
                error: Some(FormError::from(&e)),
                username: typed_username.clone().unwrap_or_default(),
                email: typed_email.clone().unwrap_or_default(),
                next: super::redirect::next_for_page(next.as_deref()),
            };
            pages::render(e.status_code(), &page)
        },
        |issued| signed_in_json(&session, &auth, issued, StatusCode::CREATED),
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginBody {
    username: Option<String>,
    password: Option<String>,
}

pub async fn login(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    client: Requester,
    input: Input<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let Input { body, kind, csrf_token, next } = input;
    let typed_username = body.username.clone();
    let outcome = async {
        csrf::verify_form(&session, kind, csrf_token.as_deref())?;
        let mut check = Checker::default();
        let login = check.login_name(body.username);
        let password = check.current_password("password", body.password);
        check.finish()?;
        Ok::<_, ApiError>(
            auth.login(vouched(login)?, &vouched(password)?, client, cookies::device_of(&req).as_deref()).await?,
        )
    }
    .await;
    form_or_json(
        audience,
        outcome,
        |issued| signed_in_redirect(&session, &auth, &issued, next.as_deref()),
        |e| {
            if let ApiError::MfaRequired { mfa_token } = &e {
                return super::mfa::code_step(&session, mfa_token.expose_secret(), next.as_deref());
            }
            let page = LoginPage {
                layout: Layout::new(&session, None),
                error: Some(FormError::from(&e)),
                username: typed_username.clone().unwrap_or_default(),
                next: super::redirect::next_for_page(next.as_deref()),
            };
            pages::with_error_headers(pages::render(e.status_code(), &page), &e)
        },
        |issued| signed_in_json(&session, &auth, issued, StatusCode::OK),
    )
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
    auth: web::Data<AuthService>,
    session: Session,
    client: Requester,
    input: Input<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    match refresh_source(&req, input.body).ok_or(ApiError::RefreshTokenRequired)? {
        RefreshSource::Body(raw) => {
            let issued = auth.refresh(&raw, client).await?;
            Ok(HttpResponse::Ok().json(TokenResponse::new(issued, true)))
        }
        RefreshSource::Cookie(raw) => {
            // The cookie rides along on any request the browser makes: demand the CSRF token.
            csrf::verify(&session, input.csrf_token.as_deref())?;
            match auth.refresh(&raw, client).await {
                Ok(issued) => {
                    let mut response = HttpResponse::Ok();
                    cookies::set_both(&mut response, auth.settings(), &issued);
                    Ok(response.json(TokenResponse::new(issued, false)))
                }
                // A dead refresh cookie is useless to the browser: drop both cookies with the error.
                // An outage is not the cookie's fault: keep it.
                Err(e) => {
                    let error = ApiError::from(e);
                    if error.status_code() == StatusCode::UNAUTHORIZED {
                        Ok(with_cleared_cookies(error.error_response(), &auth))
                    } else {
                        Err(error)
                    }
                }
            }
        }
    }
}

fn with_cleared_cookies(mut response: HttpResponse, auth: &AuthService) -> HttpResponse {
    let mut cleared = HttpResponse::Ok();
    cookies::clear(&mut cleared, auth.settings());
    for cookie in cleared.finish().cookies() {
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// The one credential that names the session a logout ends, in order of precedence: a refresh
/// token in the body, a Bearer header, the refresh cookie, the access cookie. Never a mix: a bad
/// body token does not fall back to cookies, and a Bearer request never touches them.
enum LogoutCredential {
    RefreshBody(String),
    Bearer(String),
    RefreshCookie(String),
    AccessCookie(String),
}

impl LogoutCredential {
    fn of(req: &HttpRequest, body: RefreshBody) -> Option<Self> {
        if let Some(token) = body.refresh_token {
            return Some(Self::RefreshBody(token));
        }
        let access = access_token_of(req);
        if let Some(PresentedToken::Bearer(token)) = access {
            return Some(Self::Bearer(token));
        }
        if let Some(RefreshSource::Cookie(token)) = refresh_source(req, RefreshBody::default()) {
            return Some(Self::RefreshCookie(token));
        }
        match access {
            Some(PresentedToken::Cookie(token)) => Some(Self::AccessCookie(token)),
            _ => None,
        }
    }

    fn rides_on_cookies(&self) -> bool {
        matches!(self, Self::RefreshCookie(_) | Self::AccessCookie(_))
    }
}

/// Ends this session. Cookie-borne logouts and forms need the CSRF token.
pub async fn logout(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    client: Requester,
    input: Input<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let Input { body, csrf_token, .. } = input;
    let credential = LogoutCredential::of(&req, body);
    let form = audience.is_browser();
    if form || credential.as_ref().is_some_and(LogoutCredential::rides_on_cookies) {
        if let Err(e) = csrf::verify(&session, csrf_token.as_deref()) {
            return Ok(if form { PageError::new(&session, None, e).error_response() } else { e.error_response() });
        }
    }
    // Logout clears the cookies, except when a Bearer header named another session.
    let clears_cookies = form || !matches!(credential, Some(LogoutCredential::Bearer(_)));
    let outcome = end_this_session(&auth, credential, client).await;
    // The server could not end the session: say so and keep the cookies, so that the user
    // neither believes they are out nor loses the means to sign out once it is back.
    if let Some(e) = outcome.as_ref().err().filter(|e| e.status_code().is_server_error()) {
        tracing::warn!(status = %e.status_code(), "logout failed; the session stays live");
        let message = "You are not signed out: the server could not end your session. Please try again in a moment.";
        return Ok(if form {
            PageError::new(&session, None, outcome.unwrap_err()).saying(message).error_response()
        } else {
            e.error_response()
        });
    }
    match outcome {
        Err(e) if !form && clears_cookies => Ok(with_cleared_cookies(e.error_response(), &auth)),
        Err(e) if !form => Err(e),
        // A browser asking to leave leaves, whatever state its cookies were in.
        _ if form => {
            forget_browser_session(&session);
            pages::flash(&session, "You have been signed out.");
            let mut response = see_other("/login");
            cookies::clear(&mut response, auth.settings());
            Ok(response.finish())
        }
        _ => {
            let mut response = HttpResponse::NoContent();
            if clears_cookies {
                cookies::clear(&mut response, auth.settings());
            }
            Ok(response.finish())
        }
    }
}

async fn end_this_session(
    auth: &AuthService,
    credential: Option<LogoutCredential>,
    client: Requester,
) -> Result<(), ApiError> {
    match credential.ok_or(ApiError::RefreshTokenRequired)? {
        LogoutCredential::RefreshBody(raw) | LogoutCredential::RefreshCookie(raw) => {
            auth.logout_with_refresh(&raw, client).await?;
        }
        LogoutCredential::Bearer(token) | LogoutCredential::AccessCookie(token) => {
            let caller = auth.authenticate(&token).await?;
            auth.end_session(&caller.session_id, Revoker::Owner(caller.user_id.clone()), AuditKind::Logout, client)
                .await?;
        }
    }
    Ok(())
}

pub async fn logout_all(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
) -> Result<HttpResponse, ApiError> {
    auth.logout_all(&caller.user_id, Actor::user(&caller.user_id), client).await?;
    let form = audience.is_browser();
    let mut response = if form { see_other("/login") } else { HttpResponse::NoContent() };
    cookies::clear(&mut response, auth.settings());
    if form {
        forget_browser_session(&session);
        pages::flash(&session, "You have been signed out on every device.");
    }
    Ok(response.finish())
}

/// Drops everything the session held (CSRF token included) under a new session id.
fn forget_browser_session(session: &Session) {
    session.clear();
    session.renew();
}

/// A one-off CSRF token for scripts and single-page apps that ride on the cookies.
pub async fn csrf_token(session: Session) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "csrf_token": csrf::token(&session) }))
}

pub async fn list_sessions(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
) -> Result<HttpResponse, ApiError> {
    let sessions = auth.live_sessions(&caller.user_id).await?;
    let body: Vec<SessionView> = sessions.into_iter().map(|s| SessionView::new(s, &caller.session_id)).collect();
    Ok(HttpResponse::Ok().json(body))
}

pub async fn revoke_session(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner().0;
    let outcome =
        auth.end_session(&session_id, Revoker::Owner(caller.user_id.clone()), AuditKind::SessionRevoked, client).await;
    if audience.is_browser() {
        // From the dashboard: back to it, with what happened.
        let message = match outcome {
            Ok(()) => "The session has been revoked.",
            Err(AuthError::NotFound) => "That session had already ended.",
            Err(e) => return Err(e.into()),
        };
        pages::flash(&session, message);
        if session_id != caller.session_id {
            return Ok(see_other("/dashboard").finish());
        }
        // This browser's own session: its cookies go with it (and a transparent refresh's new
        // ones are not added over them).
        let mut response = see_other("/login");
        cookies::clear(&mut response, auth.settings());
        return Ok(response.finish());
    }
    outcome?;
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}

/// `GET /api/me`: answered from the verified caller (the revocation check loaded the profile).
pub async fn me(caller: web::ReqData<Caller>) -> HttpResponse {
    let caller = caller.into_inner();
    HttpResponse::Ok().json(super::bodies::User {
        id: caller.user_id,
        username: caller.username,
        email: caller.email,
        role: caller.role,
        created_at: crate::clock::rfc3339(caller.created_at),
    })
}
