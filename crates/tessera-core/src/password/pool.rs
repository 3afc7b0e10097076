//! A bounded pool of threads for Argon2id.
//!
//! Hashing is CPU- and memory-heavy, so it never runs on the async runtime.
//! The pool has one thread per core and a short queue. When the queue is
//! full, [`HashPool`] refuses at once with [`CoreError::Overloaded`]: a
//! login flood then costs a quick 503, not memory or unbounded latency.

use super::Password;
use super::hasher::{HashError, PasswordHasher, Verification};
use crate::error::CoreError;
use crate::secrets::SecretSource;
use argon2::Block;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

enum Job {
    Hash {
        password: Password,
        salt: [u8; 16],
        reply: oneshot::Sender<Result<String, HashError>>,
    },
    Verify {
        stored: Arc<str>,
        password: Password,
        reply: oneshot::Sender<Result<Verification, HashError>>,
    },
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub workers: usize,
    pub queue_capacity: usize,
    /// Jobs accepted but not yet picked up by a worker.
    pub queued: usize,
    /// Jobs finished since start.
    pub completed: u64,
    /// Jobs refused because the queue was full.
    pub rejected: u64,
}

struct Counters {
    queued: AtomicUsize,
    completed: AtomicU64,
    rejected: AtomicU64,
}

/// How many hashing threads run, and how many jobs may wait for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    pub workers: usize,
    pub queue: usize,
}

impl PoolSize {
    /// Waiting jobs per worker unless set: a short queue, so a flood is
    /// refused quickly instead of waiting in memory.
    pub const QUEUE_PER_WORKER: usize = 4;

    /// `workers` threads, by default one per core, with room for `queue`
    /// waiting jobs, by default [`PoolSize::QUEUE_PER_WORKER`] per worker.
    pub fn new(workers: Option<usize>, queue: Option<usize>) -> PoolSize {
        let workers = workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        PoolSize {
            workers,
            queue: queue.unwrap_or(workers.saturating_mul(Self::QUEUE_PER_WORKER)),
        }
    }
}

impl Default for PoolSize {
    fn default() -> Self {
        PoolSize::new(None, None)
    }
}

pub struct HashPool {
    tx: SyncSender<Job>,
    counters: Arc<Counters>,
    workers: usize,
    queue_capacity: usize,
    secrets: Arc<dyn SecretSource>,
    /// A hash of a random password with the current parameters. Verifying
    /// against it makes an unknown account cost the same as a known one.
    dummy: Arc<str>,
}

impl HashPool {
    /// Starts `workers` threads with room for `queue` waiting jobs.
    pub fn start(
        hasher: PasswordHasher,
        workers: usize,
        queue: usize,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<Self, CoreError> {
        Self::start_with(hasher, workers, queue, secrets, None)
    }

    /// Like [`HashPool::start`], running `thread_init` first on each worker
    /// thread (the binary uses it to lower the threads' CPU priority, so a
    /// login flood cannot starve every other request).
    pub fn start_with(
        hasher: PasswordHasher,
        workers: usize,
        queue: usize,
        secrets: Arc<dyn SecretSource>,
        thread_init: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Result<Self, CoreError> {
        let workers = workers.max(1);
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(Counters {
            queued: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        for n in 0..workers {
            let rx = rx.clone();
            let hasher = hasher.clone();
            let counters = counters.clone();
            std::thread::Builder::new()
                .name(format!("tessera-hash-{n}"))
                .spawn({
                    let init = thread_init.clone();
                    move || {
                        if let Some(init) = init {
                            init();
                        }
                        worker(rx, hasher, counters)
                    }
                })
                .map_err(|e| CoreError::Internal(format!("cannot start hash worker: {e}")))?;
        }
        let mut salt = [0u8; 16];
        secrets.fill(&mut salt);
        let mut dummy_pw = [0u8; 24];
        secrets.fill(&mut dummy_pw);
        let dummy = hasher
            .hash(&mut Vec::new(), &dummy_pw, &salt)
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(HashPool {
            tx,
            counters,
            workers,
            queue_capacity: queue,
            secrets,
            dummy: dummy.into(),
        })
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            workers: self.workers,
            queue_capacity: self.queue_capacity,
            queued: self.counters.queued.load(Ordering::Relaxed),
            completed: self.counters.completed.load(Ordering::Relaxed),
            rejected: self.counters.rejected.load(Ordering::Relaxed),
        }
    }

    /// Hashes a new password with a fresh salt.
    pub async fn hash(&self, password: Password) -> Result<String, CoreError> {
        let mut salt = [0u8; 16];
        self.secrets.fill(&mut salt);
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Hash {
            password,
            salt,
            reply,
        })?;
        finish(rx.await)
    }

    /// Verifies `password` against `stored`, or against a dummy hash when
    /// there is no stored hash (unknown account, service account), so both
    /// cases take the same time. A missing hash never matches.
    pub async fn verify(
        &self,
        stored: Option<&str>,
        password: Password,
    ) -> Result<Verification, CoreError> {
        let (reply, rx) = oneshot::channel();
        let target: Arc<str> = match stored {
            Some(s) => s.into(),
            None => self.dummy.clone(),
        };
        self.submit(Job::Verify {
            stored: target,
            password,
            reply,
        })?;
        let v = finish(rx.await)?;
        Ok(match stored {
            Some(_) => v,
            None => Verification {
                matches: false,
                needs_rehash: false,
            },
        })
    }

    /// Refuses at once, counted like a refused job, when the queue of
    /// waiting jobs is full: a request that needs a hash now would be
    /// refused anyway, so it is refused before it costs anything else (a
    /// database read, say). A request that passes may still be refused by
    /// the queue itself.
    pub fn admit(&self) -> Result<(), CoreError> {
        if self.counters.queued.load(Ordering::Relaxed) >= self.queue_capacity {
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(CoreError::Overloaded {
                retry_after: Duration::from_secs(1),
            });
        }
        Ok(())
    }

    fn submit(&self, job: Job) -> Result<(), CoreError> {
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                Err(CoreError::Overloaded {
                    retry_after: Duration::from_secs(1),
                })
            }
        }
    }
}

