//! SQLite: a file in the data directory, in WAL mode so readers never wait
//! for the writer.

use crate::error::map_err;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use tessera_core::store::StoreError;

#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    pub(crate) cache: std::sync::Arc<crate::cache::SessionCache>,
    pub(crate) touches: std::sync::Arc<crate::touches::GroupCommit>,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::with_options(SqliteConnectOptions::new().filename(path)).await
    }

    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        Self::with_options(SqliteConnectOptions::from_str(url).map_err(map_err)?).await
    }

    async fn with_options(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed sign-in, revocation or consumed code
            // survives power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(SqliteStore {
            touches: std::sync::Arc::new(store_impl::group_commit(&pool)),
            pool,
            cache: Default::default(),
        })
    }

    /// One SQLite file serves one node: the cache needs no peers told.
    /// (Admin commands from another process are seen within the cache TTL.)
    pub(crate) async fn broadcast(&self, _what: &str) {}

    pub async fn migrate(&self) -> Result<(), StoreError> {
        crate::migrations::sqlite()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    /// Writes a consistent copy of the live database to `dest`.
    pub async fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        let dest = dest
            .to_str()
            .ok_or_else(|| StoreError::Other("backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(dest)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

crate::sql_impl::sql_store!(SqliteStore, sqlx::Sqlite, "sqlite");
crate::sql_twostep::twostep_store!(SqliteStore, sqlx::Sqlite, "");
crate::sql_methods::methods_store!(SqliteStore, sqlx::Sqlite);
crate::sql_throttle::throttle_store!(SqliteStore, sqlx::Sqlite);
crate::sql_tokens::tokens_store!(SqliteStore, sqlx::Sqlite);
crate::sql_orgs::orgs_store!(SqliteStore, sqlx::Sqlite);
crate::sql_org_test::org_test_store!(SqliteStore, sqlx::Sqlite);
crate::sql_oidc::oidc_store!(SqliteStore, sqlx::Sqlite);
crate::sql_oidc_grants::oidc_grants_store!(SqliteStore, sqlx::Sqlite);
