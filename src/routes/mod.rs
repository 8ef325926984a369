//! Thin handlers grouped by surface, and the route table.
pub mod auth;
pub mod bodies;
pub mod cookies;
pub mod extract;
pub mod guard;
pub mod health;
pub mod validate;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};

use crate::error::ApiError;

/// Every route of the application. Protected resources are wrapped one by one so that public
/// and protected endpoints can share the `/auth` prefix.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/.well-known/jwks.json", web::get().to(health::jwks))
        .route("/auth/signup", web::post().to(auth::signup))
        .route("/auth/login", web::post().to(auth::login))
        .route("/auth/refresh", web::post().to(auth::refresh))
        .route("/auth/logout", web::post().to(auth::logout))
        .service(
            web::resource("/auth/logout-all")
                .wrap(from_fn(guard::require_access))
                .route(web::post().to(auth::logout_all)),
        )
        .service(
            web::resource("/auth/sessions")
                .wrap(from_fn(guard::require_access))
                .route(web::get().to(auth::list_sessions)),
        )
        .service(
            web::resource("/auth/sessions/{id}")
                .wrap(from_fn(guard::require_access))
                .route(web::delete().to(auth::revoke_session)),
        )
        .service(web::resource("/api/me").wrap(from_fn(guard::require_access)).route(web::get().to(auth::me)))
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
