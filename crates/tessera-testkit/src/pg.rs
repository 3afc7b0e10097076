//! A fresh PostgreSQL schema per test: every test (or benchmark run)
//! migrates and works in its own schema of the one test database, so tests
//! run in parallel and never see each other's rows.

use sqlx::{Connection, PgConnection};

/// The variable that points the tests at a PostgreSQL server.
pub const TEST_URL_VAR: &str = "TESSERA_TEST_POSTGRES_URL";

/// The test database's URL, or `None` after saying on stderr that `what`
/// is skipped for lack of it.
pub fn test_database_url(what: &str) -> Option<String> {
    match std::env::var(TEST_URL_VAR) {
        Ok(url) => Some(url),
        Err(_) => {
            eprintln!("SKIPPED: {TEST_URL_VAR} is not set, {what} not run");
            None
        }
    }
}

/// Creates a new, empty schema named `{prefix}_{32 hex digits}` in the
/// database at `base`, and answers a URL whose connections work in it
/// (its `search_path`). `scripts/test` drops the `t_` and `it_` schemas of
/// earlier runs by that name pattern.
pub async fn fresh_schema(base: &str, prefix: &str) -> Result<String, sqlx::Error> {
    let schema = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(base).await?;
    // The name is ours (a prefix and hex digits), never outside input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(scoped_url(base, &schema))
}

/// `base` with the connection option that makes `schema` the search path.
pub fn scoped_url(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// A fresh schema on the test database, or `None` (said on stderr) when
/// no test database is configured.
pub async fn fresh_test_schema(prefix: &str, what: &str) -> Option<String> {
    let base = test_database_url(what)?;
    Some(
        fresh_schema(&base, prefix)
            .await
            .unwrap_or_else(|e| panic!("cannot create a schema in {base}: {e}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_rides_in_the_options_of_any_url() {
        assert_eq!(
            scoped_url("postgres://u@h/db", "t_1"),
            "postgres://u@h/db?options=-c%20search_path%3Dt_1"
        );
        assert_eq!(
            scoped_url("postgres://u@h/db?sslmode=disable", "t_1"),
            "postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Dt_1"
        );
    }
}
