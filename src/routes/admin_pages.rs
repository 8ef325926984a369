//! `/admin`: the administrator's pages. Every form posts back here with the CSRF token.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::admin::{parse_role, AuditEvent, AuditQuery, UsersQuery};
use super::bodies::{SessionView, User};
use super::pages::{self, render, Layout};
use super::redirect::see_other;
use super::respond::{OrPage, PageError};
use crate::audit::{Actor, AuditKind, Requester};
use crate::auth::{AuthError, AuthService, Caller, Revoker};

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    layout: Layout,
    q: String,
    users: Vec<User>,
    total: i64,
    page: i64,
    prev_page: Option<i64>,
    next_page: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    layout: Layout,
    user: User,
    sessions: Vec<SessionView>,
    revoke_prefix: &'static str,
    totp: bool,
    passkeys: usize,
}

#[derive(Template)]
#[template(path = "admin_confirm_mfa.html")]
struct ConfirmMfaResetPage {
    layout: Layout,
    user: User,
}

#[derive(Template)]
#[template(path = "admin_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    user: User,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    layout: Layout,
    user_id: String,
    kind: String,
    kinds: Vec<&'static str>,
    events: Vec<AuditEvent>,
    prev_page: Option<i64>,
    next_page: Option<i64>,
}

/// What every admin page handler answers: the page, or the error page in its layout.
type Page = Result<HttpResponse, PageError>;

#[utoipa::path(get, path = "/admin", tag = "pages", security(("accessCookie" = []), ()), params(super::admin::UsersQuery),
    responses(
        (status = 200, description = "Users, searchable and paged", content_type = "text/html", body = String),
        (status = 400, description = "invalid_request: page, per_page or q out of range"),
        (status = 303, description = "Not signed in: to /login?next=…"),
        (status = 403, description = "forbidden: not an administrator, or a form without its CSRF token"),
        (status = 404, description = "not_found"),
    ))]
pub async fn users(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
    query: web::Query<UsersQuery>,
) -> Page {
    let page = query.page().or_page(&session, Some(&caller))?;
    let prefix = query.prefix().or_page(&session, Some(&caller))?;
    let (users, total) = auth.list_users(prefix.clone(), page).await.or_page(&session, Some(&caller))?;
    let more = page.offset() + page.size < total;
    let view = UsersPage {
        layout: Layout::new(&session, Some(&caller)),
        q: prefix.unwrap_or_default(),
        users: users.into_iter().map(User::from).collect(),
        total,
        page: page.number,
        prev_page: (page.number > 1).then_some(page.number - 1),
        next_page: more.then_some(page.number + 1),
    };
    Ok(render(StatusCode::OK, &view))
}

#[utoipa::path(get, path = "/admin/users/{id}", tag = "pages", security(("accessCookie" = []), ()), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "One user: sessions, role, second factors", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to /login?next=…"),
        (status = 403, description = "forbidden: not an administrator, or a form without its CSRF token"),
        (status = 404, description = "not_found"),
    ))]
pub async fn user(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
    path: web::Path<crate::ids::Id>,
) -> Page {
    let (user, sessions) = auth.sessions_of(&path.into_inner().0).await.or_page(&session, Some(&caller))?;
    let factors = auth.mfa_status(&user.id).await.or_page(&session, Some(&caller))?;
    let view = UserPage {
        totp: factors.totp,
        passkeys: factors.passkeys.len(),
        layout: Layout::new(&session, Some(&caller)),
        user: user.into(),
        sessions: sessions.into_iter().map(|s| SessionView::new(s, "")).collect(),
        revoke_prefix: "/admin/sessions",
    };
    Ok(render(StatusCode::OK, &view))
}

#[utoipa::path(get, path = "/admin/users/{id}/logout-all", tag = "pages", security(("accessCookie" = []), ()), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The confirmation page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to /login?next=…"),
        (status = 403, description = "forbidden: not an administrator, or a form without its CSRF token"),
        (status = 404, description = "not_found"),
    ))]
/// The confirmation step before a forced logout-all.
pub async fn confirm_logout_all(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
    path: web::Path<crate::ids::Id>,
) -> Page {
    let user = auth.user(&path.into_inner().0).await.or_page(&session, Some(&caller))?;
    Ok(render(StatusCode::OK, &ConfirmPage { layout: Layout::new(&session, Some(&caller)), user: user.into() }))
}

#[utoipa::path(post, path = "/admin/users/{id}/logout-all", operation_id = "admin_page_logout_all", tag = "pages", security(("accessCookie" = []), ()), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content((super::extract::FormMeta = "application/x-www-form-urlencoded"))),
    responses(
        (status = 303, description = "Done: back to the user; not signed in: to /login"),
        (status = 403, description = "forbidden: not an administrator, or a form without its CSRF token"),
        (status = 404, description = "not_found"),
    ))]
pub async fn logout_all(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Page {
    let user_id = path.into_inner().0;
    let ended =
        auth.logout_all(&user_id, Actor::admin(&caller.user_id), client).await.or_page(&session, Some(&caller))?;
    Ok(back_to_user(&session, &caller, &user_id, &format!("Logged out everywhere: {ended} session(s) ended.")))
}

/// After an action on a user's sessions: their page, or `/login` for an admin who ended their own.
fn back_to_user(session: &Session, caller: &Caller, user_id: &str, message: &str) -> HttpResponse {
    pages::flash(session, message);
    let target = if user_id == caller.user_id { "/login".to_string() } else { format!("/admin/users/{user_id}") };
    see_other(&target).finish()
}

#[utoipa::path(get, path = "/admin/users/{id}/mfa/reset", tag = "pages", security(("accessCookie" = []), ()), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The confirmation page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to /login?next=…"),
        (status = 403, description = "forbidden: not an administrator, or a form without its CSRF token"),
        (status = 404, description = "not_found"),
    ))]
