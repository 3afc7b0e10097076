//! Text messages through the real binary: `tessera serve` runs the outbox
//! worker with the configured provider, and bad SMS settings stop it.

use crate::support::*;
use base64::Engine;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_core::crypto::SecretBox;
use tessera_core::outbox::seal_sms_body;
use tessera_core::store::OutboxStore;
use tessera_core::{Clock, OsSecrets, SystemClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Queues a text message in the server's SQLite outbox, sealed with its key,
/// as the server does when it texts a code.
async fn queue_in(data_dir: &Path, to: &str, text: &str) -> tessera_store::SqliteStore {
    let key = std::fs::read_to_string(data_dir.join("secret.key")).unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .unwrap();
    let sealer = SecretBox::new(&key).unwrap();
    let store = tessera_store::SqliteStore::open(&data_dir.join("tessera.db"))
        .await
        .unwrap();
    let body = seal_sms_body(&sealer, &OsSecrets, to, text);
    store
        .enqueue("sms", to, "", &body, SystemClock.now())
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn serve_writes_text_messages_to_the_development_file() {
    let server = Server::start();
    let store = queue_in(&server.data_dir, "+15550300", "Your code is 424242").await;
    let log = server.data_dir.join("sms.log");
    let start = Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.ends_with('\n')) {
        assert!(start.elapsed() < Duration::from_secs(15), "no sms.log line");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["to"], "+15550300");
    assert_eq!(line["text"], "Your code is 424242");
    let mode = std::fs::metadata(&log).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let start = Instant::now();
    loop {
        let m = store.outbox_for("+15550300").await.unwrap().remove(0);
        if m.delivered_at.is_some() {
            assert_eq!(m.body, "");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not marked delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.terminate().success(),
        "stops cleanly with the worker"
    );
}

/// A bare HTTP/1.1 endpoint that answers 200 and keeps each request.
pub(crate) async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        keep.lock().unwrap().push(text);
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        buf.clear();
                    }
                }
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn serve_posts_text_messages_to_the_configured_webhook() {
    let (url, seen) = receiver().await;
    let server = Server::start_with(Opts {
        env: vec![
            ("TESSERA_SMS__PROVIDER".into(), "webhook".into()),
            ("TESSERA_SMS__WEBHOOK_URL".into(), url),
            (
                "TESSERA_SMS__WEBHOOK_AUTH_HEADER".into(),
                "X-Api-Key: k-123".into(),
            ),
            (
                "TESSERA_SMS__WEBHOOK_BODY".into(),
                r#"{"number":"{to}","message":"{text}"}"#.into(),
            ),
        ],
        ..Opts::default()
    });
    queue_in(&server.data_dir, "+15550301", "Code \"9\"").await;
    let start = Instant::now();
    while seen.lock().unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "webhook not called"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let request = seen.lock().unwrap()[0].clone();
    assert!(request.starts_with("POST /sms HTTP/1.1"), "{request}");
    let lower = request.to_ascii_lowercase();
    assert!(lower.contains("x-api-key: k-123"), "{request}");
    assert!(
        lower.contains("idempotency-key: tessera-outbox-"),
        "{request}"
    );
    assert!(
        request.ends_with(r#"{"message":"Code \"9\"","number":"+15550301"}"#)
            || request.ends_with(r#"{"number":"+15550301","message":"Code \"9\""}"#),
        "{request}"
    );
    assert!(server.terminate().success());
}

#[test]
fn bad_sms_settings_stop_the_program_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (env, needle) in [
        (
            vec![("TESSERA_SMS__PROVIDER", "webhook")],
            "sms.webhook_url",
        ),
        (
            vec![
                ("TESSERA_SMS__PROVIDER", "webhook"),
                ("TESSERA_SMS__WEBHOOK_URL", "https://sms.example.com/"),
                ("TESSERA_SMS__WEBHOOK_BODY", "text={text}"),
            ],
            "sms.webhook_body",
        ),
    ] {
        for args in [
            &["config", "check"][..],
            &["serve", "--listen", "127.0.0.1:0"][..],
        ] {
            let out = cli_with(dir.path(), &env, args, None);
            assert!(!out.status.success(), "{args:?} {env:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }
    let out = cli_with(dir.path(), &[], &["config", "check"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sms = file "), "{text}");
}

/// A child process killed when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TLS webhook receiver for `localhost`: Python's HTTP server behind a
/// certificate from a private CA made by the `openssl` command. Returns the
/// process, its URL, the CA's certificate and the file requests go to.
fn tls_receiver(dir: &Path) -> Option<(Killed, String, std::path::PathBuf, std::path::PathBuf)> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    // A private CA and a `localhost` certificate it signed.
    let ca = dir.join("ca.pem");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let ext = dir.join("leaf.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let made = openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                "/CN=Tessera Test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    ) && openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat(),
    ) && openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    if !made {
        return None;
    }
    let seen = dir.join("seen.jsonl");
    let script = r#"
import http.server, ssl, sys, json
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('content-length', 0)))
        with open(sys.argv[3], 'a') as f:
            f.write(json.dumps({'path': self.path, 'body': json.loads(body)}) + '\n')
        self.send_response(200)
        self.send_header('content-length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = Killed(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&cert)
            .arg(&key)
            .arg(&seen)
            .stdout(Stdio::piped())
            .spawn()
            .ok()?,
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let port: u16 = line.trim().parse().ok()?;
    Some((child, format!("https://localhost:{port}/sms"), ca, seen))
}

#[tokio::test]
async fn serve_posts_over_https_only_to_a_trusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_receiver, url, ca, seen)) = tls_receiver(dir.path()) else {
        eprintln!("SKIPPED: needs the openssl and python3 commands for a TLS receiver");
        return;
    };
    let webhook = |trust: Option<&Path>| {
        let mut env = vec![
            ("TESSERA_SMS__PROVIDER".to_string(), "webhook".to_string()),
            ("TESSERA_SMS__WEBHOOK_URL".to_string(), url.clone()),
        ];
        if let Some(t) = trust {
            env.push(("SSL_CERT_FILE".into(), t.display().to_string()));
        }
        Server::start_with(Opts {
            env,
            ..Opts::default()
        })
    };

    // The system's trust store does not know the private CA.
    let untrusting = webhook(None);
    let store = queue_in(&untrusting.data_dir, "+15550302", "Code 5").await;
    let start = Instant::now();
    let error = loop {
        let m = store.outbox_for("+15550302").await.unwrap().remove(0);
        if let Some(e) = m.last_error {
            break e;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no attempt made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert!(!seen.exists(), "nothing reached the receiver");
    assert!(untrusting.terminate().success());

    // Trusting it (as an operator would with SSL_CERT_FILE), it is delivered.
    let trusting = webhook(Some(&ca));
    queue_in(&trusting.data_dir, "+15550303", "Code 6").await;
    let start = Instant::now();
    while !std::fs::read_to_string(&seen).is_ok_and(|t| t.ends_with('\n')) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "not delivered over TLS"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&seen).unwrap().trim()).unwrap();
    assert_eq!(got["path"], "/sms");
    assert_eq!(got["body"]["to"], "+15550303");
    assert_eq!(got["body"]["text"], "Code 6");
    assert!(trusting.terminate().success());
}

