//! The OpenID Connect provider's storage, on both backends: signing keys
//! that rotate atomically (of two rotations from the same view, exactly
//! one is written; at most one active key per algorithm), retired keys
//! deleted by age, and clients whose secrets are kept as hashes only.

pub(crate) mod grants;

use super::account;
use std::sync::Arc;
use tessera_core::audit::{AuditFilter, AuditKind, NewAuditEvent};
use tessera_core::clock::Timestamp;
use tessera_core::oidc::client::{OidcClient, OidcClientId, OidcScope};
use tessera_core::oidc::keys::{SigningAlg, SigningKeyRecord};
use tessera_core::store::{Effects, Store, StoreError};

fn key(kid: &str, alg: SigningAlg, created: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg,
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        sealed_private: vec![1, 2, 3, kid.len() as u8],
        created_at: Timestamp(created),
        retired_at: None,
    }
}

pub(crate) fn client(name: &str, public: bool) -> OidcClient {
    OidcClient {
        id: OidcClientId(uuid::Uuid::new_v4()),
        name: name.into(),
        redirect_uris: vec![
            "https://app.example.com/cb".into(),
            "http://127.0.0.1:8080/cb?x=1".into(),
        ],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
        public,
        first_party: !public,
        scopes: vec![OidcScope::OpenId, OidcScope::Email],
        created_by: None,
        created_at: Timestamp(10),
        updated_at: Timestamp(10),
    }
}

/// The hash of a client's secret as stored (`None` also for no client).
pub(crate) async fn stored_secret(s: &dyn Store, id: OidcClientId) -> Option<Vec<u8>> {
    s.oidc_client_with_secret_hash(id)
        .await
        .unwrap()
        .and_then(|(_, hash)| hash)
}

fn audited(kind: AuditKind) -> Effects {
    Effects::at(Timestamp(5)).audit(NewAuditEvent::new(kind))
}

