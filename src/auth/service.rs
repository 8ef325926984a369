//! Sign-up, sign-in, rotation with reuse detection, logout and session management.
use std::sync::Arc;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;

use super::devices::DeviceKeys;
use super::gate::AttemptGate;
use super::password::{HashError, Hasher};
use super::revocation::RevocationCache;
use super::tokens::{AccessClaims, JwtKeys, RefreshKeys, TokenError};
use crate::audit::{self, Actor, AuditKind, Client};
use crate::config::Settings;
use crate::db::sessions::SessionRow;
use crate::db::tokens::RefreshTokenRow;
use crate::db::users::{NewUser, UserRow};
use crate::db::{self, AnyConnection, DbError, Pool};
use crate::domain::{Email, Password, Username};
use crate::ids;

/// What can go wrong in the service, in terms the contract distinguishes.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("username or email already taken")]
    Conflict { username: bool, email: bool },
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    #[error("the refresh token was reused; its session is revoked")]
    RefreshTokenReused,
    #[error("access token: {0}")]
    Token(#[from] TokenError),
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("the reset token is invalid, used or expired")]
    InvalidResetToken,
    #[error("the last administrator cannot lose the role")]
    LastAdmin,
    #[error("too many attempts; retry in {0} s")]
    RateLimited(u64),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DieselError> for AuthError {
    fn from(e: DieselError) -> Self {
        AuthError::Db(DbError::from(e))
    }
}

/// Tokens handed to a client after sign-up, sign-in or refresh.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_at: i64,
    /// When it was issued (the same clock reading as the expiry, so cookie lifetimes are exact).
    pub issued_at: i64,
    pub session_id: String,
    pub user: UserRow,
    /// A signed device cookie to set, after a correct password (see `devices`).
    pub device_cookie: Option<String>,
}

/// Who is ending a session, which decides what they may end and how it is audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoker {
    /// The signed-in user, for one of their own live sessions.
    Owner(String),
    /// An administrator, for anyone's live session.
    Admin(String),
    /// Whoever holds the session's refresh token (logout).
    TokenHolder,
}

/// The verified bearer of an access token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub session_id: String,
    pub role: String,
    pub username: String,
    pub email: String,
    pub created_at: i64,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// The service and everything it needs; cheap to clone, shared by all workers.
#[derive(Clone)]
pub struct Auth {
    pub pool: Pool,
    pub settings: Arc<Settings>,
    pub keys: Arc<JwtKeys>,
    pub refresh_keys: RefreshKeys,
    pub hasher: Hasher,
    pub revocations: RevocationCache,
    pub mailer: crate::mail::Mailer,
    pub devices: DeviceKeys,
    pub attempts: AttemptGate,
}

#[allow(clippy::large_enum_variant)] // lives for one call, never in a collection
enum Rotation {
    Issued { user: UserRow, session_id: String, refresh_token: String, refresh_expires_at: i64, issued_at: i64 },
    Reused,
}

/// Opens a transaction that holds the write lock from its first statement, so concurrent
/// writers queue on SQLite's busy timeout instead of failing on a read-to-write upgrade.
pub fn write_transaction<T, E>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DieselError>,
{
    conn.transaction(|conn| {
        if let AnyConnection::Sqlite(lite) = conn {
            use diesel::RunQueryDsl;
            diesel::sql_query("UPDATE users SET id = id WHERE 0 = 1").execute(lite)?;
        }
        work(conn)
    })
}

impl Auth {
    pub fn new(pool: Pool, settings: Arc<Settings>) -> anyhow::Result<Self> {
        let keys = Arc::new(JwtKeys::from_settings(&settings)?);
        let refresh_keys = RefreshKeys::new(settings.jwt_refresh_secret.clone());
        let hasher = Hasher::new(settings.bcrypt_cost)?;
        let mailer = crate::mail::Mailer::from_settings(&settings)?;
        let devices = DeviceKeys::new(settings.jwt_refresh_secret.clone());
        Ok(Self {
            pool,
            settings,
            keys,
            refresh_keys,
            hasher,
            revocations: RevocationCache::default(),
            mailer,
            devices,
            attempts: AttemptGate::default(),
        })
    }

