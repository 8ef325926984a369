//! Queries on `signing_keys`: the asymmetric keys every instance signs and verifies with.
use diesel::prelude::*;

use super::schema::signing_keys;
use super::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub private_sealed: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// The keys of `alg` that sign or may still verify: live, or retired at or after `since`.
pub fn usable(conn: &mut AnyConnection, alg: &str, since: i64) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .filter(signing_keys::alg.eq(alg))
        .filter(signing_keys::retired_at.is_null().or(signing_keys::retired_at.ge(since)))
        .order(signing_keys::created_at.desc())
        .select(SigningKeyRow::as_select())
        .load(conn)
}

pub fn find(conn: &mut AnyConnection, kid: &str) -> QueryResult<Option<SigningKeyRow>> {
    signing_keys::table.find(kid).select(SigningKeyRow::as_select()).first(conn).optional()
}

pub fn insert(conn: &mut AnyConnection, row: &SigningKeyRow) -> QueryResult<usize> {
    diesel::insert_into(signing_keys::table).values(row).execute(conn)
}

/// Retires the live keys of `alg`; returns how many.
pub fn retire_live(conn: &mut AnyConnection, alg: &str, now: i64) -> QueryResult<usize> {
    diesel::update(signing_keys::table.filter(signing_keys::alg.eq(alg)).filter(signing_keys::retired_at.is_null()))
        .set(signing_keys::retired_at.eq(now))
        .execute(conn)
}
