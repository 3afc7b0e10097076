//! Secrets at rest: seeds are sealed, a wrong or missing key stops the
//! server with a message naming the key file, and backups carry the key.

use crate::peers;
use crate::support::*;
use crate::twostep_peers::enroll;
use serde_json::{Value, json};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn seeds_are_sealed_and_the_key_must_match() {
    if !peers::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(Opts {
        data_dir: Some(dir.path().into()),
        ..Default::default()
    });
    s.create_user("seal@example.com", "member");
    let (_, secret, _) = enroll(&s.base, "seal@example.com").await;
    drop(s);

    // The database file never holds the seed in the clear.
    let raw_seed = base32_decode(&secret);
    let db = std::fs::read(dir.path().join("tessera.db")).unwrap();
    let wal = std::fs::read(dir.path().join("tessera.db-wal")).unwrap_or_default();
    for hay in [&db, &wal] {
        assert!(
            !contains(hay, secret.as_bytes()),
            "base32 seed found in the database"
        );
        assert!(!contains(hay, &raw_seed), "raw seed found in the database");
    }
    let key_file = dir.path().join("secret.key");
    let meta = std::fs::metadata(&key_file).unwrap();
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );

    // A wrong key: refuse, naming the key file.
    let good = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(&key_file, "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXkhISE=\n").unwrap();
    let out = cli_with(dir.path(), &[], &["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("secret.key") && err.contains("does not decrypt"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A missing key: refuse too, rather than start and lock users out.
    std::fs::remove_file(&key_file).unwrap();
    let out = cli_with(dir.path(), &[], &["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("secret.key") && err.contains("missing"),
        "{err}"
    );
    assert!(
        !key_file.exists(),
        "no new key may be made up for a database that has one"
    );

    // With the right key back, sign-in with a code works again.
    std::fs::write(&key_file, good).unwrap();
    let s = Server::start_with(Opts {
        data_dir: Some(dir.path().into()),
        ..Default::default()
    });
    let r: Value = reqwest::Client::new()
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "seal@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flow = r["flow_id"].as_str().unwrap();
    let done = reqwest::Client::new()
        .post(s.url(&format!("/api/v1/signin/{flow}/totp")))
        .json(&json!({"code": peers::oathtool(&secret, peers::now_secs() + 30)}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
}

#[tokio::test]
async fn backup_and_restore_carry_the_database_and_its_key() {
    if !peers::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(Opts {
        data_dir: Some(dir.path().into()),
        ..Default::default()
    });
    s.create_user("bk@example.com", "member");
    let (_, secret, _) = enroll(&s.base, "bk@example.com").await;
    let archive = dir.path().join("backup.tar");
    // Taken while the server runs.
    let out = s.cli(&["backup", "--out", archive.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr_of(&out));
    drop(s);

    let target = tempfile::tempdir().unwrap();
    let out = cli_with(
        target.path(),
        &[],
        &["restore", archive.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let again = cli_with(
        target.path(),
        &[],
        &["restore", archive.to_str().unwrap()],
        None,
    );
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing database is not overwritten without --force"
    );
    assert!(stderr_of(&again).contains("--force"));

    let s = Server::start_with(Opts {
        data_dir: Some(target.path().into()),
        ..Default::default()
    });
    let r: Value = reqwest::Client::new()
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "bk@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "second_step");
    let flow = r["flow_id"].as_str().unwrap();
    let done = reqwest::Client::new()
        .post(s.url(&format!("/api/v1/signin/{flow}/totp")))
        .json(&json!({"code": peers::oathtool(&secret, peers::now_secs() + 30)}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.status(),
        200,
        "restored seeds decrypt with the restored key"
    );

    // An archive without its key is refused with a clear message.
    let stripped = dir.path().join("nokey.tar");
    std::fs::copy(&archive, &stripped).unwrap();
    let st = std::process::Command::new("tar")
        .args(["--delete", "-f", stripped.to_str().unwrap(), "secret.key"])
        .status()
        .unwrap();
    assert!(st.success());
    let empty = tempfile::tempdir().unwrap();
    let out = cli_with(
        empty.path(),
        &[],
        &["restore", stripped.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("no key material"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        !empty.path().join("tessera.db").exists(),
        "nothing half-restored"
    );
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = alphabet.iter().position(|a| *a == c).unwrap() as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn postgres_backup_and_restore() {
    if !peers::available() {
        return;
    }
    let Some(url) = crate::postgres::scoped_url().await else {
        return;
    };
    let s = crate::postgres::pg_server(&url);
    s.create_user("pgbk@example.com", "member");
    let (_, secret, _) = enroll(&s.base, "pgbk@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("pg.tar");
    let out = s.cli(&["backup", "--out", archive.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr_of(&out));
    drop(s);

    // Lose the database, then restore it from the archive.
    let schema = url.rsplit("search_path%3D").next().unwrap().to_string();
    let base_url = std::env::var("TESSERA_TEST_POSTGRES_URL").unwrap();
    let admin = tessera_store::PgStore::connect(&base_url).await.unwrap();
    admin
        .execute_raw(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let out = cli_with(
        fresh.path(),
        &[("TESSERA_DATABASE_URL", &url)],
        &["restore", archive.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));

    // A node with the restored key file serves the restored accounts.
    let s = Server::start_with(Opts {
        data_dir: Some(fresh.path().into()),
        env: vec![("TESSERA_DATABASE_URL".into(), url.clone())],
    });
    let r: Value = reqwest::Client::new()
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "pgbk@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flow = r["flow_id"].as_str().unwrap();
    let done = reqwest::Client::new()
        .post(s.url(&format!("/api/v1/signin/{flow}/totp")))
        .json(&json!({"code": peers::oathtool(&secret, peers::now_secs() + 30)}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
}
