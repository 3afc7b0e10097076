//! Account enumeration: every request that takes an email address answers
//! for an address with an account exactly as for one without, and in the
//! same time. Against the real binary, as installed by default (mail on,
//! so sign-ins from unknown devices ask for an emailed code), with self
//! sign-up turned on.
//!
//! The requests that take an address: the API sign-in, the sign-in page,
//! HTTP Basic, sign-up, and an org-admin's invitation (whose answer and
//! time must not tell the admin whether the address has an account
//! anywhere on the server). Emailed codes are asked for only after a right
//! password (sign-in) or by a session (step-up), and step-up by password
//! takes no address: the requests above are where an address comes in.
//!
//! Every sample uses an address of its own, known or unknown, and comes
//! from a client address of its own (`X-Forwarded-For` from a trusted
//! proxy), so no sample meets the password throttle: each address sees
//! one wrong password per path, three in all, under the default tolerance
//! of five. How the throttle treats the two kinds is checked apart.

use crate::support::*;
use base64::Engine;
use std::time::{Duration, Instant};
use tessera_core::Timestamp;
use tessera_core::account::{Account, AccountKind, Role};
use tessera_core::email::Email;
use tessera_core::ids::AccountId;
use tessera_core::password::{Argon2Config, PasswordHasher};
use tessera_core::store::AccountStore;

/// Samples per path and kind, taken in pairs, known and unknown
/// alternating which goes first.
const SAMPLES: usize = 200;
/// Warm-up pairs per path, not counted.
const WARM_UP: usize = 10;
/// How far apart the two medians may be.
const LIMIT_MS: f64 = 5.0;
const WRONG: &str = "not the password, sorry";
const CSRF: &str = "enumeration-test-csrf-token-0123456789abcdef";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    ApiSignin,
    PageSignin,
    Basic,
    Signup,
    Invite,
}

const PATHS: [Path; 4] = [Path::ApiSignin, Path::PageSignin, Path::Basic, Path::Signup];

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::ApiSignin => "POST /api/v1/signin",
            Path::PageSignin => "POST /login",
            Path::Basic => "Basic on /api/v1/sessions",
            Path::Signup => "POST /api/v1/signup",
            Path::Invite => "POST …/organizations/{org}/invitations",
        }
    }
}

/// What a client sees of an answer: status, headers but `Date`, and the
/// body with the address it sent written as `<email>` (the sign-in page
/// fills its form in again).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: String,
}

struct Probe {
    http: reqwest::Client,
    base: String,
    next_client: u32,
    /// For invitations: a sysadmin's session token and the organization's
    /// invitations path.
    admin: Option<(String, String)>,
}

impl Probe {
    /// A client address of its own for each request.
    fn client_address(&mut self) -> String {
        self.next_client += 1;
        let n = self.next_client;
        format!("198.{}.{}.{}", 18 + (n >> 16), (n >> 8) & 255, n & 255)
    }

    /// One request on `path` for `email`, timed from send to the body's
    /// last byte.
    async fn send(&mut self, path: Path, email: &str) -> (Seen, Duration) {
        let url = |p: &str| format!("{}{p}", self.base);
        let req = match path {
            Path::ApiSignin => self
                .http
                .post(url("/api/v1/signin"))
                .json(&serde_json::json!({"email": email, "password": WRONG})),
            Path::PageSignin => self
                .http
                .post(url("/login"))
                .header("cookie", format!("tessera_csrf={CSRF}"))
                .form(&[("csrf", CSRF), ("email", email), ("password", WRONG)]),
            Path::Basic => {
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{email}:{WRONG}"));
                self.http
                    .get(url("/api/v1/sessions"))
                    .header("authorization", format!("Basic {pair}"))
            }
            Path::Signup => self.http.post(url("/api/v1/signup")).json(
                &serde_json::json!({"email": email, "password": "a long and unusual passphrase"}),
            ),
            Path::Invite => {
                let (token, invitations) = self.admin.as_ref().expect("no admin for invitations");
                self.http
                    .post(url(invitations))
                    .bearer_auth(token)
                    .json(&serde_json::json!({"email": email}))
            }
        }
        .header("x-forwarded-for", self.client_address());
        let start = Instant::now();
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let mut headers: Vec<(String, Vec<u8>)> = r
            .headers()
            .iter()
            .filter(|(k, _)| *k != "date")
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        let body = r.bytes().await.unwrap();
        let took = start.elapsed();
        headers.sort();
        let mut body = String::from_utf8_lossy(&body).replace(email, "<email>");
        if path == Path::Invite {
            // A new invitation's id and times are its own, whoever it is for.
            let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
            for field in ["id", "created_at", "expires_at"] {
                assert!(v[field].is_string(), "{body}");
                v[field] = "<varies>".into();
            }
            body = v.to_string();
        }
        (
            Seen {
                status,
                headers,
                body,
            },
            took,
        )
    }
}

