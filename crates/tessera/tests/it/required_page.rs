//! The page a session restricted to enrolling lands on offers the methods
//! and creates nothing: a GET has no side effects, and the authenticator
//! seed is made by the POST its form sends.

use crate::support::*;
use tessera_core::account::{AccountKind, Role};
use tessera_core::clock::{ManualClock, Timestamp};
use tessera_core::password::Password;
use tessera_core::service::{NewAccountInput, RequestContext, Sysadmin};

#[tokio::test]
async fn the_required_page_creates_no_enrollment_until_its_form_is_posted() {
    let mut config = kit_config();
    config.two_step.enforce_for_admins = true;
    let (core, _dir) = test_core(ManualClock::at(Timestamp(1_800_000_000_000)), config).await;
    let s = InprocServer::start(core).await;
    let account = s
        .core
        .create_account(
            &Sysadmin::host_operator(),
            NewAccountInput {
                email: "adm@example.com".into(),
                display_name: String::new(),
                kind: AccountKind::Human,
                role: Role::Sysadmin,
                password: Some(Password::new(PASSWORD)),
            },
            &RequestContext::default(),
        )
        .await
        .unwrap();
    let http = client();
    let r: serde_json::Value = http
        .post(s.url("/api/v1/signin"))
        .json(&serde_json::json!({"email": "adm@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["session"]["restricted"], true, "{r}");
    let token = r["session_token"].as_str().unwrap().to_string();

    let mut pages = Vec::new();
    for _ in 0..2 {
        let page = http
            .get(s.url("/security/two-step/required"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        pages.push(page.text().await.unwrap());
    }
    assert!(
        s.core
            .store
            .pending_totp(account.id)
            .await
            .unwrap()
            .is_none(),
        "the GET created an enrollment"
    );
    for html in &pages {
        assert!(
            html.contains(r#"<form method="post" action="/security/two-step/setup">"#),
            "{html}"
        );
        assert!(html.contains("Set up an authenticator app"));
        assert!(html.contains(r#"data-register-key="security_key""#));
        assert!(html.contains(r#"data-register-key="passkey""#));
        assert!(!html.contains("data-secret"), "no seed on the page");
    }
    let csrf = csrf_of(&pages[1]);

    // The form's POST starts the enrollment.
    let setup = http
        .post(s.url("/security/two-step/setup"))
        .bearer_auth(&token)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), 200);
    assert!(setup.text().await.unwrap().contains("data-secret"));
    assert!(
        s.core
            .store
            .pending_totp(account.id)
            .await
            .unwrap()
            .is_some()
    );
}
