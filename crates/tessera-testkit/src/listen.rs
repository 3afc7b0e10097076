//! A started `tessera serve --listen 127.0.0.1:0` picks free ports and
//! announces them on stdout: `metrics listening on http://ADDR` first,
//! when a metrics listener runs, then `listening on http://ADDR`. This
//! reads those lines, so tests and benchmarks never guess a port.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

/// The addresses a server announced (`host:port`, without the scheme).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub http: String,
    pub metrics: Option<String>,
}

/// Reads `child`'s stdout (which must be piped) until it announces its
/// HTTP address, for at most `timeout`. Later lines are drained on a
/// thread, so the server never blocks on a full pipe.
pub fn announced(child: &mut Child, timeout: Duration) -> Result<Announced, String> {
    let stdout = child
        .stdout
        .take()
        .ok_or("the server's stdout is not piped")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(seen) = parse(&line) {
                let _ = tx.send(seen);
            }
        }
    });
    let mut metrics = None;
    loop {
        match rx.recv_timeout(timeout) {
            Ok(Line::Metrics(a)) => metrics = Some(a),
            Ok(Line::Http(http)) => return Ok(Announced { http, metrics }),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "the server did not announce its address within {timeout:?}"
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the server's output ended before it announced its address \
                     (it exited: see its log above)"
                    .into());
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Line {
    Http(String),
    Metrics(String),
}

fn parse(line: &str) -> Option<Line> {
    if let Some(a) = line.strip_prefix("metrics listening on http://") {
        Some(Line::Metrics(a.to_string()))
    } else {
        line.strip_prefix("listening on http://")
            .map(|a| Line::Http(a.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_announcements_and_nothing_else() {
        assert_eq!(
            parse("listening on http://127.0.0.1:8080"),
            Some(Line::Http("127.0.0.1:8080".into()))
        );
        assert_eq!(
            parse("metrics listening on http://127.0.0.1:9090"),
            Some(Line::Metrics("127.0.0.1:9090".into()))
        );
        assert_eq!(parse("tessera 0.1.0"), None);
    }

    #[test]
    fn a_silent_process_times_out() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let got = announced(&mut child, Duration::from_millis(200));
        let _ = child.kill();
        let _ = child.wait();
        assert!(got.unwrap_err().contains("did not announce"));
    }

    #[test]
    fn a_process_that_exits_says_so() {
        let mut child = std::process::Command::new("true")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let got = announced(&mut child, Duration::from_secs(5));
        let _ = child.wait();
        assert!(got.unwrap_err().contains("exited"));
    }
}
