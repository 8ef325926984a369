//! Refresh-token rotation. Inside one write transaction that holds the session's lock:
//! - a live token is claimed (compare-and-set) and replaced by its derived successor;
//! - a token rotated less than `REFRESH_REUSE_GRACE` ago leads to the live successor of its
//!   chain (a parallel tab's refresh), so no new token is minted and the user stays signed in;
//! - a token rotated longer ago is theft: the whole session is revoked.
use super::tokens::SecretTokens;
use super::{AuthError, AuthService, Issued};
use crate::audit::{self, Actor, AuditKind, Requester};
use crate::clock;
use crate::config::Settings;
use crate::db::live_rotation::{AuditValues, LiveRotation};
use crate::db::sessions::SessionRow;
use crate::db::tokens::RefreshTokenRow;
use crate::db::users::UserRow;
use crate::db::{self, AnyConnection};
use crate::ids;

/// How far the grace walk follows a chain before it calls the presentation theft.
const MAX_GRACE_STEPS: usize = 64;

/// What a rotation decided.
#[allow(clippy::large_enum_variant)] // lives for one call, never in a collection
enum Rotation {
    Issued(Rotated),
    Reused,
}

/// The live token a rotation hands out, with what the access token needs.
struct Rotated {
    user: UserRow,
    /// The session as it is after the rotation (its end and status entry sign the access token).
    session: SessionRow,
    refresh_token: String,
    refresh_expires_at: i64,
    issued_at: i64,
}

impl AuthService {
    /// Rotates a refresh token: the old one dies and its successor is issued, in one transaction.
    pub async fn refresh(&self, raw: &str, requester: Requester) -> Result<Issued, AuthError> {
        if !SecretTokens::is_well_formed(raw) {
            return Err(AuthError::InvalidRefreshToken);
        }
        let raw = raw.to_string();
        let tokens = self.secret_tokens.clone();
        let settings = self.settings.clone();
        let rotation = if self.pool.backend() == db::Backend::Postgres {
            // The common case in one statement; anything else in a transaction on the same connection.
            db::run(&self.pool, move |conn| match rotate_live_at_once(conn, &tokens, &settings, &raw, &requester)? {
                Some(rotated) => Ok(Rotation::Issued(rotated)),
                None => db::write_transaction(conn, |conn| rotate(conn, &tokens, &settings, &raw, &requester)),
            })
            .await?
        } else {
            db::write(&self.pool, move |conn| rotate(conn, &tokens, &settings, &raw, &requester)).await?
        };
        let Rotation::Issued(rotated) = rotation else {
            self.apply_revocations().await?;
            return Err(AuthError::RefreshTokenReused);
        };
        let access_token = self.sign_access(&rotated.user, &rotated.session)?;
        Ok(Issued {
            access_token,
            expires_in: self.settings.jwt_expiration,
            refresh_token: rotated.refresh_token,
            refresh_expires_at: rotated.refresh_expires_at,
            issued_at: rotated.issued_at,
            session_id: rotated.session.id,
            user: rotated.user,
            device_cookie: None,
        })
    }
}

fn rotate(
    conn: &mut AnyConnection,
    tokens: &SecretTokens,
    settings: &Settings,
    raw: &str,
    requester: &Requester,
) -> Result<Rotation, AuthError> {
    let now = clock::now();
    let hash = tokens.hash(raw);
    db::sessions::lock_for_token(conn, &hash)?;
    // The common case, a live token, costs one statement; the others look the row up.
    let claimed = db::tokens::claim(conn, &hash, now)?;
    let won = claimed.is_some();
    let token = match claimed {
        Some(token) => token,
        None => db::tokens::find_by_hash(conn, &hash)?.ok_or(AuthError::InvalidRefreshToken)?,
    };
    let (session, user) =
        db::sessions::find_with_user(conn, &token.session_id)?.ok_or(AuthError::InvalidRefreshToken)?;
    if !session.is_live(now) || token.revoked_at.is_some() {
        return Err(AuthError::InvalidRefreshToken);
    }
    if won {
        return issue_successor(conn, tokens, settings, raw, &session, user, requester, now).map(Rotation::Issued);
    }
    // Not claimable: expired, or already rotated.
    let used_at = token.used_at.ok_or(AuthError::InvalidRefreshToken)?;
    if within_grace(settings, now, used_at) {
        if let Some((refresh_token, refresh_expires_at)) = live_end_of_chain(conn, tokens, settings, raw, now)? {
            // Tokens were handed out: the event is audited like any refresh (a replay by
            // someone else within the window must leave its address behind).
            let detail = format!("session={} within_grace", session.id);
            audit::record(conn, AuditKind::Refresh, Some(&user.id), &Actor::user(&user.id), requester, &detail)?;
            return Ok(Rotation::Issued(Rotated { user, session, refresh_token, refresh_expires_at, issued_at: now }));
        }
    }
    revoke_after_reuse(conn, &session, &user, requester, now)?;
    Ok(Rotation::Reused)
}