/// The addresses of one round: `known` have accounts, `unknown` never
/// will, `fresh` are signed up with (all the same length).
fn known(round: usize, i: usize) -> String {
    format!("k{round}{i:04}@enum.example.com")
}
fn unknown(round: usize, i: usize) -> String {
    format!("u{round}{i:04}@enum.example.com")
}
fn fresh(round: usize, i: usize) -> String {
    format!("n{round}{i:04}@enum.example.com")
}

/// The address a sample of `path` sends: sign-up's unknown addresses must
/// be new each time (signing up creates them).
fn address(path: Path, is_known: bool, round: usize, i: usize) -> String {
    match (is_known, path) {
        (true, _) => known(round, i),
        (false, Path::Signup) => fresh(round, i),
        (false, _) => unknown(round, i),
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// One path's timings in one round, in milliseconds.
struct Timing {
    path: Path,
    known: Vec<f64>,
    unknown: Vec<f64>,
}

impl Timing {
    fn diff(&self) -> f64 {
        median(&self.known) - median(&self.unknown)
    }

    fn report(&self, round: usize) -> String {
        let paired: Vec<f64> = self
            .known
            .iter()
            .zip(&self.unknown)
            .map(|(k, u)| k - u)
            .collect();
        format!(
            "round {round}  {:<26} known {:7.2} ms  unknown {:7.2} ms  difference of medians {:+6.2} ms  median paired difference {:+6.2} ms  (n = {})",
            self.path.name(),
            median(&self.known),
            median(&self.unknown),
            self.diff(),
            median(&paired),
            self.known.len(),
        )
    }
}

/// Accounts for `rounds` rounds of known addresses, written straight into
/// the database before the server starts: one Argon2id hash of the
/// production parameters, shared (a wrong password costs the same against
/// any hash of the same parameters).
async fn seed_accounts(data_dir: &std::path::Path, rounds: usize) {
    let store = tessera_store::SqliteStore::open(&data_dir.join("tessera.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let hash = PasswordHasher::new(Argon2Config::default())
        .unwrap()
        .hash(&mut Vec::new(), PASSWORD.as_bytes(), &[7; 16])
        .unwrap();
    let accounts: Vec<Account> = (0..rounds)
        .flat_map(|round| (0..WARM_UP + SAMPLES).map(move |i| known(round, i)))
        .map(|email| Account {
            id: AccountId(uuid::Uuid::new_v4()),
            email: Email::parse(&email).unwrap(),
            display_name: String::new(),
            kind: AccountKind::Human,
            role: Role::Member,
            active: true,
            password_hash: Some(hash.clone()),
            created_at: Timestamp(1_800_000_000_000),
        })
        .collect();
    store.insert_accounts(&accounts).await.unwrap();
}

fn server(data_dir: &std::path::Path) -> Server {
    server_with(data_dir, vec![])
}

fn server_with(data_dir: &std::path::Path, extra: Vec<(String, String)>) -> Server {
    Server::start_with(Opts {
        data_dir: Some(data_dir.to_path_buf()),
        env: [
            vec![
                ("TESSERA_SIGNUP_ENABLED".into(), "true".into()),
                // The default install: mail on, so a sign-in from an unknown
                // device with the right password would be asked for a code.
                ("TESSERA_EMAIL__PROVIDER".into(), "file".into()),
                // The test client stands behind this proxy: each sample has
                // its own client address.
                (
                    "TESSERA_HTTP__TRUSTED_PROXIES".into(),
                    r#"["127.0.0.1/32"]"#.into(),
                ),
            ],
            extra,
        ]
        .concat(),
    })
}

/// One round over `paths`: the answers must match pair by pair; returns
/// the timings.
async fn round(probe: &mut Probe, paths: &[Path], round: usize) -> Vec<Timing> {
    let mut timings: Vec<Timing> = paths
        .iter()
        .map(|&path| Timing {
            path,
            known: Vec::new(),
            unknown: Vec::new(),
        })
        .collect();
    for i in 0..WARM_UP + SAMPLES {
        for t in &mut timings {
            let mut pair = Vec::new();
            // Alternate which kind goes first, so neither gains from
            // always following the other.
            for is_known in [i % 2 == 0, i % 2 == 1] {
                let email = address(t.path, is_known, round, i);
                let (seen, took) = probe.send(t.path, &email).await;
                pair.push((is_known, seen, took));
            }
            let (known_seen, unknown_seen) = if pair[0].0 {
                (&pair[0].1, &pair[1].1)
            } else {
                (&pair[1].1, &pair[0].1)
            };
            assert_eq!(
                known_seen,
                unknown_seen,
                "{}: a known and an unknown address are answered differently",
                t.path.name()
            );
            let expected = match t.path {
                Path::Signup => 202,
                Path::Invite => 201,
                _ => 401,
            };
            assert_eq!(
                known_seen.status,
                expected,
                "{}: {known_seen:?}",
                t.path.name()
            );
            if i >= WARM_UP {
                for (is_known, _, took) in pair {
                    let ms = took.as_secs_f64() * 1000.0;
                    if is_known {
                        t.known.push(ms);
                    } else {
                        t.unknown.push(ms);
                    }
                }
            }
        }
    }
    timings
}

/// Rounds over `paths` until each path's medians are within [`LIMIT_MS`]:
/// a path too far apart gets a second round on fresh addresses (a busy
/// machine can push one round off), which must pass. Prints the figures.
async fn measure(probe: &mut Probe, paths: &[Path]) {
    let first = round(probe, paths, 0).await;
    let mut lines: Vec<String> = first.iter().map(|t| t.report(0)).collect();
    let retry: Vec<Path> = first
        .iter()
        .filter(|t| t.diff().abs() >= LIMIT_MS)
        .map(|t| t.path)
        .collect();
    let mut failed = Vec::new();
    if !retry.is_empty() {
        for t in round(probe, &retry, 1).await {
            lines.push(t.report(1));
            if t.diff().abs() >= LIMIT_MS {
                failed.push(t.path.name());
            }
        }
    }
    println!("enumeration timing (limit {LIMIT_MS} ms between medians):");
    for l in &lines {
        println!("  {l}");
    }
    assert!(
        failed.is_empty(),
        "known and unknown addresses are told apart by time on {failed:?}:\n{}",
        lines.join("\n")
    );
}

/// The same status and body (and headers) for a known and an unknown
/// address on every path, and timing medians within [`LIMIT_MS`].
#[tokio::test]
async fn known_and_unknown_addresses_get_the_same_answer_in_the_same_time() {
    let dir = tempfile::tempdir().unwrap();
    seed_accounts(dir.path(), 2).await;
    let s = server(dir.path());
    let mut probe = Probe {
        http: reqwest::Client::new(),
        base: s.base.clone(),
        next_client: 0,
        admin: None,
    };
    measure(&mut probe, &PATHS).await;
}

/// An org-admin inviting an address with an account, and one without:
/// the same answer (the invitation, mailed either way through the
/// outbox) in the same time.
#[tokio::test]
async fn known_and_unknown_addresses_are_invited_alike_in_the_same_time() {
    let dir = tempfile::tempdir().unwrap();
    seed_accounts(dir.path(), 2).await;
    // The sysadmin signs in by password alone: no emailed code to fetch.
    let s = server_with(
        dir.path(),
        vec![("TESSERA_EMAIL_CODE__AT_SIGNIN".into(), "off".into())],
    );
    s.create_user("root@acme.example", "sysadmin");
    let token = signin(&s, "root@acme.example", PASSWORD).await;
    let org: serde_json::Value = reqwest::Client::new()
        .post(s.url("/api/v1/admin/organizations"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invitations = format!(
        "/api/v1/admin/organizations/{}/invitations",
        org["id"].as_str().unwrap()
    );
    let mut probe = Probe {
        http: reqwest::Client::new(),
        base: s.base.clone(),
        next_client: 0,
        admin: Some((token, invitations)),
    };
    measure(&mut probe, &[Path::Invite]).await;
}

/// The password throttle blocks an address with an account exactly as one
/// without: the same answers, in the same order, with the same
/// `Retry-After`.
#[tokio::test]
async fn the_throttle_treats_known_and_unknown_addresses_alike() {
    let dir = tempfile::tempdir().unwrap();
    seed_accounts(dir.path(), 1).await;
    let s = server(dir.path());
    let http = reqwest::Client::new();
    let mut runs = Vec::new();
    for email in [known(0, 0), unknown(0, 0)] {
        let mut answers = Vec::new();
        // Five wrong passwords are tolerated; the sixth starts a block of
        // a second, which refuses the seventh unevaluated.
        for _ in 0..7 {
            let r = http
                .post(s.url("/api/v1/signin"))
                .header("x-forwarded-for", "198.51.100.7")
                .json(&serde_json::json!({"email": email, "password": WRONG}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            answers.push((status, retry_after, r.text().await.unwrap()));
        }
        runs.push(answers);
    }
    let statuses: Vec<u16> = runs[0].iter().map(|a| a.0).collect();
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 401, 429],
        "{:?}",
        runs[0]
    );
    assert_eq!(runs[0], runs[1], "the throttle tells the two apart");
}
