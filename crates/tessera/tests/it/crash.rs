//! Crash safety: the real server runs a mixed write load (see
//! [`crate::crash_load`]) and is killed with SIGKILL at a random moment,
//! then restarted on the same data. Every write it acknowledged must be
//! there, and no half state may exist: no two-step verification without a
//! recovery key, no method or API token without its audit record, no
//! notification lost (each audited change has its mail, and the mail
//! queued before the kill is delivered after the restart, or waits out the
//! lease a killed worker held on it), no role change that left the old
//! sessions in.
//!
//! On SQLite and PostgreSQL, each round on a fresh data directory or
//! schema. `TESSERA_TEST_CRASH_ROUNDS` sets the rounds per database (3 by
//! default; `scripts/crashtest` runs 20) and `TESSERA_TEST_CRASH_SEED` the
//! seed of the first round, printed so a failing round can be replayed.
//! (`TESSERA_TEST_*`: the server ignores them; it refuses other unknown
//! `TESSERA_*` variables as settings.)

use crate::crash_db::Db;
use crate::crash_load::{Admin, Client, Fact, Journal, Known, Person, Rng, Shared, carry_on};
use crate::peers;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// People under load, each on their own account.
const PEOPLE: usize = 4;
/// Accounts whose role the admin changes.
const VICTIMS: [&str; 2] = ["victim0@example.com", "victim1@example.com"];
/// Every server of these tests shares this key, so a restart (and the
/// PostgreSQL rounds) read what the last one sealed.
const KEY: &str = "Y3Jhc2gtdGVzdC1rZXktY3Jhc2gtdGVzdC1rZXkhISE=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

