//! bcrypt, on threads of its own: a hash at cost 12 takes ~250 ms of one core.
//!
//! One thread per core, at a low CPU priority: a storm of sign-ins keeps every core busy with
//! bcrypt, and at the default priority the threads serving tokens would queue behind it (a
//! 0.4 ms `/api/me` became 8 ms at p99). At nice 10 the scheduler runs them first, yet bcrypt
//! keeps about a tenth of a busy machine (nice 19 would leave it ~1.5 %, and a flood of cheap
//! requests could then starve sign-ins); with nothing else to do, sign-ins get every core.
//! A job whose caller has gone (the client hung up) is skipped, not hashed.
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError(#[source] anyhow::Error);

/// Hashes and verifies passwords at the configured cost; keeps a dummy hash so that an
/// unknown user costs the same time as a wrong password.
#[derive(Clone)]
pub struct Hasher {
    cost: u32,
    dummy_hash: Arc<String>,
    pool: HashPool,
}

impl Hasher {
    pub fn new(cost: u32) -> Result<Self, HashError> {
        let dummy = bcrypt::hash(crate::ids::random_b64(24), cost).map_err(|e| HashError(e.into()))?;
        Ok(Self { cost, dummy_hash: Arc::new(dummy), pool: HashPool::start()? })
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        let password = password.clone();
        let cost = self.cost;
        // Passwords are held to 72 bytes before this point; `hash` only drops the NUL terminator.
        self.pool.run(move || bcrypt::hash(password.expose_secret(), cost).map_err(|e| HashError(e.into()))).await
    }

    /// Verifies against `hash`, or against the dummy hash when there is no user.
    pub async fn verify(&self, password: &SecretString, hash: Option<String>) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_str().to_string());
        let password = password.clone();
        let matches = self
            .pool
            .run(move || {
                // A malformed stored hash counts as a mismatch rather than an error the client sees.
                Ok(bcrypt::verify(password.expose_secret(), &hash).unwrap_or(false))
            })
            .await?;
        Ok(known && matches)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The bcrypt threads' niceness (0 is the default, 19 the lowest priority).
#[cfg(target_os = "linux")]
const BCRYPT_NICE: libc::c_int = 10;

/// The bcrypt threads and their queue; the threads end when the last `Hasher` clone is dropped.
#[derive(Clone)]
struct HashPool {
    jobs: mpsc::Sender<Job>,
}

impl HashPool {
    fn start() -> Result<Self, HashError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || {
                    lowest_priority();
                    loop {
                        // The lock is held only while taking a job, never while running it.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job loses its answer (its caller gets an error), not the thread.
                            Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashError(e.into()))?;
        }
        Ok(Self { jobs })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if !answer.is_closed() {
                let _ = answer.send(work());
            }
        });
        self.jobs.send(job).map_err(|_| HashError(anyhow::anyhow!("the bcrypt threads are gone")))?;
        answered.await.map_err(|_| HashError(anyhow::anyhow!("a bcrypt job failed")))?
    }
}

/// Nice 10 for the calling thread (on Linux `setpriority` with `who = 0` is per thread).
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, BCRYPT_NICE);
    }
}
