//! Reading the audit log, and self-service password changes.

use super::{Core, IssuedSession, RequestContext, Sysadmin};
use crate::audit::{AuditEvent, AuditFilter, AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::password::Password;
use crate::service::Authenticated;
use crate::store::Effects;

impl Core {
    pub async fn audit_events(
        &self,
        _admin: &Sysadmin,
        mut filter: AuditFilter,
    ) -> Result<Vec<AuditEvent>, CoreError> {
        filter.limit = filter.limit.clamp(1, 1000);
        Ok(self.store.list_audit(&filter).await?)
    }

    /// Changes the caller's password. Needs a recent step-up (with a second
    /// step once two-step verification is on) and the current password,
    /// checked under the backoff; keeps the current session under a new
    /// token and signs out all others.
    pub async fn change_password(
        &self,
        who: &Authenticated,
        current: Password,
        new: Password,
        ctx: &RequestContext,
    ) -> Result<IssuedSession, CoreError> {
        self.require_security_step_up(who).await?;
        let stored = who.account.password_hash.clone();
        self.guarded_explained(&who.account, async {
            let v = self.pool.verify(stored.as_deref(), current).await?;
            Ok(if v.matches && stored.is_some() {
                Ok(())
            } else {
                Err("Your current password is not correct.")
            })
        })
        .await
        .map_err(|e| match e {
            // A wrong current password is bad input here, not a failed
            // sign-in: the session stays valid.
            CoreError::WrongProof(m) => CoreError::Invalid(m.into()),
            other => other,
        })?;
        let email = who.account.email.as_str();
        let local = email.split('@').next().unwrap_or("");
        self.config
            .password_policy
            .check(new.expose(), &[email, local, &who.account.display_name])
            .map_err(CoreError::Invalid)?;
        let hash = self.pool.hash(new).await?;
        let now = self.clock.now();
        // One commit: the new password, every other session out, this one
        // under a new token, and the audit record.
        let (rotation, issued) = self.reissue(who, who.session.aal, who.session.methods.clone());
        let effects = Effects::at(now)
            .rotate(rotation)
            .end_sessions(who.account.id, Some(who.session.id))
            .audit(
                NewAuditEvent::new(AuditKind::PasswordChanged)
                    .actor(who.account.id)
                    .subject(who.account.id)
                    .ip(ctx.ip.clone()),
            );
        if !self
            .store
            .set_password_hash_with(who.account.id, &hash, now, &effects)
            .await?
        {
            return Err(CoreError::Unauthenticated);
        }
        Ok(issued)
    }
}
