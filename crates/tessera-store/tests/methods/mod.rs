//! MethodStore: the first and last second-step method, duplicates, text
//! messages only as a first method, and never removing the last method under
//! parallel removals.

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
            async fn methods_first_last_duplicate_and_sms_only_first() {
                let Some(s) = store().await else { return };
                let a = account("keys@example.com");
                s.insert_account(&a).await.unwrap();
                assert!(!s.inventory(a.id).await.unwrap().two_step_on());
                let key = |n: u8, kind: MethodKind| WebauthnRecord {
                    id: uuid::Uuid::new_v4(),
                    account_id: a.id,
                    kind,
                    name: format!("key {n}"),
                    credential_id: vec![n; 16],
                    credential: "{}".into(),
                    counter: 0,
                    created_at: Timestamp(i64::from(n)),
                    last_used_at: None,
                };
                let k1 = key(1, MethodKind::SecurityKey);
                assert_eq!(
                    s.add_webauthn(&k1, Some("rk"), Timestamp(1)).await.unwrap(),
                    Addition::Added { first: true }
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("rk")
                );
                let k2 = key(2, MethodKind::Passkey);
                assert_eq!(
                    s.add_webauthn(&k2, Some("other"), Timestamp(2))
                        .await
                        .unwrap(),
                    Addition::Added { first: false }
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("rk"),
                    "a later method keeps the recovery key"
                );
                // The same authenticator credential cannot be registered twice.
                let mut again = key(2, MethodKind::Passkey);
                again.id = uuid::Uuid::new_v4();
                assert_eq!(
                    s.add_webauthn(&again, None, Timestamp(3)).await.unwrap(),
                    Addition::Duplicate
                );
                let inv = s.inventory(a.id).await.unwrap();
                assert_eq!(inv.keys.len(), 2);
                assert_eq!(inv.keys[0].name, "key 1");
                assert_eq!(inv.keys[1].kind, MethodKind::Passkey);
                // Text messages only as the first method.
                s.set_pending_phone(a.id, "+15555550100", Timestamp(4))
                    .await
                    .unwrap();
                assert_eq!(
                    s.activate_sms(a.id, "+15555550100", "rk2", Timestamp(5))
                        .await
                        .unwrap(),
                    Addition::NotFirst
                );
                assert!(s.inventory(a.id).await.unwrap().sms_phone.is_none());
                // Rename only one's own; remove until one is left.
                assert!(s.rename_webauthn(a.id, k1.id, "Blue").await.unwrap());
                assert!(
                    !s.rename_webauthn(AccountId(uuid::Uuid::new_v4()), k1.id, "x")
                        .await
                        .unwrap()
                );
                assert_eq!(
                    s.remove_webauthn(a.id, k2.id).await.unwrap(),
                    Removal::Removed
                );
                assert_eq!(
                    s.remove_webauthn(a.id, k2.id).await.unwrap(),
                    Removal::NotFound
                );
                assert_eq!(
                    s.remove_webauthn(a.id, k1.id).await.unwrap(),
                    Removal::LastMethod
                );
                let inv = s.inventory(a.id).await.unwrap();
                assert_eq!(inv.keys.len(), 1);
                assert_eq!(inv.keys[0].name, "Blue");
                // The counter moves forward once per use, decided by the database.
                assert!(
                    s.record_webauthn_use(k1.id, 0, 5, "{}", Timestamp(6))
                        .await
                        .unwrap()
                );
                assert!(
                    !s.record_webauthn_use(k1.id, 0, 6, "{}", Timestamp(7))
                        .await
                        .unwrap()
                );
                let rec = s
                    .webauthn_by_credential_id(&[1; 16])
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!((rec.counter, rec.last_used_at), (5, Some(Timestamp(6))));
                s.set_last_method(a.id, MethodKind::SecurityKey)
                    .await
                    .unwrap();
                assert_eq!(
                    s.inventory(a.id).await.unwrap().last_used,
                    Some(MethodKind::SecurityKey)
                );
                // Turning 2SV off removes every method.
                assert!(s.disable_two_step(a.id).await.unwrap());
                let inv = s.inventory(a.id).await.unwrap();
                assert!(!inv.two_step_on() && inv.last_used.is_none());
                // Now text messages may be the first method.
                s.set_pending_phone(a.id, "+15555550100", Timestamp(8))
                    .await
                    .unwrap();
                assert_eq!(
                    s.activate_sms(a.id, "+15555550100", "rk3", Timestamp(9))
                        .await
                        .unwrap(),
                    Addition::Added { first: true }
                );
                assert_eq!(s.remove_sms(a.id).await.unwrap(), Removal::LastMethod);
            }

            #[tokio::test]
            async fn parallel_removals_never_remove_the_last_method() {
                let Some(s) = store().await else { return };
                let a = account("race-remove@example.com");
                s.insert_account(&a).await.unwrap();
                let mut ids = Vec::new();
                for n in 0..4u8 {
                    let rec = WebauthnRecord {
                        id: uuid::Uuid::new_v4(),
                        account_id: a.id,
                        kind: MethodKind::SecurityKey,
                        name: format!("k{n}"),
                        credential_id: vec![n, 9, 9, 9],
                        credential: "{}".into(),
                        counter: 0,
                        created_at: Timestamp(i64::from(n)),
                        last_used_at: None,
                    };
                    s.add_webauthn(&rec, Some("rk"), Timestamp(1))
                        .await
                        .unwrap();
                    ids.push(rec.id);
                }
                let mut tasks = Vec::new();
                for id in ids {
                    let s = s.clone();
                    tasks.push(tokio::spawn(
                        async move { s.remove_webauthn(a.id, id).await },
                    ));
                }
                let mut removed = 0;
                for t in tasks {
                    if t.await.unwrap().unwrap() == Removal::Removed {
                        removed += 1;
                    }
                }
                assert_eq!(removed, 3);
                assert_eq!(s.inventory(a.id).await.unwrap().keys.len(), 1);
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
