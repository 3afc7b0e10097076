//! The key that seals secrets at rest, and the start-up check that it is
//! the key this database's secrets were sealed with.
//!
//! A server with the wrong key, or none, refuses to start and names the key
//! file: silently continuing would lock every 2SV user out.

use crate::config::Config;
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::io::Write;
use std::sync::Arc;
use tessera_core::crypto::{CANARY_AAD, CANARY_PLAINTEXT, KEY_LEN, SecretBox};
use tessera_core::store::Store;
use tessera_core::{OsSecrets, SecretSource};

pub fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| "not valid base64".to_string())?;
    if bytes.len() != KEY_LEN {
        return Err(format!("must be {KEY_LEN} bytes, found {}", bytes.len()));
    }
    Ok(bytes)
}

/// The configured key, if there is one yet (from config, else the file).
pub fn load_key(cfg: &Config) -> anyhow::Result<Option<Vec<u8>>> {
    let path = cfg.secret_key_path();
    Ok(match &cfg.secret_key {
        Some(k) => Some(decode_key(k).map_err(anyhow::Error::msg)?),
        None if path.exists() => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the secret key file {}", path.display()))?;
            Some(
                decode_key(&text)
                    .map_err(|e| anyhow::anyhow!("secret key file {}: {e}", path.display()))?,
            )
        }
        None => None,
    })
}

/// Whether `key` opens the canary sealed in `store` (true for a database
/// that has none yet).
pub async fn key_fits(key: &[u8], store: &dyn Store) -> anyhow::Result<bool> {
    let sealer = SecretBox::new(key).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(match store.key_canary().await? {
        None => true,
        Some(c) => sealer
            .open(&c, CANARY_AAD)
            .is_ok_and(|p| p == CANARY_PLAINTEXT),
    })
}

/// Writes a key file readable only by its owner.
pub fn write_key_file(path: &std::path::Path, key: &[u8], replace: bool) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if replace {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write the secret key file {}", path.display()))?;
    writeln!(f, "{}", STANDARD.encode(key))?;
    f.sync_all()?;
    Ok(())
}

/// Loads the key (from config or file), creating it for a fresh database,
/// and proves it opens the database's canary.
pub async fn open_secret_box(cfg: &Config, store: &Arc<dyn Store>) -> anyhow::Result<SecretBox> {
    let path = cfg.secret_key_path();
    let where_from = if cfg.secret_key.is_some() {
        "TESSERA_SECRET_KEY / secret_key".to_string()
    } else {
        path.display().to_string()
    };
    let key = load_key(cfg)?;
    let canary = store.key_canary().await?;
    let key = match (key, canary.is_some()) {
        (Some(k), _) => k,
        (None, true) => bail!(
            "the secret key file {} is missing, but this database holds secrets sealed with a key; \
             restore the key file (or run `tessera restore` with the backup) instead of starting \
             without it, which would lock out every user with two-step verification",
            path.display()
        ),
        (None, false) => {
            if store.has_sealed_secrets().await? {
                bail!(
                    "this database holds sealed secrets but no key check; restore the secret key file {}",
                    path.display()
                );
            }
            create_key_file(&path)?
        }
    };
    let sealer = SecretBox::new(&key).map_err(|e| anyhow::anyhow!("{where_from}: {e}"))?;
    let stored = match canary {
        Some(c) => c,
        None => {
            let sealed = sealer.seal(&OsSecrets, CANARY_PLAINTEXT, CANARY_AAD);
            store.init_key_canary(&sealed).await?
        }
    };
    match sealer.open(&stored, CANARY_AAD) {
        Ok(p) if p == CANARY_PLAINTEXT => Ok(sealer),
        _ => bail!(
            "the secret key from {where_from} does not decrypt this database's secrets; use the key \
             that belongs to this database (restore it from the same backup) rather than starting, \
             which would lock out every user with two-step verification"
        ),
    }
}

fn create_key_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut key = vec![0u8; KEY_LEN];
    OsSecrets.fill(&mut key);
    write_key_file(path, &key, false)?;
    tracing::info!(path = %path.display(), "created a new secret key; back it up with the database");
    Ok(key)
}
