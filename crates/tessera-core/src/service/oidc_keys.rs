//! The provider's signing keys as use cases: the keys to publish (rotating
//! them first when the schedule says so), signing with the active key, and
//! rotation by an operator. The rules are in [`crate::oidc::keys`].

use super::{Core, RequestContext, Sysadmin};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::oidc::keys::{SigningAlg, SigningKeyRecord, generate, plan};
use crate::oidc::verify::{Rejected, VerifyingKey, verify};
use crate::store::Effects;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a read of the keys serves the token endpoints.
pub const KEY_CACHE_MILLIS: i64 = 1000;

/// The last read of the published keys: when (real time and injected
/// clock), and what.
#[derive(Default)]
pub struct KeyCache {
    last: Mutex<Option<LastRead>>,
}

/// The published keys as read, and the same keys ready for checking
/// signatures.
pub struct PublishedKeys {
    pub records: Vec<SigningKeyRecord>,
    pub verifying: Vec<VerifyingKey>,
}

/// When the keys were read (real time, injected clock), and what came back.
type LastRead = (Instant, Timestamp, Arc<PublishedKeys>);

impl KeyCache {
    fn get(&self, now: Timestamp) -> Option<Arc<PublishedKeys>> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let (read, at, keys) = last.as_ref()?;
        let age = now.millis() - at.millis();
        let fresh = read.elapsed() < Duration::from_millis(KEY_CACHE_MILLIS as u64)
            && (0..KEY_CACHE_MILLIS).contains(&age);
        fresh.then(|| keys.clone())
    }

    fn put(&self, now: Timestamp, keys: Arc<PublishedKeys>) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), now, keys));
    }

    fn clear(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Why keys were rotated, for the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Schedule,
    Operator,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::Schedule => "schedule",
            Why::Operator => "operator",
        }
    }
}

impl Core {
    /// The keys as they should be now: rotated if due, the expired ones
    /// deleted. Returns the published keys, newest first. Reading costs
    /// one small query; writing happens once per rotation period (several
    /// nodes may race; the store lets one rotation win).
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, CoreError> {
        let now = self.clock.now();
        let mut keys = self.store.signing_keys().await?;
        let mut todo = plan(&keys, now, &self.config.oidc);
        if todo.rotate {
            self.rotate_keys(
                &todo.active,
                Why::Schedule,
                None,
                &RequestContext::default(),
            )
            .await?;
            keys = self.store.signing_keys().await?;
            todo = plan(&keys, now, &self.config.oidc);
        }
        if let Some(cutoff) = todo.prune_before {
            self.store
                .delete_signing_keys_retired_before(cutoff)
                .await?;
        }
        keys.retain(|k| k.is_published(now, &self.config.oidc));
        Ok(keys)
    }

    /// The published keys for signing and checking tokens: as
    /// [`Core::signing_keys`], remembered for a moment so the token
    /// endpoints do not read the keys table on every request. The copy
    /// serves only while both the real time and the injected clock are
    /// within [`KEY_CACHE_MILLIS`] of the read (a moved clock reads again,
    /// so a rotation falls due on time). A key another node rotated in
    /// meanwhile is not missed: [`Core::verify_own`] reads again when a
    /// token names a key the copy lacks, and the key this node signs with
    /// stays published after a rotation.
    pub async fn signing_keys_cached(&self) -> Result<Arc<PublishedKeys>, CoreError> {
        let now = self.clock.now();
        if let Some(keys) = self.key_cache.get(now) {
            return Ok(keys);
        }
        let records = self.signing_keys().await?;
        let keys = Arc::new(PublishedKeys {
            verifying: VerifyingKey::of(&records),
            records,
        });
        self.key_cache.put(now, keys.clone());
        Ok(keys)
    }

