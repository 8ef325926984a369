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

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    pub user_id: Option<String>,
    pub kind: Option<String>,
}

impl ListQuery {
    /// The page asked for: `page` from 1 to `Page::MAX_NUMBER` (else 400), `per_page` clamped to
    /// 1..=100.
    pub fn page(&self) -> Result<Page, ApiError> {
        let out_of_range = |field: &'static str, max: i64| ApiError::InvalidRequest {
            description: format!("{field} must be from 1 to {max}"),
            fields: Fields::from([(field, format!("must be from 1 to {max}"))]),
        };
        match (self.page, self.per_page) {
            (Some(n), _) if !(1..=Page::MAX_NUMBER).contains(&n) => Err(out_of_range("page", Page::MAX_NUMBER)),
            // Never clamped silently: a client asking for 500 rows learns it gets at most 100.
            (_, Some(n)) if !(1..=Page::MAX_SIZE).contains(&n) => Err(out_of_range("per_page", Page::MAX_SIZE)),
            (number, size) => Ok(Page::new(number, size)),
        }
    }

    pub fn prefix(&self) -> Result<Option<String>, ApiError> {
        match &self.q {
            Some(q) if q.len() > crate::domain::EMAIL_MAX => Err(ApiError::invalid("q is too long")),
            Some(q) if q.chars().any(char::is_control) => Err(ApiError::invalid("q has control characters")),
            q => Ok(q.clone().filter(|q| !q.is_empty())),
        }
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

#[derive(Debug, Serialize)]
pub struct AuditEvent {
    pub id: String,
    pub at: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The user agent in words, as the session lists say it.
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

/// `GET /api/admin/users?q=&page=&per_page=`: `X-Total-Count` tells how many match in all.
pub async fn list_users(auth: web::Data<AuthService>, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let (users, total) = auth.list_users(query.prefix()?, query.page()?).await?;
    let body: Vec<User> = users.into_iter().map(User::from).collect();
    Ok(HttpResponse::Ok().insert_header(("X-Total-Count", total.to_string())).json(body))
}

pub async fn user_sessions(
    auth: web::Data<AuthService>,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    let (_, sessions) = auth.sessions_of(&path.into_inner().0).await?;
    let body: Vec<SessionView> = sessions.into_iter().map(|s| SessionView::new(s, "")).collect();
    Ok(HttpResponse::Ok().json(body))
}

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

pub async fn logout_all(
    auth: web::Data<AuthService>,
    caller: web::ReqData<Caller>,
    client: Requester,
    path: web::Path<crate::ids::Id>,
) -> Result<HttpResponse, ApiError> {
    auth.logout_all(&path.into_inner().0, Actor::admin(&caller.user_id), client).await?;
    Ok(HttpResponse::NoContent().finish())
}

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

#[derive(Debug, Default, Deserialize)]
pub struct RoleBody {
    role: Option<String>,
}

/// Parses the requested role, naming the field when it is missing or unknown.
pub fn parse_role(role: Option<&str>) -> Result<Role, ApiError> {
    role.and_then(Role::parse).ok_or_else(|| ApiError::InvalidRequest {
        description: "role must be user or admin".into(),
        fields: Fields::from([("role", "must be user or admin".to_string())]),
    })
}

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

pub async fn audit(auth: web::Data<AuthService>, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let events = auth.audit_events(query.user_id()?, query.kind()?, query.page()?).await?;
    let body: Vec<AuditEvent> = events.into_iter().map(AuditEvent::from).collect();
    Ok(HttpResponse::Ok().json(body))
}