/// PostgreSQL: a live token of a live session rotated in one statement (`db::live_rotation`),
/// with the same effects as `rotate` + `issue_successor`; `None` (nothing written) otherwise.
fn rotate_live_at_once(
    conn: &mut AnyConnection,
    tokens: &SecretTokens,
    settings: &Settings,
    raw: &str,
    requester: &Requester,
) -> Result<Option<Rotated>, AuthError> {
    let AnyConnection::Postgresql(pg) = conn else { return Ok(None) };
    let now = clock::now();
    let successor = tokens.successor(raw);
    let (successor_id, audit_id) = (ids::new_id(), ids::new_id());
    let rotation = LiveRotation {
        token_hash: &tokens.hash(raw),
        now,
        refresh_ttl: settings.jwt_refresh_expiration,
        successor_id: &successor_id,
        successor_hash: &tokens.hash(&successor),
        audit: AuditValues {
            id: &audit_id,
            at_us: audit::now_us(),
            kind: AuditKind::Refresh.as_str(),
            actor_prefix: Actor::USER_PREFIX,
            ip: &requester.ip,
            user_agent: &requester.user_agent,
        },
    };
    let Some((session, user)) = db::live_rotation::rotate(pg, &rotation)? else { return Ok(None) };
    crate::metrics::auth_event(AuditKind::Refresh.as_str());
    let refresh_expires_at = session.expires_at;
    Ok(Some(Rotated { user, session, refresh_token: successor, refresh_expires_at, issued_at: now }))
}

/// The claimed token's derived successor goes live, and the session's sliding expiry moves on.
#[allow(clippy::too_many_arguments)]
fn issue_successor(
    conn: &mut AnyConnection,
    tokens: &SecretTokens,
    settings: &Settings,
    raw: &str,
    session: &SessionRow,
    user: UserRow,
    requester: &Requester,
    now: i64,
) -> Result<Rotated, AuthError> {
    let successor = tokens.successor(raw);
    let expires_at = (now + settings.jwt_refresh_expiration).min(session.absolute_expires_at);
    db::tokens::insert(
        conn,
        &RefreshTokenRow {
            id: ids::new_id(),
            session_id: session.id.clone(),
            token_hash: tokens.hash(&successor),
            created_at: now,
            expires_at,
            used_at: None,
            revoked_at: None,
        },
    )?;
    db::sessions::touch(conn, &session.id, now, expires_at)?;
    let detail = format!("session={}", session.id);
    audit::record(conn, AuditKind::Refresh, Some(&user.id), &Actor::user(&user.id), requester, &detail)?;
    // Sessions from before status lists get their entry at their first rotation.
    let mut session = session.clone();
    if session.status_entry().is_none() {
        let entry = db::status_lists::allocate(conn, settings.status_list_size, now)?;
        db::sessions::set_status(conn, &session.id, &entry)?;
        (session.status_list, session.status_idx) = (entry.list_id, entry.idx);
    }
    Ok(Rotated { user, session, refresh_token: successor, refresh_expires_at: expires_at, issued_at: now })
}

/// Follows a chain rotated inside the grace window to its live token: `Some((token, expiry))`,
/// or `None` when a step was rotated outside the window (theft). A missing, revoked or expired
/// step makes the presented token invalid.
fn live_end_of_chain(
    conn: &mut AnyConnection,
    tokens: &SecretTokens,
    settings: &Settings,
    raw: &str,
    now: i64,
) -> Result<Option<(String, i64)>, AuthError> {
    let mut current = raw.to_string();
    for _ in 0..MAX_GRACE_STEPS {
        let next = tokens.successor(&current);
        let row = db::tokens::find_by_hash(conn, &tokens.hash(&next))?.ok_or(AuthError::InvalidRefreshToken)?;
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Err(AuthError::InvalidRefreshToken);
        }
        match row.used_at {
            None => return Ok(Some((next, row.expires_at))),
            Some(used) if within_grace(settings, now, used) => current = next,
            Some(_) => return Ok(None),
        }
    }
    Ok(None)
}

/// Reuse after the window: whoever holds the chain now, the session can no longer be trusted.
fn revoke_after_reuse(
    conn: &mut AnyConnection,
    session: &SessionRow,
    user: &UserRow,
    requester: &Requester,
    now: i64,
) -> Result<(), AuthError> {
    db::sessions::revoke(conn, &session.id, now)?;
    db::revocations::record_sessions_ended(conn, &user.id, std::slice::from_ref(&session.id), now)?;
    db::tokens::revoke_for_session(conn, &session.id, now)?;
    let detail = format!("session={}", session.id);
    audit::record(conn, AuditKind::RefreshReused, Some(&user.id), &Actor::Anonymous, requester, &detail)?;
    Ok(())
}

fn within_grace(settings: &Settings, now: i64, used_at: i64) -> bool {
    settings.refresh_reuse_grace > 0 && now - used_at <= settings.refresh_reuse_grace
}