fn finish<T>(r: Result<Result<T, HashError>, oneshot::error::RecvError>) -> Result<T, CoreError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CoreError::Internal(e.to_string())),
        Err(_) => Err(CoreError::Internal("hash worker stopped".into())),
    }
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>, hasher: PasswordHasher, counters: Arc<Counters>) {
    // This thread's Argon2 memory, reused for every job it runs.
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return, // pool dropped
            }
        };
        counters.queued.fetch_sub(1, Ordering::Relaxed);
        match job {
            Job::Hash {
                password,
                salt,
                reply,
            } => {
                let r = hasher.hash(&mut memory, password.expose().as_bytes(), &salt);
                counters.completed.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(r);
            }
            Job::Verify {
                stored,
                password,
                reply,
            } => {
                let r = hasher.verify(&mut memory, &stored, password.expose().as_bytes());
                // Counted before replying, so a caller that has its answer
                // also sees the count.
                counters.completed.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::Argon2Config;
    use crate::secrets::OsSecrets;

    #[test]
    fn size_defaults_to_one_worker_per_core_and_four_waiting_jobs_each() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(
            PoolSize::default(),
            PoolSize {
                workers: cores,
                queue: 4 * cores
            }
        );
        // The queue follows the workers actually set.
        assert_eq!(PoolSize::new(Some(3), None).queue, 12);
        assert_eq!(PoolSize::new(None, Some(7)).queue, 7);
    }

    fn pool(workers: usize, queue: usize) -> HashPool {
        let h = PasswordHasher::new(Argon2Config {
            memory_kib: 8192,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        HashPool::start(h, workers, queue, Arc::new(OsSecrets)).unwrap()
    }

    #[tokio::test]
    async fn hashes_and_verifies() {
        let p = pool(1, 4);
        let h = p.hash(Password::new("a long password")).await.unwrap();
        assert!(
            p.verify(Some(&h), Password::new("a long password"))
                .await
                .unwrap()
                .matches
        );
        assert!(
            !p.verify(Some(&h), Password::new("another"))
                .await
                .unwrap()
                .matches
        );
        // No stored hash: still a real hash, never a match.
        let before = p.stats().completed;
        assert!(!p.verify(None, Password::new("x")).await.unwrap().matches);
        assert_eq!(p.stats().completed, before + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_at_once_when_full() {
        let p = Arc::new(pool(1, 2));
        let mut tasks = Vec::new();
        for _ in 0..30 {
            let p = p.clone();
            tasks.push(tokio::spawn(
                async move { p.hash(Password::new("pw")).await },
            ));
        }
        let mut ok = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(CoreError::Overloaded { .. }) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(ok >= 1, "ok={ok}");
        assert!(
            busy >= 20,
            "busy={busy}: the queue did not bound admissions"
        );
        assert_eq!(p.stats().rejected, busy);
        assert_eq!(p.stats().queued, 0);
    }
}