/// The whole path through the real binary with its zero-config provider:
/// adding a phone texts a code to `<data_dir>/sms.log`, that code confirms
/// the phone, and a sign-in then texts a sign-in code that completes it.
#[tokio::test]
async fn serve_texts_real_codes_to_the_development_file_end_to_end() {
    use serde_json::{Value, json};
    let server = Server::start();
    server.create_user("texts@example.com", "member");
    let http = reqwest::Client::new();
    let log = server.data_dir.join("sms.log");
    // Waits for the n-th line of the log and returns the code it carries.
    let nth_code = |n: usize| {
        let log = log.clone();
        async move {
            let start = Instant::now();
            loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if let Some(line) = text.lines().nth(n) {
                    let v: Value = serde_json::from_str(line).unwrap();
                    assert_eq!(v["to"], "+447700900456");
                    return v["text"]
                        .as_str()
                        .unwrap()
                        .chars()
                        .take(6)
                        .collect::<String>();
                }
                assert!(
                    start.elapsed() < Duration::from_secs(15),
                    "no text message {n}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let r: Value = http
        .post(server.url("/api/v1/signin"))
        .json(&json!({"email": "texts@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = r["session_token"].as_str().unwrap().to_string();
    let r = http
        .post(server.url("/api/v1/me/two-step/sms"))
        .bearer_auth(&token)
        .json(&json!({"phone": "+44 7700 900456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let code = nth_code(0).await;
    let r = http
        .post(server.url("/api/v1/me/two-step/sms/confirm"))
        .bearer_auth(&token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r: Value = http
        .post(server.url("/api/v1/signin"))
        .json(&json!({"email": "texts@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["methods"], json!(["sms", "recovery_key"]));
    let flow = r["flow_id"].as_str().unwrap();
    let r = http
        .post(server.url(&format!("/api/v1/signin/{flow}/sms")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let code = nth_code(1).await;
    let r: Value = http
        .post(server.url(&format!("/api/v1/signin/{flow}/sms")))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "complete", "{r}");
    assert_eq!(r["session"]["methods"], json!(["password", "sms"]));
}
