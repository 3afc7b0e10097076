//! `tessera-bench soak`: a steady mixed load against one server for a long
//! time (sign-ins, session checks, API token checks, enrollments of an
//! authenticator app, sign-outs), watching whether the server holds on to
//! what it should give back. Its resident memory, open file descriptors
//! and database connections are printed at every interval; after the
//! warm-up (the first fifth) each must stay within 10% of its first value
//! after the warm-up, or the run fails.
//!
//! The load is paced, not flat out: a leak shows as growth over time at
//! any rate, and a paced load leaves the machine to others (and keeps the
//! figures apart from how busy it is).

use crate::seed;
use crate::server::Proc;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Accounts the sign-in loops use, and accounts the enroller cycles
/// through after them (each enrollment is turned off again, so nothing
/// piles up but the audit trail).
const SIGNIN_ACCOUNTS: usize = 1_000;
const ENROLL_ACCOUNTS: usize = 100;
/// API tokens for the token checks.
const TOKENS: usize = 16;

/// One reading of the server process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at_secs: f64,
    pub rss_kib: u64,
    pub fds: u64,
    pub db_connections: u64,
}

/// How far a figure may move from its first value after the warm-up.
#[derive(Debug, Clone, Copy)]
struct Band {
    name: &'static str,
    /// Allowed, as a share of the first value.
    share: f64,
    /// Allowed in absolute terms when that is more than the share.
    slack: f64,
}

/// Memory: 10%. File descriptors and database connections: 10%, or 3,
/// whichever is more. They are small numbers (a few dozen descriptors, a
/// handful of connections) that move by one whenever a keep-alive client
/// connection or a pooled database connection is opened or idles out, so
/// 10% of 5 connections would call one idle timeout a leak; a leak keeps
/// growing over the run, which 3 does not hide.
const BANDS: [Band; 3] = [
    Band {
        name: "RSS (KiB)",
        share: 0.10,
        slack: 0.0,
    },
    Band {
        name: "open file descriptors",
        share: 0.10,
        slack: 3.0,
    },
    Band {
        name: "database connections",
        share: 0.10,
        slack: 3.0,
    },
];

fn figures(s: &Sample) -> [f64; 3] {
    [s.rss_kib as f64, s.fds as f64, s.db_connections as f64]
}

/// Whether the samples after `warmup_secs` stay within their bands of the
/// first of them: one line per figure, and the verdict. Fewer than two
/// samples after the warm-up cannot show flatness and fail.
pub fn verdict(samples: &[Sample], warmup_secs: f64) -> (Vec<String>, bool) {
    let after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at_secs >= warmup_secs)
        .collect();
    if after.len() < 2 {
        return (
            vec![format!(
                "only {} sample(s) after the {warmup_secs:.0} s warm-up: too short to tell",
                after.len()
            )],
            false,
        );
    }
    let first = figures(after[0]);
    let mut lines = Vec::new();
    let mut flat = true;
    for (i, band) in BANDS.iter().enumerate() {
        let allowed = (first[i] * band.share).max(band.slack);
        let values: Vec<f64> = after.iter().map(|s| figures(s)[i]).collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let worst = (hi - first[i]).max(first[i] - lo);
        let ok = worst <= allowed;
        flat &= ok;
        lines.push(format!(
            "{}: {} after warm-up, {lo:.0}..{hi:.0}, moved at most {worst:.0} \
             (allowed {allowed:.0}): {}",
            band.name,
            first[i],
            if ok { "flat" } else { "NOT flat" }
        ));
    }
    (lines, flat)
}

/// What the load did, counted by its loops.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    signins: AtomicU64,
    enrollments: AtomicU64,
    /// 503 with Retry-After: the server shedding load, as documented.
    shed: AtomicU64,
    errors: AtomicU64,
    /// The first few errors, for the report.
    first_errors: std::sync::Mutex<Vec<String>>,
}

impl Counts {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.first_errors.lock()
            && e.len() < 10
        {
            e.push(what);
        }
    }
}

/// One HTTP client of the load, counting what it sends.
#[derive(Clone)]
struct Load {
    http: reqwest::Client,
    base: String,
    counts: Arc<Counts>,
    until: Instant,
}

impl Load {
    /// Sends a request; the answer's JSON if its status is `want`. Other
    /// answers are counted as errors (or shed load) and give `None`.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: u16,
    ) -> Option<Value> {
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                if status == want {
                    return Some(serde_json::from_str(&text).unwrap_or(Value::Null));
                }
                if status == 503 {
                    self.counts.shed.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.counts
                        .error(format!("{method} {path}: {status} {text}"));
                }
                None
            }
            Err(e) => {
                self.counts.error(format!("{method} {path}: {e}"));
                None
            }
        }
    }

    fn going(&self) -> bool {
        Instant::now() < self.until
    }

    async fn signin(&self, email: &str) -> Option<String> {
        let v = self
            .send(
                reqwest::Method::POST,
                "/api/v1/signin",
                None,
                Some(json!({"email": email, "password": seed::PASSWORD, "client": "mobile"})),
                200,
            )
            .await?;
        self.counts.signins.fetch_add(1, Ordering::Relaxed);
        v["session_token"].as_str().map(String::from)
    }

    async fn signout(&self, token: &str) {
        self.send(
            reqwest::Method::DELETE,
            "/api/v1/session",
            Some(token),
            None,
            204,
        )
        .await;
    }

    async fn check(&self, token: &str) {
        self.send(
            reqwest::Method::GET,
            "/api/v1/session",
            Some(token),
            None,
            200,
        )
        .await;
    }
}

