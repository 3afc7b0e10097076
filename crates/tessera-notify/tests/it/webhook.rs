//! The webhook provider driven by the worker: what goes on the wire, and
//! what happens when the receiver fails.

use crate::support::*;
use std::time::{Duration, Instant};
use tessera_core::store::{OUTBOX_NEVER, OutboxStore};
use tessera_core::{Clock, ManualClock, OsSecrets};
use tessera_notify::Pass;

const TRICKY: &str =
    "Code 123456 \"quoted\" \\ back\nnew line, tab\t, unicode é 日本 😀 and {to} {id}";

#[tokio::test]
async fn delivers_with_url_auth_idempotency_key_and_escaped_body() {
    let rx = Receiver::start().await;
    let (store, _dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    let id = queue(store.as_ref(), "+15550100", TRICKY, T0).await;
    let provider = webhook(
        &format!("{}/hooks/sms?tenant=7", rx.base),
        Some("Authorization: Bearer t0k3n"),
        Some(r#"{"message":{"to":"{to}","body":"{text}"},"ref":"{id}","priority":1}"#),
    );
    let w = worker(store.clone(), provider, &clock);

    let pass = w.run_once().await.unwrap();
    assert_eq!((pass.claimed, pass.delivered), (1, 1));

    let seen = rx.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.path_and_query, "/hooks/sms?tenant=7");
    assert_eq!(r.header("authorization"), Some("Bearer t0k3n"));
    assert_eq!(
        r.header("idempotency-key"),
        Some(format!("tessera-outbox-{id}").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.body,
        serde_json::json!({
            "message": {"to": "+15550100", "body": TRICKY},
            "ref": format!("tessera-outbox-{id}"),
            "priority": 1,
        })
    );

    let m = message(store.as_ref(), "+15550100").await;
    assert_eq!(m.delivered_at, Some(T0));
    assert_eq!(m.body, "", "the code does not stay at rest");
    // Nothing is sent twice.
    clock.advance_secs(3600);
    assert_eq!(w.run_once().await.unwrap().claimed, 0);
    assert_eq!(rx.seen().len(), 1);
}

#[tokio::test]
async fn default_template_and_no_auth_header() {
    let rx = Receiver::start().await;
    let (store, _dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    queue(store.as_ref(), "+447700900123", "Your code: 42", T0).await;
    let w = worker(store.clone(), webhook(&rx.base, None, None), &clock);
    assert_eq!(w.run_once().await.unwrap().delivered, 1);
    let r = &rx.seen()[0];
    assert_eq!(r.path_and_query, "/");
    assert_eq!(r.header("authorization"), None);
    assert_eq!(
        r.body,
        serde_json::json!({"to": "+447700900123", "text": "Your code: 42"})
    );
}

#[tokio::test]
async fn an_outage_is_retried_with_backoff_and_delivered_once() {
    let rx = Receiver::start().await;
    rx.script(&[500, 503], 200);
    let (store, _dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    let id = queue(store.as_ref(), "+15550101", "Code 777", T0).await;
    let w = worker(store.clone(), webhook(&rx.base, None, None), &clock);

    // Attempt 1 fails: due again in 2 s, not before.
    assert_eq!(w.run_once().await.unwrap().retrying, 1);
    let m = message(store.as_ref(), "+15550101").await;
    assert_eq!((m.attempts, m.next_attempt_at), (1, T0.plus_secs(2)));
    assert_eq!(m.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(w.run_once().await.unwrap().claimed, 0);
    clock.advance_secs(1);
    assert_eq!(w.run_once().await.unwrap().claimed, 0);

    // Attempt 2 fails: the wait doubles to 4 s.
    clock.advance_secs(1);
    assert_eq!(w.run_once().await.unwrap().retrying, 1);
    clock.advance_secs(3);
    assert_eq!(w.run_once().await.unwrap().claimed, 0);

    // The receiver has recovered: attempt 3 delivers.
    clock.advance_secs(1);
    assert_eq!(w.run_once().await.unwrap().delivered, 1);
    let m = message(store.as_ref(), "+15550101").await;
    assert_eq!(m.delivered_at, Some(T0.plus_secs(6)));
    assert_eq!((m.body.as_str(), m.attempts), ("", 3));

    clock.advance_secs(86_400);
    assert_eq!(w.run_once().await.unwrap().claimed, 0);
    let seen = rx.seen();
    let statuses: Vec<u16> = seen.iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![500, 503, 200]);
    assert_eq!(
        seen.iter()
            .filter(|s| (200..300).contains(&s.status))
            .count(),
        1,
        "exactly one successful delivery"
    );
    let key = format!("tessera-outbox-{id}");
    assert!(
        seen.iter()
            .all(|s| s.header("idempotency-key") == Some(&key))
    );
}

#[tokio::test]
async fn too_many_requests_is_retried_and_a_refused_connection_too() {
    let rx = Receiver::start().await;
    rx.script(&[429], 200);
    let (store, _dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    queue(store.as_ref(), "+15550102", "Code 1", T0).await;
    let w = worker(store.clone(), webhook(&rx.base, None, None), &clock);
    assert_eq!(w.run_once().await.unwrap().retrying, 1);
    clock.advance_secs(2);
    assert_eq!(w.run_once().await.unwrap().delivered, 1);

    // Nobody listens on a port we bound and closed.
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    queue(store.as_ref(), "+15550103", "Code 2", clock.now()).await;
    let w = worker(
        store.clone(),
        webhook(&format!("http://{closed}"), None, None),
        &clock,
    );
    assert_eq!(w.run_once().await.unwrap().retrying, 1);
    let m = message(store.as_ref(), "+15550103").await;
    assert!(m.delivered_at.is_none());
    assert!(!m.body.is_empty(), "kept for the next attempt");
    assert!(m.last_error.unwrap().contains("onnect"));
}

#[tokio::test]
async fn a_permanent_refusal_is_not_retried() {
    let rx = Receiver::start().await;
    rx.script(&[400], 200);
    let (store, _dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    queue(store.as_ref(), "+15550104", "Code 2", T0).await;
    let w = worker(store.clone(), webhook(&rx.base, None, None), &clock);

    assert_eq!(w.run_once().await.unwrap().abandoned, 1);
    for _ in 0..3 {
        clock.advance_secs(86_400);
        assert_eq!(w.run_once().await.unwrap().claimed, 0);
    }
    assert_eq!(rx.seen().len(), 1);
    let m = message(store.as_ref(), "+15550104").await;
    assert_eq!(m.delivered_at, None);
    assert_eq!(m.next_attempt_at, OUTBOX_NEVER);
    assert_eq!(m.body, "", "an abandoned code does not stay at rest either");
    assert!(m.last_error.unwrap().contains("HTTP 400"));
}

#[tokio::test]
async fn a_long_outage_ends_in_giving_up_after_a_day() {
    let rx = Receiver::start().await;
    rx.script(&[], 503);
    let (store, _dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    queue(store.as_ref(), "+15550105", "Code 3", T0).await;
    let w = worker(store.clone(), webhook(&rx.base, None, None), &clock);
    let mut total = Pass::default();
    for _ in 0..200 {
        let p = w.run_once().await.unwrap();
        total.retrying += p.retrying;
        total.abandoned += p.abandoned;
        if p.abandoned > 0 {
            break;
        }
        clock.advance_secs(600);
    }
    assert_eq!(total.abandoned, 1);
    let elapsed = clock.now().millis() - T0.millis();
    assert!(
        elapsed > 23 * 3_600_000 && elapsed <= 24 * 3_600_000,
        "gave up after {elapsed} ms"
    );
    let m = message(store.as_ref(), "+15550105").await;
    let err = m.last_error.unwrap();
    assert!(err.starts_with("gave up after"), "{err}");
    assert!(err.contains("HTTP 503"), "{err}");
    // The wait never exceeds 10 minutes: one try per 10-minute step, a day long.
    assert_eq!(rx.seen().len(), 145);
    assert_eq!(rx.seen().len(), total.retrying + 1);
}

#[tokio::test]
async fn bodies_that_do_not_open_and_bad_numbers_are_abandoned_unsent() {
    let rx = Receiver::start().await;
    let (store, _dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    // Sealed with another key, and sealed for another recipient.
    let other = tessera_core::crypto::SecretBox::new(&[1u8; 32]).unwrap();
    let foreign = tessera_core::outbox::seal_sms_body(&other, &OsSecrets, "+15550106", "x");
    store
        .enqueue("sms", "+15550106", "", &foreign, T0)
        .await
        .unwrap();
    let moved = tessera_core::outbox::seal_sms_body(&secret_box(), &OsSecrets, "+15550999", "x");
    store
        .enqueue("sms", "+15550107", "", &moved, T0)
        .await
        .unwrap();
    queue(store.as_ref(), "0044 7700 900", "x", T0).await;
    let w = worker(store.clone(), webhook(&rx.base, None, None), &clock);
    let pass = w.run_once().await.unwrap();
    assert_eq!((pass.claimed, pass.abandoned), (3, 3));
    assert!(rx.seen().is_empty());
    for to in ["+15550106", "+15550107"] {
        let m = message(store.as_ref(), to).await;
        assert!(m.last_error.unwrap().contains("does not open"));
    }
    let m = message(store.as_ref(), "0044 7700 900").await;
    assert!(m.last_error.unwrap().contains("E.164"));
}

#[tokio::test]
async fn a_wake_sends_at_once_and_shutdown_is_prompt() {
    let rx = Receiver::start().await;
    let (store, _dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    let w = worker(store.clone(), webhook(&rx.base, None, None), &clock).with_config(
        tessera_notify::WorkerConfig {
            poll_interval: Duration::from_secs(3600),
            ..Default::default()
        },
    );
    let wake = w.wake_handle();
    let handle = w.spawn();
    // Let it do its first (empty) pass and go to sleep for an hour.
    tokio::time::sleep(Duration::from_millis(200)).await;
    queue(store.as_ref(), "+15550108", "Code 4", T0).await;
    wake.wake();
    let start = Instant::now();
    while rx.seen().is_empty() && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rx.seen().len(), 1, "woken, not polled");
    let stopping = Instant::now();
    handle.shutdown(Duration::from_secs(10)).await;
    assert!(stopping.elapsed() < Duration::from_secs(2));
}
