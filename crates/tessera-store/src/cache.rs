//! A short-lived cache of who-am-I lookups: sessions and API tokens, and
//! what an OpenID Connect access token is checked against (its grant with
//! the grant's session and account, and a client with its secret's hash).
//!
//! Every relying product asks "who is this?" on every request; most of
//! those questions have the same answer as a second ago. Entries live at
//! most [`TTL`], and every write that could change an answer (revocation,
//! rotation, role, deactivation, password, two-step turned off) evicts what
//! it touches after its commit, here and, on PostgreSQL, on every other node
//! through `NOTIFY`. A cached grant goes with its session and its account
//! (so a token dies with either exactly as a session token does), and on
//! its own when it is revoked; a cached client goes when it is changed or
//! removed, and takes its grants with it when removed.
//!
//! # What is guaranteed
//!
//! **On one node**, once a revoking write has returned, no lookup that
//! starts afterwards is answered from the cache with the old answer. The
//! hard part is a lookup already in flight: it read the row before the
//! commit and would store its stale copy after the eviction. So a lookup
//! takes a [`Ticket`] (the cache's generation) *before* its database read,
//! every eviction bumps the generation under the write lock, and [`put`]
//! stores only if the generation is unchanged, checked under that same
//! lock:
//!
//! ```text
//!   lookup:  ticket(g) ── read row ─────────────── put(g)? ── stored
//!   revoke:              commit ── evict: g+1 ──┘        refused (g ≠ g+1)
//! ```
//!
//! The generation is global rather than per account (the account is not
//! known before the read): an eviction elsewhere only costs an in-flight
//! fill, which the next request repeats.
//!
//! **Across nodes** (PostgreSQL), evictions arrive by `NOTIFY` on a
//! listening connection. While that connection is down, notifications are
//! lost, so the node marks the cache unusable ([`set_listening`]): it is
//! emptied, lookups read through to the database and nothing is stored
//! until the listener is back and `LISTEN`ing. The TTL only bounds
//! staleness for a notification lost without the connection dropping.
//!
//! # No stampede at expiry
//!
//! A busy session is asked about hundreds of times a second. If its entry
//! simply expired, every request in the moment after would miss and read
//! the database at once (a burst every [`TTL`], which showed as the tail
//! latency of who-am-I). So after half the TTL, the first lookup to see
//! the entry claims its refresh and misses (it reads and stores afresh,
//! through the same ticket check as any fill), while every other lookup is
//! still answered from the entry until it is replaced or reaches the TTL.
//! No answer older than the TTL is ever given, as before; a claimed
//! refresh that stored nothing (its fill refused) may be claimed again
//! after [`RECLAIM`].
//!
//! An entry that is not there at all (a cold start, an eviction, a client
//! quiet for longer than the TTL) has nothing to answer from meanwhile:
//! there, the misses for one key wait for the first one's read instead of
//! all reading (`fill_gate`, through [`session_fill`] and its siblings).
//!
//! [`put`]: SessionCache::put
//! [`session_fill`]: SessionCache::session_fill
//! [`set_listening`]: SessionCache::set_listening

use crate::fill_gate::{FillGate, Leading, Turn};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tessera_core::account::Account;
use tessera_core::apitoken::{ApiToken, ApiTokenId};
use tessera_core::ids::{AccountId, SessionId};
use tessera_core::oidc::client::{OidcClient, OidcClientId};
use tessera_core::oidc::grant::{OidcGrant, OidcGrantId};
use tessera_core::org::OrgStanding;
use tessera_core::session::Session;

pub const TTL: Duration = Duration::from_secs(2);
/// From this age on, one lookup refreshes an entry while the rest are
/// still answered from it.
const REFRESH_AFTER: Duration = Duration::from_secs(1);
/// A refresh claimed this long ago without a new entry (its fill was
/// refused, or its request dropped) may be claimed again.
const RECLAIM: Duration = Duration::from_millis(200);
/// Enough for every session (or token) active within one TTL on a busy
/// node; beyond it, expired entries go first, then everything of that
/// kind (it is only a cache).
const MAX_ENTRIES: usize = 10_000;

struct Entry<V> {
    value: V,
    account: Account,
    at: Instant,
    refresh: Refresh,
}

/// Who refreshes an entry: the claim is taken under the read lock, so it
/// is an atomic (milliseconds after the entry's `at`; 0 = unclaimed).
#[derive(Default)]
struct Refresh(AtomicU64);

