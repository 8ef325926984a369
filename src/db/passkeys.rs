//! Queries on `passkeys` and `webauthn_ceremonies`.
use diesel::prelude::*;

use super::schema::{passkeys, webauthn_ceremonies};
use super::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub credential_id: String,
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub fn of_user(conn: &mut AnyConnection, user_id: &str) -> QueryResult<Vec<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .order(passkeys::created_at)
        .select(PasskeyRow::as_select())
        .load(conn)
}

pub fn by_credential_id(conn: &mut AnyConnection, credential_id: &str) -> QueryResult<Option<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(PasskeyRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut AnyConnection, row: &PasskeyRow) -> QueryResult<usize> {
    diesel::insert_into(passkeys::table).values(row).execute(conn)
}

/// After a sign-in: the credential's new counter, and when it was used.
pub fn record_use(conn: &mut AnyConnection, id: &str, credential: Option<&str>, now: i64) -> QueryResult<usize> {
    match credential {
        Some(credential) => diesel::update(passkeys::table.find(id))
            .set((passkeys::credential.eq(credential), passkeys::last_used_at.eq(now)))
            .execute(conn),
        None => diesel::update(passkeys::table.find(id)).set(passkeys::last_used_at.eq(now)).execute(conn),
    }
}

pub fn delete_of_user(conn: &mut AnyConnection, user_id: &str, id: &str) -> QueryResult<usize> {
    diesel::delete(passkeys::table.find(id).filter(passkeys::user_id.eq(user_id))).execute(conn)
}

pub fn delete_all_of_user(conn: &mut AnyConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id))).execute(conn)
}

/// A ceremony in flight: what the library needs to finish it, for whoever started it.
pub fn put_ceremony(
    conn: &mut AnyConnection,
    id: &str,
    kind: &str,
    user_id: Option<&str>,
    state: &str,
    expires_at: i64,
) -> QueryResult<usize> {
    diesel::insert_into(webauthn_ceremonies::table)
        .values((
            webauthn_ceremonies::id.eq(id),
            webauthn_ceremonies::kind.eq(kind),
            webauthn_ceremonies::user_id.eq(user_id),
            webauthn_ceremonies::state.eq(state),
            webauthn_ceremonies::expires_at.eq(expires_at),
        ))
        .execute(conn)
}

/// Takes a ceremony of this kind (and user): it is deleted whether or not it is still valid,
/// so a challenge is answered at most once. `None` when unknown, expired, or someone else's.
pub fn take_ceremony(
    conn: &mut AnyConnection,
    id: &str,
    kind: &str,
    user_id: Option<&str>,
    now: i64,
) -> QueryResult<Option<String>> {
    let row: Option<(String, Option<String>, i64)> = webauthn_ceremonies::table
        .find(id)
        .filter(webauthn_ceremonies::kind.eq(kind))
        .select((webauthn_ceremonies::state, webauthn_ceremonies::user_id, webauthn_ceremonies::expires_at))
        .first(conn)
        .optional()?;
    let Some((state, owner, expires_at)) = row else { return Ok(None) };
    if owner.as_deref() != user_id {
        return Ok(None);
    }
    let taken = diesel::delete(webauthn_ceremonies::table.find(id)).execute(conn)?;
    Ok((taken == 1 && expires_at > now).then_some(state))
}

pub fn purge_ceremonies(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.le(now))).execute(conn)
}
