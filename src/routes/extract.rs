//! Request extractors: the body (JSON or form, with limits) and where the client is.
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::audit::Requester;
use crate::auth::AuthService;
use crate::error::ApiError;

/// Bodies larger than this are refused with 413: every endpoint's body fits in a few hundred bytes.
pub const BODY_LIMIT: usize = 4096;
/// Stored user agents are cut at this many characters: they are metadata, not credentials.
const USER_AGENT_MAX: usize = 256;

/// How the client spoke to us, which decides how we answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    /// No body at all (a refresh or logout riding on cookies).
    Empty,
}

/// A request body accepted as `application/json` or `application/x-www-form-urlencoded`.
pub struct Input<T> {
    pub body: T,
    pub kind: BodyKind,
    /// From the `csrf_token` form field, else the `X-CSRF-Token` header.
    pub csrf_token: Option<String>,
    /// A form's `next` field: where to go after success (checked by `redirect::safe_next`).
    pub next: Option<String>,
}

/// The fields every form may carry besides its own.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct FormMeta {
    /// The session's CSRF token (from the page, or `GET /auth/csrf`); a form that acts on a
    /// session needs it here or in `X-CSRF-Token`.
    #[schema(value_type = String, required = false)]
    pub csrf_token: Option<String>,
    /// A local path to go to after success (anything else is ignored).
    #[schema(value_type = String, required = false)]
    pub next: Option<String>,
}

/// The CSRF header of a request, if any.
pub fn csrf_header(req: &HttpRequest) -> Option<String> {
    req.headers().get(super::csrf::HEADER).and_then(|v| v.to_str().ok()).map(str::to_string)
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for Input<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        let header_csrf = csrf_header(req);
        Box::pin(async move {
            if declared_length.is_some_and(|n| n > BODY_LIMIT) {
                return Err(ApiError::PayloadTooLarge);
            }
            let body = read_limited(&mut payload).await?;
            parse_body(content_type.as_deref(), &body, header_csrf)
        })
    }
}

/// Reads a whole body, refusing it with 413 as soon as it passes `BODY_LIMIT` (whatever
/// Content-Length claimed).
pub async fn read_limited(payload: &mut Payload) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid("the request body could not be read"))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a whole body by its (lower-cased, parameter-free) content type. Pure, so the fuzz
/// targets can drive it directly.
pub fn parse_body<T: DeserializeOwned + Default>(
    content_type: Option<&str>,
    body: &[u8],
    header_csrf: Option<String>,
) -> Result<Input<T>, ApiError> {
    if body.len() > BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge);
    }
    let input = |body, kind, meta: FormMeta| Input {
        body,
        kind,
        csrf_token: meta.csrf_token.or_else(|| header_csrf.clone()),
        next: meta.next,
    };
    match content_type {
        Some("application/json") => serde_json::from_slice(body)
            .map(|parsed| input(parsed, BodyKind::Json, FormMeta::default()))
            .map_err(|e| ApiError::invalid(json_problem(&e))),
        Some("application/x-www-form-urlencoded") => {
            let malformed = |_| ApiError::invalid("the form body is malformed");
            let meta: FormMeta = serde_urlencoded::from_bytes(body).map_err(malformed)?;
            let parsed = serde_urlencoded::from_bytes(body).map_err(malformed)?;
            Ok(input(parsed, BodyKind::Form, meta))
        }
        None if body.is_empty() => Ok(input(T::default(), BodyKind::Empty, FormMeta::default())),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// A description of a JSON error without echoing the input (it may hold a password).
fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => "the body is not valid JSON".into(),
        Category::Data => "the JSON body has a field of the wrong type".into(),
    }
}

impl FromRequest for Requester {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(client_of(req)))
    }
}

/// The client's IP (trusting `X-Forwarded-For` only from `TRUSTED_PROXIES`) and user agent.
pub fn client_of(req: &HttpRequest) -> Requester {
    let trusted = req
        .app_data::<web::Data<AuthService>>()
        .map(|auth| auth.settings().trusted_proxies.clone())
        .unwrap_or_default();
    let forwarded = crate::net::forwarded_for(req.headers());
    let ip = crate::net::client_ip(req.peer_addr().map(|a| a.ip()), forwarded.as_deref(), &trusted)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(USER_AGENT_MAX).collect())
        .unwrap_or_default();
    Requester { ip, user_agent }
}

/// The access token of a request: `Authorization: Bearer` first, else the `access_token` cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedToken {
    Bearer(String),
    Cookie(String),
}

pub fn access_token_of(req: &HttpRequest) -> Option<PresentedToken> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.as_bytes();
        if value.len() >= 7 && value[..7].eq_ignore_ascii_case(b"bearer ") {
            // Bytes that are not text are still a presented (and invalid) token, never a reason
            // to fall back to the cookie.
            return Some(PresentedToken::Bearer(String::from_utf8_lossy(&value[7..]).trim().to_string()));
        }
    }
    req.cookie(super::cookies::ACCESS_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
        .map(PresentedToken::Cookie)
}
