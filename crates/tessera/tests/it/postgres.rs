//! PostgreSQL: the server runs on it, and two server processes sharing one
//! database see each other's sessions and revocations at once.

use crate::support::*;
use serde_json::{Value, json};

/// A fresh schema in the test database, as a URL that selects it.
pub async fn scoped_url() -> Option<String> {
    tessera_testkit::pg::fresh_test_schema("it", "PostgreSQL server tests").await
}

/// Nodes sharing one database must share its secret key.
pub const SHARED_KEY: &str = "c2hhcmVkLXRlc3Qta2V5LWZvci10d28tbm9kZXMhISE=";

pub fn pg_env(url: &str) -> Vec<(String, String)> {
    vec![
        ("TESSERA_DATABASE_URL".into(), url.into()),
        ("TESSERA_SECRET_KEY".into(), SHARED_KEY.into()),
    ]
}

pub fn pg_server(url: &str) -> Server {
    Server::start_with(Opts {
        env: pg_env(url),
        ..Default::default()
    })
}

#[tokio::test]
async fn two_nodes_share_sessions_and_revocations() {
    let Some(url) = scoped_url().await else {
        return;
    };
    let a = pg_server(&url);
    let b = pg_server(&url);
    let out = cli_with(
        &a.data_dir,
        &[
            ("TESSERA_DATABASE_URL", &url),
            ("TESSERA_SECRET_KEY", SHARED_KEY),
        ],
        &[
            "admin",
            "create-user",
            "--email",
            "pg@example.com",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli_with(
        &a.data_dir,
        &[
            ("TESSERA_DATABASE_URL", &url),
            ("TESSERA_SECRET_KEY", SHARED_KEY),
        ],
        &["migrate"],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(postgres)"));

    let on_a = signin(&a, "pg@example.com", PASSWORD).await;
    let on_a2 = signin(&a, "pg@example.com", PASSWORD).await;
    let http = reqwest::Client::new();
    let me: Value = http
        .get(b.url("/api/v1/session"))
        .bearer_auth(&on_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["account"]["email"], "pg@example.com");

    // Revoked through node B, refused by node A immediately.
    let r: Value = http
        .delete(b.url("/api/v1/sessions"))
        .bearer_auth(&on_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ended"], 1);
    assert_eq!(
        http.get(a.url("/api/v1/session"))
            .bearer_auth(&on_a2)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(a.url("/api/v1/session"))
            .bearer_auth(&on_a)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Parallel sign-ups of one email across both nodes: exactly one account.
    drop((a, b));
    let mut env = pg_env(&url);
    env.push(("TESSERA_SIGNUP_ENABLED".into(), "true".into()));
    let a = Server::start_with(Opts {
        env: env.clone(),
        ..Default::default()
    });
    let b = Server::start_with(Opts {
        env,
        ..Default::default()
    });
    let mut tasks = Vec::new();
    for i in 0..10 {
        let url = if i % 2 == 0 {
            a.url("/api/v1/signup")
        } else {
            b.url("/api/v1/signup")
        };
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"email": "twice@example.com", "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    // Every sign-up gets the same answer, taken address or not.
    assert!(codes.contains(&202), "{codes:?}");
    assert!(codes.iter().all(|c| *c == 202 || *c == 503), "{codes:?}");
    use tessera_core::store::{AccountStore, OutboxStore};
    let store = tessera_store::PgStore::connect(&url).await.unwrap();
    assert_eq!(
        store.count_accounts().await.unwrap(),
        2,
        "pg@ from above and one twice@"
    );
    let taken = store
        .outbox_for("twice@example.com")
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.subject.starts_with("Someone tried to create an account"))
        .count();
    let accepted = codes.iter().filter(|c| **c == 202).count();
    assert_eq!(
        taken,
        accepted - 1,
        "the owner hears of every other attempt"
    );
    assert_eq!(reqwest::get(a.url("/readyz")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_node_with_another_key_refuses_to_start() {
    let Some(url) = scoped_url().await else {
        return;
    };
    let _a = pg_server(&url);
    let dir = tempfile::tempdir().unwrap();
    let out = cli_with(
        dir.path(),
        &[("TESSERA_DATABASE_URL", &url)],
        &["migrate"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secret key") && err.contains("secret.key"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test]
async fn a_revocation_on_one_node_reaches_the_other_nodes_cache() {
    let Some(url) = scoped_url().await else {
        return;
    };
    let a = pg_server(&url);
    let b = pg_server(&url);
    a.create_user("cache@example.com", "member");
    let token = signin(&a, "cache@example.com", PASSWORD).await;
    let keep = signin(&b, "cache@example.com", PASSWORD).await;
    let http = reqwest::Client::new();
    // Node A now holds the answer in its cache.
    for _ in 0..3 {
        assert_eq!(
            http.get(a.url("/api/v1/session"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let r: Value = http
        .delete(b.url("/api/v1/sessions"))
        .bearer_auth(&keep)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ended"], 1);
    // The notification, not the 2 s TTL, must end it on A: well within a second.
    let start = std::time::Instant::now();
    loop {
        let s = http
            .get(a.url("/api/v1/session"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        if s == 401 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_millis(1000),
            "node A still accepts a revoked session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
