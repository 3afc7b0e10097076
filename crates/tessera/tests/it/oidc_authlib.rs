//! The OpenID Connect provider as a widely used client library sees it:
//! `tests/oidc/authlib_flow.py` (authlib) against the real server, with a
//! confidential client, a person to sign in and a service account with an
//! API token made here through the admin API. Skipped (loudly) outside CI
//! when authlib or requests is missing; in CI that fails.

use crate::support::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether python3 has authlib and requests; says why not (a failure in CI).
pub fn authlib_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import authlib, requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let why = "python3 cannot import authlib and requests (run scripts/test, or pip install authlib requests)";
        if std::env::var("CI").is_ok() {
            panic!("OIDC client tests cannot run in CI: {why}");
        }
        eprintln!("SKIPPED: {why}");
    }
    ok
}

/// Posts `body` as the sysadmin; the answer must be 201.
pub async fn admin_post(s: &Server, admin: &str, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(s.url(path))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "POST {path}: {v}");
    v
}

/// Registers a confidential, first-party client; returns its id and secret.
pub async fn register_client(
    s: &Server,
    admin: &str,
    redirect_uri: &str,
    post_logout: &[&str],
) -> (String, String) {
    let c = admin_post(
        s,
        admin,
        "/api/v1/admin/oidc-clients",
        json!({
            "name": "Relying app",
            "redirect_uris": [redirect_uri],
            "post_logout_redirect_uris": post_logout,
            "public": false,
            "first_party": true,
            "scopes": ["openid", "email", "profile", "offline_access"],
        }),
    )
    .await;
    (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn authlib_completes_every_flow_against_the_real_server() {
    if !authlib_available() {
        return;
    }
    let s = Server::start();
    s.create_user("root@example.com", "sysadmin");
    s.create_user("ann@example.com", "member");
    let root = signin(&s, "root@example.com", PASSWORD).await;
    // Never served: the script reads the code from the redirect itself.
    let redirect_uri = "http://localhost:9/callback";
    let (client_id, client_secret) = register_client(&s, &root, redirect_uri, &[]).await;
    let sa = admin_post(
        &s,
        &root,
        "/api/v1/admin/service-accounts",
        json!({"name": "Report bot", "description": "reads reports"}),
    )
    .await;
    let sa_id = sa["id"].as_str().unwrap().to_string();
    let t = admin_post(
        &s,
        &root,
        &format!("/api/v1/admin/service-accounts/{sa_id}/api-tokens"),
        json!({"label": "oidc", "expires_in_days": 30}),
    )
    .await;
    let out = Command::new("python3")
        .arg("tests/oidc/authlib_flow.py")
        .current_dir(repo_root())
        .env("TESSERA_URL", &s.origin)
        .env("CLIENT_ID", &client_id)
        .env("CLIENT_SECRET", &client_secret)
        .env("REDIRECT_URI", redirect_uri)
        .env("USER_EMAIL", "ann@example.com")
        .env("USER_PASSWORD", PASSWORD)
        .env("SA_ID", &sa_id)
        .env("SA_EMAIL", sa["email"].as_str().unwrap())
        .env("SA_TOKEN", t["token"].as_str().unwrap())
        .output()
        .expect("run python3");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tests/oidc/authlib_flow.py failed");
}
