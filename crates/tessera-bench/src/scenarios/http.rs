//! Who-am-I under load, alone and during a login flood.

use super::{Bench, client, raw_hash_rate};
use crate::load::{closed_loop, median, open_loop};
use crate::report::{Check, Outcome, at_least, at_most};
use crate::seed;
use crate::sys::{LoadProbe, rss_kib};
use serde_json::json;
use std::sync::Arc;

const CONCURRENCY: usize = 32;

/// Signs in `n` accounts over HTTP; returns their bearer tokens.
pub async fn tokens(base: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for i in 0..n {
        let r: serde_json::Value = http
            .post(format!("{base}/api/v1/signin"))
            .json(&json!({"email": seed::user_email(i), "password": seed::PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        out.push(
            r["session_token"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("sign-in failed: {r}"))?
                .to_string(),
        );
    }
    Ok(out)
}

/// A request maker for `GET url` with a bearer token from `tokens`.
pub(super) fn getter(
    http: reqwest::Client,
    url: String,
    tokens: Arc<Vec<String>>,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send>>
+ Send
+ Sync
+ 'static {
    move |i| {
        let req = http
            .get(&url)
            .bearer_auth(&tokens[i as usize % tokens.len()]);
        Box::pin(async move {
            match req.send().await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    s
                }
                Err(_) => 0,
            }
        })
    }
}

pub async fn session_check(b: &Bench) -> anyhow::Result<Outcome> {
    let db = b.fresh_db().await?;
    seed::accounts(&db.store, 0, b.settings.accounts).await?;
    let server = b.serve(&db, &[])?;
    let toks = tokens(&server.base, 16).await?;
    whoami_vs_hello(b, &server, toks, "who-am-I").await
}

/// Who-am-I with API tokens (`Bearer tsr_…`) instead of sessions: the
/// same load and targets as `session-check`.
pub async fn token_check(b: &Bench) -> anyhow::Result<Outcome> {
    let db = b.fresh_db().await?;
    seed::accounts(&db.store, 0, b.settings.accounts).await?;
    let toks = seed::api_tokens(&db.store, 16).await?;
    let server = b.serve(&db, &[])?;
    whoami_vs_hello(b, &server, toks, "who-am-I by API token").await
}

/// `GET /api/v1/session` with `toks` against the hello-world baseline:
/// throughput closed loop, then p99 open loop at half the baseline's max.
async fn whoami_vs_hello(
    b: &Bench,
    server: &crate::server::Proc,
    toks: Vec<String>,
    what: &str,
) -> anyhow::Result<Outcome> {
    let hello = crate::server::start_hello()?;
    let toks = Arc::new(toks);
    let http = client(CONCURRENCY);
    let a = getter(
        http.clone(),
        format!("{}/api/v1/session", server.base),
        toks.clone(),
    );
    let base = getter(http.clone(), format!("{}/hello", hello.base), toks.clone());
    let a = Arc::new(a);
    let base = Arc::new(base);

    let probe = LoadProbe::start();
    let (mut ta, mut tb, mut errors) = (Vec::new(), Vec::new(), 0);
    for _ in 0..b.settings.rounds {
        let f = a.clone();
        let sa = closed_loop(CONCURRENCY, b.settings.duration, move |i| f(i)).await;
        let f = base.clone();
        let sb = closed_loop(CONCURRENCY, b.settings.duration, move |i| f(i)).await;
        errors += sa.requests - sa.count(200) + sb.requests - sb.count(200);
        if sa.requests != sa.count(200) || sb.requests != sb.count(200) {
            eprintln!(
                "   closed loop: tessera {:?}, hello {:?}",
                sa.statuses, sb.statuses
            );
        }
        eprintln!(
            "   closed loop: tessera {:.0}/s, hello {:.0}/s",
            sa.per_sec, sb.per_sec
        );
        ta.push(sa.per_sec);
        tb.push(sb.per_sec);
    }
    let (rate_a, rate_b) = (median(ta), median(tb));
    // Latency at half the baseline's maximum rate, open loop on the same
    // connections the maximum was measured with.
    let rate = rate_b * 0.5;
    let (mut pa, mut pb, mut p50a, mut p999a) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut open_errors = 0u64;
    for _ in 0..b.settings.rounds {
        let f = a.clone();
        let sa = open_loop(CONCURRENCY, rate, b.settings.duration, move |i| f(i)).await;
        let f = base.clone();
        let sb = open_loop(CONCURRENCY, rate, b.settings.duration, move |i| f(i)).await;
        open_errors += sa.requests - sa.count(200) + sb.requests - sb.count(200);
        if sa.requests != sa.count(200) || sb.requests != sb.count(200) {
            eprintln!(
                "   open loop at {rate:.0}/s: tessera {:?}, hello {:?}",
                sa.statuses, sb.statuses
            );
        }
        pa.push(sa.p99_ms);
        pb.push(sb.p99_ms);
        p50a.push(sa.p50_ms);
        p999a.push(sa.p999_ms);
    }
    let (p99a, p99b) = (median(pa), median(pb));
    let machine = probe.finish();
    let (_, peak) = rss_kib(server.pid());
    if errors > 0 {
        anyhow::bail!("{errors} requests failed");
    }
    let ratio = rate_a / rate_b.max(1e-9);
    let (target, met) = at_least(ratio, 0.70);
    let p99_ratio = p99a / p99b.max(1e-9);
    let (t2, m2) = at_most(p99_ratio, 1.5);
    Ok(Outcome {
        ratio_name: format!("{what} req/s ÷ hello-world req/s"),
        ratio,
        target,
        met,
        checks: vec![
            Check {
                name: format!("p99 ratio at {rate:.0} req/s (50% of baseline max)"),
                value: p99_ratio,
                target: t2,
                met: m2,
            },
            Check {
                name: "failed requests at that rate".into(),
                value: open_errors as f64,
                target: "<= 0".into(),
                met: open_errors == 0,
            },
        ],
        figures: json!({
            "whoami_req_per_s": rate_a.round(), "hello_req_per_s": rate_b.round(),
            "whoami_p50_ms": median(p50a), "whoami_p99_ms": p99a, "whoami_p999_ms": median(p999a),
            "hello_p99_ms": p99b, "server_peak_rss_kib": peak,
            "load1": machine.load1_end, "steal_pct": machine.steal_pct, "concurrency": CONCURRENCY,
        }),
        ..Default::default()
    })
}

pub async fn flood(b: &Bench) -> anyhow::Result<Outcome> {
    let db = b.fresh_db().await?;
    seed::accounts(&db.store, 0, b.settings.accounts).await?;
    let server = b.serve(&db, &[])?;
    let toks = Arc::new(tokens(&server.base, 16).await?);
    let http = client(CONCURRENCY);
    let check = Arc::new(getter(
        http.clone(),
        format!("{}/api/v1/session", server.base),
        toks,
    ));
    let hash_rate = raw_hash_rate(b.cores, std::time::Duration::from_millis(1500));
    let flood_rate = (hash_rate * 10.0).max(20.0);
    let signin_url = format!("{}/api/v1/signin", server.base);
    let n_accounts = b.settings.accounts as u64;
    // Warm up so every hash worker has its memory.
    let _ = tokens(&server.base, 4).await?;
    let (rss_before, _) = rss_kib(server.pid());

    let probe = LoadProbe::start();
    let (mut alone, mut during, mut p99_alone, mut p99_during) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut busy_p99, mut timeouts, mut statuses) =
        (Vec::new(), 0u64, std::collections::BTreeMap::new());
    for _ in 0..b.settings.rounds {
        let f = check.clone();
        let s = closed_loop(CONCURRENCY, b.settings.duration, move |i| f(i)).await;
        alone.push(s.per_sec);
        p99_alone.push(s.p99_ms);

        let flood_http = client(256);
        let url = signin_url.clone();
        let flood = tokio::spawn(open_loop(256, flood_rate, b.settings.duration, move |i| {
            let req = flood_http.post(&url).json(&json!({
                "email": seed::user_email((i % n_accounts) as usize), "password": seed::PASSWORD
            }));
            async move {
                let t = std::time::Instant::now();
                match req.send().await {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        // 503s are tagged with their latency for the check below.
                        if s == 503 {
                            BUSY.lock().map(|mut v| v.push(t.elapsed())).ok();
                        }
                        s
                    }
                    Err(_) => 0,
                }
            }
        }));
        let f = check.clone();
        let s = closed_loop(CONCURRENCY, b.settings.duration, move |i| f(i)).await;
        during.push(s.per_sec);
        p99_during.push(s.p99_ms);
        let fs = flood.await?;
        timeouts += fs.count(0);
        for (k, v) in fs.statuses {
            *statuses.entry(k).or_insert(0u64) += v;
        }
        let mut busy = std::mem::take(&mut *BUSY.lock().map_err(|_| anyhow::anyhow!("lock"))?);
        busy.sort();
        if !busy.is_empty() {
            busy_p99.push(
                busy[((busy.len() as f64 * 0.99).ceil() as usize).clamp(1, busy.len()) - 1]
                    .as_secs_f64()
                    * 1000.0,
            );
        }
    }
    let machine = probe.finish();
    let (_, peak) = rss_kib(server.pid());
    let ratio = median(during.clone()) / median(alone.clone()).max(1e-9);
    let (target, met) = at_least(ratio, 0.75);
    let p99_ratio = median(p99_during.clone()) / median(p99_alone.clone()).max(1e-9);
    let growth = peak.saturating_sub(rss_before) as f64;
    let bound = (b.cores as f64) * 19.0 * 1024.0 + 32.0 * 1024.0;
    let busy = if busy_p99.is_empty() {
        0.0
    } else {
        median(busy_p99)
    };
    let checks = vec![
        {
            let (t, m) = at_most(p99_ratio, 3.0);
            Check {
                name: "who-am-I p99 during ÷ alone".into(),
                value: p99_ratio,
                target: t,
                met: m,
            }
        },
        {
            let (t, m) = at_most(growth, bound);
            Check {
                name: "server RSS growth, KiB".into(),
                value: growth,
                target: t,
                met: m,
            }
        },
        {
            let (t, m) = at_most(busy, 150.0);
            Check {
                name: "p99 of 503 answers, ms".into(),
                value: busy,
                target: t,
                met: m,
            }
        },
        {
            let (t, m) = at_most(timeouts as f64, 0.0);
            Check {
                name: "sign-in timeouts / transport errors".into(),
                value: timeouts as f64,
                target: t,
                met: m,
            }
        },
    ];
    Ok(Outcome {
        ratio_name: "who-am-I req/s during flood ÷ alone".into(),
        ratio,
        target,
        met,
        checks,
        figures: json!({
            "alone_req_per_s": median(alone).round(), "during_req_per_s": median(during).round(),
            "alone_p99_ms": median(p99_alone), "during_p99_ms": median(p99_during),
            "raw_hash_per_s": hash_rate, "flood_signins_per_s": flood_rate, "flood_statuses": statuses,
            "rss_before_kib": rss_before, "rss_peak_kib": peak,
            "load1": machine.load1_end, "steal_pct": machine.steal_pct,
        }),
        ..Default::default()
    })
}

/// Latencies of 503 answers seen by the flood (collected across tasks).
static BUSY: std::sync::Mutex<Vec<std::time::Duration>> = std::sync::Mutex::new(Vec::new());
