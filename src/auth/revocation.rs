//! Revocation state held in memory on every instance and pushed through the database.
//!
//! Every change that makes access tokens fail (a session ended, a user's token version or role
//! moved on, an account deleted) appends a row to `revocation_events` in its own transaction.
//! Each instance loads the events that can still matter when it starts and then follows the
//! stream from the last id it has seen: its feed thread reads new events every 50 ms on SQLite
//! (several processes can share the file) and at once on PostgreSQL, woken by `LISTEN/NOTIFY`
//! (with a read every second as a safety net). The instance that makes a change reads the
//! stream before it answers, so its own revocations apply immediately.
//!
//! Checking an access token is then a read of this state: no database query, whatever the
//! number of sessions. An entry is forgotten once no unexpired token can match it: a token
//! lives at most `JWT_EXPIRATION` (+ `JWT_LEEWAY`) after it was issued, and every token issued
//! after an event already carries the new state.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use super::tokens::AccessClaims;
use crate::clock;
use crate::db::revocations::{self, Change, EventRow};
use crate::db::{AnyConnection, DatabaseUrl, Pool};

/// The longest a revocation made on another instance goes unnoticed here (the README's bound;
/// measured: tens of milliseconds on PostgreSQL, under 100 ms on SQLite).
pub const MAX_STALENESS: Duration = Duration::from_secs(1);
/// Events read per query while catching up.
const BATCH: i64 = 1000;
/// How often SQLite instances read the stream (no notifications there).
const SQLITE_POLL: Duration = Duration::from_millis(50);
/// How often PostgreSQL instances look for a notification (a local read of the socket).
const PG_NOTIFICATION_POLL: Duration = Duration::from_millis(5);
/// A read of the stream at least this often, notifications or not (and the health check).
const SAFETY_READ: Duration = Duration::from_secs(1);
/// The wait before reconnecting while the database is unreachable.
const RETRY: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

struct Inner {
    state: RwLock<State>,
    /// The last event id applied; locked while reading the stream so catch-ups do not interleave.
    cursor: Mutex<i64>,
    /// How long after an event a token issued before it can still be unexpired.
    window: i64,
    /// Set when the server stops: the feed thread ends.
    stopped: std::sync::atomic::AtomicBool,
    /// Called (on the feed's connection) after a `keys_rotated` event: reloads the signing keys.
    on_keys_rotated: RwLock<Option<KeysHook>>,
}

type KeysHook = Arc<dyn Fn(&mut AnyConnection) + Send + Sync>;

#[derive(Default)]
struct State {
    /// Ended sessions, until when they can matter.
    sessions: HashMap<String, i64>,
    users: HashMap<String, UserMark>,
    /// The Token Status Lists: one bit per entry, 1 = invalid.
    lists: HashMap<String, StatusBits>,
}

/// A status list's bits (bit `i % 8`, least significant first, of byte `i / 8`), and a
/// version that moves on whenever a bit is set (so the signed list is rebuilt only then).
#[derive(Clone, Default)]
pub struct StatusBits {
    pub bytes: Vec<u8>,
    pub version: u64,
}

impl StatusBits {
    fn with_size(size: i64) -> Self {
        StatusBits { bytes: vec![0; (size.max(8) as usize).div_ceil(8)], version: 0 }
    }

    fn set(&mut self, idx: i64) {
        let Ok(idx) = usize::try_from(idx) else { return };
        if self.bytes.len() <= idx / 8 {
            self.bytes.resize(idx / 8 + 1, 0);
        }
        if self.bytes[idx / 8] & (1 << (idx % 8)) == 0 {
            self.bytes[idx / 8] |= 1 << (idx % 8);
            self.version += 1;
        }
    }
}

struct UserMark {
    token_version: i64,
    deleted: bool,
    forget_after: i64,
}

impl Revocations {
    pub fn new(jwt_expiration: i64, leeway: u64) -> Self {
        let window = jwt_expiration + leeway as i64 + 1;
        Revocations {
            inner: Arc::new(Inner {
                state: RwLock::default(),
                cursor: Mutex::new(0),
                window,
                stopped: Default::default(),
                on_keys_rotated: RwLock::new(None),
            }),
        }
    }