    pub async fn signup(
        &self,
        username: Username,
        email: Email,
        password: Password,
        role: &'static str,
        client: Client,
    ) -> Result<Issued, AuthError> {
        let (username_taken, email_taken) = {
            let (u, e) = (username.key().to_string(), email.key().to_string());
            db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::users::taken(conn, &u, &e)?)).await?
        };
        if username_taken || email_taken {
            return Err(AuthError::Conflict { username: username_taken, email: email_taken });
        }
        let hash = self.hasher.hash(password.secret()).await?;
        let refresh = self.refresh_keys.generate();
        let token_hash = self.refresh_keys.hash(&refresh);
        let settings = self.settings.clone();
        let device_id = ids::random_b64(16);
        let device = device_id.clone();
        let (user, session) = db::run(&self.pool, move |conn| {
            write_transaction(conn, |conn| {
                let now = ids::now();
                let id = insert_account(conn, &username, &email, &hash, role, now)?;
                db::devices::trust(conn, &device, &id, now)?;
                audit::record(conn, AuditKind::Signup, Some(&id), &Actor::user(&id), &client, "")?;
                let session = open_session(conn, &settings, &id, &client, &token_hash, now)?;
                let user = db::users::find(conn, &id)?.ok_or(AuthError::NotFound)?;
                Ok::<_, AuthError>((user, session))
            })
        })
        .await?;
        let mut issued = self.issue(user, session, refresh)?;
        issued.device_cookie = Some(self.devices.cookie_for(&device_id));
        Ok(issued)
    }

    /// Creates an account without signing it in (the CLI's `create-user`).
    pub async fn create_user(
        &self,
        username: Username,
        email: Email,
        password: Password,
        role: &'static str,
    ) -> Result<UserRow, AuthError> {
        let hash = self.hasher.hash(password.secret()).await?;
        db::run(&self.pool, move |conn| {
            write_transaction(conn, |conn| {
                let id = insert_account(conn, &username, &email, &hash, role, ids::now())?;
                audit::record(
                    conn,
                    AuditKind::UserCreated,
                    Some(&id),
                    &Actor::Cli,
                    &Client::cli(),
                    &format!("role={role}"),
                )?;
                db::users::find(conn, &id)?.ok_or(AuthError::NotFound)
            })
        })
        .await
    }

    /// Rotates a refresh token: the old one dies and its successor is issued, in one transaction.
    pub async fn refresh(&self, raw: &str, client: Client) -> Result<Issued, AuthError> {
        if !RefreshKeys::is_well_formed(raw) {
            return Err(AuthError::InvalidRefreshToken);
        }
        let raw = raw.to_string();
        let keys = self.refresh_keys.clone();
        let settings = self.settings.clone();
        let rotation = db::run(&self.pool, move |conn| {
            write_transaction(conn, |conn| rotate(conn, &keys, &settings, &raw, &client))
        })
        .await?;
        match rotation {
            Rotation::Issued { user, session_id, refresh_token, refresh_expires_at, issued_at } => {
                let access_token = self.sign_access(&user, &session_id)?;
                Ok(Issued {
                    access_token,
                    expires_in: self.settings.jwt_expiration,
                    refresh_token,
                    refresh_expires_at,
                    issued_at,
                    session_id,
                    user,
                    device_cookie: None,
                })
            }
            Rotation::Reused => Err(AuthError::RefreshTokenReused),
        }
    }

    /// Ends the session a refresh token belongs to. Returns the session id if there was one.
    pub async fn logout_with_refresh(&self, raw: &str, client: Client) -> Result<String, AuthError> {
        if !RefreshKeys::is_well_formed(raw) {
            return Err(AuthError::InvalidRefreshToken);
        }
        let hash = self.refresh_keys.hash(raw);
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
        client: Client,
    ) -> Result<(), AuthError> {
        let sid = session_id.to_string();
        db::run(&self.pool, move |conn| {
            write_transaction(conn, |conn| {
                let now = ids::now();
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
                db::tokens::revoke_for_session(conn, &sid, now)?;
                if was_live {
                    audit::record(conn, kind, Some(&session.user_id), &actor, &client, &format!("session={sid}"))?;
                }
                Ok(session.user_id)
            })
        })
        .await?;
        self.revocations.evict_session(session_id);
        Ok(())
    }

    /// Ends every session of a user and invalidates every access token issued to them.
    pub async fn logout_all(&self, user_id: &str, actor: Actor, client: Client) -> Result<usize, AuthError> {
        let kind = match actor {
            Actor::Admin(_) | Actor::Cli => AuditKind::AdminLogoutAll,
            _ => AuditKind::LogoutAll,
        };
        let uid = user_id.to_string();
        let ended = db::run(&self.pool, move |conn| {
            write_transaction(conn, |conn| {
                let now = ids::now();
                if db::users::bump_token_version(conn, &uid)? == 0 {
                    return Err(AuthError::NotFound);
                }
                let sessions = db::sessions::revoke_all_for_user(conn, &uid, now)?;
                db::tokens::revoke_for_sessions(conn, &sessions, now)?;
                let detail = format!("sessions_ended={}", sessions.len());
                audit::record(conn, kind, Some(&uid), &actor, &client, &detail)?;
                Ok::<_, AuthError>(sessions.len())
            })
        })
        .await?;
        self.revocations.evict_user(user_id);
        Ok(ended)
    }

    pub async fn live_sessions(&self, user_id: &str) -> Result<Vec<SessionRow>, AuthError> {
        let uid = user_id.to_string();
        db::run(&self.pool, move |conn| Ok(db::sessions::live_for_user(conn, &uid, ids::now())?)).await
    }

    pub async fn user(&self, user_id: &str) -> Result<UserRow, AuthError> {
        let uid = user_id.to_string();
        db::run(&self.pool, move |conn| db::users::find(conn, &uid)?.ok_or(AuthError::NotFound)).await
    }

    /// Verifies an access token and checks that its session, token version and role still hold.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        let claims = self.keys.verify(token)?;
        let state = match self.revocations.get(&claims.sid) {
            Some(state) => state,
            None => {
                let sid = claims.sid.clone();
                let state =
                    db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::sessions::access_state(conn, &sid)?))
                        .await?;
                self.revocations.put(&claims.sid, &claims.sub, state.clone());
                state
            }
        };
        let now = ids::now();
        let state = state
            .filter(|s| {
                s.revoked_at.is_none()
                    && s.absolute_expires_at > now
                    && s.token_version == claims.ver
                    && s.role == claims.role
            })
            .ok_or(AuthError::Token(TokenError::Invalid))?;
        Ok(Caller {
            user_id: claims.sub,
            session_id: claims.sid,
            role: state.role,
            username: state.username,
            email: state.email,
            created_at: state.created_at,
        })
    }

    fn sign_access(&self, user: &UserRow, session_id: &str) -> Result<String, AuthError> {
        let now = ids::now();
        let claims = AccessClaims {
            iss: self.settings.jwt_issuer.clone(),
            aud: self.settings.jwt_audience.clone(),
            sub: user.id.clone(),
            iat: now,
            exp: now + self.settings.jwt_expiration,
            jti: ids::new_id(),
            sid: session_id.to_string(),
            ver: user.token_version,
            role: user.role.clone(),
            name: user.username.clone(),
        };
        Ok(self.keys.sign(&claims)?)
    }

    pub(super) fn issue(&self, user: UserRow, session: SessionRow, refresh_token: String) -> Result<Issued, AuthError> {
        let access_token = self.sign_access(&user, &session.id)?;
        Ok(Issued {
            access_token,
            expires_in: self.settings.jwt_expiration,
            refresh_token,
            refresh_expires_at: session.expires_at,
            issued_at: session.last_used_at,
            session_id: session.id,
            user,
            device_cookie: None,
        })
    }
}

