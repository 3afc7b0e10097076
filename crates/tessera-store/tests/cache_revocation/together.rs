//! What arrives together is done once: concurrent misses for one
//! credential (a session, an API token, an OpenID Connect grant or client)
//! read the database once (the rest wait for that read and are
//! answered from what it stored), and last-use touches of many credentials
//! share a transaction. Proved on PostgreSQL by holding the table locked,
//! so every statement that is made queues on the lock where it can be
//! counted, then letting them go.

use super::grants::granted;
use super::{Behind, another_session, postgres, signed_in};
use crate::tokens::token_for;
use std::sync::Arc;
use std::time::Duration;
use tessera_core::clock::Timestamp;
use tessera_core::store::Store;

/// Statements on `table` queued behind the lock `locker` holds.
async fn queued_reads(pool: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE relation = $1::regclass AND NOT granted",
    )
    .bind(table)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Runs `n` calls of `start` at once while `table` is locked; returns how
/// many statements reached the database, and every answer.
async fn stampede<T: Send + 'static>(
    pool: &sqlx::PgPool,
    table: &'static str,
    n: usize,
    start: impl Fn(usize) -> tokio::task::JoinHandle<T>,
) -> (i64, Vec<T>) {
    let mut locker = pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *locker)
    .await
    .unwrap();
    let running: Vec<_> = (0..n).map(start).collect();
    // Polls the database for the first read; no clock is involved.
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        while queued_reads(pool, table).await == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(first.is_ok(), "no lookup reached the database");
    // Time for the others to queue too, were they to read: without the
    // gate, the pool's connections fill within milliseconds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reads = queued_reads(pool, table).await;
    locker.rollback().await.unwrap();
    let mut answers = Vec::new();
    for r in running {
        answers.push(r.await.unwrap());
    }
    (reads, answers)
}

/// 32 lookups of one credential at once on a cold cache: every one is
/// answered with `want`, and `table` is read once.
async fn read_once<T, F>(pool: &sqlx::PgPool, table: &'static str, want: T, lookup: impl Fn() -> F)
where
    T: PartialEq + std::fmt::Debug + Send + 'static,
    F: Future<Output = Option<T>> + Send + 'static,
{
    let (reads, answers) = stampede(pool, table, 32, |_| tokio::spawn(lookup())).await;
    let want = Some(want);
    assert!(answers.iter().all(|a| *a == want), "{answers:?}");
    assert_eq!(reads, 1, "32 lookups on a cold cache read {table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_for_one_credential_read_once() {
    let Some(node) = postgres().await else {
        return;
    };
    let Behind::Pg(pool) = &node.behind else {
        unreachable!("postgres() gives a PostgreSQL node");
    };
    let store: Arc<dyn Store> = node.store.clone();
    let (account, session, hash) = signed_in(store.as_ref(), "stampede@x.io").await;
    read_once(pool, "sessions", session.id, || {
        let (s, h) = (store.clone(), hash.clone());
        async move { s.session_by_token(&h).await.unwrap().map(|(s, _)| s.id) }
    })
    .await;

    let token = token_for(account.id, 1);
    store
        .insert_api_token(&token, b"stampede-token")
        .await
        .unwrap();
    read_once(pool, "api_tokens", token.id, || {
        let s = store.clone();
        async move {
            s.api_token_by_hash(b"stampede-token")
                .await
                .unwrap()
                .map(|(t, _)| t.id)
        }
    })
    .await;

    // What an OpenID Connect access token is checked against: its grant,
    // and the client that authenticates at introspection.
    let (_, _, client, grant) = granted(store.as_ref(), "stampede-oidc@x.io").await;
    read_once(pool, "oidc_grants", grant.id, || {
        let s = store.clone();
        async move {
            s.oidc_grant_with_holder(grant.id)
                .await
                .unwrap()
                .map(|(g, _, _)| g.id)
        }
    })
    .await;
    read_once(pool, "oidc_clients", client.id, || {
        let s = store.clone();
        async move {
            s.oidc_client_with_secret_hash(client.id)
                .await
                .unwrap()
                .map(|(c, _)| c.id)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn touches_due_together_share_one_transaction() {
    let Some(node) = postgres().await else {
        return;
    };
    let Behind::Pg(pool) = &node.behind else {
        unreachable!("postgres() gives a PostgreSQL node");
    };
    let store: Arc<dyn Store> = node.store.clone();
    let (account, first, _) = signed_in(store.as_ref(), "touched@x.io").await;
    let mut sessions = vec![first];
    for _ in 1..16 {
        sessions.push(another_session(store.as_ref(), account.id).await.0);
    }
    let at = Timestamp(sessions[0].last_seen_at.0 + 60_000);
    let ids: Arc<Vec<_>> = Arc::new(sessions.iter().map(|s| s.id).collect());
    let (statements, answers) = stampede(pool, "sessions", 16, |i| {
        let (s, ids) = (store.clone(), ids.clone());
        tokio::spawn(async move { s.touch_session(ids[i], at).await.is_ok() })
    })
    .await;
    assert!(answers.iter().all(|ok| *ok), "every touch is committed");
    // The first transaction's statement waits on the lock; every touch
    // that came meanwhile waits for the next transaction, not on the lock.
    assert_eq!(statements, 1, "16 touches due together");
    let seen: Vec<i64> = sqlx::query_scalar("SELECT last_seen_at FROM sessions ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(seen, vec![at.0; 16], "every row has its touch");
}
