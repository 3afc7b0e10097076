//! Reading a server's database directly, after the fact: the crash and
//! cancellation tests check invariants no API shows. Every query returns
//! text columns (`CAST(… AS TEXT)` where needed), the same on both
//! backends.

use sqlx::Row;
use std::path::Path;

#[derive(Clone)]
pub enum Db {
    Lite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Db {
    /// The SQLite file in `data_dir`, or the PostgreSQL `url`.
    pub async fn open(data_dir: &Path, url: Option<&str>) -> Db {
        match url {
            Some(u) => Db::Pg(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(u)
                    .await
                    .unwrap(),
            ),
            None => Db::Lite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(
                        sqlx::sqlite::SqliteConnectOptions::new()
                            .filename(data_dir.join("tessera.db"))
                            .busy_timeout(std::time::Duration::from_secs(10)),
                    )
                    .await
                    .unwrap(),
            ),
        }
    }

    /// The database at `url` (PostgreSQL) or in the SQLite file `url`.
    pub async fn at(url: &str) -> Db {
        if url.starts_with("postgres") {
            return Db::open(Path::new(""), Some(url)).await;
        }
        Db::Lite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(url)
                        .busy_timeout(std::time::Duration::from_secs(10)),
                )
                .await
                .unwrap(),
        )
    }

    /// Every row of `sql`, each column as text ("" for NULL).
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Db::Lite(p) => sqlx::query(sql)
                .fetch_all(p)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| {
                            r.try_get::<Option<String>, _>(i)
                                .unwrap()
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .collect(),
            Db::Pg(p) => sqlx::query(sql)
                .fetch_all(p)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| {
                            r.try_get::<Option<String>, _>(i)
                                .unwrap()
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// The one number `sql` (a `SELECT COUNT(*) …`) returns.
    pub async fn count(&self, sql: &str) -> u64 {
        let sql = format!("SELECT CAST(({sql}) AS TEXT)");
        self.rows(&sql).await[0][0].parse().unwrap()
    }

    pub async fn close(self) {
        match self {
            Db::Lite(p) => p.close().await,
            Db::Pg(p) => p.close().await,
        }
    }
}

/// Drops the schema a [`crate::postgres::scoped_url`] selects.
pub async fn drop_schema(url: &str) {
    let Some(schema) = url.split("search_path%3D").nth(1) else {
        return;
    };
    let base = std::env::var("TESSERA_TEST_POSTGRES_URL").unwrap();
    let pool = sqlx::PgPool::connect(&base).await.unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&pool)
    .await;
    pool.close().await;
}
