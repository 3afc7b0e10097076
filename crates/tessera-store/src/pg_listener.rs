//! How a PostgreSQL node hears other nodes' cache evictions, and what its
//! who-am-I cache does while it cannot.
//!
//! ```text
//!            LISTEN done                     connection lost / error
//!   deaf ───────────────────▶ listening ─────────────────────────────▶ deaf
//!   (cache bypassed,          (cache used;                        (emptied, bypassed;
//!    retry with backoff)       NOTIFY evicts)                      retry with backoff)
//! ```
//!
//! sqlx's `PgListener::recv` reconnects by itself and drops what was sent
//! meanwhile without a word, so this loop uses `try_recv`, which reports
//! the loss, and builds a fresh listener itself: the cache is marked usable
//! only once the new connection is `LISTEN`ing.

use crate::cache::SessionCache;
use crate::postgres::CHANNEL;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The first retry comes quickly (a restarted server or a killed backend);
/// a database that stays away is not hammered.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts listening on a connection of its own (not one of the node's
/// pool), first here so a healthy node starts with its cache in use, then
/// in a task that keeps it up for as long as the cache lives.
pub(crate) async fn start(
    options: PgConnectOptions,
    scope: Arc<str>,
    cache: &Arc<SessionCache>,
    pid: &Arc<AtomicI32>,
) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(MAX_BACKOFF)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let first = match listen(&pool, cache, pid).await {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(error = %e, "session cache: cannot listen; reading through until it can");
            None
        }
    };
    tokio::spawn(run(pool, scope, first, Arc::downgrade(cache), pid.clone()));
}

/// A listener whose `LISTEN` has completed; only then is the cache usable.
async fn listen(
    pool: &PgPool,
    cache: &SessionCache,
    pid: &AtomicI32,
) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection ends `try_recv` with `None` and is rebuilt here,
    // never silently inside sqlx.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut listener)
        .await?;
    pid.store(backend, Ordering::Release);
    cache.set_listening(true);
    Ok(listener)
}

/// Holds only a weak reference between events, so the task ends after the
/// last handle on the store is dropped (at its next event).
async fn run(
    pool: PgPool,
    scope: Arc<str>,
    mut current: Option<PgListener>,
    cache: Weak<SessionCache>,
    pid: Arc<AtomicI32>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut listener = match current.take() {
            Some(l) => l,
            None => {
                let Some(c) = cache.upgrade() else { return };
                match listen(&pool, &c, &pid).await {
                    Ok(l) => {
                        tracing::info!("session cache: listening again; cache in use");
                        backoff = MIN_BACKOFF;
                        l
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "session cache: cannot listen; reading through");
                        drop(c);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
        };
        let lost = loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    let Some(c) = cache.upgrade() else { return };
                    evict(&c, &scope, n.payload());
                }
                Ok(None) => break "connection lost".to_string(),
                Err(e) => break e.to_string(),
            }
        };
        // Deaf first, then anything else: from here on evictions sent by
        // other nodes are lost until the next LISTEN.
        let Some(c) = cache.upgrade() else { return };
        c.set_listening(false);
        pid.store(0, Ordering::Release);
        tracing::warn!(error = %lost, "session cache: listener lost; reading through until it is back");
        drop(listener);
    }
}

/// Applies one notification, `<schema>|<what>`; `what` is `a:<account>`,
/// `s:<session>`, `t:<API token>`, `g:<OIDC grant>`, `c:<OIDC client>`, or
/// anything else for "drop everything" (which is also what a node from
/// before grants and clients were cached does with their payloads).
fn evict(cache: &SessionCache, scope: &str, payload: &str) {
    let payload = match payload.rsplit_once('|') {
        Some((from, what)) if from == scope => what,
        // Another deployment sharing the database.
        Some(_) => return,
        // A node from before payloads carried their schema.
        None => payload,
    };
    if let Some(id) = payload.strip_prefix("a:").and_then(|v| v.parse().ok()) {
        cache.evict_account(id);
    } else if let Some(id) = payload.strip_prefix("s:").and_then(|v| v.parse().ok()) {
        cache.evict_session(id);
    } else if let Some(id) = payload.strip_prefix("t:").and_then(|v| v.parse().ok()) {
        cache.evict_token(id);
    } else if let Some(id) = payload.strip_prefix("g:").and_then(|v| v.parse().ok()) {
        cache.evict_grant(id);
    } else if let Some(id) = payload.strip_prefix("c:").and_then(|v| v.parse().ok()) {
        cache.evict_client(id);
    } else {
        cache.clear();
    }
}
