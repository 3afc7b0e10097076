//! The caller's own sessions: list, end one, end others, sign out, and
//! password change with token rotation. Plus the CSRF guards.

use crate::support::*;
use serde_json::{Value, json};

async fn sessions(s: &Server, token: &str) -> Vec<Value> {
    let v: Value = reqwest::Client::new()
        .get(s.url("/api/v1/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["sessions"].as_array().unwrap().clone()
}

async fn status_of(s: &Server, token: &str) -> u16 {
    reqwest::Client::new()
        .get(s.url("/api/v1/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn list_end_one_end_others_and_sign_out() {
    let s = Server::start();
    s.create_user("sam@example.com", "member");
    s.create_user("eve@example.com", "member");
    let phone = reqwest::Client::builder()
        .user_agent("Mozilla/5.0 (Linux; Android 14) Chrome/126 Mobile Safari/537.36")
        .build()
        .unwrap();
    let r: Value = phone
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "sam@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a = r["session_token"].as_str().unwrap().to_string();
    let b = signin(&s, "sam@example.com", PASSWORD).await;
    let c = signin(&s, "sam@example.com", PASSWORD).await;
    let eve = signin(&s, "eve@example.com", PASSWORD).await;

    let list = sessions(&s, &b).await;
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|x| x["current"] == true).count(), 1);
    let android = list
        .iter()
        .find(|x| x["device"] == "Chrome on Android")
        .expect("device described");
    assert_eq!(android["ip"], "127.0.0.1");
    assert!(android["last_seen_at"].is_string());
    let id_a = android["id"].as_str().unwrap().to_string();

    let http = reqwest::Client::new();
    // Someone else's session id looks like no session at all.
    let r = http
        .delete(s.url(&format!("/api/v1/sessions/{id_a}")))
        .bearer_auth(&eve)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(status_of(&s, &a).await, 200);
    let r = http
        .delete(s.url("/api/v1/sessions/not-a-uuid"))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = http
        .delete(s.url(&format!("/api/v1/sessions/{id_a}")))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(status_of(&s, &a).await, 401);

    let r: Value = http
        .delete(s.url("/api/v1/sessions"))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ended"], 1);
    assert_eq!(status_of(&s, &c).await, 401);
    assert_eq!(status_of(&s, &b).await, 200);
    assert_eq!(
        status_of(&s, &eve).await,
        200,
        "other accounts are untouched"
    );

    let r = http
        .delete(s.url("/api/v1/session"))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(status_of(&s, &b).await, 401);
}

#[tokio::test]
async fn password_change_rotates_this_session_and_ends_the_others() {
    let s = Server::start();
    s.create_user("pat@example.com", "member");
    let mine = signin(&s, "pat@example.com", PASSWORD).await;
    let other = signin(&s, "pat@example.com", PASSWORD).await;
    let http = reqwest::Client::new();
    let new_pw = "a whole new passphrase";

    let r = http
        .post(s.url("/api/v1/me/password"))
        .bearer_auth(&mine)
        .json(&json!({"current_password": "not it at all", "new_password": new_pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(s.url("/api/v1/me/password"))
        .bearer_auth(&mine)
        .json(&json!({"current_password": PASSWORD, "new_password": "qwertyuiop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "common passwords are refused");
    assert_eq!(
        status_of(&s, &other).await,
        200,
        "failed changes change nothing"
    );

    let r: Value = http
        .post(s.url("/api/v1/me/password"))
        .bearer_auth(&mine)
        .json(&json!({"current_password": PASSWORD, "new_password": new_pw}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = r["session_token"].as_str().unwrap();
    assert_ne!(rotated, mine);
    assert_eq!(status_of(&s, &mine).await, 401, "the old token must die");
    assert_eq!(status_of(&s, rotated).await, 200);
    assert_eq!(
        status_of(&s, &other).await,
        401,
        "other sessions are signed out"
    );
    let r = http
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "pat@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    signin(&s, "pat@example.com", new_pw).await;
}

#[tokio::test]
async fn cookie_sessions_rotate_on_password_change() {
    let s = Server::start();
    s.create_user("cook@example.com", "member");
    let web = client();
    let r = web
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "cook@example.com", "password": PASSWORD, "client": "web"}))
        .send()
        .await
        .unwrap();
    let first = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = web
        .post(s.url("/api/v1/me/password"))
        .json(&json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let second = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    assert_eq!(
        web.get(s.url("/api/v1/session"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let stale = reqwest::Client::new()
        .get(s.url("/api/v1/session"))
        .header("cookie", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
}

#[tokio::test]
async fn cross_site_requests_and_forms_without_tokens_are_refused() {
    let s = Server::start();
    s.create_user("cs@example.com", "member");
    let web = client();
    web.post(s.url("/api/v1/signin"))
        .json(&json!({"email": "cs@example.com", "password": PASSWORD, "client": "web"}))
        .send()
        .await
        .unwrap();

    let r = web
        .delete(s.url("/api/v1/sessions"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = web
        .delete(s.url("/api/v1/sessions"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = web
        .delete(s.url("/api/v1/sessions"))
        .header("origin", &s.origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "our own origin is fine");

    // The login form needs the token from its cookie.
    let anon = client();
    let page = anon.get(s.url("/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = anon
        .post(s.url("/login"))
        .form(&[
            ("csrf", "forged-token-forged-token-forged-token"),
            ("email", "cs@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let fresh = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = fresh
        .post(s.url("/login"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", "cs@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a token without its cookie is refused");
    let r = anon
        .post(s.url("/login"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", "cs@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(r.url().path().ends_with("/security"));
}

#[tokio::test]
async fn pages_redirect_strangers_and_send_security_headers() {
    let s = Server::start();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for p in ["/", "/security", "/admin/users"] {
        let r = c.get(s.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{p}");
        assert_eq!(r.headers()["location"], "/login");
    }
    let r = c.get(s.url("/login")).send().await.unwrap();
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = c.get(s.url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("Page not found"));
}
