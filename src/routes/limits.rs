//! Per-IP rate limits on the credential endpoints (actix-governor), answered as the contract's
//! `429 rate_limited` with `Retry-After` and `RateLimit-*` headers, in JSON or as an HTML page.
use std::net::IpAddr;
use std::sync::Arc;

use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::governor::NotUntil;
use actix_governor::{GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError};
use actix_session::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, HttpResponseBuilder};

use crate::config::Settings;
use crate::error::ApiError;
use crate::net::IpRange;

/// Keys requests by the client's IP (an IPv6 client by its /64): the peer, or the right-most
/// untrusted `X-Forwarded-For` hop when the peer is a trusted proxy. Nobody else's header is
/// believed.
#[derive(Clone)]
pub struct ClientIp {
    trusted: Arc<Vec<IpRange>>,
    burst: u32,
    window_secs: u64,
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        let forwarded = crate::net::forwarded_for(req.headers());
        crate::net::client_ip(req.peer_addr().map(|a| a.ip()), forwarded.as_deref(), &self.trusted)
            .map(crate::net::limit_key)
            .ok_or_else(|| SimpleKeyExtractionError::new("the client address is unknown"))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        mut response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative.wait_time_from(DefaultClock::default().now()).as_secs().max(1);
        tracing::debug!(retry_after = wait, "per-IP rate limit reached");
        crate::metrics::refused(crate::metrics::Limiter::PerIp);
        for header in crate::error::rate_limit_headers(wait, Some((self.burst, self.window_secs))) {
            response.insert_header(header);
        }
        response
            .insert_header(("Cache-Control", "no-store"))
            .json(ApiError::RateLimited { retry_after_secs: wait }.body())
    }
}

pub type AuthLimiter = GovernorConfig<ClientIp, NoOpMiddleware<QuantaInstant>>;

/// One limiter shared by every credential endpoint: `AUTH_RATE_LIMIT_BURST` requests, one
/// more every `AUTH_RATE_LIMIT_REPLENISH_SECS`, per client IP.
pub fn auth_limiter(settings: &Settings) -> AuthLimiter {
    let key = ClientIp {
        trusted: Arc::new(settings.trusted_proxies.clone()),
        burst: settings.auth_rate_limit_burst,
        window_secs: settings.auth_rate_limit_replenish_secs * u64::from(settings.auth_rate_limit_burst),
    };
    GovernorConfigBuilder::default()
        .seconds_per_request(settings.auth_rate_limit_replenish_secs)
        .burst_size(settings.auth_rate_limit_burst)
        .key_extractor(key)
        .finish()
        .expect("burst and period are validated as positive by the configuration")
}

/// How often idle buckets are dropped. A bucket that has refilled completely is no different
/// from a fresh one, so dropping it changes no verdict; it only bounds memory by recent traffic.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Drops every bucket that has refilled completely; returns how many remain.
pub fn prune(limiter: &AuthLimiter) -> usize {
    let buckets = limiter.limiter();
    buckets.retain_recent();
    buckets.shrink_to_fit();
    buckets.len()
}

/// Prunes the limiter every `PRUNE_EVERY` for as long as the server runs.
pub async fn prune_forever(limiter: AuthLimiter) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let remaining = prune(&limiter);
        tracing::debug!(remaining, "pruned idle per-IP rate-limit buckets");
    }
}

/// Browsers (navigations and form submissions, which accept HTML) get a 429 as an HTML page;
/// the headers stay.
pub async fn html_for_browsers<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    // OAuth clients post forms too, but RFC 6749 answers them in JSON.
    let browser = super::respond::Audience::of(req.request()).is_browser() && req.path() != "/oauth/token";
    let response = next.call(req).await?;
    let is_json = response
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !browser || !is_json || response.status() != StatusCode::TOO_MANY_REQUESTS {
        return Ok(response.map_into_left_body());
    }
    let retry_after_secs =
        response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(1);
    let (req, old) = response.into_parts();
    let mut page = super::respond::error_page(&req.get_session(), None, ApiError::RateLimited { retry_after_secs });
    for (name, value) in old.headers() {
        if name.as_str().starts_with("ratelimit-") || name == "retry-after" {
            page.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, page).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_buckets_are_pruned() {
        let vars = [("AUTH_RATE_LIMIT_BURST", "1"), ("AUTH_RATE_LIMIT_REPLENISH_SECS", "1")];
        let settings = Settings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
            .expect("settings");
        let limiter = auth_limiter(&settings);
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limiter.limiter().check_key(&ip).is_ok());
        }
        assert_eq!(limiter.limiter().len(), 1000);
        assert_eq!(prune(&limiter), 1000, "buckets still refilling are kept");
        // governor drops a key once its theoretical arrival time is a whole period in the past.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(prune(&limiter), 0, "refilled buckets are dropped");
    }
}
