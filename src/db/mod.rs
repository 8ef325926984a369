//! Persistence: one connection type over SQLite or PostgreSQL, chosen from the URL scheme.
pub mod audit;
pub mod resets;
pub mod schema;
pub mod sessions;
pub mod tokens;
pub mod users;

mod pool;

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
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Runs `work` with a pooled connection on the blocking pool, never on an async worker.
pub async fn run<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
{
    let pool = pool.clone();
    let outcome = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(DbError::Unavailable)?;
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
