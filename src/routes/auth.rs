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

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = SignupRequest)]
pub struct SignupBody {
    #[schema(schema_with = super::openapi::fields::username, required = true)]
    username: Option<String>,
    #[schema(schema_with = super::openapi::fields::email, required = true)]
    email: Option<String>,
    #[schema(schema_with = super::openapi::fields::new_password, required = true)]
    password: Option<String>,
}

#[utoipa::path(post, path = "/auth/signup", tag = "auth",
    request_body(content((SignupBody = "application/json"), (SignupBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "Signed up and in; the refresh token is set as a cookie", body = super::bodies::TokenResponse),
        (status = 303, description = "A form: signed up; on to `next` or the dashboard"),
        (status = 400, description = "invalid_request: a field is missing or malformed (`fields` names each)"),
        (status = 403, description = "forbidden: a form without the session's CSRF token"),
        (status = 409, description = "conflict: the username or email is taken"),
        (status = 422, description = "weak_password"),
        (status = 429, description = "rate_limited"),
    ))]
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

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = LoginRequest)]
pub struct LoginBody {
    /// A username or an email address.
    #[schema(schema_with = super::openapi::fields::login_name, required = true)]
    username: Option<String>,
    #[schema(schema_with = super::openapi::fields::password, required = true)]
    password: Option<String>,
}

#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body(content((LoginBody = "application/json"), (LoginBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Signed in; the refresh token is set as a cookie", body = super::bodies::TokenResponse),
        (status = 303, description = "A form: signed in; on to `next` or the dashboard"),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_credentials (the same for an unknown user)"),
        (status = 403, description = "mfa_required (with `mfa_token`: finish at /auth/login/mfa), or a form without its CSRF token"),
        (status = 429, description = "rate_limited (per IP, and per account after repeated failures)"),
    ))]
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

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = RefreshRequest)]
pub struct RefreshBody {
    /// A native client's refresh token; browsers send none and ride on the refresh cookie.
    #[schema(value_type = String, required = false)]
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

#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    request_body(description = "A native client's token in the body; a browser's in the refresh cookie (with the CSRF token)",
        content((Option<RefreshBody> = "application/json"), (Option<RefreshBody> = "application/x-www-form-urlencoded"))),
    security(("refreshCookie" = []), ()),
    responses(
        (status = 200, description = "A new pair; the old refresh token is spent. `refresh_token` in the body only when it came in the body", body = super::bodies::TokenResponse),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "refresh_token_required, invalid_refresh_token, refresh_token_reused (the session is revoked)"),
        (status = 403, description = "forbidden: the cookie without the CSRF token"),
        (status = 429, description = "rate_limited"),
    ))]
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

#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    request_body(description = "Optional: a refresh token in the body names the session",
        content((Option<RefreshBody> = "application/json"), (Option<RefreshBody> = "application/x-www-form-urlencoded"))),
    security(("bearer" = []), ("refreshCookie" = []), ("accessCookie" = []), ()),
    responses(
        (status = 204, description = "The session has ended; cookies are cleared"),
        (status = 303, description = "A form: signed out; on to /login"),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "refresh_token_required, invalid_refresh_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie or form without the CSRF token"),
    ))]
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

#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 204, description = "Every session of the caller has ended, access tokens included"),
        (status = 303, description = "A form: signed out everywhere; on to /login"),
        (status = 401, description = "missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: the cookie without the CSRF token"),
    ))]
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

#[utoipa::path(get, path = "/auth/csrf", tag = "auth",
    responses((status = 200, description = "The browser session's CSRF token (sets the session cookie)", body = super::bodies::CsrfToken)))]
/// A one-off CSRF token for scripts and single-page apps that ride on the cookies.
pub async fn csrf_token(session: Session) -> HttpResponse {
    HttpResponse::Ok().json(super::bodies::CsrfToken { csrf_token: csrf::token(&session) })
}

#[utoipa::path(get, path = "/auth/sessions", tag = "auth", security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The caller's live sessions, `current` marking this one", body = Vec<super::bodies::SessionView>),
        (status = 401, description = "missing_token, invalid_token, token_expired"),
    ))]
pub async fn list_sessions(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
) -> Result<HttpResponse, ApiError> {
    let sessions = auth.live_sessions(&caller.user_id).await?;
    let body: Vec<SessionView> = sessions.into_iter().map(|s| SessionView::new(s, &caller.session_id)).collect();
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "auth", security(("bearer" = []), ("accessCookie" = [])),
    params(("id" = String, Path, description = "A session id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 303, description = "From the dashboard: back to it (or to /login for this browser's own session)"),
        (status = 401, description = "missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: the cookie without the CSRF token"),
        (status = 404, description = "not_found: no live session of the caller has that id"),
    ))]
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

/// `POST /auth/sessions/{id}/revoke`: the dashboard's form twin of `DELETE /auth/sessions/{id}`.
#[utoipa::path(post, path = "/auth/sessions/{id}/revoke", tag = "auth", security(("bearer" = []), ("accessCookie" = [])),
    params(("id" = String, Path, description = "A session id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content((super::extract::FormMeta = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "The session has ended (a JSON client)"),
        (status = 303, description = "Back to the dashboard (or to /login for this browser's own session)"),
        (status = 401, description = "missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: without the CSRF token"),
        (status = 404, description = "not_found"),
    ))]
pub async fn revoke_session_form(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    revoke_session(auth, session, audience, caller, client, path).await
}

#[utoipa::path(get, path = "/api/me", tag = "auth", security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = super::bodies::User),
        (status = 401, description = "missing_token, invalid_token, token_expired (with WWW-Authenticate)"),
    ))]
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
