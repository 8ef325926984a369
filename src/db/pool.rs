//! The r2d2 pool: the backend is chosen from the URL scheme, never by trying each in turn.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::ManageConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::AnyConnection;

/// One portable migration set: the schema uses only types and statements both backends share.
const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The r2d2 pool, with what the rest of the server needs to know about the database: whether
/// it is known to be down (so requests fail fast instead of waiting on checkouts), and how many
/// checkouts there have been (tests prove that hot routes make none).
#[derive(Clone)]
pub struct Pool {
    connections: diesel::r2d2::Pool<AnyManager>,
    health: Arc<Health>,
    url: DatabaseUrl,
    /// SQLite's one writer (see `writer.rs`); PostgreSQL writes through the pool.
    writer: Option<Arc<super::writer::Writer>>,
    /// One permit per connection, handed out first come, first served: r2d2's own wait wakes
    /// waiters in no particular order, which under load left a few requests waiting far longer
    /// than the rest (and each waiter held a blocking thread while it waited).
    turns: Arc<tokio::sync::Semaphore>,
}

#[derive(Default)]
struct Health {
    down: AtomicBool,
    checkouts: AtomicU64,
    /// When the revocation feed last heard from the database (Unix ms; 0 = no feed running).
    feed_heard_at_ms: AtomicU64,
    /// The silence was logged (once per stall).
    silence_logged: AtomicBool,
}

/// A feed that has not heard from the database for this long means the database stopped
/// answering (a stall, not a refusal): requests fail at once instead of hanging on it.
const FEED_SILENCE_MS: u64 = 3000;

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Connections kept open while nothing happens.
const IDLE_CONNECTIONS: u32 = 2;

/// How long a request may wait for a connection while the database is believed up.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Waits are sliced so that a request notices within this long that the database went down.
const CHECKOUT_SLICE: Duration = Duration::from_millis(200);

impl Pool {
    /// A connection, or `Unavailable` at once when the database is known to be down, or
    /// within `CHECKOUT_SLICE` of it being found down while waiting.
    /// `started` is when the caller asked (its wait for a turn counts).
    pub fn checkout(
        &self,
        started: std::time::Instant,
    ) -> Result<diesel::r2d2::PooledConnection<AnyManager>, super::DbError> {
        loop {
            if self.is_down() {
                return Err(super::DbError::Down);
            }
            match self.connections.get_timeout(CHECKOUT_SLICE) {
                Ok(conn) => {
                    self.health.checkouts.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::pool_checkout(started.elapsed());
                    return Ok(conn);
                }
                Err(e) if started.elapsed() >= CHECKOUT_TIMEOUT => return Err(super::DbError::Unavailable(e)),
                Err(_) => continue,
            }
        }
    }

    /// Waits, in arrival order, until a connection is free for this caller; the permit goes
    /// with the work to the blocking thread. Gives up when the database is found down or after
    /// `CHECKOUT_TIMEOUT`.
    pub async fn wait_turn(
        &self,
        started: std::time::Instant,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, super::DbError> {
        // One acquire future for the whole wait: dropping it would give up its place in line.
        let acquire = self.turns.clone().acquire_owned();
        tokio::pin!(acquire);
        loop {
            if self.is_down() {
                return Err(super::DbError::Down);
            }
            tokio::select! {
                permit = &mut acquire => return permit.map_err(|_| super::DbError::Busy),
                _ = tokio::time::sleep(CHECKOUT_SLICE) => {
                    if started.elapsed() >= CHECKOUT_TIMEOUT {
                        return Err(super::DbError::Busy);
                    }
                }
            }
        }
    }

    pub fn is_down(&self) -> bool {
        let heard = self.health.feed_heard_at_ms.load(Ordering::Relaxed);
        let silent = heard > 0 && unix_ms().saturating_sub(heard) > FEED_SILENCE_MS;
        if silent && !self.health.silence_logged.swap(true, Ordering::Relaxed) {
            tracing::error!(silent_ms = FEED_SILENCE_MS, "the database stopped answering; database routes answer 503");
        }
        self.health.down.load(Ordering::Relaxed) || silent
    }

    /// How long since the revocation feed last heard from the database (zero without a feed).
    pub fn feed_silence(&self) -> std::time::Duration {
        let heard = self.health.feed_heard_at_ms.load(Ordering::Relaxed);
        if heard == 0 {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_millis(unix_ms().saturating_sub(heard))
    }

    /// Connections `(in use, idle)`.
    pub fn usage(&self) -> (u32, u32) {
        let state = self.connections.state();
        (state.connections.saturating_sub(state.idle_connections), state.idle_connections)
    }

    /// The feed heard from the database just now.
    pub fn heard_from_database(&self) {
        self.health.feed_heard_at_ms.store(unix_ms(), Ordering::Relaxed);
        if self.health.silence_logged.swap(false, Ordering::Relaxed) {
            tracing::info!("the database answers again");
        }
    }

    /// Set by the revocation feed, which talks to the database all the time.
    pub fn set_down(&self, down: bool) {
        self.health.down.store(down, Ordering::Relaxed);
    }

    /// Connections handed out so far.
    pub fn checkouts(&self) -> u64 {
        self.health.checkouts.load(Ordering::Relaxed)
    }

    pub fn backend(&self) -> Backend {
        self.url.backend
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub(super) fn writer(&self) -> Option<&super::writer::Writer> {
        self.writer.as_deref()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A validated `DATABASE_URL`: which backend, and what to hand its driver.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// For SQLite a file path (or a shared in-memory URI); for PostgreSQL the URL itself.
    target: String,
}

/// A PostgreSQL URL may carry a password: debug output names the backend only.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            if rest.is_empty() {
                return Err("sqlite:// needs a path, e.g. sqlite://portcullis.db".into());
            }
            let target = if rest == ":memory:" {
                // One shared in-memory database for the whole pool, alive while a connection is.
                format!("file:portcullis-{}?mode=memory&cache=shared", crate::ids::new_id())
            } else {
                rest.to_string()
            };
            Ok(Self { backend: Backend::Sqlite, target })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self { backend: Backend::Postgres, target: url.to_string() })
        } else {
            Err("must start with sqlite:// or postgres://".into())
        }
    }

    /// The PostgreSQL URL with client-side limits, so that an unreachable server or a dead
    /// network breaks a connection in seconds instead of the kernel's minutes: connecting
    /// takes at most 2 s, and unacknowledged data or a silent peer ends it after about 10 s.
    fn with_network_timeouts(&self) -> String {
        let sep = if self.target.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}connect_timeout=2&keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=2&tcp_user_timeout=10000",
            self.target
        )
    }

    pub fn is_in_memory(&self) -> bool {
        self.backend == Backend::Sqlite && self.target.contains("mode=memory")
    }
}

