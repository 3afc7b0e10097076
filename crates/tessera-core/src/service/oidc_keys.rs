//! The provider's signing keys as use cases: the keys to publish (rotating
//! them first when the schedule says so), signing with the active key, and
//! rotation by an operator. The rules are in [`crate::oidc::keys`].

use super::{Core, RequestContext, Sysadmin};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::oidc::keys::{SigningAlg, SigningKeyRecord, generate, plan};
use crate::store::Effects;

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
        let keys = self.signing_keys().await?;
        let key = keys
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
            tracing::info!(reason = why.as_str(), new = ?kids, retired = ?retire, "OIDC signing keys rotated");
        }
        Ok(done.then_some(kids))
    }
}
