//! Revocation beats the who-am-I cache: once a revoking write has returned,
//! no lookup that starts afterwards is answered with the old session, even
//! while parallel lookups are filling the cache; and a PostgreSQL node that
//! stops hearing other nodes reads through to the database until it hears
//! them again.

mod grants;
mod together;

use super::{account, session_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tessera_core::account::{Account, Role};
use tessera_core::clock::Timestamp;
use tessera_core::ids::{AccountId, SessionId};
use tessera_core::session::{Aal, AuthMethod, Session};
use tessera_core::store::{NewSession, Store};

/// A store, and a second way into its database that the store's cache
/// does not hear about (another process, a manual fix).
struct Node {
    store: Arc<dyn Store>,
    behind: Behind,
}

enum Behind {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Behind {
    async fn delete_session(&self, id: SessionId) {
        self.execute("DELETE FROM sessions WHERE id = $1", &id.to_string())
            .await;
    }

    /// Runs `sql` with `$1 = arg`.
    async fn execute(&self, sql: &'static str, arg: &str) {
        match self {
            Behind::Sqlite(p) => sqlx::query(sql).bind(arg).execute(p).await.map(drop),
            Behind::Pg(p) => sqlx::query(sql).bind(arg).execute(p).await.map(drop),
        }
        .unwrap();
    }
}

async fn sqlite() -> Option<Node> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = tessera_store::SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let behind = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    // The directory must outlive the test body.
    std::mem::forget(dir);
    Some(Node {
        store: Arc::new(store),
        behind: Behind::Sqlite(behind),
    })
}

async fn postgres() -> Option<Node> {
    let url = super::pg_schema_url().await?;
    let store = tessera_store::PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let behind = sqlx::PgPool::connect(&url).await.unwrap();
    Some(Node {
        store: Arc::new(store),
        behind: Behind::Pg(behind),
    })
}

/// An account with one session; returns the session's token hash.
async fn signed_in(s: &dyn Store, email: &str) -> (Account, Session, Vec<u8>) {
    let a = account(email);
    s.insert_account(&a).await.unwrap();
    let (session, token) = another_session(s, a.id).await;
    (a, session, token)
}

async fn another_session(s: &dyn Store, account: AccountId) -> (Session, Vec<u8>) {
    let session = session_for(account, 10);
    let token = session.id.to_string().into_bytes();
    s.insert_session(&NewSession {
        session: session.clone(),
        token_hash: token.clone(),
    })
    .await
    .unwrap();
    (session, token)
}

/// Every store write that ends sessions or changes what who-am-I answers.
#[derive(Clone, Copy, Debug)]
enum Revocation {
    SignOut,
    EndOtherSessions,
    EndAllSessions,
    Rotate,
    PasswordSet,
    PasswordReplaced,
    RoleChange,
    Deactivate,
    TwoStepRemoved,
    Sweep,
}

const ALL: [Revocation; 10] = [
    Revocation::SignOut,
    Revocation::EndOtherSessions,
    Revocation::EndAllSessions,
    Revocation::Rotate,
    Revocation::PasswordSet,
    Revocation::PasswordReplaced,
    Revocation::RoleChange,
    Revocation::Deactivate,
    Revocation::TwoStepRemoved,
    Revocation::Sweep,
];

impl Revocation {
    /// Makes the write; `keep` is a session of the same account that
    /// "end other sessions" keeps.
    async fn apply(self, s: &dyn Store, a: &Account, victim: SessionId, keep: SessionId) {
        let now = Timestamp(5_000);
        let rotated = format!("rotated-{victim}").into_bytes();
        // What each write reports is checked elsewhere; here only its
        // effect on lookups counts.
        let _reported: u64 = match self {
            Revocation::SignOut => s.delete_session(a.id, victim).await.unwrap().into(),
            Revocation::EndOtherSessions => {
                s.delete_sessions_except(a.id, Some(keep)).await.unwrap()
            }
            Revocation::EndAllSessions => s.delete_sessions_except(a.id, None).await.unwrap(),
            Revocation::Rotate => s
                .rotate_session(victim, &rotated, Aal::Aal2, &[AuthMethod::Totp], now, false)
                .await
                .unwrap()
                .into(),
            Revocation::PasswordSet => s.set_password_hash(a.id, "new", now).await.unwrap().into(),
            Revocation::PasswordReplaced => s
                .replace_password_hash(a.id, a.password_hash.as_deref().unwrap(), "new", now)
                .await
                .unwrap()
                .into(),
            Revocation::RoleChange => s.set_role(a.id, Role::Sysadmin, now).await.unwrap().into(),
            Revocation::Deactivate => s.set_active(a.id, false, now).await.unwrap().into(),
            Revocation::TwoStepRemoved => s.disable_two_step(a.id).await.unwrap().into(),
            // Far enough on that every session of the test has expired.
            Revocation::Sweep => s
                .sweep_sessions(Timestamp(i64::MAX / 2), Timestamp(i64::MAX / 2))
                .await
                .unwrap(),
        };
    }

    /// Whether `got`, from a lookup that started after the write returned,
    /// still shows what the write changed.
    fn is_stale(self, got: &Option<(Session, Account)>) -> bool {
        let Some((_, account)) = got else {
            return false;
        };
        match self {
            Revocation::SignOut
            | Revocation::EndOtherSessions
            | Revocation::EndAllSessions
            | Revocation::Rotate
            | Revocation::Sweep => true,
            Revocation::PasswordSet | Revocation::PasswordReplaced => {
                account.password_hash.as_deref() != Some("new")
            }
            Revocation::RoleChange => account.role != Role::Sysadmin,
            Revocation::Deactivate => account.active,
            // Nothing in the answer changes; only the eviction is checked.
            Revocation::TwoStepRemoved => false,
        }
    }
}

/// Readers per round: enough to keep a lookup in flight at any moment.
const READERS: usize = 8;
/// Rounds per backend; without the generation guard a stale fill shows up
/// within a few dozen (about one round in ten on SQLite).
const ROUNDS: usize = 120;

/// One round: readers loop on the token while the writer keeps emptying
/// the cache so lookups keep reading the database, then revokes. Returns how many lookups that started after the
/// revocation had returned were answered with the old session.
async fn race_one(s: Arc<dyn Store>, kind: Revocation, round: usize) -> usize {
    let (a, victim, token) = signed_in(s.as_ref(), &format!("race{round}@x.io")).await;
    let (keep, _) = another_session(s.as_ref(), a.id).await;
    assert!(s.session_by_token(&token).await.unwrap().is_some());
    let revoked = Arc::new(AtomicBool::new(false));
    let stale = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (s, token, revoked, stale) =
                (s.clone(), token.clone(), revoked.clone(), stale.clone());
            tokio::spawn(async move {
                let mut after = 0;
                // A few lookups after the revocation: one that reads the
                // stale fill, and more in case the fill lands late.
                while after < 20 {
                    // A cache hit never waits, and a task that never waits
                    // would starve the writer's I/O.
                    tokio::task::yield_now().await;
                    let started_after = revoked.load(Ordering::SeqCst);
                    let got = s.session_by_token(&token).await.unwrap();
                    if started_after {
                        after += 1;
                        if kind.is_stale(&got) {
                            stale.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    // Evictions that change no answer (the account's role set to what it
    // is), so readers are filling from the database when the revocation
    // lands; a touch, which freshens the cached copy in place, between.
    for i in 0..(round % 7) + 1 {
        s.set_role(a.id, a.role, Timestamp(100 + i as i64))
            .await
            .unwrap();
        s.touch_session(victim.id, Timestamp(100 + i as i64))
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    kind.apply(s.as_ref(), &a, victim.id, keep.id).await;
    revoked.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }
    stale.load(Ordering::SeqCst)
}

macro_rules! revocation_tests {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn every_revoking_write_evicts_the_cached_answer() {
                for kind in ALL {
                    let Some(node) = super::$backend().await else {
                        return;
                    };
                    let s = node.store.as_ref();
                    let (a, victim, token) = signed_in(s, "evict@x.io").await;
                    let (keep, _) = another_session(s, a.id).await;
                    assert!(s.session_by_token(&token).await.unwrap().is_some());
                    // Gone behind the cache's back: only an eviction can
                    // make the store look again.
                    node.behind.delete_session(victim.id).await;
                    assert!(
                        s.session_by_token(&token).await.unwrap().is_some(),
                        "{kind:?}: the answer comes from the cache"
                    );
                    kind.apply(s, &a, victim.id, keep.id).await;
                    assert!(
                        s.session_by_token(&token).await.unwrap().is_none(),
                        "{kind:?} left the cached session in place"
                    );
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn lookups_racing_a_revocation_never_answer_with_it_afterwards() {
                let Some(node) = super::$backend().await else {
                    return;
                };
                let mut stale = Vec::new();
                for round in 0..ROUNDS {
                    let kind = [
                        Revocation::SignOut,
                        Revocation::EndAllSessions,
                        Revocation::Deactivate,
                        Revocation::RoleChange,
                        Revocation::PasswordSet,
                        Revocation::Rotate,
                    ][round % 6];
                    let n = race_one(node.store.clone(), kind, round).await;
                    if n > 0 {
                        stale.push((round, kind, n));
                    }
                }
                assert!(
                    stale.is_empty(),
                    "stale answers after the revocation returned (round, kind, lookups): {stale:?}"
                );
            }
        }
    };
}

revocation_tests!(sqlite);
revocation_tests!(postgres);

/// Two nodes on one schema; node B's listening connection is killed and
/// kept from coming back (its role may not log in meanwhile).
mod two_nodes {
    use super::*;
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;
    use tessera_core::store::SessionStore;
    use tessera_store::PgStore;

    async fn until(what: &str, cond: impl Fn() -> bool) {
        // Polls another task's progress; no clock is involved.
        let waited = tokio::time::timeout(Duration::from_secs(30), async {
            while !cond() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting until {what}");
    }

    /// Whether B answers `token` from its cache: it still does after the
    /// row is deleted behind its back.
    async fn served_from_cache(a: &PgStore, b: &PgStore, session: SessionId, token: &[u8]) -> bool {
        assert!(b.session_by_token(token).await.unwrap().is_some());
        a.execute_raw(&format!("DELETE FROM sessions WHERE id = '{session}'"))
            .await
            .unwrap();
        b.session_by_token(token).await.unwrap().is_some()
    }

    /// Drops the test's role when the test ends, passed or not.
    struct DropRole(String, String);

    impl Drop for DropRole {
        fn drop(&mut self) {
            let (url, role) = (self.0.clone(), self.1.clone());
            // Its own thread and runtime: the test's may be unwinding.
            let cleanup = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let pool = sqlx::PgPool::connect(&url).await.unwrap();
                    for sql in [
                        format!("ALTER ROLE {role} NOLOGIN"),
                        format!(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE usename = '{role}'"
                        ),
                        format!("DROP ROLE {role}"),
                    ] {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&pool)
                            .await
                            .unwrap();
                    }
                });
            });
            let _ = cleanup.join();
        }
    }

    #[tokio::test]
    async fn a_node_whose_listener_drops_reads_through_until_it_listens_again() {
        let Some(url) = super::super::pg_schema_url().await else {
            return;
        };
        let a = PgStore::connect(&url).await.unwrap();
        a.migrate().await.unwrap();
        // B logs in as a role of its own, so it alone can be kept out.
        let role = format!("tessera_test_node_{}", uuid::Uuid::new_v4().simple());
        a.execute_raw(&format!("CREATE ROLE {role} LOGIN IN ROLE postgres"))
            .await
            .unwrap();
        let _drop_role = DropRole(url.clone(), role.clone());
        let b = PgStore::connect_with(PgConnectOptions::from_str(&url).unwrap().username(&role))
            .await
            .unwrap();
        assert!(b.cache_listener_healthy(), "listening from the start");
        let old_pid = b.cache_listener_pid().unwrap();

        let (acc, s1, t1) = signed_in(&a, "nodes@x.io").await;
        let (probe, probe_token) = another_session(&a, acc.id).await;
        assert!(served_from_cache(&a, &b, probe.id, &probe_token).await);
        assert!(b.session_by_token(&t1).await.unwrap().is_some(), "warm");

        // B's pool must not need a new connection while its role may not
        // log in: open a stock of them now, held at once.
        let held: Vec<_> = (0..8)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { b.execute_raw("SELECT pg_sleep(0.1)").await })
            })
            .collect();
        for h in held {
            h.await.unwrap().unwrap();
        }
        // Kill B's listener, precisely, and keep it down.
        a.execute_raw(&format!("ALTER ROLE {role} NOLOGIN"))
            .await
            .unwrap();
        a.execute_raw(&format!("SELECT pg_terminate_backend({old_pid})"))
            .await
            .unwrap();
        until("B notices its listener is gone", || {
            b.cache_listener_pid().is_none()
        })
        .await;

        // A revocation whose NOTIFY B cannot hear: B must not answer from
        // its cache, at once rather than after the TTL.
        assert!(a.delete_session(acc.id, s1.id).await.unwrap());
        assert!(b.session_by_token(&t1).await.unwrap().is_none());
        // And while deaf, B reads through instead of caching.
        let (s2, t2) = another_session(&a, acc.id).await;
        assert!(!served_from_cache(&a, &b, s2.id, &t2).await);
        assert!(!b.cache_listener_healthy());

        // Back: B listens on a new connection and caches again.
        a.execute_raw(&format!("ALTER ROLE {role} LOGIN"))
            .await
            .unwrap();
        until("B listens again", || b.cache_listener_healthy()).await;
        assert_ne!(b.cache_listener_pid(), Some(old_pid));
        let (s3, t3) = another_session(&a, acc.id).await;
        assert!(served_from_cache(&a, &b, s3.id, &t3).await);
    }
}
