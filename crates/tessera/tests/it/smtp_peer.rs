//! A real SMTP server for the tests: aiosmtpd (PyPI, or Debian's
//! `python3-aiosmtpd`), saving every message it accepts into a Maildir, and
//! Python's own `email` package to read them back. A missing aiosmtpd
//! fails the test in CI and skips it elsewhere; `scripts/test` installs it.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Python interpreter that can import aiosmtpd: the one on `PATH`, else
/// the system's (where Debian's package lives). `None`, after saying
/// SKIPPED, when there is none; a panic in CI.
pub fn python() -> Option<&'static str> {
    for py in ["python3", "/usr/bin/python3"] {
        if Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(py);
        }
    }
    if std::env::var("CI").is_ok() {
        panic!("aiosmtpd is missing in CI");
    }
    eprintln!("SKIPPED: aiosmtpd is not installed; run scripts/test to install it");
    None
}

/// A port nothing listens on (for a server started later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running aiosmtpd on 127.0.0.1, killed on drop.
pub struct SmtpPeer {
    child: Child,
    pub python: &'static str,
    pub port: u16,
    pub maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpPeer {
    /// On a free port; `None` (SKIPPED) without aiosmtpd.
    pub fn start() -> Option<SmtpPeer> {
        Self::start_on(free_port())
    }

    /// On `port`, answering once this returns.
    #[allow(clippy::disallowed_methods)] // waits for a process to listen, not for time to pass
    pub fn start_on(port: u16) -> Option<SmtpPeer> {
        let python = python()?;
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let peer = SmtpPeer {
            child,
            python,
            port,
            maildir,
            _dir: dir,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(peer)
    }

    /// `smtp://127.0.0.1:PORT`, for `email.smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received, as Python's `email` package reads it:
    /// `{from, to, subject, message_id, content_type, text, html}`.
    pub fn messages(&self) -> Vec<Value> {
        if !self.maildir.join("new").exists() {
            return Vec::new();
        }
        let out = Command::new(self.python)
            .args(["-c", READ_MAILDIR])
            .arg(&self.maildir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits (by the wall clock: the server under test uses it) until at
    /// least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n || start.elapsed() > within {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python program printing every message of the Maildir named by its
/// first argument as JSON (what [`SmtpPeer::messages`] returns).
pub const READ_MAILDIR: &str = r#"
import email, email.policy, json, mailbox, re, sys
out = []
box = mailbox.Maildir(sys.argv[1], factory=None, create=False)
def arrival(key):
    # "<seconds>.M<microseconds>P<pid>Q<count>.<host>": the microseconds
    # are not zero-padded, so the names do not sort as text; the count
    # goes up with every delivery of the one aiosmtpd process.
    m = re.match(r"(\d+)\.M(\d+)P\d+Q(\d+)", key)
    return (int(m[1]), int(m[2]), int(m[3])) if m else (0, 0, 0)
for key in sorted(box.keys(), key=arrival):
    m = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
    parts = {}
    for p in m.walk():
        if p.get_content_maintype() == "text":
            parts[p.get_content_type()] = p.get_content()
    out.append({
        "from": str(m["From"]), "to": str(m["To"]), "subject": str(m["Subject"]),
        "message_id": str(m["Message-ID"]), "content_type": m.get_content_type(),
        "text": parts.get("text/plain"), "html": parts.get("text/html"),
    })
print(json.dumps(out))
"#;
