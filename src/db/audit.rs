//! Queries on `audit_events`: written in the same transaction as the change they record.
use diesel::prelude::*;

use super::schema::audit_events;
use super::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: String,
    pub at_us: i64,
    pub kind: String,
    pub user_id: Option<String>,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: String,
}

pub fn insert(conn: &mut AnyConnection, event: &AuditRow) -> QueryResult<()> {
    diesel::insert_into(audit_events::table).values(event).execute(conn).map(|_| ())
}

/// Newest first, optionally for one user and one kind.
pub fn page(
    conn: &mut AnyConnection,
    user_id: Option<&str>,
    kind: Option<&str>,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<AuditRow>> {
    let mut query = audit_events::table.select(AuditRow::as_select()).into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(audit_events::user_id.eq(user_id.to_string()));
    }
    if let Some(kind) = kind {
        query = query.filter(audit_events::kind.eq(kind.to_string()));
    }
    query.order((audit_events::at_us.desc(), audit_events::id.desc())).limit(limit).offset(offset).load(conn)
}

pub fn purge_older_than(conn: &mut AnyConnection, before_us: i64) -> QueryResult<usize> {
    diesel::delete(audit_events::table.filter(audit_events::at_us.lt(before_us))).execute(conn)
}
