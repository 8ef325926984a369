//! `/healthz` and the public key set.
use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;

use crate::auth::Auth;
use crate::db::{self, DbError};

pub async fn healthz(auth: web::Data<Auth>) -> HttpResponse {
    let reachable =
        db::run(&auth.pool, |conn| diesel::sql_query("SELECT 1").execute(conn).map_err(DbError::from)).await;
    match reachable {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}

pub async fn jwks(auth: web::Data<Auth>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(auth.keys.jwks())
}
