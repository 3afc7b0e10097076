//! Every page form goes through one CSRF check: a token that does not
//! match its cookie gets the same "Form expired" page on every POST route,
//! and the action does not happen.

use crate::support::*;
use tessera_core::account::{AccountKind, Role};
use tessera_core::clock::{ManualClock, Timestamp};
use tessera_core::password::Password;
use tessera_core::service::{NewAccountInput, RequestContext, Sysadmin};

const FORGED: &str = "forged-token-forged-token-forged-token";

/// Every POST page route, with ids where the path needs one.
const ROUTES: &[&str] = &[
    "/login",
    "/login/verify",
    "/logout",
    "/security/verify",
    "/security/two-step/setup",
    "/security/two-step/confirm",
    "/security/two-step/recovery-key",
    "/security/two-step/disable",
    "/security/two-step/totp/remove",
    "/security/keys/00000000-0000-0000-0000-000000000001/rename",
    "/security/keys/00000000-0000-0000-0000-000000000001/remove",
    "/security/sms",
    "/security/sms/resend",
    "/security/sms/confirm",
    "/security/sms/remove",
    "/security/password",
    "/security/sessions/end-others",
    "/security/sessions/00000000-0000-0000-0000-000000000001/end",
    "/admin/users",
    "/admin/users/00000000-0000-0000-0000-000000000001/deactivate",
    "/admin/users/00000000-0000-0000-0000-000000000001/role",
    "/admin/users/00000000-0000-0000-0000-000000000001/sessions/00000000-0000-0000-0000-000000000001/end",
    "/admin/users/00000000-0000-0000-0000-000000000001/api-tokens/00000000-0000-0000-0000-000000000001/revoke",
    "/admin/users/00000000-0000-0000-0000-000000000001/two-step/remove",
    "/security/api-tokens",
    "/security/api-tokens/00000000-0000-0000-0000-000000000001/revoke",
    "/admin/service-accounts",
    "/admin/service-accounts/00000000-0000-0000-0000-000000000001/api-tokens",
    "/admin/api-tokens/00000000-0000-0000-0000-000000000001/revoke",
    "/admin/organizations",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/members",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/invitations",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/domains",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/domains/verify",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/two-step",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/external-policy",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/reset-sessions",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/test-policy",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/test-policy/members",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/test-policy/members/remove",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/test-policy/roll-out",
    "/admin/organizations/00000000-0000-0000-0000-000000000001/test-policy/reset-sessions",
    "/invitations/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/accept",
    "/invitations/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/signup",
];

#[tokio::test]
async fn a_forged_form_token_is_refused_on_every_page_route() {
    let (core, _dir) = test_core(ManualClock::at(Timestamp(1_800_000_000_000)), kit_config()).await;
    let s = InprocServer::start(core).await;
    s.core
        .create_account(
            &Sysadmin::host_operator(),
            NewAccountInput {
                email: "forms@example.com".into(),
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
    // The login page sets the CSRF cookie; signing in through it sets the
    // session cookie.
    let page = http.get(s.url("/login")).send().await.unwrap();
    let html = page.text().await.unwrap();
    let token = csrf_of(&html);
    let r = http
        .post(s.url("/login"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", "forms@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.url().path().ends_with("/security"), "{}", r.url());

    // Every field any of the forms reads, so only the token is wrong.
    let fields = [
        ("csrf", FORGED),
        ("email", "new@example.com"),
        ("password", PASSWORD),
        ("current_password", PASSWORD),
        ("new_password", "another fine password for this"),
        ("code", "123456"),
        ("recovery_key", "abc"),
        ("method", "totp"),
        ("name", "renamed"),
        ("phone", "+15550100"),
        ("kind", "human"),
        ("role", "member"),
        ("label", "forged token"),
        ("domain", "example.com"),
        ("required", "on"),
        ("excluded", ""),
        ("email_code", "on"),
        ("frequency", "15"),
        ("api_token_access", "on"),
        ("display_name", "Forged"),
        ("confirm", "yes"),
    ];
    for route in ROUTES {
        let r = http.post(s.url(route)).form(&fields).send().await.unwrap();
        assert_eq!(r.status(), 403, "{route}");
        let body = r.text().await.unwrap();
        assert!(body.contains("Form expired"), "{route}: {body}");
    }

    // Nothing happened: still signed in, same password, no new account.
    let r = http.get(s.url("/security")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.url().path().ends_with("/security"));
    let r = reqwest::Client::new()
        .post(s.url("/api/v1/signin"))
        .json(&serde_json::json!({"email": "forms@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the password was changed");
    let (_, total) = s
        .core
        .list_accounts(&Sysadmin::host_operator(), 0, 10)
        .await
        .unwrap();
    assert_eq!(total, 1, "an account was created");
}
