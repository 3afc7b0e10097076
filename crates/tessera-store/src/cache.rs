//! A short-lived cache of who-am-I lookups.
//!
//! Every relying product asks "who is this?" on every request; most of
//! those questions have the same answer as a second ago. Entries live at
//! most [`TTL`], and every write that could change an answer (revocation,
//! rotation, role, deactivation, password) evicts what it touches first,
//! here and, on PostgreSQL, on every other node through `NOTIFY`. The TTL
//! only bounds staleness if a notification is lost.

use std::collections::{HashMap, HashSet};
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
    by_account: HashMap<AccountId, HashSet<Vec<u8>>>,
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
                    list.remove(&h);
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
        // A set: the same session is cached again every TTL, and must not
        // pile up copies of its hash here.
        maps.by_account
            .entry(account.id)
            .or_default()
            .insert(hash.to_vec());
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

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::account::{AccountKind, Role};
    use tessera_core::clock::Timestamp;
    use tessera_core::email::Email;
    use tessera_core::session::{Aal, AuthMethod, ClientKind};

    fn pair(n: u128) -> (Session, Account) {
        let account = Account {
            id: AccountId(uuid::Uuid::from_u128(1)),
            email: Email::parse("c@x.io").unwrap(),
            display_name: String::new(),
            kind: AccountKind::Human,
            role: Role::Member,
            active: true,
            password_hash: None,
            created_at: Timestamp(0),
        };
        let session = Session {
            id: SessionId(uuid::Uuid::from_u128(n)),
            account_id: account.id,
            client: ClientKind::Web,
            aal: Aal::Aal1,
            methods: vec![AuthMethod::Password],
            created_at: Timestamp(0),
            verified_at: Timestamp(0),
            last_seen_at: Timestamp(0),
            expires_at: Timestamp(1),
            ip: None,
            device: String::new(),
            restricted: false,
        };
        (session, account)
    }

    #[test]
    fn evicts_by_session_and_by_account_without_piling_up() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let (s2, _) = pair(11);
        for _ in 0..100 {
            c.put(b"h1", &s1, &a);
        }
        c.put(b"h2", &s2, &a);
        assert_eq!(c.maps.read().unwrap().by_account[&a.id].len(), 2);
        assert!(c.get(b"h1").is_some());
        c.evict_session(s1.id);
        assert!(c.get(b"h1").is_none());
        assert!(c.get(b"h2").is_some());
        c.evict_account(a.id);
        assert!(c.get(b"h2").is_none());
        assert!(c.maps.read().unwrap().by_session.is_empty());
    }
}
