//! Runs the Playwright suite in `tests/browser` against a real server, in
//! Debian's headless Chromium. Skipped (loudly) only outside CI when the
//! browser or the npm packages are missing; in CI a missing piece fails.

use crate::support::*;
use std::path::PathBuf;
use std::process::Command;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

fn ready() -> Result<(), String> {
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Err(
            "tests/browser/node_modules is missing (run scripts/test, or npm ci in tests/browser)"
                .into(),
        );
    }
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        return Err("/usr/bin/chromium is missing (apt-get install chromium)".into());
    }
    Ok(())
}

/// Whether the browser suite can run; says why not (a failure in CI).
fn can_run() -> bool {
    if let Err(why) = ready() {
        if std::env::var("CI").is_ok() {
            panic!("browser tests cannot run in CI: {why}");
        }
        eprintln!("SKIPPED: browser tests: {why}");
        return false;
    }
    true
}

/// Runs one suite against a fresh server with `users` (email, role), or
/// says why it cannot run (a failure in CI).
fn run_suite(suite: &str, users: &[(&str, &str)]) {
    if !can_run() {
        return;
    }
    let s = Server::start();
    for (email, role) in users {
        s.create_user(email, role);
    }
    run_node(&s, suite, &[]);
}

/// Runs `suite` against `s`, with `env` besides the server's address.
fn run_node(s: &Server, suite: &str, env: &[(&str, String)]) {
    let mut cmd = Command::new("node");
    cmd.arg(suite)
        .current_dir(browser_dir())
        .env("BASE_URL", &s.origin)
        .env("PASSWORD", PASSWORD);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run node");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser suite {suite} failed");
}

#[test]
fn pages_work_in_a_real_browser() {
    run_suite(
        "pages.mjs",
        &[
            ("admin@example.com", "sysadmin"),
            ("member@example.com", "member"),
        ],
    );
}

#[test]
fn two_step_verification_works_in_a_real_browser() {
    if !crate::peers::available() {
        return;
    }
    run_suite("twostep.mjs", &[("twostep@example.com", "member")]);
}

/// Security keys and passkeys with Chromium's virtual authenticator.
#[test]
fn webauthn_works_in_a_real_browser() {
    run_suite(
        "webauthn.mjs",
        &[
            ("keys@example.com", "member"),
            ("passkey@example.com", "member"),
        ],
    );
}

/// Emailed codes, read from a real SMTP server by the suite.
#[tokio::test]
async fn emailed_codes_work_in_a_real_browser() {
    use crate::email_codes::nth_code;
    use crate::smtp_peer::{READ_MAILDIR, SmtpPeer};
    use serde_json::{Value, json};
    if !can_run() || !crate::peers::available() {
        return;
    }
    let Some(smtp) = SmtpPeer::start() else {
        return;
    };
    let s = Server::start_with(Opts {
        env: vec![
            ("TESSERA_EMAIL__PROVIDER".into(), "smtp".into()),
            ("TESSERA_EMAIL__SMTP_URL".into(), smtp.url()),
            ("TESSERA_EMAIL__FROM".into(), "security@acme.example".into()),
        ],
        ..Default::default()
    });
    s.create_user("fresh@example.com", "member");
    s.create_user("twostep@example.com", "member");
    // twostep@ turns on two-step verification through the API (its first
    // sign-in, from this unknown client, takes an emailed code).
    let http = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut r = http.post(s.url(path)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t.to_string());
        }
        async move { r.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let r = post(
        "/api/v1/signin",
        None,
        json!({"email": "twostep@example.com", "password": PASSWORD}),
    )
    .await;
    let flow = r["flow_id"].as_str().unwrap().to_string();
    let code = nth_code(&smtp, "twostep@example.com", 1).await;
    let done = post(
        &format!("/api/v1/signin/{flow}/email_code"),
        None,
        json!({"code": code}),
    )
    .await;
    let token = done["session_token"].as_str().unwrap().to_string();
    let e = post("/api/v1/me/two-step/totp", Some(&token), json!({})).await;
    let secret = e["secret"].as_str().unwrap();
    let now = crate::peers::now_secs();
    let c = post(
        "/api/v1/me/two-step/totp/confirm",
        Some(&token),
        json!({"code": crate::peers::oathtool(secret, now)}),
    )
    .await;
    assert!(c["recovery_key"].is_string(), "{c}");
    run_node(
        &s,
        "emailcode.mjs",
        &[
            ("MAILDIR", smtp.maildir.display().to_string()),
            ("PYTHON", smtp.python.to_string()),
            ("READ_MAIL", READ_MAILDIR.to_string()),
        ],
    );
}

