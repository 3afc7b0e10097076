//! Managing one's own two-step verification: enroll or change the
//! authenticator app, create a new recovery key, turn it off.

use super::notify::Notice;
use super::verification::totp_aad;
use super::{Access, Authenticated, Core, IssuedSession, RequestContext};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::password::Password;
use crate::session::AuthMethod;
use crate::twostep::recovery;
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
        let first = !self.two_step_on(account).await?;
        let (recovery_key, recovery_hash) = if first {
            let key = recovery::generate(self.secrets.as_ref());
            let hash = self.pool.hash(Password::new(key.clone())).await?;
            (Some(key), Some(hash))
        } else {
            (None, None)
        };
        if !self
            .store
            .activate_totp(account.id, &sealed, step, recovery_hash.as_deref(), now)
            .await?
        {
            return Err(CoreError::Conflict(
                "The setup changed in another window. Start again.",
            ));
        }
        // Another method may have become the first one meanwhile (the
        // store decided under the account's lock): then the key offered
        // here was not stored, must not be shown, and this is a change.
        let (first, recovery_key) = match (&recovery_key, &recovery_hash) {
            (Some(_), Some(hash)) => {
                let stored = self.store.recovery_key_hash(account.id).await?;
                if stored.as_deref() == Some(hash.as_str()) {
                    (true, recovery_key)
                } else {
                    (false, None)
                }
            }
            _ => (first, None),
        };
        if first {
            self.store
                .delete_sessions_except(account.id, Some(who.session.id))
                .await?;
        }
        let mut methods = who.session.methods.clone();
        if !methods.contains(&AuthMethod::Totp) {
            methods.push(AuthMethod::Totp);
        }
        let issued = self.rotate_after_new_method(who, methods).await?;
        let (kind, notice) = if first {
            (
                AuditKind::TwoStepEnabled,
                Notice::TwoStepEnabled {
                    method: crate::twostep::methods::MethodKind::Totp
                        .label()
                        .to_lowercase(),
                },
            )
        } else {
            (AuditKind::TwoStepAppChanged, Notice::AuthenticatorChanged)
        };
        self.audit(
            NewAuditEvent::new(kind)
                .actor(account.id)
                .subject(account.id)
                .ip(ctx.ip.clone()),
        )
        .await;
        self.notify(account, notice).await;
        Ok(Confirmed {
            recovery_key,
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
        let key = recovery::generate(self.secrets.as_ref());
        let hash = self.pool.hash(Password::new(key.clone())).await?;
        if !self
            .store
            .replace_recovery_key(who.account.id, None, &hash, self.clock.now())
            .await?
        {
            return Err(CoreError::Invalid(
                "Turn on two-step verification first.".into(),
            ));
        }
        self.audit(
            NewAuditEvent::new(AuditKind::RecoveryKeyCreated)
                .actor(who.account.id)
                .subject(who.account.id)
                .ip(ctx.ip.clone()),
        )
        .await;
        self.notify(&who.account, Notice::RecoveryKeyCreated).await;
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
        self.store.disable_two_step(who.account.id).await?;
        self.audit(
            NewAuditEvent::new(AuditKind::TwoStepDisabled)
                .actor(who.account.id)
                .subject(who.account.id)
                .ip(ctx.ip.clone()),
        )
        .await;
        self.notify(&who.account, Notice::TwoStepDisabled).await;
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
