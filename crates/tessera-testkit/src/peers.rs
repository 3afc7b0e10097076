//! Codes computed by tools we did not write: `oathtool` (Debian) and
//! `pyotp` (PyPI). Missing tools fail the test in CI and skip it elsewhere.

use std::process::Command;

/// Whether `oathtool` and `pyotp` are installed; panics in CI if not.
pub fn available() -> bool {
    let oath = Command::new("oathtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let py = Command::new("python3")
        .args(["-c", "import pyotp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if oath && py {
        return true;
    }
    let why = format!("oathtool installed: {oath}, pyotp installed: {py}");
    if std::env::var("CI").is_ok() {
        panic!("TOTP peers missing in CI: {why}");
    }
    eprintln!("SKIPPED: TOTP peer tools missing ({why}); run scripts/test to install them");
    false
}

/// Seconds since the epoch by the machine's clock, which a spawned server
/// also uses.
#[allow(clippy::disallowed_methods)] // the peers and the server share the real clock
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `oathtool --totp -b SECRET --now @T`
pub fn oathtool(secret: &str, at_secs: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret, "--now", &format!("@{at_secs}")])
        .output()
        .expect("run oathtool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `pyotp.TOTP(SECRET).at(T)`
pub fn pyotp(secret: &str, at_secs: i64) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &at_secs.to_string(),
        ])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A 6-digit code that is certainly wrong at `at_secs` (±1 step).
pub fn wrong_code(secret: &str, at_secs: i64) -> String {
    let near: Vec<String> = (-1..=1)
        .map(|d| oathtool(secret, at_secs + d * 30))
        .collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap()
}
