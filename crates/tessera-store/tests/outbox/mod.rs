//! OutboxStore and KeyCheckStore: the outbox claims, leases and settles
//! messages once each, oldest first, and the key canary guards the sealing
//! key.

use super::*;

macro_rules! conformance {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            async fn store() -> Option<Arc<dyn Store>> {
                // The guard leaks deliberately: the database must outlive the test body.
                super::super::$backend().await.map(|f| {
                    let store = f.store.clone();
                    std::mem::forget(f._guard);
                    store
                })
            }

            #[tokio::test]
            async fn outbox_and_key_canary() {
                let Some(s) = store().await else { return };
                s.enqueue("email", "a@x.io", "Hello", "Body", Timestamp(1))
                    .await
                    .unwrap();
                s.enqueue("email", "a@x.io", "Again", "Body 2", Timestamp(2))
                    .await
                    .unwrap();
                let m = s.outbox_for("a@x.io").await.unwrap();
                assert_eq!(
                    m.iter().map(|x| x.subject.as_str()).collect::<Vec<_>>(),
                    vec!["Again", "Hello"]
                );
                assert!(m[0].delivered_at.is_none());
                assert!(s.key_canary().await.unwrap().is_none());
                assert!(!s.has_sealed_secrets().await.unwrap());
                assert_eq!(s.init_key_canary(b"first").await.unwrap(), b"first");
                assert_eq!(
                    s.init_key_canary(b"second").await.unwrap(),
                    b"first",
                    "never overwritten"
                );
            }

            #[tokio::test]
            async fn outbox_claims_lease_and_settle_by_attempt() {
                let Some(s) = store().await else { return };
                let t = Timestamp(1_000_000);
                s.enqueue("sms", "+15550001", "", "sealed-1", t)
                    .await
                    .unwrap();
                s.enqueue("sms", "+15550002", "", "sealed-2", t.plus_secs(10))
                    .await
                    .unwrap();
                s.enqueue("email", "a@x.io", "Hi", "mail", t).await.unwrap();

                // Only due messages of the channel, up to the limit.
                let got = s.claim_due("sms", t, 60_000, 10).await.unwrap();
                assert_eq!(got.len(), 1);
                let m = &got[0];
                assert_eq!(
                    (m.recipient.as_str(), m.body.as_str()),
                    ("+15550001", "sealed-1")
                );
                assert_eq!(m.attempts, 1);
                assert_eq!(m.next_attempt_at, t.plus_secs(60), "leased");
                // Leased: nobody else gets it, even once the other is due.
                let later = s
                    .claim_due("sms", t.plus_secs(10), 60_000, 10)
                    .await
                    .unwrap();
                assert_eq!(later.len(), 1);
                assert_eq!(later[0].recipient, "+15550002");
                assert!(
                    s.claim_due("sms", t.plus_secs(59), 60_000, 10)
                        .await
                        .unwrap()
                        .is_empty()
                );

                // A failure reschedules; a stale attempt number changes nothing.
                assert!(!s.mark_failed(m.id, 0, t, "stale").await.unwrap());
                assert!(
                    s.mark_failed(m.id, 1, t.plus_secs(2), "HTTP 500")
                        .await
                        .unwrap()
                );
                assert!(
                    s.claim_due("sms", t.plus_secs(1), 60_000, 10)
                        .await
                        .unwrap()
                        .is_empty()
                );
                let again = s
                    .claim_due("sms", t.plus_secs(2), 60_000, 10)
                    .await
                    .unwrap();
                assert_eq!((again.len(), again[0].attempts), (1, 2));
                assert_eq!(again[0].last_error.as_deref(), Some("HTTP 500"));
                // The first claim's late answer is refused: attempt 2 owns it.
                assert!(!s.mark_delivered(m.id, 1, t.plus_secs(3)).await.unwrap());
                assert!(s.mark_delivered(m.id, 2, t.plus_secs(3)).await.unwrap());
                assert!(
                    !s.mark_delivered(m.id, 2, t.plus_secs(4)).await.unwrap(),
                    "once"
                );
                assert!(!s.mark_failed(m.id, 2, t, "late").await.unwrap());
                let done = &s.outbox_for("+15550001").await.unwrap()[0];
                assert_eq!(done.delivered_at, Some(t.plus_secs(3)));
                assert_eq!(done.body, "", "the code does not stay at rest");
                assert_eq!(done.last_error, None);

                // An expired lease makes the message due again.
                let re = s
                    .claim_due("sms", t.plus_secs(70), 60_000, 10)
                    .await
                    .unwrap();
                assert_eq!(
                    (re.len(), re[0].recipient.as_str(), re[0].attempts),
                    (1, "+15550002", 2)
                );
                // Abandoned: never due again, body gone, reason kept.
                assert!(s.mark_abandoned(re[0].id, 2, "HTTP 400").await.unwrap());
                assert!(
                    s.claim_due("sms", Timestamp(i64::MAX / 2), 60_000, 10)
                        .await
                        .unwrap()
                        .is_empty()
                );
                let gone = &s.outbox_for("+15550002").await.unwrap()[0];
                assert_eq!((gone.body.as_str(), gone.delivered_at), ("", None));
                assert_eq!(gone.next_attempt_at, tessera_core::store::OUTBOX_NEVER);
                assert_eq!(gone.last_error.as_deref(), Some("HTTP 400"));
                // Other channels are untouched.
                assert_eq!(s.outbox_for("a@x.io").await.unwrap()[0].attempts, 0);
            }

            #[tokio::test]
            async fn outbox_claims_oldest_first_up_to_the_limit() {
                let Some(s) = store().await else { return };
                for i in 0..5 {
                    s.enqueue("sms", &format!("+1555000{i}"), "", "b", Timestamp(100 - i))
                        .await
                        .unwrap();
                }
                let got = s.claim_due("sms", Timestamp(100), 1000, 2).await.unwrap();
                let mut to: Vec<_> = got.iter().map(|m| m.recipient.as_str()).collect();
                to.sort();
                assert_eq!(to, vec!["+15550003", "+15550004"]);
                assert!(got.windows(2).all(|w| w[0].id < w[1].id), "in id order");
            }

            #[tokio::test]
            async fn outbox_parallel_claimers_get_each_message_once() {
                let Some(s) = store().await else { return };
                const MESSAGES: usize = 60;
                const CLAIMERS: usize = 8;
                for i in 0..MESSAGES {
                    s.enqueue("sms", &format!("+1555{i:06}"), "", "b", Timestamp(1))
                        .await
                        .unwrap();
                }
                let mut tasks = Vec::new();
                for _ in 0..CLAIMERS {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut mine = Vec::new();
                        // Bounded, so a claim that is not exclusive fails
                        // the test instead of looping forever.
                        for _ in 0..MESSAGES {
                            let got = s.claim_due("sms", Timestamp(2), 60_000, 3).await.unwrap();
                            if got.is_empty() {
                                break;
                            }
                            mine.extend(got.into_iter().map(|m| m.id));
                            tokio::task::yield_now().await;
                        }
                        mine
                    }));
                }
                let mut all = Vec::new();
                let mut busy_claimers = 0;
                for t in tasks {
                    let mine = t.await.unwrap();
                    busy_claimers += usize::from(!mine.is_empty());
                    all.extend(mine);
                }
                all.sort();
                let claimed = all.len();
                all.dedup();
                assert_eq!(claimed, MESSAGES, "no message claimed twice");
                assert_eq!(all.len(), MESSAGES, "every message claimed");
                assert!(busy_claimers >= 1);
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
