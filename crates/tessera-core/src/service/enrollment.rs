//! Managing one's own two-step verification: enroll or change the
//! authenticator app, create a new recovery key, turn it off.

use super::notify::Notice;
use super::verification::totp_aad;
use super::{Access, Authenticated, Core, IssuedSession, RequestContext};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::store::Effects;
use crate::twostep::methods::{Addition, MethodKind};
use crate::twostep::totp::{TotpSecret, qr_svg};

/// What the person needs to add the account to their app.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// The result of confirming an authenticator app.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// The emergency recovery key, on first enrollment only. Shown once.
    pub recovery_key: Option<String>,
    /// The session continues under a new token.
    pub issued: IssuedSession,
}

use super::stepup::Needs;

impl Core {
    /// Starts (or restarts) adding an authenticator app. Changing an
    /// existing app needs a recent second-step verification.
    pub async fn start_totp_enrollment(
        &self,
        access: &Access,
    ) -> Result<TotpEnrollment, CoreError> {
        let who = access.holder();
        let on = self.two_step_on(&who.account).await?;
        self.require_recent(who, self.security_needs(on))?;
        let secret = TotpSecret::generate(self.secrets.as_ref());
        let sealed = self.secret_box.seal(
            self.secrets.as_ref(),
            secret.as_bytes(),
            totp_aad(&who.account).as_bytes(),
        );
        self.store
            .set_pending_totp(who.account.id, &sealed, self.clock.now())
            .await?;
        let uri = secret
            .otpauth_uri(&self.config.two_step.issuer, who.account.email.as_str())
            .map_err(CoreError::Internal)?;
        Ok(TotpEnrollment {
            secret: secret.base32(),
            qr_svg: qr_svg(&uri).map_err(CoreError::Internal)?,
            otpauth_uri: uri,
        })
    }

    /// Confirms the pending app with a code from it. On first enrollment
    /// this turns 2SV on, issues the recovery key and signs out every other
    /// session; on a change it replaces the old app.
    pub async fn confirm_totp(
        &self,
        access: &Access,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<Confirmed, CoreError> {
        let who = access.holder();
        let account = &who.account;
        let Some((sealed, started)) = self.store.pending_totp(account.id).await? else {
            return Err(CoreError::Invalid(
                "Start adding an authenticator app first.".into(),
            ));
        };
        let now = self.clock.now();
        if now.millis() - started.millis() > self.config.two_step.enrollment_ttl_secs * 1000 {
            return Err(CoreError::Invalid(
                "This setup took too long. Start again to get a new code.".into(),
            ));
        }
        let secret = self.open_totp(account, &sealed)?;
        let step = self
            .guarded(account, async { Ok(secret.matching_step(code, now)) })
            .await?;
        // The recovery key is hashed only when this may be the first
        // method; the store decides whether it is, under the account lock,
        // and asks for one if it turned out to be.
        let mut recovery = if self.two_step_on(account).await? {
            None
        } else {
            Some(self.fresh_recovery_key().await?)
        };
        let (first, issued) = loop {
            let (effects, issued) = self.method_added_effects(who, MethodKind::Totp, None, ctx);
            let hash = recovery.as_ref().map(|(_, h)| h.as_str());
            match self
                .store
                .activate_totp_with(account.id, &sealed, step, hash, now, &effects)
                .await?
            {
                Addition::Added { first } => break (first, issued),
                Addition::NeedsRecoveryKey if recovery.is_none() => {
                    recovery = Some(self.fresh_recovery_key().await?);
                }
                Addition::PendingChanged => {
                    return Err(CoreError::Conflict(
                        "The setup changed in another window. Start again.",
                    ));
                }
                other => {
                    return Err(CoreError::Internal(format!(
                        "unexpected answer to an authenticator app: {other:?}"
                    )));
                }
            }
        };
        self.wake_outbox();
        // The key is shown only if it was stored: another method may have
        // become the first one meanwhile.
        Ok(Confirmed {
            recovery_key: recovery.filter(|_| first).map(|(key, _)| key),
            issued,
        })
    }

    /// Replaces the recovery key with a new one, shown once.
    pub async fn new_recovery_key(
        &self,
        who: &Authenticated,
        ctx: &RequestContext,
    ) -> Result<String, CoreError> {
        if !self.two_step_on(&who.account).await? {
            return Err(CoreError::Invalid(
                "Turn on two-step verification first.".into(),
            ));
        }
        self.require_recent(who, Needs::SecondStep)?;
        let (key, hash) = self.fresh_recovery_key().await?;
        let effects = Effects::at(self.clock.now())
            .audit(
                NewAuditEvent::new(AuditKind::RecoveryKeyCreated)
                    .actor(who.account.id)
                    .subject(who.account.id)
                    .ip(ctx.ip.clone()),
            )
            .mail(self.notice_mail(&who.account, Notice::RecoveryKeyCreated));
        if !self
            .store
            .replace_recovery_key_with(who.account.id, None, &hash, self.clock.now(), &effects)
            .await?
        {
            return Err(CoreError::Invalid(
                "Turn on two-step verification first.".into(),
            ));
        }
        self.wake_outbox();
        Ok(key)
    }

    /// Turns two-step verification off: removes the app and the recovery key.
    pub async fn disable_two_step(
        &self,
        who: &Authenticated,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        if !self.two_step_on(&who.account).await? {
            return Err(CoreError::Invalid(
                "Two-step verification is already off.".into(),
            ));
        }
        self.require_recent(who, Needs::SecondStep)?;
        let effects = Effects::at(self.clock.now())
            .audit(
                NewAuditEvent::new(AuditKind::TwoStepDisabled)
                    .actor(who.account.id)
                    .subject(who.account.id)
                    .ip(ctx.ip.clone()),
            )
            .mail(self.notice_mail(&who.account, Notice::TwoStepDisabled));
        if self
            .store
            .disable_two_step_with(who.account.id, &effects)
            .await?
        {
            self.wake_outbox();
        }
        Ok(())
    }

    /// Whether the account has two-step verification on (for pages and
    /// who-am-I).
    pub async fn two_step_status(
        &self,
        account: &crate::account::Account,
    ) -> Result<bool, CoreError> {
        self.two_step_on(account).await
    }
}
