//! `/api/admin/*`: the administrator's JSON surface.
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::bodies::{SessionView, User};
use super::extract::Input;
use crate::audit::{Actor, AuditKind, Requester};
use crate::auth::admin::Page;
use crate::auth::{AuthService, Caller, Revoker};
use crate::db::audit::AuditRow;
use crate::domain::Role;
use crate::error::{ApiError, Fields};

/// `GET /api/admin/users` and `/admin`: a prefix search, paged.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// A username or email prefix.
    #[param(max_length = 254, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
}

impl UsersQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        page(self.page, self.per_page)
    }

    pub fn prefix(&self) -> Result<Option<String>, ApiError> {
        match &self.q {
            Some(q) if q.len() > crate::domain::EMAIL_MAX => Err(ApiError::invalid("q is too long")),
            Some(q) if q.chars().any(char::is_control) => Err(ApiError::invalid("q has control characters")),
            q => Ok(q.clone().filter(|q| !q.is_empty())),
        }
    }
}

/// `GET /api/admin/audit` and `/admin/audit`: filtered by user and kind, paged.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// One user's events (empty for all).
    #[param(pattern = "^[A-Za-z0-9_-]{0,64}$")]
    pub user_id: Option<String>,
    /// One kind of event (empty for all).
    #[param(value_type = Option<super::openapi::AuditKindFilter>)]
    pub kind: Option<String>,
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
}

impl AuditQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        page(self.page, self.per_page)
    }

    /// The `user_id` filter, which must look like an id.
    pub fn user_id(&self) -> Result<Option<String>, ApiError> {
        match self.user_id.as_deref().filter(|u| !u.is_empty()) {
            None => Ok(None),
            Some(id) if crate::ids::looks_like_id(id) => Ok(Some(id.to_string())),
            Some(_) => Err(ApiError::invalid("user_id is not an id")),
        }
    }

    pub fn kind(&self) -> Result<Option<AuditKind>, ApiError> {
        match self.kind.as_deref().filter(|k| !k.is_empty()) {
            None => Ok(None),
            Some(k) => {
                AuditKind::parse(k).map(Some).ok_or_else(|| ApiError::invalid("kind is not an audit event kind"))
            }
        }
    }
}

/// The page asked for: `page` from 1 to `Page::MAX_NUMBER`, `per_page` from 1 to
/// `Page::MAX_SIZE`; anything else is a 400, never clamped silently (a client asking for 500
/// rows learns it gets at most 100).
fn page(number: Option<i64>, size: Option<i64>) -> Result<Page, ApiError> {
    let out_of_range = |field: &'static str, max: i64| ApiError::InvalidRequest {
        description: format!("{field} must be from 1 to {max}"),
        fields: Fields::from([(field, format!("must be from 1 to {max}"))]),
    };
    match (number, size) {
        (Some(n), _) if !(1..=Page::MAX_NUMBER).contains(&n) => Err(out_of_range("page", Page::MAX_NUMBER)),
        (_, Some(n)) if !(1..=Page::MAX_SIZE).contains(&n) => Err(out_of_range("per_page", Page::MAX_SIZE)),
        (number, size) => Ok(Page::new(number, size)),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub at: String,
    #[schema(value_type = super::openapi::AuditKindName)]
    pub kind: String,
    #[schema(required = true)]
    pub user_id: Option<String>,
    #[schema(required = true)]
    pub actor: Option<String>,
    #[schema(required = true)]
    pub ip: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// The user agent in words, as the session lists say it.
    #[schema(required = true)]
    pub device: Option<String>,
    pub detail: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(e: AuditRow) -> Self {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.at_us) * 1000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        AuditEvent {
            id: e.id,
            at,
            kind: e.kind,
            user_id: e.user_id,
            actor: e.actor,
            ip: e.ip,
            device: e.user_agent.as_deref().filter(|ua| !ua.is_empty()).map(crate::device::describe),
            user_agent: e.user_agent,
            detail: e.detail,
        }
    }
}

#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = []), ("accessCookie" = [])), params(UsersQuery),
    responses(
        (status = 200, description = "A page of users", body = Vec<super::bodies::User>,
            headers(("X-Total-Count" = i64, description = "How many users match in all"))),
        (status = 400, description = "invalid_request: page, per_page or q out of range"),
        (status = 401, description = "missing_token, invalid_token, token_expired"), (status = 403, description = "forbidden: not an administrator (or a cookie without the CSRF token)"),
    ))]
/// `GET /api/admin/users?q=&page=&per_page=`: `X-Total-Count` tells how many match in all.
pub async fn list_users(auth: web::Data<AuthService>, query: web::Query<UsersQuery>) -> Result<HttpResponse, ApiError> {
    let (users, total) = auth.list_users(query.prefix()?, query.page()?).await?;
    let body: Vec<User> = users.into_iter().map(User::from).collect();
    Ok(HttpResponse::Ok().insert_header(("X-Total-Count", total.to_string())).json(body))
}

