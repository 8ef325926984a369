//! Queries on `revocation_events`: written in the transaction of the change they announce,
//! read by every instance after the last id it has seen.
use diesel::prelude::*;

use super::schema::{revocation_cursor, revocation_events};
use super::AnyConnection;

/// Why access tokens stop being accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// One session ended (logout, revocation, refresh-token reuse, other sessions after a
    /// password change).
    SessionEnded { session_id: String },
    /// The user's token version moved on (logout-all, password reset, role change): tokens
    /// carrying an older version are refused. The role is recorded for the reader of the log.
    UserChanged { token_version: i64, role: String },
    /// The account is gone.
    UserDeleted,
    /// A status entry of a session that lives on became invalid (its tokens carried a role
    /// that changed); the session moved to a new entry.
    StatusInvalidated,
    /// A status list was opened: every instance can serve it (and name it in the server
    /// metadata) without asking the database. Stored with the list's id and its size in
    /// `status_list` / `status_idx`, and no user.
    ListOpened { list_id: String, size: i64 },
    /// `rotate-keys` changed the signing keys: every instance reloads them.
    KeysRotated,
}

const LIST_OPENED: &str = "list_opened";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = revocation_events)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub token_version: Option<i64>,
    pub role: Option<String>,
    pub status_list: Option<String>,
    pub status_idx: Option<i64>,
}

impl EventRow {
    /// The status-list entry this event invalidates, if any.
    pub fn status_entry(&self) -> Option<super::status_lists::Entry> {
        if self.kind == LIST_OPENED {
            return None;
        }
        Some(super::status_lists::Entry { list_id: self.status_list.clone()?, idx: self.status_idx? })
    }

    pub fn change(&self) -> Option<Change> {
        match self.kind.as_str() {
            "session_ended" => Some(Change::SessionEnded { session_id: self.session_id.clone()? }),
            "user_changed" => {
                Some(Change::UserChanged { token_version: self.token_version?, role: self.role.clone()? })
            }
            "user_deleted" => Some(Change::UserDeleted),
            "status_invalidated" => Some(Change::StatusInvalidated),
            "keys_rotated" => Some(Change::KeysRotated),
            LIST_OPENED => Some(Change::ListOpened { list_id: self.status_list.clone()?, size: self.status_idx? }),
            _ => None,
        }
    }
}

/// Appends an event inside the caller's transaction. The cursor row's lock is held until the
/// transaction ends, so events commit in id order; on PostgreSQL the commit also wakes every
/// listening instance.
pub fn record(
    conn: &mut AnyConnection,
    user_id: &str,
    change: &Change,
    status: Option<&super::status_lists::Entry>,
    now: i64,
) -> QueryResult<()> {
    let id: i64 = diesel::update(revocation_cursor::table.find(1))
        .set(revocation_cursor::last_id.eq(revocation_cursor::last_id + 1))
        .returning(revocation_cursor::last_id)
        .get_result(conn)?;
    let (kind, session_id, token_version, role) = match change {
        Change::SessionEnded { session_id } => ("session_ended", Some(session_id.as_str()), None, None),
        Change::UserChanged { token_version, role } => {
            ("user_changed", None, Some(*token_version), Some(role.as_str()))
        }
        Change::UserDeleted => ("user_deleted", None, None, None),
        Change::StatusInvalidated => ("status_invalidated", None, None, None),
        Change::ListOpened { .. } => (LIST_OPENED, None, None, None),
        Change::KeysRotated => ("keys_rotated", None, None, None),
    };
    let status = match change {
        Change::ListOpened { list_id, size } => Some((list_id.as_str(), *size)),
        _ => status.map(|s| (s.list_id.as_str(), s.idx)),
    };
    diesel::insert_into(revocation_events::table)
        .values((
            revocation_events::id.eq(id),
            revocation_events::at.eq(now),
            revocation_events::kind.eq(kind),
            revocation_events::user_id.eq(user_id),
            revocation_events::session_id.eq(session_id),
            revocation_events::token_version.eq(token_version),
            revocation_events::role.eq(role),
            revocation_events::status_list.eq(status.map(|(list, _)| list)),
            revocation_events::status_idx.eq(status.map(|(_, idx)| idx)),
        ))
        .execute(conn)?;
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(pg)?;
    }
    Ok(())
}

/// Announces a user's current token version and role (after a bump or a role change).
pub fn record_user_state(conn: &mut AnyConnection, user_id: &str, now: i64) -> QueryResult<()> {
    use super::schema::users;
    let (token_version, role): (i64, String) =
        users::table.find(user_id).select((users::token_version, users::role)).first(conn)?;
    record(conn, user_id, &Change::UserChanged { token_version, role }, None, now)
}

/// Announces that sessions ended, and invalidates their status entries.
pub fn record_sessions_ended(
    conn: &mut AnyConnection,
    user_id: &str,
    sessions: &[String],
    now: i64,
) -> QueryResult<()> {
    for session in super::sessions::by_ids(conn, sessions)? {
        let status = session.status_entry();
        if let Some(entry) = &status {
            super::status_lists::invalidate(conn, entry, now)?;
        }
        record(conn, user_id, &Change::SessionEnded { session_id: session.id }, status.as_ref(), now)?;
    }
    Ok(())
}

/// After a role change: every live session of the user moves to a fresh status entry, and the
/// old ones (named by the tokens that carry the old role) turn invalid.
pub fn record_status_moves(conn: &mut AnyConnection, user_id: &str, list_size: i64, now: i64) -> QueryResult<()> {
    for session in super::sessions::live_of_user(conn, user_id)? {
        if let Some(old) = session.status_entry() {
            super::status_lists::invalidate(conn, &old, now)?;
            record(conn, user_id, &Change::StatusInvalidated, Some(&old), now)?;
        }
        let fresh = super::status_lists::allocate(conn, list_size, now)?;
        super::sessions::set_status(conn, &session.id, &fresh)?;
    }
    Ok(())
}

/// The PostgreSQL channel the commits of events are announced on.
pub const CHANNEL: &str = "portcullis_revocations";

/// Events after `last_id`, oldest first.
pub fn after(conn: &mut AnyConnection, last_id: i64, limit: i64) -> QueryResult<Vec<EventRow>> {
    revocation_events::table
        .filter(revocation_events::id.gt(last_id))
        .order(revocation_events::id)
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
}

/// Events recorded at or after `since` (what a starting instance must know), and the last id.
pub fn since(conn: &mut AnyConnection, since: i64) -> QueryResult<(Vec<EventRow>, i64)> {
    let last_id: i64 = revocation_cursor::table.find(1).select(revocation_cursor::last_id).first(conn)?;
    let rows = revocation_events::table
        .filter(revocation_events::at.ge(since))
        .filter(revocation_events::id.le(last_id))
        .order(revocation_events::id)
        .select(EventRow::as_select())
        .load(conn)?;
    Ok((rows, last_id))
}

/// Events no unexpired token can be affected by any more (`purge-expired`).
pub fn purge_before(conn: &mut AnyConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(revocation_events::table.filter(revocation_events::at.lt(before))).execute(conn)
}
