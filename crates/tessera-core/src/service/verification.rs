//! Checking second-step proofs under the backoff: a request first claims
//! an evaluation slot in the database, then its proof is checked, then the
//! outcome is recorded. Blocked requests are not evaluated at all.
//!
//! The recovery key's single-use rule, and why its steps come in their
//! order, is documented in [`crate::twostep::recovery`]; the methods here
//! only do its I/O.

use super::Core;
use super::notify::Notice;
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::password::Password;
use crate::store::Effects;
use crate::twostep::backoff::{BackoffPolicy, key_for};
use crate::twostep::{recovery, totp::TotpSecret};
use std::future::Future;

/// What a right proof does to the backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnSuccess {
    /// Clear it now.
    Clear,
    /// Leave it to the caller's next commit.
    Deferred,
}

impl Core {
    /// Runs `check` only if the account's backoff allows it. `check`
    /// returns `Some` for a correct proof and `None` for a wrong one.
    pub(crate) async fn guarded<T, F>(&self, account: &Account, check: F) -> Result<T, CoreError>
    where
        F: Future<Output = Result<Option<T>, CoreError>>,
    {
        self.guarded_explained(account, async {
            Ok(check
                .await?
                .ok_or("That code is not correct. Check your authenticator app and try again."))
        })
        .await
    }

    /// Like [`Core::guarded`], for the recovery key, under
    /// [`recovery::attempts`]: blocks, but no ceiling.
    pub(crate) async fn guarded_recovery<T, F>(
        &self,
        account: &Account,
        check: F,
    ) -> Result<T, CoreError>
    where
        F: Future<Output = Result<Option<T>, CoreError>>,
    {
        let policy = recovery::attempts(self.config.two_step.backoff);
        self.guarded_by(account, &policy, OnSuccess::Clear, async {
            Ok(check.await?.ok_or("That recovery key is not correct."))
        })
        .await
    }

    /// Like [`Core::guarded`], for checks that say why a proof was wrong
    /// (`Err(message)`); each such answer counts as a failure.
    pub(crate) async fn guarded_explained<T, F>(
        &self,
        account: &Account,
        check: F,
    ) -> Result<T, CoreError>
    where
        F: Future<Output = Result<Result<T, &'static str>, CoreError>>,
    {
        let policy = self.config.two_step.backoff;
        self.guarded_by(account, &policy, OnSuccess::Clear, check)
            .await
    }

    /// Like [`Core::guarded`], but a right proof leaves its slot held and
    /// its failures counted: the caller clears them in the commit that
    /// follows (a sign-in's session), or with `limiter_success` if that
    /// commit does not happen.
    pub(crate) async fn guarded_deferred<T, F>(
        &self,
        account: &Account,
        check: F,
    ) -> Result<T, CoreError>
    where
        F: Future<Output = Result<Option<T>, CoreError>>,
    {
        let policy = self.config.two_step.backoff;
        self.guarded_by(account, &policy, OnSuccess::Deferred, async {
            Ok(check
                .await?
                .ok_or("That code is not correct. Check your authenticator app and try again."))
        })
        .await
    }

    async fn guarded_by<T, F>(
        &self,
        account: &Account,
        policy: &BackoffPolicy,
        on_success: OnSuccess,
        check: F,
    ) -> Result<T, CoreError>
    where
        F: Future<Output = Result<Result<T, &'static str>, CoreError>>,
    {
        let key = key_for(account.id);
        self.claim_slot(&key, None, policy).await?;
        match check.await {
            Ok(Ok(v)) => {
                if on_success == OnSuccess::Clear {
                    self.second_step_succeeded(&key, policy).await?;
                }
                Ok(v)
            }
            Ok(Err(message)) => {
                let failures = self.count_failure(&key, policy).await?;
                if let Some(block) = policy.block_after(failures) {
                    self.audit(
                        NewAuditEvent::new(AuditKind::VerificationBlocked)
                            .subject(account.id)
                            .detail_json(serde_json::json!({
                                "failures": failures,
                                "block_seconds": block.as_secs(),
                                "locked": policy.locked(failures),
                            })),
                    )
                    .await;
                }
                Err(CoreError::WrongProof(message))
            }
            // Nothing was evaluated, so nothing is held against the
            // account; the slot is freed at once.
            Err(e) => {
                if let Err(release) = self.store.limiter_release(&key).await {
                    tracing::warn!(error = %release, "could not release a backoff slot");
                }
                Err(e)
            }
        }
    }

