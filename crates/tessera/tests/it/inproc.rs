//! The domain wired to a real SQLite store and a manual clock: expiry and
//! timing rules are checked by moving time, never by sleeping.

use tessera_core::CoreError;
use tessera_core::account::{AccountKind, Role};
use tessera_core::clock::{Clock, ManualClock, Timestamp};
use tessera_core::password::Password;
use tessera_core::service::{
    Core, CoreConfig, NewAccountInput, RequestContext, SigninOutcome, SigninRequest, Sysadmin,
};
use tessera_core::session::{ClientKind, SessionPolicy};

async fn core(clock: ManualClock) -> (Core, tempfile::TempDir) {
    let config = CoreConfig {
        session_policy: SessionPolicy {
            absolute_secs: 3600,
            idle_secs: 600,
            touch_interval_secs: 60,
        },
        ..crate::support::kit_config()
    };
    crate::support::test_core(clock, config).await
}

async fn user(core: &Core, email: &str) {
    core.create_account(
        &Sysadmin::host_operator(),
        NewAccountInput {
            email: email.into(),
            display_name: String::new(),
            kind: AccountKind::Human,
            role: Role::Member,
            password: Some(Password::new("correct horse battery staple")),
        },
        &RequestContext::default(),
    )
    .await
    .unwrap();
}

async fn sign_in(core: &Core, email: &str) -> String {
    let outcome = core
        .sign_in(
            SigninRequest {
                email: email.into(),
                password: Password::new("correct horse battery staple"),
                client: ClientKind::Mobile,
            },
            &RequestContext::default(),
        )
        .await
        .unwrap();
    match outcome {
        SigninOutcome::Complete { issued, .. } => issued.token,
        other => panic!("expected a session, got {other:?}"),
    }
}

#[tokio::test]
async fn idle_sessions_expire_and_activity_extends_them() {
    let clock = ManualClock::at(Timestamp(1_800_000_000_000));
    let (core, _d) = core(clock.clone()).await;
    user(&core, "idle@example.com").await;
    let token = sign_in(&core, "idle@example.com").await;

    clock.advance_secs(599);
    core.authenticate(&token)
        .await
        .expect("still inside the idle window");
    clock.advance_secs(599);
    core.authenticate(&token)
        .await
        .expect("activity moved the idle window");
    clock.advance_secs(600);
    assert!(matches!(
        core.authenticate(&token).await,
        Err(CoreError::Unauthenticated)
    ));
    // And it is gone for good, not just hidden.
    clock.set(Timestamp(1_800_000_000_000));
    assert!(matches!(
        core.authenticate(&token).await,
        Err(CoreError::Unauthenticated)
    ));
}

#[tokio::test]
async fn absolute_expiry_ends_even_busy_sessions() {
    let clock = ManualClock::at(Timestamp(1_800_000_000_000));
    let (core, _d) = core(clock.clone()).await;
    user(&core, "busy@example.com").await;
    let token = sign_in(&core, "busy@example.com").await;
    for _ in 0..11 {
        clock.advance_secs(300);
        core.authenticate(&token)
            .await
            .expect("busy and under an hour");
    }
    clock.advance_secs(300); // 3600 s since sign-in
    assert!(matches!(
        core.authenticate(&token).await,
        Err(CoreError::Unauthenticated)
    ));
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_a_minute() {
    let clock = ManualClock::at(Timestamp(1_800_000_000_000));
    let (core, _d) = core(clock.clone()).await;
    user(&core, "touch@example.com").await;
    let token = sign_in(&core, "touch@example.com").await;
    let t0 = core
        .authenticate(&token)
        .await
        .unwrap()
        .session()
        .last_seen_at;
    clock.advance_secs(59);
    assert_eq!(
        core.authenticate(&token)
            .await
            .unwrap()
            .session()
            .last_seen_at,
        t0
    );
    clock.advance_secs(1);
    assert_eq!(
        core.authenticate(&token)
            .await
            .unwrap()
            .session()
            .last_seen_at,
        clock.now()
    );
}

#[tokio::test]
async fn break_glass_password_expires_after_an_hour() {
    let clock = ManualClock::at(Timestamp(1_800_000_000_000));
    let (core, _d) = core(clock.clone()).await;
    user(&core, "bg@example.com").await;
    let one_time = core
        .issue_break_glass(&Sysadmin::host_operator(), "bg@example.com")
        .await
        .unwrap();
    clock.advance_secs(3600);
    let r = core
        .sign_in(
            SigninRequest {
                email: "bg@example.com".into(),
                password: Password::new(one_time),
                client: ClientKind::Web,
            },
            &RequestContext::default(),
        )
        .await;
    assert!(matches!(r, Err(CoreError::BadCredentials)));
}

#[tokio::test]
async fn sweeping_removes_expired_sessions() {
    let clock = ManualClock::at(Timestamp(1_800_000_000_000));
    let (core, _d) = core(clock.clone()).await;
    user(&core, "sweep@example.com").await;
    sign_in(&core, "sweep@example.com").await;
    assert_eq!(core.sweep_expired_sessions().await.unwrap(), 0);
    clock.advance_secs(601);
    assert_eq!(core.sweep_expired_sessions().await.unwrap(), 1);
}
