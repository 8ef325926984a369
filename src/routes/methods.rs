//! `405 Method Not Allowed` with an `Allow` header for every route, decided before any guard
//! (so a wrong method is not answered 401, 303 or 404). The table lists what the router serves;
//! a test walks it against the real router in both directions.
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, ALLOW};
use actix_web::http::Method;
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

/// What the route table says of a request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Some route serves this method on this path (HEAD counts as GET).
    Served,
    /// Routes have this path, none with this method: 405.
    WrongMethod,
    /// No route has this path: the router's 404.
    NoRoute,
}

/// The hot path, without allocating: only the routes with as many segments as the path are tried.
fn verdict(method: &str, path: &str) -> Verdict {
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
    let Some(candidates) = by_depth.get(path.split('/').count()) else { return Verdict::NoRoute };
    let mut path_known = false;
    for &(route_method, template) in candidates {
        if matches(template, path) {
            if route_method.eq_ignore_ascii_case(method) || (method == "HEAD" && route_method == "get") {
                return Verdict::Served;
            }
            path_known = true;
        }
    }
    if path_known {
        Verdict::WrongMethod
    } else {
        Verdict::NoRoute
    }
}

/// Whether `path` is inside a scope whose guards would otherwise answer an unknown path first
/// (anonymous callers would get 401 or a redirect to the login page where an admin gets 404).
fn in_guarded_scope(path: &str) -> bool {
    ["/admin", "/api/admin"]
        .iter()
        .any(|scope| path.strip_prefix(scope).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

pub async fn method_allowed(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match verdict(req.method().as_str(), req.path()) {
        Verdict::Served => {}
        // Routing answers before guards: an unknown path is a 404 for everyone.
        Verdict::NoRoute if in_guarded_scope(req.path()) => {
            let response = super::refusal(req.request(), ApiError::NotFound);
            return Ok(req.into_response(response).map_into_right_body());
        }
        Verdict::NoRoute => return next.call(req).await.map(ServiceResponse::map_into_left_body),
        Verdict::WrongMethod => return Ok(refuse_method(req)),
    }
    // HEAD is served as GET (RFC 9110 §9.3.2): same status and headers; the HTTP/1 encoder
    // remembers the request was a HEAD and sends no body. The request line, as logged and
    // counted outside, stays HEAD.
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// `405` with `Allow`, or a redirect for a person who navigated to a form's address.
fn refuse_method<B>(req: ServiceRequest) -> ServiceResponse<EitherBody<B>> {
    // A person who opens a form's address (a bookmark, a reload) is sent somewhere useful; a
    // GET that does not navigate (no `Accept: text/html`) is told the method is wrong.
    if req.method() == Method::GET && super::respond::wants_html(req.request()) {
        let response = super::redirect::see_other("/dashboard").finish();
        return req.into_response(response).map_into_right_body();
    }
    let allowed = allowed(req.path());
    let mut response = super::refusal(req.request(), ApiError::MethodNotAllowed);
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(ALLOW, value);
    }
    req.into_response(response).map_into_right_body()
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

    #[test]
    fn unknown_paths_inside_the_admin_scopes_are_told_apart() {
        assert_eq!(verdict("GET", "/admin/anything"), Verdict::NoRoute);
        assert!(in_guarded_scope("/admin/anything") && in_guarded_scope("/api/admin/x") && in_guarded_scope("/admin"));
        assert!(!in_guarded_scope("/administrator") && !in_guarded_scope("/api/me"));
        assert_eq!(verdict("HEAD", "/admin/audit"), Verdict::Served);
        assert_eq!(verdict("POST", "/admin/audit"), Verdict::WrongMethod);
    }
}
