//! Metrics are served only on their own listener (`metrics.listen`), never
//! on the application's port.

use crate::support::*;

#[tokio::test]
async fn metrics_are_not_on_the_main_port() {
    let s = Server::start_without_metrics(Opts::default());
    assert!(s.metrics_base.is_none(), "off unless metrics.listen is set");
    assert_eq!(reqwest::get(s.url("/healthz")).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(s.url("/metrics")).await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_metrics_listener_serves_prometheus_text_and_nothing_else() {
    let s = Server::start_with(Opts {
        env: vec![("TESSERA_METRICS__LISTEN".into(), "127.0.0.1:0".into())],
        ..Default::default()
    });
    let base = s.metrics_base.clone().expect("metrics listening line");
    assert_ne!(base, s.base);
    reqwest::get(s.url("/api/v1/session")).await.unwrap();
    let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("tessera_http_requests_total") && text.contains("route=\"/api/v1/session\""),
        "{text}"
    );
    assert!(text.contains("tessera_hash_pool_workers"), "{text}");
    // Still not on the main port, and the application is not on this one.
    assert_eq!(reqwest::get(s.url("/metrics")).await.unwrap().status(), 404);
    for p in ["/healthz", "/api/v1/session", "/"] {
        let r = reqwest::get(format!("{base}{p}")).await.unwrap();
        assert_eq!(r.status(), 404, "{p}");
    }
}

#[tokio::test]
async fn the_metrics_listener_stops_with_the_server() {
    let s = Server::start();
    let base = s.metrics_base.clone().unwrap();
    assert_eq!(
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .status(),
        200
    );
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    assert!(reqwest::get(format!("{base}/metrics")).await.is_err());
}

#[test]
fn a_bad_metrics_address_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("TESSERA_METRICS__LISTEN", "metrics.internal:9090")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("metrics.listen"), "{err}");
    assert!(err.contains("metrics.internal:9090"), "{err}");
}
