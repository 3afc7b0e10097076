//! PostgreSQL going away under load and coming back, as the server sees a
//! restart: every connection it holds is cut at once and new ones are
//! refused for a while. The test cannot restart the machine's PostgreSQL
//! (every other test uses it), so the server reaches it through a TCP
//! proxy the test cuts and restores. Throughout, every request is answered
//! within 5 s, during the outage with 503 and a problem document,
//! `/readyz` says so, and afterwards the server recovers by itself.

use crate::postgres::pg_env;
use crate::support::*;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy to PostgreSQL that can play dead.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn to(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let (accept_up, accept_cuts) = (up.clone(), cuts.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    // Down: the connection is refused as a stopped server's
                    // would be, closed at once.
                    drop(client);
                    continue;
                }
                let mut cut = accept_cuts.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut c, mut s) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut c, &mut s) => {}
                        // A cut drops both sockets, mid-query or idle.
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            up,
            cuts,
            task,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One answer seen by the load: when it was sent (since the start), how
/// long it took, its status, and whether a 503 was a problem document
/// with a `Retry-After`.
#[derive(Debug)]
struct Seen {
    sent: Duration,
    took: Duration,
    status: u16,
    proper_503: bool,
}

// Several threads: the proxy must keep running while the test blocks on
// starting the server and on the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_fails_fast_and_recovers_by_itself() {
    let Some(scoped) =
        tessera_testkit::pg::fresh_test_schema("it", "the PostgreSQL outage test").await
    else {
        return;
    };
    let url = url::Url::parse(&scoped).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::to(upstream.clone()).await;
    let proxied = scoped.replacen(&upstream, &proxy.addr.to_string(), 1);
    assert_ne!(proxied, scoped, "the URL names {upstream}");

    let s = Server::start_with(Opts {
        env: pg_env(&proxied),
        ..Default::default()
    });
    s.create_user("load@example.com", "member");
    // Each sign-in worker has its own account: parallel sign-ins of one
    // account wait their turn at the guessing throttle (429), which is
    // not what this test is about.
    for w in 0..8 {
        s.create_user(&format!("load{w}@example.com"), "member");
    }
    let token = signin(&s, "load@example.com", PASSWORD).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let ready = |http: reqwest::Client, url: String| async move {
        http.get(url)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(ready(http.clone(), s.url("/readyz")).await, 200);

    // The load: who-am-I with the token and password sign-ins, four
    // workers each, until told to stop.
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (http, stop) = (http.clone(), stop.clone());
        let (session_url, signin_url) = (s.url("/api/v1/session"), s.url("/api/v1/signin"));
        let token = token.clone();
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let req = if w % 2 == 0 {
                    http.get(&session_url).bearer_auth(&token)
                } else {
                    http.post(&signin_url).json(&json!({
                        "email": format!("load{w}@example.com"),
                        "password": PASSWORD,
                        "client": "mobile",
                    }))
                };
                let sent = start.elapsed();
                let t = Instant::now();
                let res = req.send().await.expect("an answer, not a timeout");
                let status = res.status().as_u16();
                let proper_503 = status == 503
                    && res.headers().contains_key("retry-after")
                    && res
                        .headers()
                        .get("content-type")
                        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
                let _ = res.bytes().await;
                seen.push(Seen {
                    sent,
                    took: t.elapsed(),
                    status,
                    proper_503,
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let cut_at = start.elapsed();
    proxy.cut();
    // Readiness follows the database down: 503 within the pool's wait.
    let mut not_ready_after = None;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(8) {
        if ready(http.clone(), s.url("/readyz")).await == 503 {
            not_ready_after = Some(t.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let not_ready_after =
        not_ready_after.expect("/readyz kept saying ready with the database gone");
    // Down for 6 s in all, longer than a request may wait.
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(t.elapsed())).await;
    let restored_at = start.elapsed();
    proxy.restore();

    // It comes back by itself: ready again, and sign-ins work.
    let t = Instant::now();
    let mut ready_after = None;
    while t.elapsed() < Duration::from_secs(20) {
        if ready(http.clone(), s.url("/readyz")).await == 200 {
            ready_after = Some(t.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready_after = ready_after.expect("/readyz did not recover within 20 s");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    for w in workers {
        seen.extend(w.await.unwrap());
    }

    let slowest = seen.iter().map(|x| x.took).max().unwrap();
    let during: Vec<&Seen> = seen
        .iter()
        .filter(|x| x.sent > cut_at && x.sent + x.took < restored_at)
        .collect();
    let refused = during.iter().filter(|x| x.status == 503).count();
    let improper = seen
        .iter()
        .filter(|x| x.status == 503 && !x.proper_503)
        .count();
    let unexpected: Vec<u16> = seen
        .iter()
        .map(|x| x.status)
        .filter(|s| ![200, 503].contains(s))
        .collect();
    for x in seen.iter().filter(|x| x.status == 429).take(5) {
        eprintln!(
            "429 at {:?} (cut at {cut_at:?}, back at {restored_at:?})",
            x.sent
        );
    }
    let last_second_ok = seen
        .iter()
        .filter(|x| {
            x.sent > start.elapsed().saturating_sub(Duration::from_secs(2)) && x.status == 200
        })
        .count();
    eprintln!(
        "DB OUTAGE: {} requests, {} sent during the 6 s outage ({refused} answered 503), \
         slowest {slowest:?}; /readyz said 503 after {not_ready_after:?} and 200 again \
         {ready_after:?} after the database was back",
        seen.len(),
        during.len()
    );
    assert!(
        slowest < Duration::from_secs(5),
        "an answer took {slowest:?}"
    );
    assert!(refused > 0, "nothing was refused with the database gone");
    assert_eq!(
        improper, 0,
        "a 503 without a problem document or Retry-After"
    );
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    assert!(
        last_second_ok > 0,
        "no request succeeded after the recovery"
    );
    let signin_after = http
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "load@example.com", "password": PASSWORD, "client": "mobile"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signin_after.status(), 200);
}
