//! HTTP load from this process: closed loop at a fixed concurrency, and
//! open loop at a fixed rate (latency counted from when each request was
//! due, so a stalled server cannot hide its queueing).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The outcome of one request: its status (0 for a transport error).
pub type Outcome = u16;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// Count per status code.
    pub statuses: std::collections::BTreeMap<u16, u64>,
}

impl Stats {
    fn from(mut samples: Vec<(Duration, Outcome)>, elapsed: Duration) -> Stats {
        samples.sort_by_key(|s| s.0);
        let n = samples.len();
        let pct = |p: f64| {
            if n == 0 {
                return 0.0;
            }
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            samples[i].0.as_secs_f64() * 1000.0
        };
        let mut statuses = std::collections::BTreeMap::new();
        for (_, s) in &samples {
            *statuses.entry(*s).or_insert(0) += 1;
        }
        Stats {
            requests: n as u64,
            errors: samples
                .iter()
                .filter(|s| s.1 == 0 || s.1 >= 500 && s.1 != 503)
                .count() as u64,
            per_sec: n as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            p999_ms: pct(0.999),
            statuses,
        }
    }

    /// Stats of only the requests that ended with `status`.
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
}

/// `concurrency` workers each send requests back to back for `duration`.
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, make: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let make = Arc::new(make);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let make = make.clone();
        let samples = samples.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let t = Instant::now();
                let outcome = make(i).await;
                local.push((t.elapsed(), outcome));
            }
            samples.lock().await.extend(local);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let samples = std::mem::take(&mut *samples.lock().await);
    Stats::from(samples, elapsed)
}

/// Requests sent at `rate` per second for `duration`, whatever the answers.
///
/// `senders` share the schedule, each taking every n-th slot and sending
/// one request at a time, so at most that many connections are in use (as
/// `wrk2 -c N -R rate` does); latency is counted from the slot's due time,
/// so a sender held up by a slow answer still charges the delay to the
/// server (no coordinated omission).
///
/// Give the client a pool that keeps `senders` idle connections: a sender
/// that finds none idle opens a new one, and a pool that keeps fewer closes
/// it again, so the run would measure TCP handshakes as much as requests.
///
/// With `BENCH_TRACE_DIR` set, each run also writes every request's slot
/// and latency there (`open-NN.txt`, the start as Unix time in ns on the
/// first line), to find what a tail is made of: line it up with
/// `perf sched record -k CLOCK_MONOTONIC` by the two clocks' offset.
pub async fn open_loop<F, Fut>(senders: usize, rate: f64, duration: Duration, make: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let make = Arc::new(make);
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let workers = senders.clamp(1, total.max(1) as usize) as u64;
    #[allow(clippy::disallowed_methods)] // a wall-clock mark, to line a trace up with perf's
    let started_at = std::time::SystemTime::now();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            let mut i = w;
            while i < total {
                let due = start + interval.mul_f64(i as f64);
                tokio::time::sleep_until(due.into()).await;
                let outcome = make(i).await;
                local.push((i, due.elapsed(), outcome));
                i += workers;
            }
            local
        }));
    }
    let mut samples = Vec::with_capacity(total as usize);
    for t in tasks {
        if let Ok(s) = t.await {
            samples.extend(s);
        }
    }
    let elapsed = start.elapsed();
    if let Some(dir) = std::env::var_os("BENCH_TRACE_DIR") {
        write_trace(
            std::path::Path::new(&dir),
            started_at,
            interval,
            &mut samples,
        );
    }
    Stats::from(
        samples.into_iter().map(|(_, d, o)| (d, o)).collect(),
        elapsed,
    )
}

/// One line per request, in slot order: `slot latency_us status`.
fn write_trace(
    dir: &std::path::Path,
    started_at: std::time::SystemTime,
    interval: Duration,
    samples: &mut [(u64, Duration, Outcome)],
) {
    use std::fmt::Write;
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start_ns = started_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    samples.sort_unstable_by_key(|s| s.0);
    let mut out = format!(
        "# start_unix_ns {start_ns} interval_ns {}\n",
        interval.as_nanos()
    );
    for (slot, latency, status) in samples.iter() {
        let _ = writeln!(out, "{slot} {} {status}", latency.as_micros());
    }
    let path = dir.join(format!("open-{run:02}.txt"));
    if let Err(e) = std::fs::write(&path, out) {
        eprintln!("   cannot write {}: {e}", path.display());
    }
}

/// The median of some numbers.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
