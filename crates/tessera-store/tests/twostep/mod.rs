//! TwoStepStore: authenticator enrollment, activation and the replay guard,
//! and a recovery key used once under a race.

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
            async fn totp_enrollment_activation_and_replay_guard() {
                let Some(s) = store().await else { return };
                let a = account("t@x.io");
                s.insert_account(&a).await.unwrap();
                assert!(s.totp_of(a.id).await.unwrap().is_none());
                s.set_pending_totp(a.id, b"sealed-1", Timestamp(5))
                    .await
                    .unwrap();
                s.set_pending_totp(a.id, b"sealed-2", Timestamp(6))
                    .await
                    .unwrap();
                assert_eq!(
                    s.pending_totp(a.id).await.unwrap(),
                    Some((b"sealed-2".to_vec(), Timestamp(6)))
                );
                // A stale pending seed does not activate.
                assert!(
                    !s.activate_totp(a.id, b"sealed-1", 100, Some("rk1"), Timestamp(7))
                        .await
                        .unwrap()
                );
                assert!(s.totp_of(a.id).await.unwrap().is_none());
                assert!(
                    s.activate_totp(a.id, b"sealed-2", 100, Some("rk1"), Timestamp(7))
                        .await
                        .unwrap()
                );
                assert!(s.pending_totp(a.id).await.unwrap().is_none());
                let rec = s.totp_of(a.id).await.unwrap().unwrap();
                assert_eq!(
                    (rec.sealed_secret.as_slice(), rec.last_step),
                    (&b"sealed-2"[..], 100)
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("rk1")
                );
                assert!(s.has_sealed_secrets().await.unwrap());

                // Steps only move forward, and each is used once under a race.
                assert!(!s.consume_totp_step(a.id, 100).await.unwrap());
                assert!(!s.consume_totp_step(a.id, 99).await.unwrap());
                let mut tasks = Vec::new();
                for _ in 0..20 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.consume_totp_step(a.id, 101).await.unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);

                // Replacing the app keeps the recovery key when none is given.
                s.set_pending_totp(a.id, b"sealed-3", Timestamp(8))
                    .await
                    .unwrap();
                assert!(
                    s.activate_totp(a.id, b"sealed-3", 200, None, Timestamp(9))
                        .await
                        .unwrap()
                );
                assert_eq!(
                    s.totp_of(a.id).await.unwrap().unwrap().sealed_secret,
                    b"sealed-3"
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("rk1")
                );

                assert!(s.disable_two_step(a.id).await.unwrap());
                assert!(s.totp_of(a.id).await.unwrap().is_none());
                assert!(s.recovery_key_hash(a.id).await.unwrap().is_none());
                assert!(!s.disable_two_step(a.id).await.unwrap());
            }

            #[tokio::test]
            async fn a_recovery_key_is_used_once_under_a_race() {
                let Some(s) = store().await else { return };
                let a = account("rk@x.io");
                s.insert_account(&a).await.unwrap();
                s.set_pending_totp(a.id, b"p", Timestamp(1)).await.unwrap();
                s.activate_totp(a.id, b"p", 1, Some("old"), Timestamp(1))
                    .await
                    .unwrap();
                let mut tasks = Vec::new();
                for i in 0..20 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.replace_recovery_key(a.id, Some("old"), &format!("new-{i}"), Timestamp(2))
                            .await
                            .unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);
                assert!(
                    s.recovery_key_hash(a.id)
                        .await
                        .unwrap()
                        .unwrap()
                        .starts_with("new-")
                );
                assert!(
                    s.replace_recovery_key(a.id, None, "fresh", Timestamp(3))
                        .await
                        .unwrap()
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("fresh")
                );
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
