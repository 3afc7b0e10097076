//! Organization policies on a clock the test moves, on SQLite and on two
//! PostgreSQL nodes (requests alternate between them): enforced 2SV for
//! managed accounts (mail once, enroll-only sessions, exclusions), and the
//! external user policy's verification frequency (15 minutes to 30 days,
//! web sessions of external users only, existing sessions keep their
//! length).

use crate::guard_rails::{Nodes, bearer, enroll_totp, one_account};
use crate::support::*;
use crate::world::org_with_domain;
use serde_json::{Value, json};
use tessera_core::Clock;
use tessera_core::account::Role;
use tessera_core::service::CoreConfig;

macro_rules! both_backends {
    ($sqlite:ident, $postgres:ident, $config:expr, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            $body(Nodes::sqlite($config).await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let Some(n) = Nodes::postgres($config).await else {
                return;
            };
            $body(n).await;
        }
    };
}

/// Sessions that would live 90 days but for a policy.
pub(crate) fn long_sessions() -> CoreConfig {
    let mut c = one_account();
    c.session_policy.absolute_secs = 90 * 86_400;
    c.session_policy.idle_secs = 90 * 86_400;
    c
}

/// Acme, which verified acme.example, administered by root; answers its
/// base path and root's token.
async fn acme(n: &Nodes) -> (String, String) {
    n.user("root@acme.example", Role::Sysadmin).await;
    let root = n.token("root@acme.example").await;
    let base = org_with_domain(n, &bearer(&root), "Acme", "acme.example").await;
    (base, root)
}

/// Signs in as a client kind: the session token (mobile) or cookie (web)
/// as an `authorization`-free client, with the answer.
async fn sign_in_as(n: &Nodes, email: &str, client: &str) -> (reqwest::Client, Value) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = http
        .post(n.nodes[0].url("/api/v1/signin"))
        .json(&json!({"email": email, "password": PASSWORD, "client": client}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "complete", "{body}");
    (http, body)
}

