//! The test policy over HTTP, on SQLite and on two PostgreSQL nodes
//! (requests alternate between them, so every change must reach the node
//! that did not make it): at most 5 external users even when 10 additions
//! race, only external users of the organization, precedence over the
//! external user policy (verification frequency, API token access, the
//! emailed code), its own reset that signs out only its members, and
//! roll-out to the external user policy in one audited step.

use crate::guard_rails::{Nodes, bearer, one_account};
use crate::org_policy::long_sessions;
use crate::support::*;
use crate::world::{add_member, org_with_domain};
use serde_json::{Value, json};
use std::time::Duration;
use tessera_core::Clock;
use tessera_core::account::Role;

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

/// Acme (acme.example verified), root its sysadmin, Ann managed, and
/// `externals` external users `ext{i}@partner.example` added as members.
/// Answers the base path, root's token, the external users' ids and Ann's.
pub(crate) async fn acme(n: &Nodes, externals: usize) -> (String, String, Vec<String>, String) {
    n.user("root@acme.example", Role::Sysadmin).await;
    let ann = n.user("ann@acme.example", Role::Member).await.to_string();
    let root = n.token("root@acme.example").await;
    let base = org_with_domain(n, &bearer(&root), "Acme", "acme.example").await;
    let mut ids = Vec::new();
    for i in 0..externals {
        let email = format!("ext{i}@partner.example");
        n.user(&email, Role::Member).await;
        ids.push(add_member(n, &bearer(&root), &base, &email).await);
    }
    (base, root, ids, ann)
}

fn settings(email_code: bool, minutes: Option<i64>, tokens: bool) -> Value {
    json!({"email_code": email_code, "verification_frequency_minutes": minutes, "api_token_access": tokens})
}

fn test_body(email_code: bool, minutes: Option<i64>, tokens: bool, members: &[&str]) -> Value {
    let mut b = settings(email_code, minutes, tokens);
    b["members"] = json!(members);
    b
}

