//! The worker loop on its own, with a scripted [`Channel`]: what each kind
//! of failure does to a message, on the moved clock.

use crate::support::*;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tessera_core::store::{OUTBOX_NEVER, OutboxMessage, OutboxStore};
use tessera_core::{Clock, ManualClock, Timestamp};
use tessera_notify::{Channel, DeliveryError, OutboxWorker, Pass, RetryPolicy, WorkerConfig};

/// Answers each delivery with the next scripted outcome (then `Ok`), and
/// records which message ids it was asked to send.
#[derive(Default)]
struct Scripted {
    script: Mutex<VecDeque<Result<(), DeliveryError>>>,
    sent: Mutex<Vec<i64>>,
}

#[async_trait]
impl Channel for Scripted {
    fn name(&self) -> &'static str {
        "test"
    }

    async fn deliver(&self, msg: &OutboxMessage) -> Result<(), DeliveryError> {
        self.sent.lock().unwrap().push(msg.id);
        self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

async fn setup(
    script: Vec<Result<(), DeliveryError>>,
    retry: RetryPolicy,
) -> (
    OutboxWorker,
    Arc<Scripted>,
    Arc<tessera_store::SqliteStore>,
    ManualClock,
    tempfile::TempDir,
    i64,
) {
    let (store, dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    let channel = Arc::new(Scripted::default());
    channel.script.lock().unwrap().extend(script);
    store
        .enqueue("test", "someone", "subject", "body", T0)
        .await
        .unwrap();
    // Another channel's message is never this worker's.
    store
        .enqueue("other", "someone", "", "x", T0)
        .await
        .unwrap();
    let id = store
        .outbox_for("someone")
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.channel == "test")
        .unwrap()
        .id;
    let worker = OutboxWorker::new(store.clone(), channel.clone(), Arc::new(clock.clone()))
        .with_config(WorkerConfig {
            retry,
            ..WorkerConfig::default()
        });
    (worker, channel, store, clock, dir, id)
}

fn advance(clock: &ManualClock, ms: i64) {
    clock.set(Timestamp(clock.now().millis() + ms));
}

async fn row(store: &dyn OutboxStore, id: i64) -> OutboxMessage {
    store
        .outbox_for("someone")
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == id)
        .unwrap()
}

#[tokio::test]
async fn a_retryable_failure_waits_out_its_backoff_then_delivers_once() {
    let outage = || Err(DeliveryError::Retryable("connection refused".into()));
    let (w, ch, store, clock, _d, id) =
        setup(vec![outage(), outage()], RetryPolicy::default()).await;
    let p = w.run_once().await.unwrap();
    assert_eq!((p.claimed, p.retrying), (1, 1));
    assert_eq!(
        row(store.as_ref(), id).await.last_error.as_deref(),
        Some("connection refused")
    );
    // Not due again before its 2 s backoff.
    advance(&clock, 1_999);
    assert_eq!(w.run_once().await.unwrap(), Pass::default());
    advance(&clock, 1);
    assert_eq!(w.run_once().await.unwrap().retrying, 1);
    advance(&clock, 3_999);
    assert_eq!(w.run_once().await.unwrap().claimed, 0, "then 4 s");
    advance(&clock, 1);
    assert_eq!(w.run_once().await.unwrap().delivered, 1);
    advance(&clock, 3_600_000);
    assert_eq!(w.run_once().await.unwrap(), Pass::default(), "never again");
    assert_eq!(*ch.sent.lock().unwrap(), vec![id, id, id]);
    let m = row(store.as_ref(), id).await;
    assert!(m.delivered_at.is_some());
    assert_eq!(m.body, "", "the body is cleared once delivered");
}

#[tokio::test]
async fn an_uncertain_outcome_is_not_retried() {
    let (w, ch, store, clock, _d, id) = setup(
        vec![Err(DeliveryError::Uncertain(
            "connection lost after the message".into(),
        ))],
        RetryPolicy::default(),
    )
    .await;
    assert_eq!(w.run_once().await.unwrap().abandoned, 1);
    for _ in 0..5 {
        advance(&clock, 3_600_000);
        assert_eq!(w.run_once().await.unwrap().claimed, 0);
    }
    assert_eq!(ch.sent.lock().unwrap().len(), 1, "sent once, not twice");
    let m = row(store.as_ref(), id).await;
    assert_eq!(m.next_attempt_at, OUTBOX_NEVER);
    let why = m.last_error.unwrap();
    assert!(why.contains("may have accepted it"), "{why}");
}

#[tokio::test]
async fn a_permanent_failure_is_abandoned_with_its_reason() {
    let (w, ch, store, _clock, _d, id) = setup(
        vec![Err(DeliveryError::Permanent("550 no such user".into()))],
        RetryPolicy::default(),
    )
    .await;
    assert_eq!(w.run_once().await.unwrap().abandoned, 1);
    let m = row(store.as_ref(), id).await;
    assert_eq!(
        m.last_error.as_deref(),
        Some("550 no such user (not retried)")
    );
    assert_eq!(m.body, "");
    assert_eq!(ch.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn mail_outlives_a_day_long_outage_and_is_dropped_after_five_days() {
    let down = || Err(DeliveryError::Retryable("connection refused".into()));
    let (w, ch, store, clock, _d, id) =
        setup((0..2_000).map(|_| down()).collect(), RetryPolicy::mail()).await;
    // Retried every 10 minutes (at most) for two days: still queued.
    let mut passes = 0;
    while clock.now().millis() < T0.millis() + 2 * 24 * 3_600_000 {
        w.run_once().await.unwrap();
        advance(&clock, 600_000);
        passes += 1;
    }
    assert!(passes > 250);
    let m = row(store.as_ref(), id).await;
    assert!(
        m.delivered_at.is_none() && m.next_attempt_at != OUTBOX_NEVER,
        "{m:?}"
    );
    // Past five days it is given up.
    while row(store.as_ref(), id).await.next_attempt_at != OUTBOX_NEVER {
        advance(&clock, 600_000);
        w.run_once().await.unwrap();
        assert!(
            clock.now().millis() < T0.millis() + 6 * 24 * 3_600_000,
            "never abandoned"
        );
    }
    assert!(clock.now().millis() >= T0.millis() + 5 * 24 * 3_600_000 - 600_000);
    assert!(ch.sent.lock().unwrap().len() > 250);
}