async fn kinds(s: &Arc<dyn Store>) -> Vec<String> {
    s.list_audit(&AuditFilter {
        limit: 100,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.kind)
    .collect()
}

macro_rules! oidc_conformance {
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
            async fn keys_rotate_once_from_one_view_and_retired_ones_age_out() {
                let Some(s) = store().await else { return };
                assert!(s.signing_keys().await.unwrap().is_empty());
                let first = [
                    key("e1", SigningAlg::Es256, 100),
                    key("d1", SigningAlg::EdDsa, 100),
                ];
                let fx = audited(AuditKind::OidcKeysRotated);
                assert!(
                    s.rotate_signing_keys(&[], &first, Timestamp(100), &fx)
                        .await
                        .unwrap()
                );
                // A second "first" rotation loses to the partial unique
                // index: one active key per algorithm, nothing written.
                let rival = [key("e9", SigningAlg::Es256, 100)];
                assert!(
                    !s.rotate_signing_keys(&[], &rival, Timestamp(100), &fx)
                        .await
                        .unwrap()
                );
                let keys = s.signing_keys().await.unwrap();
                assert_eq!(keys.len(), 2);
                assert!(keys.contains(&first[0]) && keys.contains(&first[1]));

                let second = [
                    key("e2", SigningAlg::Es256, 200),
                    key("d2", SigningAlg::EdDsa, 200),
                ];
                let seen = vec!["e1".to_string(), "d1".to_string()];
                assert!(
                    s.rotate_signing_keys(&seen, &second, Timestamp(200), &fx)
                        .await
                        .unwrap()
                );
                // Another node with the same view: its keys are retired
                // already, so its rotation writes nothing.
                let late = [
                    key("e3", SigningAlg::Es256, 201),
                    key("d3", SigningAlg::EdDsa, 201),
                ];
                assert!(
                    !s.rotate_signing_keys(&seen, &late, Timestamp(201), &fx)
                        .await
                        .unwrap()
                );
                let keys = s.signing_keys().await.unwrap();
                let kids: Vec<(&str, Option<i64>)> = keys
                    .iter()
                    .map(|k| (k.kid.as_str(), k.retired_at.map(|t| t.millis())))
                    .collect();
                assert_eq!(
                    kids,
                    [
                        ("d2", None),
                        ("e2", None),
                        ("d1", Some(200)),
                        ("e1", Some(200))
                    ]
                );
                assert_eq!(
                    kinds(&s)
                        .await
                        .iter()
                        .filter(|k| *k == "oidc.keys_rotated")
                        .count(),
                    2,
                    "only the rotations that happened are audited"
                );
                // Sealed keys count as sealed secrets (the start-up key check).
                assert!(s.has_sealed_secrets().await.unwrap());

                assert_eq!(
                    s.delete_signing_keys_retired_before(Timestamp(199))
                        .await
                        .unwrap(),
                    0
                );
                assert_eq!(
                    s.delete_signing_keys_retired_before(Timestamp(200))
                        .await
                        .unwrap(),
                    2
                );
                let left: Vec<String> = s
                    .signing_keys()
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|k| k.kid)
                    .collect();
                assert_eq!(left, ["d2", "e2"], "active keys are never deleted by age");
            }

            #[tokio::test]
            async fn parallel_rotations_from_one_view_leave_one_active_key_per_algorithm() {
                let Some(s) = store().await else { return };
                let fx = Effects::none();
                let mut tasks = Vec::new();
                for i in 0..8 {
                    let s = s.clone();
                    let fx = fx.clone();
                    tasks.push(tokio::spawn(async move {
                        let new = [
                            key(&format!("e{i}"), SigningAlg::Es256, 1),
                            key(&format!("d{i}"), SigningAlg::EdDsa, 1),
                        ];
                        s.rotate_signing_keys(&[], &new, Timestamp(1), &fx)
                            .await
                            .unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    won += usize::from(t.await.unwrap());
                }
                assert_eq!(won, 1);
                let keys = s.signing_keys().await.unwrap();
                assert_eq!(keys.len(), 2, "{keys:?}");
                assert!(keys.iter().all(|k| k.is_active()));
                assert_ne!(keys[0].alg, keys[1].alg);
            }

            #[tokio::test]
            async fn clients_round_trip_update_rotate_their_secret_and_go() {
                let Some(s) = store().await else { return };
                let admin = account("oidc-admin@x.io");
                s.insert_account(&admin).await.unwrap();
                let mut conf = client("Grafana", false);
                conf.created_by = Some(admin.id);
                let public = client("CLI app", true);
                s.insert_oidc_client_with(
                    &conf,
                    Some(b"hash-1"),
                    &audited(AuditKind::OidcClientCreated),
                )
                .await
                .unwrap();
                s.insert_oidc_client_with(&public, None, &Effects::none())
                    .await
                    .unwrap();
                let dup = s
                    .insert_oidc_client_with(&conf, None, &Effects::none())
                    .await;
                assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

                assert_eq!(s.oidc_client(conf.id).await.unwrap(), Some(conf.clone()));
                assert_eq!(
                    s.oidc_client(OidcClientId(uuid::Uuid::new_v4()))
                        .await
                        .unwrap(),
                    None
                );
                assert_eq!(
                    s.oidc_clients().await.unwrap(),
                    vec![public.clone(), conf.clone()]
                );
                // Client authentication reads the client and its secret's
                // hash at once.
                assert_eq!(
                    s.oidc_client_with_secret_hash(conf.id).await.unwrap(),
                    Some((conf.clone(), Some(b"hash-1".to_vec())))
                );
                assert_eq!(
                    s.oidc_client_with_secret_hash(public.id).await.unwrap(),
                    Some((public.clone(), None))
                );
                assert_eq!(
                    s.oidc_client_with_secret_hash(OidcClientId(uuid::Uuid::new_v4()))
                        .await
                        .unwrap(),
                    None
                );

                let mut changed = conf.clone();
                changed.name = "Grafana (prod)".into();
                changed.redirect_uris =
                    vec!["https://grafana.example.com/login/generic_oauth".into()];
                changed.post_logout_redirect_uris = Vec::new();
                changed.scopes = vec![
                    OidcScope::OpenId,
                    OidcScope::Profile,
                    OidcScope::OfflineAccess,
                ];
                changed.first_party = false;
                changed.updated_at = Timestamp(20);
                // Kind and creation are not the update's to change.
                let mut sneaky = changed.clone();
                sneaky.public = true;
                sneaky.created_at = Timestamp(99);
                assert!(
                    s.update_oidc_client_with(&sneaky, &audited(AuditKind::OidcClientUpdated))
                        .await
                        .unwrap()
                );
                assert_eq!(s.oidc_client(conf.id).await.unwrap(), Some(changed.clone()));
                let ghost = client("ghost", false);
                assert!(
                    !s.update_oidc_client_with(&ghost, &audited(AuditKind::OidcClientUpdated))
                        .await
                        .unwrap()
                );

                assert!(
                    s.set_oidc_client_secret_with(
                        conf.id,
                        b"hash-2",
                        Timestamp(30),
                        &audited(AuditKind::OidcClientSecretRotated)
                    )
                    .await
                    .unwrap()
                );
                assert_eq!(
                    stored_secret(s.as_ref(), conf.id).await,
                    Some(b"hash-2".to_vec())
                );
                assert_eq!(
                    s.oidc_client(conf.id).await.unwrap().unwrap().updated_at,
                    Timestamp(30)
                );
                // A public client never gets a secret.
                assert!(
                    !s.set_oidc_client_secret_with(
                        public.id,
                        b"hash-3",
                        Timestamp(30),
                        &audited(AuditKind::OidcClientSecretRotated)
                    )
                    .await
                    .unwrap()
                );
                assert_eq!(stored_secret(s.as_ref(), public.id).await, None);

                assert!(
                    s.delete_oidc_client_with(conf.id, &audited(AuditKind::OidcClientDeleted))
                        .await
                        .unwrap()
                );
                assert!(
                    !s.delete_oidc_client_with(conf.id, &audited(AuditKind::OidcClientDeleted))
                        .await
                        .unwrap()
                );
                assert_eq!(s.oidc_clients().await.unwrap(), vec![public]);
                // Effects are written only with a change that happened.
                assert_eq!(
                    kinds(&s).await,
                    [
                        "oidc_client.deleted",
                        "oidc_client.secret_rotated",
                        "oidc_client.updated",
                        "oidc_client.created"
                    ]
                );
            }
        }
    };
}

oidc_conformance!(sqlite);
oidc_conformance!(postgres);
