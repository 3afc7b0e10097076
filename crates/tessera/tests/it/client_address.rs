//! The client address written to the audit log: the TCP peer unless it is
//! a trusted proxy, then the right-most untrusted `X-Forwarded-For` hop.

use crate::support::*;
use serde_json::Value;

/// Fails a sign-in for `victim` with the given `X-Forwarded-For` headers,
/// then returns the address the audit log recorded for it.
async fn recorded_ip(s: &Server, forwarded: &[&str]) -> String {
    s.create_user("victim@example.com", "member");
    s.create_user("admin@example.com", "sysadmin");
    let mut req = reqwest::Client::new()
        .post(s.url("/api/v1/signin"))
        .json(&serde_json::json!({
            "email": "victim@example.com",
            "password": "not the password",
            "client": "mobile"
        }));
    for v in forwarded {
        req = req.header("x-forwarded-for", *v);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);

    let token = signin(s, "admin@example.com", PASSWORD).await;
    let list: Value = reqwest::Client::new()
        .get(s.url("/api/v1/admin/audit?kind=signin.failed"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = list["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{list}");
    events[0]["ip"].as_str().unwrap().to_string()
}

fn behind_local_proxy() -> Opts {
    Opts {
        env: vec![(
            "TESSERA_HTTP__TRUSTED_PROXIES".into(),
            r#"["127.0.0.1/32"]"#.into(),
        )],
        ..Default::default()
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_recorded() {
    let s = Server::start_with(behind_local_proxy());
    // The caller wrote "6.6.6.6"; our proxy appended what it saw, and a
    // second proxy header adds another trusted hop.
    let ip = recorded_ip(&s, &["6.6.6.6, 203.0.113.7", "127.0.0.1"]).await;
    assert_eq!(ip, "203.0.113.7");
}

#[tokio::test]
async fn behind_a_trusted_proxy_garbage_is_not_trusted_through() {
    let s = Server::start_with(behind_local_proxy());
    let ip = recorded_ip(&s, &["6.6.6.6, junk"]).await;
    assert_eq!(ip, "127.0.0.1");
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_for_is_ignored() {
    let s = Server::start();
    let ip = recorded_ip(&s, &["6.6.6.6, 203.0.113.7"]).await;
    assert_eq!(ip, "127.0.0.1");
}

fn serve_refuses(env: &[(&str, &str)], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{n} not in {err}");
    }
}

#[test]
fn a_bad_network_or_the_old_switch_stops_the_server_at_start() {
    serve_refuses(
        &[(
            "TESSERA_HTTP__TRUSTED_PROXIES",
            r#"["10.0.0.0/8", "10.0.0.0/40"]"#,
        )],
        &["http.trusted_proxies", "10.0.0.0/40"],
    );
    serve_refuses(
        &[("TESSERA_HTTP__TRUST_FORWARDED_FOR", "true")],
        &["trust_forwarded_for", "http.trusted_proxies"],
    );
}
