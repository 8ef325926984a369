//! Thin handlers grouped by surface, and the route table.
pub mod assets;
pub mod auth;
pub mod bodies;
pub mod cookies;
pub mod csrf;
pub mod extract;
pub mod guard;
pub mod health;
pub mod pages;
pub mod redirect;
pub mod validate;

use actix_session::Session;
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::error::ApiError;

/// Every route of the application. Protected resources are wrapped one by one so that public
/// and protected endpoints can share the `/auth` prefix.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let access = || from_fn(guard::require_access);
    let page = || from_fn(guard::require_page_access);
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/.well-known/jwks.json", web::get().to(health::jwks))
        .route("/static/{name}", web::get().to(assets::serve))
        .route("/", web::get().to(pages::home))
        .route("/login", web::get().to(pages::login_form))
        .route("/signup", web::get().to(pages::signup_form))
        .service(web::resource("/dashboard").wrap(page()).route(web::get().to(pages::dashboard)))
        .route("/auth/signup", web::post().to(auth::signup))
        .route("/auth/login", web::post().to(auth::login))
        .route("/auth/refresh", web::post().to(auth::refresh))
        .route("/auth/logout", web::post().to(auth::logout))
        .route("/auth/csrf", web::get().to(auth::csrf_token))
        .service(web::resource("/auth/logout-all").wrap(access()).route(web::post().to(auth::logout_all)))
        .service(web::resource("/auth/sessions").wrap(access()).route(web::get().to(auth::list_sessions)))
        .service(web::resource("/auth/sessions/{id}").wrap(access()).route(web::delete().to(auth::revoke_session)))
        .service(web::resource("/auth/sessions/{id}/revoke").wrap(access()).route(web::post().to(auth::revoke_session)))
        .service(web::resource("/api/me").wrap(access()).route(web::get().to(auth::me)))
        .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest, session: Session) -> HttpResponse {
    if pages::wants_html(&req) {
        pages::error_page(&session, None, &ApiError::NotFound)
    } else {
        ApiError::NotFound.error_response()
    }
}
