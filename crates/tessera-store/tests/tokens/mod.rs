//! API tokens and service accounts, on both backends: lookup by hash
//! through the who-am-I cache, a last use written at most once per
//! interval, revocation that beats the cache (on PostgreSQL on a second
//! node too), and conversion of a person's account that keeps the tokens,
//! drops every way to sign in, and never removes the last sysadmin, even
//! under a race.

use super::{account, session_for};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_core::account::{AccountKind, Role};
use tessera_core::apitoken::{ApiToken, ApiTokenId};
use tessera_core::clock::Timestamp;
use tessera_core::ids::AccountId;
use tessera_core::store::{Conversion, NewSession, Store, StoreError};

pub(crate) fn token_for(account: AccountId, created: i64) -> ApiToken {
    ApiToken {
        id: ApiTokenId(uuid::Uuid::new_v4()),
        account_id: account,
        label: "CI deploys".into(),
        scopes: vec!["read".into(), "write".into()],
        created_by: Some(account),
        created_at: Timestamp(created),
        expires_at: Timestamp(created + 86_400_000),
        last_used_at: None,
        last_used_ip: None,
    }
}

macro_rules! token_conformance {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            async fn store() -> Option<Arc<dyn Store>> {
                super::super::$backend().await.map(|f| {
                    let store = f.store.clone();
                    std::mem::forget(f._guard);
                    store
                })
            }

            #[tokio::test]
            async fn tokens_round_trip_touch_and_revoke() {
                let Some(s) = store().await else { return };
                let a = account("tok@x.io");
                let other = account("other@x.io");
                s.insert_account(&a).await.unwrap();
                s.insert_account(&other).await.unwrap();
                let t1 = token_for(a.id, 10);
                let t2 = token_for(a.id, 20);
                s.insert_api_token(&t1, b"h1").await.unwrap();
                s.insert_api_token(&t2, b"h2").await.unwrap();
                let dup = s.insert_api_token(&token_for(a.id, 30), b"h1").await;
                assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

                let (got, acc) = s.api_token_by_hash(b"h1").await.unwrap().unwrap();
                assert_eq!((got, acc), (t1.clone(), a.clone()));
                assert!(s.api_token_by_hash(b"nope").await.unwrap().is_none());
                assert_eq!(s.api_token_by_id(t2.id).await.unwrap(), Some(t2.clone()));

                // At most one recorded use per interval, whoever asks.
                let cutoff = |now: i64| Timestamp(now - 60_000);
                assert!(
                    s.touch_api_token(
                        t1.id,
                        Timestamp(100_000),
                        Some("192.0.2.1"),
                        cutoff(100_000)
                    )
                    .await
                    .unwrap()
                );
                assert!(
                    !s.touch_api_token(
                        t1.id,
                        Timestamp(120_000),
                        Some("192.0.2.2"),
                        cutoff(120_000)
                    )
                    .await
                    .unwrap()
                );
                let seen = s.api_token_by_hash(b"h1").await.unwrap().unwrap().0;
                assert_eq!(seen.last_used_at, Some(Timestamp(100_000)));
                assert_eq!(seen.last_used_ip.as_deref(), Some("192.0.2.1"));
                assert!(
                    s.touch_api_token(t1.id, Timestamp(160_000), None, cutoff(160_000))
                        .await
                        .unwrap()
                );

                let ids: Vec<_> = s
                    .api_tokens_of(a.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|t| t.id)
                    .collect();
                assert_eq!(ids, vec![t2.id, t1.id], "newest first");
                assert!(
                    !s.delete_api_token(t1.id, Some(other.id)).await.unwrap(),
                    "not theirs"
                );
                assert!(s.api_token_by_hash(b"h1").await.unwrap().is_some());
                assert!(s.delete_api_token(t1.id, Some(a.id)).await.unwrap());
                assert!(
                    s.api_token_by_hash(b"h1").await.unwrap().is_none(),
                    "revocation beats the cache"
                );
                assert!(!s.delete_api_token(t1.id, None).await.unwrap());
                assert!(s.api_token_by_hash(b"h2").await.unwrap().is_some());
                assert_eq!(s.delete_api_tokens_of(a.id).await.unwrap(), 1);
                assert!(s.api_token_by_hash(b"h2").await.unwrap().is_none());
            }

            #[tokio::test]
            async fn deactivation_is_seen_through_the_cached_token() {
                let Some(s) = store().await else { return };
                let a = account("deact@x.io");
                s.insert_account(&a).await.unwrap();
                s.insert_api_token(&token_for(a.id, 1), b"hd")
                    .await
                    .unwrap();
                assert!(s.api_token_by_hash(b"hd").await.unwrap().unwrap().1.active);
                s.set_active(a.id, false, Timestamp(5)).await.unwrap();
                assert!(!s.api_token_by_hash(b"hd").await.unwrap().unwrap().1.active);
            }

            #[tokio::test]
            async fn service_accounts_list_update_and_delete_with_their_tokens() {
                let Some(s) = store().await else { return };
                let mut svc = account("ci-1234@service.invalid");
                svc.kind = AccountKind::Service;
                svc.password_hash = None;
                svc.display_name = "CI".into();
                let person = account("person@x.io");
                s.insert_account(&svc).await.unwrap();
                s.insert_account(&person).await.unwrap();
                assert!(
                    s.update_service_account(svc.id, None, Some("builds"), Timestamp(2))
                        .await
                        .unwrap()
                );
                assert!(
                    !s.update_service_account(person.id, Some("x"), None, Timestamp(2))
                        .await
                        .unwrap(),
                    "a person is no service account"
                );
                let list = s.list_service_accounts().await.unwrap();
                assert_eq!(list.len(), 1);
                assert_eq!((list[0].0.id, list[0].1.as_str()), (svc.id, "builds"));
                assert!(
                    s.update_service_account(svc.id, Some("CI bot"), None, Timestamp(3))
                        .await
                        .unwrap()
                );
                assert_eq!(
                    s.account_by_id(svc.id).await.unwrap().unwrap().display_name,
                    "CI bot"
                );
                assert_eq!(
                    s.service_description(svc.id).await.unwrap().as_deref(),
                    Some("builds")
                );
                assert_eq!(s.service_description(person.id).await.unwrap(), None);

                s.insert_api_token(&token_for(svc.id, 1), b"hs")
                    .await
                    .unwrap();
                assert!(s.api_token_by_hash(b"hs").await.unwrap().is_some());
                assert!(
                    !s.delete_service_account(person.id).await.unwrap(),
                    "never a person"
                );
                assert!(s.account_by_id(person.id).await.unwrap().is_some());
                assert!(s.delete_service_account(svc.id).await.unwrap());
                assert!(
                    s.api_token_by_hash(b"hs").await.unwrap().is_none(),
                    "its tokens went with it"
                );
                assert!(s.account_by_id(svc.id).await.unwrap().is_none());
            }

            #[tokio::test]
            async fn conversion_keeps_tokens_and_drops_every_way_to_sign_in() {
                let Some(s) = store().await else { return };
                let mut bot = account("bot@x.io");
                bot.role = Role::OrgAdmin;
                s.insert_account(&bot).await.unwrap();
                s.insert_session(&NewSession {
                    session: session_for(bot.id, 1),
                    token_hash: b"sess".to_vec(),
                })
                .await
                .unwrap();
                assert!(s.session_by_token(b"sess").await.unwrap().is_some());
                s.set_pending_totp(bot.id, b"seed", Timestamp(1))
                    .await
                    .unwrap();
                assert!(
                    s.activate_totp(bot.id, b"seed", 5, Some("rk"), Timestamp(2))
                        .await
                        .unwrap()
                );
                let tok = token_for(bot.id, 3);
                s.insert_api_token(&tok, b"bot-token").await.unwrap();

                assert_eq!(
                    s.convert_to_service(bot.id, "was a bot", Timestamp(9))
                        .await
                        .unwrap(),
                    Conversion::Converted
                );
                let after = s.account_by_id(bot.id).await.unwrap().unwrap();
                assert_eq!(
                    (
                        after.kind,
                        after.role,
                        after.password_hash.clone(),
                        after.email.clone(),
                        after.display_name.clone()
                    ),
                    (
                        AccountKind::Service,
                        Role::OrgAdmin,
                        None,
                        bot.email.clone(),
                        bot.display_name.clone()
                    )
                );
                assert!(
                    s.session_by_token(b"sess").await.unwrap().is_none(),
                    "sessions end"
                );
                assert!(s.totp_of(bot.id).await.unwrap().is_none());
                assert!(s.recovery_key_hash(bot.id).await.unwrap().is_none());
                assert!(!s.inventory(bot.id).await.unwrap().two_step_on());
                let (kept, _) = s.api_token_by_hash(b"bot-token").await.unwrap().unwrap();
                assert_eq!(kept.id, tok.id, "tokens carry over");
                assert_eq!(
                    s.service_description(bot.id).await.unwrap().as_deref(),
                    Some("was a bot")
                );
                assert_eq!(
                    s.convert_to_service(bot.id, "", Timestamp(9))
                        .await
                        .unwrap(),
                    Conversion::AlreadyService
                );
                assert_eq!(
                    s.convert_to_service(AccountId(uuid::Uuid::new_v4()), "", Timestamp(9))
                        .await
                        .unwrap(),
                    Conversion::NotFound
                );
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn the_last_sysadmin_is_never_converted_even_under_a_race() {
                let Some(s) = store().await else { return };
                let mut one = account("root1@x.io");
                one.role = Role::Sysadmin;
                let mut two = account("root2@x.io");
                two.role = Role::Sysadmin;
                s.insert_account(&one).await.unwrap();
                s.insert_account(&two).await.unwrap();
                // Both at once: exactly one goes, the other is the last.
                let (a, b) = tokio::join!(
                    s.convert_to_service(one.id, "", Timestamp(1)),
                    s.convert_to_service(two.id, "", Timestamp(1))
                );
                let mut outcomes = vec![a.unwrap(), b.unwrap()];
                outcomes.sort_by_key(|o| format!("{o:?}"));
                assert_eq!(
                    outcomes,
                    vec![Conversion::Converted, Conversion::LastSysadmin]
                );
                let humans = [one.id, two.id];
                let mut left = 0;
                for id in humans {
                    if s.account_by_id(id).await.unwrap().unwrap().kind == AccountKind::Human {
                        left += 1;
                    }
                }
                assert_eq!(left, 1);
                // A deactivated sysadmin does not count as one who can sign in.
                let mut three = account("root3@x.io");
                three.role = Role::Sysadmin;
                three.active = false;
                s.insert_account(&three).await.unwrap();
                let last =
                    if s.account_by_id(one.id).await.unwrap().unwrap().kind == AccountKind::Human {
                        one.id
                    } else {
                        two.id
                    };
                assert_eq!(
                    s.convert_to_service(last, "", Timestamp(2)).await.unwrap(),
                    Conversion::LastSysadmin
                );
            }
        }
    };
}

token_conformance!(sqlite);
token_conformance!(postgres);

/// Two PostgreSQL nodes: a token revoked on one is refused on the other at
/// once (by NOTIFY), long before the cache's TTL would expire it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_revoked_on_one_node_is_gone_on_the_other() {
    let Some(url) = super::pg_schema_url().await else {
        return;
    };
    let a = tessera_store::PgStore::connect(&url).await.unwrap();
    a.migrate().await.unwrap();
    let b = tessera_store::PgStore::connect(&url).await.unwrap();
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) = (Arc::new(a), Arc::new(b));
    let person = account("two-nodes@x.io");
    a.insert_account(&person).await.unwrap();
    let t = token_for(person.id, 1);
    a.insert_api_token(&t, b"shared").await.unwrap();
    // Cached on both nodes.
    assert!(a.api_token_by_hash(b"shared").await.unwrap().is_some());
    assert!(b.api_token_by_hash(b"shared").await.unwrap().is_some());
    assert!(b.delete_api_token(t.id, None).await.unwrap());
    let started = Instant::now();
    while a.api_token_by_hash(b"shared").await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "node A still answers with the revoked token (cache TTL is 2 s)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
