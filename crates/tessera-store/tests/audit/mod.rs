//! AuditStore: events are appended and read back filtered, newest first.

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
            async fn audit_appends_and_filters_newest_first() {
                let Some(s) = store().await else { return };
                let a = AccountId(uuid::Uuid::new_v4());
                let b = AccountId(uuid::Uuid::new_v4());
                s.append_audit(
                    Timestamp(1),
                    &NewAuditEvent::new(AuditKind::AccountCreated).subject(a),
                )
                .await
                .unwrap();
                s.append_audit(
                    Timestamp(2),
                    &NewAuditEvent::new(AuditKind::SigninFailed)
                        .subject(a)
                        .ip(Some("198.51.100.1".into())),
                )
                .await
                .unwrap();
                s.append_audit(
                    Timestamp(3),
                    &NewAuditEvent::new(AuditKind::SigninSucceeded)
                        .actor(b)
                        .subject(b)
                        .detail_json(serde_json::json!({ "x": 1 })),
                )
                .await
                .unwrap();
                let all = s
                    .list_audit(&AuditFilter {
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(
                    all.iter().map(|e| e.at.millis()).collect::<Vec<_>>(),
                    vec![3, 2, 1]
                );
                assert_eq!(all[0].detail, r#"{"x":1}"#);
                assert_eq!(all[0].actor, Some(b));
                let of_a = s
                    .list_audit(&AuditFilter {
                        subject: Some(a),
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(of_a.len(), 2);
                let failed = s
                    .list_audit(&AuditFilter {
                        kind: Some(AuditKind::SigninFailed),
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(failed.len(), 1);
                assert_eq!(failed[0].ip.as_deref(), Some("198.51.100.1"));
                let window = s
                    .list_audit(&AuditFilter {
                        since: Some(Timestamp(2)),
                        until: Some(Timestamp(3)),
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(window.len(), 1);
                let page = s
                    .list_audit(&AuditFilter {
                        before_id: Some(all[0].id),
                        limit: 1,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(page.len(), 1);
                assert_eq!(page[0].id, all[1].id);
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
