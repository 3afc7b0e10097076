//! Grants and refresh token families, on both backends: every field round
//! trips; a code is redeemed once and a refresh token replaced once, even
//! by sixteen racing callers; a revoked grant redeems and rotates nothing;
//! effects are written only with a change that happened; a grant goes
//! with its client but outlives its session; the sweep removes only what
//! is stale.

use super::{client, kinds};
use crate::{account, session_for};
use std::sync::Arc;
use tessera_core::audit::{AuditKind, NewAuditEvent};
use tessera_core::clock::Timestamp;
use tessera_core::ids::{AccountId, SessionId};
use tessera_core::oidc::client::{OidcClientId, OidcScope};
use tessera_core::oidc::grant::{OidcGrant, OidcGrantId};
use tessera_core::session::{Aal, AuthMethod};
use tessera_core::store::{Effects, NewSession, Store, StoreError};

/// A grant with every optional field set, created at `created`.
pub(crate) fn grant(client: OidcClientId, account: AccountId, created: i64) -> OidcGrant {
    OidcGrant {
        id: OidcGrantId(uuid::Uuid::new_v4()),
        client_id: client,
        account_id: account,
        session_id: Some(SessionId(uuid::Uuid::new_v4())),
        redirect_uri: "https://app.example.com/cb?x=1".into(),
        scopes: vec![
            OidcScope::OpenId,
            OidcScope::Email,
            OidcScope::OfflineAccess,
        ],
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        auth_time: Timestamp(created - 7),
        aal: Aal::Aal2,
        methods: vec![AuthMethod::Password, AuthMethod::Totp],
        created_at: Timestamp(created),
        code_expires_at: Timestamp(created + 60_000),
        code_used_at: None,
        revoked_at: None,
    }
}

/// An audit record: whether it appears tells whether effects were written.
fn marker(at: i64) -> Effects {
    Effects::at(Timestamp(at)).audit(NewAuditEvent::new(AuditKind::SessionRevoked))
}

async fn markers(s: &Arc<dyn Store>) -> usize {
    kinds(s)
        .await
        .iter()
        .filter(|k| *k == "session.revoked")
        .count()
}

/// An account and a client for grants to name.
async fn parties(s: &Arc<dyn Store>, email: &str) -> (AccountId, OidcClientId) {
    let a = account(email);
    s.insert_account(&a).await.unwrap();
    let c = client("Grafana", false);
    s.insert_oidc_client_with(&c, Some(b"secret"), &Effects::none())
        .await
        .unwrap();
    (a.id, c.id)
}