/// The confirmation step before removing a user's second factors.
pub async fn confirm_reset_mfa(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
    path: web::Path<crate::ids::Id>,
) -> Page {
    let user = auth.user(&path.into_inner().0).await.or_page(&session, Some(&caller))?;
    Ok(render(StatusCode::OK, &ConfirmMfaResetPage { layout: Layout::new(&session, Some(&caller)), user: user.into() }))
}

#[utoipa::path(post, path = "/admin/users/{id}/mfa/reset", operation_id = "admin_page_reset_mfa", tag = "pages", security(("accessCookie" = []), ()), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content((super::extract::FormMeta = "application/x-www-form-urlencoded"))),
    responses(
        (status = 303, description = "Done: back to the user; not signed in: to /login"),
        (status = 403, description = "forbidden: not an administrator, or a form without its CSRF token"),
        (status = 404, description = "not_found"),
    ))]
pub async fn reset_mfa(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Page {
    let user_id = path.into_inner().0;
    auth.reset_mfa(&user_id, &caller.user_id, client).await.or_page(&session, Some(&caller))?;
    Ok(back_to_user(&session, &caller, &user_id, "Second factors removed; every session of the user ended."))
}

#[utoipa::path(post, path = "/admin/sessions/{id}/revoke", operation_id = "admin_page_revoke_session", tag = "pages", security(("accessCookie" = []), ()), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content((super::extract::FormMeta = "application/x-www-form-urlencoded"))),
    responses(
        (status = 303, description = "Done: back to the page it came from; not signed in: to /login"),
        (status = 403, description = "forbidden: not an administrator, or a form without its CSRF token"),
        (status = 404, description = "not_found"),
    ))]
pub async fn revoke_session(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Page {
    let session_id = path.into_inner().0;
    let owner = auth.session_owner(&session_id).await.or_page(&session, Some(&caller))?;
    let by = Revoker::Admin(caller.user_id.clone());
    match auth.end_session(&session_id, by, AuditKind::SessionRevoked, client).await {
        Ok(()) => pages::flash(&session, "The session has been revoked."),
        Err(AuthError::NotFound) => pages::flash(&session, "That session had already ended."),
        Err(e) => return Err(e).or_page(&session, Some(&caller)),
    }
    Ok(see_other(&format!("/admin/users/{owner}")).finish())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RoleForm {
    #[schema(value_type = super::openapi::RoleName, required = true)]
    role: Option<String>,
}

#[utoipa::path(post, path = "/admin/users/{id}/role", tag = "pages", security(("accessCookie" = []), ()), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content((RoleForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 303, description = "Done: back to the user; not signed in: to /login"),
        (status = 403, description = "forbidden: not an administrator, or a form without its CSRF token"),
        (status = 404, description = "not_found"),
    ))]
pub async fn change_role(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
    form: web::Form<RoleForm>,
) -> Page {
    let user_id = path.into_inner().0;
    let role = parse_role(form.role.as_deref()).or_page(&session, Some(&caller))?;
    match auth.set_role(&user_id, role, &caller.user_id, client).await {
        Ok(user) => pages::flash(&session, &format!("{} is now {}.", user.username, user.role)),
        Err(AuthError::LastAdmin) => pages::flash(&session, "The last administrator cannot lose the role."),
        Err(e) => return Err(e).or_page(&session, Some(&caller)),
    }
    Ok(see_other(&format!("/admin/users/{user_id}")).finish())
}

#[utoipa::path(get, path = "/admin/audit", operation_id = "admin_page_audit", tag = "pages", security(("accessCookie" = []), ()), params(super::admin::AuditQuery),
    responses(
        (status = 200, description = "The audit log, paged", content_type = "text/html", body = String),
        (status = 400, description = "invalid_request: page, per_page, user_id or kind invalid"),
        (status = 303, description = "Not signed in: to /login?next=…"),
        (status = 403, description = "forbidden: not an administrator, or a form without its CSRF token"),
        (status = 404, description = "not_found"),
    ))]
pub async fn audit(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
    query: web::Query<AuditQuery>,
) -> Page {
    let page = query.page().or_page(&session, Some(&caller))?;
    let kind = query.kind().or_page(&session, Some(&caller))?;
    let user_id = query.user_id().or_page(&session, Some(&caller))?;
    let events = auth.audit_events(user_id.clone(), kind, page).await.or_page(&session, Some(&caller))?;
    let full = events.len() as i64 == page.size;
    let view = AuditPage {
        layout: Layout::new(&session, Some(&caller)),
        user_id: user_id.unwrap_or_default(),
        kind: kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
        kinds: AuditKind::ALL.iter().map(|k| k.as_str()).collect(),
        events: events.into_iter().map(AuditEvent::from).collect(),
        prev_page: (page.number > 1).then_some(page.number - 1),
        next_page: full.then_some(page.number + 1),
    };
    Ok(render(StatusCode::OK, &view))
}