impl Refresh {
    /// Whether a lookup at `age` should answer from the entry: yes while
    /// young, no once expired, and in between for everyone but the one
    /// lookup that claims the refresh.
    fn serve(&self, age: Duration) -> bool {
        if age >= TTL {
            return false;
        }
        if age < REFRESH_AFTER {
            return true;
        }
        let now = age.as_millis().max(1) as u64;
        let claimed = self.0.load(Ordering::Acquire);
        if claimed != 0 && now.saturating_sub(claimed) < RECLAIM.as_millis() as u64 {
            return true;
        }
        // Lost to another claimant: that one refreshes.
        self.0
            .compare_exchange(claimed, now, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    }
}

/// One kind of cached answer (sessions, or API tokens), by credential
/// hash, with the indexes evictions need.
struct Index<Id, V> {
    by_hash: HashMap<Vec<u8>, (Id, Entry<V>)>,
    by_id: HashMap<Id, Vec<u8>>,
    by_account: HashMap<AccountId, HashSet<Vec<u8>>>,
}

impl<Id, V> Default for Index<Id, V> {
    fn default() -> Self {
        Index {
            by_hash: HashMap::new(),
            by_id: HashMap::new(),
            by_account: HashMap::new(),
        }
    }
}

impl<Id: Copy + Eq + Hash, V: Clone> Index<Id, V> {
    fn get(&self, hash: &[u8]) -> Option<(V, Account)> {
        let (_, e) = self.by_hash.get(hash)?;
        e.refresh
            .serve(e.at.elapsed())
            .then(|| (e.value.clone(), e.account.clone()))
    }

    fn put(&mut self, hash: &[u8], id: Id, value: &V, account: &Account) {
        if self.by_hash.len() >= MAX_ENTRIES {
            self.prune_expired();
            if self.by_hash.len() >= MAX_ENTRIES {
                *self = Index::default();
            }
        }
        self.by_id.insert(id, hash.to_vec());
        // A set: the same session is cached again every TTL, and must not
        // pile up copies of its hash here.
        self.by_account
            .entry(account.id)
            .or_default()
            .insert(hash.to_vec());
        self.by_hash.insert(
            hash.to_vec(),
            (
                id,
                Entry {
                    value: value.clone(),
                    account: account.clone(),
                    at: Instant::now(),
                    refresh: Refresh::default(),
                },
            ),
        );
    }

    /// Changes a cached value in place: a touch, not an eviction.
    fn update(&mut self, id: Id, change: impl FnOnce(&mut V)) {
        if let Some(hash) = self.by_id.get(&id)
            && let Some((_, e)) = self.by_hash.get_mut(hash)
        {
            change(&mut e.value);
        }
    }

    fn evict_id(&mut self, id: Id) {
        if let Some(hash) = self.by_id.remove(&id) {
            self.by_hash.remove(&hash);
        }
    }

    fn evict_account(&mut self, id: AccountId) {
        for hash in self.by_account.remove(&id).unwrap_or_default() {
            if let Some((key, _)) = self.by_hash.remove(&hash) {
                self.by_id.remove(&key);
            }
        }
    }