macro_rules! grant_conformance {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            async fn store() -> Option<Arc<dyn Store>> {
                crate::$backend().await.map(|f| {
                    let store = f.store.clone();
                    std::mem::forget(f._guard);
                    store
                })
            }

            #[tokio::test]
            async fn every_field_round_trips_by_code_and_by_id() {
                let Some(s) = store().await else { return };
                let (a, c) = parties(&s, "grant-rt@x.io").await;
                let full = grant(c, a, 1_000);
                let bare = OidcGrant {
                    id: OidcGrantId(uuid::Uuid::new_v4()),
                    session_id: None,
                    nonce: None,
                    code_challenge: None,
                    scopes: vec![OidcScope::OpenId],
                    aal: Aal::Aal1,
                    methods: vec![AuthMethod::Passkey],
                    code_used_at: Some(Timestamp(1_010)),
                    revoked_at: Some(Timestamp(1_020)),
                    ..grant(c, a, 1_000)
                };
                s.insert_oidc_grant(&full, b"code-full").await.unwrap();
                s.insert_oidc_grant(&bare, b"code-bare").await.unwrap();

                assert_eq!(
                    s.oidc_grant_by_code(b"code-full").await.unwrap(),
                    Some(full.clone())
                );
                assert_eq!(s.oidc_grant(full.id).await.unwrap(), Some(full.clone()));
                assert_eq!(
                    s.oidc_grant_by_code(b"code-bare").await.unwrap(),
                    Some(bare.clone())
                );
                assert_eq!(s.oidc_grant(bare.id).await.unwrap(), Some(bare));
                assert_eq!(s.oidc_grant_by_code(b"code-none").await.unwrap(), None);
                assert_eq!(
                    s.oidc_grant(OidcGrantId(uuid::Uuid::new_v4()))
                        .await
                        .unwrap(),
                    None
                );
                // A code hash names one grant only.
                let twin = grant(c, a, 1_000);
                let dup = s.insert_oidc_grant(&twin, b"code-full").await;
                assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
            }

            #[tokio::test]
            async fn a_code_is_redeemed_once_and_never_after_revocation() {
                let Some(s) = store().await else { return };
                let (a, c) = parties(&s, "grant-redeem@x.io").await;
                let g = grant(c, a, 1_000);
                s.insert_oidc_grant(&g, b"code-1").await.unwrap();

                assert!(
                    s.redeem_oidc_code_with(g.id, b"rt-1", Timestamp(1_005), &marker(1_005))
                        .await
                        .unwrap()
                );
                let stored = s.oidc_grant(g.id).await.unwrap().unwrap();
                assert_eq!(stored.code_used_at, Some(Timestamp(1_005)));
                let rt = s.oidc_refresh_token(b"rt-1").await.unwrap().unwrap();
                assert_eq!(rt.grant, stored);
                assert_eq!(rt.used_at, None);

                // The second redemption writes nothing: no refresh token,
                // no effects, the first use's time kept.
                assert!(
                    !s.redeem_oidc_code_with(g.id, b"rt-2", Timestamp(1_006), &marker(1_006))
                        .await
                        .unwrap()
                );
                assert_eq!(s.oidc_refresh_token(b"rt-2").await.unwrap(), None);
                assert_eq!(
                    s.oidc_grant(g.id).await.unwrap().unwrap().code_used_at,
                    Some(Timestamp(1_005))
                );
                assert_eq!(markers(&s).await, 1);

                // An unknown grant redeems nothing either.
                assert!(
                    !s.redeem_oidc_code_with(
                        OidcGrantId(uuid::Uuid::new_v4()),
                        b"rt-3",
                        Timestamp(1_007),
                        &marker(1_007)
                    )
                    .await
                    .unwrap()
                );
                assert_eq!(s.oidc_refresh_token(b"rt-3").await.unwrap(), None);

                // A revoked grant's code is dead, though never used.
                let r = grant(c, a, 2_000);
                s.insert_oidc_grant(&r, b"code-r").await.unwrap();
                assert!(
                    s.revoke_oidc_grant_with(r.id, Timestamp(2_001), &Effects::none())
                        .await
                        .unwrap()
                );
                assert!(
                    !s.redeem_oidc_code_with(r.id, b"rt-r", Timestamp(2_002), &marker(2_002))
                        .await
                        .unwrap()
                );
                assert_eq!(s.oidc_refresh_token(b"rt-r").await.unwrap(), None);
                assert_eq!(
                    s.oidc_grant(r.id).await.unwrap().unwrap().code_used_at,
                    None
                );
                assert_eq!(markers(&s).await, 1);
            }

            #[tokio::test]
            async fn of_sixteen_racing_redemptions_exactly_one_wins() {
                let Some(s) = store().await else { return };
                let (a, c) = parties(&s, "grant-race@x.io").await;
                let g = grant(c, a, 1_000);
                s.insert_oidc_grant(&g, b"code-race").await.unwrap();
                let mut tasks = Vec::new();
                for i in 0..16u8 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        let won = s
                            .redeem_oidc_code_with(
                                g.id,
                                &[b'r', i],
                                Timestamp(1_001),
                                &marker(1_001),
                            )
                            .await
                            .unwrap();
                        (i, won)
                    }));
                }
                let mut winners = Vec::new();
                for t in tasks {
                    let (i, won) = t.await.unwrap();
                    if won {
                        winners.push(i);
                    }
                }
                assert_eq!(winners.len(), 1, "{winners:?}");
                for i in 0..16u8 {
                    let rt = s.oidc_refresh_token(&[b'r', i]).await.unwrap();
                    assert_eq!(rt.is_some(), winners == [i], "refresh token {i}");
                }
                assert_eq!(
                    markers(&s).await,
                    1,
                    "only the winner's effects are written"
                );
            }

            #[tokio::test]
            async fn a_refresh_token_is_replaced_once_and_never_after_revocation() {
                let Some(s) = store().await else { return };
                let (a, c) = parties(&s, "grant-rotate@x.io").await;
                let g = grant(c, a, 1_000);
                s.insert_oidc_grant(&g, b"code").await.unwrap();
                assert!(
                    s.redeem_oidc_code_with(g.id, b"rt-1", Timestamp(1_001), &Effects::none())
                        .await
                        .unwrap()
                );

                assert!(
                    s.rotate_oidc_refresh_token(b"rt-1", b"rt-2", Timestamp(1_100))
                        .await
                        .unwrap()
                );
                let old = s.oidc_refresh_token(b"rt-1").await.unwrap().unwrap();
                assert_eq!(old.used_at, Some(Timestamp(1_100)));
                let new = s.oidc_refresh_token(b"rt-2").await.unwrap().unwrap();
                assert_eq!((new.grant.id, new.used_at), (g.id, None));

                // The replaced token again: refused, nothing written.
                assert!(
                    !s.rotate_oidc_refresh_token(b"rt-1", b"rt-x", Timestamp(1_200))
                        .await
                        .unwrap()
                );
                assert_eq!(s.oidc_refresh_token(b"rt-x").await.unwrap(), None);
                assert_eq!(
                    s.oidc_refresh_token(b"rt-1")
                        .await
                        .unwrap()
                        .unwrap()
                        .used_at,
                    Some(Timestamp(1_100))
                );
                // An unknown token: refused.
                assert!(
                    !s.rotate_oidc_refresh_token(b"rt-?", b"rt-y", Timestamp(1_200))
                        .await
                        .unwrap()
                );
                assert_eq!(s.oidc_refresh_token(b"rt-y").await.unwrap(), None);

                // The successor works.
                assert!(
                    s.rotate_oidc_refresh_token(b"rt-2", b"rt-3", Timestamp(1_300))
                        .await
                        .unwrap()
                );

                // Revoked (twice: the second is refused and writes nothing),
                // the family's live token is refused too.
                assert!(
                    s.revoke_oidc_grant_with(g.id, Timestamp(1_400), &marker(1_400))
                        .await
                        .unwrap()
                );
                assert!(
                    !s.revoke_oidc_grant_with(g.id, Timestamp(1_500), &marker(1_500))
                        .await
                        .unwrap()
                );
                assert_eq!(markers(&s).await, 1);
                assert!(
                    !s.revoke_oidc_grant_with(
                        OidcGrantId(uuid::Uuid::new_v4()),
                        Timestamp(1_500),
                        &marker(1_500)
                    )
                    .await
                    .unwrap()
                );
                assert_eq!(markers(&s).await, 1);
                let live = s.oidc_refresh_token(b"rt-3").await.unwrap().unwrap();
                assert_eq!(
                    (live.used_at, live.grant.revoked_at),
                    (None, Some(Timestamp(1_400)))
                );
                assert!(
                    !s.rotate_oidc_refresh_token(b"rt-3", b"rt-4", Timestamp(1_600))
                        .await
                        .unwrap()
                );
                assert_eq!(
                    s.oidc_refresh_token(b"rt-3")
                        .await
                        .unwrap()
                        .unwrap()
                        .used_at,
                    None
                );
                assert_eq!(s.oidc_refresh_token(b"rt-4").await.unwrap(), None);
            }

            #[tokio::test]
            async fn of_sixteen_racing_rotations_of_one_token_exactly_one_wins() {
                let Some(s) = store().await else { return };
                let (a, c) = parties(&s, "grant-rotate-race@x.io").await;
                let g = grant(c, a, 1_000);
                s.insert_oidc_grant(&g, b"code").await.unwrap();
                assert!(
                    s.redeem_oidc_code_with(g.id, b"rt-0", Timestamp(1_001), &Effects::none())
                        .await
                        .unwrap()
                );
                let mut tasks = Vec::new();
                for i in 0..16u8 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        let won = s
                            .rotate_oidc_refresh_token(b"rt-0", &[b'n', i], Timestamp(1_002))
                            .await
                            .unwrap();
                        (i, won)
                    }));
                }
                let mut winners = Vec::new();
                for t in tasks {
                    let (i, won) = t.await.unwrap();
                    if won {
                        winners.push(i);
                    }
                }
                assert_eq!(winners.len(), 1, "{winners:?}");
                for i in 0..16u8 {
                    let rt = s.oidc_refresh_token(&[b'n', i]).await.unwrap();
                    assert_eq!(rt.is_some(), winners == [i], "successor {i}");
                }
            }

            #[tokio::test]
            async fn a_grant_is_read_with_its_session_from_the_table_and_outlives_it() {
                let Some(s) = store().await else { return };
                let (a, c) = parties(&s, "grant-session@x.io").await;
                let sess = session_for(a, 500);
                s.insert_session(&NewSession {
                    session: sess.clone(),
                    token_hash: b"grant-session-token".to_vec(),
                })
                .await
                .unwrap();

                let g = OidcGrant {
                    session_id: Some(sess.id),
                    ..grant(c, a, 1_000)
                };
                s.insert_oidc_grant(&g, b"code").await.unwrap();
                // One read: the grant, its session and its account.
                let (got, held_by, owner) = s.oidc_grant_with_holder(g.id).await.unwrap().unwrap();
                assert_eq!((got, held_by), (g.clone(), Some(sess.clone())));
                assert_eq!(owner.id, a);
                assert_eq!(owner.email.as_str(), "grant-session@x.io");
                assert_eq!(
                    s.oidc_grant_with_holder(OidcGrantId(uuid::Uuid::new_v4()))
                        .await
                        .unwrap(),
                    None
                );
                // Fill the who-am-I cache, then end the session.
                assert!(
                    s.session_by_token(b"grant-session-token")
                        .await
                        .unwrap()
                        .is_some()
                );
                assert!(s.delete_session(a, sess.id).await.unwrap());
                let (_, held_by, _) = s.oidc_grant_with_holder(g.id).await.unwrap().unwrap();
                assert_eq!(held_by, None, "the session is gone, the grant is not");
                assert_eq!(
                    s.oidc_grant(g.id).await.unwrap(),
                    Some(g),
                    "no foreign key to sessions"
                );
            }

            #[tokio::test]
            async fn grants_go_with_their_client_and_their_account() {
                let Some(s) = store().await else { return };
                let (a, c) = parties(&s, "grant-cascade@x.io").await;
                let other = client("Other app", true);
                s.insert_oidc_client_with(&other, None, &Effects::none())
                    .await
                    .unwrap();
                let g = grant(c, a, 1_000);
                let kept = grant(other.id, a, 1_000);
                s.insert_oidc_grant(&g, b"code-g").await.unwrap();
                s.insert_oidc_grant(&kept, b"code-kept").await.unwrap();
                assert!(
                    s.redeem_oidc_code_with(g.id, b"rt-g", Timestamp(1_001), &Effects::none())
                        .await
                        .unwrap()
                );

                assert!(
                    s.delete_oidc_client_with(c, &Effects::none())
                        .await
                        .unwrap()
                );
                assert_eq!(s.oidc_grant(g.id).await.unwrap(), None);
                assert_eq!(s.oidc_grant_by_code(b"code-g").await.unwrap(), None);
                assert_eq!(s.oidc_refresh_token(b"rt-g").await.unwrap(), None);
                assert_eq!(s.oidc_grant(kept.id).await.unwrap(), Some(kept.clone()));

                // A grant naming an unknown client or account is refused.
                let orphan = grant(c, a, 1_000);
                assert!(s.insert_oidc_grant(&orphan, b"code-orphan").await.is_err());
                let stranger = grant(other.id, AccountId(uuid::Uuid::new_v4()), 1_000);
                assert!(
                    s.insert_oidc_grant(&stranger, b"code-stranger")
                        .await
                        .is_err()
                );
            }

            #[tokio::test]
            async fn the_sweep_removes_unredeemed_long_revoked_and_orphaned_grants_only() {
                let Some(s) = store().await else { return };
                let (a, c) = parties(&s, "grant-sweep@x.io").await;
                let cutoff = 10_000;
                let sess = session_for(a, 500);
                s.insert_session(&NewSession {
                    session: sess.clone(),
                    token_hash: b"grant-sweep-token".to_vec(),
                })
                .await
                .unwrap();
                let of_live_session = |created| OidcGrant {
                    session_id: Some(sess.id),
                    ..grant(c, a, created)
                };
                // Unredeemed, created before the cutoff: goes.
                let stale = of_live_session(cutoff - 1);
                // Unredeemed but young: stays.
                let young = of_live_session(cutoff);
                // Redeemed long ago and live: stays, with its tokens.
                let live = of_live_session(1_000);
                // Redeemed, revoked before the cutoff: goes, with its tokens.
                let old_revoked = of_live_session(1_000);
                // Redeemed, revoked at the cutoff: stays.
                let new_revoked = of_live_session(1_000);
                // Redeemed, not revoked, but its session is gone: goes.
                let orphan = grant(c, a, 1_000);
                // The same, created at the cutoff: stays (its code may be
                // on its way).
                let young_orphan = grant(c, a, cutoff);
                for (g, code) in [
                    (&stale, &b"c-stale"[..]),
                    (&young, b"c-young"),
                    (&live, b"c-live"),
                    (&old_revoked, b"c-old"),
                    (&new_revoked, b"c-new"),
                    (&orphan, b"c-orphan"),
                    (&young_orphan, b"c-young-orphan"),
                ] {
                    s.insert_oidc_grant(g, code).await.unwrap();
                }
                for (g, rt) in [
                    (&live, &b"rt-live"[..]),
                    (&old_revoked, b"rt-old"),
                    (&new_revoked, b"rt-new"),
                    (&orphan, b"rt-orphan"),
                    (&young_orphan, b"rt-young-orphan"),
                ] {
                    assert!(
                        s.redeem_oidc_code_with(g.id, rt, Timestamp(1_001), &Effects::none())
                            .await
                            .unwrap()
                    );
                }
                assert!(
                    s.revoke_oidc_grant_with(
                        old_revoked.id,
                        Timestamp(cutoff - 1),
                        &Effects::none()
                    )
                    .await
                    .unwrap()
                );
                assert!(
                    s.revoke_oidc_grant_with(new_revoked.id, Timestamp(cutoff), &Effects::none())
                        .await
                        .unwrap()
                );

                assert_eq!(s.sweep_oidc_grants(Timestamp(cutoff)).await.unwrap(), 3);
                assert_eq!(s.oidc_grant(stale.id).await.unwrap(), None);
                assert_eq!(s.oidc_grant(old_revoked.id).await.unwrap(), None);
                assert_eq!(s.oidc_grant(orphan.id).await.unwrap(), None);
                assert_eq!(s.oidc_refresh_token(b"rt-old").await.unwrap(), None);
                assert_eq!(s.oidc_refresh_token(b"rt-orphan").await.unwrap(), None);
                for g in [&young, &live, &new_revoked, &young_orphan] {
                    assert!(s.oidc_grant(g.id).await.unwrap().is_some(), "{g:?}");
                }
                assert!(s.oidc_refresh_token(b"rt-live").await.unwrap().is_some());
                assert!(s.oidc_refresh_token(b"rt-new").await.unwrap().is_some());
                assert_eq!(s.sweep_oidc_grants(Timestamp(cutoff)).await.unwrap(), 0);
                // The swept grant's refresh tokens went with it: under the
                // same id again, the grant has none.
                let again = OidcGrant {
                    id: old_revoked.id,
                    ..grant(c, a, cutoff)
                };
                s.insert_oidc_grant(&again, b"c-old-again").await.unwrap();
                assert_eq!(s.oidc_refresh_token(b"rt-old").await.unwrap(), None);
            }
        }
    };
}

grant_conformance!(sqlite);
grant_conformance!(postgres);
