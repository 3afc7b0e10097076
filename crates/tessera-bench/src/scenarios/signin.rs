//! Sign-in throughput against the raw hash rate, and scale.

use super::{Bench, client, raw_hash_rate};
use crate::load::{closed_loop, median};
use crate::report::{Outcome, at_least, at_most};
use crate::seed;
use crate::sys::{LoadProbe, rss_kib};
use serde_json::json;
use std::sync::Arc;

async fn password_signin(http: &reqwest::Client, base: &str, email: String) -> u16 {
    match http
        .post(format!("{base}/api/v1/signin"))
        .json(&json!({"email": email, "password": seed::PASSWORD}))
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

pub async fn signin_password(b: &Bench) -> anyhow::Result<Outcome> {
    let db = b.fresh_db().await?;
    seed::accounts(&db.store, 0, b.settings.accounts).await?;
    let server = Arc::new(b.serve(&db, &[])?);
    let http = client(b.cores * 2);
    let n = b.settings.accounts as u64;
    let probe = LoadProbe::start();
    let (mut a, mut base, mut p50, mut p99, mut bad) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..b.settings.rounds {
        let (h, url) = (http.clone(), server.base.clone());
        let s = closed_loop(b.cores * 2, b.settings.duration, move |i| {
            let (h, url) = (h.clone(), url.clone());
            async move { password_signin(&h, &url, seed::user_email((i % n) as usize)).await }
        })
        .await;
        bad += s.requests - s.count(200);
        a.push(s.per_sec);
        p50.push(s.p50_ms);
        p99.push(s.p99_ms);
        let cores = b.cores;
        let d = b.settings.duration;
        base.push(tokio::task::spawn_blocking(move || raw_hash_rate(cores, d)).await?);
    }
    let machine = probe.finish();
    if bad > 0 {
        anyhow::bail!("{bad} sign-ins did not succeed");
    }
    let ratio = median(a.clone()) / median(base.clone()).max(1e-9);
    let (target, met) = at_least(ratio, 0.85);
    Ok(Outcome {
        ratio_name: "password sign-ins/s ÷ raw Argon2id hashes/s".into(),
        ratio,
        target,
        met,
        figures: json!({
            "signins_per_s": median(a), "raw_hashes_per_s": median(base),
            "p50_ms": median(p50), "p99_ms": median(p99), "threads": b.cores,
            "server_peak_rss_kib": rss_kib(server.pid()).1, "load1": machine.load1_end, "steal_pct": machine.steal_pct,
        }),
        ..Default::default()
    })
}

#[allow(clippy::disallowed_methods)] // codes for the real clock the server reads
fn now_ts() -> tessera_core::clock::Timestamp {
    tessera_core::Clock::now(&tessera_core::SystemClock)
}

pub async fn signin_totp(b: &Bench) -> anyhow::Result<Outcome> {
    let db = b.fresh_db().await?;
    let n = if b.settings.quick { 300 } else { 3_000 };
    seed::totp_accounts(&db.store, n).await?;
    let server = Arc::new(b.serve(&db, &[])?);
    let http = client(b.cores * 2);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let probe = LoadProbe::start();
    let (mut a, mut base, mut p50, mut bad) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..b.settings.rounds {
        let (h, url, next) = (http.clone(), server.base.clone(), next.clone());
        let s = closed_loop(b.cores * 2, b.settings.duration, move |_| {
            let (h, url) = (h.clone(), url.clone());
            // Each sign-in uses an account of its own: a step is good once.
            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n;
            async move {
                let r = h
                    .post(format!("{url}/api/v1/signin"))
                    .json(&json!({"email": seed::totp_email(k), "password": seed::PASSWORD}))
                    .send()
                    .await;
                let Ok(r) = r else { return 0 };
                let Ok(v) = r.json::<serde_json::Value>().await else {
                    return 1;
                };
                let Some(flow) = v["flow_id"].as_str() else {
                    return 2;
                };
                let code = seed::totp_secret(k).code_at(now_ts()).unwrap_or_default();
                match h
                    .post(format!("{url}/api/v1/signin/{flow}/totp"))
                    .json(&json!({"code": code}))
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                }
            }
        })
        .await;
        bad += s.requests - s.count(200);
        a.push(s.per_sec);
        p50.push(s.p50_ms);
        let cores = b.cores;
        let d = b.settings.duration;
        base.push(tokio::task::spawn_blocking(move || raw_hash_rate(cores, d)).await?);
    }
    let machine = probe.finish();
    if bad > 0 {
        anyhow::bail!("{bad} TOTP sign-ins did not succeed");
    }
    let ratio = median(a.clone()) / median(base.clone()).max(1e-9);
    let (target, met) = at_least(ratio, 0.80);
    Ok(Outcome {
        ratio_name: "password+TOTP sign-ins/s ÷ raw hashes/s".into(),
        ratio,
        target,
        met,
        figures: json!({
            "signins_per_s": median(a), "raw_hashes_per_s": median(base), "p50_ms": median(p50),
            "load1": machine.load1_end, "steal_pct": machine.steal_pct,
        }),
        ..Default::default()
    })
}

pub async fn scale(b: &Bench) -> anyhow::Result<Outcome> {
    let db = b.fresh_db().await?;
    let small = b.settings.accounts.min(10_000);
    seed::accounts(&db.store, 0, small).await?;
    let http = client(1);
    let measure = |count: usize| {
        let http = http.clone();
        let bin = b.bin.clone();
        let dir = db.dir.path().to_path_buf();
        let url = db.url.clone();
        let rounds = b.settings.rounds;
        let d = b.settings.duration;
        async move {
            let server = crate::server::start_tessera(&bin, &dir, url.as_deref(), &[])?;
            let mut p50 = Vec::new();
            for _ in 0..rounds {
                let (h, u) = (http.clone(), server.base.clone());
                // Spread over all accounts so lookups hit cold index pages.
                let s = closed_loop(1, d, move |i| {
                    let (h, u) = (h.clone(), u.clone());
                    let k = (i as usize).wrapping_mul(7919) % count;
                    async move { password_signin(&h, &u, seed::user_email(k)).await }
                })
                .await;
                if s.requests != s.count(200) {
                    anyhow::bail!("sign-ins failed: {:?}", s.statuses);
                }
                p50.push(s.p50_ms);
            }
            Ok::<f64, anyhow::Error>(median(p50))
        }
    };
    let small_p50 = measure(small).await?;
    let large = b.settings.scale_accounts.max(small);
    let t = std::time::Instant::now();
    seed::accounts(&db.store, small, large - small).await?;
    let seed_secs = t.elapsed().as_secs_f64();
    let large_p50 = measure(large).await?;
    let ratio = large_p50 / small_p50.max(1e-9);
    let (target, met) = at_most(ratio, 1.2);
    Ok(Outcome {
        ratio_name: format!("sign-in p50 at {large} ÷ at {small} accounts"),
        ratio,
        target,
        met,
        figures: json!({"small_p50_ms": small_p50, "large_p50_ms": large_p50, "seed_seconds_for_large": seed_secs}),
        ..Default::default()
    })
}