    /// A right proof ends the run of failures, except where the account's
    /// second steps are locked (the ceiling) and the proof got past it, as
    /// the recovery key does: it signs the owner in, but only an admin
    /// lifts the lock an attacker caused.
    async fn second_step_succeeded(
        &self,
        key: &str,
        policy: &BackoffPolicy,
    ) -> Result<(), CoreError> {
        let locks = self.config.two_step.backoff;
        if policy.ceiling.is_none() && locks.ceiling.is_some() {
            let failures = self.store.limiter_state(key).await?.map_or(0, |(f, _)| f);
            if locks.locked(failures) {
                self.store.limiter_release(key).await?;
                return Ok(());
            }
        }
        self.store.limiter_success(key, None).await?;
        Ok(())
    }

    /// The account's authenticator seed, decrypted.
    pub(crate) fn open_totp(
        &self,
        account: &Account,
        sealed: &[u8],
    ) -> Result<TotpSecret, CoreError> {
        self.secret_box
            .open(sealed, totp_aad(account).as_bytes())
            .map(TotpSecret::from_bytes)
            .map_err(|e| CoreError::Internal(format!("authenticator seed: {e}")))
    }

    /// Whether `code` is a fresh code of the account's app; consumes its step.
    pub(crate) async fn totp_matches(
        &self,
        account: &Account,
        code: &str,
    ) -> Result<Option<()>, CoreError> {
        let Some(rec) = self.store.totp_of(account.id).await? else {
            return Ok(None);
        };
        let secret = self.open_totp(account, &rec.sealed_secret)?;
        let Some(step) = secret.matching_step(code, self.clock.now()) else {
            return Ok(None);
        };
        // The database decides: a step is accepted once, even in a race.
        Ok(self
            .store
            .consume_totp_step(account.id, step)
            .await?
            .then_some(()))
    }

    /// Whether `input` is the account's recovery key: the first step of
    /// [`crate::twostep::recovery`]. Nothing is used up here.
    pub(crate) async fn recovery_key_matches(
        &self,
        account: &Account,
        input: &str,
    ) -> Result<Option<recovery::Matched>, CoreError> {
        let Some(key) = recovery::normalize(input) else {
            return Ok(None);
        };
        let Some(stored) = self.store.recovery_key_hash(account.id).await? else {
            return Ok(None);
        };
        let verification = self.pool.verify(Some(&stored), Password::new(key)).await?;
        Ok(recovery::Matched::if_verified(stored, verification))
    }

    /// Prepares the use of a matched recovery key: its successor, and the
    /// effects that use it up (the conditional replacement, the audit
    /// record and the notice), to be written in the commit of what the key
    /// unlocks (see [`crate::twostep::recovery`]).
    pub(crate) async fn recovery_use(
        &self,
        account: &Account,
        matched: &recovery::Matched,
    ) -> Result<KeyUse, CoreError> {
        let (new_key, new_hash) = self.fresh_recovery_key().await?;
        let mut effects = Effects::at(self.clock.now())
            .audit(
                NewAuditEvent::new(AuditKind::RecoveryKeyUsed)
                    .subject(account.id)
                    .actor(account.id),
            )
            .mail(self.notice_mail(account, Notice::RecoveryKeyUsed));
        effects.use_recovery_key = Some(matched.replaced_by(account.id, new_hash));
        Ok(KeyUse { new_key, effects })
    }

    /// Two-step verification is on while the account has any method.
    pub(crate) async fn two_step_on(&self, account: &Account) -> Result<bool, CoreError> {
        Ok(self.store.inventory(account.id).await?.two_step_on())
    }
}

/// A verified recovery key, ready to be used up: its successor (shown
/// once, only if the commit carrying `effects` succeeds) and the effects
/// that replace it.
pub(crate) struct KeyUse {
    pub new_key: String,
    pub effects: Effects,
}

/// Associated data binding a sealed seed to its account.
pub fn totp_aad(account: &Account) -> String {
    format!("totp:{}", account.id)
}
