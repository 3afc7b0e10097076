//! The external user policy across two `tessera serve` processes on one
//! PostgreSQL: a reset of sessions on one node ends the external users'
//! web sessions on the other within 5 seconds (their mobile sessions and
//! managed accounts stay), and API token access turned off on one node
//! stops their tokens on the other within 5 seconds, and on again brings
//! them back. Every answer the other node gives was cached before the
//! change, so only the eviction it heard can explain the new answer.

use crate::orgs::call;
use crate::postgres::{pg_server, scoped_url};
use crate::support::*;
use crate::world::{add_member, bearer, org_with_domain};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Signs in on `s`; a cookie client for `web`, else the bearer token.
async fn web_client(s: &Server, email: &str) -> reqwest::Client {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = http
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": email, "password": PASSWORD, "client": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    http
}

async fn web_whoami(s: &Server, http: &reqwest::Client) -> u16 {
    http.get(s.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls `check` until it gives `want`; the time it took.
#[allow(clippy::disallowed_methods)] // measures propagation between real processes
async fn within_5s<F, Fut>(want: u16, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let start = Instant::now();
    loop {
        let got = check().await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still {got} after 5 s (wanted {want})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A password step-up: the session's new token.
async fn step_up(s: &Server, session: &str) -> String {
    let (st, e) = call(
        s,
        "POST",
        "/api/v1/step-up/password",
        session,
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(st, 200, "{e}");
    e["session_token"].as_str().unwrap().to_string()
}

/// A token for the account behind `session` (which it rotates): the
/// session's new token and the API token.
async fn token_of(s: &Server, session: &str) -> (String, String) {
    let session = step_up(s, session).await;
    let (st, t) = call(
        s,
        "POST",
        "/api/v1/me/api-tokens",
        &session,
        Some(json!({"label": "ci"})),
    )
    .await;
    assert_eq!(st, 201, "{t}");
    (session, t["token"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_and_token_access_reach_the_other_node_within_seconds() {
    let Some(url) = scoped_url().await else {
        return;
    };
    let a = pg_server(&url);
    let b = pg_server(&url);
    a.create_user("root@acme.example", "sysadmin");
    a.create_user("ann@acme.example", "member");
    a.create_user("bob@partner.example", "member");
    let root = signin(&a, "root@acme.example", PASSWORD).await;
    let base = org_with_domain(&a, &bearer(&root), "Acme", "acme.example").await;
    add_member(&a, &bearer(&root), &base, "bob@partner.example").await;

    // Sessions and tokens, all used on node B first (so B caches them).
    let bob_web = web_client(&b, "bob@partner.example").await;
    let ann_web = web_client(&b, "ann@acme.example").await;
    let bob_mobile = signin(&b, "bob@partner.example", PASSWORD).await;
    let (bob_mobile, bob_token) = token_of(&b, &bob_mobile).await;
    let ann_mobile = signin(&b, "ann@acme.example", PASSWORD).await;
    let (_, ann_token) = token_of(&b, &ann_mobile).await;
    for _ in 0..3 {
        assert_eq!(web_whoami(&b, &bob_web).await, 200);
        assert_eq!(web_whoami(&b, &ann_web).await, 200);
        assert_eq!(
            call(&b, "GET", "/api/v1/session", &bob_token, None).await.0,
            200
        );
    }

    // Reset sessions needs the policy on.
    let reset = format!("{base}/external-policy/reset-sessions");
    let (st, _) = call(&a, "POST", &reset, &root, None).await;
    assert_eq!(st, 409);
    let (st, p) = call(
        &a,
        "PUT",
        &format!("{base}/external-policy"),
        &root,
        Some(json!({"email_code": false, "verification_frequency_minutes": 60, "api_token_access": true})),
    )
    .await;
    assert_eq!(st, 200, "{p}");
    let (st, preview) = call(&a, "GET", &reset, &root, None).await;
    assert_eq!(st, 200);
    assert_eq!(preview, json!({"sessions": 1, "available": true}));
    let (st, ended) = call(&a, "POST", &reset, &root, None).await;
    assert_eq!((st, &ended), (200, &json!({"ended": 1})));
    let took = within_5s(401, || web_whoami(&b, &bob_web)).await;
    eprintln!("reset reached the other node in {took:?}");
    assert_eq!(web_whoami(&b, &ann_web).await, 200, "managed: not reset");
    assert_eq!(
        call(&b, "GET", "/api/v1/session", &bob_mobile, None)
            .await
            .0,
        200,
        "mobile survives"
    );
    let (_, audit) = call(
        &a,
        "GET",
        "/api/v1/admin/audit?kind=org.sessions_reset",
        &root,
        None,
    )
    .await;
    assert_eq!(audit["events"][0]["detail"]["ended"], 1);

    // Token access off on A: Bob's token stops on B, Ann's (managed) works.
    let policy = |on: bool| json!({"email_code": false, "verification_frequency_minutes": 60, "api_token_access": on});
    let (st, _) = call(
        &a,
        "PUT",
        &format!("{base}/external-policy"),
        &root,
        Some(policy(false)),
    )
    .await;
    assert_eq!(st, 200);
    let took = within_5s(403, || async {
        call(&b, "GET", "/api/v1/session", &bob_token, None).await.0
    })
    .await;
    eprintln!("token access off reached the other node in {took:?}");
    let (st, e) = call(&b, "GET", "/api/v1/session", &bob_token, None).await;
    assert_eq!(st, 403, "{e}");
    assert_eq!(
        call(&b, "GET", "/api/v1/session", &ann_token, None).await.0,
        200
    );
    // No new token either.
    let bob_mobile = step_up(&b, &bob_mobile).await;
    let (st, e) = call(
        &b,
        "POST",
        "/api/v1/me/api-tokens",
        &bob_mobile,
        Some(json!({"label": "again"})),
    )
    .await;
    assert_eq!(st, 403, "{e}");
    // On again: the unexpired token works again.
    let (st, _) = call(
        &a,
        "PUT",
        &format!("{base}/external-policy"),
        &root,
        Some(policy(true)),
    )
    .await;
    assert_eq!(st, 200);
    within_5s(200, || async {
        call(&b, "GET", "/api/v1/session", &bob_token, None).await.0
    })
    .await;
    let (_, me): (u16, Value) = call(&b, "GET", "/api/v1/session", &bob_token, None).await;
    assert_eq!(me["external"], true);
}