/// Inserts a user inside a write transaction: a taken username or email (checked here, and by
/// the unique indexes should two sign-ups race) is a `Conflict`. Returns the new id.
fn insert_account(
    conn: &mut AnyConnection,
    username: &Username,
    email: &Email,
    password_hash: &str,
    role: &str,
    now: i64,
) -> Result<String, AuthError> {
    let (username_taken, email_taken) = db::users::taken(conn, username.key(), email.key())?;
    if username_taken || email_taken {
        return Err(AuthError::Conflict { username: username_taken, email: email_taken });
    }
    let id = ids::new_id();
    let new_user = NewUser {
        id: &id,
        username: username.as_str(),
        username_key: username.key(),
        email: email.as_str(),
        email_key: email.key(),
        password_hash,
        role,
        token_version: 0,
        created_at: now,
    };
    db::users::insert(conn, &new_user).map_err(|e| match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            AuthError::Conflict { username: true, email: true }
        }
        other => other.into(),
    })?;
    Ok(id)
}

/// Inserts a new session and its first refresh token.
pub(super) fn open_session(
    conn: &mut AnyConnection,
    settings: &Settings,
    user_id: &str,
    client: &Client,
    token_hash: &str,
    now: i64,
) -> Result<SessionRow, AuthError> {
    let absolute = now + settings.session_max_age;
    let expires_at = (now + settings.jwt_refresh_expiration).min(absolute);
    let session = SessionRow {
        id: ids::new_id(),
        user_id: user_id.to_string(),
        user_agent: client.user_agent.clone(),
        ip: client.ip.clone(),
        created_at: now,
        last_used_at: now,
        expires_at,
        absolute_expires_at: absolute,
        revoked_at: None,
    };
    db::sessions::insert(conn, &session)?;
    db::tokens::insert(
        conn,
        &RefreshTokenRow {
            id: ids::new_id(),
            session_id: session.id.clone(),
            token_hash: token_hash.to_string(),
            created_at: now,
            expires_at,
            used_at: None,
            revoked_at: None,
        },
    )?;
    Ok(session)
}

