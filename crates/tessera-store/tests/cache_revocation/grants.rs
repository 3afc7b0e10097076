//! The same rule for what an OpenID Connect access token is checked
//! against: a grant with its session and account, and a client with its
//! secret's hash, both answered from the cache. Once a write that revokes
//! the grant, ends its session, deactivates its account or changes or
//! removes its client has returned, no later lookup answers with the old
//! state, even with lookups racing the write; and another PostgreSQL node
//! hears of a revoked grant and a re-keyed client.

use super::{Node, signed_in};
use crate::oidc::grants::grant;
use crate::oidc::{client, stored_secret};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tessera_core::account::Account;
use tessera_core::clock::Timestamp;
use tessera_core::oidc::client::OidcClient;
use tessera_core::oidc::grant::OidcGrant;
use tessera_core::session::Session;
use tessera_core::store::{Effects, Store};

/// An account signed in, a client, and a redeemed grant made in the
/// session.
pub(super) async fn granted(
    s: &dyn Store,
    email: &str,
) -> (Account, Session, OidcClient, OidcGrant) {
    let (account, session, _) = signed_in(s, email).await;
    let c = client("Grafana", false);
    s.insert_oidc_client_with(&c, Some(b"secret-1"), &Effects::none())
        .await
        .unwrap();
    let grant = OidcGrant {
        session_id: Some(session.id),
        ..grant(c.id, account.id, 10)
    };
    s.insert_oidc_grant(&grant, &grant.id.0.as_bytes().repeat(2))
        .await
        .unwrap();
    (account, session, c, grant)
}

/// Every write that must end a grant's tokens.
#[derive(Clone, Copy, Debug)]
enum Ending {
    RevokeGrant,
    SignOut,
    EndAllSessions,
    Deactivate,
    RemoveClient,
}

const ALL: [Ending; 5] = [
    Ending::RevokeGrant,
    Ending::SignOut,
    Ending::EndAllSessions,
    Ending::Deactivate,
    Ending::RemoveClient,
];

impl Ending {
    async fn apply(self, s: &dyn Store, a: &Account, session: &Session, grant: &OidcGrant) {
        let now = Timestamp(5_000);
        let _: bool = match self {
            Ending::RevokeGrant => s
                .revoke_oidc_grant_with(grant.id, now, &Effects::none())
                .await
                .unwrap(),
            Ending::SignOut => s.delete_session(a.id, session.id).await.unwrap(),
            Ending::EndAllSessions => s.delete_sessions_except(a.id, None).await.unwrap() > 0,
            Ending::Deactivate => s.set_active(a.id, false, now).await.unwrap(),
            Ending::RemoveClient => s
                .delete_oidc_client_with(grant.client_id, &Effects::none())
                .await
                .unwrap(),
        };
    }
}

/// Whether the answer still shows the grant's tokens alive: the grant not
/// revoked, its session there, its account active.
fn alive(got: &Option<(OidcGrant, Option<Session>, Account)>) -> bool {
    got.as_ref()
        .is_some_and(|(g, s, a)| g.revoked_at.is_none() && s.is_some() && a.active)
}

async fn every_ending_evicts_the_cached_grant(node: Node) {
    for kind in ALL {
        let s = node.store.as_ref();
        let (a, session, _, grant) = granted(s, &format!("{kind:?}@x.io").to_lowercase()).await;
        assert!(alive(&s.oidc_grant_with_holder(grant.id).await.unwrap()));
        // Changed behind the cache's back: the store answers from its
        // cache until an eviction makes it look again.
        node.behind
            .execute(
                "UPDATE oidc_grants SET redirect_uri = 'https://behind.example' WHERE id = $1",
                &grant.id.to_string(),
            )
            .await;
        let cached = s.oidc_grant_with_holder(grant.id).await.unwrap().unwrap();
        assert_eq!(
            cached.0.redirect_uri, grant.redirect_uri,
            "{kind:?}: the answer comes from the cache"
        );
        kind.apply(s, &a, &session, &grant).await;
        let after = s.oidc_grant_with_holder(grant.id).await.unwrap();
        assert!(!alive(&after), "{kind:?} left the grant's tokens alive");
    }
}

async fn a_changed_or_removed_client_is_read_again(node: Node) {
    let s = node.store.as_ref();
    let (_, _, c, _) = granted(s, "client@x.io").await;
    assert_eq!(stored_secret(s, c.id).await, Some(b"secret-1".to_vec()));
    node.behind
        .execute(
            "UPDATE oidc_clients SET name = 'behind' WHERE id = $1",
            &c.id.to_string(),
        )
        .await;
    let (cached, _) = s.oidc_client_with_secret_hash(c.id).await.unwrap().unwrap();
    assert_eq!(cached.name, "Grafana", "the answer comes from the cache");
    // A new secret: the old one stops working at once.
    assert!(
        s.set_oidc_client_secret_with(c.id, b"secret-2", Timestamp(20), &Effects::none())
            .await
            .unwrap()
    );
    assert_eq!(stored_secret(s, c.id).await, Some(b"secret-2".to_vec()));
    // A change of its settings.
    let renamed = OidcClient {
        name: "Grafana 2".into(),
        updated_at: Timestamp(30),
        ..c.clone()
    };
    assert!(
        s.update_oidc_client_with(&renamed, &Effects::none())
            .await
            .unwrap()
    );
    let (now, _) = s.oidc_client_with_secret_hash(c.id).await.unwrap().unwrap();
    assert_eq!(now.name, "Grafana 2");
    // Removed: gone at once.
    assert!(
        s.delete_oidc_client_with(c.id, &Effects::none())
            .await
            .unwrap()
    );
    assert!(
        s.oidc_client_with_secret_hash(c.id)
            .await
            .unwrap()
            .is_none()
    );
}

