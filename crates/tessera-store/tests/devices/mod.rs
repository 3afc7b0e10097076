//! DeviceStore: known devices belong to one account and are written in the
//! sign-in commit.

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
            async fn devices_are_known_only_to_their_account_and_ride_in_the_signin_commit() {
                let Some(s) = store().await else { return };
                let a = account("dev@x.io");
                let b = account("other@x.io");
                s.insert_account(&a).await.unwrap();
                s.insert_account(&b).await.unwrap();
                let device = KnownDevice {
                    account_id: a.id,
                    token_hash: vec![7; 32],
                    created_at: Timestamp(10),
                    expires_at: Timestamp(1_000),
                };
                s.limiter_claim(
                    "pw:dev@x.io",
                    None,
                    Timestamp(10),
                    rule(&BackoffPolicy::default()),
                )
                .await
                .unwrap();
                s.limiter_count_failure("pw-ip:1").await.unwrap();
                let started = s
                    .create_session_with_audit(
                        &NewSession {
                            session: session_for(a.id, 10),
                            token_hash: vec![1; 32],
                        },
                        &[],
                        &SessionExtras {
                            throttle_success: Some(("pw:dev@x.io", Some("pw-ip:1"))),
                            new_device: Some(&device),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(started, SessionStart::Started);
                assert_eq!(s.limiter_state("pw-ip:1").await.unwrap().unwrap().0, 0);
                let email = |e: &str| Email::parse(e).unwrap();
                let (acct, dev) = s
                    .account_for_signin(&email("dev@x.io"), Some(&[7; 32]), Timestamp(20))
                    .await
                    .unwrap();
                assert_eq!(acct.unwrap().id, a.id);
                assert!(dev);
                // Someone else's token, an unknown one, none, or an expired one.
                for (who, token, at) in [
                    ("other@x.io", Some([7u8; 32].as_slice()), 20),
                    ("dev@x.io", Some([8u8; 32].as_slice()), 20),
                    ("dev@x.io", None, 20),
                    ("dev@x.io", Some([7u8; 32].as_slice()), 1_000),
                ] {
                    let (acct, dev) = s
                        .account_for_signin(&email(who), token, Timestamp(at))
                        .await
                        .unwrap();
                    assert!(acct.is_some());
                    assert!(!dev, "{who} {token:?} at {at}");
                }
                assert_eq!(
                    s.account_for_signin(&email("nobody@x.io"), Some(&[7; 32]), Timestamp(20))
                        .await
                        .unwrap(),
                    (None, false)
                );
                assert!(s.known_device(a.id, &[7; 32], Timestamp(20)).await.unwrap());
                assert!(!s.known_device(b.id, &[7; 32], Timestamp(20)).await.unwrap());
                // A sign-in whose flow was already spent writes no device.
                let second = KnownDevice {
                    token_hash: vec![9; 32],
                    ..device.clone()
                };
                let started = s
                    .create_session_with_audit(
                        &NewSession {
                            session: session_for(a.id, 11),
                            token_hash: vec![2; 32],
                        },
                        &[],
                        &SessionExtras {
                            spend_flow: Some(b"no-such-flow".as_slice()),
                            new_device: Some(&second),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(started, SessionStart::FlowSpent);
                assert!(!s.known_device(a.id, &[9; 32], Timestamp(20)).await.unwrap());
                // An account keeps its newest devices only (after a sweep).
                let limit = tessera_core::store::DEVICES_PER_ACCOUNT as u8;
                for i in 0..limit + 3 {
                    let d = KnownDevice {
                        token_hash: vec![100 + i; 32],
                        created_at: Timestamp(100 + i64::from(i)),
                        ..device.clone()
                    };
                    let new = NewSession {
                        session: session_for(a.id, 20),
                        token_hash: vec![100 + i; 32],
                    };
                    let extras = SessionExtras {
                        new_device: Some(&d),
                        ..Default::default()
                    };
                    s.create_session_with_audit(&new, &[], &extras)
                        .await
                        .unwrap();
                }
                s.sweep_sessions(Timestamp(20), Timestamp(0)).await.unwrap();
                let known = |h: u8| {
                    let s = s.clone();
                    async move { s.known_device(a.id, &[h; 32], Timestamp(20)).await.unwrap() }
                };
                assert!(!known(7).await, "the oldest went first");
                assert!(!known(102).await);
                assert!(known(103).await);
                assert!(known(100 + limit + 2).await);
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
