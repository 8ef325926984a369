//! `/healthz` and the public key set.
use actix_web::{web, HttpResponse};

use super::bodies::Health;
use crate::auth::AuthService;

#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses(
        (status = 200, description = "Serving; the database answers", body = super::bodies::Health),
        (status = 503, description = "The database does not answer", body = super::bodies::Health),
    ))]
pub async fn healthz(auth: web::Data<AuthService>) -> HttpResponse {
    match auth.check_database().await {
        Ok(()) => HttpResponse::Ok().json(Health { status: "ok" }),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(Health { status: "unavailable" })
        }
    }
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta",
    responses((status = 200, description = "The keys that verify access tokens (EdDSA/ES256; empty for HS256)", body = super::bodies::JwkSet)))]
pub async fn jwks(auth: web::Data<AuthService>) -> HttpResponse {
    // A minute of caching: resource servers that meet an unknown `kid` after a rotation refetch.
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(super::bodies::JwkSet { keys: auth.keys().jwks() })
}
