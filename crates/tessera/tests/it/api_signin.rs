//! Sign-in over the API: success for both client kinds, one answer for
//! every failure, bad input, rehashing, self sign-up, break-glass.

use crate::support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn mobile_gets_a_bearer_token_and_web_gets_a_cookie() {
    let s = Server::start();
    s.create_user("ann@example.com", "member");

    let token = signin(&s, "ANN@example.com ", PASSWORD).await;
    assert!(
        token.len() >= 43,
        "token must carry at least 256 bits: {token}"
    );
    let me: Value = reqwest::Client::new()
        .get(s.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["account"]["email"], "ann@example.com");
    assert_eq!(me["account"]["kind"], "human");
    assert_eq!(me["account"]["roles"], json!(["member"]));
    assert_eq!(me["client"], "mobile");
    assert_eq!(me["aal"], "aal1");
    assert_eq!(me["methods"], json!(["password"]));
    assert!(me["verified_at"].as_str().unwrap().ends_with('Z'));
    assert!(me["expires_at"].is_string());

    let web = client();
    let r = web
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD, "client": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = set_cookie(&r, "tessera_session=");
    assert!(cookie.starts_with("tessera_session="), "{cookie}");
    // A new browser also gets its long-lived device token.
    let device = set_cookie(&r, "tessera_device=");
    assert!(
        device.contains("HttpOnly") && device.contains("Max-Age=31536000"),
        "{device}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-http localhost must not get Secure: {cookie}"
    );
    let body: Value = r.json().await.unwrap();
    assert!(
        body.get("session_token").is_none(),
        "web clients must not see the token"
    );
    assert_eq!(body["status"], "complete");
    let me: Value = web
        .get(s.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["client"], "web");

    let anon = reqwest::get(s.url("/api/v1/session")).await.unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(anon.headers()["content-type"], "application/problem+json");
    let bogus = reqwest::Client::new()
        .get(s.url("/api/v1/session"))
        .bearer_auth("x".repeat(43))
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), 401);
}