/// Who-am-I's status for a cookie client, on each node in turn.
async fn web_status(n: &Nodes, http: &reqwest::Client) -> u16 {
    let node = n.node();
    http.get(node.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn frequency(n: Nodes) {
    let (base, root) = acme(&n).await;
    n.user("ann@acme.example", Role::Member).await;
    n.user("bob@partner.example", Role::Member).await;
    let (st, _) = n
        .send(
            "POST",
            &format!("{base}/members"),
            &bearer(&root),
            Some(json!({"email": "bob@partner.example"})),
        )
        .await;
    assert_eq!(st, 201);
    let policy = format!("{base}/external-policy");
    let put = |minutes: Value| {
        let n = &n;
        let policy = &policy;
        let root = &root;
        async move {
            n.send(
                "PUT",
                policy,
                &bearer(root),
                Some(json!({"email_code": false, "verification_frequency_minutes": minutes, "api_token_access": true})),
            )
            .await
        }
    };
    // Outside 15 minutes .. 30 days: 400 naming the range.
    for bad in [json!(14), json!(43_201), json!(-1), json!(0)] {
        let (st, e) = put(bad.clone()).await;
        assert_eq!(st, 400, "{bad}: {e}");
        let detail = e["detail"].as_str().unwrap();
        assert!(
            detail.contains("15") && detail.contains("43200"),
            "{detail}"
        );
    }
    let (st, _) = put(json!("soon")).await;
    assert_eq!(st, 400);
    let (st, p) = put(json!(15)).await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["verification_frequency_minutes"], 15);

    // Bob's web session lasts 15 minutes; his mobile one and managed
    // Ann's web one do not.
    let (bob_web, answer) = sign_in_as(&n, "bob@partner.example", "web").await;
    let started = n.clock.now();
    assert_eq!(
        answer["session"]["expires_at"],
        started.plus_secs(15 * 60).to_rfc3339()
    );
    let (_, bob_mobile) = sign_in_as(&n, "bob@partner.example", "mobile").await;
    let bob_mobile = bob_mobile["session_token"].as_str().unwrap().to_string();
    let (ann_web, _) = sign_in_as(&n, "ann@acme.example", "web").await;

    // A change does not touch running sessions: Bob's keeps 15 minutes.
    let (st, _) = put(json!(43_200)).await;
    assert_eq!(st, 200);
    n.clock.advance_secs(15 * 60 - 1);
    assert_eq!(web_status(&n, &bob_web).await, 200);
    n.clock.advance_secs(1);
    assert_eq!(web_status(&n, &bob_web).await, 401, "15 minutes are up");
    assert_eq!(web_status(&n, &ann_web).await, 200, "managed: not affected");
    let (st, _) = n
        .send("GET", "/api/v1/session", &bearer(&bob_mobile), None)
        .await;
    assert_eq!(st, 200, "mobile: not affected");

    // A new sign-in gets the new length: 30 days.
    let (bob_web, answer) = sign_in_as(&n, "bob@partner.example", "web").await;
    let started = n.clock.now();
    assert_eq!(
        answer["session"]["expires_at"],
        started.plus_secs(30 * 86_400).to_rfc3339()
    );
    n.clock.advance_secs(30 * 86_400 - 60);
    assert_eq!(web_status(&n, &bob_web).await, 200);
    n.clock.advance_secs(60);
    assert_eq!(web_status(&n, &bob_web).await, 401, "30 days are up");
    let (st, _) = n
        .send("GET", "/api/v1/session", &bearer(&bob_mobile), None)
        .await;
    assert_eq!(st, 200, "the mobile session lives on");

    // Off again: web sessions get the instance's length.
    let (st, _) = put(Value::Null).await;
    assert_eq!(st, 200);
    let (_, answer) = sign_in_as(&n, "bob@partner.example", "web").await;
    assert_eq!(
        answer["session"]["expires_at"],
        n.clock.now().plus_secs(90 * 86_400).to_rfc3339()
    );
}

both_backends!(
    verification_frequency_on_a_moved_clock_sqlite,
    verification_frequency_on_a_moved_clock_postgres,
    long_sessions(),
    frequency
);

async fn enforced(n: Nodes) {
    let (base, root) = acme(&n).await;
    n.user("ann@acme.example", Role::Member).await;
    let ci = n.user("ci@acme.example", Role::Member).await;
    let bob = n.user("bob@partner.example", Role::Member).await;
    n.send(
        "POST",
        &format!("{base}/members"),
        &bearer(&root),
        Some(json!({"email": "bob@partner.example"})),
    )
    .await;
    let two_step = format!("{base}/two-step");
    // Only managed accounts may be excluded.
    let (st, e) = n
        .send(
            "PUT",
            &two_step,
            &bearer(&root),
            Some(json!({"required": true, "excluded": [bob.to_string()]})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = n
        .send(
            "PUT",
            &two_step,
            &bearer(&root),
            Some(json!({"required": true, "excluded": ["nope"]})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let mails = |to: &'static str| {
        let core = n.core().clone();
        async move {
            core.store
                .outbox_for(to)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.subject.contains("requires two-step verification"))
                .count()
        }
    };
    assert_eq!(mails("ann@acme.example").await, 0);
    let (st, p) = n
        .send(
            "PUT",
            &two_step,
            &bearer(&root),
            Some(json!({"required": true, "excluded": [ci.to_string()]})),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["required"], true);
    assert_eq!(p["excluded"][0]["email"], "ci@acme.example");
    // Told by mail, once; the excluded account and external users are not.
    assert_eq!(mails("ann@acme.example").await, 1);
    assert_eq!(mails("ci@acme.example").await, 0);
    assert_eq!(mails("bob@partner.example").await, 0);
    let (st, _) = n
        .send(
            "PUT",
            &two_step,
            &bearer(&root),
            Some(json!({"required": true, "excluded": [ci.to_string()]})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(mails("ann@acme.example").await, 1, "no second mail");
    let (_, got) = n.send("GET", &two_step, &bearer(&root), None).await;
    assert_eq!(got, p);

    // Ann's next sign-in may only enroll; the excluded and external may do anything.
    let ann = n.token("ann@acme.example").await;
    let (_, me) = n.send("GET", "/api/v1/session", &bearer(&ann), None).await;
    assert_eq!(me["restricted"], true, "{me}");
    let (st, e) = n.send("GET", "/api/v1/sessions", &bearer(&ann), None).await;
    assert_eq!((st, e["code"].as_str()), (403, Some("enrollment_required")));
    for who in ["ci@acme.example", "bob@partner.example"] {
        let t = n.token(who).await;
        let (_, me) = n.send("GET", "/api/v1/session", &bearer(&t), None).await;
        assert_eq!(me["restricted"], false, "{who}");
    }
    // Enrolling lifts it; her later sign-ins ask for the second step.
    let (_, done) = enroll_totp(&n, &ann).await;
    let ann = done["session_token"].as_str().unwrap_or(&ann).to_string();
    let (st, _) = n.send("GET", "/api/v1/sessions", &bearer(&ann), None).await;
    assert_eq!(st, 200);
    let (_, _, next) = n.password("ann@acme.example", PASSWORD).await;
    assert_eq!(next["status"], "second_step");

    // Not required any more: Ci's exclusion list empties with it.
    let (st, p) = n
        .send(
            "PUT",
            &two_step,
            &bearer(&root),
            Some(json!({"required": false})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(p, json!({"required": false, "excluded": []}));
    let (_, audit) = n
        .send(
            "GET",
            "/api/v1/admin/audit?kind=org.two_step_changed",
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 3);
}

both_backends!(
    enforced_two_step_for_managed_accounts_sqlite,
    enforced_two_step_for_managed_accounts_postgres,
    one_account(),
    enforced
);

/// The organization page, driven as a person would: its forms carry the
/// CSRF token; it lists members (managed or external) and the excluded
/// accounts, saves both policies, previews a reset with the number of
/// sessions it will end, and resets. A managed account's Security page
/// warns that its organization requires 2SV.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_organization_page_lists_members_exclusions_and_policies() {
    let n = Nodes::sqlite(one_account()).await;
    let (base, root) = acme(&n).await;
    let org_id = base.rsplit('/').next().unwrap().to_string();
    n.user("ann@acme.example", Role::Member).await;
    n.user("ci@acme.example", Role::Member).await;
    n.user("bob@partner.example", Role::Member).await;
    n.send(
        "POST",
        &format!("{base}/members"),
        &bearer(&root),
        Some(json!({"email": "bob@partner.example"})),
    )
    .await;
    let (bob_web, _) = sign_in_as(&n, "bob@partner.example", "web").await;

    // Root signs in through the pages.
    let http = client();
    let s = &n.nodes[0];
    let r = page_signin(&http, &s.url("/login"), "root@acme.example", PASSWORD).await;
    assert!(r.url().path().ends_with("/security"));
    let page = format!("/admin/organizations/{org_id}");
    let html = http
        .get(s.url("/admin/organizations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&page) && html.contains("Acme"), "{html}");
    let html = http
        .get(s.url(&page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("bob@partner.example") && html.contains("External"),
        "{html}"
    );
    assert!(html.contains("Available while a setting of the policy is on."));
    let csrf = csrf_of(&html);

    // Enforce 2SV with Ci excluded; the page lists the exclusion.
    let r = http
        .post(s.url(&format!("{page}/two-step")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("required", "on"),
            ("excluded", "ci@acme.example\n"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Two-step verification settings were saved."),
        "{html}"
    );
    let listed = html.split("id=\"excluded-accounts\"").nth(1).unwrap();
    assert!(listed.contains("ci@acme.example") && !listed.contains("ann@acme.example"));
    // An external user cannot be excluded: the page says why.
    let r = http
        .post(s.url(&format!("{page}/two-step")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("required", "on"),
            ("excluded", "bob@partner.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("cannot be excluded"));

    // The policy: a frequency outside the range is refused with the range.
    let r = http
        .post(s.url(&format!("{page}/external-policy")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("frequency", "14"),
            ("api_token_access", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("43200"));
    let r = http
        .post(s.url(&format!("{page}/external-policy")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("frequency", "60"),
            ("api_token_access", "on"),
        ])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("The external user policy was saved."),
        "{html}"
    );
    assert!(
        html.contains("This will sign out 1 external user (1 session) on the web."),
        "{html}"
    );
    let (_, p) = n
        .send(
            "GET",
            &format!("{base}/external-policy"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(
        p,
        json!({"email_code": false, "verification_frequency_minutes": 60, "api_token_access": true})
    );

    // Reset: a preview first, then Bob's web session ends.
    assert_eq!(web_status(&n, &bob_web).await, 200);
    let r = http
        .post(s.url(&format!("{page}/reset-sessions")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("This will sign out 1 external user (1 session) on the web."),
        "{html}"
    );
    assert_eq!(web_status(&n, &bob_web).await, 200);
    let r = http
        .post(s.url(&format!("{page}/reset-sessions")))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("External users were signed out on the web."),
        "{html}"
    );
    assert!(
        html.contains("This will sign out 0 external users (0 sessions)"),
        "{html}"
    );
    n.eventually("the reset reaches every node", || async {
        web_status(&n, &bob_web).await == 401
    })
    .await;

    // Ann (managed, required) enrolls, signs in with her app, and her
    // Security page warns her before she turns 2SV off; Ci's does not.
    let ann = n.token("ann@acme.example").await;
    let (secret, _) = enroll_totp(&n, &ann).await;
    n.clock.advance_secs(30);
    let ann_http = client();
    let r = page_signin(&ann_http, &s.url("/login"), "ann@acme.example", PASSWORD).await;
    assert!(r.url().path().starts_with("/login/verify"), "{}", r.url());
    let html = r.text().await.unwrap();
    let code = crate::peers::oathtool(&secret, n.now());
    let r = ann_http
        .post(s.url("/login/verify"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("method", "totp"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.url().path().ends_with("/security"), "{}", r.url());
    let html = r.text().await.unwrap();
    assert!(html.contains("Turn off two-step verification"), "{html}");
    let warning = html
        .split("id=\"org-two-step-warning\"")
        .nth(1)
        .expect("the warning");
    assert!(
        warning.contains("Acme requires two-step verification"),
        "{warning}"
    );
    let ci_http = client();
    let html = ci_http
        .get(s.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    ci_http
        .post(s.url("/login"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("email", "ci@acme.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let html = ci_http
        .get(s.url("/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Signed in as"), "{html}");
    assert!(!html.contains("org-two-step-warning"), "excluded: {html}");
}
