//! Queries on the second factors: TOTP factors, recovery codes and the `mfa_token` challenges.
use diesel::prelude::*;

use super::schema::{mfa_challenges, recovery_codes, totp_factors};
use super::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = totp_factors)]
pub struct TotpRow {
    pub user_id: String,
    pub secret_sealed: String,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
    pub created_at: i64,
}

pub fn totp(conn: &mut AnyConnection, user_id: &str) -> QueryResult<Option<TotpRow>> {
    totp_factors::table.find(user_id).select(TotpRow::as_select()).first(conn).optional()
}

/// Whether the user has a confirmed TOTP factor.
pub fn totp_enabled(conn: &mut AnyConnection, user_id: &str) -> QueryResult<bool> {
    Ok(totp(conn, user_id)?.is_some_and(|row| row.confirmed_at.is_some()))
}

/// A new pending secret, replacing any pending (never a confirmed) one.
pub fn put_pending_totp(conn: &mut AnyConnection, user_id: &str, sealed: &str, now: i64) -> QueryResult<()> {
    diesel::delete(totp_factors::table.find(user_id).filter(totp_factors::confirmed_at.is_null())).execute(conn)?;
    diesel::insert_into(totp_factors::table)
        .values((
            totp_factors::user_id.eq(user_id),
            totp_factors::secret_sealed.eq(sealed),
            totp_factors::last_step.eq(-1),
            totp_factors::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records `step` as used, if it is newer than the last one: `false` means a replay.
pub fn claim_step(conn: &mut AnyConnection, user_id: &str, step: i64) -> QueryResult<bool> {
    let claimed = diesel::update(totp_factors::table.find(user_id).filter(totp_factors::last_step.lt(step)))
        .set(totp_factors::last_step.eq(step))
        .execute(conn)?;
    Ok(claimed == 1)
}

pub fn confirm_totp(conn: &mut AnyConnection, user_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(totp_factors::table.find(user_id)).set(totp_factors::confirmed_at.eq(now)).execute(conn)
}

pub fn delete_totp(conn: &mut AnyConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(totp_factors::table.find(user_id)).execute(conn)
}

/// Replaces the user's recovery codes with these hashes.
pub fn replace_recovery_codes(conn: &mut AnyConnection, user_id: &str, hashes: &[String], now: i64) -> QueryResult<()> {
    delete_recovery_codes(conn, user_id)?;
    // One row at a time: batch inserts are not portable across the two backends.
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::code_hash.eq(hash),
                recovery_codes::user_id.eq(user_id),
                recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn delete_recovery_codes(conn: &mut AnyConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)
}

/// Spends an unused recovery code of this user: `false` when there is none with that hash.
pub fn use_recovery_code(conn: &mut AnyConnection, user_id: &str, hash: &str, now: i64) -> QueryResult<bool> {
    let used = diesel::update(
        recovery_codes::table
            .find(hash)
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(used == 1)
}

pub fn recovery_codes_left(conn: &mut AnyConnection, user_id: &str) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mfa_challenges)]
pub struct ChallengeRow {
    pub token_hash: String,
    pub user_id: String,
    pub device_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub fn insert_challenge(conn: &mut AnyConnection, row: &ChallengeRow) -> QueryResult<()> {
    diesel::insert_into(mfa_challenges::table)
        .values((
            mfa_challenges::token_hash.eq(&row.token_hash),
            mfa_challenges::user_id.eq(&row.user_id),
            mfa_challenges::device_id.eq(&row.device_id),
            mfa_challenges::created_at.eq(row.created_at),
            mfa_challenges::expires_at.eq(row.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A challenge that is neither spent nor expired.
pub fn live_challenge(conn: &mut AnyConnection, token_hash: &str, now: i64) -> QueryResult<Option<ChallengeRow>> {
    mfa_challenges::table
        .find(token_hash)
        .filter(mfa_challenges::used_at.is_null())
        .filter(mfa_challenges::expires_at.gt(now))
        .select(ChallengeRow::as_select())
        .first(conn)
        .optional()
}

/// Spends a live challenge: `false` if another request spent it first.
pub fn spend_challenge(conn: &mut AnyConnection, token_hash: &str, now: i64) -> QueryResult<bool> {
    let spent = diesel::update(mfa_challenges::table.find(token_hash).filter(mfa_challenges::used_at.is_null()))
        .set(mfa_challenges::used_at.eq(now))
        .execute(conn)?;
    Ok(spent == 1)
}

/// Every pending challenge of a user (their sessions ended, or their password changed).
pub fn delete_challenges(conn: &mut AnyConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id))).execute(conn)
}

/// Challenges that can no longer be used (`purge-expired`).
pub fn purge_challenges(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.le(now))).execute(conn)
}
