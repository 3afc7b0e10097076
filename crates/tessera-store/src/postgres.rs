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
}

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
        Ok(PgStore { pool })
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
crate::sql_twostep::twostep_store!(PgStore, sqlx::Postgres);

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