/// Readers per round, and rounds: without the generation guard a stale
/// fill shows within a few dozen rounds (as for sessions).
const READERS: usize = 8;
const ROUNDS: usize = 90;

/// One round: readers loop on the grant while the writer keeps evicting
/// it without ending it, then ends it. Returns how many
/// lookups that started after the write returned saw the grant alive.
async fn race_one(s: Arc<dyn Store>, kind: Ending, round: usize) -> usize {
    let (a, session, c, grant) = granted(s.as_ref(), &format!("grace{round}@x.io")).await;
    assert!(alive(&s.oidc_grant_with_holder(grant.id).await.unwrap()));
    let ended = Arc::new(AtomicBool::new(false));
    let stale = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (s, ended, stale) = (s.clone(), ended.clone(), stale.clone());
            tokio::spawn(async move {
                let mut after = 0;
                while after < 20 {
                    tokio::task::yield_now().await;
                    let started_after = ended.load(Ordering::SeqCst);
                    let got = s.oidc_grant_with_holder(grant.id).await.unwrap();
                    if started_after {
                        after += 1;
                        if alive(&got) {
                            stale.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    // Evictions of the grant that leave it alive (its client renamed), so
    // readers are filling from the database when the real write lands.
    for i in 0..(round % 5) + 1 {
        let renamed = OidcClient {
            name: format!("Grafana {i}"),
            ..c.clone()
        };
        s.update_oidc_client_with(&renamed, &Effects::none())
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    kind.apply(s.as_ref(), &a, &session, &grant).await;
    ended.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }
    stale.load(Ordering::SeqCst)
}

async fn lookups_racing_an_ending_never_see_the_grant_alive_afterwards(node: Node) {
    let mut stale = Vec::new();
    for round in 0..ROUNDS {
        let kind = ALL[round % ALL.len()];
        let n = race_one(node.store.clone(), kind, round).await;
        if n > 0 {
            stale.push((round, kind, n));
        }
    }
    assert!(
        stale.is_empty(),
        "grants alive after the write returned (round, kind, lookups): {stale:?}"
    );
}

macro_rules! grant_cache_tests {
    ($backend:ident) => {
        mod $backend {
            #[tokio::test]
            async fn every_ending_evicts_the_cached_grant() {
                let Some(node) = super::super::$backend().await else {
                    return;
                };
                super::every_ending_evicts_the_cached_grant(node).await;
            }

            #[tokio::test]
            async fn a_changed_or_removed_client_is_read_again() {
                let Some(node) = super::super::$backend().await else {
                    return;
                };
                super::a_changed_or_removed_client_is_read_again(node).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn lookups_racing_an_ending_never_see_the_grant_alive_afterwards() {
                let Some(node) = super::super::$backend().await else {
                    return;
                };
                super::lookups_racing_an_ending_never_see_the_grant_alive_afterwards(node).await;
            }
        }
    };
}

grant_cache_tests!(sqlite);
grant_cache_tests!(postgres);

/// Two nodes on one schema: what one revokes or re-keys, the other stops
/// answering from its cache as soon as the `NOTIFY` arrives, well before
/// the entry would have been refreshed on its own.
mod two_nodes {
    use super::*;
    use tessera_core::store::{OidcClientStore, OidcGrantStore};
    use tessera_store::PgStore;

    /// Polls `b` until `done` holds, for less than the cache's refresh
    /// age (1 s): past it, a lookup would read afresh without any notice.
    async fn heard(what: &str, done: impl AsyncFn() -> bool) {
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(800) {
            if done().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the other node did not hear of {what} in time");
    }

    #[tokio::test]
    async fn a_revoked_grant_and_a_new_secret_reach_the_other_node() {
        let Some(url) = super::super::super::pg_schema_url().await else {
            return;
        };
        let a = PgStore::connect(&url).await.unwrap();
        a.migrate().await.unwrap();
        let b = PgStore::connect(&url).await.unwrap();
        let (_, _, c, grant) = granted(&a, "nodes-grant@x.io").await;
        // B caches both, and is seen to answer from its cache.
        assert!(alive(&b.oidc_grant_with_holder(grant.id).await.unwrap()));
        assert!(
            b.oidc_client_with_secret_hash(c.id)
                .await
                .unwrap()
                .is_some()
        );
        a.execute_raw(&format!(
            "UPDATE oidc_grants SET redirect_uri = 'https://behind.example' WHERE id = '{}'",
            grant.id
        ))
        .await
        .unwrap();
        let cached = b.oidc_grant_with_holder(grant.id).await.unwrap().unwrap();
        assert_eq!(
            cached.0.redirect_uri, grant.redirect_uri,
            "B's cache answers"
        );

        assert!(
            a.revoke_oidc_grant_with(grant.id, Timestamp(50), &Effects::none())
                .await
                .unwrap()
        );
        heard("the revocation", async || {
            !alive(&b.oidc_grant_with_holder(grant.id).await.unwrap())
        })
        .await;

        assert!(
            a.set_oidc_client_secret_with(c.id, b"secret-2", Timestamp(60), &Effects::none())
                .await
                .unwrap()
        );
        heard("the new secret", async || {
            stored_secret(&b, c.id).await == Some(b"secret-2".to_vec())
        })
        .await;
    }
}
