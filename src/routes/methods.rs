//! `405 Method Not Allowed` with an `Allow` header for every route, decided before any guard
//! (so a wrong method is not answered 401, 303 or 404). The table lists what the router serves;
//! a test walks it against the real router in both directions.
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, ALLOW};
use actix_web::middleware::Next;

use super::{ADMIN_API_ROUTES, ADMIN_PAGE_ROUTES};
use crate::error::ApiError;

/// Every route outside the admin scopes (those are listed by `routes!`), as `(method, path)`.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/openapi.json"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/statuslists/{id}"),
    ("get", "/static/{name}"),
    ("get", "/"),
    ("get", "/login"),
    ("get", "/signup"),
    ("get", "/dashboard"),
    ("get", "/account"),
    ("get", "/account/delete"),
    ("post", "/account/delete"),
    ("get", "/login/mfa"),
    ("get", "/forgot"),
    ("get", "/reset"),
    ("post", "/oauth/token"),
    ("post", "/auth/password/forgot"),
    ("post", "/auth/password/reset"),
    ("post", "/auth/password"),
    ("delete", "/auth/account"),
    ("post", "/auth/signup"),
    ("post", "/auth/login"),
    ("post", "/auth/login/mfa"),
    ("get", "/auth/mfa"),
    ("post", "/auth/mfa/totp"),
    ("delete", "/auth/mfa/totp"),
    ("post", "/auth/mfa/totp/confirm"),
    ("post", "/auth/mfa/totp/disable"),
    ("post", "/auth/mfa/recovery-codes"),
    ("post", "/auth/passkeys/register/start"),
    ("post", "/auth/passkeys/register/finish"),
    ("post", "/auth/passkeys/login/start"),
    ("post", "/auth/passkeys/login/finish"),
    ("delete", "/auth/passkeys/{id}"),
    ("post", "/auth/passkeys/{id}/delete"),
    ("post", "/auth/refresh"),
    ("post", "/auth/logout"),
    ("get", "/auth/csrf"),
    ("post", "/auth/logout-all"),
    ("get", "/auth/sessions"),
    ("delete", "/auth/sessions/{id}"),
    ("post", "/auth/sessions/{id}/revoke"),
    ("get", "/api/me"),
];

/// Every `(method, path template)` the router serves.
pub fn all_routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    PUBLIC_ROUTES.iter().chain(ADMIN_API_ROUTES).chain(ADMIN_PAGE_ROUTES).copied()
}

/// Whether `path` is an instance of `template` (`{name}` stands for one non-empty segment).
fn matches(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') && !ps.is_empty() => {}
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// The methods `path` answers to, upper-case; empty when no route has that path.
pub fn allowed(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = all_routes()
        .filter(|(_, template)| matches(template, path))
        .map(|(method, _)| match method {
            "get" => "GET",
            "post" => "POST",
            "patch" => "PATCH",
            "delete" => "DELETE",
            _ => "PUT",
        })
        .collect();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    methods.sort_unstable();
    methods.dedup();
    methods
}

/// Whether some route serves `method` on `path`, or no route has the path (the router's 404):
/// the hot path, without allocating. Only the routes with as many segments as the path are tried.
fn passes(method: &str, path: &str) -> bool {
    static BY_DEPTH: std::sync::OnceLock<Vec<Vec<(&'static str, &'static str)>>> = std::sync::OnceLock::new();
    let by_depth = BY_DEPTH.get_or_init(|| {
        let mut by_depth: Vec<Vec<(&str, &str)>> = Vec::new();
        for (method, template) in all_routes() {
            let depth = template.split('/').count();
            if by_depth.len() <= depth {
                by_depth.resize(depth + 1, Vec::new());
            }
            by_depth[depth].push((method, template));
        }
        by_depth
    });
    let Some(candidates) = by_depth.get(path.split('/').count()) else { return true };
    let mut path_known = false;
    for &(route_method, template) in candidates {
        if matches(template, path) {
            if route_method.eq_ignore_ascii_case(method) || (method == "HEAD" && route_method == "get") {
                return true;
            }
            path_known = true;
        }
    }
    !path_known
}

pub async fn method_allowed(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if passes(req.method().as_str(), req.path()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    // A person who opens a form's address (a bookmark, a reload) is sent somewhere useful; a
    // GET that does not navigate (no `Accept: text/html`) is told the method is wrong.
    if req.method() == actix_web::http::Method::GET && super::respond::wants_html(req.request()) {
        let response = super::redirect::see_other("/dashboard").finish();
        return Ok(req.into_response(response).map_into_right_body());
    }
    let allowed = allowed(req.path());
    let mut response = super::refusal(req.request(), ApiError::MethodNotAllowed);
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(ALLOW, value);
    }
    Ok(req.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_one_segment_per_placeholder() {
        assert!(matches("/auth/sessions/{id}", "/auth/sessions/abc"));
        assert!(!matches("/auth/sessions/{id}", "/auth/sessions/"));
        assert!(!matches("/auth/sessions/{id}", "/auth/sessions/a/b"));
        assert_eq!(allowed("/auth/mfa/totp"), vec!["DELETE", "POST"]);
        assert_eq!(allowed("/api/admin/users/x"), vec!["PATCH"]);
        assert_eq!(allowed("/healthz"), vec!["GET", "HEAD"]);
        assert!(allowed("/nope").is_empty());
    }
}
