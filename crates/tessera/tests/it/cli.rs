//! The command line: config errors are one clear line, admin commands work
//! on the database, the server stops cleanly on SIGTERM.

use crate::support::*;
use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_accepts_defaults_and_refuses_mistakes_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (code, out, _) = run(&["config", "check", "--data-dir", data], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("configuration OK"));
    assert!(out.contains("m=19456 KiB t=2 p=1"));

    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1\"\n[sesion]\nidle_minutes = 3\n",
    )
    .unwrap();
    let (code, _, err) = run(
        &[
            "config",
            "check",
            "--data-dir",
            data,
            "--config",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("sesion"), "{err}");

    let (code, _, err) = run(
        &["config", "check", "--data-dir", data],
        &[("TESSERA_SESSION__IDLE_MINUTES", "-5")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("idle_minutes"), "{err}");
    let (code, _, err) = run(
        &["config", "check", "--data-dir", data],
        &[("TESSERA_LISTEN", "here")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("listen"), "{err}");
    let (code, _, err) = run(
        &["config", "check", "--data-dir", data],
        &[("TESSERA_DATABASE_URL", "mysql://x")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("database_url"), "{err}");

    // A data dir that cannot exist: a path below a regular file.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let (code, _, err) = run(
        &["serve", "--data-dir", blocker.join("sub").to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("data dir"), "{err}");
}

#[test]
fn admin_commands_manage_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = cli_with(d, &[], &["migrate"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date (sqlite)"));
    let out = cli_with(
        d,
        &[],
        &[
            "admin",
            "create-user",
            "--email",
            "Cli@Example.com",
            "--role",
            "org-admin",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli_with(
        d,
        &[],
        &["admin", "create-user", "--email", "cli@example.com"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "duplicate email");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = cli_with(
        d,
        &[],
        &[
            "admin",
            "create-user",
            "--email",
            "weak@example.com",
            "--password-stdin",
        ],
        Some("12345678"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("common"));

    let out = cli_with(
        d,
        &[],
        &[
            "admin",
            "set-role",
            "--email",
            "cli@example.com",
            "--role",
            "sysadmin",
        ],
        None,
    );
    assert!(out.status.success());
    let out = cli_with(
        d,
        &[],
        &["admin", "deactivate", "--email", "cli@example.com"],
        None,
    );
    assert!(out.status.success());
    let out = cli_with(d, &[], &["admin", "list-users", "--json"], None);
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(line["email"], "cli@example.com");
    assert_eq!(line["role"], "sysadmin");
    assert_eq!(line["active"], false);
    let out = cli_with(d, &[], &["admin", "audit", "--json"], None);
    let kinds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "account.deactivated",
            "account.role_changed",
            "account.created"
        ]
    );
    let out = cli_with(
        d,
        &[],
        &[
            "admin",
            "set-role",
            "--email",
            "ghost@example.com",
            "--role",
            "member",
        ],
        None,
    );
    assert!(!out.status.success());
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let s = Server::start();
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn legacy_login_is_announced_at_start() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("TESSERA_TWO_STEP__LEGACY_LOGIN", "true")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let warned = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .take(20)
        .any(|l| l.contains("WARN") && l.contains("LEGACY LOGIN IS ON"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned, "no warning about legacy login at start");
}
