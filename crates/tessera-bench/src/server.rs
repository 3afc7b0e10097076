//! The processes under test: a real `tessera serve`, and the bare axum
//! hello-world baseline, each started from this harness.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The key the harness and its servers share, so seeded TOTP seeds decrypt.
pub const BENCH_KEY: &str = "YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMzI=";

pub struct Proc {
    child: Child,
    pub base: String,
    /// `http://ADDR` of the metrics listener, when the server runs one.
    pub metrics: Option<String>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds `tessera` in this harness's profile and returns its path, or
/// takes the binary `BENCH_TESSERA_BIN` names, already built (so a run
/// that pauses other work on the machine need not wait for cargo's locks).
pub fn tessera_binary() -> anyhow::Result<PathBuf> {
    if let Some(given) = std::env::var_os("BENCH_TESSERA_BIN") {
        let bin = PathBuf::from(given);
        if !bin.is_file() {
            bail!("BENCH_TESSERA_BIN={} is not a file", bin.display());
        }
        return Ok(bin);
    }
    let release = !cfg!(debug_assertions);
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--quiet", "-p", "tessera", "--bin", "tessera"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("building tessera failed");
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("no target dir")?;
    let bin = dir.join("tessera");
    if !bin.exists() {
        bail!("{} not found after building", bin.display());
    }
    Ok(bin)
}

fn spawn(mut cmd: Command) -> anyhow::Result<Proc> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().context("cannot start the server")?;
    let announced = tessera_testkit::listen::announced(&mut child, Duration::from_secs(120))
        .map_err(anyhow::Error::msg)?;
    Ok(Proc {
        child,
        base: format!("http://{}", announced.http),
        metrics: announced.metrics.map(|a| format!("http://{a}")),
    })
}

/// `tessera serve` on `data_dir` (and `database_url`, if any).
pub fn start_tessera(
    bin: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<Proc> {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "error")
        .env("TESSERA_SECRET_KEY", BENCH_KEY)
        // The sign-in scenarios measure password sign-ins: a load client is
        // a new device on every request, which would otherwise be asked
        // for an emailed code.
        .env("TESSERA_EMAIL_CODE__AT_SIGNIN", "off");
    if let Some(url) = database_url {
        cmd.env("TESSERA_DATABASE_URL", url);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    spawn(cmd)
}

/// The hello-world baseline: this same binary, `hello-server` subcommand.
pub fn start_hello() -> anyhow::Result<Proc> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("hello-server");
    spawn(cmd)
}

/// Serves `GET /hello` with axum on a runtime shaped like tessera's.
pub fn run_hello_server() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let app = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
