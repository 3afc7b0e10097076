//! Two workers (as on two server nodes) on one outbox: every message is
//! delivered exactly once, on SQLite and on PostgreSQL.

use crate::support::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_core::ManualClock;
use tessera_core::store::OutboxStore;
use tessera_notify::WorkerConfig;

const MESSAGES: usize = 50;

/// Runs one worker per store against one receiver until all messages are
/// delivered, then checks that each was sent exactly once.
async fn deliver_each_once(a: Arc<dyn OutboxStore>, b: Arc<dyn OutboxStore>) {
    let rx = Receiver::start().await;
    // Slow answers keep sends in flight while the other worker claims.
    rx.delay_answers(Duration::from_millis(5));
    let clock = ManualClock::at(T0);
    for i in 0..MESSAGES {
        queue(
            a.as_ref(),
            &format!("+1555{i:07}"),
            &format!("Code {i}"),
            T0,
        )
        .await;
    }
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(5),
        batch: 4,
        ..WorkerConfig::default()
    };
    let handles: Vec<_> = [("a", a.clone()), ("b", b.clone())]
        .into_iter()
        .map(|(name, store)| {
            let provider = webhook(&rx.base, Some(&format!("X-Worker: {name}")), None);
            worker(store, provider, &clock)
                .with_config(config.clone())
                .spawn()
        })
        .collect();

    let start = Instant::now();
    while rx.seen().len() < MESSAGES && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give any duplicate a chance to show up before stopping.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for h in handles {
        h.shutdown(Duration::from_secs(10)).await;
    }

    let seen = rx.seen();
    let mut per_key: HashMap<String, usize> = HashMap::new();
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    for s in &seen {
        *per_key
            .entry(s.header("idempotency-key").unwrap().to_string())
            .or_default() += 1;
        *per_worker
            .entry(s.header("x-worker").unwrap().to_string())
            .or_default() += 1;
    }
    eprintln!("deliveries per worker: {per_worker:?}");
    assert_eq!(per_key.len(), MESSAGES, "every message sent");
    assert!(
        per_key.values().all(|&n| n == 1),
        "none sent twice: {per_key:?}"
    );
    assert_eq!(seen.len(), MESSAGES);
    for i in 0..MESSAGES {
        let m = message(b.as_ref(), &format!("+1555{i:07}")).await;
        assert!(
            m.delivered_at.is_some(),
            "message {i} recorded as delivered"
        );
        assert_eq!(m.body, "");
        assert_eq!(m.attempts, 1);
    }
}

#[tokio::test]
async fn two_workers_on_one_sqlite_file() {
    let (a, dir) = sqlite().await;
    // A second pool on the same file, as a second process would open it.
    let b = tessera_store::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    deliver_each_once(a, Arc::new(b)).await;
}

#[tokio::test]
async fn two_workers_on_one_postgres_schema() {
    let Some(scoped) =
        tessera_testkit::pg::fresh_test_schema("t", "two SMS workers on PostgreSQL").await
    else {
        return;
    };
    let a = tessera_store::PgStore::connect(&scoped).await.unwrap();
    a.migrate().await.unwrap();
    let b = tessera_store::PgStore::connect(&scoped).await.unwrap();
    // The schema stays, like every test's: scripts/test drops them by name.
    deliver_each_once(Arc::new(a), Arc::new(b)).await;
}
