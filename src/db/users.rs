//! Queries on `users`.
use diesel::prelude::*;

use super::schema::users;
use super::AnyConnection;
use crate::domain::Role;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub token_version: i64,
    pub created_at: i64,
    pub failed_logins: i32,
    pub last_failed_login_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub username_key: &'a str,
    pub email: &'a str,
    pub email_key: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub token_version: i64,
    pub created_at: i64,
}

pub fn insert(conn: &mut AnyConnection, user: &NewUser<'_>) -> QueryResult<()> {
    diesel::insert_into(users::table).values(user).execute(conn).map(|_| ())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).first(conn).optional()
}

/// Looks a user up by the normalised key of a username or of an email.
pub fn find_by_login(conn: &mut AnyConnection, key: &str, is_email: bool) -> QueryResult<Option<UserRow>> {
    let query = users::table.select(UserRow::as_select()).into_boxed();
    let query =
        if is_email { query.filter(users::email_key.eq(key)) } else { query.filter(users::username_key.eq(key)) };
    query.first(conn).optional()
}

/// Which of the two unique keys are already taken.
pub fn taken(conn: &mut AnyConnection, username_key: &str, email_key: &str) -> QueryResult<(bool, bool)> {
    let username = users::table.filter(users::username_key.eq(username_key)).count().get_result::<i64>(conn)? > 0;
    let email = users::table.filter(users::email_key.eq(email_key)).count().get_result::<i64>(conn)? > 0;
    Ok((username, email))
}

/// Invalidates every access token issued so far by moving the user's token version on.
pub fn bump_token_version(conn: &mut AnyConnection, id: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::token_version.eq(users::token_version + 1)).execute(conn)
}

pub fn count(conn: &mut AnyConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// Escapes LIKE wildcards so a search prefix matches literally.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.to_ascii_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Users whose username or email starts with `prefix` (any case), by username.
pub fn search(conn: &mut AnyConnection, prefix: Option<&str>, limit: i64, offset: i64) -> QueryResult<Vec<UserRow>> {
    let mut query = users::table.select(UserRow::as_select()).into_boxed();
    if let Some(prefix) = prefix {
        let pattern = like_prefix(prefix);
        query = query.filter(
            users::username_key.like(pattern.clone()).escape('\\').or(users::email_key.like(pattern).escape('\\')),
        );
    }
    query.order(users::username_key).limit(limit).offset(offset).load(conn)
}

pub fn count_matching(conn: &mut AnyConnection, prefix: Option<&str>) -> QueryResult<i64> {
    let mut query = users::table.into_boxed();
    if let Some(prefix) = prefix {
        let pattern = like_prefix(prefix);
        query = query.filter(
            users::username_key.like(pattern.clone()).escape('\\').or(users::email_key.like(pattern).escape('\\')),
        );
    }
    query.count().get_result(conn)
}

pub fn set_role(conn: &mut AnyConnection, id: &str, role: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::role.eq(role)).execute(conn)
}

/// Locks every admin row (a no-op write) so two concurrent demotions cannot both see
/// "another admin remains" and leave none.
pub fn lock_admins(conn: &mut AnyConnection) -> QueryResult<usize> {
    diesel::update(users::table.filter(users::role.eq(Role::Admin.as_str())))
        .set(users::role.eq(users::role))
        .execute(conn)
}

pub fn count_admins(conn: &mut AnyConnection) -> QueryResult<i64> {
    users::table.filter(users::role.eq(Role::Admin.as_str())).count().get_result(conn)
}

/// Takes the row lock of a user (a no-op write) until the transaction ends, so that
/// read-then-write sequences on that user's rows take turns on PostgreSQL too.
pub fn lock(conn: &mut AnyConnection, id: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::id.eq(users::id)).execute(conn)
}

/// Counts a failed password attempt; returns the failures in a row so far.
pub fn record_failure(conn: &mut AnyConnection, id: &str, now: i64) -> QueryResult<i32> {
    diesel::update(users::table.find(id))
        .set((users::failed_logins.eq(users::failed_logins + 1), users::last_failed_login_at.eq(now)))
        .returning(users::failed_logins)
        .get_result(conn)
}

pub fn reset_failed_logins(conn: &mut AnyConnection, id: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::failed_logins.eq(0)).execute(conn)
}

pub fn set_password_hash(conn: &mut AnyConnection, id: &str, hash: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set((users::password_hash.eq(hash), users::failed_logins.eq(0))).execute(conn)
}

pub fn delete(conn: &mut AnyConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(users::table.find(id)).execute(conn)
}
