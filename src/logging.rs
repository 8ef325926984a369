//! Logging: one span per request carrying its id (echoed in `X-Request-Id`), into the service
//! and database work it causes; one line per request with the path only (query strings can
//! carry tokens). `LOG_FORMAT=json` writes one JSON object per line for log pipelines.
use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use crate::auth::AuthService;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: a file or a pipe gets plain text.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stdout().is_terminal());
    let _ = match std::env::var("LOG_FORMAT").as_deref() {
        // A log pipeline routes and filters by the emitting module.
        Ok("json") => builder
            .json()
            .with_target(true)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        _ => builder.with_target(false).try_init(),
    };
}

/// The request's id: the one a trusted proxy sent (when it looks like an id), else a new one.
fn request_id(req: &ServiceRequest) -> String {
    let trusted_peer = req.app_data::<web::Data<AuthService>>().is_some_and(|auth| {
        let peer = req.peer_addr().map(|a| a.ip());
        peer.is_some_and(|ip| auth.settings().trusted_proxies.iter().any(|range| range.contains(ip)))
    });
    let incoming = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|id| {
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    match incoming {
        Some(id) if trusted_peer => id.to_string(),
        _ => crate::ids::new_id(),
    }
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let path = req.path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let response = next.call(req).instrument(span.clone()).await;
    let (status, route) = match &response {
        Ok(r) => (r.status().as_u16(), r.request().match_pattern()),
        Err(e) => (e.as_response_error().status_code().as_u16(), None),
    };
    let elapsed = started.elapsed();
    let route = route.as_deref().unwrap_or("(unmatched)");
    crate::metrics::observe_request(route, method.as_str(), status, elapsed);
    span.in_scope(|| tracing::info!(status, %route, micros = elapsed.as_micros() as u64, "request"));
    response.map(|mut response| {
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        response
    })
}