/// r2d2 manager that opens exactly the backend the URL names and keeps the driver's error.
#[derive(Debug)]
pub struct AnyManager {
    url: DatabaseUrl,
}

impl ManageConnection for AnyManager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match self.url.backend {
            Backend::Postgres => diesel::PgConnection::establish(&self.url.with_network_timeouts())
                .map(AnyConnection::Postgresql)
                .map_err(diesel::r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.url.target)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout makes writers queue
                // instead of failing; SQLite leaves foreign keys off unless asked.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        diesel::sql_query("SELECT 1").execute(conn).map(|_| ()).map_err(diesel::r2d2::Error::QueryError)
    }

    /// Diesel's own check: a connection whose holder panicked, or that is still inside a
    /// transaction or has a broken transaction manager, is discarded rather than reused.
    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

pub fn build_pool(url: &DatabaseUrl, size: u32) -> anyhow::Result<Pool> {
    // Connections open as load asks for them (each costs memory: a PostgreSQL backend, a SQLite
    // page cache), and a couple stay open when idle. That couple also keeps a shared in-memory
    // SQLite database alive, which vanishes with its last connection.
    let builder = diesel::r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(IDLE_CONNECTIONS.min(size)))
        .connection_timeout(CHECKOUT_TIMEOUT);
    let connections = builder.build(AnyManager { url: url.clone() })?;
    let writer = match url.backend {
        Backend::Sqlite => Some(Arc::new(super::writer::Writer::start(url.clone())?)),
        Backend::Postgres => None,
    };
    let turns = Arc::new(tokio::sync::Semaphore::new(size as usize));
    Ok(Pool { connections, health: Arc::default(), url: url.clone(), writer, turns })
}

impl DatabaseUrl {
    /// A connection set up as the pool's are, outside it (SQLite's writer).
    pub(super) fn open_pooled(&self) -> Result<AnyConnection, diesel::r2d2::Error> {
        AnyManager { url: self.clone() }.connect()
    }

    /// A connection of its own, outside the pool (the revocation feed's).
    pub fn connect(&self) -> diesel::ConnectionResult<AnyConnection> {
        match self.backend {
            // Fail fast when the server is unreachable: the feed is also the outage detector.
            Backend::Postgres => {
                diesel::PgConnection::establish(&self.with_network_timeouts()).map(AnyConnection::Postgresql)
            }
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.target)?;
                let _ = conn.batch_execute("PRAGMA busy_timeout = 1000;");
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

/// Applies pending migrations of the pool's backend; returns how many ran.
pub fn run_migrations(conn: &mut AnyConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        AnyConnection::Postgresql(pg) => pg.run_pending_migrations(MIGRATIONS),
        AnyConnection::Sqlite(lite) => lite.run_pending_migrations(MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("failed to apply migrations: {e}"))?;
    Ok(applied.len())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use super::{build_pool, DatabaseUrl};

    #[tokio::test]
    async fn turns_are_handed_out_in_arrival_order() {
        let path = std::env::temp_dir().join(format!("portcullis-turns-{}.db", crate::ids::new_id()));
        let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        let pool = build_pool(&url, 1).unwrap();
        let held = pool.wait_turn(Instant::now()).await.unwrap();
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for arrival in 0..6 {
            let (pool, served) = (pool.clone(), served.clone());
            waiters.push(tokio::spawn(async move {
                let turn = pool.wait_turn(Instant::now()).await.unwrap();
                served.lock().unwrap().push(arrival);
                tokio::time::sleep(Duration::from_millis(2)).await;
                drop(turn);
            }));
            // Arrivals a little apart, so that their order is well defined.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(held);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(*served.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
