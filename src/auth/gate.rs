//! Admission of password attempts, so that the throttle is exact under parallel requests
//! without counting attempts in flight as failures.
//!
//! An attempt is judged by the failures already recorded for its subject (an account, or a
//! trusted device of it). Attempts may run in parallel as long as they could not change each
//! other's verdict: while `recorded failures + attempts in flight < FREE_ATTEMPTS`, even if
//! every one in flight failed, the next would still be free. Past that point an attempt waits
//! until the ones in flight have finished and is then judged on what they recorded. So eight
//! correct passwords at once all pass, and twenty guesses at once run exactly five bcrypts.
//! The gate is per instance; across instances, the database's counts still apply.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::throttle::FREE_ATTEMPTS;
use super::AuthError;

/// Failures recorded for a subject: how many in a row, and when the last one was.
pub type Failures = (i32, Option<i64>);

#[derive(Clone, Default)]
pub struct AttemptGate {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    subjects: Mutex<HashMap<String, Entry>>,
    finished: Notify,
}

/// One subject's attempts on this instance; kept while any is running or being judged.
#[derive(Default)]
struct Entry {
    running: i32,
    judging: i32,
    /// Moves on whenever an attempt finishes: a verdict read before that is stale.
    finished_count: u64,
}

/// An admitted attempt; dropping it (after its outcome is recorded) lets waiting ones in.
pub struct Admitted {
    inner: Arc<Inner>,
    key: String,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.inner.update(&self.key, |entry| {
            entry.running -= 1;
            entry.finished_count += 1;
        });
        self.inner.finished.notify_waiters();
    }
}

impl Inner {
    /// Changes a subject's entry under the lock, dropping it once nothing refers to it.
    fn update<T>(&self, key: &str, change: impl FnOnce(&mut Entry) -> T) -> T {
        let mut subjects = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        let entry = subjects.entry(key.to_string()).or_default();
        let outcome = change(entry);
        if entry.running <= 0 && entry.judging <= 0 {
            subjects.remove(key);
        }
        outcome
    }
}

impl AttemptGate {
    /// Admits an attempt on `key`, or refuses it with the wait the throttle imposes.
    /// `recorded` reads the subject's failures (from the database) each time it is judged.
    pub async fn admit<F, Fut>(&self, key: &str, mut recorded: F) -> Result<Admitted, AuthError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Failures, AuthError>>,
    {
        loop {
            // Registered before looking, so a release between the look and the wait is not missed.
            let finished = self.inner.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            let seen = self.inner.update(key, |entry| {
                entry.judging += 1;
                entry.finished_count
            });
            let read = recorded().await;
            let admitted = self.inner.update(key, |entry| {
                entry.judging -= 1;
                let (failures, _) = read.as_ref().ok()?;
                let fresh = entry.finished_count == seen;
                let harmless = entry.running == 0 || failures.saturating_add(entry.running) < FREE_ATTEMPTS;
                (fresh && harmless).then(|| entry.running += 1)
            });
            let (failures, last_failure_at) = match read {
                Ok(recorded) => recorded,
                Err(e) => {
                    if admitted.is_some() {
                        drop(Admitted { inner: self.inner.clone(), key: key.to_string() });
                    }
                    return Err(e);
                }
            };
            let slot = admitted.map(|()| Admitted { inner: self.inner.clone(), key: key.to_string() });
            if let Some(wait) = super::throttle::wait_secs(failures, last_failure_at, crate::clock::now()) {
                return Err(AuthError::RateLimited(wait));
            }
            if let Some(slot) = slot {
                return Ok(slot);
            }
            // A stale read is judged again at once; otherwise wait for an attempt to finish (a
            // bcrypt takes well under the timeout, which only guards against a lost wake-up).
            if self.inner.update(key, |entry| entry.finished_count != seen) {
                continue;
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), finished).await;
        }
    }

    /// Subjects with attempts running or being judged on this instance (bounded by traffic).
    pub fn tracked_subjects(&self) -> usize {
        self.inner.subjects.lock().map(|m| m.len()).unwrap_or(0)
    }
}
