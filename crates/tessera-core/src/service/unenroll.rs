//! Recovery unenrollment: a sysadmin removes another account's two-step
//! verification when its owner lost both app and recovery key. The admin
//! proves presence with a current code from their own authenticator app.
//! All the account's sessions end with it.

use super::notify::Notice;
use super::{Core, RequestContext, Sysadmin};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::ids::AccountId;
use crate::store::Effects;

impl Core {
    pub async fn admin_unenroll(
        &self,
        admin: &Sysadmin,
        admin_account: &Account,
        target: AccountId,
        admin_code: &str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        if admin.actor() != Some(admin_account.id) {
            return Err(CoreError::Forbidden("This needs the sysadmin role."));
        }
        if admin_account.id == target {
            return Err(CoreError::Forbidden(
                "You cannot remove your own two-step verification here; use your Security page.",
            ));
        }
        if !self.two_step_on(admin_account).await? {
            return Err(CoreError::WrongProof(
                "Set up two-step verification with an authenticator app on your own account first.",
            ));
        }
        self.guarded(admin_account, self.totp_matches(admin_account, admin_code))
            .await?;
        let Some(account) = self.store.account_by_id(target).await? else {
            return Err(CoreError::NotFound("user"));
        };
        // Whoever holds a session of the account may be the one who took
        // its second step; every session ends in the same commit, and the
        // owner signs in again with the password only.
        let mut effects = Effects::at(self.clock.now())
            .end_sessions(target, None)
            .audit(
                NewAuditEvent::new(AuditKind::TwoStepUnenrolled)
                    .actor(admin_account.id)
                    .subject(target)
                    .ip(ctx.ip.clone()),
            )
            .mail(self.notice_mail(&account, Notice::UnenrolledByAdmin));
        effects.count_in_audit = true;
        if !self.store.disable_two_step_with(target, &effects).await? {
            return Err(CoreError::Invalid(
                "No enrollment found for this user.".into(),
            ));
        }
        self.wake_outbox();
        Ok(())
    }
}
