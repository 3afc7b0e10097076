//! FlowStore: sign-in flows are spent once, read with what they need in one
//! query, and settle a second step in the session commit.

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
            async fn flows_are_deleted_exactly_once() {
                let Some(s) = store().await else { return };
                let a = account("f@x.io");
                s.insert_account(&a).await.unwrap();
                let f = FlowRecord {
                    id_hash: b"flow-hash".to_vec(),
                    account_id: a.id,
                    client: ClientKind::Mobile,
                    binding: b"bind".to_vec(),
                    first_method: AuthMethod::Password,
                    created_at: Timestamp(1),
                    expires_at: Timestamp(2),
                };
                s.insert_flow(&f, None).await.unwrap();
                let (read, owner) = s.flow_by_id_hash(b"flow-hash").await.unwrap().unwrap();
                assert_eq!(read, f);
                assert_eq!(owner.id, a.id);
                assert_eq!(owner.email, a.email);
                let mut tasks = Vec::new();
                for _ in 0..10 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.delete_flow(b"flow-hash").await.unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);
                assert!(s.flow_by_id_hash(b"flow-hash").await.unwrap().is_none());
            }

            #[tokio::test]
            async fn a_second_step_settled_in_the_session_commit_obeys_the_backoff_and_the_step() {
                let Some(s) = store().await else { return };
                let a = account("settle@x.io");
                s.insert_account(&a).await.unwrap();
                s.set_pending_totp(a.id, b"seed", Timestamp(1))
                    .await
                    .unwrap();
                assert!(
                    s.activate_totp(a.id, b"seed", 100, Some("rk"), Timestamp(1))
                        .await
                        .unwrap()
                );
                s.insert_flow(
                    &FlowRecord {
                        id_hash: b"settle-flow".to_vec(),
                        account_id: a.id,
                        client: ClientKind::Mobile,
                        binding: b"bind".to_vec(),
                        first_method: AuthMethod::Password,
                        created_at: Timestamp(1),
                        expires_at: Timestamp(10_000),
                    },
                    None,
                )
                .await
                .unwrap();
                let key = "2sv:settle";
                let strict = SlotRule {
                    tolerated: 0,
                    ceiling: Some(3),
                    lease_ms: 1_000,
                };
                let try_at = |now: i64, step: i64, n: u8| {
                    let s = s.clone();
                    async move {
                        s.create_session_with_audit(
                            &NewSession {
                                session: session_for(a.id, now),
                                token_hash: vec![n; 32],
                            },
                            &[NewAuditEvent::new(AuditKind::SigninSucceeded)],
                            &SessionExtras {
                                spend_flow: Some(b"settle-flow".as_slice()),
                                totp: Some(TotpCommit {
                                    step,
                                    backoff_key: key,
                                    rule: strict,
                                    now: Timestamp(now),
                                    clear_failures: true,
                                }),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap()
                    }
                };
                // Blocked: nothing is written, not even the flow's spending.
                assert_eq!(s.limiter_count_failure(key).await.unwrap(), 1);
                s.limiter_settle(key, Some(Timestamp(50))).await.unwrap();
                assert_eq!(try_at(10, 101, 1).await, SessionStart::TotpRefused);
                assert!(s.flow_by_id_hash(b"settle-flow").await.unwrap().is_some());
                // A slot in flight, where the rule allows one: no slot.
                assert_eq!(
                    s.limiter_claim(key, None, Timestamp(60), strict)
                        .await
                        .unwrap(),
                    Claim::Granted
                );
                assert_eq!(try_at(61, 101, 2).await, SessionStart::TotpRefused);
                s.limiter_release(key).await.unwrap();
                // A used step: nothing written, the failures still counted.
                assert_eq!(try_at(62, 100, 3).await, SessionStart::TotpRefused);
                assert_eq!(s.limiter_state(key).await.unwrap().unwrap().0, 1);
                assert!(s.sessions_of(a.id).await.unwrap().is_empty());
                assert!(s.flow_by_id_hash(b"settle-flow").await.unwrap().is_some());
                // The right step: one commit spends the flow, uses the step,
                // clears the failures and starts the session.
                assert_eq!(try_at(63, 101, 4).await, SessionStart::Started);
                assert_eq!(
                    s.limiter_state(key).await.unwrap().unwrap(),
                    (0, Timestamp(0))
                );
                assert!(!s.consume_totp_step(a.id, 101).await.unwrap());
                assert!(s.flow_by_id_hash(b"settle-flow").await.unwrap().is_none());
                assert_eq!(s.sessions_of(a.id).await.unwrap().len(), 1);
                // At the ceiling the key gives nothing, block over or not.
                for _ in 0..3 {
                    s.limiter_count_failure(key).await.unwrap();
                }
                s.limiter_settle(key, None).await.unwrap();
                s.insert_flow(
                    &FlowRecord {
                        id_hash: b"settle-flow".to_vec(),
                        account_id: a.id,
                        client: ClientKind::Mobile,
                        binding: b"bind".to_vec(),
                        first_method: AuthMethod::Password,
                        created_at: Timestamp(1),
                        expires_at: Timestamp(10_000),
                    },
                    None,
                )
                .await
                .unwrap();
                assert_eq!(try_at(100_000, 500, 5).await, SessionStart::TotpRefused);
                assert!(
                    s.consume_totp_step(a.id, 500).await.unwrap(),
                    "the step was not used"
                );
                // A key never seen before is clear.
                let fresh = account("fresh@x.io");
                s.insert_account(&fresh).await.unwrap();
                s.set_pending_totp(fresh.id, b"seed", Timestamp(1))
                    .await
                    .unwrap();
                s.activate_totp(fresh.id, b"seed", 0, Some("rk"), Timestamp(1))
                    .await
                    .unwrap();
                let started = s
                    .create_session_with_audit(
                        &NewSession {
                            session: session_for(fresh.id, 5),
                            token_hash: vec![9; 32],
                        },
                        &[],
                        &SessionExtras {
                            totp: Some(TotpCommit {
                                step: 1,
                                backoff_key: "2sv:fresh",
                                rule: strict,
                                now: Timestamp(5),
                                clear_failures: false,
                            }),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(started, SessionStart::Started);
            }

            #[tokio::test]
            async fn a_flow_is_read_with_its_account_authenticator_and_backoff() {
                let Some(s) = store().await else { return };
                let a = account("ctx@x.io");
                s.insert_account(&a).await.unwrap();
                let f = FlowRecord {
                    id_hash: b"ctx-flow".to_vec(),
                    account_id: a.id,
                    client: ClientKind::Web,
                    binding: b"bind".to_vec(),
                    first_method: AuthMethod::Password,
                    created_at: Timestamp(1),
                    expires_at: Timestamp(2),
                };
                s.insert_flow(&f, None).await.unwrap();
                let bare = s.flow_context(b"ctx-flow", "pre:").await.unwrap().unwrap();
                assert_eq!(bare.flow, f);
                assert_eq!(bare.account.id, a.id);
                assert!(bare.totp.is_none());
                assert!(bare.backoff.is_none());
                s.set_pending_totp(a.id, b"seed", Timestamp(1))
                    .await
                    .unwrap();
                s.activate_totp(a.id, b"seed", 42, Some("rk"), Timestamp(1))
                    .await
                    .unwrap();
                let key = format!("pre:{}", a.id);
                s.limiter_count_failure(&key).await.unwrap();
                s.limiter_settle(&key, Some(Timestamp(77))).await.unwrap();
                // Another account's key with the same prefix is not read.
                s.limiter_count_failure("pre:someone-else").await.unwrap();
                let full = s.flow_context(b"ctx-flow", "pre:").await.unwrap().unwrap();
                let totp = full.totp.unwrap();
                assert_eq!(
                    (totp.sealed_secret.as_slice(), totp.last_step),
                    (b"seed".as_slice(), 42)
                );
                assert_eq!(full.backoff, Some((1, Timestamp(77))));
                assert!(
                    s.flow_context(b"ctx-flow", "other:")
                        .await
                        .unwrap()
                        .unwrap()
                        .backoff
                        .is_none()
                );
                assert!(s.flow_context(b"no-flow", "pre:").await.unwrap().is_none());
            }

            #[tokio::test]
            async fn a_flow_starts_exactly_one_session_under_parallel_finishes() {
                let Some(s) = store().await else { return };
                let a = account("spend@x.io");
                s.insert_account(&a).await.unwrap();
                s.insert_flow(
                    &FlowRecord {
                        id_hash: b"spend-me".to_vec(),
                        account_id: a.id,
                        client: ClientKind::Mobile,
                        binding: b"bind".to_vec(),
                        first_method: AuthMethod::Password,
                        created_at: Timestamp(1),
                        expires_at: Timestamp(2),
                    },
                    None,
                )
                .await
                .unwrap();
                let mut tasks = Vec::new();
                for i in 0..10u8 {
                    let s = s.clone();
                    let new = NewSession {
                        session: session_for(a.id, 10),
                        token_hash: vec![i; 32],
                    };
                    tasks.push(tokio::spawn(async move {
                        s.create_session_with_audit(
                            &new,
                            &[NewAuditEvent::new(AuditKind::SigninSucceeded)],
                            &SessionExtras {
                                last_method: Some(MethodKind::Totp),
                                spend_flow: Some(b"spend-me".as_slice()),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() == SessionStart::Started {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);
                assert_eq!(
                    s.sessions_of(a.id).await.unwrap().len(),
                    1,
                    "losers wrote nothing"
                );
                assert_eq!(
                    s.inventory(a.id).await.unwrap().last_used,
                    Some(MethodKind::Totp)
                );
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