/// Polls `check` (on alternating nodes) until it holds, for up to 5 s.
#[allow(clippy::disallowed_methods)] // waits for another node's eviction
async fn within_5s<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: not within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn limit_of_five(n: Nodes) {
    let (base, root, ext, ann) = acme(&n, 10).await;
    let test = format!("{base}/external-policy/test");
    let (st, p) = n.send("GET", &test, &bearer(&root), None).await;
    assert_eq!(st, 200);
    assert_eq!(p, test_body(false, None, true, &[]));

    // Refused, with nothing changed: six members, a managed account, a
    // stranger, a bad id, a bad frequency.
    let six: Vec<&str> = ext[..6].iter().map(String::as_str).collect();
    let stranger = n
        .user("zed@elsewhere.example", Role::Member)
        .await
        .to_string();
    for (body, why) in [
        (test_body(false, Some(30), true, &six), "six"),
        (test_body(false, Some(30), true, &[&ann]), "managed"),
        (
            test_body(false, Some(30), true, &[&stranger]),
            "not a member",
        ),
        (test_body(false, Some(30), true, &["nope"]), "not an id"),
        (test_body(false, Some(14), true, &[&ext[0]]), "14 minutes"),
    ] {
        let (st, e) = n.send("PUT", &test, &bearer(&root), Some(body)).await;
        assert_eq!(st, 400, "{why}: {e}");
    }
    let (_, p) = n.send("GET", &test, &bearer(&root), None).await;
    assert_eq!(p, test_body(false, None, true, &[]), "nothing changed");
    // Five, with a repeat, is fine.
    let five: Vec<&str> = ext[..5]
        .iter()
        .chain(&ext[..1])
        .map(String::as_str)
        .collect();
    let (st, p) = n
        .send(
            "PUT",
            &test,
            &bearer(&root),
            Some(test_body(false, Some(30), true, &five)),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["members"].as_array().unwrap().len(), 5);
    let (st, _) = n
        .send(
            "PUT",
            &test,
            &bearer(&root),
            Some(test_body(false, Some(30), true, &[])),
        )
        .await;
    assert_eq!(st, 200);

    // Ten additions at once, over both nodes: exactly five get in.
    let adds: Vec<_> = ext
        .iter()
        .map(|id| {
            let url = n.node().url(&format!("{test}/members"));
            let (http, auth, id) = (n.http.clone(), bearer(&root), id.clone());
            tokio::spawn(async move {
                http.post(url)
                    .header("authorization", auth)
                    .json(&json!({ "account_id": id }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for a in adds {
        statuses.push(a.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 400, 400, 400, 400, 400]);
    let (_, p) = n.send("GET", &test, &bearer(&root), None).await;
    let members = p["members"].as_array().unwrap().clone();
    assert_eq!(members.len(), 5, "{p}");
    // A sixth, one at a time, is refused too; a member again changes nothing.
    let outside = ext.iter().find(|id| !members.contains(&json!(id))).unwrap();
    let (st, e) = n
        .send(
            "POST",
            &format!("{test}/members"),
            &bearer(&root),
            Some(json!({"account_id": outside})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["detail"].as_str().unwrap().contains("at most 5"), "{e}");
    let (st, p) = n
        .send(
            "POST",
            &format!("{test}/members"),
            &bearer(&root),
            Some(json!({"account_id": members[0]})),
        )
        .await;
    assert_eq!((st, p["members"].as_array().unwrap().len()), (200, 5));
    let (st, e) = n
        .send(
            "POST",
            &format!("{test}/members"),
            &bearer(&root),
            Some(json!({"account_id": ann})),
        )
        .await;
    assert_eq!(st, 400, "managed: {e}");
    // Out and in again.
    let first = members[0].as_str().unwrap();
    let (st, p) = n
        .send(
            "DELETE",
            &format!("{test}/members/{first}"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!((st, p["members"].as_array().unwrap().len()), (200, 4));
    let (st, _) = n
        .send(
            "DELETE",
            &format!("{test}/members/{first}"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(st, 404);
    // Ending the membership ends the test membership with it.
    let second = members[1].as_str().unwrap();
    let (st, _) = n
        .send(
            "DELETE",
            &format!("{base}/members/{second}"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (_, p) = n.send("GET", &test, &bearer(&root), None).await;
    assert_eq!(p["members"].as_array().unwrap().len(), 3, "{p}");
}

both_backends!(
    test_policy_holds_five_under_ten_parallel_adds_sqlite,
    test_policy_holds_five_under_ten_parallel_adds_postgres,
    one_account(),
    limit_of_five
);

/// A web sign-in: the cookie client and the answer.
async fn web(n: &Nodes, email: &str) -> (reqwest::Client, Value) {
    let http = client();
    let r = http
        .post(n.node().url("/api/v1/signin"))
        .json(&json!({"email": email, "password": PASSWORD, "client": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "complete", "{body}");
    (http, body)
}

async fn web_ok(n: &Nodes, http: &reqwest::Client) -> bool {
    http.get(n.node().url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

/// A mobile session and an API token of `email`.
async fn mobile_and_token(n: &Nodes, email: &str) -> (String, String) {
    let session = n.token(email).await;
    let (st, up) = n
        .send(
            "POST",
            "/api/v1/step-up/password",
            &bearer(&session),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(st, 200, "{up}");
    let session = up["session_token"].as_str().unwrap_or(&session).to_string();
    let (st, t) = n
        .send(
            "POST",
            "/api/v1/me/api-tokens",
            &bearer(&session),
            Some(json!({"label": "ci"})),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    (session, t["token"].as_str().unwrap().to_string())
}

async fn precedence(n: Nodes) {
    let (base, root, ext, _) = acme(&n, 2).await;
    let tess = &ext[0]; // in the test policy; ext1 is not
    let (tess_mobile, tess_token) = mobile_and_token(&n, "ext0@partner.example").await;
    let (_, other_token) = mobile_and_token(&n, "ext1@partner.example").await;
    let whoami = |t: String| {
        let n = &n;
        async move { n.send("GET", "/api/v1/session", &bearer(&t), None).await.0 }
    };
    // Cached on both nodes before any change.
    for _ in 0..2 {
        assert_eq!(whoami(tess_token.clone()).await, 200);
        assert_eq!(whoami(other_token.clone()).await, 200);
    }

    // External policy: 60 minutes, tokens allowed. Test policy: 15
    // minutes, tokens refused, for ext0 only.
    let (st, _) = n
        .send(
            "PUT",
            &format!("{base}/external-policy"),
            &bearer(&root),
            Some(settings(false, Some(60), true)),
        )
        .await;
    assert_eq!(st, 200);
    let test = format!("{base}/external-policy/test");
    let (st, e) = n
        .send(
            "POST",
            &format!("{test}/reset-sessions"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(st, 409, "the test policy is off: {e}");
    let (st, p) = n
        .send(
            "PUT",
            &test,
            &bearer(&root),
            Some(test_body(false, Some(15), false, &[tess])),
        )
        .await;
    assert_eq!(st, 200, "{p}");

    // Tokens: ext0's stops on both nodes within seconds; ext1's works.
    within_5s("ext0's token refused on both nodes", || async {
        whoami(tess_token.clone()).await == 403 && whoami(tess_token.clone()).await == 403
    })
    .await;
    assert_eq!(whoami(other_token.clone()).await, 200);
    assert_eq!(whoami(other_token.clone()).await, 200);

    // Session length: 15 minutes for ext0's web sessions, 60 for ext1's.
    let (tess_web, a) = web(&n, "ext0@partner.example").await;
    let now = n.clock.now();
    assert_eq!(
        a["session"]["expires_at"],
        now.plus_secs(15 * 60).to_rfc3339()
    );
    let (other_web, a) = web(&n, "ext1@partner.example").await;
    assert_eq!(
        a["session"]["expires_at"],
        now.plus_secs(60 * 60).to_rfc3339()
    );
    let (ann_web, a) = web(&n, "ann@acme.example").await;
    assert_eq!(
        a["session"]["expires_at"],
        now.plus_secs(90 * 86_400).to_rfc3339()
    );

    // The external reset leaves ext0 (the test policy's) alone; the test
    // reset ends only ext0's web session.
    let (st, preview) = n
        .send(
            "GET",
            &format!("{test}/reset-sessions"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(
        (st, &preview),
        (200, &json!({"sessions": 1, "available": true}))
    );
    let (st, ended) = n
        .send(
            "POST",
            &format!("{test}/reset-sessions"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!((st, &ended), (200, &json!({"ended": 1})));
    within_5s("ext0's web session ended on both nodes", || async {
        !web_ok(&n, &tess_web).await && !web_ok(&n, &tess_web).await
    })
    .await;
    assert!(web_ok(&n, &other_web).await && web_ok(&n, &other_web).await);
    assert!(web_ok(&n, &ann_web).await);
    let (tess_web, _) = web(&n, "ext0@partner.example").await;
    let (st, ended) = n
        .send(
            "POST",
            &format!("{base}/external-policy/reset-sessions"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!((st, &ended), (200, &json!({"ended": 1})), "ext1 only");
    assert!(web_ok(&n, &tess_web).await && web_ok(&n, &tess_web).await);

    // Roll out: the external policy becomes the test policy's settings,
    // in one audited step; ext1's token stops too, and ext1's next web
    // session lasts 15 minutes.
    let (st, p) = n
        .send("POST", &format!("{test}/roll-out"), &bearer(&root), None)
        .await;
    assert_eq!((st, &p), (200, &settings(false, Some(15), false)));
    let (_, p) = n
        .send(
            "GET",
            &format!("{base}/external-policy"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(p, settings(false, Some(15), false));
    within_5s("ext1's token refused after the roll-out", || async {
        whoami(other_token.clone()).await == 403 && whoami(other_token.clone()).await == 403
    })
    .await;
    let (_, a) = web(&n, "ext1@partner.example").await;
    assert_eq!(
        a["session"]["expires_at"],
        n.clock.now().plus_secs(15 * 60).to_rfc3339()
    );
    let (_, audit) = n
        .send(
            "GET",
            "/api/v1/admin/audit?kind=org.test_policy_rolled_out",
            &bearer(&root),
            None,
        )
        .await;
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["detail"]["from"], settings(false, Some(60), true));
    assert_eq!(events[0]["detail"]["to"], settings(false, Some(15), false));

    // A laxer test policy wins for its member: ext0's token works again
    // while the external policy refuses ext1's.
    let (st, _) = n
        .send(
            "PUT",
            &test,
            &bearer(&root),
            Some(test_body(false, None, true, &[tess])),
        )
        .await;
    assert_eq!(st, 200);
    within_5s("ext0's token works again", || async {
        whoami(tess_token.clone()).await == 200 && whoami(tess_token.clone()).await == 200
    })
    .await;
    assert_eq!(whoami(other_token.clone()).await, 403);
    let (st, _) = n
        .send("GET", "/api/v1/session", &bearer(&tess_mobile), None)
        .await;
    assert_eq!(st, 200, "mobile sessions are never reset");
}

both_backends!(
    test_policy_takes_precedence_resets_its_members_and_rolls_out_sqlite,
    test_policy_takes_precedence_resets_its_members_and_rolls_out_postgres,
    long_sessions(),
    precedence
);

/// The emailed code: asked of the test policy's member only, while the
/// external user policy asks nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_policy_email_code_is_asked_of_its_members_only() {
    let mut c = one_account();
    c.email_codes.mail_delivered = true;
    let n = Nodes::sqlite(c).await;
    let (base, root, ext, _) = acme(&n, 2).await;
    let (st, p) = n
        .send(
            "PUT",
            &format!("{base}/external-policy/test"),
            &bearer(&root),
            Some(test_body(true, None, true, &[&ext[0]])),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let (st, _, a) = n.password("ext0@partner.example", PASSWORD).await;
    assert_eq!(st, 200);
    assert_eq!(a["status"], "second_step", "{a}");
    assert_eq!(a["methods"], json!(["email_code"]));
    let (_, _, b) = n.password("ext1@partner.example", PASSWORD).await;
    assert_eq!(b["status"], "complete", "{b}");
}
