//! Login floods: the hash pool refuses at once when full, and resident
//! memory stays bounded.

use crate::support::*;
use serde_json::json;

fn small_pool() -> Opts {
    Opts {
        env: vec![
            ("TESSERA_HASHING__WORKERS".into(), "1".into()),
            ("TESSERA_HASHING__QUEUE".into(), "1".into()),
        ],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_pool_answers_503_with_retry_after() {
    let s = Server::start_with(small_pool());
    s.create_user("flood@example.com", "member");
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    // One known account and many unknown ones (each costs the same hash):
    // the password throttle allows only a few parallel checks per address,
    // and this test is about the pool.
    for i in 0..40 {
        let http = http.clone();
        let url = s.url("/api/v1/signin");
        let email = if i == 0 {
            "flood@example.com".to_string()
        } else {
            format!("nobody{i}@example.com")
        };
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), retry)
        }));
    }
    let mut ok = 0;
    let mut busy = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200 | 401, _) => ok += 1,
            (503, Some(retry)) => {
                assert!(retry.parse::<u64>().unwrap() >= 1);
                busy += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(ok >= 1, "some sign-ins must get through");
    assert!(
        busy >= 10,
        "a full pool must refuse, got {busy} refusals of 40"
    );
    assert_eq!(
        metric(&s, "tessera_hash_pool_rejected_total", "").await,
        busy as f64
    );
    assert_eq!(
        metric(&s, "tessera_signin_total", "outcome=\"overloaded\"").await,
        busy as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resident_memory_stays_bounded_under_a_flood() {
    let s = Server::start();
    s.create_user("mem@example.com", "member");
    // Warm up: every worker has allocated its Argon2 memory once.
    for _ in 0..4 {
        signin(&s, "mem@example.com", PASSWORD).await;
    }
    let baseline = rss_kib(s.pid());
    let http = reqwest::Client::new();
    for _wave in 0..8 {
        let mut tasks = Vec::new();
        for i in 0..50 {
            let http = http.clone();
            let url = s.url("/api/v1/signin");
            tasks.push(tokio::spawn(async move {
                let pw = if i % 2 == 0 {
                    PASSWORD
                } else {
                    "a wrong guess"
                };
                http.post(url)
                    .json(&json!({"email": "mem@example.com", "password": pw}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        for t in tasks {
            let code = t.await.unwrap();
            // 429: the password throttle refused before any hash.
            assert!([200, 401, 429, 503].contains(&code), "{code}");
        }
    }
    let after = rss_kib(s.pid());
    let workers = std::thread::available_parallelism().unwrap().get() as u64;
    let bound = workers * 19 * 1024 + 32 * 1024;
    let growth = after.saturating_sub(baseline);
    eprintln!(
        "RSS baseline {baseline} KiB, after 400 sign-ins {after} KiB, growth {growth} KiB, bound {bound} KiB"
    );
    assert!(
        growth <= bound,
        "RSS grew {growth} KiB, more than {bound} KiB"
    );
}
