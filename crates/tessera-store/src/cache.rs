//! A short-lived cache of who-am-I lookups.
//!
//! Every relying product asks "who is this?" on every request; most of
//! those questions have the same answer as a second ago. Entries live at
//! most [`TTL`], and every write that could change an answer (revocation,
//! rotation, role, deactivation, password) evicts what it touches first,
//! here and, on PostgreSQL, on every other node through `NOTIFY`. The TTL
//! only bounds staleness if a notification is lost.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use tessera_core::account::Account;
use tessera_core::ids::{AccountId, SessionId};
use tessera_core::session::Session;

pub const TTL: Duration = Duration::from_secs(2);
/// Enough for every session active within one TTL on a busy node; beyond
/// it, expired entries go first, then everything (it is only a cache).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    session: Session,
    account: Account,
    at: Instant,
}

#[derive(Default)]
struct Maps {
    by_hash: HashMap<Vec<u8>, Entry>,
    by_session: HashMap<SessionId, Vec<u8>>,
    by_account: HashMap<AccountId, Vec<Vec<u8>>>,
}

impl Maps {
    fn prune_expired(&mut self) {
        let expired: Vec<Vec<u8>> = self
            .by_hash
            .iter()
            .filter(|(_, e)| e.at.elapsed() >= TTL)
            .map(|(h, _)| h.clone())
            .collect();
        for h in expired {
            if let Some(e) = self.by_hash.remove(&h) {
                self.by_session.remove(&e.session.id);
                if let Some(list) = self.by_account.get_mut(&e.account.id) {
                    list.retain(|x| *x != h);
                    if list.is_empty() {
                        self.by_account.remove(&e.account.id);
                    }
                }
            }
        }
    }
}

#[derive(Default)]
pub struct SessionCache {
    maps: RwLock<Maps>,
}

impl SessionCache {
    pub fn get(&self, hash: &[u8]) -> Option<(Session, Account)> {
        let maps = self.maps.read().ok()?;
        let e = maps.by_hash.get(hash)?;
        (e.at.elapsed() < TTL).then(|| (e.session.clone(), e.account.clone()))
    }

    pub fn put(&self, hash: &[u8], session: &Session, account: &Account) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        if maps.by_hash.len() >= MAX_ENTRIES {
            maps.prune_expired();
            if maps.by_hash.len() >= MAX_ENTRIES {
                *maps = Maps::default();
            }
        }
        maps.by_session.insert(session.id, hash.to_vec());
        maps.by_account
            .entry(account.id)
            .or_default()
            .push(hash.to_vec());
        maps.by_hash.insert(
            hash.to_vec(),
            Entry {
                session: session.clone(),
                account: account.clone(),
                at: Instant::now(),
            },
        );
    }

    pub fn evict_session(&self, id: SessionId) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        if let Some(hash) = maps.by_session.remove(&id) {
            maps.by_hash.remove(&hash);
        }
    }

    pub fn evict_account(&self, id: AccountId) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        for hash in maps.by_account.remove(&id).unwrap_or_default() {
            if let Some(e) = maps.by_hash.remove(&hash) {
                maps.by_session.remove(&e.session.id);
            }
        }
    }

    pub fn clear(&self) {
        if let Ok(mut maps) = self.maps.write() {
            *maps = Maps::default();
        }
    }
}
