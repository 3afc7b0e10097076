//! Running checks under the backoff: claim a slot, evaluate, record. One
//! path for second steps and password guessing; the numbers come from
//! [`BackoffPolicy`], the store only counts.

use super::notify::Notice;
use super::{Core, Sysadmin};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::ids::AccountId;
use crate::password::throttle::{Budget, account_key, device_prefix};
use crate::store::Claim;
use crate::twostep::backoff::{BackoffPolicy, key_for};
use std::time::Duration;

/// What a locked key answers: an hour, the longest block, though only a
/// success elsewhere or an admin ends it.
const LOCKED_RETRY: Duration = Duration::from_secs(3600);

impl Core {
    /// Claims an evaluation slot on `key` (guarded by `guard`'s block), or
    /// the refusal to give without evaluating anything.
    pub(crate) async fn claim_slot(
        &self,
        key: &str,
        guard: Option<&str>,
        policy: &BackoffPolicy,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        let rule = policy.slot_rule();
        let retry_after = match self.store.limiter_claim(key, guard, now, rule).await? {
            Claim::Granted => return Ok(()),
            Claim::BlockedUntil(until) => {
                let ms = (until.millis() - now.millis()).max(1);
                Duration::from_millis(ms as u64).max(Duration::from_secs(1))
            }
            Claim::Busy => Duration::from_secs(1),
            Claim::Locked => LOCKED_RETRY,
        };
        Err(CoreError::RateLimited { retry_after })
    }

    /// Counts a failure on `key` and blocks it as `policy` says. Returns
    /// the consecutive failures. Releases the key's slot, if it holds one.
    pub(crate) async fn count_failure(
        &self,
        key: &str,
        policy: &BackoffPolicy,
    ) -> Result<u32, CoreError> {
        let failures = self.store.limiter_count_failure(key).await?;
        let until = policy
            .block_after(failures)
            .map(|d| self.clock.now().plus_millis(d.as_millis() as i64));
        self.store.limiter_settle(key, until).await?;
        Ok(failures)
    }

    /// Claims a password check's slot for `budget`.
    pub(crate) async fn claim_password_check(&self, budget: &Budget) -> Result<(), CoreError> {
        let policy = self.config.throttle.account;
        self.claim_slot(budget.claimed(), budget.guard(), &policy)
            .await
    }

    /// Records a wrong password against `budget`; at the ceiling, the
    /// account's owner (if there is one) is told and the lock audited.
    pub(crate) async fn password_failed(&self, budget: &Budget, account: Option<&Account>) {
        let policy = self.config.throttle.account;
        let counted = self.count_failure(budget.claimed(), &policy).await;
        if let Some(address) = budget.guard() {
            let address_policy = self.config.throttle.address;
            if let Err(e) = self.count_failure(address, &address_policy).await {
                tracing::warn!(error = %e, "could not count an address failure");
            }
        }
        match counted {
            Ok(n) if policy.ceiling == Some(n) => {
                if let Some(account) = account {
                    self.audit(
                        NewAuditEvent::new(AuditKind::SigninLocked)
                            .subject(account.id)
                            .detail_json(serde_json::json!({
                                "failures": n,
                                "known_device": budget.is_known_device(),
                            })),
                    )
                    .await;
                    self.notify(account, Notice::SigninPaused).await;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not count a password failure"),
        }
    }

    /// A correct password outside a sign-in's commit (Basic, a sign-in
    /// that continues to its second step).
    pub(crate) async fn password_succeeded(&self, budget: &Budget) -> Result<(), CoreError> {
        self.store
            .limiter_success(budget.claimed(), budget.also_reset())
            .await?;
        Ok(())
    }

    /// Frees the slot of a check that could not run (nothing counted).
    pub(crate) async fn password_check_aborted(&self, budget: &Budget) {
        if let Err(e) = self.store.limiter_release(budget.claimed()).await {
            tracing::warn!(error = %e, "could not release a throttle slot");
        }
    }

    /// Lifts every guessing block and lock of an account: its untrusted
    /// password budget, its known devices' and its second-step backoff.
    /// Returns how many counters had failures.
    pub async fn clear_throttle(
        &self,
        admin: &Sysadmin,
        target: AccountId,
        ctx: &super::RequestContext,
    ) -> Result<u64, CoreError> {
        let Some(account) = self.store.account_by_id(target).await? else {
            return Err(CoreError::NotFound("user"));
        };
        let keys = [account_key(account.email.as_str()), key_for(account.id)];
        let cleared = self
            .store
            .limiter_clear(&keys, Some(&device_prefix(account.id)))
            .await?;
        self.audit(
            NewAuditEvent::new(AuditKind::ThrottleCleared)
                .actor_opt(admin.actor())
                .subject(account.id)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({ "counters": cleared })),
        )
        .await;
        Ok(cleared)
    }
}