    fn prune_expired(&mut self) {
        let expired: Vec<Vec<u8>> = self
            .by_hash
            .iter()
            .filter(|(_, (_, e))| e.at.elapsed() >= TTL)
            .map(|(h, _)| h.clone())
            .collect();
        for h in expired {
            if let Some((id, e)) = self.by_hash.remove(&h) {
                self.by_id.remove(&id);
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

/// Answers by key, each with its age and refresh claim, bounded like the
/// indexes above: past [`MAX_ENTRIES`], expired entries go first, then
/// everything.
struct Keyed<K, V>(HashMap<K, (V, Instant, Refresh)>);

impl<K, V> Default for Keyed<K, V> {
    fn default() -> Self {
        Keyed(HashMap::new())
    }
}

impl<K: Eq + Hash, V: Clone> Keyed<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        let (value, at, refresh) = self.0.get(key)?;
        refresh.serve(at.elapsed()).then(|| value.clone())
    }

    fn insert(&mut self, key: K, value: V) {
        if self.0.len() >= MAX_ENTRIES {
            self.0.retain(|_, (_, at, _)| at.elapsed() < TTL);
            if self.0.len() >= MAX_ENTRIES {
                self.0.clear();
            }
        }
        self.0
            .insert(key, (value, Instant::now(), Refresh::default()));
    }

    fn remove(&mut self, key: &K) {
        self.0.remove(key);
    }
}

/// A grant with what its tokens live by: the session it was made in (if
/// that is still there) and its account.
pub type GrantHolder = (OidcGrant, Option<Session>, Account);

/// A client with its secret's hash (`None` for a public client).
pub type ClientWithSecret = (OidcClient, Option<Vec<u8>>);

/// Cached grants by id, with the indexes their evictions need: a grant
/// goes with the session it names and with its account.
#[derive(Default)]
struct Grants {
    by_id: HashMap<OidcGrantId, (GrantHolder, Instant, Refresh)>,
    by_session: HashMap<SessionId, HashSet<OidcGrantId>>,
    by_account: HashMap<AccountId, HashSet<OidcGrantId>>,
}

impl Grants {
    fn get(&self, id: OidcGrantId) -> Option<GrantHolder> {
        let (holder, at, refresh) = self.by_id.get(&id)?;
        refresh.serve(at.elapsed()).then(|| holder.clone())
    }

    fn put(&mut self, holder: &GrantHolder) {
        if self.by_id.len() >= MAX_ENTRIES {
            self.by_id.retain(|_, (_, at, _)| at.elapsed() < TTL);
            if self.by_id.len() >= MAX_ENTRIES {
                self.by_id.clear();
            }
            self.reindex();
        }
        let grant = &holder.0;
        self.index(grant);
        self.by_id.insert(
            grant.id,
            (holder.clone(), Instant::now(), Refresh::default()),
        );
    }

    fn index(&mut self, grant: &OidcGrant) {
        if let Some(session) = grant.session_id {
            self.by_session.entry(session).or_default().insert(grant.id);
        }
        self.by_account
            .entry(grant.account_id)
            .or_default()
            .insert(grant.id);
    }

    /// Rebuilds the indexes from what is left, so ids of grants no longer
    /// cached do not pile up in them.
    fn reindex(&mut self) {
        self.by_session.clear();
        self.by_account.clear();
        let grants: Vec<OidcGrant> = self.by_id.values().map(|(h, _, _)| h.0.clone()).collect();
        for g in &grants {
            self.index(g);
        }
    }

    /// One grant, out of its indexes too: revocations alone must not pile
    /// up ids there.
    fn evict(&mut self, id: OidcGrantId) {
        let Some(((grant, _, _), _, _)) = self.by_id.remove(&id) else {
            return;
        };
        if let Some(session) = grant.session_id
            && let Some(ids) = self.by_session.get_mut(&session)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_session.remove(&session);
            }
        }
        if let Some(ids) = self.by_account.get_mut(&grant.account_id) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_account.remove(&grant.account_id);
            }
        }
    }

    fn evict_session(&mut self, session: SessionId) {
        for id in self.by_session.remove(&session).unwrap_or_default() {
            self.by_id.remove(&id);
        }
    }

    fn evict_account(&mut self, account: AccountId) {
        for id in self.by_account.remove(&account).unwrap_or_default() {
            self.by_id.remove(&id);
        }
    }

    /// Rare (a client changed or removed), so a scan.
    fn evict_client(&mut self, client: OidcClientId) {
        self.by_id.retain(|_, (h, _, _)| h.0.client_id != client);
        self.reindex();
    }

    fn touch_session(&mut self, session: SessionId, now: tessera_core::clock::Timestamp) {
        for id in self.by_session.get(&session).into_iter().flatten() {
            if let Some(((_, Some(s), _), _, _)) = self.by_id.get_mut(id)
                && s.id == session
                && s.last_seen_at < now
            {
                s.last_seen_at = now;
            }
        }
    }
}

#[derive(Default)]
struct Maps {
    sessions: Index<SessionId, Session>,
    tokens: Index<ApiTokenId, ApiToken>,
    /// Each account's organizations, by account: evicted with the account,
    /// and all at once when a domain or policy changes.
    standings: Keyed<AccountId, OrgStanding>,
    grants: Grants,
    clients: Keyed<OidcClientId, ClientWithSecret>,
}

/// The who-am-I cache: sessions and API tokens, under one generation (an
/// eviction of either refuses in-flight fills of both, which only costs a
/// repeated read) and one listening state.
pub struct SessionCache {
    maps: RwLock<Maps>,
    /// Bumped under the write lock by every eviction and every change of
    /// `usable`; a fill stores only if it is unchanged since its ticket.
    generation: AtomicU64,
    /// False while evictions from other nodes may be missed: then the
    /// cache answers nothing and stores nothing.
    usable: AtomicBool,
    /// One read per credential at a time on a miss (see `fill_gate`).
    session_fills: FillGate,
    token_fills: FillGate,
    grant_fills: FillGate,
    client_fills: FillGate,
}

