//! What administrators may do: find users, see and end their sessions, change roles, read
//! the audit log. Forced logout-all is `AuthService::logout_all` with an admin actor.
use super::{AuthError, AuthService};
use crate::audit::{self, Actor, AuditKind, Requester};
use crate::clock;
use crate::db;
use crate::db::audit::AuditRow;
use crate::db::sessions::SessionRow;
use crate::db::users::UserRow;
use crate::domain::Role;

/// One page of a listing.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub number: i64,
    pub size: i64,
}

impl Page {
    pub const MAX_SIZE: i64 = 100;
    /// Far beyond any listing, and small enough that offsets and "next page" never overflow.
    pub const MAX_NUMBER: i64 = 1_000_000;

    pub fn new(number: Option<i64>, size: Option<i64>) -> Self {
        Page { number: number.unwrap_or(1).max(1), size: size.unwrap_or(20).clamp(1, Self::MAX_SIZE) }
    }

    pub fn offset(&self) -> i64 {
        (self.number - 1).saturating_mul(self.size)
    }
}

impl AuthService {
    /// Users matching a username/email prefix, one page, and how many match in all.
    pub async fn list_users(&self, prefix: Option<String>, page: Page) -> Result<(Vec<UserRow>, i64), AuthError> {
        db::run(&self.pool, move |conn| {
            let prefix = prefix.as_deref().filter(|p| !p.is_empty());
            let users = db::users::search(conn, prefix, page.size, page.offset())?;
            let total = db::users::count_matching(conn, prefix)?;
            Ok((users, total))
        })
        .await
    }

    /// A user's live sessions; `NotFound` if there is no such user.
    pub async fn sessions_of(&self, user_id: &str) -> Result<(UserRow, Vec<SessionRow>), AuthError> {
        let uid = user_id.to_string();
        db::run(&self.pool, move |conn| {
            let user = db::users::find(conn, &uid)?.ok_or(AuthError::NotFound)?;
            let sessions = db::sessions::live_for_user(conn, &uid, clock::now())?;
            Ok((user, sessions))
        })
        .await
    }

    /// The owner of a session, for pages that return to the owner's page afterwards.
    pub async fn session_owner(&self, session_id: &str) -> Result<String, AuthError> {
        let sid = session_id.to_string();
        db::run(&self.pool, move |conn| db::sessions::find(conn, &sid)?.map(|s| s.user_id).ok_or(AuthError::NotFound))
            .await
    }

    /// Changes a user's role. The last administrator cannot lose the role. The user's token
    /// version moves on, so every access token issued before (carrying the old role) stops
    /// working at once and for good, even if the role is later changed back.
    pub async fn set_role(
        &self,
        user_id: &str,
        role: Role,
        admin_id: &str,
        client: Requester,
    ) -> Result<UserRow, AuthError> {
        let (uid, admin) = (user_id.to_string(), admin_id.to_string());
        let list_size = self.settings.status_list_size;
        let user = db::write(&self.pool, move |conn| {
            db::users::lock_admins(conn)?;
            let user = db::users::find(conn, &uid)?.ok_or(AuthError::NotFound)?;
            if user.role == role.as_str() {
                return Ok(user);
            }
            if user.role == Role::Admin.as_str() && db::users::count_admins(conn)? <= 1 {
                return Err(AuthError::LastAdmin);
            }
            db::users::set_role(conn, &uid, role.as_str())?;
            db::users::bump_token_version(conn, &uid)?;
            let now = clock::now();
            db::revocations::record_user_state(conn, &uid, now)?;
            db::revocations::record_status_moves(conn, &uid, list_size, now)?;
            let detail = format!("role {} -> {}", user.role, role.as_str());
            audit::record(conn, AuditKind::RoleChanged, Some(&uid), &Actor::admin(&admin), &client, &detail)?;
            db::users::find(conn, &uid)?.ok_or(AuthError::NotFound)
        })
        .await?;
        self.apply_revocations().await?;
        Ok(user)
    }

    /// Audit events, newest first, optionally for one user and one kind.
    pub async fn audit_events(
        &self,
        user_id: Option<String>,
        kind: Option<AuditKind>,
        page: Page,
    ) -> Result<Vec<AuditRow>, AuthError> {
        db::run(&self.pool, move |conn| {
            Ok(db::audit::page(conn, user_id.as_deref(), kind.map(AuditKind::as_str), page.size, page.offset())?)
        })
        .await
    }
}
