//! `tessera backup` and `tessera restore`: one archive holding the database
//! and the key that protects its secrets, because either alone is useless
//! (a database without its key locks every 2SV user out).
//!
//! Archive (tar): `manifest.json`, then `tessera.db` (SQLite, copied with
//! `VACUUM INTO`, consistent while the server runs) or `postgres.sql`
//! (`pg_dump` of the schema, one snapshot), then `secret.key`.

use crate::config::Config;
use crate::keys;
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tessera_core::store::Store;

const DB_SQLITE: &str = "tessera.db";
const DB_POSTGRES: &str = "postgres.sql";
const KEY: &str = "secret.key";
const MANIFEST: &str = "manifest.json";

fn is_postgres(cfg: &Config) -> bool {
    cfg.database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

pub async fn backup(cfg: Config, out: &Path) -> anyhow::Result<()> {
    let store = tessera_store::open(cfg.database_url.as_deref(), &cfg.data_dir).await?;
    let key = keys::load_key(&cfg)?.context(
        "there is no secret key yet (start the server once, or restore one) so there is nothing consistent to back up",
    )?;
    if !keys::key_fits(&key, store.as_ref()).await? {
        bail!(
            "the configured secret key does not decrypt this database's secrets; refusing to write a useless backup"
        );
    }
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (db_name, db_path) = if is_postgres(&cfg) {
        let url = cfg.database_url.clone().unwrap_or_default();
        let path = work.path().join(DB_POSTGRES);
        let schema = current_schema(&url).await?;
        let status = Command::new("pg_dump")
            .args([
                "--no-owner",
                "--no-privileges",
                "--schema",
                &schema,
                "--file",
            ])
            .arg(&path)
            .arg("--dbname")
            .arg(&url)
            .status()
            .context("cannot run pg_dump (install the PostgreSQL client)")?;
        if !status.success() {
            bail!("pg_dump failed ({status})");
        }
        (DB_POSTGRES, path)
    } else {
        let path = work.path().join(DB_SQLITE);
        let sqlite = tessera_store::SqliteStore::open(&cfg.data_dir.join("tessera.db")).await?;
        sqlite.backup_to(&path).await?;
        (DB_SQLITE, path)
    };
    let manifest = serde_json::json!({
        "format": "tessera-backup-1",
        "backend": store.backend(),
        "database": db_name,
        "created_at": tessera_core::Clock::now(&tessera_core::SystemClock).to_rfc3339(),
    });
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts
        .open(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let mut tar = tar::Builder::new(file);
    append_bytes(
        &mut tar,
        MANIFEST,
        serde_json::to_vec_pretty(&manifest)?.as_slice(),
    )?;
    tar.append_path_with_name(&db_path, db_name)?;
    append_bytes(
        &mut tar,
        KEY,
        format!("{}\n", STANDARD.encode(&key)).as_bytes(),
    )?;
    tar.into_inner()?.sync_all()?;
    println!(
        "backup written to {} ({} database and its secret key)",
        out.display(),
        store.backend()
    );
    Ok(())
}

fn append_bytes<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes)?;
    Ok(())
}

async fn current_schema(url: &str) -> anyhow::Result<String> {
    let pg = tessera_store::PgStore::connect(url).await?;
    Ok(pg.current_schema().await?)
}

pub async fn restore(cfg: Config, archive: &Path, force: bool) -> anyhow::Result<()> {
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut tar = tar::Archive::new(
        File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?,
    );
    let mut found: Vec<String> = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if ![MANIFEST, DB_SQLITE, DB_POSTGRES, KEY].contains(&name.as_str()) {
            bail!(
                "{} is not a tessera backup: unexpected member {name:?}",
                archive.display()
            );
        }
        entry.unpack(work.path().join(&name))?;
        found.push(name);
    }
    if !found.iter().any(|n| n == MANIFEST) {
        bail!(
            "{} is not a tessera backup (no manifest.json)",
            archive.display()
        );
    }
    if !found.iter().any(|n| n == KEY) {
        bail!(
            "{} holds no key material (secret.key): the two-step secrets in it could never be decrypted, \
             so it is not restored; use a complete backup",
            archive.display()
        );
    }
    let mut key_text = String::new();
    File::open(work.path().join(KEY))?.read_to_string(&mut key_text)?;
    let key = keys::decode_key(&key_text)
        .map_err(|e| anyhow::anyhow!("secret.key in the backup: {e}"))?;
    let key_path = cfg.secret_key_path();

    if found.iter().any(|n| n == DB_SQLITE) {
        if is_postgres(&cfg) {
            bail!("this backup holds a SQLite database but the configuration selects PostgreSQL");
        }
        let staged = work.path().join(DB_SQLITE);
        let check = tessera_store::SqliteStore::open(&staged).await?;
        if !keys::key_fits(&key, &check).await? {
            bail!(
                "the key in the backup does not decrypt the database in it; the backup is damaged"
            );
        }
        drop(check);
        let dest = cfg.data_dir.join("tessera.db");
        if dest.exists() && !force {
            bail!(
                "{} already exists; pass --force to replace it",
                dest.display()
            );
        }
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(PathBuf::from(format!("{}{suffix}", dest.display())));
        }
        std::fs::copy(&staged, &dest)
            .with_context(|| format!("cannot write {}", dest.display()))?;
    } else if found.iter().any(|n| n == DB_POSTGRES) {
        let Some(url) = cfg.database_url.clone().filter(|_| is_postgres(&cfg)) else {
            bail!(
                "this backup holds a PostgreSQL dump; set TESSERA_DATABASE_URL to the database to restore into"
            );
        };
        let pg = tessera_store::PgStore::connect(&url).await?;
        if pg.has_tables().await? && !force {
            bail!(
                "the target PostgreSQL schema is not empty; pass --force to restore into it anyway"
            );
        }
        let status = Command::new("psql")
            .args(["--quiet", "--set", "ON_ERROR_STOP=1", "--file"])
            .arg(work.path().join(DB_POSTGRES))
            .arg(&url)
            .status()
            .context("cannot run psql (install the PostgreSQL client)")?;
        if !status.success() {
            bail!("psql failed while restoring ({status})");
        }
        let store: Arc<dyn Store> = Arc::new(pg);
        if !keys::key_fits(&key, store.as_ref()).await? {
            bail!(
                "the key in the backup does not decrypt the restored database; the backup is damaged"
            );
        }
    } else {
        bail!("{} holds no database", archive.display());
    }
    if cfg.secret_key.is_some() {
        eprintln!(
            "note: TESSERA_SECRET_KEY is set and overrides the restored key file; make sure it holds the backup's key"
        );
    }
    keys::write_key_file(&key_path, &key, true)?;
    println!(
        "restored the database and its secret key ({})",
        key_path.display()
    );
    Ok(())
}
