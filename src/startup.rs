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
    auth: AuthService,
    limiter: crate::routes::limits::AuthLimiter,
}

impl Application {
    /// Connects to the database, applies migrations and binds `settings.addr` (port 0 = any).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.addr)
            .map_err(|e| anyhow::anyhow!("PORTCULLIS_ADDR: cannot listen on {}: {e}", settings.addr))?;
        let auth = prepare(settings).await?;
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
        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(CookieSessionStore::default(), session_key.clone())
                .cookie_name("portcullis_session".into())
                .cookie_secure(secure)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .build();
            App::new()
                .app_data(data.clone())
                .app_data(web::PathConfig::default().error_handler(|_, req| not_found(req)))
                .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::invalid(e.to_string()).into()))
                .configure(crate::routes::configure(limiter.clone()))
                .wrap(from_fn(crate::routes::limits::html_for_browsers))
                .wrap(sessions)
                .wrap(from_fn(crate::logging::log_request))
                .wrap(security_headers())
        })
        .listen(listener)?
        .run();
        Ok(Self { port, server, auth, limiter: shared_limiter })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn auth(&self) -> &AuthService {
        &self.auth
    }

    /// Serves until stopped, pruning idle rate-limit buckets meanwhile.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let pruning = actix_web::rt::spawn(crate::routes::limits::prune_forever(self.limiter));
        let outcome = self.server.await;
        pruning.abort();
        outcome
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
    AuthService::new(pool, Arc::new(settings))
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

/// A path parameter that is not shaped like an id: 404, as a page for browsers.
fn not_found(req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_session::SessionExt;
    use actix_web::ResponseError;
    let response = if crate::routes::pages::wants_html(req) {
        crate::routes::pages::error_page(&req.get_session(), None, &ApiError::NotFound)
    } else {
        ApiError::NotFound.error_response()
    };
    actix_web::error::InternalError::from_response("not found", response).into()
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
