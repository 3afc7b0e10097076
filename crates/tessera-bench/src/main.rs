//! `tessera-bench`: loads a real `tessera serve` the way its users do, and
//! measures a baseline in the same run, interleaved, so only ratios count.
//!
//! ```text
//! cargo run --release -p tessera-bench -- all            # every scenario
//! cargo run --release -p tessera-bench -- session-check  # one scenario
//! cargo run -p tessera-bench -- all --quick              # CI smoke run
//! cargo run --release -p tessera-bench -- soak --soak-seconds 1800
//! ```

mod load;
mod report;
mod scenarios;
mod seed;
mod server;
mod soak;
mod sys;

use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tessera-bench",
    about = "Benchmarks for Tessera, as ratios against same-run baselines"
)]
struct Cli {
    /// all, session-check, signin-password, signin-totp, flood,
    /// session-memory, durable-writes, scale, mail-delivery, oidc-token,
    /// oidc-userinfo; or soak (a
    /// long mixed load, watching the server's memory, descriptors and
    /// database connections; not part of all); or hello-server, internal.
    scenario: String,
    /// A short run of every scenario (under 2 minutes), for CI.
    #[arg(long)]
    quick: bool,
    /// Run against PostgreSQL at this URL (a fresh schema is created).
    #[arg(long)]
    postgres: Option<String>,
    /// Accounts to seed (default 10,000).
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Accounts for the scale scenario's large run (default 1,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    scale_accounts: usize,
    /// Interleaved A/B rounds; the median counts (at least 5).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// How long the soak runs, in seconds.
    #[arg(long, default_value_t = 1800)]
    soak_seconds: u64,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.scenario == "hello-server" {
        return match server::run_hello_server() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hello-server: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.scenario == "soak" {
        let soak = async {
            let bench = scenarios::Bench::new(scenarios::Settings::from_cli(&cli))?;
            soak::run(&bench, cli.soak_seconds).await
        };
        return match rt.block_on(soak) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("tessera-bench soak: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match rt.block_on(scenarios::run(scenarios::Settings::from_cli(&cli))) {
        Ok(results) => {
            report::print(&results);
            if let Some(path) = &cli.json
                && let Err(e) = std::fs::write(
                    path,
                    serde_json::to_vec_pretty(&results).unwrap_or_default(),
                )
            {
                eprintln!("tessera-bench: cannot write {}: {e}", path.display());
            }
            if results.iter().any(|r| r.error.is_some()) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("tessera-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
