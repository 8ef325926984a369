//! The service every surface shares: its parts, what it hands out (`Issued`), who calls it
//! (`Caller`), and the pieces sign-up, sign-in and rotation have in common.
use std::sync::Arc;

use super::devices::DeviceKeys;
use super::gate::AttemptGate;
use super::password::Hasher;
use super::revocation::Revocations;
use super::tokens::{AccessClaims, JwtKeys, SecretTokens, StatusClaim, StatusListRef};
use super::AuthError;
use crate::audit::Requester;
use crate::clock;
use crate::config::Settings;
use crate::db::sessions::SessionRow;
use crate::db::tokens::RefreshTokenRow;
use crate::db::users::UserRow;
use crate::db::{self, AnyConnection, Pool};
use crate::domain::Role;
use crate::ids;

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
        self.role == Role::Admin.as_str()
    }
}

/// The service and everything it needs; cheap to clone, shared by all workers.
#[derive(Clone)]
pub struct AuthService {
    pub(super) pool: Pool,
    pub(super) settings: Arc<Settings>,
    pub(super) keys: Arc<JwtKeys>,
    pub(super) secret_tokens: SecretTokens,
    pub(super) hasher: Hasher,
    pub(super) revocations: Revocations,
    pub(super) mailer: crate::mail::Mailer,
    pub(super) devices: DeviceKeys,
    pub(super) attempts: AttemptGate,
    pub(super) signed_lists: super::status_list::SignedLists,
    pub(super) relying_party: super::passkeys::RelyingParty,
}

impl AuthService {
    pub fn new(pool: Pool, settings: Arc<Settings>) -> anyhow::Result<Self> {
        let keys = Arc::new(JwtKeys::from_settings(&settings)?);
        let secret_tokens = SecretTokens::new(settings.jwt_refresh_secret.clone());
        let hasher = Hasher::new(settings.bcrypt_cost)?;
        let mailer = crate::mail::Mailer::from_settings(&settings)?;
        let devices = DeviceKeys::new(settings.jwt_refresh_secret.clone());
        let revocations = Revocations::new(settings.jwt_expiration, settings.jwt_leeway);
        Ok(Self {
            relying_party: super::passkeys::RelyingParty::from_settings(&settings),
            pool,
            settings,
            keys,
            secret_tokens,
            hasher,
            revocations,
            mailer,
            devices,
            attempts: AttemptGate::default(),
            signed_lists: Default::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The access-token keys (the JWKS, and signing in tests).
    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    /// The connection pool, for maintenance commands (`purge-expired`) and tests.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether the database answers (`/healthz`).
    pub async fn check_database(&self) -> Result<(), AuthError> {
        db::run(&self.pool, |conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query("SELECT 1").execute(conn).map(|_| ()).map_err(AuthError::from)
        })
        .await
    }

    /// Applies the revocation events this instance just wrote (and any others) before it
    /// answers; the other instances follow through their feeds.
    pub(super) async fn apply_revocations(&self) -> Result<(), AuthError> {
        let revocations = self.revocations.clone();
        db::run(&self.pool, move |conn| revocations.catch_up(conn).map(|_| ()).map_err(AuthError::from)).await
    }

    /// Loads the revocation state and starts following the event stream (the server, not the CLI).
    pub async fn start_revocation_feed(&self) -> Result<(), AuthError> {
        let revocations = self.revocations.clone();
        let loaded = db::run(&self.pool, move |conn| revocations.load(conn).map_err(AuthError::from)).await?;
        tracing::info!(events = loaded, "revocation state loaded");
        self.revocations.follow(&self.pool);
        Ok(())
    }

    /// The URI of a status list, exactly as tokens carry it.
    pub fn status_list_uri(&self, list_id: &str) -> String {
        format!("{}/statuslists/{list_id}", self.settings.public_url)
    }

    /// Ends the revocation feed (when the server stops).
    pub fn stop_revocation_feed(&self) {
        self.revocations.stop_following();
    }

    /// Entries of the in-memory revocation state (its bound is tested).
    pub fn revocation_entries(&self) -> usize {
        self.revocations.entries()
    }

    /// An access token for a session; it never outlives the session's absolute end.
    pub(super) fn sign_access(&self, user: &UserRow, session: &SessionRow) -> Result<String, AuthError> {
        let (session_id, session_ends_at) = (&session.id, session.absolute_expires_at);
        let now = clock::now();
        let claims = AccessClaims {
            iss: self.settings.jwt_issuer.clone(),
            aud: self.settings.jwt_audience.clone(),
            sub: user.id.clone(),
            iat: now,
            exp: (now + self.settings.jwt_expiration).min(session_ends_at),
            jti: ids::new_id(),
            sid: session_id.to_string(),
            ver: user.token_version,
            role: user.role.clone(),
            name: user.username.clone(),
            email: user.email.clone(),
            created_at: user.created_at,
            status: session.status_entry().map(|entry| StatusClaim {
                status_list: StatusListRef { idx: entry.idx, uri: self.status_list_uri(&entry.list_id) },
            }),
            nbf: None,
        };
        Ok(self.keys.sign(&claims)?)
    }

    pub(super) fn issue(&self, user: UserRow, session: SessionRow, refresh_token: String) -> Result<Issued, AuthError> {
        let access_token = self.sign_access(&user, &session)?;
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

/// Inserts a new session and its first refresh token.
pub(super) fn open_session(
    conn: &mut AnyConnection,
    settings: &Settings,
    user_id: &str,
    client: &Requester,
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
        status_list: String::new(),
        status_idx: -1,
        device: crate::device::describe(&client.user_agent),
    };
    let status = db::status_lists::allocate(conn, settings.status_list_size, now)?;
    let session = SessionRow { status_list: status.list_id, status_idx: status.idx, ..session };
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
