//! Middleware that admits only requests with a valid, unrevoked access token, and checks the
//! CSRF token whenever that access token rode in on a cookie and the request changes state.
use actix_session::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};

use super::cookies::{self, ACCESS_COOKIE, REFRESH_COOKIE};
use super::extract::{access_token_of, client_of, csrf_header, read_limited, FormMeta, PresentedToken};
use super::respond::{self, Audience};
use super::{csrf, redirect};
use crate::auth::{AuthError, AuthService, Caller, Issued};
use crate::error::ApiError;

type Guarded<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF token of a request: the header, else the `csrf_token` field of a form body
/// (read here and put back for the handler).
async fn presented_csrf(req: &mut ServiceRequest) -> Result<Option<String>, ApiError> {
    if let Some(token) = csrf_header(req.request()) {
        return Ok(Some(token));
    }
    if !respond::has_form_body(req.headers()) {
        return Ok(None);
    }
    let body = read_limited(&mut req.take_payload()).await?;
    let meta: Option<FormMeta> = serde_urlencoded::from_bytes(&body).ok();
    req.set_payload(actix_web::dev::Payload::from(body));
    Ok(meta.and_then(|m| m.csrf_token))
}

async fn check_csrf(req: &mut ServiceRequest) -> Result<(), ApiError> {
    let presented = presented_csrf(req).await?;
    csrf::verify(&req.get_session(), presented.as_deref())
}

/// Refuses a request: JSON for API clients, a sign-in redirect or an HTML page for browsers.
fn deny<B>(req: ServiceRequest, error: ApiError) -> Guarded<B> {
    let browser = Audience::of(req.request()).is_browser();
    deny_as(req, error, browser)
}

fn deny_as<B>(req: ServiceRequest, error: ApiError, browser: bool) -> Guarded<B> {
    let response = if !browser {
        error.error_response()
    } else if error.status_code() == actix_web::http::StatusCode::UNAUTHORIZED {
        sign_in_again(&req)
    } else {
        // Forbidden, an oversized form, or an outage: say so, and keep the cookies.
        respond::error_page(&req.get_session(), None, error)
    };
    Ok(req.into_response(response).map_into_right_body())
}

/// `303` to `/login?next=<this page>`, dropping the dead token cookies.
fn sign_in_again(req: &ServiceRequest) -> HttpResponse {
    let target = if req.method() == Method::GET {
        req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| req.path().to_string())
    } else {
        redirect::DEFAULT_TARGET.to_string()
    };
    let auth = req.app_data::<web::Data<AuthService>>();
    let mut response = redirect::see_other(&redirect::login_with_next(&target));
    if let Some(auth) = auth {
        cookies::clear(&mut response, auth.settings());
    }
    response.finish()
}

/// JSON routes (and forms posted to them): a Bearer token, or else the cookies exactly as on
/// pages. The caller goes into request extensions.
pub async fn require_access<B: MessageBody + 'static>(req: ServiceRequest, next: Next<B>) -> Guarded<B> {
    let auth = req.app_data::<web::Data<AuthService>>().cloned().ok_or(ApiError::Internal)?;
    if let Some(PresentedToken::Bearer(token)) = access_token_of(req.request()) {
        let caller = match auth.authenticate(&token).await {
            Ok(caller) => caller,
            Err(e) => return deny(req, e.into()),
        };
        req.extensions_mut().insert(caller);
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let browser = Audience::of(req.request()).is_browser();
    with_cookie_caller(req, next, &auth, browser).await
}

/// Admin routes: behind an access guard, and only for the `admin` role.
pub async fn require_admin<B: MessageBody + 'static>(req: ServiceRequest, next: Next<B>) -> Guarded<B> {
    let is_admin = req.extensions().get::<Caller>().is_some_and(Caller::is_admin);
    if !is_admin {
        return deny(req, ApiError::Forbidden("administrators only"));
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Pages: the cookies; with neither a live access cookie nor a usable refresh cookie, `303` to
/// the sign-in page.
pub async fn require_page_access<B: MessageBody + 'static>(req: ServiceRequest, next: Next<B>) -> Guarded<B> {
    let auth = req.app_data::<web::Data<AuthService>>().cloned().ok_or(ApiError::Internal)?;
    with_cookie_caller(req, next, &auth, true).await
}

/// The one rule for every cookie-authenticated request, page or JSON: CSRF first for state
/// changes (a refused form must not rotate the refresh token behind the browser's back), then
/// the access cookie, else a transparent refresh with the refresh cookie whose new cookies ride
/// on the response. A missing or expired access cookie never costs the refresh cookie.
async fn with_cookie_caller<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
    auth: &AuthService,
    browser: bool,
) -> Guarded<B> {
    let access = req.cookie(ACCESS_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty());
    let refresh = req.cookie(REFRESH_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty());
    if access.is_none() && refresh.is_none() {
        return deny_as(req, ApiError::MissingToken, browser);
    }
    if changes_state(req.method()) {
        if let Err(e) = check_csrf(&mut req).await {
            return deny_as(req, e, browser);
        }
    }
    let mut refused: ApiError = ApiError::MissingToken;
    let caller = match access {
        Some(token) => match auth.authenticate(&token).await {
            Ok(caller) => Some(caller),
            // A dead access token falls back to the refresh cookie; an outage does not.
            Err(AuthError::Token(e)) => {
                refused = AuthError::Token(e).into();
                None
            }
            Err(e) => return deny_as(req, e.into(), browser),
        },
        None => None,
    };
    let (caller, refreshed) = match (caller, refresh) {
        (Some(caller), _) => (caller, None),
        (None, None) => return deny_as(req, refused, browser),
        (None, Some(raw)) => {
            let issued = match auth.refresh(&raw, client_of(req.request())).await {
                Ok(issued) => issued,
                Err(e) => return deny_as(req, e.into(), browser),
            };
            match auth.authenticate(&issued.access_token).await {
                Ok(caller) => (caller, Some(issued)),
                Err(e) => return deny_as(req, e.into(), browser),
            }
        }
    };
    req.extensions_mut().insert(caller);
    let mut response = next.call(req).await?;
    if let Some(issued) = refreshed {
        add_refreshed_cookies(response.response_mut(), auth.settings(), &issued);
    }
    Ok(response.map_into_left_body())
}

/// The cookies of a transparent refresh, unless the handler set its own (a logout clears them).
fn add_refreshed_cookies<B>(response: &mut HttpResponse<B>, settings: &crate::config::Settings, issued: &Issued) {
    let handler_set: Vec<String> = response.cookies().map(|c| c.name().to_string()).collect();
    let mut with_cookies = HttpResponse::Ok();
    cookies::set_both(&mut with_cookies, settings, issued);
    for cookie in with_cookies.finish().cookies() {
        if !handler_set.iter().any(|name| name == cookie.name()) {
            let _ = response.add_cookie(&cookie);
        }
    }
}
