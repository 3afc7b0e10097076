//! AccountStore: accounts by id and email, unique emails under a race,
//! paging, updates, break-glass codes and bulk inserts that are all or
//! nothing.

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
            async fn accounts_round_trip_and_emails_are_unique() {
                let Some(s) = store().await else { return };
                let a = account("Ann@Example.com");
                s.insert_account(&a).await.unwrap();
                let got = s
                    .account_by_email(&Email::parse("ann@example.com").unwrap())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(got, a);
                assert_eq!(s.account_by_id(a.id).await.unwrap().unwrap(), a);
                let dup = account("ann@example.com");
                assert!(matches!(
                    s.insert_account(&dup).await,
                    Err(StoreError::Conflict(_))
                ));
                assert_eq!(s.count_accounts().await.unwrap(), 1);
                assert!(
                    s.account_by_id(AccountId(uuid::Uuid::new_v4()))
                        .await
                        .unwrap()
                        .is_none()
                );
            }

            #[tokio::test]
            async fn parallel_inserts_of_one_email_yield_one_account() {
                let Some(s) = store().await else { return };
                let mut tasks = Vec::new();
                for _ in 0..20 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.insert_account(&account("race@example.com")).await
                    }));
                }
                let mut ok = 0;
                for t in tasks {
                    match t.await.unwrap() {
                        Ok(()) => ok += 1,
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                assert_eq!(ok, 1);
                assert_eq!(s.count_accounts().await.unwrap(), 1);
            }

            #[tokio::test]
            async fn listing_pages_by_email() {
                let Some(s) = store().await else { return };
                for e in ["c@x.io", "a@x.io", "b@x.io"] {
                    s.insert_account(&account(e)).await.unwrap();
                }
                let page: Vec<String> = s
                    .list_accounts(1, 5)
                    .await
                    .unwrap()
                    .iter()
                    .map(|a| a.email.to_string())
                    .collect();
                assert_eq!(page, vec!["b@x.io", "c@x.io"]);
            }

            #[tokio::test]
            async fn updates_role_active_and_password() {
                let Some(s) = store().await else { return };
                let a = account("u@x.io");
                s.insert_account(&a).await.unwrap();
                assert!(
                    s.set_role(a.id, Role::Sysadmin, Timestamp(2))
                        .await
                        .unwrap()
                );
                assert!(s.set_active(a.id, false, Timestamp(2)).await.unwrap());
                assert!(s.set_password_hash(a.id, "h2", Timestamp(2)).await.unwrap());
                let got = s.account_by_id(a.id).await.unwrap().unwrap();
                assert_eq!(
                    (got.role, got.active, got.password_hash.as_deref()),
                    (Role::Sysadmin, false, Some("h2"))
                );
                // Compare-and-swap: a stale "old" hash changes nothing.
                assert!(
                    !s.replace_password_hash(a.id, "h1", "h3", Timestamp(3))
                        .await
                        .unwrap()
                );
                assert!(
                    s.replace_password_hash(a.id, "h2", "h3", Timestamp(3))
                        .await
                        .unwrap()
                );
                let missing = AccountId(uuid::Uuid::new_v4());
                assert!(
                    !s.set_role(missing, Role::Member, Timestamp(2))
                        .await
                        .unwrap()
                );
                assert!(!s.set_active(missing, true, Timestamp(2)).await.unwrap());
            }

            #[tokio::test]
            async fn break_glass_expires_and_is_consumed_once_under_race() {
                let Some(s) = store().await else { return };
                let a = account("bg@x.io");
                s.insert_account(&a).await.unwrap();
                assert!(s.break_glass(a.id, Timestamp(0)).await.unwrap().is_none());
                assert!(
                    s.set_break_glass(a.id, "bg-hash", Timestamp(5_000))
                        .await
                        .unwrap()
                );
                assert!(
                    s.break_glass(a.id, Timestamp(5_000))
                        .await
                        .unwrap()
                        .is_none(),
                    "expired"
                );
                assert_eq!(
                    s.break_glass(a.id, Timestamp(4_999))
                        .await
                        .unwrap()
                        .as_deref(),
                    Some("bg-hash")
                );
                let mut tasks = Vec::new();
                for _ in 0..20 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.consume_break_glass(a.id, "bg-hash").await.unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);
                assert!(s.break_glass(a.id, Timestamp(0)).await.unwrap().is_none());
            }

            #[tokio::test]
            async fn bulk_inserts_are_all_or_nothing() {
                let Some(s) = store().await else { return };
                let batch: Vec<Account> = (0..500)
                    .map(|i| account(&format!("bulk{i}@x.io")))
                    .collect();
                s.insert_accounts(&batch).await.unwrap();
                assert_eq!(s.count_accounts().await.unwrap(), 500);
                let clash = vec![account("new@x.io"), account("bulk7@x.io")];
                assert!(matches!(
                    s.insert_accounts(&clash).await,
                    Err(StoreError::Conflict(_))
                ));
                assert!(
                    s.account_by_email(&Email::parse("new@x.io").unwrap())
                        .await
                        .unwrap()
                        .is_none(),
                    "rolled back"
                );
            }

            #[tokio::test]
            async fn ping_answers() {
                let Some(s) = store().await else { return };
                s.ping().await.unwrap();
                assert!(["sqlite", "postgres"].contains(&s.backend()));
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