/// What a lookup that missed does next.
pub enum Fill<'a, T> {
    /// Another lookup's read filled the cache meanwhile: the answer.
    Cached(T),
    /// Read the database and `put` the answer, holding this until then
    /// (if it leads, the lookups waiting for it go on when it is dropped).
    Read(Option<Leading<'a>>),
}

/// The generation a lookup saw before reading the database.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl Default for SessionCache {
    /// A cache in use: for a node that has no peers to hear from.
    fn default() -> Self {
        SessionCache {
            maps: RwLock::default(),
            generation: AtomicU64::new(0),
            usable: AtomicBool::new(true),
            session_fills: FillGate::default(),
            token_fills: FillGate::default(),
            grant_fills: FillGate::default(),
            client_fills: FillGate::default(),
        }
    }
}

impl SessionCache {
    /// A cache that reads through until [`set_listening`](Self::set_listening)
    /// says evictions from other nodes are heard.
    pub fn unusable() -> Self {
        let c = SessionCache::default();
        c.usable.store(false, Ordering::SeqCst);
        c
    }

    pub fn get(&self, hash: &[u8]) -> Option<(Session, Account)> {
        self.answer(|m| m.sessions.get(hash))
    }

    /// An API token by the hash of its secret.
    pub fn get_token(&self, hash: &[u8]) -> Option<(ApiToken, Account)> {
        self.answer(|m| m.tokens.get(hash))
    }