pub(crate) fn rounds() -> u64 {
    std::env::var("TESSERA_TEST_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

pub(crate) fn first_seed() -> u64 {
    std::env::var("TESSERA_TEST_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| peers::now_secs() as u64 ^ u64::from(std::process::id()) << 20)
}

/// The settings every server of a round runs with: mail written to files
/// (delivered at once, read back for emailed step-up codes), no emailed
/// code at sign-in.
pub(crate) fn server_env(db_url: Option<&str>) -> Vec<(String, String)> {
    let mut env = vec![
        ("TESSERA_EMAIL__PROVIDER".to_string(), "file".to_string()),
        ("TESSERA_EMAIL_CODE__AT_SIGNIN".into(), "off".into()),
        ("TESSERA_SECRET_KEY".into(), KEY.into()),
    ];
    if let Some(url) = db_url {
        env.push(("TESSERA_DATABASE_URL".into(), url.into()));
    }
    env
}

pub(crate) fn start(dir: &Path, env: &[(String, String)]) -> Server {
    Server::start_with(Opts {
        data_dir: Some(dir.to_path_buf()),
        env: env.to_vec(),
    })
}

fn kill9(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

/// What a backend's rounds saw, for the report.
#[derive(Default)]
struct Tally {
    rounds: u64,
    acked: BTreeMap<&'static str, usize>,
    killed_in: BTreeMap<&'static str, usize>,
    kill_ms: Vec<u64>,
    leased_at_kill: u64,
    delivered_after_restart: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_keeps_every_acknowledged_write_on_sqlite() {
    crash_rounds(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_keeps_every_acknowledged_write_on_postgres() {
    crash_rounds(Backend::Postgres).await;
}

async fn crash_rounds(backend: Backend) {
    if !peers::available() {
        return;
    }
    if backend == Backend::Postgres && std::env::var("TESSERA_TEST_POSTGRES_URL").is_err() {
        eprintln!("SKIPPED: TESSERA_TEST_POSTGRES_URL is not set");
        return;
    }
    let seed = first_seed();
    let mut tally = Tally::default();
    for n in 0..rounds() {
        let round_seed = seed.wrapping_add(n.wrapping_mul(7919));
        eprintln!("crash round {n} on {backend:?}, seed {round_seed}");
        one_round(backend, round_seed, &mut tally).await;
        tally.rounds += 1;
    }
    let mut kills = tally.kill_ms.clone();
    kills.sort_unstable();
    eprintln!(
        "CRASH {backend:?}: {} rounds; kill after {:?} ms; {} acknowledged writes \
         verified after restart {:?}; requests in flight at the kill {:?}; mail \
         leased by the killed worker (delayed by the lease) {}, delivered after \
         restart {}",
        tally.rounds,
        kills,
        tally.acked.values().sum::<usize>(),
        tally.acked,
        tally.killed_in,
        tally.leased_at_kill,
        tally.delivered_after_restart
    );
}

async fn one_round(backend: Backend, seed: u64, tally: &mut Tally) {
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => crate::postgres::scoped_url().await,
    };
    let env = server_env(url.as_deref());
    let server = start(dir.path(), &env);
    server.create_user("admin@example.com", "sysadmin");
    for i in 0..PEOPLE {
        server.create_user(&format!("person{i}@example.com"), "member");
    }
    for v in VICTIMS {
        server.create_user(v, "member");
    }
    let journal: Shared = Arc::new(Mutex::new(Journal::default()));
    let client = Client::new(
        &server.base,
        &server.origin,
        dir.path().join("mail"),
        Duration::from_secs(60),
    );

    // Set-up, before the clock of the kill starts: every actor signs in
    // and steps up; each victim holds a session a role change must end.
    let mut admin = Admin {
        p: Person::new(
            client.clone(),
            "admin@example.com",
            PASSWORD,
            journal.clone(),
            Rng::new(rng.next()),
        ),
        victims: Vec::new(),
    };
    admin
        .setup(&VICTIMS)
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let mut people = Vec::new();
    for i in 0..PEOPLE {
        let mut p = Person::new(
            client.clone(),
            &format!("person{i}@example.com"),
            PASSWORD,
            journal.clone(),
            Rng::new(rng.next()),
        );
        p.setup().await.map_err(|e| format!("{e:?}")).unwrap();
        people.push(p);
    }
    for v in VICTIMS {
        signin(&server, v, PASSWORD).await;
    }

    // The load, and the kill at a random moment of it.
    let mut tasks = Vec::new();
    for mut p in people {
        let j = journal.clone();
        tasks.push(tokio::spawn(async move {
            let who = p.known.email.clone();
            while carry_on(&j, &who, p.step().await) {}
        }));
    }
    {
        let j = journal.clone();
        tasks.push(tokio::spawn(async move {
            while carry_on(&j, "admin", admin.step().await) {}
        }));
    }
    let kill_after = rng.range(300, 3000);
    tokio::time::sleep(Duration::from_millis(kill_after)).await;
    kill9(server.pid());
    let killed_at = peers::now_secs() * 1000;
    for t in tasks {
        t.await.unwrap();
    }
    drop(server);
    tally.kill_ms.push(kill_after);
    {
        let j = journal.lock().unwrap();
        assert!(
            j.unexpected.is_empty(),
            "unexpected answers: {:#?}",
            j.unexpected
        );
        for (op, n) in &j.acked {
            *tally.acked.entry(op).or_default() += n;
        }
        for e in j.actors.values() {
            if let Some((op, _)) = &e.in_flight {
                *tally.killed_in.entry(op).or_default() += 1;
            }
        }
    }

    // Restarted on the same data: queued mail goes out, and every
    // acknowledged write is there.
    let server = start(dir.path(), &env);
    let restarted_at = peers::now_secs() * 1000;
    let db = Db::open(dir.path(), url.as_deref()).await;
    let (leased, delivered) = drain_outbox(&db, restarted_at).await;
    tally.leased_at_kill += leased;
    tally.delivered_after_restart += delivered;
    let actors = journal.lock().unwrap().actors.clone();
    for (who, entry) in &actors {
        check_actor(&server, &db, who, entry).await;
    }
    let status = server.terminate();
    assert!(status.success(), "the restarted server stops cleanly");
    check_invariants(&db, dir.path(), killed_at).await;
    db.close().await;
    if let Some(url) = url {
        crate::crash_db::drop_schema(&url).await;
    }
}

/// Waits until every message queued before the restart is delivered,
/// except those a killed worker had leased: they wait out the lease (one
/// minute) and must still hold their body. Returns (leased, delivered).
async fn drain_outbox(db: &Db, restarted_at: i64) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting = db
            .rows(&format!(
                "SELECT CAST(id AS TEXT), CAST(attempts AS TEXT), CAST(next_attempt_at AS TEXT), body \
                 FROM outbox WHERE delivered_at IS NULL AND created_at < {restarted_at}"
            ))
            .await;
        let (leased, due): (Vec<_>, Vec<_>) = waiting
            .iter()
            .partition(|r| r[2].parse::<i64>().unwrap() > restarted_at);
        for l in &leased {
            assert!(
                l[1] != "0" && !l[3].is_empty(),
                "a message waiting past the restart must be one a killed worker leased, body intact: {l:?}"
            );
        }
        if due.is_empty() {
            let delivered = db
                .count(&format!(
                    "SELECT COUNT(*) FROM outbox WHERE delivered_at >= {restarted_at}"
                ))
                .await;
            return (leased.len() as u64, delivered);
        }
        assert!(
            Instant::now() < deadline,
            "queued mail not delivered after the restart: {due:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every acknowledged write of one actor, as far as the request in flight
/// at the kill leaves it known.
pub(crate) async fn check_actor(s: &Server, db: &Db, who: &str, e: &crate::crash_load::Entry) {
    let k: &Known = &e.known;
    let api = reqwest::Client::new();
    let whoami = |token: String| {
        let api = api.clone();
        let url = s.url("/api/v1/session");
        async move {
            api.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let ctx = format!("{who} (in flight at the kill: {:?})", e.in_flight);
    if let (true, Some(t)) = (e.knows(Fact::Session), &k.session) {
        assert_eq!(
            whoami(t.clone()).await,
            200,
            "acknowledged session lost: {ctx}"
        );
    }
    if e.knows(Fact::Tokens) {
        for (id, secret) in &k.tokens {
            assert_eq!(
                whoami(secret.clone()).await,
                200,
                "API token {id} lost: {ctx}"
            );
        }
        for id in &k.revoked {
            let n = db
                .count(&format!(
                    "SELECT COUNT(*) FROM api_tokens WHERE id = '{id}'"
                ))
                .await;
            assert_eq!(n, 0, "revoked token {id} is back: {ctx}");
        }
    }
    let account = format!("(SELECT id FROM accounts WHERE email = '{}')", k.email);
    if e.knows(Fact::Keys) {
        let stored: std::collections::BTreeSet<String> = db
            .rows(&format!(
                "SELECT id FROM webauthn_credentials WHERE account_id = {account}"
            ))
            .await
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        assert_eq!(stored, k.keys, "security keys: {ctx}");
    }
    if e.knows(Fact::Totp) {
        let n = db
            .count(&format!(
                "SELECT COUNT(*) FROM totp_credentials WHERE account_id = {account}"
            ))
            .await;
        assert_eq!(n > 0, k.totp, "authenticator app: {ctx}");
    }
    if e.knows(Fact::Role) {
        for (victim, role) in &k.roles {
            let got = db
                .rows(&format!(
                    "SELECT role FROM accounts WHERE email = '{victim}'"
                ))
                .await;
            assert_eq!(&got[0][0], role, "role of {victim}: {ctx}");
        }
    }
    for victim in &k.role_changed {
        // Sessions minted under the old role end with the change.
        let n = db
            .count(&format!(
                "SELECT COUNT(*) FROM sessions WHERE account_id = \
                 (SELECT id FROM accounts WHERE email = '{victim}')"
            ))
            .await;
        assert_eq!(
            n, 0,
            "{victim}'s role changed but its sessions live on: {ctx}"
        );
    }
    if e.knows(Fact::ServiceAccounts) {
        for id in &k.services {
            let n = db
                .count(&format!(
                    "SELECT COUNT(*) FROM accounts WHERE id = '{id}' AND kind = 'service'"
                ))
                .await;
            assert_eq!(n, 1, "service account {id} lost: {ctx}");
        }
        for id in &k.deleted {
            let n = db
                .count(&format!("SELECT COUNT(*) FROM accounts WHERE id = '{id}'"))
                .await;
            assert_eq!(n, 0, "deleted service account {id} is back: {ctx}");
        }
        for id in &k.converted {
            let n = db
                .count(&format!(
                    "SELECT COUNT(*) FROM accounts WHERE id = '{id}' AND kind = 'service' \
                     AND password_hash IS NULL"
                ))
                .await;
            assert_eq!(n, 1, "converted account {id} is half converted: {ctx}");
        }
    }
    if !e.knows(Fact::Password) {
        return;
    }
    let r: Value = api
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": k.email, "password": k.password, "client": "mobile"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        r["status"] == "complete" || r["status"] == "second_step",
        "acknowledged password refused: {ctx}: {r}"
    );
    // The latest recovery key works (and is used up by this check).
    if let (true, Some(key), Some(flow)) =
        (e.knows(Fact::Recovery), &k.recovery, r["flow_id"].as_str())
    {
        let r = api
            .post(s.url(&format!("/api/v1/signin/{flow}/recovery_key")))
            .json(&json!({"recovery_key": key}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged recovery key refused: {ctx}");
    }
}

/// The notice each audited change mails, by audit kind.
const NOTICES: [(&str, &str); 7] = [
    ("two_step.enabled", "Two-step verification is now on"),
    ("two_step.method_added", "A verification method was added"),
    (
        "two_step.method_removed",
        "A verification method was removed",
    ),
    ("two_step.app_changed", "Your authenticator app was changed"),
    (
        "two_step.recovery_key_created",
        "You created a new emergency recovery key",
    ),
    (
        "two_step.recovery_key_used",
        "Your emergency recovery key was used",
    ),
    ("two_step.disabled", "Two-step verification is now off"),
];

/// No half state anywhere in the database.
pub(crate) async fn check_invariants(db: &Db, dir: &Path, killed_at: i64) {
    let bare = db
        .rows(
            "SELECT a.email FROM accounts a WHERE (\
               EXISTS (SELECT 1 FROM totp_credentials t WHERE t.account_id = a.id) \
               OR EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.account_id = a.id) \
               OR EXISTS (SELECT 1 FROM sms_phones p WHERE p.account_id = a.id)) \
             AND NOT EXISTS (SELECT 1 FROM recovery_keys r WHERE r.account_id = a.id)",
        )
        .await;
    assert!(
        bare.is_empty(),
        "two-step verification on without a recovery key: {bare:?}"
    );

    let keys = db
        .rows(
            "SELECT w.id FROM webauthn_credentials w WHERE NOT EXISTS (\
               SELECT 1 FROM audit_events e WHERE e.subject_id = w.account_id \
               AND e.kind IN ('two_step.enabled', 'two_step.method_added') \
               AND e.detail LIKE '%' || w.id || '%')",
        )
        .await;
    assert!(
        keys.is_empty(),
        "security keys without their audit record: {keys:?}"
    );
    let apps = db
        .rows(
            "SELECT t.account_id FROM totp_credentials t WHERE NOT EXISTS (\
               SELECT 1 FROM audit_events e WHERE e.subject_id = t.account_id \
               AND e.kind IN ('two_step.enabled', 'two_step.app_changed') \
               AND e.at >= t.created_at)",
        )
        .await;
    assert!(
        apps.is_empty(),
        "authenticator apps without their audit record: {apps:?}"
    );
    let tokens = db
        .rows(
            "SELECT t.id FROM api_tokens t WHERE NOT EXISTS (\
               SELECT 1 FROM audit_events e WHERE e.kind = 'api_token.created' \
               AND e.detail LIKE '%' || t.id || '%')",
        )
        .await;
    assert!(
        tokens.is_empty(),
        "API tokens without their audit record: {tokens:?}"
    );

    // Each audited change that tells its owner has its mail, and no mail
    // exists without its change: one commit for both.
    let kinds: Vec<String> = NOTICES.iter().map(|(k, _)| format!("'{k}'")).collect();
    let audited = db
        .rows(&format!(
            "SELECT a.email, e.kind, CAST(COUNT(*) AS TEXT) FROM audit_events e \
             JOIN accounts a ON a.id = e.subject_id WHERE e.kind IN ({}) \
             GROUP BY a.email, e.kind",
            kinds.join(", ")
        ))
        .await;
    let mailed = db
        .rows(
            "SELECT recipient, subject, CAST(COUNT(*) AS TEXT) FROM outbox \
             WHERE channel = 'email' GROUP BY recipient, subject",
        )
        .await;
    let mut want: BTreeMap<(String, String), String> = BTreeMap::new();
    for r in &audited {
        let subject = NOTICES.iter().find(|(k, _)| *k == r[1]).unwrap().1;
        want.insert((r[0].clone(), subject.to_string()), r[2].clone());
    }
    let got: BTreeMap<(String, String), String> = mailed
        .iter()
        .filter(|r| NOTICES.iter().any(|(_, s)| *s == r[1]))
        .map(|r| ((r[0].clone(), r[1].clone()), r[2].clone()))
        .collect();
    assert_eq!(
        got, want,
        "notices mailed (left) against changes audited (right)"
    );

    // Delivered mail is in its file; nothing queued before the kill was
    // dropped without delivery.
    let files: Vec<String> = std::fs::read_dir(dir.join("mail"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let delivered = db
        .rows("SELECT CAST(id AS TEXT) FROM outbox WHERE channel = 'email' AND delivered_at IS NOT NULL")
        .await;
    for r in &delivered {
        let suffix = format!("-{}.eml", r[0]);
        assert!(
            files.iter().any(|f| f.ends_with(&suffix)),
            "mail {} marked delivered but not written",
            r[0]
        );
    }
    let abandoned = db
        .count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE created_at < {killed_at} \
             AND delivered_at IS NULL AND body = ''"
        ))
        .await;
    assert_eq!(abandoned, 0, "mail lost with the kill");
}
