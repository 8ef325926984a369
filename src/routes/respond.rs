//! How a handler answers, decided in one place: to a browser (HTML pages, `303` redirects) or
//! to an API client (JSON), and the HTML error page as a `ResponseError`, so page handlers use `?`.
use std::future::{ready, Ready};

use actix_session::Session;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};

use super::pages::{self, Layout};
use crate::auth::Caller;
use crate::error::ApiError;

/// Who a request is answered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A form submission, or a navigation that asks for HTML without a bearer token.
    Browser,
    /// Everything else: JSON in, JSON out.
    Api,
}

impl Audience {
    pub fn of(req: &HttpRequest) -> Self {
        // A client with a bearer token is an API client, whatever its body's encoding.
        let bearer = req.headers().get(header::AUTHORIZATION).is_some();
        if (has_form_body(req.headers()) && !bearer) || wants_html(req) {
            Audience::Browser
        } else {
            Audience::Api
        }
    }

    pub fn is_browser(self) -> bool {
        self == Audience::Browser
    }
}

impl FromRequest for Audience {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Audience::of(req)))
    }
}

/// Whether the body is an HTML form's (`application/x-www-form-urlencoded`).
pub fn has_form_body(headers: &header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Whether the client navigates like a browser: it asks for HTML and sends no bearer token.
pub fn wants_html(req: &HttpRequest) -> bool {
    let accepts_html =
        req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    accepts_html && req.headers().get(header::AUTHORIZATION).is_none()
}

/// The skeleton of every endpoint that serves forms and JSON alike: an API client gets
/// `json_done` or the error as JSON; a browser gets `form_done` (usually a `303`) or
/// `form_again` (the form re-rendered with the error).
pub fn form_or_json<T>(
    audience: Audience,
    outcome: Result<T, ApiError>,
    form_done: impl FnOnce(T) -> HttpResponse,
    form_again: impl FnOnce(ApiError) -> HttpResponse,
    json_done: impl FnOnce(T) -> HttpResponse,
) -> Result<HttpResponse, ApiError> {
    match (audience, outcome) {
        (Audience::Browser, Ok(value)) => Ok(form_done(value)),
        (Audience::Browser, Err(e)) => Ok(form_again(e)),
        (Audience::Api, Ok(value)) => Ok(json_done(value)),
        (Audience::Api, Err(e)) => Err(e),
    }
}

/// An error on a page, rendered as `error.html` with the layout of the page it replaces.
pub struct PageError(Box<PageErrorParts>);

struct PageErrorParts {
    layout: Layout,
    error: ApiError,
    message: Option<String>,
}

impl PageError {
    pub fn new(session: &Session, caller: Option<&Caller>, error: ApiError) -> Self {
        PageError(Box::new(PageErrorParts { layout: Layout::new(session, caller), error, message: None }))
    }

    /// Replaces the status's stock sentence (e.g. "You are not signed out: …").
    pub fn saying(mut self, message: &str) -> Self {
        self.0.message = Some(message.to_string());
        self
    }
}

impl std::fmt::Debug for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageError").field("error", &self.0.error).finish_non_exhaustive()
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.error.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        pages::render_error(&self.0.layout, &self.0.error, self.0.message.as_deref())
    }
}

/// `result.or_page(&session, Some(&caller))?` in page handlers.
pub trait OrPage<T> {
    fn or_page(self, session: &Session, caller: Option<&Caller>) -> Result<T, PageError>;
}

impl<T, E: Into<ApiError>> OrPage<T> for Result<T, E> {
    fn or_page(self, session: &Session, caller: Option<&Caller>) -> Result<T, PageError> {
        self.map_err(|e| PageError::new(session, caller, e.into()))
    }
}

/// The error page as a response, for middleware and error handlers that hold no page.
pub fn error_page(session: &Session, caller: Option<&Caller>, error: ApiError) -> HttpResponse {
    PageError::new(session, caller, error).error_response()
}
