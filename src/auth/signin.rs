//! Password checks under the per-account throttle: sign-in, and the current-password checks of
//! account self-service. Who an attempt counts against is its `Subject`: a trusted device of
//! the account when the client presents one (see `devices`), else the account itself.
use secrecy::SecretString;

use super::gate::{Admitted, Failures};
use super::service::open_session;
use super::{AuthError, AuthService, Issued};
use crate::audit::{self, Actor, AuditKind, Requester};
use crate::clock;
use crate::db::users::UserRow;
use crate::domain::LoginName;
use crate::{db, ids};

/// What a failed attempt got wrong.
#[derive(Debug, Clone, Copy)]
pub(super) enum Attempt {
    Password,
    SecondFactor,
}

/// Whose failures a password attempt counts against.
#[derive(Debug, Clone)]
pub(super) enum Subject {
    Account { user_id: String },
    TrustedDevice { device_id: String, user_id: String },
}

impl Subject {
    fn gate_key(&self) -> String {
        match self {
            Subject::Account { user_id } => format!("account:{user_id}"),
            Subject::TrustedDevice { device_id, user_id } => format!("device:{device_id}:{user_id}"),
        }
    }

    fn user_id(&self) -> &str {
        match self {
            Subject::Account { user_id } | Subject::TrustedDevice { user_id, .. } => user_id,
        }
    }
}

