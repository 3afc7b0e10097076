//! Recovery unenrollment by a sysadmin ends every session of the account:
//! whoever holds one may be whoever took its second step.

use crate::peers;
use crate::world::World;
use serde_json::json;
use tessera_core::account::Role;
use tessera_core::audit::AuditFilter;
use tessera_core::service::Sysadmin;

async fn status_of_session(w: &World, token: &str) -> u16 {
    w.http
        .get(w.s.url("/api/v1/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn unenrollment_ends_the_targets_sessions(w: World) {
    w.user("root@example.com", Role::Sysadmin).await;
    w.user("lost@example.com", Role::Member).await;
    let (admin, admin_secret, _) = w.enroll("root@example.com").await;
    let (enrolled, lost_secret, _) = w.enroll("lost@example.com").await;
    // A second session, signed in with both steps.
    w.next_step();
    let flow = w.flow("lost@example.com").await;
    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/totp"),
            None,
            json!({"code": peers::oathtool(&lost_secret, w.now())}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let signed_in = r.json::<serde_json::Value>().await.unwrap()["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Both answer now, so a who-am-I cache holds them.
    for t in [&enrolled, &signed_in] {
        assert_eq!(status_of_session(&w, t).await, 200);
    }

    let lost =
        w.s.core
            .find_account(&Sysadmin::host_operator(), "lost@example.com")
            .await
            .unwrap()
            .id;
    w.next_step();
    let r = w
        .http
        .delete(w.s.url(&format!("/api/v1/admin/users/{lost}/two-step")))
        .bearer_auth(&admin)
        .json(&json!({"totpCode": peers::oathtool(&admin_secret, w.now())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    for t in [&enrolled, &signed_in] {
        assert_eq!(status_of_session(&w, t).await, 401, "the session ended");
    }
    assert_eq!(
        status_of_session(&w, &admin).await,
        200,
        "the admin's stays"
    );
    let events =
        w.s.core
            .audit_events(
                &Sysadmin::host_operator(),
                AuditFilter {
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    let e = events
        .iter()
        .find(|e| e.kind == "two_step.unenrolled_by_admin" && e.subject == Some(lost))
        .unwrap_or_else(|| panic!("no unenrollment event: {events:?}"));
    assert_eq!(e.detail, r#"{"sessions_ended":2}"#);
}

#[tokio::test]
async fn unenrollment_ends_the_targets_sessions_on_sqlite() {
    if !peers::available() {
        return;
    }
    unenrollment_ends_the_targets_sessions(World::new(crate::support::kit_config()).await).await;
}

#[tokio::test]
async fn unenrollment_ends_the_targets_sessions_on_postgres() {
    if !peers::available() {
        return;
    }
    let Some(w) = World::on_postgres(crate::support::kit_config()).await else {
        return;
    };
    unenrollment_ends_the_targets_sessions(w).await;
}