    /// Whether the state admits a token with valid signature and expiry.
    pub fn admits(&self, claims: &AccessClaims) -> bool {
        let state = self.inner.state.read().unwrap_or_else(|p| p.into_inner());
        if state.sessions.contains_key(&claims.sid) {
            return false;
        }
        match state.users.get(&claims.sub) {
            None => true,
            Some(mark) => {
                // A role change moves the token version on too, so the version alone decides:
                // a token signed after a change this instance has not read yet carries a newer
                // version and is admitted, and a demotion undone later cannot revive a token.
                !mark.deleted && claims.ver >= mark.token_version
            }
        }
    }

    /// Loads what a starting instance must know: the events of the last window, and the lists
    /// with every invalid entry.
    pub fn load(&self, conn: &mut AnyConnection) -> diesel::QueryResult<usize> {
        let mut cursor = self.inner.cursor.lock().unwrap_or_else(|p| p.into_inner());
        let since = clock::now() - self.inner.window;
        let (rows, last_id) = revocations::since(conn, since)?;
        // Sessions ended recently also count when no event says so (ended before this version
        // of the server recorded events).
        let recently_revoked = crate::db::sessions::revoked_since(conn, since)?;
        let lists = crate::db::status_lists::lists(conn)?;
        let invalid = crate::db::status_lists::invalid_entries(conn)?;
        {
            let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
            for (id, size) in lists {
                state.lists.entry(id).or_insert_with(|| StatusBits::with_size(size));
            }
            for (id, idx) in invalid {
                state.lists.entry(id).or_default().set(idx);
            }
            for (session_id, revoked_at) in recently_revoked {
                state.sessions.insert(session_id, revoked_at + self.inner.window);
            }
        }
        self.apply(&rows);
        *cursor = last_id;
        Ok(rows.len())
    }

    /// A status list's bits, if this instance knows the list.
    pub fn status_list(&self, id: &str) -> Option<StatusBits> {
        self.inner.state.read().unwrap_or_else(|p| p.into_inner()).lists.get(id).cloned()
    }

    /// The lists this instance knows, by id.
    pub fn list_ids(&self) -> Vec<String> {
        let state = self.inner.state.read().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<String> = state.lists.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Registers a list another instance opened (known to exist in the database).
    pub fn know_list(&self, id: &str, size: i64) -> StatusBits {
        let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
        state.lists.entry(id.to_string()).or_insert_with(|| StatusBits::with_size(size)).clone()
    }

    /// What to run when the signing keys were rotated (by `rotate-keys`, anywhere).
    pub fn on_keys_rotated(&self, hook: impl Fn(&mut AnyConnection) + Send + Sync + 'static) {
        *self.inner.on_keys_rotated.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(hook));
    }

    /// Applies the events after the last one seen; returns how many there were.
    pub fn catch_up(&self, conn: &mut AnyConnection) -> diesel::QueryResult<usize> {
        let mut cursor = self.inner.cursor.lock().unwrap_or_else(|p| p.into_inner());
        let mut applied = 0;
        loop {
            let rows = revocations::after(conn, *cursor, BATCH)?;
            let Some(last) = rows.last() else { return Ok(applied) };
            *cursor = last.id;
            applied += rows.len();
            self.apply(&rows);
            if rows.iter().any(|row| matches!(row.change(), Some(Change::KeysRotated))) {
                let hook = self.inner.on_keys_rotated.read().unwrap_or_else(|p| p.into_inner()).clone();
                if let Some(hook) = hook {
                    hook(conn);
                }
            }
            if (rows.len() as i64) < BATCH {
                return Ok(applied);
            }
        }
    }

    fn apply(&self, rows: &[EventRow]) {
        let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
        for row in rows {
            let forget_after = row.at + self.inner.window;
            if let Some(entry) = row.status_entry() {
                state.lists.entry(entry.list_id).or_default().set(entry.idx);
            }
            let Some(change) = row.change() else { continue };
            match change {
                Change::SessionEnded { session_id } => {
                    let until = state.sessions.entry(session_id).or_insert(forget_after);
                    *until = (*until).max(forget_after);
                    continue;
                }
                // Only the status list changes: portcullis itself refuses those tokens by version.
                Change::StatusInvalidated => continue,
                Change::ListOpened { list_id, size } => {
                    state.lists.entry(list_id).or_insert_with(|| StatusBits::with_size(size));
                    continue;
                }
                Change::KeysRotated => continue,
                Change::UserChanged { .. } | Change::UserDeleted => {}
            }
            let mark = state.users.entry(row.user_id.clone()).or_insert(UserMark {
                token_version: 0,
                deleted: false,
                forget_after,
            });
            mark.forget_after = mark.forget_after.max(forget_after);
            match change {
                Change::UserChanged { token_version, .. } => {
                    mark.token_version = mark.token_version.max(token_version);
                }
                Change::UserDeleted => mark.deleted = true,
                Change::SessionEnded { .. }
                | Change::StatusInvalidated
                | Change::ListOpened { .. }
                | Change::KeysRotated => {
                    unreachable!("handled above")
                }
            }
        }
    }