#[tokio::test]
async fn every_failure_looks_the_same_and_costs_a_hash() {
    let s = Server::start();
    s.create_user("known@example.com", "member");
    s.create_user("gone@example.com", "member");
    let out = cli_with(
        &s.data_dir,
        &[],
        &["admin", "deactivate", "--email", "gone@example.com"],
        None,
    );
    assert!(out.status.success());
    let out = cli_with(
        &s.data_dir,
        &[],
        &[
            "admin",
            "create-user",
            "--email",
            "bot@example.com",
            "--kind",
            "service",
        ],
        None,
    );
    assert!(out.status.success());

    let c = reqwest::Client::new();
    let mut bodies = Vec::new();
    for (email, pw) in [
        ("nobody@example.com", PASSWORD),
        ("known@example.com", "wrong password here"),
        ("gone@example.com", PASSWORD),
        ("bot@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ] {
        let before = metric(&s, "tessera_hash_pool_completed_total", "").await;
        let r = c
            .post(s.url("/api/v1/signin"))
            .json(&json!({"email": email, "password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{email}");
        bodies.push(r.text().await.unwrap());
        let after = metric(&s, "tessera_hash_pool_completed_total", "").await;
        assert_eq!(
            after - before,
            1.0,
            "{email}: every attempt must cost exactly one hash"
        );
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "responses differ: {bodies:?}"
    );
    assert!(bodies[0].contains("The email address or password is incorrect."));
    let failures = metric(&s, "tessera_signin_total", "outcome=\"failure\"").await;
    assert_eq!(failures, 5.0);
}

#[tokio::test]
async fn malformed_requests_get_problem_documents() {
    let s = Server::start();
    let c = reqwest::Client::new();
    let r = c
        .post(s.url("/api/v1/signin"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["status"], 400);
    assert!(p["detail"].as_str().unwrap().contains("not valid JSON"));

    let r = c
        .post(s.url("/api/v1/signin"))
        .body(r#"{"email":"a@b.co","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    let r = c
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "a@b.co", "password": "x", "admin": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "unknown fields are refused");

    let r = c
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "a@b.co", "password": "x", "client": "tv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let huge = "x".repeat(70 * 1024);
    let r = c
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "a@b.co", "password": huge}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "payload_too_large");

    let r = c.get(s.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn passwords_are_rehashed_when_parameters_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(Opts {
        data_dir: Some(dir.path().into()),
        ..Default::default()
    });
    s.create_user("re@example.com", "member");
    drop(s);
    let stored = stored_hash(dir.path(), "re@example.com").await;
    assert!(stored.contains("m=19456,t=2,p=1"), "{stored}");

    let s = Server::start_with(Opts {
        data_dir: Some(dir.path().into()),
        env: vec![("TESSERA_PASSWORD__ARGON2_MEMORY_KIB".into(), "24576".into())],
    });
    signin(&s, "re@example.com", PASSWORD).await;
    drop(s);
    let stored = stored_hash(dir.path(), "re@example.com").await;
    assert!(stored.contains("m=24576,t=2,p=1"), "not rehashed: {stored}");
    // And the new hash still verifies.
    let s = Server::start_with(Opts {
        data_dir: Some(dir.path().into()),
        ..Default::default()
    });
    signin(&s, "re@example.com", PASSWORD).await;
}

async fn stored_hash(dir: &std::path::Path, email: &str) -> String {
    use tessera_core::store::AccountStore;
    let store = tessera_store::SqliteStore::open(&dir.join("tessera.db"))
        .await
        .unwrap();
    let a = store
        .account_by_email(&tessera_core::email::Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    a.password_hash.unwrap()
}

#[tokio::test]
async fn self_signup_is_off_by_default_and_checks_passwords_when_on() {
    let s = Server::start();
    let c = reqwest::Client::new();
    let body = json!({"email": "new@example.com", "password": PASSWORD, "display_name": "New"});
    let r = c
        .post(s.url("/api/v1/signup"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    drop(s);

    let s = Server::start_with(Opts {
        env: vec![("TESSERA_SIGNUP_ENABLED".into(), "true".into())],
        ..Default::default()
    });
    let r = c
        .post(s.url("/api/v1/signup"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["status"], "check_email");
    // Taken: the same answer (see signup_enumeration).
    let r = c
        .post(s.url("/api/v1/signup"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap(), first);
    for (pw, why) in [
        ("short", "at least 8"),
        ("password1", "common"),
        ("iloveyou", "common"),
        (&"x".repeat(129)[..], "at most 128"),
    ] {
        let r = c
            .post(s.url("/api/v1/signup"))
            .json(&json!({"email": "p@example.com", "password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{pw}");
        let p: Value = r.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap().contains(why), "{p}");
    }
    let r = c
        .post(s.url("/api/v1/signup"))
        .json(&json!({"email": "bad@", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    signin(&s, "new@example.com", PASSWORD).await;
}

#[tokio::test]
async fn break_glass_password_works_once() {
    let s = Server::start();
    s.create_user("root@example.com", "sysadmin");
    let out = cli_with(
        &s.data_dir,
        &[],
        &["recover-account", "root@example.com"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one_time = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(one_time.len() >= 20);

    let c = reqwest::Client::new();
    let first = c
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "root@example.com", "password": one_time}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let v: Value = first.json().await.unwrap();
    assert_eq!(v["session"]["methods"], json!(["break_glass"]));
    let again = c
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "root@example.com", "password": one_time}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        401,
        "the one-time password must not work twice"
    );
    // The normal password still works.
    signin(&s, "root@example.com", PASSWORD).await;

    let out = cli_with(
        &s.data_dir,
        &[],
        &["recover-account", "nobody@example.com"],
        None,
    );
    assert!(!out.status.success());
}

#[tokio::test]
async fn https_deployments_get_host_prefixed_secure_cookies() {
    let s = Server::start_with(Opts {
        env: vec![(
            "TESSERA_PUBLIC_URL".into(),
            "https://id.example.test".into(),
        )],
        ..Default::default()
    });
    s.create_user("tls@example.com", "member");
    let r = reqwest::Client::new()
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "tls@example.com", "password": PASSWORD, "client": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = set_cookie(&r, "__Host-tessera_session=");
    let cookie = cookie.as_str();
    assert!(cookie.starts_with("__Host-tessera_session="), "{cookie}");
    let device = set_cookie(&r, "__Host-tessera_device=");
    assert!(
        device.contains("Secure") && device.contains("HttpOnly"),
        "{device}"
    );
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    // The prefixed cookie is the one the server reads back.
    let me = reqwest::Client::new()
        .get(s.url("/api/v1/session"))
        .header("cookie", format!("__Host-tessera_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

/// The `Set-Cookie` header that sets the cookie starting with `prefix`.
fn set_cookie(r: &reqwest::Response, prefix: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} cookie"))
}

#[tokio::test]
async fn a_body_must_be_a_json_object_and_a_bad_query_gets_a_problem_document() {
    let s = Server::start();
    s.create_user("ann@example.com", "sysadmin");
    let c = reqwest::Client::new();
    // The fields in order, as an array: serde would take it for the struct.
    for body in [
        json!(["ann@example.com", PASSWORD, "mobile"]),
        json!("ann@example.com"),
        json!(null),
    ] {
        let r = c
            .post(s.url("/api/v1/signin"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().await.unwrap();
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("must be a JSON object"),
            "{p}"
        );
    }
    // The object itself still signs in, with a charset in the type too.
    let r = c
        .post(s.url("/api/v1/signin"))
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({"email": "ann@example.com", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let token = signin(&s, "ann@example.com", PASSWORD).await;
    for path in [
        "/api/v1/admin/users?offset=-1",
        "/api/v1/admin/users?limit=abc",
        "/api/v1/admin/audit?since=abc",
    ] {
        let r = c.get(s.url(path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let p: Value = r.json().await.unwrap();
        assert!(
            p["detail"].as_str().unwrap().contains("query string"),
            "{path}: {p}"
        );
    }
    let r = c
        .get(s.url("/api/v1/admin/users?offset=0&limit=5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
