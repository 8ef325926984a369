//! Queries on `status_lists` and `status_entries`: where each session's Token Status List
//! entry lives, and which entries are invalid.
use diesel::prelude::*;
use rand::Rng;

use super::schema::{status_entries, status_lists};
use super::AnyConnection;

/// A session's entry: the list and the index in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub list_id: String,
    pub idx: i64,
}

/// Allocates a random, unused index in the newest list with room, opening a list when all are
/// full. The list row's lock (the `allocated` update) makes allocations in one list take turns,
/// so two sessions never draw the same index.
pub fn allocate(conn: &mut AnyConnection, size: i64, now: i64) -> QueryResult<Entry> {
    let list_id = match current_list(conn)? {
        Some(id) => id,
        None => open_list(conn, size, now)?,
    };
    let claimed =
        diesel::update(status_lists::table.find(&list_id).filter(status_lists::allocated.lt(status_lists::size)))
            .set(status_lists::allocated.eq(status_lists::allocated + 1))
            .returning(status_lists::size)
            .get_result::<i64>(conn)
            .optional()?;
    let (list_id, list_size) = match claimed {
        Some(list_size) => (list_id, list_size),
        // Filled up meanwhile: a fresh list.
        None => {
            let id = open_list(conn, size, now)?;
            diesel::update(status_lists::table.find(&id))
                .set(status_lists::allocated.eq(status_lists::allocated + 1))
                .execute(conn)?;
            (id, size)
        }
    };
    loop {
        let idx = rand::rng().random_range(0..list_size);
        let taken = status_entries::table.find((&list_id, idx)).count().get_result::<i64>(conn)? > 0;
        if !taken {
            diesel::insert_into(status_entries::table)
                .values((status_entries::list_id.eq(&list_id), status_entries::idx.eq(idx)))
                .execute(conn)?;
            return Ok(Entry { list_id, idx });
        }
    }
}

fn current_list(conn: &mut AnyConnection) -> QueryResult<Option<String>> {
    status_lists::table
        .filter(status_lists::allocated.lt(status_lists::size))
        .order(status_lists::created_at.desc())
        .select(status_lists::id)
        .first(conn)
        .optional()
}

fn open_list(conn: &mut AnyConnection, size: i64, now: i64) -> QueryResult<String> {
    let id = crate::ids::new_id();
    diesel::insert_into(status_lists::table)
        .values((status_lists::id.eq(&id), status_lists::size.eq(size), status_lists::created_at.eq(now)))
        .execute(conn)?;
    let opened = super::revocations::Change::ListOpened { list_id: id.clone(), size };
    super::revocations::record(conn, "", &opened, None, now)?;
    Ok(id)
}

/// Marks an entry invalid (its tokens are refused from now on).
pub fn invalidate(conn: &mut AnyConnection, entry: &Entry, now: i64) -> QueryResult<usize> {
    diesel::update(status_entries::table.find((&entry.list_id, entry.idx)).filter(status_entries::invalid_at.is_null()))
        .set(status_entries::invalid_at.eq(now))
        .execute(conn)
}

/// Every invalid entry (what a starting instance loads), with each list's size.
pub fn invalid_entries(conn: &mut AnyConnection) -> QueryResult<Vec<(String, i64)>> {
    status_entries::table
        .filter(status_entries::invalid_at.is_not_null())
        .select((status_entries::list_id, status_entries::idx))
        .load(conn)
}

/// The lists and their sizes.
pub fn lists(conn: &mut AnyConnection) -> QueryResult<Vec<(String, i64)>> {
    status_lists::table.order(status_lists::created_at).select((status_lists::id, status_lists::size)).load(conn)
}

/// The size of one list, if it exists.
pub fn size_of(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<i64>> {
    status_lists::table.find(id).select(status_lists::size).first(conn).optional()
}
