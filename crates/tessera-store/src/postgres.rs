//! PostgreSQL: how a deployment grows past one machine. Any number of
//! stateless `tessera serve` nodes share one database.

use crate::error::map_err;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use tessera_core::store::StoreError;

#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) cache: std::sync::Arc<crate::cache::SessionCache>,
}

/// The channel on which nodes tell each other which cached sessions died.
const CHANNEL: &str = "tessera_sessions";

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(map_err)?;
        Self::connect_with(options).await
    }

    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        let cache: std::sync::Arc<crate::cache::SessionCache> = Default::default();
        listen_for_evictions(&pool, cache.clone()).await;
        Ok(PgStore { pool, cache })
    }

    /// Tells every node (this one included) to drop cached answers.
    pub(crate) async fn broadcast(&self, what: &str) {
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(what)
            .execute(&self.pool)
            .await
        {
            // Other nodes then see the change within the cache TTL.
            tracing::warn!(error = %e, "could not notify other nodes");
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        crate::migrations::postgres()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }
}

crate::sql_impl::sql_store!(PgStore, sqlx::Postgres, "postgres");

impl PgStore {
    /// Runs one statement of trusted SQL (tests and operations tooling).
    pub async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
crate::sql_twostep::twostep_store!(PgStore, sqlx::Postgres, "FOR UPDATE SKIP LOCKED");
crate::sql_methods::methods_store!(PgStore, sqlx::Postgres);
crate::sql_throttle::throttle_store!(PgStore, sqlx::Postgres);

impl PgStore {
    /// The schema this connection works in (for `pg_dump --schema`).
    pub async fn current_schema(&self) -> Result<String, StoreError> {
        sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)
    }

    /// Whether Tessera's tables exist in the current schema.
    pub async fn has_tables(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'accounts'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(n > 0)
    }
}

/// Listens for evictions from other nodes. If the listener cannot start,
/// the cache still expires entries after its TTL.
async fn listen_for_evictions(pool: &PgPool, cache: std::sync::Arc<crate::cache::SessionCache>) {
    let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "session cache: no listener; relying on its TTL");
            return;
        }
    };
    if let Err(e) = listener.listen(CHANNEL).await {
        tracing::warn!(error = %e, "session cache: cannot LISTEN; relying on its TTL");
        return;
    }
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(n) => {
                    let p = n.payload();
                    if let Some(id) = p.strip_prefix("a:").and_then(|v| v.parse().ok()) {
                        cache.evict_account(id);
                    } else if let Some(id) = p.strip_prefix("s:").and_then(|v| v.parse().ok()) {
                        cache.evict_session(id);
                    } else {
                        cache.clear();
                    }
                }
                // Notifications may have been missed while reconnecting;
                // pause so a dead server does not spin this loop.
                Err(_) => {
                    cache.clear();
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    });
}
