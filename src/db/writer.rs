//! SQLite's writer: one thread, one connection, every write transaction of this process.
//!
//! SQLite lets one transaction write at a time. Left to the busy timeout, concurrent writers
//! sleep and retry (whoever retries at the right moment wins, so a few wait for seconds under
//! load), and even queued fairly each one costs a hand-off between threads and a commit. Here
//! writes queue in arrival order and the thread runs whatever has queued in one transaction,
//! each write inside a savepoint of its own: a write that fails is rolled back alone, the
//! others commit together, and nobody hears an answer before its write is committed. When a
//! savepoint cannot be taken, released or rolled back (SQLite may have rolled the whole
//! transaction back on its own: a full disk, an I/O error), or a write panics, the batch stops
//! there: what ran is rolled back, what did not run is not run, and all of it is answered
//! "not committed".
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use diesel::connection::SimpleConnection;

use super::{write_transaction, AnyConnection, DatabaseUrl, DbError};

/// Writes committed together at most (a bound on how long the first of them waits).
const MAX_BATCH: usize = 64;

/// One write: runs in the batch's transaction, says whether it succeeded (its savepoint is
/// kept) and how to answer once the batch ended.
type Job = Box<dyn FnOnce(&mut AnyConnection) -> (bool, Answer) + Send>;
/// Answers the caller: with its own result, or with the batch's failure to commit.
type Answer = Box<dyn FnOnce(Option<&diesel::result::Error>) + Send>;

/// The queue to the writer thread; the thread ends when the last handle is dropped.
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    pub(super) fn start(url: DatabaseUrl) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || serve(&url, &queue))?;
        Ok(Self { jobs })
    }

    pub(super) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    {
        let (reply, replied) = tokio::sync::oneshot::channel::<Result<T, E>>();
        // The write runs inside the request's span, so its logs carry the request id.
        let span = tracing::debug_span!(parent: &tracing::Span::current(), "db");
        let job: Job = Box::new(move |conn| {
            let result = span.in_scope(|| work(conn));
            let succeeded = result.is_ok();
            let answer: Answer = Box::new(move |batch_failure| {
                let answer = match batch_failure {
                    None => result,
                    Some(_) => Err(E::from(not_committed())),
                };
                let _ = reply.send(answer);
            });
            (succeeded, answer)
        });
        self.jobs.send(job).map_err(|_| E::from(not_committed()))?;
        // Dropped unanswered only if the thread died: the write did not happen.
        replied.await.unwrap_or_else(|_| Err(E::from(not_committed())))
    }
}

fn not_committed() -> DbError {
    DbError::Lost(diesel::result::Error::BrokenTransactionManager)
}

fn serve(url: &DatabaseUrl, queue: &mpsc::Receiver<Job>) {
    let mut conn: Option<AnyConnection> = None;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let connection = match conn.as_mut() {
            Some(connection) => connection,
            None => match url.open_pooled() {
                Ok(opened) => conn.insert(opened),
                Err(e) => {
                    // Dropped unrun, the writes are answered as not committed (see `write`).
                    tracing::error!(error = %e, "the SQLite writer cannot open the database");
                    continue;
                }
            },
        };
        let mut answers = Vec::with_capacity(batch.len());
        let mut panicked = false;
        let committed = write_transaction(connection, |connection| {
            for job in batch {
                let Some(answer) = run_in_savepoint(connection, job, &mut panicked)? else { break };
                answers.push(answer);
            }
            if panicked {
                return Err(diesel::result::Error::RollbackTransaction);
            }
            Ok(())
        });
        if let Err(e) = &committed {
            tracing::error!(error = %e, writes = answers.len(), panicked, "a batch of SQLite writes was not committed");
            // After a panic the connection's state is unknown: closing it rolls back.
            if panicked || diesel::r2d2::R2D2Connection::is_broken(connection) {
                conn = None;
            }
        }
        answers.into_iter().for_each(|answer| answer(committed.as_ref().err()));
    }
}

/// Runs one job in a savepoint of its own: kept when the job succeeded, rolled back when it
/// failed. `Ok(None)` when the job panicked (its caller hears "not committed" as its answer is
/// dropped); `Err` when the savepoint itself failed: the batch's transaction cannot be trusted.
fn run_in_savepoint(
    conn: &mut AnyConnection,
    job: Job,
    panicked: &mut bool,
) -> Result<Option<Answer>, diesel::result::Error> {
    conn.batch_execute("SAVEPOINT write")?;
    let Ok((succeeded, answer)) = catch_unwind(AssertUnwindSafe(|| job(conn))) else {
        *panicked = true;
        return Ok(None);
    };
    if succeeded {
        conn.batch_execute("RELEASE write")?;
    } else {
        conn.batch_execute("ROLLBACK TO write; RELEASE write")?;
    }
    Ok(Some(answer))
}
