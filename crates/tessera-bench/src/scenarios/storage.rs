//! What sessions cost: memory per live session, and durable writes.

use super::{Bench, client};
use crate::load::{closed_loop, median};
use crate::report::{Outcome, at_least, at_most};
use crate::seed;
use crate::sys::{LoadProbe, rss_kib};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tessera_core::clock::Timestamp;
use tessera_core::ids::SessionId;
use tessera_core::session::{Aal, AuthMethod, ClientKind, Session};
use tessera_core::store::NewSession;

#[allow(clippy::disallowed_methods)] // sessions must be live by the server's real clock
fn now() -> Timestamp {
    tessera_core::Clock::now(&tessera_core::SystemClock)
}

fn new_session(account: tessera_core::ids::AccountId, token: &str) -> NewSession {
    let t = now();
    NewSession {
        session: Session {
            id: SessionId(uuid::Uuid::new_v4()),
            account_id: account,
            client: ClientKind::Mobile,
            aal: Aal::Aal1,
            methods: vec![AuthMethod::Password],
            created_at: t,
            verified_at: t,
            last_seen_at: t,
            expires_at: t.plus_secs(86_400),
            ip: Some("127.0.0.1".into()),
            device: "tessera-bench".into(),
            restricted: false,
        },
        token_hash: tessera_core::secrets::token_hash(token),
    }
}

pub async fn session_memory(b: &Bench) -> anyhow::Result<Outcome> {
    let db = b.fresh_db().await?;
    seed::accounts(&db.store, 0, 100).await?;
    let server = b.serve(&db, &[])?;
    let http = client(32);
    // Warm the server up: a few sign-ins and who-am-I calls.
    let warm = super::http::tokens(&server.base, 4).await?;
    for t in &warm {
        http.get(format!("{}/api/v1/session", server.base))
            .bearer_auth(t)
            .send()
            .await?;
    }
    let (idle, _) = rss_kib(server.pid());
    let count = if b.settings.quick { 5_000 } else { 100_000 };
    let accounts = db.store.list_accounts(0, 100).await?;
    let tokens: Vec<String> = (0..count)
        .map(|i| format!("bench-session-token-{i}-{}", uuid::Uuid::new_v4()))
        .collect();
    for chunk in tokens.chunks(10_000).enumerate() {
        let (c, toks) = chunk;
        let batch: Vec<NewSession> = toks
            .iter()
            .enumerate()
            .map(|(j, t)| new_session(accounts[(c * 10_000 + j) % accounts.len()].id, t))
            .collect();
        db.store.insert_sessions(&batch).await?;
    }
    // Every session is used once, so the server has seen all of them live.
    let tokens = Arc::new(tokens);
    let probe = LoadProbe::start();
    let (h, url, toks) = (
        http.clone(),
        format!("{}/api/v1/session", server.base),
        tokens.clone(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    while next.load(std::sync::atomic::Ordering::Relaxed) < count {
        let (h, url, toks, next) = (h.clone(), url.clone(), toks.clone(), next.clone());
        let s = closed_loop(32, std::time::Duration::from_secs(2), move |_| {
            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let req = h.get(&url).bearer_auth(&toks[k % toks.len()]);
            async move { req.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .await;
        if s.requests != s.count(200) {
            anyhow::bail!("who-am-I failed: {:?}", s.statuses);
        }
    }
    let machine = probe.finish();
    let (after, peak) = rss_kib(server.pid());
    let per_session = after.saturating_sub(idle) as f64 * 1024.0 / count as f64;
    let (target, met) = at_most(per_session / 1024.0, 1.0);
    Ok(Outcome {
        ratio_name: format!("KiB of RSS per live session ({count} sessions)"),
        ratio: per_session / 1024.0,
        target,
        met,
        figures: json!({
            "idle_rss_kib": idle, "rss_after_kib": after, "peak_rss_kib": peak,
            "bytes_per_session": per_session, "touch_seconds": start.elapsed().as_secs_f64(),
            "load1": machine.load1_end, "steal_pct": machine.steal_pct,
        }),
        ..Default::default()
    })
}

pub async fn durable_writes(b: &Bench) -> anyhow::Result<Outcome> {
    if b.settings.postgres.is_some() {
        anyhow::bail!(
            "durable-writes compares against raw SQLite commits; run it without --postgres"
        );
    }
    let (mut a, mut base, mut in_tx) = (Vec::new(), Vec::new(), Vec::new());
    let probe = LoadProbe::start();
    for _ in 0..b.settings.rounds {
        // A: what a sign-in writes when it creates a session (session row
        // and its audit events), through the store, one commit per session.
        let db = b.fresh_db().await?;
        seed::accounts(&db.store, 0, 1).await?;
        let account = db.store.list_accounts(0, 1).await?.remove(0).id;
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < b.settings.duration {
            db.store
                .create_session_with_audit(
                    &new_session(account, &format!("t{n}")),
                    &signin_events(account),
                    &Default::default(),
                )
                .await?;
            n += 1;
        }
        a.push(n as f64 / start.elapsed().as_secs_f64());

        // B: raw single-row commits with the same pragmas on the same disk.
        let dir = tempfile::tempdir()?;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("raw.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .execute(&pool)
            .await?;
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < b.settings.duration {
            sqlx::query("INSERT INTO t (v) VALUES ($1)")
                .bind(vec![7u8; 32])
                .execute(&pool)
                .await?;
            n += 1;
        }
        base.push(n as f64 / start.elapsed().as_secs_f64());

        // For the analysis only: the same single row inside an explicit
        // transaction, which is how a sign-in has to write (session and
        // audit together), to show what BEGIN/COMMIT round trips cost.
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < b.settings.duration {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO t (v) VALUES ($1)")
                .bind(vec![7u8; 32])
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n += 1;
        }
        in_tx.push(n as f64 / start.elapsed().as_secs_f64());
    }
    let machine = probe.finish();
    let ratio = median(a.clone()) / median(base.clone()).max(1e-9);
    let (target, met) = at_least(ratio, 0.5);
    Ok(Outcome {
        ratio_name: "session creations/s ÷ raw SQLite commits/s".into(),
        ratio,
        target,
        met,
        figures: json!({
            "sessions_per_s": median(a), "raw_commits_per_s": median(base),
            "raw_commits_in_explicit_tx_per_s": median(in_tx), "synchronous": "FULL",
            "load1": machine.load1_end, "steal_pct": machine.steal_pct,
        }),
        ..Default::default()
    })
}

/// The audit records a password sign-in writes with its session.
fn signin_events(account: tessera_core::ids::AccountId) -> Vec<tessera_core::audit::NewAuditEvent> {
    use tessera_core::audit::{AuditKind, NewAuditEvent};
    [AuditKind::SessionCreated, AuditKind::SigninSucceeded]
        .into_iter()
        .map(|k| NewAuditEvent::new(k).actor(account).subject(account))
        .collect()
}
