//! Queries on `sessions`: one row per sign-in.
use diesel::prelude::*;

use super::schema::{refresh_tokens, sessions, users};
use super::users::UserRow;
use super::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub user_agent: String,
    pub ip: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub absolute_expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The session's Token Status List entry (`""`/-1 for sessions from before status lists).
    pub status_list: String,
    pub status_idx: i64,
    /// The user agent in words (`device::describe`), computed when the session opened.
    pub device: String,
}

impl SessionRow {
    pub fn status_entry(&self) -> Option<super::status_lists::Entry> {
        (self.status_idx >= 0)
            .then(|| super::status_lists::Entry { list_id: self.status_list.clone(), idx: self.status_idx })
    }
}

impl SessionRow {
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now && self.absolute_expires_at > now
    }
}

pub fn insert(conn: &mut AnyConnection, session: &SessionRow) -> QueryResult<()> {
    diesel::insert_into(sessions::table).values(session).execute(conn).map(|_| ())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<SessionRow>> {
    sessions::table.find(id).select(SessionRow::as_select()).first(conn).optional()
}

/// A session with its user, in one query.
pub fn find_with_user(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<(SessionRow, UserRow)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(id))
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()
}

/// The user's sessions that can still be refreshed, most recently used first.
pub fn live_for_user(conn: &mut AnyConnection, user_id: &str, now: i64) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::absolute_expires_at.gt(now))
        .order((sessions::last_used_at.desc(), sessions::id))
        .select(SessionRow::as_select())
        .load(conn)
}

/// Takes the row lock of the session a refresh token belongs to (a no-op write). Every
/// transaction that changes a session locks it before its tokens, so they cannot deadlock.
pub fn lock_for_token(conn: &mut AnyConnection, token_hash: &str) -> QueryResult<usize> {
    let owner =
        refresh_tokens::table.filter(refresh_tokens::token_hash.eq(token_hash)).select(refresh_tokens::session_id);
    diesel::update(sessions::table.filter(sessions::id.eq_any(owner)))
        .set(sessions::last_used_at.eq(sessions::last_used_at))
        .execute(conn)
}

pub fn touch(conn: &mut AnyConnection, id: &str, now: i64, expires_at: i64) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id))
        .set((sessions::last_used_at.eq(now), sessions::expires_at.eq(expires_at)))
        .execute(conn)
}

/// Marks one session revoked; returns whether it was live.
pub fn revoke(conn: &mut AnyConnection, id: &str, now: i64) -> QueryResult<bool> {
    diesel::update(sessions::table.find(id).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(now))
        .execute(conn)
        .map(|n| n > 0)
}

/// Revokes every session of a user; returns the ids that were live.
pub fn revoke_all_for_user(conn: &mut AnyConnection, user_id: &str, now: i64) -> QueryResult<Vec<String>> {
    let ids: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .select(sessions::id)
        .load(conn)?;
    diesel::update(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
    Ok(ids)
}

/// Deletes sessions that ended (revoked or expired) before `before`; their tokens go with them.
pub fn purge_ended(conn: &mut AnyConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(
        sessions::table.filter(
            sessions::revoked_at
                .lt(before)
                .or(sessions::expires_at.lt(before))
                .or(sessions::absolute_expires_at.lt(before)),
        ),
    )
    .execute(conn)
}

/// Revokes every session of a user but one; returns the ids that were live.
pub fn revoke_others(conn: &mut AnyConnection, user_id: &str, keep: &str, now: i64) -> QueryResult<Vec<String>> {
    let others = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::id.ne(keep))
        .filter(sessions::revoked_at.is_null());
    let ids: Vec<String> = others.select(sessions::id).load(conn)?;
    diesel::update(others).set(sessions::revoked_at.eq(now)).execute(conn)?;
    Ok(ids)
}

/// Sessions revoked at or after `since`: `(id, revoked_at)`.
pub fn revoked_since(conn: &mut AnyConnection, since: i64) -> QueryResult<Vec<(String, i64)>> {
    sessions::table
        .filter(sessions::revoked_at.ge(since))
        .select((sessions::id, sessions::revoked_at.assume_not_null()))
        .load(conn)
}

/// Moves a session to a new status entry (after its old one was invalidated).
pub fn set_status(conn: &mut AnyConnection, id: &str, entry: &super::status_lists::Entry) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id))
        .set((sessions::status_list.eq(&entry.list_id), sessions::status_idx.eq(entry.idx)))
        .execute(conn)
}

/// The live sessions of a user (id and status entry).
pub fn live_of_user(conn: &mut AnyConnection, user_id: &str) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .select(SessionRow::as_select())
        .load(conn)
}

/// Sessions by id.
pub fn by_ids(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<Vec<SessionRow>> {
    sessions::table.filter(sessions::id.eq_any(ids)).select(SessionRow::as_select()).load(conn)
}