/// The external user policy turned on in the org admin pages; the
/// external user's code is read from a real SMTP server by the suite.
#[test]
fn the_external_policy_works_in_a_real_browser() {
    use crate::smtp_peer::{READ_MAILDIR, SmtpPeer};
    if !can_run() {
        return;
    }
    let Some(smtp) = SmtpPeer::start() else {
        return;
    };
    let s = Server::start_with(Opts {
        env: vec![
            ("TESSERA_EMAIL__PROVIDER".into(), "smtp".into()),
            ("TESSERA_EMAIL__SMTP_URL".into(), smtp.url()),
            ("TESSERA_EMAIL__FROM".into(), "security@acme.example".into()),
            // Only the policy asks for codes here.
            ("TESSERA_EMAIL_CODE__AT_SIGNIN".into(), "off".into()),
        ],
        ..Default::default()
    });
    s.create_user("root@acme.example", "sysadmin");
    s.create_user("ann@acme.example", "member");
    s.create_user("bob@partner.example", "member");
    run_node(
        &s,
        "orgpolicy.mjs",
        &[
            ("MAILDIR", smtp.maildir.display().to_string()),
            ("PYTHON", smtp.python.to_string()),
            ("READ_MAIL", READ_MAILDIR.to_string()),
        ],
    );
}

/// The sample relying app (`examples/relying-app/app.py`), killed on drop.
struct RelyingApp {
    child: std::process::Child,
    url: String,
}

impl RelyingApp {
    /// Registers the app as a client of `s` (as `admin`) and starts it;
    /// returns once it listens.
    async fn start(s: &Server, admin: &str, max_age: u32) -> RelyingApp {
        use std::io::BufRead;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://localhost:{port}");
        let (id, secret) = crate::oidc_authlib::register_client(
            s,
            admin,
            &format!("{url}/callback"),
            &[&format!("{url}/")],
        )
        .await;
        let mut child = Command::new("python3")
            .arg("examples/relying-app/app.py")
            .current_dir(browser_dir().join("../.."))
            .env("TESSERA_URL", &s.origin)
            .env("CLIENT_ID", id)
            .env("CLIENT_SECRET", secret)
            .env("APP_PORT", port.to_string())
            .env("STEP_UP_MAX_AGE", max_age.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the relying app");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("relying app on"),
            "the relying app did not start: {line:?}"
        );
        RelyingApp { child, url }
    }
}

impl Drop for RelyingApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sign-in through the sample relying app with password and TOTP, its
/// step-up page (acr_values=aal2 with max_age 0, so the first
/// verification is always too old) through /security/verify, and
/// RP-initiated logout.
#[tokio::test]
async fn the_relying_app_signs_in_and_steps_up_in_a_real_browser() {
    if !can_run() || !crate::peers::available() || !crate::oidc_authlib::authlib_available() {
        return;
    }
    let s = Server::start();
    s.create_user("root@example.com", "sysadmin");
    s.create_user("rp@example.com", "member");
    let root = signin(&s, "root@example.com", PASSWORD).await;
    let app = RelyingApp::start(&s, &root, 0).await;
    run_node(&s, "oidc.mjs", &[("APP_URL", app.url.clone())]);
}