    /// Checks a token this server signed (see [`crate::oidc::verify`]),
    /// reading the keys again once if it names one the cached copy lacks.
    pub async fn verify_own<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ: Option<&str>,
        allow_expired: bool,
    ) -> Result<Result<T, Rejected>, CoreError> {
        let now = self.clock.now();
        let issuer = self.issuer();
        let keys = self.signing_keys_cached().await?;
        match verify(token, &keys.verifying, &issuer, typ, now, allow_expired) {
            Err(Rejected::UnknownKey) => {
                self.key_cache.clear();
                let keys = self.signing_keys_cached().await?;
                Ok(verify(
                    token,
                    &keys.verifying,
                    &issuer,
                    typ,
                    now,
                    allow_expired,
                ))
            }
            other => Ok(other),
        }
    }

    /// Signs `claims` as a JWT with the active key of `alg`.
    pub async fn sign_jwt<T: serde::Serialize>(
        &self,
        alg: SigningAlg,
        claims: &T,
    ) -> Result<String, CoreError> {
        self.sign_jwt_typed(alg, None, claims).await
    }

    /// As [`Core::sign_jwt`] with a `typ` header of its own.
    pub async fn sign_jwt_typed<T: serde::Serialize>(
        &self,
        alg: SigningAlg,
        typ: Option<&str>,
        claims: &T,
    ) -> Result<String, CoreError> {
        let keys = self.signing_keys_cached().await?;
        let key = keys
            .records
            .iter()
            .find(|k| k.alg == alg && k.is_active())
            .ok_or_else(|| CoreError::Internal(format!("no active {alg} signing key")))?;
        key.sign_typed(&self.secret_box, typ, claims)
    }

    /// Replaces the active keys now, whatever their age (`tessera admin
    /// oidc-key rotate`). The retired ones stay published until the tokens
    /// they signed have expired. Returns the new keys' ids.
    pub async fn rotate_signing_keys(
        &self,
        admin: &Sysadmin,
        ctx: &RequestContext,
    ) -> Result<Vec<String>, CoreError> {
        // Retries once: a scheduled rotation on another node may come
        // between the read and the write.
        for _ in 0..2 {
            let active: Vec<String> = self
                .store
                .signing_keys()
                .await?
                .into_iter()
                .filter(|k| k.is_active())
                .map(|k| k.kid)
                .collect();
            if let Some(kids) = self
                .rotate_keys(&active, Why::Operator, admin.actor(), ctx)
                .await?
            {
                return Ok(kids);
            }
        }
        Err(CoreError::Conflict(
            "Another rotation is under way; try again.",
        ))
    }

    /// One rotation: `None` if another came first.
    async fn rotate_keys(
        &self,
        retire: &[String],
        why: Why,
        actor: Option<crate::ids::AccountId>,
        ctx: &RequestContext,
    ) -> Result<Option<Vec<String>>, CoreError> {
        let now = self.clock.now();
        let new = SigningAlg::ALL
            .iter()
            .map(|alg| generate(*alg, &self.secret_box, self.secrets.as_ref(), now))
            .collect::<Result<Vec<_>, _>>()?;
        let kids: Vec<String> = new.iter().map(|k| k.kid.clone()).collect();
        let effects = Effects::at(now).audit(
            NewAuditEvent::new(AuditKind::OidcKeysRotated)
                .actor_opt(actor)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({
                    "reason": why.as_str(),
                    "retired": retire,
                    "new": kids,
                })),
        );
        let done = self
            .store
            .rotate_signing_keys(retire, &new, now, &effects)
            .await?;
        if done {
            self.key_cache.clear();
            tracing::info!(reason = why.as_str(), new = ?kids, retired = ?retire, "OIDC signing keys rotated");
        }
        Ok(done.then_some(kids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_serves_only_while_both_clocks_are_close_to_it() {
        let c = KeyCache::default();
        let keys = Arc::new(PublishedKeys {
            records: Vec::new(),
            verifying: Vec::new(),
        });
        assert!(c.get(Timestamp(5_000)).is_none());
        c.put(Timestamp(5_000), keys.clone());
        assert!(c.get(Timestamp(5_000)).is_some());
        assert!(c.get(Timestamp(5_999)).is_some());
        // The injected clock moved on (or back): read again.
        assert!(c.get(Timestamp(6_000)).is_none());
        assert!(c.get(Timestamp(4_999)).is_none());
        c.clear();
        assert!(c.get(Timestamp(5_000)).is_none());
    }
}
