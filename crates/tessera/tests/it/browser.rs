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

/// Runs one suite against a fresh server with `users` (email, role), or
/// says why it cannot run (a failure in CI).
fn run_suite(suite: &str, users: &[(&str, &str)]) {
    if let Err(why) = ready() {
        if std::env::var("CI").is_ok() {
            panic!("browser tests cannot run in CI: {why}");
        }
        eprintln!("SKIPPED: browser tests: {why}");
        return;
    }
    let s = Server::start();
    for (email, role) in users {
        s.create_user(email, role);
    }
    let out = Command::new("node")
        .arg(suite)
        .current_dir(browser_dir())
        .env("BASE_URL", &s.origin)
        .env("PASSWORD", PASSWORD)
        .output()
        .expect("run node");
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