/// Signs in, checks the session 20 times, signs out; again and again.
async fn sessions(load: Load, first: usize) {
    let mut i = first;
    while load.going() {
        i = (i + 7) % SIGNIN_ACCOUNTS;
        let Some(token) = load.signin(&seed::user_email(i)).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        for _ in 0..20 {
            load.check(&token).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        load.signout(&token).await;
    }
}

/// Checks API tokens, about 50 a second.
async fn token_checks(load: Load, tokens: Arc<Vec<String>>, first: usize) {
    let mut i = first;
    while load.going() {
        i = (i + 1) % tokens.len();
        load.check(&tokens[i]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Signs in, turns on two-step verification with an authenticator app
/// (begin, confirm with the current code: its recovery key is made and
/// hashed), turns it off again and signs out; about one a second.
async fn enrollments(load: Load) {
    let mut i = 0;
    while load.going() {
        i = (i + 1) % ENROLL_ACCOUNTS;
        enroll_once(&load, &seed::user_email(SIGNIN_ACCOUNTS + i)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[allow(clippy::disallowed_methods)] // codes for the real clock the server reads
async fn enroll_once(load: &Load, email: &str) -> Option<()> {
    use reqwest::Method;
    let token = load.signin(email).await?;
    let begun = load
        .send(
            Method::POST,
            "/api/v1/me/two-step/totp",
            Some(&token),
            Some(json!({})),
            200,
        )
        .await?;
    let secret = begun["secret"].as_str().unwrap_or_default();
    let bytes = totp_rs::Secret::try_from_base32(secret)
        .map(|s| s.to_vec())
        .unwrap_or_default();
    let now = tessera_core::Clock::now(&tessera_core::SystemClock);
    let code = tessera_core::twostep::totp::TotpSecret::from_bytes(bytes)
        .code_at(now)
        .unwrap_or_default();
    let on = load
        .send(
            Method::POST,
            "/api/v1/me/two-step/totp/confirm",
            Some(&token),
            Some(json!({"code": code})),
            200,
        )
        .await;
    // Confirming ends the other sessions and answers a new one for this
    // client; off again with it, so the account is ready for the next
    // round.
    let token = on
        .as_ref()
        .and_then(|v| v["session_token"].as_str())
        .map(String::from)
        .unwrap_or(token);
    if on.is_some() {
        load.counts.enrollments.fetch_add(1, Ordering::Relaxed);
        load.send(
            Method::DELETE,
            "/api/v1/me/two-step",
            Some(&token),
            None,
            204,
        )
        .await;
    }
    load.signout(&token).await;
    Some(())
}

/// The server's open file descriptors.
fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// A gauge from the server's metrics listener.
async fn gauge(http: &reqwest::Client, metrics: &str, name: &str) -> anyhow::Result<f64> {
    let text = http
        .get(format!("{metrics}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {name} in /metrics"))
}

async fn sample(http: &reqwest::Client, proc: &Proc, started: Instant) -> anyhow::Result<Sample> {
    let metrics = proc
        .metrics
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("the server runs without its metrics listener"))?;
    let db_connections = gauge(http, metrics, "tessera_db_connections").await? as u64;
    Ok(Sample {
        at_secs: started.elapsed().as_secs_f64(),
        rss_kib: crate::sys::rss_kib(proc.pid()).0,
        fds: fds(proc.pid()),
        db_connections,
    })
}

/// Runs the soak for `seconds` (on PostgreSQL at `postgres`, else SQLite)
/// and prints its figures; whether everything stayed flat and the load
/// saw no errors.
pub async fn run(bench: &crate::scenarios::Bench, seconds: u64) -> anyhow::Result<bool> {
    let db = bench.fresh_db().await?;
    seed::accounts(&db.store, 0, SIGNIN_ACCOUNTS + ENROLL_ACCOUNTS).await?;
    let tokens = Arc::new(seed::api_tokens(&db.store, TOKENS).await?);
    // No mail: step-up before an enrollment is the fresh sign-in's
    // password, as on a server without mail.
    let proc = bench.serve(
        &db,
        &[
            ("TESSERA_METRICS__LISTEN", "127.0.0.1:0"),
            ("TESSERA_EMAIL__PROVIDER", "none"),
        ],
    )?;
    let interval = if seconds >= 600 { 60 } else { 10 };
    let warmup = seconds as f64 / 5.0;
    eprintln!(
        "soak: {seconds} s against {} (pid {}, {}), a sample every {interval} s, \
         warm-up {warmup:.0} s",
        proc.base,
        proc.pid(),
        if db.url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
    );
    let started = Instant::now();
    let load = Load {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        base: proc.base.clone(),
        counts: Arc::new(Counts::default()),
        // A little past the last sample, so that it sees the load running,
        // not its connections closing.
        until: started + Duration::from_secs(seconds + 5),
    };
    let mut tasks = Vec::new();
    for w in 0..2 {
        tasks.push(tokio::spawn(sessions(load.clone(), w * 500)));
        tasks.push(tokio::spawn(token_checks(
            load.clone(),
            tokens.clone(),
            w * 8,
        )));
    }
    tasks.push(tokio::spawn(enrollments(load.clone())));

    let watch = reqwest::Client::new();
    let mut samples = Vec::new();
    let mut last_requests = 0;
    let mut tick = 1;
    loop {
        let due = started + Duration::from_secs((tick * interval).min(seconds));
        tokio::time::sleep_until(due.into()).await;
        let s = sample(&watch, &proc, started).await?;
        let requests = load.counts.requests.load(Ordering::Relaxed);
        eprintln!(
            "  {:>5.0} s  RSS {:>7.1} MiB  fds {:>3}  db connections {:>2}  \
             requests {:>7} ({:.0}/s)  errors {}",
            s.at_secs,
            s.rss_kib as f64 / 1024.0,
            s.fds,
            s.db_connections,
            requests,
            (requests - last_requests) as f64 / interval as f64,
            load.counts.errors.load(Ordering::Relaxed),
        );
        last_requests = requests;
        samples.push(s);
        if tick * interval >= seconds {
            break;
        }
        tick += 1;
    }
    for t in tasks {
        let _ = t.await;
    }

    let c = &load.counts;
    let (lines, flat) = verdict(&samples, warmup);
    for l in &lines {
        eprintln!("  {l}");
    }
    let errors = c.errors.load(Ordering::Relaxed);
    eprintln!(
        "  load: {} requests, {} sign-ins, {} enrollments, {} shed (503), {errors} errors",
        c.requests.load(Ordering::Relaxed),
        c.signins.load(Ordering::Relaxed),
        c.enrollments.load(Ordering::Relaxed),
        c.shed.load(Ordering::Relaxed),
    );
    if let Ok(e) = c.first_errors.lock() {
        for line in e.iter() {
            eprintln!("    {line}");
        }
    }
    let ok = flat && errors == 0;
    println!(
        "SOAK {}: {seconds} s, RSS, open file descriptors and database connections {} \
         after warm-up; {errors} errors",
        if ok { "passed" } else { "FAILED" },
        if flat { "flat" } else { "NOT flat" },
    );
    drop(proc);
    forget(bench, db).await;
    Ok(ok)
}

/// Drops the PostgreSQL schema of the run (SQLite's directory goes with
/// `db`).
async fn forget(bench: &crate::scenarios::Bench, db: crate::scenarios::FreshDb) {
    let (Some(base), Some(url)) = (&bench.settings.postgres, &db.url) else {
        return;
    };
    let Some(schema) = url.rsplit("search_path%3D").next() else {
        return;
    };
    if let Ok(admin) = tessera_store::PgStore::connect(base).await
        && let Err(e) = admin
            .execute_raw(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await
    {
        eprintln!("soak: could not drop schema {schema}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at: f64, rss: u64, fds: u64, conns: u64) -> Sample {
        Sample {
            at_secs: at,
            rss_kib: rss,
            fds,
            db_connections: conns,
        }
    }

    #[test]
    fn flat_within_bands_after_warmup() {
        // Growth during the warm-up does not count; after it, 10% of
        // memory and 3 descriptors or connections are allowed.
        let samples = [
            s(10.0, 10_000, 10, 1),
            s(20.0, 40_000, 20, 4),
            s(30.0, 42_000, 23, 6),
            s(40.0, 44_000, 17, 2),
        ];
        let (lines, flat) = verdict(&samples, 12.0);
        assert!(flat, "{lines:?}");
    }

    #[test]
    fn growth_after_warmup_fails() {
        let memory = [s(20.0, 40_000, 20, 4), s(30.0, 44_001, 20, 4)];
        assert!(!verdict(&memory, 12.0).1);
        let fds = [s(20.0, 40_000, 20, 4), s(30.0, 40_000, 24, 4)];
        assert!(!verdict(&fds, 12.0).1);
        let conns = [s(20.0, 40_000, 20, 4), s(30.0, 40_000, 20, 0)];
        assert!(!verdict(&conns, 12.0).1);
    }

    #[test]
    fn too_few_samples_fail() {
        assert!(!verdict(&[s(20.0, 1, 1, 1)], 12.0).1);
        assert!(!verdict(&[s(5.0, 1, 1, 1), s(10.0, 1, 1, 1)], 12.0).1);
    }
}
