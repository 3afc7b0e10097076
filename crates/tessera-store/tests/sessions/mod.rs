//! SessionStore: lookup, rotation, revocation, unique token hashes and the
//! sweep of expired sessions.

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
            async fn sessions_lookup_rotate_and_revoke() {
                let Some(s) = store().await else { return };
                let a = account("s@x.io");
                s.insert_account(&a).await.unwrap();
                let s1 = session_for(a.id, 10);
                let s2 = session_for(a.id, 20);
                let s3 = session_for(a.id, 30);
                for (sess, tok) in [(&s1, b"t1"), (&s2, b"t2"), (&s3, b"t3")] {
                    s.insert_session(&NewSession {
                        session: sess.clone(),
                        token_hash: tok.to_vec(),
                    })
                    .await
                    .unwrap();
                }
                let (got, acc) = s.session_by_token(b"t1").await.unwrap().unwrap();
                assert_eq!(got, s1);
                assert_eq!(acc, a);
                assert!(s.session_by_token(b"nope").await.unwrap().is_none());

                s.touch_session(s1.id, Timestamp(500)).await.unwrap();
                s.touch_session(s1.id, Timestamp(400)).await.unwrap(); // never moves back
                assert_eq!(
                    s.session_by_token(b"t1")
                        .await
                        .unwrap()
                        .unwrap()
                        .0
                        .last_seen_at,
                    Timestamp(500)
                );

                assert!(
                    s.rotate_session(
                        s1.id,
                        b"t1-new",
                        Aal::Aal2,
                        &[AuthMethod::Password],
                        Timestamp(600),
                        false
                    )
                    .await
                    .unwrap()
                );
                assert!(
                    s.session_by_token(b"t1").await.unwrap().is_none(),
                    "old token must die"
                );
                let rotated = s.session_by_token(b"t1-new").await.unwrap().unwrap().0;
                assert_eq!(
                    (rotated.id, rotated.aal, rotated.verified_at),
                    (s1.id, Aal::Aal2, Timestamp(600))
                );

                let ids: Vec<_> = s
                    .sessions_of(a.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|x| x.id)
                    .collect();
                assert_eq!(ids, vec![s3.id, s2.id, s1.id]);

                let other = account("o@x.io");
                s.insert_account(&other).await.unwrap();
                assert!(
                    !s.delete_session(other.id, s2.id).await.unwrap(),
                    "not theirs"
                );
                assert!(s.delete_session(a.id, s2.id).await.unwrap());
                assert_eq!(
                    s.delete_sessions_except(a.id, Some(s1.id)).await.unwrap(),
                    1
                );
                let ids: Vec<_> = s
                    .sessions_of(a.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|x| x.id)
                    .collect();
                assert_eq!(ids, vec![s1.id]);
                assert_eq!(s.delete_sessions_except(a.id, None).await.unwrap(), 1);
                assert!(s.sessions_of(a.id).await.unwrap().is_empty());
            }

            #[tokio::test]
            async fn duplicate_token_hash_is_a_conflict() {
                let Some(s) = store().await else { return };
                let a = account("d@x.io");
                s.insert_account(&a).await.unwrap();
                s.insert_session(&NewSession {
                    session: session_for(a.id, 1),
                    token_hash: b"same".to_vec(),
                })
                .await
                .unwrap();
                let r = s
                    .insert_session(&NewSession {
                        session: session_for(a.id, 2),
                        token_hash: b"same".to_vec(),
                    })
                    .await;
                assert!(matches!(r, Err(StoreError::Conflict(_))));
            }

            #[tokio::test]
            async fn sweep_removes_only_expired_sessions() {
                let Some(s) = store().await else { return };
                let a = account("w@x.io");
                s.insert_account(&a).await.unwrap();
                let mut old = session_for(a.id, 0);
                old.expires_at = Timestamp(100);
                let mut idle = session_for(a.id, 0);
                idle.last_seen_at = Timestamp(50);
                let fresh = session_for(a.id, 150);
                for (x, t) in [(&old, b"1"), (&idle, b"2"), (&fresh, b"3")] {
                    s.insert_session(&NewSession {
                        session: x.clone(),
                        token_hash: t.to_vec(),
                    })
                    .await
                    .unwrap();
                }
                assert_eq!(
                    s.sweep_sessions(Timestamp(200), Timestamp(60))
                        .await
                        .unwrap(),
                    2
                );
                let left: Vec<_> = s
                    .sessions_of(a.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|x| x.id)
                    .collect();
                assert_eq!(left, vec![fresh.id]);
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