    /// After [`get`](Self::get) missed: read, or wait for the read of the
    /// same session already in flight and answer from what it stored.
    pub async fn session_fill(&self, hash: &[u8]) -> Fill<'_, (Session, Account)> {
        self.fill(&self.session_fills, hash, |c| c.get(hash)).await
    }

    /// As [`session_fill`](Self::session_fill), after
    /// [`get_token`](Self::get_token) missed.
    pub async fn token_fill(&self, hash: &[u8]) -> Fill<'_, (ApiToken, Account)> {
        self.fill(&self.token_fills, hash, |c| c.get_token(hash))
            .await
    }

    /// As [`session_fill`](Self::session_fill), after
    /// [`get_grant`](Self::get_grant) missed: every access token of a busy
    /// grant misses together when the grant is not cached.
    pub async fn grant_fill(&self, id: OidcGrantId) -> Fill<'_, GrantHolder> {
        self.fill(&self.grant_fills, id.0.as_bytes(), |c| c.get_grant(id))
            .await
    }

    /// As [`session_fill`](Self::session_fill), after
    /// [`get_client`](Self::get_client) missed.
    pub async fn client_fill(&self, id: OidcClientId) -> Fill<'_, ClientWithSecret> {
        self.fill(&self.client_fills, id.0.as_bytes(), |c| c.get_client(id))
            .await
    }

    async fn fill<'a, T>(
        &'a self,
        gate: &'a FillGate,
        hash: &[u8],
        look: impl Fn(&Self) -> Option<T>,
    ) -> Fill<'a, T> {
        if !self.usable() {
            // Nothing will be stored, so there is nothing to wait for.
            return Fill::Read(None);
        }
        match gate.enter(hash) {
            Turn::Lead(leading) => Fill::Read(Some(leading)),
            Turn::Follow(read) => {
                read.finished().await;
                match look(self) {
                    Some(answer) => Fill::Cached(answer),
                    // Refused (a revocation raced it), nothing found, or the
                    // leader was cancelled: this lookup reads for itself.
                    None => Fill::Read(None),
                }
            }
        }
    }

    /// An account's organizations.
    pub fn get_standing(&self, account: AccountId) -> Option<OrgStanding> {
        self.answer(|m| m.standings.get(&account))
    }

    /// As [`put`](Self::put), for an account's organizations.
    pub fn put_standing(&self, ticket: Ticket, account: AccountId, standing: &OrgStanding) {
        self.put_with(ticket, |m| m.standings.insert(account, standing.clone()));
    }

    /// A grant with its session and account, by the grant's id.
    pub fn get_grant(&self, id: OidcGrantId) -> Option<GrantHolder> {
        self.answer(|m| m.grants.get(id))
    }

    /// As [`put`](Self::put), for a grant with its session and account.
    pub fn put_grant(&self, ticket: Ticket, holder: &GrantHolder) {
        self.put_with(ticket, |m| m.grants.put(holder));
    }

    /// A client with its secret's hash.
    pub fn get_client(&self, id: OidcClientId) -> Option<ClientWithSecret> {
        self.answer(|m| m.clients.get(&id))
    }

    /// As [`put`](Self::put), for a client with its secret's hash.
    pub fn put_client(&self, ticket: Ticket, client: &ClientWithSecret) {
        self.put_with(ticket, |m| m.clients.insert(client.0.id, client.clone()));
    }

    /// A lookup in the maps, unless the cache may have missed an eviction.
    fn answer<T>(&self, look: impl FnOnce(&Maps) -> Option<T>) -> Option<T> {
        if !self.usable.load(Ordering::Acquire) {
            return None;
        }
        look(&*self.maps.read().ok()?)
    }

    /// Take before reading the database; hand to [`put`](Self::put).
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Stores an answer read after `ticket` was taken, unless something
    /// was evicted (or the cache became unusable) since: the answer may
    /// then predate that eviction.
    pub fn put(&self, ticket: Ticket, hash: &[u8], session: &Session, account: &Account) {
        self.put_with(ticket, |m| {
            m.sessions.put(hash, session.id, session, account)
        });
    }

    /// As [`put`](Self::put), for an API token.
    pub fn put_token(&self, ticket: Ticket, hash: &[u8], token: &ApiToken, account: &Account) {
        self.put_with(ticket, |m| m.tokens.put(hash, token.id, token, account));
    }

    fn put_with(&self, ticket: Ticket, store: impl FnOnce(&mut Maps)) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        // Under the write lock, so no eviction can slip in between this
        // check and the insert.
        if self.generation.load(Ordering::Acquire) != ticket.0
            || !self.usable.load(Ordering::Acquire)
        {
            return;
        }
        store(&mut maps);
    }

    /// Runs an eviction under the write lock, after bumping the
    /// generation: even when nothing is cached, a fill may be in flight.
    fn evict_with(&self, evict: impl FnOnce(&mut Maps)) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        evict(&mut maps);
    }

    /// Records a session's new `last_seen_at` in its cached copy, before
    /// the write that stores it: the lookups after this one see it fresh
    /// and do not write it again. Not an eviction (nothing was revoked, so
    /// no in-flight fill is refused): a hot session touched by evicting it
    /// sent every request of the next moment to the database, each with a
    /// write of its own.
    pub fn touch_session(&self, id: SessionId, now: tessera_core::clock::Timestamp) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        maps.sessions.update(id, |s| {
            if s.last_seen_at < now {
                s.last_seen_at = now;
            }
        });
        maps.grants.touch_session(id, now);
    }

    /// Records an API token's use in its cached copy, before the write
    /// that stores it, for the reasons [`touch_session`] gives: evicting
    /// the token instead made every request in flight on it write too,
    /// one after another, each waiting for the last one's commit. As the
    /// write does, only a last use from `cutoff` or before is replaced.
    ///
    /// [`touch_session`]: SessionCache::touch_session
    pub fn touch_token(
        &self,
        id: ApiTokenId,
        now: tessera_core::clock::Timestamp,
        ip: Option<&str>,
        cutoff: tessera_core::clock::Timestamp,
    ) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        maps.tokens.update(id, |t| {
            if t.last_used_at.is_none_or(|last| last <= cutoff) {
                t.last_used_at = Some(now);
                t.last_used_ip = ip.map(str::to_owned);
            }
        });
    }

    /// A session, and every grant made in it.
    pub fn evict_session(&self, id: SessionId) {
        self.evict_with(|m| {
            m.sessions.evict_id(id);
            m.grants.evict_session(id);
        });
    }

    /// A revoked grant.
    pub fn evict_grant(&self, id: OidcGrantId) {
        self.evict_with(|m| m.grants.evict(id));
    }

    /// A changed or removed client, and every grant it holds (they go
    /// with it when it is removed).
    pub fn evict_client(&self, id: OidcClientId) {
        self.evict_with(|m| {
            m.clients.remove(&id);
            m.grants.evict_client(id);
        });
    }

    pub fn evict_token(&self, id: ApiTokenId) {
        self.evict_with(|m| m.tokens.evict_id(id));
    }

    /// Every cached session, token and grant of the account.
    pub fn evict_account(&self, id: AccountId) {
        self.evict_with(|m| {
            m.sessions.evict_account(id);
            m.tokens.evict_account(id);
            m.standings.remove(&id);
            m.grants.evict_account(id);
        });
    }

    pub fn clear(&self) {
        self.evict_with(|m| *m = Maps::default());
    }

    /// Whether evictions from other nodes are being heard. Either way the
    /// cache starts empty: while deaf, anything cached may have missed its
    /// eviction; once listening again, a fill that read the database while
    /// deaf may have missed one too (the generation bump refuses it).
    pub fn set_listening(&self, listening: bool) {
        let Ok(mut maps) = self.maps.write() else {
            // A poisoned lock: never answer from this cache again.
            self.usable.store(false, Ordering::Release);
            return;
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.usable.store(listening, Ordering::Release);
        *maps = Maps::default();
    }

    /// Whether lookups may be answered from the cache.
    pub fn usable(&self) -> bool {
        self.usable.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lookup_refreshes_an_ageing_entry_and_the_rest_are_served() {
        let r = Refresh::default();
        let ms = Duration::from_millis;
        assert!(r.serve(ms(0)) && r.serve(ms(999)), "young: always served");
        assert!(
            !r.serve(ms(1000)),
            "the first lookup past half the TTL refreshes"
        );
        assert!(
            r.serve(ms(1001)) && r.serve(ms(1199)),
            "the others are served"
        );
        assert!(
            !r.serve(ms(1200)),
            "a refresh with no result is claimed again"
        );
        assert!(r.serve(ms(1300)));
        assert!(!r.serve(TTL) && !r.serve(ms(5000)), "never past the TTL");
    }

    #[test]
    fn racing_lookups_claim_one_refresh() {
        let r = std::sync::Arc::new(Refresh::default());
        let refreshers: usize = (0..8)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| !r.serve(Duration::from_millis(1500)))
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(refreshers, 1);
    }
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
            c.put(c.ticket(), b"h1", &s1, &a);
        }
        c.put(c.ticket(), b"h2", &s2, &a);
        assert_eq!(c.maps.read().unwrap().sessions.by_account[&a.id].len(), 2);
        assert!(c.get(b"h1").is_some());
        c.evict_session(s1.id);
        assert!(c.get(b"h1").is_none());
        assert!(c.get(b"h2").is_some());
        c.evict_account(a.id);
        assert!(c.get(b"h2").is_none());
        assert!(c.maps.read().unwrap().sessions.by_id.is_empty());
    }

    /// Polls once: whether the future is still waiting.
    fn pending<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        f.poll(&mut cx).is_pending()
    }

    /// The first miss for a key, which leads, and a second one, which must
    /// still be waiting for the first one's read.
    async fn leader_and_waiting_follower<'c, T, F>(
        miss: impl Fn() -> F,
    ) -> (Leading<'c>, std::pin::Pin<Box<F>>)
    where
        F: std::future::Future<Output = Fill<'c, T>>,
    {
        let Fill::Read(Some(leading)) = miss().await else {
            panic!("the first miss reads");
        };
        let mut follower = Box::pin(miss());
        assert!(
            pending(follower.as_mut()),
            "a second miss waits for the first one's read"
        );
        (leading, follower)
    }

    #[tokio::test]
    async fn a_miss_waits_for_the_read_in_flight_and_takes_what_it_stored() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let (leading, follower) = leader_and_waiting_follower(|| c.session_fill(b"h1")).await;
        let ticket = c.ticket();
        c.put(ticket, b"h1", &s1, &a);
        drop(leading);
        match follower.await {
            Fill::Cached((s, _)) => assert_eq!(s.id, s1.id),
            Fill::Read(_) => panic!("the follower found the leader's fill"),
        }
    }

    #[tokio::test]
    async fn a_miss_behind_a_refused_fill_reads_for_itself() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let (leading, follower) = leader_and_waiting_follower(|| c.session_fill(b"h1")).await;
        let ticket = c.ticket();
        // The leader read the row before a revocation; its fill is refused
        // and the follower must not be answered with that row.
        c.evict_session(s1.id);
        c.put(ticket, b"h1", &s1, &a);
        drop(leading);
        assert!(matches!(follower.await, Fill::Read(None)));
        // A token miss never waits behind a session's read.
        let Fill::Read(Some(_session_read)) = c.session_fill(b"h2").await else {
            panic!("reads");
        };
        assert!(matches!(c.token_fill(b"h2").await, Fill::Read(Some(_))));
    }

    #[tokio::test]
    async fn a_deaf_cache_makes_no_miss_wait() {
        let c = SessionCache::unusable();
        let Fill::Read(None) = c.session_fill(b"h1").await else {
            panic!("nothing will be stored, so nothing leads");
        };
        assert!(matches!(c.session_fill(b"h1").await, Fill::Read(None)));
    }

    #[test]
    fn a_fill_started_before_an_eviction_is_refused() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let (s2, _) = pair(11);
        // Read before the revocation, stored after its eviction.
        let before = c.ticket();
        c.evict_session(s1.id);
        c.put(before, b"h1", &s1, &a);
        assert!(c.get(b"h1").is_none());
        // Any eviction counts, and so does one of the whole account.
        let before = c.ticket();
        c.evict_account(a.id);
        c.put(before, b"h2", &s2, &a);
        assert!(c.get(b"h2").is_none());
        let before = c.ticket();
        c.clear();
        c.put(before, b"h2", &s2, &a);
        assert!(c.get(b"h2").is_none());
        // A fill that started after the eviction is stored.
        c.put(c.ticket(), b"h1", &s1, &a);
        assert!(c.get(b"h1").is_some());
    }

    #[test]
    fn a_touch_freshens_the_cached_copy_and_refuses_no_fill() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let (s2, _) = pair(11);
        c.put(c.ticket(), b"h1", &s1, &a);
        let in_flight = c.ticket();
        c.touch_session(s1.id, Timestamp(5_000));
        assert_eq!(c.get(b"h1").unwrap().0.last_seen_at, Timestamp(5_000));
        // Never moved back.
        c.touch_session(s1.id, Timestamp(4_000));
        assert_eq!(c.get(b"h1").unwrap().0.last_seen_at, Timestamp(5_000));
        // Not a revocation: a fill that was in flight is still stored.
        c.put(in_flight, b"h2", &s2, &a);
        assert!(c.get(b"h2").is_some());
        // A session not cached: nothing to do.
        c.touch_session(pair(12).0.id, Timestamp(6_000));
    }

    #[test]
    fn a_token_touch_freshens_the_cached_copy_as_the_write_would() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let token = ApiToken {
            id: ApiTokenId(uuid::Uuid::from_u128(20)),
            account_id: a.id,
            label: "ci".into(),
            scopes: vec![],
            created_by: None,
            created_at: Timestamp(0),
            expires_at: Timestamp(10_000_000),
            last_used_at: None,
            last_used_ip: None,
        };
        c.put_token(c.ticket(), b"t1", &token, &a);
        let in_flight = c.ticket();
        let used = |c: &SessionCache| {
            let t = c.get_token(b"t1").unwrap().0;
            (t.last_used_at, t.last_used_ip)
        };
        c.touch_token(
            token.id,
            Timestamp(100_000),
            Some("192.0.2.1"),
            Timestamp(40_000),
        );
        assert_eq!(
            used(&c),
            (Some(Timestamp(100_000)), Some("192.0.2.1".into()))
        );
        // Within the interval the write changes nothing, and neither does this.
        c.touch_token(
            token.id,
            Timestamp(120_000),
            Some("192.0.2.2"),
            Timestamp(60_000),
        );
        assert_eq!(
            used(&c),
            (Some(Timestamp(100_000)), Some("192.0.2.1".into()))
        );
        c.touch_token(token.id, Timestamp(160_000), None, Timestamp(100_000));
        assert_eq!(used(&c), (Some(Timestamp(160_000)), None));
        // Not a revocation: a fill that was in flight is still stored.
        c.put(in_flight, b"h1", &s1, &a);
        assert!(c.get(b"h1").is_some());
    }

    #[test]
    fn a_deaf_cache_answers_and_stores_nothing_until_listening_again() {
        let c = SessionCache::unusable();
        let (s1, a) = pair(10);
        c.put(c.ticket(), b"h1", &s1, &a);
        assert!(c.get(b"h1").is_none());
        c.set_listening(true);
        c.put(c.ticket(), b"h1", &s1, &a);
        assert!(c.get(b"h1").is_some());
        // Going deaf empties the cache and stops answering at once.
        let before = c.ticket();
        c.set_listening(false);
        assert!(c.get(b"h1").is_none());
        c.put(before, b"h1", &s1, &a);
        let while_deaf = c.ticket();
        c.put(while_deaf, b"h1", &s1, &a);
        c.set_listening(true);
        assert!(c.get(b"h1").is_none());
        // A fill that read while deaf may have missed an eviction.
        c.put(while_deaf, b"h1", &s1, &a);
        assert!(c.get(b"h1").is_none());
    }

    fn holder(n: u128, session: &Session, account: &Account) -> GrantHolder {
        use tessera_core::oidc::client::OidcScope;
        let grant = OidcGrant {
            id: OidcGrantId(uuid::Uuid::from_u128(n)),
            client_id: OidcClientId(uuid::Uuid::from_u128(n % 2 + 100)),
            account_id: account.id,
            session_id: Some(session.id),
            redirect_uri: "https://app.example.com/cb".into(),
            scopes: vec![OidcScope::OpenId],
            nonce: None,
            code_challenge: None,
            auth_time: Timestamp(0),
            aal: Aal::Aal1,
            methods: vec![AuthMethod::Password],
            created_at: Timestamp(0),
            code_expires_at: Timestamp(60_000),
            code_used_at: None,
            revoked_at: None,
        };
        (grant, Some(session.clone()), account.clone())
    }

    #[test]
    fn a_grant_goes_with_itself_its_session_its_account_and_its_client() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let (s2, _) = pair(11);
        let fill = |n| {
            let s = if n % 2 == 0 { &s1 } else { &s2 };
            c.put_grant(c.ticket(), &holder(n, s, &a));
        };
        let cached = |n| c.get_grant(OidcGrantId(uuid::Uuid::from_u128(n))).is_some();
        // Grants 2 and 4 were made in session 10; 3 in session 11.
        for n in 2..5 {
            fill(n);
        }
        assert!(cached(2) && cached(3) && cached(4));
        c.evict_grant(OidcGrantId(uuid::Uuid::from_u128(2)));
        assert!(!cached(2) && cached(4), "a revoked grant goes alone");
        let indexed = |c: &SessionCache| {
            let m = c.maps.read().unwrap();
            let ids =
                |sets: Vec<&HashSet<OidcGrantId>>| sets.iter().map(|s| s.len()).sum::<usize>();
            (
                ids(m.grants.by_session.values().collect()),
                ids(m.grants.by_account.values().collect()),
            )
        };
        assert_eq!(indexed(&c), (2, 2), "and leaves no id in the indexes");
        c.evict_session(s1.id);
        assert!(!cached(4) && cached(3), "with its session");
        c.evict_account(a.id);
        assert!(!cached(3), "with its account");
        // Client 100 holds the even grants, 101 the odd ones.
        for n in 2..5 {
            fill(n);
        }
        c.evict_client(OidcClientId(uuid::Uuid::from_u128(100)));
        assert!(!cached(2) && !cached(4) && cached(3), "with its client");
        c.clear();
        assert!(!cached(3));
    }

    fn app_client(id: OidcClientId) -> OidcClient {
        OidcClient {
            id,
            name: "app".into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            public: false,
            first_party: true,
            scopes: vec![],
            created_by: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[tokio::test]
    async fn grant_and_client_misses_wait_for_the_read_in_flight() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let h = holder(2, &s1, &a);
        let id = h.0.id;
        let (leading, follower) = leader_and_waiting_follower(|| c.grant_fill(id)).await;
        // A client's miss never waits behind a grant's read.
        let Fill::Read(Some(client_read)) = c.client_fill(h.0.client_id).await else {
            panic!("a client miss reads");
        };
        c.put_grant(c.ticket(), &h);
        drop(leading);
        match follower.await {
            Fill::Cached(g) => assert_eq!(g.0.id, id),
            Fill::Read(_) => panic!("the follower found the leader's fill"),
        }
        drop(client_read);
        // A leader dropped before it stored (its request was cancelled)
        // releases its followers, and they read for themselves.
        let client = app_client(OidcClientId(uuid::Uuid::from_u128(7)));
        let (leading, follower) = leader_and_waiting_follower(|| c.client_fill(client.id)).await;
        drop(leading);
        assert!(matches!(follower.await, Fill::Read(None)));
    }

    #[test]
    fn a_grant_or_client_fill_started_before_an_eviction_is_refused() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let h = holder(2, &s1, &a);
        let before = c.ticket();
        c.evict_session(s1.id);
        c.put_grant(before, &h);
        assert!(c.get_grant(h.0.id).is_none());
        let client = app_client(h.0.client_id);
        let before = c.ticket();
        c.evict_client(client.id);
        c.put_client(before, &(client.clone(), Some(b"old".to_vec())));
        assert!(c.get_client(client.id).is_none());
        c.put_client(c.ticket(), &(client.clone(), Some(b"new".to_vec())));
        assert_eq!(
            c.get_client(client.id).unwrap().1.as_deref(),
            Some(&b"new"[..])
        );
        // A deaf cache answers neither.
        c.set_listening(false);
        c.put_grant(c.ticket(), &h);
        assert!(c.get_grant(h.0.id).is_none() && c.get_client(client.id).is_none());
    }

    #[test]
    fn a_touch_freshens_the_session_a_cached_grant_holds() {
        let c = SessionCache::default();
        let (s1, a) = pair(10);
        let h = holder(2, &s1, &a);
        c.put_grant(c.ticket(), &h);
        c.touch_session(s1.id, Timestamp(7_000));
        let (_, session, _) = c.get_grant(h.0.id).unwrap();
        assert_eq!(session.unwrap().last_seen_at, Timestamp(7_000));
    }
}