    /// Forgets what no unexpired token can match any more.
    pub fn prune(&self) {
        let now = clock::now();
        let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
        state.sessions.retain(|_, until| *until >= now);
        state.users.retain(|_, mark| mark.forget_after >= now);
    }

    /// Entries held (sessions and users), for the bound's test and metrics.
    pub fn entries(&self) -> usize {
        let state = self.inner.state.read().unwrap_or_else(|p| p.into_inner());
        state.sessions.len() + state.users.len()
    }

    /// Ends the feed thread (the server stopped).
    pub fn stop_following(&self) {
        self.inner.stopped.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Starts the thread that follows the stream until the server stops or this state is dropped.
    pub fn follow(&self, pool: &Pool) {
        let weak = Arc::downgrade(&self.inner);
        let (pool, url) = (pool.clone(), pool.url().clone());
        let spawned = std::thread::Builder::new()
            .name("revocation-feed".into())
            .spawn(move || Feed { weak, pool, url, conn: None, down_since: None }.run());
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the revocation feed");
        }
    }
}

/// The feed thread: one connection of its own, outside the pool.
struct Feed {
    weak: Weak<Inner>,
    pool: Pool,
    url: DatabaseUrl,
    conn: Option<AnyConnection>,
    down_since: Option<Instant>,
}

impl Feed {
    fn run(mut self) {
        let mut last_read = Instant::now();
        let mut last_prune = Instant::now();
        loop {
            let Some(inner) = self.weak.upgrade() else { return };
            if inner.stopped.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let revocations = Revocations { inner };
            let due = last_read.elapsed() >= SAFETY_READ || self.notified();
            let is_pg = matches!(self.conn, Some(AnyConnection::Postgresql(_)));
            if due || !is_pg {
                match self.read(&revocations) {
                    Ok(()) => last_read = Instant::now(),
                    Err(e) => self.went_down(&e),
                }
            }
            if last_prune.elapsed() >= SAFETY_READ {
                revocations.prune();
                last_prune = Instant::now();
            }
            drop(revocations);
            let pause = match (&self.conn, self.down_since) {
                (_, Some(_)) => RETRY,
                (Some(AnyConnection::Postgresql(_)), None) => PG_NOTIFICATION_POLL,
                _ => SQLITE_POLL,
            };
            std::thread::sleep(pause);
        }
    }

    /// Whether PostgreSQL announced new events (a broken connection counts, to force a read).
    fn notified(&mut self) -> bool {
        let Some(AnyConnection::Postgresql(pg)) = &mut self.conn else { return false };
        let (mut any, mut broken) = (false, false);
        for notification in pg.notifications_iter() {
            match notification {
                Ok(_) => any = true,
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        if broken {
            self.conn = None;
        }
        any || broken
    }

    fn read(&mut self, revocations: &Revocations) -> Result<(), String> {
        if self.conn.is_none() {
            let mut conn = self.url.connect().map_err(|e| e.to_string())?;
            if let AnyConnection::Postgresql(pg) = &mut conn {
                use diesel::RunQueryDsl;
                diesel::sql_query(format!("LISTEN {}", revocations::CHANNEL)).execute(pg).map_err(|e| e.to_string())?;
            }
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("connected above");
        match revocations.catch_up(conn) {
            Ok(applied) => {
                self.pool.heard_from_database();
                if let Some(since) = self.down_since.take() {
                    self.pool.set_down(false);
                    tracing::warn!(
                        stale_for_ms = since.elapsed().as_millis() as u64,
                        events_replayed = applied,
                        "database reachable again; revocation state caught up"
                    );
                }
                Ok(())
            }
            Err(e) => {
                self.conn = None;
                Err(e.to_string())
            }
        }
    }

    fn went_down(&mut self, error: &str) {
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            self.pool.set_down(true);
            tracing::error!(error, "database unreachable: accepting access tokens on the last known revocation state");
        }
    }
}
