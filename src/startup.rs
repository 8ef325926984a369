//! Builds the application: pool, migrations, the service, middleware order and routes.
use std::net::TcpListener;
use std::sync::Arc;

use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};

use crate::auth::AuthService;
use crate::config::Settings;
use crate::db;
use crate::error::ApiError;

pub struct Application {
    port: u16,
    server: Server,
    /// The Prometheus listener, when `METRICS_ADDR` is set.
    metrics: Option<(u16, Server)>,
    auth: AuthService,
    limiter: crate::routes::limits::AuthLimiter,
}

impl Application {
    /// Connects to the database, applies migrations and binds `settings.addr` (port 0 = any).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.addr)
            .map_err(|e| anyhow::anyhow!("PORTCULLIS_ADDR: cannot listen on {}: {e}", settings.addr))?;
        let auth = prepare(settings).await?;
        auth.start_revocation_feed().await.map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?;
        Self::on_listener(listener, auth)
    }

    pub fn on_listener(listener: TcpListener, auth: AuthService) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let data = web::Data::new(auth.clone());
        let session_key = session_key(auth.settings());
        let secure = auth.settings().cookie_secure;
        // Built once, outside the worker factory, so every worker shares the same buckets.
        let limiter = crate::routes::limits::auth_limiter(auth.settings());
        let shared_limiter = limiter.clone();
        let metrics = match auth.settings().metrics_addr {
            None => None,
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .map_err(|e| anyhow::anyhow!("METRICS_ADDR: cannot listen on {addr}: {e}"))?;
                let port = listener.local_addr()?.port();
                Some((port, crate::metrics::server(listener, auth.clone())?))
            }
        };
        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(CookieSessionStore::default(), session_key.clone())
                .cookie_name("portcullis_session".into())
                .cookie_secure(secure)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .build();
            App::new()
                .app_data(data.clone())
                .app_data(web::PathConfig::default().error_handler(|_, req| refused(req, ApiError::NotFound)))
                .app_data(
                    // The parser's own words name Rust types; the client gets a sentence.
                    web::QueryConfig::default().error_handler(|_, req| {
                        refused(
                            req,
                            ApiError::invalid("the query string has a parameter of the wrong type or out of range"),
                        )
                    }),
                )
                .app_data(
                    web::FormConfig::default()
                        .limit(crate::routes::extract::BODY_LIMIT)
                        .error_handler(|e, req| refused(req, form_problem(&e))),
                )
                .configure(crate::routes::configure(limiter.clone()))
                .wrap(from_fn(crate::routes::limits::html_for_browsers))
                // Inside the session (its HTML refusal carries the page's CSRF token), outside
                // every guard: a wrong method is a 405 before any 401, 303 or 404.
                .wrap(from_fn(crate::routes::methods::method_allowed))
                .wrap(sessions)
                .wrap(from_fn(crate::logging::log_request))
                .wrap(security_headers())
        })
        .listen(listener)?
        .run();
        Ok(Self { port, server, metrics, auth, limiter: shared_limiter })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, if there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn auth(&self) -> &AuthService {
        &self.auth
    }

    /// Serves until stopped, pruning idle rate-limit buckets meanwhile.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Ends the background work however this future ends: completed, or dropped with its runtime.
        struct Background(AuthService, actix_web::rt::task::JoinHandle<()>);
        impl Drop for Background {
            fn drop(&mut self) {
                self.1.abort();
                self.0.stop_revocation_feed();
            }
        }
        let pruning = actix_web::rt::spawn(crate::routes::limits::prune_forever(self.limiter));
        let _background = Background(self.auth.clone(), pruning);
        let Some((_, metrics)) = self.metrics else { return self.server.await };
        // The metrics listener stops with the public one.
        let metrics_handle = metrics.handle();
        let metrics = actix_web::rt::spawn(metrics);
        let served = self.server.await;
        metrics_handle.stop(true).await;
        let _ = metrics.await;
        served
    }
}

/// Opens the pool, applies migrations and builds the service (shared with the CLI).
pub async fn prepare(settings: Settings) -> anyhow::Result<AuthService> {
    let pool = db::build_pool(&settings.database_url, settings.database_pool_size)
        .map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot connect: {e}"))?;
    let migrated = db::run(&pool, |conn| db::run_migrations(conn).map_err(DbOrMigration::Migration)).await;
    match migrated {
        Ok(0) => {}
        Ok(n) => tracing::info!(applied = n, "database migrations applied"),
        Err(DbOrMigration::Db(e)) => anyhow::bail!("DATABASE_URL: {e}"),
        Err(DbOrMigration::Migration(e)) => return Err(e),
    }
    let auth = AuthService::new(pool, Arc::new(settings))?;
    auth.load_signing_keys().await.map_err(|e| anyhow::anyhow!("JWT_KEYS_DIR / signing keys: {e}"))?;
    Ok(auth)
}

enum DbOrMigration {
    Db(db::DbError),
    Migration(anyhow::Error),
}

impl From<db::DbError> for DbOrMigration {
    fn from(e: db::DbError) -> Self {
        DbOrMigration::Db(e)
    }
}

/// A malformed path, query or form, answered as the contract says (a page for browsers).
fn refused(req: &actix_web::HttpRequest, error: ApiError) -> actix_web::Error {
    let response = crate::routes::refusal(req, error);
    actix_web::error::InternalError::from_response("refused", response).into()
}

/// What was wrong with a form body, without echoing it.
fn form_problem(e: &actix_web::error::UrlencodedError) -> ApiError {
    use actix_web::error::UrlencodedError;
    match e {
        UrlencodedError::Overflow { .. } | UrlencodedError::UnknownLength => ApiError::PayloadTooLarge,
        UrlencodedError::ContentType => ApiError::UnsupportedMediaType,
        _ => ApiError::invalid("the form body is malformed"),
    }
}

/// The key that signs and encrypts the session cookie, derived from `JWT_REFRESH_SECRET` so
/// that every instance agrees on it without another setting.
fn session_key(settings: &Settings) -> Key {
    use hmac::{Hmac, Mac};
    use secrecy::ExposeSecret;
    let mut material = Vec::with_capacity(64);
    for label in [b"portcullis session key 1".as_slice(), b"portcullis session key 2"] {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(settings.jwt_refresh_secret.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(label);
        material.extend_from_slice(&mac.finalize().into_bytes());
    }
    Key::from(&material)
}

/// Headers on every response; `no-store` unless a handler chose a cache policy itself.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"))
}
