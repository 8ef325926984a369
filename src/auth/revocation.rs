//! Makes revoked access tokens fail on every instance that shares the database.
//!
//! Each access token names its session (`sid`) and the user's token version (`ver`). Before a
//! token is accepted, its session must be live and `ver` and `role` must match the database.
//! Lookups are cached per session for `MAX_STALENESS`, so an instance sees a revocation made by
//! another instance at most that late; revocations made by this instance evict at once.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::db::sessions::AccessState;

/// The longest a revocation made elsewhere can go unnoticed here.
pub const MAX_STALENESS: Duration = Duration::from_secs(1);
/// Beyond this many cached sessions, stale entries are swept on insert.
const SWEEP_ABOVE: usize = 50_000;

#[derive(Clone, Default)]
pub struct RevocationCache {
    entries: Arc<RwLock<HashMap<String, Entry>>>,
}

#[derive(Clone)]
struct Entry {
    fetched: Instant,
    user_id: String,
    state: Option<AccessState>,
}

impl RevocationCache {
    /// The cached state of a session, if it is fresh enough to trust.
    pub fn get(&self, session_id: &str) -> Option<Option<AccessState>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(session_id).filter(|e| e.fetched.elapsed() < MAX_STALENESS).map(|e| e.state.clone())
    }

    pub fn put(&self, session_id: &str, user_id: &str, state: Option<AccessState>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, e| e.fetched.elapsed() < MAX_STALENESS);
        }
        entries.insert(session_id.to_string(), Entry { fetched: Instant::now(), user_id: user_id.to_string(), state });
    }

    pub fn evict_session(&self, session_id: &str) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(session_id);
    }

    pub fn evict_user(&self, user_id: &str) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).retain(|_, e| e.user_id != user_id);
    }
}
