//! A real DNS server for the tests: PyPI's dnslib, answering on 127.0.0.1
//! (UDP and TCP) with the TXT records of a JSON file that is read again at
//! every query, so a test can publish a record while the server runs. A
//! missing dnslib fails the test in CI and skips it elsewhere;
//! `scripts/test` installs it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVER: &str = r#"
import json, sys, time
from dnslib import RR, QTYPE, TXT, RCODE
from dnslib.server import DNSServer, BaseResolver, DNSLogger

records_file, port = sys.argv[1], int(sys.argv[2])

class FileResolver(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip('.').lower()
        with open(records_file) as f:
            records = json.load(f)
        if name not in records:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in records[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=1))
        return reply

logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
resolver = FileResolver()
for tcp in (False, True):
    DNSServer(resolver, address="127.0.0.1", port=port, tcp=tcp, logger=logger).start_thread()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

/// Whether dnslib is importable; panics in CI if not.
fn available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import dnslib"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok() {
            panic!("dnslib is missing in CI");
        }
        eprintln!("SKIPPED: dnslib is not installed; run scripts/test to install it");
    }
    ok
}

/// A running DNS server, killed on drop.
pub struct DnsPeer {
    child: Child,
    pub port: u16,
    records: PathBuf,
    _dir: tempfile::TempDir,
}

impl DnsPeer {
    /// `None` (SKIPPED) without dnslib.
    #[allow(clippy::disallowed_methods)] // waits for a process to answer, not for time to pass
    pub fn start() -> Option<DnsPeer> {
        if !available() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("records.json");
        std::fs::write(&records, "{}").unwrap();
        let script = dir.path().join("dns_server.py");
        std::fs::write(&script, SERVER).unwrap();
        // UDP and TCP on the same free port.
        let port = loop {
            let port = crate::smtp_peer::free_port();
            if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&records)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the DNS server did not start");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(DnsPeer {
            child,
            port,
            records,
            _dir: dir,
        })
    }

    /// `127.0.0.1:PORT`, for `dns.nameservers`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Publishes exactly these TXT records (name → values).
    pub fn set_txt(&self, records: &[(&str, &[&str])]) {
        let map: BTreeMap<&str, &[&str]> = records.iter().copied().collect();
        let tmp = self.records.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_string(&map).unwrap()).unwrap();
        std::fs::rename(&tmp, &self.records).unwrap();
    }
}

impl Drop for DnsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
