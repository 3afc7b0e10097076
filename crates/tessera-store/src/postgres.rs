//! PostgreSQL: how a deployment grows past one machine. Any number of
//! stateless `tessera serve` nodes share one database.

use crate::cache::SessionCache;
use crate::error::map_err;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;
use tessera_core::store::StoreError;

#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) cache: Arc<SessionCache>,
    pub(crate) touches: Arc<crate::touches::GroupCommit>,
    /// The backend pid of the listening connection, 0 while there is none.
    listener_pid: Arc<AtomicI32>,
    /// The schema, sent with each eviction: deployments in other schemas
    /// of the same database hear this channel too, and ignore it.
    scope: Arc<str>,
}

/// How long a request waits for a database connection.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The channel on which nodes tell each other which cached sessions died.
pub(crate) const CHANNEL: &str = "tessera_sessions";

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(map_err)?;
        Self::connect_with(options).await
    }

    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let listener_options = options.clone().application_name("tessera-listener");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // While the database is down, connecting fails and the pool
            // retries until this deadline: it bounds how long a request
            // waits before it answers 503 (well under 5 s, hashing
            // included). Under load a 3 s wait for a connection is an
            // overload too, and 503 its honest answer.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        let scope: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(map_err)?;
        let scope: Arc<str> = scope.unwrap_or_default().into();
        // Deaf until the listener runs: until then nothing is cached.
        let cache = Arc::new(SessionCache::unusable());
        let listener_pid = Arc::new(AtomicI32::new(0));
        crate::pg_listener::start(listener_options, scope.clone(), &cache, &listener_pid).await;
        Ok(PgStore {
            touches: Arc::new(store_impl::group_commit(&pool)),
            pool,
            cache,
            listener_pid,
            scope,
        })
    }

    /// Whether this node hears other nodes' evictions, so its who-am-I
    /// cache is in use (tests and health checks).
    #[doc(hidden)]
    pub fn cache_listener_healthy(&self) -> bool {
        self.cache.usable()
    }

    /// The PostgreSQL backend pid of this node's listening connection
    /// (tests and operations: it is also named `tessera-listener`).
    #[doc(hidden)]
    pub fn cache_listener_pid(&self) -> Option<i32> {
        Some(self.listener_pid.load(Ordering::Acquire)).filter(|p| *p != 0)
    }

    /// Tells every node (this one included) to drop cached answers.
    pub(crate) async fn broadcast(&self, what: &str) {
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{}|{what}", self.scope))
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
crate::sql_tokens::tokens_store!(PgStore, sqlx::Postgres);
crate::sql_orgs::orgs_store!(PgStore, sqlx::Postgres);
crate::sql_org_test::org_test_store!(PgStore, sqlx::Postgres);
crate::sql_oidc::oidc_store!(PgStore, sqlx::Postgres);
crate::sql_oidc_grants::oidc_grants_store!(PgStore, sqlx::Postgres);

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