#[utoipa::path(get, path = "/api/admin/users/{id}/sessions", tag = "admin", security(("bearer" = []), ("accessCookie" = [])), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The user's live sessions", body = Vec<super::bodies::SessionView>),
        (status = 401, description = "missing_token, invalid_token, token_expired"), (status = 403, description = "forbidden: not an administrator (or a cookie without the CSRF token)"),
        (status = 404, description = "not_found: no such user"),
    ))]
pub async fn user_sessions(
    auth: web::Data<AuthService>,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    let (_, sessions) = auth.sessions_of(&path.into_inner().0).await?;
    let body: Vec<SessionView> = sessions.into_iter().map(|s| SessionView::new(s, "")).collect();
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(delete, path = "/api/admin/sessions/{id}", operation_id = "admin_revoke_session", tag = "admin", security(("bearer" = []), ("accessCookie" = [])), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, description = "missing_token, invalid_token, token_expired"), (status = 403, description = "forbidden: not an administrator (or a cookie without the CSRF token)"),
        (status = 404, description = "not_found: no live session has that id"),
    ))]
pub async fn revoke_session(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    let by = Revoker::Admin(caller.user_id.clone());
    auth.end_session(&path.into_inner().0, by, AuditKind::SessionRevoked, client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/admin/users/{id}/logout-all", operation_id = "admin_logout_all", tag = "admin", security(("bearer" = []), ("accessCookie" = [])), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 204, description = "Every session of the user has ended, access tokens included"),
        (status = 401, description = "missing_token, invalid_token, token_expired"), (status = 403, description = "forbidden: not an administrator (or a cookie without the CSRF token)"),
        (status = 404, description = "not_found: no such user"),
    ))]
pub async fn logout_all(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    auth.logout_all(&path.into_inner().0, Actor::admin(&caller.user_id), client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(delete, path = "/api/admin/users/{id}/mfa", operation_id = "admin_reset_mfa", tag = "admin", security(("bearer" = []), ("accessCookie" = [])), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 204, description = "TOTP, recovery codes and passkeys are gone; the user's sessions have ended"),
        (status = 401, description = "missing_token, invalid_token, token_expired"), (status = 403, description = "forbidden: not an administrator (or a cookie without the CSRF token)"),
        (status = 404, description = "not_found: no such user"),
    ))]
/// `DELETE /api/admin/users/{id}/mfa`: TOTP, recovery codes and passkeys go; sessions end.
pub async fn reset_mfa(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    auth.reset_mfa(&path.into_inner().0, &caller.user_id, client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = RoleRequest)]
pub struct RoleBody {
    #[schema(value_type = super::openapi::RoleName, required = true)]
    role: Option<String>,
}

/// Parses the requested role, naming the field when it is missing or unknown.
pub fn parse_role(role: Option<&str>) -> Result<Role, ApiError> {
    role.and_then(Role::parse).ok_or_else(|| ApiError::InvalidRequest {
        description: "role must be user or admin".into(),
        fields: Fields::from([("role", "must be user or admin".to_string())]),
    })
}

#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = []), ("accessCookie" = [])), params(("id" = String, Path, description = "An id", pattern = "^[A-Za-z0-9_-]{1,64}$")), request_body(content((RoleBody = "application/json"), (RoleBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The user with the new role; their tokens carry it from now on", body = super::bodies::User),
        (status = 400, description = "invalid_request: role must be user or admin"),
        (status = 401, description = "missing_token, invalid_token, token_expired"), (status = 403, description = "forbidden: not an administrator (or a cookie without the CSRF token)"),
        (status = 404, description = "not_found: no such user"),
        (status = 409, description = "conflict: the last administrator keeps the role"),
    ))]
pub async fn update_user(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
    input: Input<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let role = parse_role(input.body.role.as_deref())?;
    let user = auth.set_role(&path.into_inner().0, role, &caller.user_id, client).await?;
    Ok(HttpResponse::Ok().json(User::from(user)))
}

#[utoipa::path(get, path = "/api/admin/audit", operation_id = "admin_audit", tag = "admin", security(("bearer" = []), ("accessCookie" = [])), params(AuditQuery),
    responses(
        (status = 200, description = "Audit events, newest first", body = Vec<AuditEvent>),
        (status = 400, description = "invalid_request: page, per_page, user_id or kind invalid"),
        (status = 401, description = "missing_token, invalid_token, token_expired"), (status = 403, description = "forbidden: not an administrator (or a cookie without the CSRF token)"),
    ))]
pub async fn audit(auth: web::Data<AuthService>, query: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    let events = auth.audit_events(query.user_id()?, query.kind()?, query.page()?).await?;
    let body: Vec<AuditEvent> = events.into_iter().map(AuditEvent::from).collect();
    Ok(HttpResponse::Ok().json(body))
}
