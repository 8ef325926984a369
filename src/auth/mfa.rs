//! Second factors: TOTP enrolment with recovery codes, the code step of sign-in, and the
//! admin's reset. Codes are accepted once (a step at most once, recovery codes once), wrong
//! codes count against the account throttle like wrong passwords.
use secrecy::SecretString;

use super::signin::{Attempt, Subject};
use super::tokens::MfaSecret;
use super::totp;
use super::{AuthError, AuthService, Caller, Issued};
use crate::audit::{self, Actor, AuditKind, Requester};
use crate::clock;
use crate::db::mfa::ChallengeRow;
use crate::db::{self, AnyConnection};
use crate::ids;

/// How long an `mfa_token` carries a correct password to the code step.
pub const MFA_TOKEN_TTL_SECS: i64 = 300;
/// How long a pending TOTP secret waits for its confirming code before enrolment starts over.
pub const PENDING_TTL_SECS: i64 = 15 * 60;

/// What a user typed at the code step.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    Code(String),
    RecoveryCode(String),
}

/// A pending TOTP enrolment, shown once.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

#[derive(Debug, Clone)]
pub struct MfaStatus {
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: Vec<db::passkeys::PasskeyRow>,
}

impl AuthService {
    /// Whether the user signs in with a TOTP code after the password.
    pub(super) async fn has_totp(&self, user_id: &str) -> Result<bool, AuthError> {
        let uid = user_id.to_string();
        db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::mfa::totp_enabled(conn, &uid)?)).await
    }

    /// An `mfa_token` for a correct password; only its hash is stored.
    pub(super) async fn mfa_challenge(&self, user_id: &str, device_id: Option<String>) -> Result<String, AuthError> {
        let token = ids::random_b64(32);
        let now = clock::now();
        let row = ChallengeRow {
            token_hash: self.secret_tokens.mfa_hash(MfaSecret::Token, &token),
            user_id: user_id.to_string(),
            device_id,
            created_at: now,
            expires_at: now + MFA_TOKEN_TTL_SECS,
            used_at: None,
        };
        db::write(&self.pool, move |conn| Ok::<_, AuthError>(db::mfa::insert_challenge(conn, &row)?)).await?;
        Ok(token)
    }

    /// Completes a sign-in with the second factor. A wrong code leaves the token usable (and
    /// counts as a failure); a right one spends the token and the code and opens the session,
    /// in one transaction.
    pub async fn login_mfa(
        &self,
        mfa_token: &str,
        factor: SecondFactor,
        client: Requester,
    ) -> Result<Issued, AuthError> {
        if mfa_token.len() != 43 {
            return Err(AuthError::InvalidMfaToken);
        }
        let token_hash = self.secret_tokens.mfa_hash(MfaSecret::Token, mfa_token);
        let lookup = token_hash.clone();
        let (challenge, user) = db::run(&self.pool, move |conn| {
            let challenge = db::mfa::live_challenge(conn, &lookup, clock::now())?.ok_or(AuthError::InvalidMfaToken)?;
            let user = db::users::find(conn, &challenge.user_id)?.ok_or(AuthError::InvalidMfaToken)?;
            Ok::<_, AuthError>((challenge, user))
        })
        .await?;
        let subject = self.subject(&user.id, challenge.device_id.as_deref()).await?;
        let admitted = self.admit(&subject).await?;
        let (key, uid, audit_client, fail_client) =
            (self.secret_tokens.sealing_key(), user.id.clone(), client.clone(), client.clone());
        let recovery_hash = self.recovery_hash_of(&factor);
        let device_id = challenge.device_id.clone().unwrap_or_else(|| ids::random_b64(16));
        let outcome = self
            .open_signed_in_session(user, &subject, &device_id, client, move |conn| {
                let now = clock::now();
                spend_factor(conn, &key, &uid, &factor, recovery_hash.as_deref(), &audit_client, now)?;
                if !db::mfa::spend_challenge(conn, &token_hash, now)? {
                    return Err(AuthError::InvalidMfaToken);
                }
                Ok(())
            })
            .await;
        if let Err(AuthError::InvalidMfaCode) = outcome {
            self.record_failed_attempt(Some(&subject), fail_client, Attempt::SecondFactor).await?;
        }
        drop(admitted);
        outcome
    }

    /// Starts a TOTP enrolment (the password again): a pending secret until a code confirms it.
    pub async fn start_totp(
        &self,
        caller: &Caller,
        password: &SecretString,
        client: Requester,
    ) -> Result<TotpEnrolment, AuthError> {
        self.check_password(&caller.user_id, password, &client).await?;
        let secret = totp::new_secret();
        let sealed = totp::seal(&self.secret_tokens.sealing_key(), &caller.user_id, &secret)
            .map_err(|e| AuthError::Unexpected(e.into()))?;
        let uid = caller.user_id.clone();
        db::write(&self.pool, move |conn| {
            if db::mfa::totp_enabled(conn, &uid)? {
                return Err(AuthError::MfaAlreadyEnabled);
            }
            Ok(db::mfa::put_pending_totp(conn, &uid, &sealed, clock::now())?)
        })
        .await?;
        Ok(self.enrolment(caller, &secret))
    }

    /// The caller's pending enrolment (to show its QR code again after a wrong code), if any.
    pub async fn pending_totp(&self, caller: &Caller) -> Result<Option<TotpEnrolment>, AuthError> {
        let uid = caller.user_id.clone();
        let row = db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::mfa::totp(conn, &uid)?)).await?;
        let Some(row) =
            row.filter(|row| row.confirmed_at.is_none() && clock::now() - row.created_at <= PENDING_TTL_SECS)
        else {
            return Ok(None);
        };
        let secret = totp::unseal(&self.secret_tokens.sealing_key(), &row.user_id, &row.secret_sealed)
            .map_err(|e| AuthError::Unexpected(e.into()))?;
        Ok(Some(self.enrolment(caller, &secret)))
    }

    fn enrolment(&self, caller: &Caller, secret: &[u8]) -> TotpEnrolment {
        let account = if caller.email.is_empty() { &caller.username } else { &caller.email };
        TotpEnrolment {
            secret: totp::base32(secret),
            otpauth_uri: totp::otpauth_uri(&self.settings.jwt_issuer, account, secret),
        }
    }

    /// Confirms the pending secret with a code: TOTP is on, ten recovery codes are issued (shown
    /// once), and the user's other sessions end.
    pub async fn confirm_totp(&self, caller: &Caller, code: &str, client: Requester) -> Result<Vec<String>, AuthError> {
        let codes = totp::new_recovery_codes();
        let hashes = self.recovery_hashes(&codes);
        let (key, uid, keep, code) =
            (self.secret_tokens.sealing_key(), caller.user_id.clone(), caller.session_id.clone(), code.to_string());
        let audit_client = client.clone();
        let subject = Subject::Account { user_id: caller.user_id.clone() };
        // A stolen session must not be able to guess its way through a pending enrolment.
        let admitted = self.admit(&subject).await?;
        let outcome = db::write(&self.pool, move |conn| {
            let now = clock::now();
            let row = db::mfa::totp(conn, &uid)?.ok_or(AuthError::NotFound)?;
            if row.confirmed_at.is_some() {
                return Err(AuthError::MfaAlreadyEnabled);
            }
            if now - row.created_at > PENDING_TTL_SECS {
                return Err(AuthError::NotFound);
            }
            claim_totp_code(conn, &key, &row, &code, now)?;
            db::mfa::confirm_totp(conn, &uid, now)?;
            db::mfa::replace_recovery_codes(conn, &uid, &hashes, now)?;
            let others = super::sessions::end_other_sessions(conn, &uid, &keep, now)?;
            let detail = format!("totp; other_sessions_ended={}", others.len());
            audit::record(conn, AuditKind::MfaEnabled, Some(&uid), &Actor::user(&uid), &audit_client, &detail)?;
            Ok::<_, AuthError>(())
        })
        .await;
        self.count_wrong_code(&subject, client, &outcome).await?;
        drop(admitted);
        outcome?;
        self.apply_revocations().await?;
        Ok(codes)
    }

    /// A wrong second-factor code counts against the throttle like a wrong password.
    async fn count_wrong_code<T>(
        &self,
        subject: &Subject,
        client: Requester,
        outcome: &Result<T, AuthError>,
    ) -> Result<(), AuthError> {
        if let Err(AuthError::InvalidMfaCode) = outcome {
            self.record_failed_attempt(Some(subject), client, Attempt::SecondFactor).await?;
        }
        Ok(())
    }

    /// Turns TOTP off with the password and a code (or a recovery code); other sessions end.
    pub async fn disable_totp(
        &self,
        caller: &Caller,
        password: &SecretString,
        factor: SecondFactor,
        client: Requester,
    ) -> Result<(), AuthError> {
        // Password and code under one admission of the throttle, and the failures are cleared
        // only when both are right: a known password does not buy unlimited code guesses.
        let subject = Subject::Account { user_id: caller.user_id.clone() };
        let admitted = self.admit(&subject).await?;
        if !self.password_matches(&caller.user_id, password).await? {
            self.record_failed_attempt(Some(&subject), client, Attempt::Password).await?;
            drop(admitted);
            return Err(AuthError::InvalidCredentials);
        }
        let recovery_hash = self.recovery_hash_of(&factor);
        let (key, uid, keep) = (self.secret_tokens.sealing_key(), caller.user_id.clone(), caller.session_id.clone());
        let audit_client = client.clone();
        let outcome = db::write(&self.pool, move |conn| {
            let now = clock::now();
            if !db::mfa::totp_enabled(conn, &uid)? {
                return Err(AuthError::NotFound);
            }
            spend_factor(conn, &key, &uid, &factor, recovery_hash.as_deref(), &audit_client, now)?;
            db::users::reset_failed_logins(conn, &uid)?;
            db::mfa::delete_totp(conn, &uid)?;
            db::mfa::delete_recovery_codes(conn, &uid)?;
            let others = super::sessions::end_other_sessions(conn, &uid, &keep, now)?;
            let detail = format!("totp; other_sessions_ended={}", others.len());
            audit::record(conn, AuditKind::MfaDisabled, Some(&uid), &Actor::user(&uid), &audit_client, &detail)?;
            Ok::<_, AuthError>(())
        })
        .await;
        self.count_wrong_code(&subject, client, &outcome).await?;
        drop(admitted);
        outcome?;
        self.apply_revocations().await
    }

    /// New recovery codes (the password again); the old ones die.
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Caller,
        password: &SecretString,
        client: Requester,
    ) -> Result<Vec<String>, AuthError> {
        self.check_password(&caller.user_id, password, &client).await?;
        let codes = totp::new_recovery_codes();
        let hashes = self.recovery_hashes(&codes);
        let uid = caller.user_id.clone();
        db::write(&self.pool, move |conn| {
            if !db::mfa::totp_enabled(conn, &uid)? {
                return Err(AuthError::NotFound);
            }
            Ok(db::mfa::replace_recovery_codes(conn, &uid, &hashes, clock::now())?)
        })
        .await?;
        Ok(codes)
    }

    pub async fn mfa_status(&self, user_id: &str) -> Result<MfaStatus, AuthError> {
        let uid = user_id.to_string();
        db::run(&self.pool, move |conn| {
            Ok(MfaStatus {
                totp: db::mfa::totp_enabled(conn, &uid)?,
                recovery_codes_left: db::mfa::recovery_codes_left(conn, &uid)?,
                passkeys: db::passkeys::of_user(conn, &uid)?,
            })
        })
        .await
    }

    /// An administrator removes a locked-out user's TOTP, recovery codes and passkeys; every
    /// session of the user ends.
    pub async fn reset_mfa(&self, user_id: &str, admin_id: &str, client: Requester) -> Result<(), AuthError> {
        let (uid, admin) = (user_id.to_string(), admin_id.to_string());
        db::write(&self.pool, move |conn| {
            let now = clock::now();
            db::users::find(conn, &uid)?.ok_or(AuthError::NotFound)?;
            let totp = db::mfa::delete_totp(conn, &uid)?;
            db::mfa::delete_recovery_codes(conn, &uid)?;
            let passkeys = db::passkeys::delete_all_of_user(conn, &uid)?;
            let sessions = super::sessions::end_all_sessions(conn, &uid, now)?;
            let detail = format!("totp={totp} passkeys={passkeys} sessions_ended={}", sessions.len());
            audit::record(conn, AuditKind::AdminMfaReset, Some(&uid), &Actor::admin(&admin), &client, &detail)?;
            Ok::<_, AuthError>(())
        })
        .await?;
        self.apply_revocations().await
    }

    fn recovery_hashes(&self, codes: &[String]) -> Vec<String> {
        codes.iter().map(|code| self.secret_tokens.mfa_hash(MfaSecret::RecoveryCode, &code.replace('-', ""))).collect()
    }

    fn recovery_hash_of(&self, factor: &SecondFactor) -> Option<String> {
        match factor {
            SecondFactor::RecoveryCode(code) => totp::normalize_recovery_code(code)
                .map(|code| self.secret_tokens.mfa_hash(MfaSecret::RecoveryCode, &code)),
            SecondFactor::Code(_) => None,
        }
    }
}

