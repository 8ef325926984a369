//! Sessions: ending one, ending all of a user's, listing them, and authenticating the access
//! tokens that name them.
use super::tokens::{SecretTokens, TokenError};
use super::{AuthError, AuthService, Caller, Revoker};
use crate::audit::{self, Actor, AuditKind, Requester};
use crate::clock;
use crate::db::sessions::SessionRow;
use crate::db::users::UserRow;
use crate::db::{self, AnyConnection};
use crate::domain::Role;

impl AuthService {
    /// Ends the session a refresh token belongs to. Returns the session id if there was one.
    pub async fn logout_with_refresh(&self, raw: &str, client: Requester) -> Result<String, AuthError> {
        if !SecretTokens::is_well_formed(raw) {
            return Err(AuthError::InvalidRefreshToken);
        }
        let hash = self.secret_tokens.hash(raw);
        let session_id = db::run(&self.pool, move |conn| {
            Ok::<_, AuthError>(db::tokens::find_by_hash(conn, &hash)?.map(|t| t.session_id))
        })
        .await?
        .ok_or(AuthError::InvalidRefreshToken)?;
        self.end_session(&session_id, Revoker::TokenHolder, AuditKind::Logout, client).await?;
        Ok(session_id)
    }

    /// Ends one session. An owner or an admin can end only a live session (else `NotFound`);
    /// the holder of its refresh token can always end its own.
    pub async fn end_session(
        &self,
        session_id: &str,
        by: Revoker,
        kind: AuditKind,
        client: Requester,
    ) -> Result<(), AuthError> {
        let sid = session_id.to_string();
        db::write(&self.pool, move |conn| {
            let now = clock::now();
            let session = db::sessions::find(conn, &sid)?.ok_or(AuthError::NotFound)?;
            let actor = match &by {
                Revoker::Owner(owner) if *owner != session.user_id => return Err(AuthError::NotFound),
                Revoker::Owner(_) | Revoker::TokenHolder => Actor::user(&session.user_id),
                Revoker::Admin(admin) => Actor::admin(admin),
            };
            if by != Revoker::TokenHolder && !session.is_live(now) {
                return Err(AuthError::NotFound);
            }
            let was_live = db::sessions::revoke(conn, &sid, now)?;
            if was_live {
                db::revocations::record_sessions_ended(conn, &session.user_id, std::slice::from_ref(&sid), now)?;
            }
            db::tokens::revoke_for_session(conn, &sid, now)?;
            if was_live {
                audit::record(conn, kind, Some(&session.user_id), &actor, &client, &format!("session={sid}"))?;
            }
            Ok(session.user_id)
        })
        .await?;
        self.apply_revocations().await?;
        Ok(())
    }

    /// Ends every session of a user and invalidates every access token issued to them.
    pub async fn logout_all(&self, user_id: &str, actor: Actor, client: Requester) -> Result<usize, AuthError> {
        let kind = match actor {
            Actor::Admin(_) | Actor::Cli => AuditKind::AdminLogoutAll,
            _ => AuditKind::LogoutAll,
        };
        let uid = user_id.to_string();
        let ended = db::write(&self.pool, move |conn| {
            let now = clock::now();
            let sessions = end_all_sessions(conn, &uid, now)?;
            let detail = format!("sessions_ended={}", sessions.len());
            audit::record(conn, kind, Some(&uid), &actor, &client, &detail)?;
            Ok::<_, AuthError>(sessions.len())
        })
        .await?;
        self.apply_revocations().await?;
        Ok(ended)
    }

    pub async fn live_sessions(&self, user_id: &str) -> Result<Vec<SessionRow>, AuthError> {
        let uid = user_id.to_string();
        db::run(&self.pool, move |conn| Ok(db::sessions::live_for_user(conn, &uid, clock::now())?)).await
    }

    pub async fn user(&self, user_id: &str) -> Result<UserRow, AuthError> {
        let uid = user_id.to_string();
        db::run(&self.pool, move |conn| db::users::find(conn, &uid)?.ok_or(AuthError::NotFound)).await
    }

    /// Verifies an access token and checks it against the in-memory revocation state (ended
    /// session, older token version, another role, deleted user). No database query: the
    /// profile the caller carries comes from the token itself.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        self.authenticate_now(token)
    }

    /// The same check, synchronous (it never waits on anything).
    pub fn authenticate_now(&self, token: &str) -> Result<Caller, AuthError> {
        let claims = self.keys.verify(token)?;
        if !self.revocations.admits(&claims) {
            return Err(AuthError::Token(TokenError::Invalid));
        }
        let role = Role::parse(&claims.role).ok_or(AuthError::Token(TokenError::Invalid))?;
        Ok(Caller {
            user_id: claims.sub,
            session_id: claims.sid,
            role: role.as_str().to_string(),
            username: claims.name,
            email: claims.email,
            created_at: claims.created_at,
        })
    }
}

/// Inside a transaction: every session of the user ends and every access token issued to them
/// dies (the token version moves on); the events say so. Returns the sessions ended.
pub(super) fn end_all_sessions(conn: &mut AnyConnection, user_id: &str, now: i64) -> Result<Vec<String>, AuthError> {
    if db::users::bump_token_version(conn, user_id)? == 0 {
        return Err(AuthError::NotFound);
    }
    db::revocations::record_user_state(conn, user_id, now)?;
    // A password check waiting for its second factor is a sign-in in progress: it ends too.
    db::mfa::delete_challenges(conn, user_id)?;
    let sessions = db::sessions::revoke_all_for_user(conn, user_id, now)?;
    db::revocations::record_sessions_ended(conn, user_id, &sessions, now)?;
    db::tokens::revoke_for_sessions(conn, &sessions, now)?;
    Ok(sessions)
}

/// Inside a transaction: every session of the user but `keep` ends, with its tokens.
pub(super) fn end_other_sessions(
    conn: &mut AnyConnection,
    user_id: &str,
    keep: &str,
    now: i64,
) -> Result<Vec<String>, AuthError> {
    db::mfa::delete_challenges(conn, user_id)?;
    let others = db::sessions::revoke_others(conn, user_id, keep, now)?;
    db::revocations::record_sessions_ended(conn, user_id, &others, now)?;
    db::tokens::revoke_for_sessions(conn, &others, now)?;
    Ok(others)
}