impl AuthService {
    /// Signs in with a password. `device_cookie` is the client's device cookie, if it sent one.
    pub async fn login(
        &self,
        login: LoginName,
        password: &SecretString,
        client: Requester,
        device_cookie: Option<&str>,
    ) -> Result<Issued, AuthError> {
        let (key, is_email) = (login.key.clone(), login.is_email);
        let user = db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::users::find_by_login(conn, &key, is_email)?))
            .await?;
        let Some(user) = user else {
            // Unknown users are checked against a dummy hash: same work, same time.
            self.hasher.verify(password, None).await?;
            self.record_failure(None, client).await?;
            return Err(AuthError::InvalidCredentials);
        };
        let device_id = device_cookie.and_then(|cookie| self.devices.verify(cookie));
        let subject = self.subject(&user.id, device_id.as_deref()).await?;
        let admitted = self.admit(&subject).await?;
        if !self.hasher.verify(password, Some(user.password_hash.clone())).await? {
            self.record_failure(Some(&subject), client).await?;
            drop(admitted);
            return Err(AuthError::InvalidCredentials);
        }
        if self.has_totp(&user.id).await? {
            // The failures stay counted until the second factor is right too.
            let trusted = matches!(subject, Subject::TrustedDevice { .. }).then_some(device_id).flatten();
            let mfa_token = self.mfa_challenge(&user.id, trusted).await?;
            drop(admitted);
            return Err(AuthError::MfaRequired { mfa_token: mfa_token.into() });
        }
        let device_id = device_id.unwrap_or_else(|| ids::random_b64(16));
        let issued = self.open_signed_in_session(user, &subject, &device_id, client, |_| Ok(())).await;
        drop(admitted);
        issued
    }

    /// After a correct password (and `second_step`, which spends the second factor, if any):
    /// the subject's failures are cleared, the device becomes trusted for the account, and the
    /// session opens, in one transaction.
    pub(super) async fn open_signed_in_session(
        &self,
        user: UserRow,
        subject: &Subject,
        device_id: &str,
        client: Requester,
        second_step: impl FnOnce(&mut db::AnyConnection) -> Result<(), AuthError> + Send + 'static,
    ) -> Result<Issued, AuthError> {
        let settings = self.settings.clone();
        let refresh = self.secret_tokens.generate();
        let token_hash = self.secret_tokens.hash(&refresh);
        let (user_id, subject, device) = (user.id.clone(), subject.clone(), device_id.to_string());
        let session = db::write(&self.pool, move |conn| {
            second_step(conn)?;
            let now = clock::now();
            if let Subject::Account { user_id } = &subject {
                db::users::reset_failed_logins(conn, user_id)?;
            }
            db::devices::trust(conn, &device, &user_id, now)?;
            audit::record(conn, AuditKind::Login, Some(&user_id), &Actor::user(&user_id), &client, "")?;
            open_session(conn, &settings, &user_id, &client, &token_hash, now)
        })
        .await?;
        let mut issued = self.issue(user, session, refresh)?;
        issued.device_cookie = Some(self.devices.cookie_for(device_id));
        Ok(issued)
    }

    /// Checks a signed-in user's current password under the account's throttle, so a stolen
    /// session cannot be used to guess it (a wrong one is `InvalidCredentials`).
    pub(super) async fn check_password(
        &self,
        user_id: &str,
        password: &SecretString,
        client: &Requester,
    ) -> Result<(), AuthError> {
        let subject = Subject::Account { user_id: user_id.to_string() };
        let admitted = self.admit(&subject).await?;
        let outcome = if self.password_matches(user_id, password).await? {
            let uid = user_id.to_string();
            db::write(&self.pool, move |conn| Ok::<_, AuthError>(db::users::reset_failed_logins(conn, &uid)?)).await?;
            Ok(())
        } else {
            self.record_failure(Some(&subject), client.clone()).await?;
            Err(AuthError::InvalidCredentials)
        };
        drop(admitted);
        outcome
    }

    /// Whether `password` is the user's, with no throttle or counting (callers do both).
    pub(super) async fn password_matches(&self, user_id: &str, password: &SecretString) -> Result<bool, AuthError> {
        let uid = user_id.to_string();
        let user = db::run(&self.pool, move |conn| db::users::find(conn, &uid)?.ok_or(AuthError::NotFound)).await?;
        Ok(self.hasher.verify(password, Some(user.password_hash)).await?)
    }

    /// The subject of an attempt: the device, if the cookie names one trusted for this account.
    pub(super) async fn subject(&self, user_id: &str, device_id: Option<&str>) -> Result<Subject, AuthError> {
        let account = Subject::Account { user_id: user_id.to_string() };
        let Some(device_id) = device_id else { return Ok(account) };
        let (did, uid) = (device_id.to_string(), user_id.to_string());
        let trusted = db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::devices::failures(conn, &did, &uid)?))
            .await?
            .is_some();
        Ok(if trusted {
            Subject::TrustedDevice { device_id: device_id.to_string(), user_id: user_id.to_string() }
        } else {
            account
        })
    }

    /// Waits for the gate (see `gate`) and applies the throttle to the subject's recorded failures.
    pub(super) async fn admit(&self, subject: &Subject) -> Result<Admitted, AuthError> {
        self.attempts
            .admit(&subject.gate_key(), || {
                let subject = subject.clone();
                db::run(&self.pool, move |conn| recorded_failures(conn, &subject))
            })
            .await
    }

    /// Counts a failed attempt and audits it, plus the throttle step it starts, if any: one
    /// event per step rather than one per refused attempt, so an attack cannot flood the log.
    async fn record_failure(&self, subject: Option<&Subject>, client: Requester) -> Result<(), AuthError> {
        self.record_failed_attempt(subject, client, Attempt::Password).await
    }

    /// `record_failure` for either kind of secret: wrong second-factor codes count against the
    /// same throttle as wrong passwords, and are audited as `mfa_failed`.
    pub(super) async fn record_failed_attempt(
        &self,
        subject: Option<&Subject>,
        client: Requester,
        attempt: Attempt,
    ) -> Result<(), AuthError> {
        let subject = subject.cloned();
        db::write(&self.pool, move |conn| {
            let Some(subject) = &subject else {
                audit::record(conn, AuditKind::LoginFailed, None, &Actor::Anonymous, &client, "unknown user")?;
                return Ok(());
            };
            let now = clock::now();
            let user_id = subject.user_id();
            let (count, who) = match subject {
                Subject::Account { user_id } => (db::users::record_failure(conn, user_id, now)?, "account"),
                Subject::TrustedDevice { device_id, user_id } => {
                    (db::devices::record_failure(conn, device_id, user_id, now)?, "trusted device")
                }
            };
            let (kind, what) = match attempt {
                Attempt::Password => (AuditKind::LoginFailed, "wrong password"),
                Attempt::SecondFactor => (AuditKind::MfaFailed, "wrong second-factor code"),
            };
            let detail = format!("{what} ({who}: failure {count} in a row)");
            audit::record(conn, kind, Some(user_id), &Actor::Anonymous, &client, &detail)?;
            let delay = super::throttle::delay_after(count);
            if delay > 0 {
                let detail = format!("{who} throttled: {count} failures in a row, next attempt in {delay} s");
                audit::record(conn, AuditKind::RateLimited, Some(user_id), &Actor::Anonymous, &client, &detail)?;
            }
            Ok::<_, AuthError>(())
        })
        .await
    }
}

fn recorded_failures(conn: &mut db::AnyConnection, subject: &Subject) -> Result<Failures, AuthError> {
    Ok(match subject {
        Subject::Account { user_id } => {
            db::users::find(conn, user_id)?.map(|u| (u.failed_logins, u.last_failed_login_at)).unwrap_or((0, None))
        }
        Subject::TrustedDevice { device_id, user_id } => {
            db::devices::failures(conn, device_id, user_id)?.unwrap_or((0, None))
        }
    })
}
