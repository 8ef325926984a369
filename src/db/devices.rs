//! Queries on `login_devices`: the per-device sign-in throttle of trusted devices.
use diesel::prelude::*;

use super::schema::login_devices;
use super::AnyConnection;

/// Failures of one trusted device against one account: `(failed_logins, last_failed_login_at)`.
pub fn failures(conn: &mut AnyConnection, device_id: &str, user_id: &str) -> QueryResult<Option<(i32, Option<i64>)>> {
    login_devices::table
        .find((device_id, user_id))
        .select((login_devices::failed_logins, login_devices::last_failed_login_at))
        .first(conn)
        .optional()
}

/// Counts a failure of a trusted device; returns the new count.
pub fn record_failure(conn: &mut AnyConnection, device_id: &str, user_id: &str, now: i64) -> QueryResult<i32> {
    diesel::update(login_devices::table.find((device_id, user_id)))
        .set((
            login_devices::failed_logins.eq(login_devices::failed_logins + 1),
            login_devices::last_failed_login_at.eq(now),
        ))
        .returning(login_devices::failed_logins)
        .get_result(conn)
}

/// Trusts a device for an account after a correct password (or clears its failures).
pub fn trust(conn: &mut AnyConnection, device_id: &str, user_id: &str, now: i64) -> QueryResult<()> {
    let updated = diesel::update(login_devices::table.find((device_id, user_id)))
        .set((login_devices::failed_logins.eq(0), login_devices::last_login_at.eq(now)))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(login_devices::table)
            .values((
                login_devices::id.eq(device_id),
                login_devices::user_id.eq(user_id),
                login_devices::failed_logins.eq(0),
                login_devices::created_at.eq(now),
                login_devices::last_login_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Devices unused for longer than `idle_secs` are forgotten (`purge-expired`).
pub fn purge(conn: &mut AnyConnection, now: i64, idle_secs: i64) -> QueryResult<usize> {
    diesel::delete(login_devices::table.filter(login_devices::last_login_at.lt(now - idle_secs))).execute(conn)
}
