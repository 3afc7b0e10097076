//! Seeding accounts straight into the store: fast, and the same rows the
//! server would write.

pub mod oidc;

use crate::server::BENCH_KEY;
use base64::Engine;
use std::sync::Arc;
use tessera_core::account::{Account, AccountKind, Role};
use tessera_core::clock::Timestamp;
use tessera_core::crypto::SecretBox;
use tessera_core::email::Email;
use tessera_core::ids::AccountId;
use tessera_core::password::{Argon2Config, PasswordHasher};
use tessera_core::store::Store;
use tessera_core::twostep::totp::TotpSecret;

pub const PASSWORD: &str = "bench password 123";

pub fn user_email(i: usize) -> String {
    format!("user{i}@bench.test")
}

pub fn totp_email(i: usize) -> String {
    format!("totp{i}@bench.test")
}

/// The deterministic TOTP seed of `totp{i}`.
pub fn totp_secret(i: usize) -> TotpSecret {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&(i as u64).to_le_bytes());
    b[8..].copy_from_slice(b"tessera-benc");
    TotpSecret::from_bytes(b.to_vec())
}

fn password_hash() -> anyhow::Result<String> {
    let h = PasswordHasher::new(Argon2Config::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    h.hash(&mut Vec::new(), PASSWORD.as_bytes(), b"bench-salt-bytes")
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn account(id: uuid::Uuid, email: &str, hash: &str) -> anyhow::Result<Account> {
    Ok(Account {
        id: AccountId(id),
        email: Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?,
        display_name: String::new(),
        kind: AccountKind::Human,
        role: Role::Member,
        active: true,
        password_hash: Some(hash.to_string()),
        created_at: Timestamp(0),
    })
}

/// Inserts `n` password accounts, in batches of 10,000 per transaction.
pub async fn accounts(store: &Arc<dyn Store>, from: usize, n: usize) -> anyhow::Result<()> {
    let hash = password_hash()?;
    let mut i = from;
    while i < from + n {
        let end = (i + 10_000).min(from + n);
        let batch: Vec<Account> = (i..end)
            .map(|k| account(uuid::Uuid::new_v4(), &user_email(k), &hash))
            .collect::<anyhow::Result<_>>()?;
        store.insert_accounts(&batch).await?;
        i = end;
    }
    Ok(())
}

/// Inserts `n` accounts with an authenticator app each.
pub async fn totp_accounts(store: &Arc<dyn Store>, n: usize) -> anyhow::Result<()> {
    let hash = password_hash()?;
    let key = base64::engine::general_purpose::STANDARD.decode(BENCH_KEY)?;
    let sealer = SecretBox::new(&key).map_err(|e| anyhow::anyhow!("{e}"))?;
    let batch: Vec<Account> = (0..n)
        .map(|k| account(uuid::Uuid::new_v4(), &totp_email(k), &hash))
        .collect::<anyhow::Result<_>>()?;
    store.insert_accounts(&batch).await?;
    for (k, a) in batch.iter().enumerate() {
        let sealed = sealer.seal(
            &tessera_core::OsSecrets,
            totp_secret(k).as_bytes(),
            tessera_core::service::totp_aad(a).as_bytes(),
        );
        store.set_pending_totp(a.id, &sealed, Timestamp(0)).await?;
        // Two-step verification never turns on without a recovery key; the
        // seeded accounts get one nobody can use (the benchmarks sign in
        // with codes).
        if !store
            .activate_totp(a.id, &sealed, 0, Some(&hash), Timestamp(0))
            .await?
        {
            anyhow::bail!("seeding an authenticator app for {} failed", a.email);
        }
    }
    Ok(())
}

/// Gives the first `n` password accounts (`user{i}`) an API token each,
/// valid a year; returns the secrets.
pub async fn api_tokens(store: &Arc<dyn Store>, n: usize) -> anyhow::Result<Vec<String>> {
    use tessera_core::Clock;
    use tessera_core::apitoken::{ApiToken, ApiTokenId, generate};
    let now = tessera_core::SystemClock.now();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let email = Email::parse(&user_email(i)).map_err(|e| anyhow::anyhow!("{e}"))?;
        let account = store
            .account_by_email(&email)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no account {email}"))?;
        let token = generate(&tessera_core::OsSecrets);
        let record = ApiToken {
            id: ApiTokenId(uuid::Uuid::new_v4()),
            account_id: account.id,
            label: format!("bench {i}"),
            scopes: vec!["read".into(), "write".into()],
            created_by: None,
            created_at: now,
            expires_at: now.plus_secs(365 * 86_400),
            last_used_at: None,
            last_used_ip: None,
        };
        store
            .insert_api_token(&record, &tessera_core::secrets::token_hash(&token))
            .await?;
        out.push(token);
    }
    Ok(out)
}
