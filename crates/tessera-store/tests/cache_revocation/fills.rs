//! Concurrent misses for one credential read the database once: the rest
//! wait for that read and are answered from what it stored. Proved on
//! PostgreSQL by holding the table locked, so every read that is made
//! queues on the lock where it can be counted, then letting them go.

use super::{Behind, postgres, signed_in};
use crate::tokens::token_for;
use std::sync::Arc;
use std::time::Duration;
use tessera_core::store::Store;

/// Reads of `table` queued behind the lock `locker` holds.
async fn queued_reads(pool: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE relation = $1::regclass AND NOT granted",
    )
    .bind(table)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Runs `lookups` lookups of one credential at once while `table` is
/// locked; returns how many reads reached the database, and every answer.
async fn stampede<T: Send + 'static>(
    pool: &sqlx::PgPool,
    table: &'static str,
    lookups: usize,
    lookup: impl Fn() -> tokio::task::JoinHandle<T>,
) -> (i64, Vec<T>) {
    let mut locker = pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *locker)
    .await
    .unwrap();
    let running: Vec<_> = (0..lookups).map(|_| lookup()).collect();
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

    let (reads, answers) = stampede(pool, "sessions", 32, || {
        let (s, h) = (store.clone(), hash.clone());
        tokio::spawn(async move { s.session_by_token(&h).await.unwrap().map(|(s, _)| s.id) })
    })
    .await;
    assert!(
        answers.iter().all(|a| *a == Some(session.id)),
        "{answers:?}"
    );
    assert_eq!(reads, 1, "32 session lookups on a cold cache");

    let token = token_for(account.id, 1);
    store
        .insert_api_token(&token, b"stampede-token")
        .await
        .unwrap();
    let (reads, answers) = stampede(pool, "api_tokens", 32, || {
        let s = store.clone();
        tokio::spawn(async move {
            s.api_token_by_hash(b"stampede-token")
                .await
                .unwrap()
                .map(|(t, _)| t.id)
        })
    })
    .await;
    assert!(answers.iter().all(|a| *a == Some(token.id)), "{answers:?}");
    assert_eq!(reads, 1, "32 API token lookups on a cold cache");
}
