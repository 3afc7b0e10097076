//! `tessera`: one binary to serve, administer and maintain a Tessera server.

mod admin;
mod admin_oidc;
mod backup;
mod export;
mod serve;

use tessera::{alloc, config, keys, wiring};

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Self-hosted account security server"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database and key material).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL (postgres://…); overrides the config file and TESSERA_DATABASE_URL.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Manage accounts from the server host.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Print a one-time sign-in password for break-glass access to an account.
    RecoverAccount {
        /// The account's email address.
        email: String,
    },
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Write one archive holding the database and its secret key.
    Backup {
        /// Where to write the archive.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup archive into the configured data dir or database.
    Restore {
        /// The archive written by `tessera backup`.
        file: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective settings.
    Check,
}

fn main() -> ExitCode {
    alloc::tune();
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let flags = config::Overrides {
        data_dir: cli.data_dir.clone(),
        listen,
        database_url: cli.database_url.clone(),
    };
    let cfg = match config::load(cli.config.as_deref(), std::env::vars(), &flags) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    if let Err(e) = cfg.prepare_data_dir() {
        return fail(&e);
    }
    if let Command::Config(ConfigCommand::Check) = cli.command {
        if cfg.email.provider != "none"
            && let Err(e) = wiring::mail_templates(&cfg)
        {
            return fail(&e);
        }
        println!("{}", wiring::describe(&cfg));
        println!("configuration OK");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve::run(cfg).await,
            Command::Admin(cmd) => admin::run(cfg, cmd).await,
            Command::RecoverAccount { email } => admin::recover_account(cfg, &email).await,
            Command::Migrate => admin::migrate(cfg).await,
            Command::Backup { out } => backup::backup(cfg, &out).await,
            Command::Restore { file, force } => backup::restore(cfg, &file, force).await,
            Command::Config(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

/// Prints one line and exits non-zero.
fn fail(msg: &str) -> ExitCode {
    eprintln!("tessera: error: {msg}");
    ExitCode::from(2)
}

/// mimalloc rather than glibc's malloc for everything Rust allocates. A
/// who-am-I answer is a few dozen small allocations; under glibc they
/// took a fifth of the server's CPU, and its arena locks (capped by
/// [`alloc::tune`]) made the runtime's threads wait on each other. With
/// mimalloc's per-thread heaps the server spends 20% less CPU per request
/// (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
