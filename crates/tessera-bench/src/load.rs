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
/// `OPEN_LOOP_WORKERS` senders share the schedule, each taking every n-th
/// slot, so connections stay bounded; latency is counted from the slot's
/// due time, so a sender held up by a slow answer still charges the delay
/// to the server (no coordinated omission).
pub async fn open_loop<F, Fut>(rate: f64, duration: Duration, make: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let make = Arc::new(make);
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let workers = OPEN_LOOP_WORKERS.min(total.max(1) as usize) as u64;
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
                local.push((due.elapsed(), outcome));
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
    Stats::from(samples, start.elapsed())
}

/// Concurrent senders in an open-loop run (and so at most this many
/// connections).
pub const OPEN_LOOP_WORKERS: usize = 256;

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
