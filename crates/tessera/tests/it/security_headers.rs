//! Security headers on every answer: pages, API successes and errors,
//! assets, the Swagger page, rejections by the layers (405, 413, 415) and
//! unknown paths; HSTS exactly when the public URL is https.

use crate::support::*;
use reqwest::header::HeaderMap;
use serde_json::json;

fn csp(h: &HeaderMap) -> &str {
    h.get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The directive `name` of a policy, or `default-src` when it has none.
fn directive<'a>(policy: &'a str, name: &str) -> &'a str {
    let find = |n: &str| {
        policy
            .split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(n))
    };
    find(name).or_else(|| find("default-src")).unwrap_or("")
}

fn assert_secure(what: &str, h: &HeaderMap, hsts: bool) {
    let policy = csp(h);
    assert!(!policy.is_empty(), "{what}: no CSP in {h:?}");
    let scripts = directive(policy, "script-src");
    assert!(
        !scripts.contains("unsafe-inline") && !scripts.contains("unsafe-eval"),
        "{what}: {policy}"
    );
    assert!(
        !scripts.contains('*') && !scripts.contains("http"),
        "{what}: {policy}"
    );
    assert_eq!(
        directive(policy, "frame-ancestors"),
        "frame-ancestors 'none'",
        "{what}"
    );
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "same-origin", "{what}");
    assert_eq!(
        h.get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_string()),
        hsts.then(|| "max-age=63072000".to_string()),
        "{what}"
    );
}

/// Every kind of answer the server gives, with its status.
async fn walk(s: &Server, hsts: bool) {
    s.create_user("headers@example.com", "sysadmin");
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signin = c
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "headers@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(signin.status(), 200);
    assert_secure("POST /api/v1/signin", signin.headers(), hsts);
    let token = signin.json::<serde_json::Value>().await.unwrap()["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Bearer {token}");

    let cases: Vec<(&str, &str, Option<&str>, u16)> = vec![
        ("GET", "/", None, 303),
        ("GET", "/login", None, 200),
        ("GET", "/security", None, 303),
        ("GET", "/no-such-page", None, 404),
        ("PUT", "/login", None, 405),
        ("GET", "/assets/webauthn.js", None, 200),
        ("GET", "/assets/style.css", None, 200),
        ("GET", "/api/docs/", None, 200),
        ("GET", "/api/openapi.json", None, 200),
        ("GET", "/api/v1/session", Some(&bearer), 200),
        ("GET", "/api/v1/session", None, 401),
        ("GET", "/api/v1/admin/users", Some(&bearer), 200),
        ("GET", "/api/v1/admin/users?offset=-1", Some(&bearer), 400),
        ("TRACE", "/api/v1/signin", None, 405),
        ("POST", "/api/v1/signin", None, 415),
        ("GET", "/api/v1/no-such-thing", None, 404),
        ("GET", "/healthz", None, 200),
    ];
    for (method, path, auth, status) in cases {
        let mut req = c.request(method.parse().unwrap(), s.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        let what = format!("{method} {path}");
        assert_eq!(res.status().as_u16(), status, "{what}");
        assert_secure(&what, res.headers(), hsts);
        // API answers are data: nothing in them may run or load.
        if path.starts_with("/api/v1/") || path == "/api/openapi.json" {
            assert_eq!(
                csp(res.headers()),
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
                "{what}"
            );
        }
    }
    // A body over the limit is refused by a layer before any handler.
    let big = c
        .post(s.url("/api/v1/signin"))
        .header("content-type", "application/json")
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    assert_secure("POST /api/v1/signin (too large)", big.headers(), hsts);
    // The metrics listener too.
    let metrics = c
        .get(format!("{}/metrics", s.metrics_base.as_deref().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert_secure("GET /metrics", metrics.headers(), hsts);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_without_hsts_on_http() {
    let s = Server::start();
    walk(&s, false).await;
}

/// Behind a TLS-terminating proxy: the public URL says https, so every
/// answer carries HSTS, even though the proxy talks plain http to us.
#[tokio::test]
async fn an_https_public_url_adds_hsts_everywhere() {
    let s = Server::start_with(Opts {
        env: vec![(
            "TESSERA_PUBLIC_URL".into(),
            "https://id.example.test".into(),
        )],
        ..Default::default()
    });
    walk(&s, true).await;
}
