//! Starting real servers and running the real CLI.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_tessera");
pub use tessera_testkit::api::PASSWORD;

/// A running `tessera serve`, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `http://localhost:PORT`, the server's public origin.
    pub origin: String,
    /// `http://127.0.0.1:PORT` of the metrics listener, if it runs.
    pub metrics_base: Option<String>,
    pub data_dir: PathBuf,
    /// The environment the server runs with (database URL, key, …).
    pub env: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Default)]
pub struct Opts {
    pub data_dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(Opts::default())
    }

    /// Tests get a metrics listener on a free port, unless `env` sets one.
    pub fn start_with(opts: Opts) -> Server {
        Self::spawn(opts, true)
    }

    /// With `metrics.listen` unset, as in a default installation.
    pub fn start_without_metrics(opts: Opts) -> Server {
        Self::spawn(opts, false)
    }

    /// With every log line written to `log`, at the level and in the format
    /// the configuration (`log.level`, `log.format`) says: no `RUST_LOG`.
    pub fn start_logging_to(opts: Opts, log: &Path) -> Server {
        Self::spawn_with(opts, true, Some(log))
    }

    fn spawn(opts: Opts, metrics: bool) -> Server {
        Self::spawn_with(opts, metrics, None)
    }

    fn spawn_with(opts: Opts, metrics: bool, log: Option<&Path>) -> Server {
        let (dir, data_dir) = match opts.data_dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir().unwrap();
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .stdout(Stdio::piped());
        match log {
            Some(path) => {
                cmd.env_remove("RUST_LOG")
                    .stderr(std::fs::File::create(path).unwrap());
            }
            None => {
                cmd.env("RUST_LOG", "warn").stderr(Stdio::inherit());
            }
        }
        if metrics && !opts.env.iter().any(|(k, _)| k == "TESSERA_METRICS__LISTEN") {
            cmd.env("TESSERA_METRICS__LISTEN", "127.0.0.1:0");
        }
        // Tests not about mail run as an install that sends none: no
        // emailed code at sign-in, and step-up by password for accounts
        // without 2SV. Tests about mail or emailed codes set the provider.
        if !opts.env.iter().any(|(k, _)| k == "TESSERA_EMAIL__PROVIDER") {
            cmd.env("TESSERA_EMAIL__PROVIDER", "none");
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tessera serve");
        let announced = tessera_testkit::listen::announced(&mut child, Duration::from_secs(60))
            .expect("server did not report its address");
        let metrics_base = announced.metrics.map(|a| format!("http://{a}"));
        let addr = announced.http;
        let port = addr.rsplit(':').next().unwrap().to_string();
        Server {
            child,
            base: format!("http://{addr}"),
            origin: format!("http://localhost:{port}"),
            metrics_base,
            data_dir,
            env: opts.env.clone(),
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Runs the CLI against this server's data dir and database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        cli_with(&self.data_dir, &env, args, stdin)
    }

    /// Creates an account with the CLI against this server's database.
    pub fn create_user(&self, email: &str, role: &str) {
        let out = self.cli(
            &[
                "admin",
                "create-user",
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(PASSWORD),
        );
        assert!(
            out.status.success(),
            "create-user failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), "TERM");
        self.child.wait().unwrap()
    }
}

fn unsafe_kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI with a data dir, extra env and optional stdin.
pub fn cli_with(
    data_dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{s}\n").as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

/// Posts the sign-in page's form (its CSRF token read from the page) with
/// `http`, which keeps the cookies; `login` is the page's full URL. The
/// answer after redirects: the Security page, an invitation, or the
/// second step.
pub async fn page_signin(
    http: &reqwest::Client,
    login: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let html = http.get(login).send().await.unwrap().text().await.unwrap();
    http.post(login)
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Signs in as a mobile client; returns the bearer token.
pub async fn signin(s: &Server, email: &str, password: &str) -> String {
    let r = reqwest::Client::new()
        .post(s.url("/api/v1/signin"))
        .json(&serde_json::json!({"email": email, "password": password, "client": "mobile"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "sign-in failed for {email}");
    let v: serde_json::Value = r.json().await.unwrap();
    v["session_token"].as_str().unwrap().to_string()
}

/// Reads a metric's value from the metrics listener's `/metrics` (sum over
/// label sets matching `filter`).
pub async fn metric(s: &Server, name: &str, filter: &str) -> f64 {
    let base = s
        .metrics_base
        .as_deref()
        .expect("server runs without metrics");
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#') && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Resident set size of a process in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Core's defaults for tests not about emailed codes: like a server whose
/// `email.provider` is `none` (no code at sign-in, step-up by password for
/// accounts without 2SV), with `email_code.at_signin = "off"` said too.
pub fn kit_config() -> tessera_core::service::CoreConfig {
    tessera_core::service::CoreConfig {
        email_codes: tessera_core::email_code::EmailCodeConfig {
            at_signin: tessera_core::email_code::AtSignin::Off,
            mail_delivered: false,
        },
        ..Default::default()
    }
}

/// The domain on a fresh SQLite file, with the given clock and settings, for
/// tests that move time. Argon2 runs at the production parameters.
pub async fn test_core(
    clock: tessera_core::clock::ManualClock,
    config: tessera_core::service::CoreConfig,
) -> (tessera_core::service::Core, tempfile::TempDir) {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let store = tessera_store::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (test_core_on(Arc::new(store), clock, config), dir)
}

/// The domain on `store`, with the given clock and settings.
pub fn test_core_on(
    store: std::sync::Arc<dyn tessera_core::store::Store>,
    clock: tessera_core::clock::ManualClock,
    config: tessera_core::service::CoreConfig,
) -> tessera_core::service::Core {
    core_hashing(store, clock, config, Default::default())
}

/// As [`test_core`], with Argon2 at its smallest parameters (8 KiB, one
/// pass): for tests about what happens around the hash, not its cost.
pub async fn test_core_cheap(
    clock: tessera_core::clock::ManualClock,
    config: tessera_core::service::CoreConfig,
) -> (tessera_core::service::Core, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = tessera_store::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let cheap = tessera_core::password::Argon2Config {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    let core = core_hashing(std::sync::Arc::new(store), clock, config, cheap);
    (core, dir)
}

fn core_hashing(
    store: std::sync::Arc<dyn tessera_core::store::Store>,
    clock: tessera_core::clock::ManualClock,
    config: tessera_core::service::CoreConfig,
    argon: tessera_core::password::Argon2Config,
) -> tessera_core::service::Core {
    use std::sync::Arc;
    use tessera_core::OsSecrets;
    use tessera_core::password::{HashPool, PasswordHasher};
    let hasher = PasswordHasher::new(argon).unwrap();
    let pool = HashPool::start(hasher, 2, 64, Arc::new(OsSecrets)).unwrap();
    let sealer = tessera_core::crypto::SecretBox::new(&[9u8; 32]).unwrap();
    tessera_core::service::Core::new(
        store,
        Arc::new(clock),
        Arc::new(OsSecrets),
        Arc::new(pool),
        Arc::new(sealer),
        config,
    )
}

/// The real HTTP application around `core`, served in this process on a
/// free port: real requests, but a clock the test controls.
pub struct InprocServer {
    pub base: String,
    pub core: tessera_core::service::Core,
    _task: tokio::task::JoinHandle<()>,
}

impl InprocServer {
    pub async fn start(core: tessera_core::service::Core) -> InprocServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let web = tessera_web::WebConfig {
            public_url: format!("http://localhost:{}", addr.port()),
            allowed_origins: vec![],
            body_limit_bytes: 64 * 1024,
            trusted_proxies: vec![],
        };
        let state =
            tessera_web::AppState::new(core.clone(), web, tessera_web::install_recorder().unwrap());
        let task = tokio::spawn(async move {
            let _ = tessera_web::run(listener, state, std::future::pending()).await;
        });
        InprocServer {
            base: format!("http://{addr}"),
            core,
            _task: task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for InprocServer {
    fn drop(&mut self) {
        self._task.abort();
    }
}

/// The CSRF token of the first form on a page.
pub fn csrf_of(html: &str) -> String {
    let field = r#"name="csrf" value=""#;
    let at = html
        .find(field)
        .unwrap_or_else(|| panic!("no CSRF field in {html}"))
        + field.len();
    html[at..].split('"').next().unwrap().to_string()
}

/// A human account with [`PASSWORD`], created as the host operator.
pub async fn human(
    core: &tessera_core::service::Core,
    email: &str,
    role: tessera_core::account::Role,
) -> tessera_core::ids::AccountId {
    use tessera_core::service::{NewAccountInput, RequestContext, Sysadmin};
    core.create_account(
        &Sysadmin::host_operator(),
        NewAccountInput {
            email: email.into(),
            display_name: String::new(),
            kind: tessera_core::account::AccountKind::Human,
            role,
            password: Some(tessera_core::password::Password::new(PASSWORD)),
        },
        &RequestContext::default(),
    )
    .await
    .unwrap()
    .id
}

/// Where the "returning to the application" page sends the browser (its
/// meta refresh, which a browser follows by itself, and its link must
/// agree), HTML entities decoded; `None` for any other page.
pub fn continue_target(html: &str) -> Option<String> {
    let after = |marker: &str| -> Option<String> {
        let rest = &html[html.find(marker)? + marker.len()..];
        Some(rest[..rest.find('"')?].to_string())
    };
    let link = after(r#"<a href=""#).filter(|_| html.contains(r#"id="continue""#))?;
    let refresh = after(r#"content="0; url="#)?;
    assert_eq!(link, refresh, "the link and the refresh disagree: {html}");
    // Askama writes the five it escapes as decimal references.
    Some(
        link.replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#38;", "&"),
    )
}
