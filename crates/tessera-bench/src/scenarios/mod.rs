//! The scenarios, and what they share: settings, fresh databases, servers,
//! HTTP clients, raw hash rates.

mod http;
mod mail;
mod oidc_token;
mod oidc_userinfo;
mod signin;
mod storage;

use crate::report::Outcome;
use crate::server::{self, Proc};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_core::store::Store;

pub const ALL: &[&str] = &[
    "session-check",
    "token-check",
    "signin-password",
    "signin-totp",
    "flood",
    "session-memory",
    "durable-writes",
    "scale",
    "mail-delivery",
    "oidc-token",
    "oidc-userinfo",
];

#[derive(Debug, Clone)]
pub struct Settings {
    pub scenario: String,
    pub quick: bool,
    pub postgres: Option<String>,
    pub accounts: usize,
    pub scale_accounts: usize,
    pub rounds: usize,
    pub duration: Duration,
}

impl Settings {
    pub fn from_cli(cli: &crate::Cli) -> Settings {
        if cli.quick {
            return Settings {
                scenario: cli.scenario.clone(),
                quick: true,
                postgres: cli.postgres.clone(),
                accounts: 1_000,
                scale_accounts: 5_000,
                rounds: 1,
                duration: Duration::from_millis(700),
            };
        }
        Settings {
            scenario: cli.scenario.clone(),
            quick: false,
            postgres: cli.postgres.clone(),
            accounts: cli.accounts,
            scale_accounts: cli.scale_accounts,
            rounds: cli.rounds.max(5),
            duration: Duration::from_secs_f64(cli.seconds),
        }
    }
}

/// Everything a scenario needs.
pub struct Bench {
    pub settings: Settings,
    pub bin: PathBuf,
    pub cores: usize,
}

/// A database nobody used yet: SQLite in a temp dir, or a fresh PostgreSQL
/// schema.
pub struct FreshDb {
    pub dir: tempfile::TempDir,
    pub url: Option<String>,
    pub store: Arc<dyn Store>,
}

impl Bench {
    pub async fn fresh_db(&self) -> anyhow::Result<FreshDb> {
        let dir = tempfile::tempdir()?;
        let url = match &self.settings.postgres {
            None => None,
            Some(base) => Some(tessera_testkit::pg::fresh_schema(base, "bench").await?),
        };
        let store = tessera_store::open(url.as_deref(), dir.path()).await?;
        Ok(FreshDb { dir, url, store })
    }

    pub fn serve(&self, db: &FreshDb, env: &[(&str, &str)]) -> anyhow::Result<Proc> {
        server::start_tessera(&self.bin, db.dir.path(), db.url.as_deref(), env)
    }
}

/// An HTTP/1.1 client with a connection per concurrent worker.
pub fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// Raw Argon2id hashes per second at the server's parameters, with one
/// thread per core, in this process: the ceiling for password sign-ins.
pub fn raw_hash_rate(threads: usize, duration: Duration) -> f64 {
    use tessera_core::password::{Argon2Config, PasswordHasher};
    let Ok(hasher) = PasswordHasher::new(Argon2Config::default()) else {
        return 0.0;
    };
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let hasher = hasher.clone();
            std::thread::spawn(move || {
                let mut mem = Vec::new();
                let mut n = 0u64;
                while start.elapsed() < duration {
                    if hasher
                        .hash(&mut mem, b"bench password 123", b"0123456789abcdef")
                        .is_ok()
                    {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().filter_map(|h| h.join().ok()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

impl Bench {
    /// Builds (or finds) the server binary for `settings`.
    pub fn new(settings: Settings) -> anyhow::Result<Bench> {
        let bin = server::tessera_binary()?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Ok(Bench {
            settings,
            bin,
            cores,
        })
    }
}

pub async fn run(settings: Settings) -> anyhow::Result<Vec<Outcome>> {
    let bench = Bench::new(settings)?;
    let names: Vec<&str> = if bench.settings.scenario == "all" {
        ALL.to_vec()
    } else if ALL.contains(&bench.settings.scenario.as_str()) {
        vec![bench.settings.scenario.as_str()]
    } else {
        anyhow::bail!(
            "unknown scenario {:?}; one of: all, {}",
            bench.settings.scenario,
            ALL.join(", ")
        );
    };
    let mut results = Vec::new();
    for name in names {
        eprintln!("== {name}");
        let started = Instant::now();
        let r = match name {
            "session-check" => http::session_check(&bench).await,
            "token-check" => http::token_check(&bench).await,
            "flood" => http::flood(&bench).await,
            "signin-password" => signin::signin_password(&bench).await,
            "signin-totp" => signin::signin_totp(&bench).await,
            "scale" => signin::scale(&bench).await,
            "session-memory" => storage::session_memory(&bench).await,
            "mail-delivery" => mail::mail_delivery(&bench).await,
            "oidc-token" => oidc_token::oidc_token(&bench).await,
            "oidc-userinfo" => oidc_userinfo::oidc_userinfo(&bench).await,
            _ => storage::durable_writes(&bench).await,
        };
        let mut outcome = r.unwrap_or_else(|e| Outcome {
            scenario: name.into(),
            error: Some(format!("{e:#}")),
            ..Default::default()
        });
        outcome.scenario = name.into();
        eprintln!("   done in {:.1} s", started.elapsed().as_secs_f64());
        results.push(outcome);
    }
    Ok(results)
}
