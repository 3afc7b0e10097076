//! LimiterStore: the backoff slots, blocks and ceiling the store applies are
//! the ones core computes, and no parallel attacker gets more than a
//! sequential one.

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
            async fn backoff_grants_no_more_slots_than_a_sequential_attacker_gets() {
                let Some(s) = store().await else { return };
                let now = Timestamp(1_000_000);
                let policy = BackoffPolicy {
                    tolerated: 5,
                    ..BackoffPolicy::default()
                };
                let mut tasks = Vec::new();
                for _ in 0..50 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.limiter_claim("k", None, now, rule(&policy))
                            .await
                            .unwrap()
                    }));
                }
                let mut granted = 0;
                for t in tasks {
                    if t.await.unwrap() == Claim::Granted {
                        granted += 1;
                    }
                }
                assert_eq!(granted, 6, "tolerated 5 + 1");
                // An abandoned slot frees itself when its lease runs out.
                assert_eq!(
                    s.limiter_claim("k", None, now, rule(&policy))
                        .await
                        .unwrap(),
                    Claim::Busy
                );
                assert_eq!(
                    s.limiter_claim("k", None, now.plus_secs(31), rule(&policy))
                        .await
                        .unwrap(),
                    Claim::Granted
                );
                // A released slot is free again at once; a success clears.
                s.limiter_release("k").await.unwrap();
                s.limiter_count_failure("k").await.unwrap();
                s.limiter_success("k", None).await.unwrap();
                assert_eq!(s.limiter_state("k").await.unwrap(), Some((0, Timestamp(0))));
            }

            /// Core computes slots and blocks; the store's claim applies
            /// them. For every failure count from 0 to 120 the two agree:
            /// as many slots as `BackoffPolicy::slots`, a block that ends
            /// exactly when core says, and a lock at the ceiling.
            #[tokio::test]
            async fn the_store_and_core_agree_on_slots_blocks_and_the_ceiling() {
                let Some(s) = store().await else { return };
                let policy = BackoffPolicy {
                    tolerated: 5,
                    ..BackoffPolicy::default()
                };
                let mut now = Timestamp(10_000_000);
                for failures in 0..=120u32 {
                    // Outside any block: count the slots the store grants.
                    let mut granted = 0;
                    loop {
                        match s
                            .limiter_claim("agree", None, now, rule(&policy))
                            .await
                            .unwrap()
                        {
                            Claim::Granted => granted += 1,
                            Claim::Busy => break,
                            Claim::Locked => break,
                            other => panic!("{failures} failures: unexpected {other:?}"),
                        }
                        assert!(granted <= 50, "runaway slots");
                    }
                    assert_eq!(
                        granted,
                        policy.slots(failures),
                        "slots after {failures} failures"
                    );
                    let locked = s
                        .limiter_claim("agree", None, now, rule(&policy))
                        .await
                        .unwrap()
                        == Claim::Locked;
                    assert_eq!(
                        locked,
                        policy.locked(failures),
                        "lock after {failures} failures"
                    );
                    for _ in 0..granted {
                        s.limiter_release("agree").await.unwrap();
                    }
                    // One more failure, blocked as core says.
                    let counted = s.limiter_count_failure("agree").await.unwrap();
                    assert_eq!(counted, failures + 1);
                    let until = policy
                        .block_after(counted)
                        .map(|d| now.plus_millis(d.as_millis() as i64));
                    s.limiter_settle("agree", until).await.unwrap();
                    let (stored, blocked) = s.limiter_state("agree").await.unwrap().unwrap();
                    assert_eq!(stored, counted);
                    assert_eq!(blocked, until.unwrap_or(Timestamp(0)).max(blocked));
                    if let Some(until) = until {
                        let expect = if policy.locked(counted) {
                            Claim::Locked
                        } else {
                            Claim::BlockedUntil(until)
                        };
                        assert_eq!(
                            s.limiter_claim("agree", None, now, rule(&policy))
                                .await
                                .unwrap(),
                            expect,
                            "during the block after {counted} failures"
                        );
                    }
                    now = now.plus_secs(7200);
                }
                // Without a ceiling (the recovery key) one slot stays.
                let open = policy.without_ceiling();
                assert_eq!(
                    s.limiter_claim("agree", None, now, rule(&open))
                        .await
                        .unwrap(),
                    Claim::Granted
                );
            }

            #[tokio::test]
            async fn a_block_only_grows_and_a_blocked_guard_refuses_without_counting() {
                let Some(s) = store().await else { return };
                let policy = BackoffPolicy {
                    tolerated: 5,
                    ..BackoffPolicy::default()
                };
                let now = Timestamp(5_000_000);
                s.limiter_count_failure("g").await.unwrap();
                s.limiter_settle("g", Some(now.plus_secs(8))).await.unwrap();
                // A racing failure that computed a shorter block loses.
                s.limiter_settle("g", Some(now.plus_secs(2))).await.unwrap();
                assert_eq!(
                    s.limiter_state("g").await.unwrap(),
                    Some((1, now.plus_secs(8)))
                );
                // The guard's block refuses a fresh key and creates nothing.
                assert_eq!(
                    s.limiter_claim("fresh", Some("g"), now, rule(&policy))
                        .await
                        .unwrap(),
                    Claim::BlockedUntil(now.plus_secs(8))
                );
                assert_eq!(s.limiter_state("fresh").await.unwrap(), None);
                assert_eq!(
                    s.limiter_claim("fresh", Some("g"), now.plus_secs(8), rule(&policy))
                        .await
                        .unwrap(),
                    Claim::Granted
                );
                // A success clears a second key's failures, not its slots.
                let p = BackoffPolicy::default();
                s.limiter_claim("other", None, now, rule(&p)).await.unwrap();
                s.limiter_count_failure("other").await.unwrap();
                s.limiter_claim("mine", None, now, rule(&p)).await.unwrap();
                s.limiter_success("mine", Some("other")).await.unwrap();
                assert_eq!(
                    s.limiter_state("other").await.unwrap(),
                    Some((0, Timestamp(0)))
                );
                assert_eq!(
                    s.limiter_claim("other", None, now, rule(&p)).await.unwrap(),
                    Claim::Granted,
                    "two slots after no failure, one still held"
                );
                assert_eq!(
                    s.limiter_claim("other", None, now, rule(&p)).await.unwrap(),
                    Claim::Busy
                );
                // Clearing by key and by prefix.
                s.limiter_count_failure("pw-dev:a:1").await.unwrap();
                s.limiter_count_failure("pw-dev:a:2").await.unwrap();
                s.limiter_count_failure("pw-dev:b:1").await.unwrap();
                let cleared = s
                    .limiter_clear(&["g".to_string(), "nothing".to_string()], Some("pw-dev:a:"))
                    .await
                    .unwrap();
                assert_eq!(cleared, 3);
                assert_eq!(s.limiter_state("g").await.unwrap(), Some((0, Timestamp(0))));
                assert_eq!(s.limiter_state("pw-dev:b:1").await.unwrap().unwrap().0, 1);
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
