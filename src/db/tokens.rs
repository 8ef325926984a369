//! Queries on `refresh_tokens`: hashes only, with their rotation state.
use diesel::prelude::*;

use super::schema::refresh_tokens;
use super::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    pub id: String,
    pub session_id: String,
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub fn insert(conn: &mut AnyConnection, token: &RefreshTokenRow) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table).values(token).execute(conn).map(|_| ())
}

pub fn find_by_hash(conn: &mut AnyConnection, hash: &str) -> QueryResult<Option<RefreshTokenRow>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .optional()
}

/// Claims a live token for rotation: the compare-and-set that lets exactly one of many
/// concurrent refreshes win, returning the claimed row (`None`: not claimable). It is a write,
/// so on SQLite it also takes the write lock first.
pub fn claim(conn: &mut AnyConnection, hash: &str, now: i64) -> QueryResult<Option<RefreshTokenRow>> {
    // RETURNING is not available through the multi-backend connection: built for each backend.
    macro_rules! claim_query {
        () => {
            diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(hash))
                    .filter(refresh_tokens::used_at.is_null())
                    .filter(refresh_tokens::revoked_at.is_null())
                    .filter(refresh_tokens::expires_at.gt(now)),
            )
            .set(refresh_tokens::used_at.eq(now))
            .returning(RefreshTokenRow::as_returning())
        };
    }
    match conn {
        AnyConnection::Postgresql(pg) => claim_query!().get_result(pg).optional(),
        AnyConnection::Sqlite(lite) => claim_query!().get_result(lite).optional(),
    }
}

pub fn revoke_for_session(conn: &mut AnyConnection, session_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::session_id.eq(session_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

pub fn revoke_for_sessions(conn: &mut AnyConnection, session_ids: &[String], now: i64) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::session_id.eq_any(session_ids))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

/// Deletes tokens past their expiry and tokens revoked before `revoked_before`.
pub fn purge(conn: &mut AnyConnection, now: i64, revoked_before: i64) -> QueryResult<usize> {
    diesel::delete(
        refresh_tokens::table
            .filter(refresh_tokens::expires_at.lt(now).or(refresh_tokens::revoked_at.lt(revoked_before))),
    )
    .execute(conn)
}
