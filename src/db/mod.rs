//! Persistence: one connection type over SQLite or PostgreSQL, chosen from the URL scheme.
pub mod audit;
pub mod devices;
pub mod live_rotation;
pub mod mfa;
pub mod passkeys;
pub mod resets;
pub mod revocations;
pub mod schema;
pub mod sessions;
pub mod signing_keys;
pub mod status_lists;
pub mod tokens;
pub mod users;

mod pool;
mod writer;

pub use pool::{build_pool, run_migrations, Backend, DatabaseUrl, Pool};

use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;

/// The connection every query function takes; the variant is picked by `pool::AnyManager`.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Why a database call failed, as far as callers need to know.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database is unreachable")]
    Unavailable(#[source] diesel::r2d2::PoolError),
    /// Every connection stayed busy for the whole checkout timeout.
    #[error("no database connection became free in time")]
    Busy,
    /// The revocation feed found the database unreachable: requests fail at once.
    #[error("the database is known to be unreachable")]
    Down,
    /// The connection dropped under the query, or SQLite stayed locked past the busy timeout:
    /// the database failed, not the query.
    #[error("the database connection was lost or stayed locked")]
    Lost(#[source] diesel::result::Error),
    #[error(transparent)]
    Query(diesel::result::Error),
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        if is_outage(&e) {
            DbError::Lost(e)
        } else {
            DbError::Query(e)
        }
    }
}

/// Errors that mean the database is (for now) out of reach rather than the statement wrong.
fn is_outage(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => true,
        Error::DatabaseError(_, info) => {
            let message = info.message();
            // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout; PostgreSQL shutting the session down.
            message.contains("database is locked")
                || message.contains("database table is locked")
                || message.starts_with("terminating connection")
        }
        _ => false,
    }
}

/// Opens a transaction that holds the write lock from its first statement, so concurrent
/// writers queue on SQLite's busy timeout instead of failing on a read-to-write upgrade.
pub fn write_transaction<T, E>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::Connection;
    conn.transaction(|conn| {
        if let AnyConnection::Sqlite(lite) = conn {
            use diesel::RunQueryDsl;
            diesel::sql_query("UPDATE users SET id = id WHERE 0 = 1").execute(lite)?;
        }
        work(conn)
    })
}

/// Runs `work` in a write transaction: on SQLite by its one writer thread (see `writer.rs`),
/// on PostgreSQL, which locks rows rather than the database, on the blocking pool.
pub async fn write<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
{
    match pool.writer() {
        Some(_) if pool.is_down() => Err(E::from(DbError::Down)),
        Some(writer) => writer.write(work).await,
        None => run(pool, move |conn| write_transaction(conn, work)).await,
    }
}

/// Runs `work` with a pooled connection on the blocking pool, never on an async worker.
pub async fn run<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
{
    let pool = pool.clone();
    let asked = std::time::Instant::now();
    let turn = pool.wait_turn(asked).await?;
    // The blocking thread works inside the request's span, so its logs carry the request id.
    let span = tracing::debug_span!(parent: &tracing::Span::current(), "db");
    let outcome = actix_web::rt::task::spawn_blocking(move || {
        let _entered = span.enter();
        let _turn = turn;
        let mut conn = pool.checkout(asked)?;
        work(&mut conn)
    })
    .await;
    match outcome {
        Ok(result) => result,
        // A panic inside the closure is a bug, not something the client did.
        Err(join_error) => Err(E::from(DbError::Query(diesel::result::Error::QueryBuilderError(Box::new(
            std::io::Error::other(format!("database task failed: {join_error}")),
        ))))),
    }
}
