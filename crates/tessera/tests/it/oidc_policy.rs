//! An external user's policy reaches the applications they sign in to
//! through OpenID Connect: the verification frequency that bounds their
//! web session bounds every token an application got from it, while a
//! managed colleague's tokens live on. On SQLite and on two PostgreSQL
//! nodes (requests alternate), with a clock the test moves.

use crate::guard_rails::{Nodes, bearer};
use crate::org_policy::long_sessions;
use crate::support::*;
use crate::world::{add_member, org_with_domain};
use serde_json::{Value, json};
use tessera_core::account::Role;

const REDIRECT: &str = "https://app.example/callback";

macro_rules! both_backends {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            $body(Nodes::sqlite(long_sessions()).await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let Some(n) = Nodes::postgres(long_sessions()).await else {
                return;
            };
            $body(n).await;
        }
    };
}

/// A browser: cookies kept, redirects left to the test.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), 303, "expected a redirect, got {}", r.status());
    r.headers()["location"].to_str().unwrap().to_string()
}

/// Signs `email` in to the application through Tessera's pages, from
/// the authorization request to the code at the redirect URI.
async fn code_for(n: &Nodes, email: &str, client_id: &str) -> String {
    let http = browser();
    let query = serde_urlencoded_query(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email"),
        ("state", "st-1"),
        ("nonce", "n-1"),
    ]);
    let r = http
        .get(n.node().url(&format!("/oauth2/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/login");
    let r = page_signin(&http, &n.node().url("/login"), email, PASSWORD).await;
    let back = location(&r);
    assert!(back.starts_with("/oauth2/authorize?resume="), "{back}");
    let r = http.get(n.node().url(&back)).send().await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "after the sign-in form, a page that moves on"
    );
    let html = r.text().await.unwrap();
    let to = url::Url::parse(&continue_target(&html).expect(&html)).unwrap();
    assert!(to.as_str().starts_with(REDIRECT), "{to}");
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st-1");
    q["code"].clone()
}

fn serde_urlencoded_query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn token(n: &Nodes, client: &(String, String), form: &[(&str, &str)]) -> (u16, Value) {
    let r = n
        .http
        .post(n.node().url("/oauth2/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn policy_bounds_tokens(n: Nodes) {
    n.user("root@acme.example", Role::Sysadmin).await;
    let root = bearer(&n.token("root@acme.example").await);
    let base = org_with_domain(&n, &root, "Acme", "acme.example").await;
    n.user("ann@acme.example", Role::Member).await;
    n.user("bob@partner.example", Role::Member).await;
    add_member(&n, &root, &base, "bob@partner.example").await;
    let (st, p) = n
        .send(
            "PUT",
            &format!("{base}/external-policy"),
            &root,
            Some(json!({"email_code": false, "verification_frequency_minutes": 15, "api_token_access": true})),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let (st, c) = n
        .send(
            "POST",
            "/api/v1/admin/oidc-clients",
            &root,
            Some(json!({"name": "Wiki", "redirect_uris": [REDIRECT], "public": false, "first_party": true, "scopes": ["openid", "email"]})),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let client = (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().unwrap().to_string(),
    );

    let mut refresh = std::collections::HashMap::new();
    for who in ["bob@partner.example", "ann@acme.example"] {
        let code = code_for(&n, who, &client.0).await;
        let (st, t) = token(
            &n,
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
        assert_eq!(st, 200, "{t}");
        refresh.insert(who, t["refresh_token"].as_str().unwrap().to_string());
    }
    let use_refresh = |current: String| {
        let n = &n;
        let client = &client;
        async move {
            token(
                n,
                client,
                &[("grant_type", "refresh_token"), ("refresh_token", &current)],
            )
            .await
        }
    };

    // A minute before Bob's 15 minutes are up, his application refreshes.
    n.clock.advance_secs(14 * 60);
    let (st, t) = use_refresh(refresh["bob@partner.example"].clone()).await;
    assert_eq!(st, 200, "{t}");
    let bob_refresh = t["refresh_token"].as_str().unwrap().to_string();
    let bob_access = t["access_token"].as_str().unwrap().to_string();
    let (st, _) = n
        .send("GET", "/oauth2/userinfo", &bearer(&bob_access), None)
        .await;
    assert_eq!(st, 200);

    // Then his session ends, and with it every token the application got.
    n.clock.advance_secs(60);
    let (st, e) = use_refresh(bob_refresh).await;
    assert_eq!(
        (st, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let (st, e) = n
        .send("GET", "/oauth2/userinfo", &bearer(&bob_access), None)
        .await;
    assert_eq!(
        st, 401,
        "the access token is not expired yet, but its session is: {e}"
    );

    // Ann is managed: the policy does not touch her.
    let (st, t) = use_refresh(refresh["ann@acme.example"].clone()).await;
    assert_eq!(st, 200, "{t}");
}

both_backends!(
    an_external_users_verification_frequency_bounds_their_oidc_tokens_sqlite,
    an_external_users_verification_frequency_bounds_their_oidc_tokens_postgres,
    policy_bounds_tokens
);