/// Inside a transaction: spends a TOTP code (its step, once) or a recovery code (once, audited),
/// or fails with `InvalidMfaCode`.
fn spend_factor(
    conn: &mut AnyConnection,
    key: &[u8; 32],
    user_id: &str,
    factor: &SecondFactor,
    recovery_hash: Option<&str>,
    client: &Requester,
    now: i64,
) -> Result<(), AuthError> {
    match factor {
        SecondFactor::Code(code) => {
            let row = db::mfa::totp(conn, user_id)?
                .filter(|row| row.confirmed_at.is_some())
                .ok_or(AuthError::InvalidMfaCode)?;
            claim_totp_code(conn, key, &row, code, now)
        }
        SecondFactor::RecoveryCode(_) => {
            let hash = recovery_hash.ok_or(AuthError::InvalidMfaCode)?;
            if !db::mfa::use_recovery_code(conn, user_id, hash, now)? {
                return Err(AuthError::InvalidMfaCode);
            }
            let left = db::mfa::recovery_codes_left(conn, user_id)?;
            let detail = format!("recovery_codes_left={left}");
            audit::record(conn, AuditKind::RecoveryCodeUsed, Some(user_id), &Actor::user(user_id), client, &detail)?;
            Ok(())
        }
    }
}

/// A TOTP code of a step newer than the last one accepted; the step is then taken.
fn claim_totp_code(
    conn: &mut AnyConnection,
    key: &[u8; 32],
    row: &db::mfa::TotpRow,
    code: &str,
    now: i64,
) -> Result<(), AuthError> {
    let secret = totp::unseal(key, &row.user_id, &row.secret_sealed).map_err(|e| AuthError::Unexpected(e.into()))?;
    let step = totp::matching_step(&secret, code, now).ok_or(AuthError::InvalidMfaCode)?;
    if !db::mfa::claim_step(conn, &row.user_id, step)? {
        return Err(AuthError::InvalidMfaCode);
    }
    Ok(())
}
