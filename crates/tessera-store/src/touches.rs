//! Last-use writes (a session's `last_seen_at`, an API token's last use),
//! committed together.
//!
//! Every busy credential is touched about once a minute, and credentials
//! signed in together come due together. On SQLite each commit is an
//! fsync and one writer at a time holds the lock: touches that came due
//! together each took a pool connection and queued in SQLite's busy
//! handler, which sleeps in steps of 10 to 25 ms, holding connections that
//! every other request's reads needed. Traced on the who-am-I benchmark
//! (perf sched: database threads asleep for exactly 15 and 20 ms), that
//! was a 30 to 70 ms stall of the whole server once a minute.
//!
//! So one transaction at a time writes every touch queued meanwhile (group
//! commit), and touches never compete with each other for the lock. A
//! touch still returns only once its row is committed, with what its own
//! statement did. The writing runs on a task of its own, so a request
//! that is cancelled mid-write strands nobody else's touch.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tessera_core::apitoken::ApiTokenId;
use tessera_core::clock::Timestamp;
use tessera_core::ids::SessionId;
use tessera_core::store::StoreError;
use tokio::sync::oneshot;

/// One last-use write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// `last_seen_at = at`, unless the row already has a later one.
    Session { id: SessionId, at: Timestamp },
    /// `last_used_at = at` (and the address), unless the row's last use
    /// is after `cutoff`.
    Token {
        id: ApiTokenId,
        at: Timestamp,
        ip: Option<String>,
        cutoff: Timestamp,
    },
}

/// What a batch's writer answers: per touch, in order, whether its
/// statement changed its row.
pub type Written = Result<Vec<bool>, StoreError>;

type Waiter = oneshot::Sender<Result<bool, String>>;

/// Writes a batch of touches in one transaction.
type Writer =
    Arc<dyn Fn(Vec<Touch>) -> Pin<Box<dyn Future<Output = Written> + Send>> + Send + Sync>;

/// Touches waiting for the next commit, and how a commit is written.
pub struct GroupCommit {
    queue: Arc<Mutex<Queue>>,
    write: Writer,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(Touch, Waiter)>,
    /// Whether a writer task is running (it takes the queue until empty).
    writing: bool,
}

impl GroupCommit {
    /// Commits with `write`, which answers, per touch in order, whether
    /// its statement changed its row.
    pub fn new<W, F>(write: W) -> Self
    where
        W: Fn(Vec<Touch>) -> F + Send + Sync + 'static,
        F: Future<Output = Written> + Send + 'static,
    {
        GroupCommit {
            queue: Arc::default(),
            write: Arc::new(move |batch| Box::pin(write(batch))),
        }
    }

    /// Queues `touch` and waits for the commit that writes it, starting a
    /// writer task if none is running.
    pub async fn touch(&self, touch: Touch) -> Result<bool, StoreError> {
        let (done, written) = oneshot::channel();
        let start = {
            let mut q = self.queue.lock().map_err(|_| poisoned())?;
            q.waiting.push((touch, done));
            !std::mem::replace(&mut q.writing, true)
        };
        if start {
            tokio::spawn(run_writer(self.queue.clone(), self.write.clone()));
        }
        match written.await {
            Ok(Ok(changed)) => Ok(changed),
            Ok(Err(e)) => Err(StoreError::Unavailable(e)),
            Err(_) => Err(StoreError::Unavailable(
                "the last-use writer stopped before committing".into(),
            )),
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Other("the last-use queue is poisoned".into())
}

/// Writes batches until the queue is empty.
async fn run_writer(queue: Arc<Mutex<Queue>>, write: Writer) {
    // Should this task die (a panic in the writer), the next touch must
    // start a new one instead of waiting for it forever.
    let _stopped = StopGuard(queue.clone());
    loop {
        let batch = {
            let Ok(mut q) = queue.lock() else { return };
            if q.waiting.is_empty() {
                q.writing = false;
                return;
            }
            std::mem::take(&mut q.waiting)
        };
        let (touches, waiters): (Vec<Touch>, Vec<Waiter>) = batch.into_iter().unzip();
        let n = touches.len();
        let answers = match write(touches).await {
            Ok(changed) if changed.len() == n => changed.into_iter().map(Ok).collect(),
            Ok(changed) => vec![
                Err(format!(
                    "the writer answered {} of {n} touches",
                    changed.len()
                ));
                n
            ],
            Err(e) => vec![Err(e.to_string()); n],
        };
        for (w, answer) in waiters.into_iter().zip(answers) {
            let _ = w.send(answer);
        }
    }
}

struct StopGuard(Arc<Mutex<Queue>>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        if let Ok(mut q) = self.0.lock() {
            // Their senders drop here: those touches fail, not hang.
            q.waiting.clear();
            q.writing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn session(n: u128) -> Touch {
        Touch::Session {
            id: SessionId(uuid::Uuid::from_u128(n)),
            at: Timestamp(n as i64),
        }
    }

    /// Session 1's batch is one that `fails` (with an error or a panic);
    /// every other batch is written.
    fn one_bad_batch(fails: fn() -> Written) -> GroupCommit {
        GroupCommit::new(move |batch: Vec<Touch>| async move {
            if batch.contains(&session(1)) {
                return fails();
            }
            Ok(vec![true; batch.len()])
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn touches_that_arrive_together_share_commits_and_get_their_own_answers() {
        let commits = Arc::new(AtomicUsize::new(0));
        let counted = commits.clone();
        let group = Arc::new(GroupCommit::new(move |batch: Vec<Touch>| {
            let commits = counted.clone();
            async move {
                commits.fetch_add(1, Ordering::SeqCst);
                // A commit that takes a while, as an fsync does.
                tokio::time::sleep(Duration::from_millis(20)).await;
                // Odd sessions "already had a later use".
                Ok(batch
                    .iter()
                    .map(|t| matches!(t, Touch::Session { at, .. } if at.0 % 2 == 0))
                    .collect())
            }
        }));
        let tasks: Vec<_> = (0..64u128)
            .map(|n| {
                let group = group.clone();
                tokio::spawn(
                    async move { group.touch(session(n)).await.map(|changed| (n, changed)) },
                )
            })
            .collect();
        for t in tasks {
            let (n, changed) = t.await.unwrap().unwrap();
            assert_eq!(changed, n % 2 == 0, "touch {n} got another's answer");
        }
        let commits = commits.load(Ordering::SeqCst);
        assert!(
            (1..=8).contains(&commits),
            "64 touches arriving together took {commits} commits"
        );
    }

    #[tokio::test]
    async fn a_failed_commit_fails_its_touches_and_the_next_one_writes_again() {
        let group = one_bad_batch(|| Err(StoreError::Unavailable("disk full".into())));
        let failed = group.touch(session(1)).await;
        assert!(matches!(failed, Err(StoreError::Unavailable(m)) if m.contains("disk full")));
        let ok = group.touch(session(2)).await;
        assert!(matches!(ok, Ok(true)));
    }

    #[tokio::test]
    async fn a_writer_that_panics_strands_no_later_touch() {
        let group = one_bad_batch(|| panic!("writer bug"));
        let lost = group.touch(session(1)).await;
        assert!(lost.is_err());
        let ok = tokio::time::timeout(Duration::from_secs(5), group.touch(session(2)))
            .await
            .expect("a new writer started");
        assert!(matches!(ok, Ok(true)));
    }
}
