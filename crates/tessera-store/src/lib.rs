//! Tessera's storage: the core's [`Store`] traits on SQLite (the embedded,
//! zero-config default) and PostgreSQL (shared by many nodes).
//!
//! Both backends run the same SQL text, written once in [`sql_impl`], with
//! per-backend migrations for the few type differences. Nothing outside
//! this crate knows which backend it talks to.

mod cache;
mod error;
mod fill_gate;
mod migrations;
mod pg_listener;
mod postgres;
mod sql_impl;
mod sql_methods;
mod sql_oidc;
mod sql_oidc_grants;
mod sql_org_test;
mod sql_orgs;
mod sql_throttle;
mod sql_tokens;
mod sql_twostep;
mod sqlite;
mod touches;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use std::path::Path;
use std::sync::Arc;
use tessera_core::store::{Store, StoreError};

/// Opens the configured database and brings its schema up to date:
/// PostgreSQL when `database_url` is given, else SQLite in `data_dir`.
pub async fn open(
    database_url: Option<&str>,
    data_dir: &Path,
) -> Result<Arc<dyn Store>, StoreError> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = PgStore::connect(url).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("sqlite:") => {
            let store = SqliteStore::open_url(url).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        Some(other) => Err(StoreError::Other(format!(
            "unsupported database URL {:?}: use postgres://… or sqlite:…",
            redact_url(other)
        ))),
        None => {
            let store = SqliteStore::open(&data_dir.join("tessera.db")).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
    }
}

/// A URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("postgres://h/db"), "postgres://h/db");
    }
}
