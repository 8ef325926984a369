//! Creating accounts: sign-up (which signs in) and the CLI's `create-user`.
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::service::open_session;
use super::{AuthError, AuthService, Issued};
use crate::audit::{self, Actor, AuditKind, Requester};
use crate::clock;
use crate::db::users::{NewUser, UserRow};
use crate::db::{self, AnyConnection};
use crate::domain::{Email, Password, Role, Username};
use crate::ids;

impl AuthService {
    pub async fn signup(
        &self,
        username: Username,
        email: Email,
        password: Password,
        role: Role,
        client: Requester,
    ) -> Result<Issued, AuthError> {
        let (username_taken, email_taken) = {
            let (u, e) = (username.key().to_string(), email.key().to_string());
            db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::users::taken(conn, &u, &e)?)).await?
        };
        if username_taken || email_taken {
            return Err(AuthError::Conflict { username: username_taken, email: email_taken });
        }
        let hash = self.hasher.hash(password.secret()).await?;
        let refresh = self.secret_tokens.generate();
        let token_hash = self.secret_tokens.hash(&refresh);
        let settings = self.settings.clone();
        let device_id = ids::random_b64(16);
        let device = device_id.clone();
        let (user, session) = db::write(&self.pool, move |conn| {
            let now = clock::now();
            let id = insert_account(conn, &username, &email, &hash, role, now)?;
            db::devices::trust(conn, &device, &id, now)?;
            audit::record(conn, AuditKind::Signup, Some(&id), &Actor::user(&id), &client, "")?;
            let session = open_session(conn, &settings, &id, &client, &token_hash, now)?;
            let user = db::users::find(conn, &id)?.ok_or(AuthError::NotFound)?;
            Ok::<_, AuthError>((user, session))
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
        role: Role,
    ) -> Result<UserRow, AuthError> {
        let hash = self.hasher.hash(password.secret()).await?;
        db::write(&self.pool, move |conn| {
            let id = insert_account(conn, &username, &email, &hash, role, clock::now())?;
            audit::record(
                conn,
                AuditKind::UserCreated,
                Some(&id),
                &Actor::Cli,
                &Requester::cli(),
                &format!("role={role}"),
            )?;
            db::users::find(conn, &id)?.ok_or(AuthError::NotFound)
        })
        .await
    }
}

/// Inserts a user inside a write transaction: a taken username or email (checked here, and by
/// the unique indexes should two sign-ups race) is a `Conflict`. Returns the new id.
fn insert_account(
    conn: &mut AnyConnection,
    username: &Username,
    email: &Email,
    password_hash: &str,
    role: Role,
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
        role: role.as_str(),
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
