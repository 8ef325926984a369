//! Account self-service: change password, reset a forgotten one, delete the account.
use secrecy::SecretString;

use super::{AuthError, AuthService, Caller};
use crate::audit::{self, Actor, AuditKind, Requester};
use crate::clock;
use crate::db::resets::ResetRow;
use crate::domain::{Password, Role};
use crate::{db, ids};

/// How long a reset link stays valid.
pub const RESET_TOKEN_TTL_SECS: i64 = 30 * 60;

impl AuthService {
    /// Changes the caller's password; every other session of theirs ends at once.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &SecretString,
        new: Password,
        client: Requester,
    ) -> Result<usize, AuthError> {
        self.check_password(&caller.user_id, current, &client).await?;
        let hash = self.hasher.hash(new.secret()).await?;
        let (uid, keep) = (caller.user_id.clone(), caller.session_id.clone());
        let ended = db::write(&self.pool, move |conn| {
            let now = clock::now();
            db::users::set_password_hash(conn, &uid, &hash)?;
            // A reset link mailed before the change must not undo it.
            db::resets::supersede(conn, &uid, now)?;
            let others = super::sessions::end_other_sessions(conn, &uid, &keep, now)?;
            let detail = format!("other_sessions_ended={}", others.len());
            audit::record(conn, AuditKind::PasswordChanged, Some(&uid), &Actor::user(&uid), &client, &detail)?;
            Ok::<_, AuthError>(others.len())
        })
        .await?;
        self.apply_revocations().await?;
        Ok(ended)
    }

    /// Starts a reset for the account with this email, if there is one: a single-use token
    /// (stored hashed, valid 30 minutes, superseding older ones) mailed as a link. Meant to
    /// run detached from the request, so the answer cannot reveal whether the account exists.
    pub async fn request_password_reset(&self, email_key: String, client: Requester) -> Result<bool, AuthError> {
        let token = crate::ids::random_b64(32);
        let token_hash = self.secret_tokens.reset_hash(&token);
        let user = db::write(&self.pool, move |conn| {
            let Some(user) = db::users::find_by_login(conn, &email_key, true)? else { return Ok(None) };
            // Concurrent requests for one account take turns, so each supersedes the last.
            db::users::lock(conn, &user.id)?;
            let now = clock::now();
            db::resets::supersede(conn, &user.id, now)?;
            db::resets::insert(
                conn,
                &ResetRow {
                    id: ids::new_id(),
                    user_id: user.id.clone(),
                    token_hash,
                    created_at: now,
                    expires_at: now + RESET_TOKEN_TTL_SECS,
                    used_at: None,
                },
            )?;
            audit::record(conn, AuditKind::PasswordResetRequested, Some(&user.id), &Actor::Anonymous, &client, "")?;
            Ok::<_, AuthError>(Some(user))
        })
        .await?;
        let Some(user) = user else { return Ok(false) };
        let link = format!("{}/reset?token={token}", self.settings.public_url);
        let body = format!(
            "Hello {},\n\nSomeone (hopefully you) asked to reset the password of your portcullis account.\n\
             Open this link within 30 minutes to choose a new password:\n\n{link}\n\n\
             If you did not ask for this, ignore this message: your password stays as it is.\n",
            user.username
        );
        let mailer = self.mailer.clone();
        actix_web::rt::task::spawn_blocking(move || mailer.send(&user.email, "Reset your portcullis password", body))
            .await
            .map_err(|e| anyhow::anyhow!("mail task failed: {e}"))??;
        Ok(true)
    }

    /// Sets a new password with a reset token; every session of the user ends.
    pub async fn reset_password(&self, token: &str, new: Password, client: Requester) -> Result<(), AuthError> {
        if token.len() != 43 {
            return Err(AuthError::InvalidResetToken);
        }
        let token_hash = self.secret_tokens.reset_hash(token);
        // A token that cannot be redeemed costs one indexed read, never a bcrypt.
        let lookup = token_hash.clone();
        let live =
            db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::resets::is_live(conn, &lookup, clock::now())?))
                .await?;
        if !live {
            return Err(AuthError::InvalidResetToken);
        }
        let hash = self.hasher.hash(new.secret()).await?;
        db::write(&self.pool, move |conn| {
            let now = clock::now();
            let user_id = db::resets::redeem(conn, &token_hash, now)?.ok_or(AuthError::InvalidResetToken)?;
            db::users::set_password_hash(conn, &user_id, &hash)?;
            db::resets::supersede(conn, &user_id, now)?;
            let sessions = super::sessions::end_all_sessions(conn, &user_id, now)?;
            let detail = format!("sessions_ended={}", sessions.len());
            audit::record(conn, AuditKind::PasswordReset, Some(&user_id), &Actor::user(&user_id), &client, &detail)?;
            Ok::<_, AuthError>(user_id)
        })
        .await?;
        self.apply_revocations().await?;
        Ok(())
    }

    /// Deletes the caller's account with its sessions and tokens; audit events stay.
    pub async fn delete_account(
        &self,
        caller: &Caller,
        password: &SecretString,
        client: Requester,
    ) -> Result<(), AuthError> {
        self.check_password(&caller.user_id, password, &client).await?;
        let uid = caller.user_id.clone();
        db::write(&self.pool, move |conn| {
            db::users::lock_admins(conn)?;
            let user = db::users::find(conn, &uid)?.ok_or(AuthError::NotFound)?;
            if user.role == Role::Admin.as_str() && db::users::count_admins(conn)? <= 1 {
                return Err(AuthError::LastAdmin);
            }
            let detail = format!("username={}", user.username);
            audit::record(conn, AuditKind::AccountDeleted, Some(&uid), &Actor::user(&uid), &client, &detail)?;
            // Their tokens die with the sessions; the status entries say so first.
            let now = clock::now();
            let live: Vec<String> = db::sessions::live_of_user(conn, &uid)?.into_iter().map(|s| s.id).collect();
            db::revocations::record_sessions_ended(conn, &uid, &live, now)?;
            db::revocations::record(conn, &uid, &db::revocations::Change::UserDeleted, None, now)?;
            // Sessions, refresh tokens and reset tokens go with the user (ON DELETE CASCADE).
            db::users::delete(conn, &uid)?;
            Ok(())
        })
        .await?;
        self.apply_revocations().await?;
        Ok(())
    }
}
