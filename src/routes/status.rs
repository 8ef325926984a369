//! What other services read: the Token Status Lists and the RFC 8414 server metadata.
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::status_list::MEDIA_TYPE;
use crate::auth::AuthService;
use crate::error::ApiError;

#[utoipa::path(get, path = "/statuslists/{id}", tag = "meta", params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "A signed Token Status List (JWT)", content_type = "application/statuslist+jwt", body = String),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "not_found"),
    ))]
/// `GET /statuslists/{id}`: the signed list, cacheable for `STATUS_LIST_TTL` seconds, with an
/// `ETag` (and `304` for a matching `If-None-Match`).
pub async fn status_list(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    let signed = auth.status_list(&path.into_inner().0).await?.ok_or(ApiError::NotFound)?;
    let cache = format!("max-age={}", auth.settings().status_list_ttl);
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').map(weak).any(|tag| tag == signed.etag || tag == "*"));
    let mut response = if matches { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response.insert_header((header::ETAG, signed.etag.clone())).insert_header((header::CACHE_CONTROL, cache));
    Ok(if matches { response.finish() } else { response.content_type(MEDIA_TYPE).body(signed.jwt) })
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "RFC 8414 server metadata (with `status_list_uris`)", body = Object)))]
/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata(auth: web::Data<AuthService>) -> Result<HttpResponse, ApiError> {
    let settings = auth.settings();
    let base = &settings.public_url;
    let status_list_uris = auth.status_list_uris().await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "max-age=60")).json(serde_json::json!({
        // The `iss` the tokens carry, so that a validator configured by discovery (RFC 9068 §4)
        // accepts them; RFC 8414 also wants it to be this document's URL, which holds when
        // JWT_ISSUER is set to PUBLIC_URL.
        "issuer": settings.jwt_issuer,
        "token_endpoint": format!("{base}/oauth/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["password", "refresh_token", super::oauth::MFA_OTP_GRANT],
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": [],
        "status_list_uris": status_list_uris,
    })))
}

/// An entity tag for weak comparison (RFC 9110 §13.1.2: `If-None-Match` compares weakly).
fn weak(tag: &str) -> &str {
    let tag = tag.trim();
    tag.strip_prefix("W/").unwrap_or(tag)
}
