//! Queries on `password_resets`.
use diesel::prelude::*;

use super::schema::password_resets;
use super::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = password_resets)]
pub struct ResetRow {
    pub id: String,
    pub user_id: String,
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Retires every unused token of a user (a newer request supersedes them).
pub fn supersede(conn: &mut AnyConnection, user_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        password_resets::table.filter(password_resets::user_id.eq(user_id)).filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(now))
    .execute(conn)
}

pub fn insert(conn: &mut AnyConnection, reset: &ResetRow) -> QueryResult<()> {
    diesel::insert_into(password_resets::table).values(reset).execute(conn).map(|_| ())
}

/// Whether a token exists, unused and unexpired (a cheap check before any bcrypt).
pub fn is_live(conn: &mut AnyConnection, token_hash: &str, now: i64) -> QueryResult<bool> {
    let live = password_resets::table
        .filter(password_resets::token_hash.eq(token_hash))
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(now))
        .count()
        .get_result::<i64>(conn)?;
    Ok(live > 0)
}

/// Spends a live token: returns its user if it existed, was unused and unexpired.
pub fn redeem(conn: &mut AnyConnection, token_hash: &str, now: i64) -> QueryResult<Option<String>> {
    let live = password_resets::table
        .filter(password_resets::token_hash.eq(token_hash))
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(now));
    let user_id: Option<String> = live.select(password_resets::user_id).first(conn).optional()?;
    let spent = diesel::update(live).set(password_resets::used_at.eq(now)).execute(conn)?;
    Ok(user_id.filter(|_| spent == 1))
}

pub fn purge(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(password_resets::table.filter(password_resets::expires_at.lt(now))).execute(conn)
}
