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

#[test]
fn pages_work_in_a_real_browser() {
    if let Err(why) = ready() {
        if std::env::var("CI").is_ok() {
            panic!("browser tests cannot run in CI: {why}");
        }
        eprintln!("SKIPPED: browser tests: {why}");
        return;
    }
    let s = Server::start();
    s.create_user("admin@example.com", "sysadmin");
    s.create_user("member@example.com", "member");
    let out = Command::new("node")
        .arg("pages.mjs")
        .current_dir(browser_dir())
        .env("BASE_URL", &s.origin)
        .env("PASSWORD", PASSWORD)
        .output()
        .expect("run node");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser suite failed");
}

#[test]
fn two_step_verification_works_in_a_real_browser() {
    if let Err(why) = ready() {
        if std::env::var("CI").is_ok() {
            panic!("browser tests cannot run in CI: {why}");
        }
        eprintln!("SKIPPED: browser tests: {why}");
        return;
    }
    if !crate::peers::available() {
        return;
    }
    let s = Server::start();
    s.create_user("twostep@example.com", "member");
    let out = Command::new("node")
        .arg("twostep.mjs")
        .current_dir(browser_dir())
        .env("BASE_URL", &s.origin)
        .env("PASSWORD", PASSWORD)
        .output()
        .expect("run node");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "two-step browser suite failed");
}
