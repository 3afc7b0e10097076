//! One database read at a time per credential on a cache miss.
//!
//! When a busy credential is not cached (the node just started, the entry
//! expired while its client was quiet, or it was evicted), every request
//! of the next moment misses together: hundreds of identical reads queue
//! for the pool's few connections, and every other request waits behind
//! them. Measured at the start of each who-am-I benchmark round, that
//! stampede made up much of the round's slowest percent.
//!
//! So the first miss for a key *leads*: it reads and fills the cache.
//! Misses for the same key while it reads *follow*: they wait for the
//! leader to finish and then look in the cache again. A follower never
//! takes the leader's answer itself, only what the cache holds, so the
//! cache's promise is kept unchanged: a fill that raced a revocation was
//! refused, and a follower that finds nothing reads for itself (without
//! waiting again, so no chain of waits forms). A leader that is dropped
//! mid-read (its request was cancelled) releases its followers the same
//! way.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// The reads in flight, by key (a credential's hash).
#[derive(Default)]
pub struct FillGate {
    in_flight: Mutex<HashMap<Vec<u8>, watch::Receiver<()>>>,
}

/// What a miss should do.
pub enum Turn<'a> {
    /// Read the database and fill the cache; followers are released when
    /// this is dropped.
    Lead(Leading<'a>),
    /// Wait for the read in flight, then look in the cache again.
    Follow(Following),
}

/// The one read in flight for a key.
pub struct Leading<'a> {
    gate: &'a FillGate,
    key: Vec<u8>,
    // Dropped after the key is gone from the map (see `Drop`): every
    // follower that found the key then sees the channel close.
    _done: watch::Sender<()>,
}

/// A miss waiting for another's read.
pub struct Following(watch::Receiver<()>);

impl FillGate {
    /// Leads if no read for `key` is in flight, else follows it.
    pub fn enter(&self, key: &[u8]) -> Turn<'_> {
        let Ok(mut in_flight) = self.in_flight.lock() else {
            // A poisoned map: every miss reads for itself, as before the
            // gate existed. Correct, only slower.
            return Turn::Lead(Leading::unregistered(self, key));
        };
        if let Some(running) = in_flight.get(key) {
            return Turn::Follow(Following(running.clone()));
        }
        let (done, running) = watch::channel(());
        in_flight.insert(key.to_vec(), running);
        Turn::Lead(Leading {
            gate: self,
            key: key.to_vec(),
            _done: done,
        })
    }

    /// Reads in flight.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight.lock().map(|m| m.len()).unwrap_or(0)
    }
}

impl<'a> Leading<'a> {
    fn unregistered(gate: &'a FillGate, key: &[u8]) -> Self {
        let (done, _) = watch::channel(());
        Leading {
            gate,
            key: key.to_vec(),
            _done: done,
        }
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.gate.in_flight.lock() {
            in_flight.remove(&self.key);
        }
    }
}

impl Following {
    /// Returns once the leader has finished (filled or not) or was dropped.
    pub async fn finished(mut self) {
        // The leader never sends: the only event is its sender closing,
        // which `changed` reports as an error, also when it closed before
        // this call.
        while self.0.changed().await.is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A cache of one key in front of a counted, slow "database".
    #[derive(Default)]
    struct Looked {
        gate: FillGate,
        cached: Mutex<Option<u32>>,
        reads: AtomicUsize,
    }

    impl Looked {
        async fn lookup(&self, fill: bool) -> u32 {
            if let Some(v) = *self.cached.lock().unwrap() {
                return v;
            }
            let _leading = match self.gate.enter(b"key") {
                Turn::Follow(wait) => {
                    wait.finished().await;
                    if let Some(v) = *self.cached.lock().unwrap() {
                        return v;
                    }
                    None
                }
                Turn::Lead(l) => Some(l),
            };
            self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            if fill {
                *self.cached.lock().unwrap() = Some(7);
            }
            7
        }
    }

    /// `n` lookups of one key at once (each leader storing what it read
    /// if `fill`), every one answered; what they did.
    async fn lookups_at_once(n: usize, fill: bool) -> Arc<Looked> {
        let looked = Arc::new(Looked::default());
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let l = looked.clone();
                tokio::spawn(async move { l.lookup(fill).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
        looked
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_misses_for_one_key_read_once() {
        let looked = lookups_at_once(64, true).await;
        assert_eq!(looked.reads.load(Ordering::SeqCst), 1);
        assert_eq!(looked.gate.in_flight(), 0, "the leader left the map");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn followers_of_a_refused_fill_read_for_themselves_once_each() {
        let looked = lookups_at_once(16, false).await;
        // Nothing was cached: each lookup read once, whether it led or
        // followed (a follower waits once, never for a second leader).
        assert_eq!(looked.reads.load(Ordering::SeqCst), 16);
        assert_eq!(looked.gate.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let gate = FillGate::default();
        let Turn::Lead(leader) = gate.enter(b"k") else {
            panic!("the first miss leads");
        };
        let Turn::Follow(follower) = gate.enter(b"k") else {
            panic!("the second miss follows");
        };
        assert!(
            matches!(gate.enter(b"other"), Turn::Lead(_)),
            "keys are apart"
        );
        drop(leader);
        tokio::time::timeout(Duration::from_secs(5), follower.finished())
            .await
            .expect("released");
        assert!(
            matches!(gate.enter(b"k"), Turn::Lead(_)),
            "the next miss leads"
        );
    }
}
