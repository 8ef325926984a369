//! Prometheus metrics (the `prometheus` crate), served on `METRICS_ADDR` — a second listener,
//! never the public one. Counters and histograms are process-wide; the gauges (revocation state,
//! pool) are read from the service when scraped.
use std::sync::LazyLock;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::auth::AuthService;

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    auth_events: IntCounterVec,
    refusals: IntCounterVec,
    revocation_entries: IntGauge,
    revocation_lag: Gauge,
    pool_in_use: IntGauge,
    pool_idle: IntGauge,
    pool_checkouts: IntCounter,
    pool_wait: Histogram,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("portcullis".into()), None)?;
    let requests = IntCounterVec::new(
        Opts::new("http_requests_total", "HTTP requests by route template, method and status"),
        &["route", "method", "status"],
    )?;
    let latency = HistogramVec::new(
        HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route template and method")
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
        &["route", "method"],
    )?;
    let auth_events = IntCounterVec::new(
        Opts::new("auth_events_total", "Audited authentication events by kind and outcome"),
        &["kind", "outcome"],
    )?;
    let refusals = IntCounterVec::new(
        Opts::new("rate_limit_refusals_total", "429 answers: per-IP limiter or per-account/device throttle"),
        &["limiter"],
    )?;
    let revocation_entries =
        IntGauge::new("revocation_state_entries", "Entries in the in-memory revocation state (sessions and users)")?;
    let revocation_lag =
        Gauge::new("revocation_feed_lag_seconds", "Seconds since this instance last read the revocation event stream")?;
    let pool_in_use = IntGauge::new("db_pool_connections_in_use", "Database connections checked out")?;
    let pool_idle = IntGauge::new("db_pool_connections_idle", "Idle database connections")?;
    let pool_checkouts = IntCounter::new("db_pool_checkouts_total", "Database connections handed out")?;
    let pool_wait = Histogram::with_opts(
        HistogramOpts::new("db_pool_wait_seconds", "Time spent waiting for a database connection")
            .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
    )?;
    // Both series exist from the start, so a scrape shows 0 before the first refusal.
    for limiter in [Limiter::PerIp, Limiter::Throttle] {
        refusals.with_label_values(&[limiter.label()]);
    }
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(latency.clone()))?;
    registry.register(Box::new(auth_events.clone()))?;
    registry.register(Box::new(refusals.clone()))?;
    registry.register(Box::new(revocation_entries.clone()))?;
    registry.register(Box::new(revocation_lag.clone()))?;
    registry.register(Box::new(pool_in_use.clone()))?;
    registry.register(Box::new(pool_idle.clone()))?;
    registry.register(Box::new(pool_checkouts.clone()))?;
    registry.register(Box::new(pool_wait.clone()))?;
    Ok(Metrics {
        registry,
        requests,
        latency,
        auth_events,
        refusals,
        revocation_entries,
        revocation_lag,
        pool_in_use,
        pool_idle,
        pool_checkouts,
        pool_wait,
    })
}

/// Set when a metrics listener starts: without one, the hot path records nothing.
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn metrics() -> Option<&'static Metrics> {
    if ENABLED.load(std::sync::atomic::Ordering::Relaxed) {
        METRICS.as_ref()
    } else {
        None
    }
}

static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| match build() {
    Ok(metrics) => Some(metrics),
    Err(e) => {
        tracing::error!(error = %e, "metrics could not be registered");
        None
    }
});

pub fn observe_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let Some(m) = metrics() else { return };
    let method = method_label(method);
    m.requests.with_label_values(&[route, method, &status.to_string()]).inc();
    m.latency.with_label_values(&[route, method]).observe(elapsed.as_secs_f64());
}

/// The `method` label: the standard methods, and one `other` for the rest, so a client
/// inventing methods cannot create series without bound.
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "other",
    }
}

/// An audited event: `outcome` is `failure` for the kinds that record one.
pub fn auth_event(kind: &str) {
    let Some(m) = metrics() else { return };
    let outcome = match kind {
        "login_failed" | "mfa_failed" | "refresh_reused" | "rate_limited" => "failure",
        _ => "success",
    };
    m.auth_events.with_label_values(&[kind, outcome]).inc();
}

/// Which limiter refused a request.
#[derive(Debug, Clone, Copy)]
pub enum Limiter {
    PerIp,
    Throttle,
}

impl Limiter {
    fn label(self) -> &'static str {
        match self {
            Limiter::PerIp => "per_ip",
            Limiter::Throttle => "account_throttle",
        }
    }
}

pub fn refused(limiter: Limiter) {
    let Some(m) = metrics() else { return };
    m.refusals.with_label_values(&[limiter.label()]).inc();
}

pub fn pool_checkout(waited: Duration) {
    let Some(m) = metrics() else { return };
    m.pool_checkouts.inc();
    m.pool_wait.observe(waited.as_secs_f64());
}

/// The text exposition of every metric, gauges read from the service now.
pub fn render(auth: &AuthService) -> String {
    let Some(m) = METRICS.as_ref() else { return String::new() };
    m.revocation_entries.set(auth.revocation_entries() as i64);
    m.revocation_lag.set(auth.pool().feed_silence().as_secs_f64());
    let (in_use, idle) = auth.pool().usage();
    m.pool_in_use.set(i64::from(in_use));
    m.pool_idle.set(i64::from(idle));
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
        tracing::error!(error = %e, "metrics could not be encoded");
    }
    String::from_utf8(out).unwrap_or_default()
}

async fn scrape(auth: web::Data<AuthService>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(render(&auth))
}

/// The second listener: `GET /metrics` only, one worker.
pub fn server(listener: std::net::TcpListener, auth: AuthService) -> std::io::Result<actix_web::dev::Server> {
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    let data = web::Data::new(auth);
    Ok(HttpServer::new(move || App::new().app_data(data.clone()).route("/metrics", web::get().to(scrape)))
        .workers(1)
        .listen(listener)?
        .run())
}