/// The rotation rules, inside one write transaction:
/// - a live token is claimed (compare-and-set) and replaced by its derived successor;
/// - a token rotated less than `REFRESH_REUSE_GRACE` ago leads to the live successor of its
///   chain (a parallel tab's refresh), so no new token is minted and the user stays signed in;
/// - a token rotated longer ago is theft: the whole session is revoked.
fn rotate(
    conn: &mut AnyConnection,
    keys: &RefreshKeys,
    settings: &Settings,
    raw: &str,
    client: &Client,
) -> Result<Rotation, AuthError> {
    let now = ids::now();
    let hash = keys.hash(raw);
    db::sessions::lock_for_token(conn, &hash)?;
    let won = db::tokens::claim(conn, &hash, now)?;
    let token = db::tokens::find_by_hash(conn, &hash)?.ok_or(AuthError::InvalidRefreshToken)?;
    let session = db::sessions::find(conn, &token.session_id)?.ok_or(AuthError::InvalidRefreshToken)?;
    if !session.is_live(now) || token.revoked_at.is_some() {
        return Err(AuthError::InvalidRefreshToken);
    }
    let user = db::users::find(conn, &session.user_id)?.ok_or(AuthError::InvalidRefreshToken)?;
    if won {
        let successor = keys.successor(raw);
        let expires_at = (now + settings.jwt_refresh_expiration).min(session.absolute_expires_at);
        db::tokens::insert(
            conn,
            &RefreshTokenRow {
                id: ids::new_id(),
                session_id: session.id.clone(),
                token_hash: keys.hash(&successor),
                created_at: now,
                expires_at,
                used_at: None,
                revoked_at: None,
            },
        )?;
        db::sessions::touch(conn, &session.id, now, expires_at)?;
        audit::record(
            conn,
            AuditKind::Refresh,
            Some(&user.id),
            &Actor::user(&user.id),
            client,
            &format!("session={}", session.id),
        )?;
        return Ok(Rotation::Issued {
            user,
            session_id: session.id,
            refresh_token: successor,
            refresh_expires_at: expires_at,
            issued_at: now,
        });
    }
    // Not claimable: expired, or already rotated.
    let Some(used_at) = token.used_at else {
        return Err(AuthError::InvalidRefreshToken);
    };
    if within_grace(settings, now, used_at) {
        // Walk the chain to its live end; every step was rotated inside the window too.
        let mut current = raw.to_string();
        for _ in 0..64 {
            let next = keys.successor(&current);
            let Some(row) = db::tokens::find_by_hash(conn, &keys.hash(&next))? else {
                return Err(AuthError::InvalidRefreshToken);
            };
            if row.revoked_at.is_some() || row.expires_at <= now {
                return Err(AuthError::InvalidRefreshToken);
            }
            match row.used_at {
                None => {
                    return Ok(Rotation::Issued {
                        user,
                        session_id: session.id,
                        refresh_token: next,
                        refresh_expires_at: row.expires_at,
                        issued_at: now,
                    })
                }
                Some(used) if within_grace(settings, now, used) => current = next,
                Some(_) => break,
            }
        }
    }
    // Reuse after the window: whoever holds the chain now, the session can no longer be trusted.
    db::sessions::revoke(conn, &session.id, now)?;
    db::tokens::revoke_for_session(conn, &session.id, now)?;
    audit::record(
        conn,
        AuditKind::RefreshReused,
        Some(&user.id),
        &Actor::Anonymous,
        client,
        &format!("session={}", session.id),
    )?;
    Ok(Rotation::Reused)
}

fn within_grace(settings: &Settings, now: i64, used_at: i64) -> bool {
    settings.refresh_reuse_grace > 0 && now - used_at <= settings.refresh_reuse_grace
}
