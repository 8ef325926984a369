//! `/healthz` and the public key set.
use actix_web::{web, HttpResponse};

use crate::auth::AuthService;

pub async fn healthz(auth: web::Data<AuthService>) -> HttpResponse {
    match auth.check_database().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}

pub async fn jwks(auth: web::Data<AuthService>) -> HttpResponse {
    // A minute of caching: resource servers that meet an unknown `kid` after a rotation refetch.
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=60")).json(auth.keys().jwks())
}
