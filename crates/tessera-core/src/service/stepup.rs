//! Step-up: security changes need a recent verification. Once two-step
//! verification is on, only a second step counts; without it, only an
//! emailed code does (a password alone proves too little), unless the
//! server sends no mail (`email.provider = none`), where the password
//! is accepted instead.

use super::{Access, Authenticated, Core, IssuedSession, RequestContext, SecondStepProof};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::password::Password;
use crate::session::{Aal, AuthMethod, Session};
use crate::store::Effects;

/// What a security change needs from the session's last verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Any verification (password or a second step) within the window.
    Recent,
    /// A verification with a second-step method within the window.
    SecondStep,
    /// A verification by emailed code (or a second step) within the window.
    EmailCode,
}

impl Needs {
    /// The strongest proof the account can give: a second step once
    /// two-step verification is on, else an emailed code when the server
    /// sends mail, else a recent password.
    pub fn strongest(two_step_on: bool, codes_by_mail: bool) -> Needs {
        if two_step_on {
            Needs::SecondStep
        } else if codes_by_mail {
            Needs::EmailCode
        } else {
            Needs::Recent
        }
    }
}

/// The step-up rule: whether `session` verified recently enough for
/// `needs` at `now`, or the message saying what to do.
pub fn step_up_satisfied(
    session: &Session,
    now: Timestamp,
    window_secs: i64,
    needs: Needs,
) -> Result<(), &'static str> {
    if now.millis() - session.verified_at.millis() > window_secs * 1000 {
        return Err("Verify it's you again before changing security settings.");
    }
    let second_step = session.methods.iter().any(|m| m.is_second_step());
    if needs == Needs::SecondStep && !second_step {
        return Err(
            "Verify it's you with one of your two-step verification methods (or your recovery key) first.",
        );
    }
    if needs == Needs::EmailCode
        && !second_step
        && !session.methods.contains(&AuthMethod::EmailCode)
    {
        return Err("Verify it's you with a code sent to your email first.");
    }
    Ok(())
}

/// The refusal of every security change asked for with an API token.
pub const TOKEN_CANNOT_STEP_UP: &str =
    "An API token cannot change security settings or create tokens; sign in for that.";

/// A proof offered for step-up.
#[derive(Debug, Clone)]
pub enum StepUpProof {
    Password(Password),
    SecondStep(SecondStepProof),
}

/// A fresh verification: the session's new token, and a new recovery key
/// if the old one was used.
#[derive(Debug, Clone)]
pub struct SteppedUp {
    pub issued: IssuedSession,
    pub new_recovery_key: Option<String>,
}

impl Core {
    /// Fails unless the session verified recently enough for `needs`.
    pub fn require_recent(&self, who: &Authenticated, needs: Needs) -> Result<(), CoreError> {
        if who.token.is_some() {
            return Err(CoreError::Forbidden(TOKEN_CANNOT_STEP_UP));
        }
        step_up_satisfied(
            &who.session,
            self.clock.now(),
            self.config.two_step.step_up_window_secs,
            needs,
        )
        .map_err(CoreError::StepUpRequired)
    }

    /// The step-up every security change of the caller's own account
    /// needs (password, API tokens): the strongest proof the account can
    /// give, within the window.
    pub async fn require_security_step_up(&self, who: &Authenticated) -> Result<(), CoreError> {
        if who.token.is_some() {
            return Err(CoreError::Forbidden(TOKEN_CANNOT_STEP_UP));
        }
        let two_step_on = self.two_step_on(&who.account).await?;
        self.require_recent(who, self.security_needs(two_step_on))
    }

    /// What a security change of an account needs, given whether it has
    /// two-step verification.
    pub fn security_needs(&self, two_step_on: bool) -> Needs {
        Needs::strongest(two_step_on, self.config.email_codes.step_up_by_code())
    }

    /// Verifies again and refreshes `verified_at` under a new session token.
    pub async fn step_up(
        &self,
        access: &Access,
        proof: StepUpProof,
        ctx: &RequestContext,
    ) -> Result<SteppedUp, CoreError> {
        let who = access.holder();
        if who.token.is_some() {
            return Err(CoreError::Forbidden(TOKEN_CANNOT_STEP_UP));
        }
        let account = &who.account;
        let two_step = self.two_step_on(account).await?;
        let (method, key_use) = match proof {
            StepUpProof::Password(_) if two_step => {
                return Err(CoreError::Forbidden(
                    "Your account has two-step verification: verify with one of its methods, or your recovery key.",
                ));
            }
            StepUpProof::Password(_) if self.config.email_codes.step_up_by_code() => {
                return Err(CoreError::Forbidden(
                    "A password alone no longer unlocks security changes: verify with a code sent to your email.",
                ));
            }
            StepUpProof::Password(pw) => {
                let stored = account.password_hash.clone();
                self.guarded(account, async {
                    let v = self.pool.verify(stored.as_deref(), pw).await?;
                    Ok((v.matches && stored.is_some()).then_some(()))
                })
                .await
                .map_err(|e| match e {
                    CoreError::WrongProof(_) => {
                        CoreError::WrongProof("That password is not correct.")
                    }
                    other => other,
                })?;
                (AuthMethod::Password, None)
            }
            StepUpProof::SecondStep(SecondStepProof::EmailCode(_)) if two_step => {
                return Err(CoreError::Forbidden(
                    "Your account has two-step verification: verify with one of its methods, or your recovery key.",
                ));
            }
            StepUpProof::SecondStep(SecondStepProof::EmailCode(_))
                if !self.config.email_codes.step_up_by_code() =>
            {
                return Err(CoreError::Invalid(
                    "This server sends no mail, so there are no emailed codes: verify with your password."
                        .into(),
                ));
            }
            StepUpProof::SecondStep(proof @ SecondStepProof::EmailCode(_)) => {
                self.check_second_step(account, proof, None, Some(who))
                    .await?
            }
            StepUpProof::SecondStep(_) if !two_step => {
                return Err(CoreError::Invalid(
                    "Two-step verification is not set up for this account; verify with your password.".into(),
                ));
            }
            StepUpProof::SecondStep(proof) => {
                self.check_second_step(account, proof, None, Some(who))
                    .await?
            }
        };
        let mut methods = who.session.methods.clone();
        if !methods.contains(&method) {
            methods.push(method);
        }
        let aal = if method.is_second_step() {
            Aal::Aal2
        } else {
            who.session.aal
        };
        let (rotation, issued) = self.reissue(who, aal, methods);
        // A recovery key is used up in the commit that steps the session
        // up: its successor exists only with the answer that carries it.
        let (new_recovery_key, used) = match key_use {
            Some(k) => (Some(k.new_key), k.effects),
            None => (None, Effects::at(self.clock.now())),
        };
        let mut effects = used.rotate(rotation).audit(
            NewAuditEvent::new(AuditKind::StepUp)
                .actor(account.id)
                .subject(account.id)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({ "method": method.as_str() })),
        );
        effects.last_method =
            super::sessions::remembered_method(&[method]).map(|kind| (account.id, kind));
        self.store.apply(&effects).await?;
        if !effects.mail.is_empty() {
            self.wake_outbox();
        }
        Ok(SteppedUp {
            issued,
            new_recovery_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, SessionId};
    use crate::session::ClientKind;

    fn verified_at(ms: i64, methods: Vec<AuthMethod>) -> Session {
        Session {
            id: SessionId(uuid::Uuid::nil()),
            account_id: AccountId(uuid::Uuid::nil()),
            client: ClientKind::Web,
            aal: Aal::Aal1,
            methods,
            created_at: Timestamp(0),
            verified_at: Timestamp(ms),
            last_seen_at: Timestamp(0),
            expires_at: Timestamp(i64::MAX),
            ip: None,
            device: String::new(),
            restricted: false,
        }
    }

    #[test]
    fn recent_means_within_the_window_and_second_step_means_a_possession_method() {
        let pw = verified_at(0, vec![AuthMethod::Password]);
        assert!(step_up_satisfied(&pw, Timestamp(600_000), 600, Needs::Recent).is_ok());
        assert!(step_up_satisfied(&pw, Timestamp(600_001), 600, Needs::Recent).is_err());
        assert!(step_up_satisfied(&pw, Timestamp(1), 600, Needs::SecondStep).is_err());
        let totp = verified_at(0, vec![AuthMethod::Password, AuthMethod::Totp]);
        assert!(step_up_satisfied(&totp, Timestamp(1), 600, Needs::SecondStep).is_ok());
        assert_eq!(Needs::strongest(true, true), Needs::SecondStep);
        assert_eq!(Needs::strongest(false, true), Needs::EmailCode);
        assert_eq!(Needs::strongest(false, false), Needs::Recent);
    }

    #[test]
    fn without_two_step_only_an_emailed_code_or_a_second_step_unlocks() {
        let pw = verified_at(0, vec![AuthMethod::Password]);
        assert!(step_up_satisfied(&pw, Timestamp(1), 600, Needs::EmailCode).is_err());
        let mailed = verified_at(0, vec![AuthMethod::Password, AuthMethod::EmailCode]);
        assert!(step_up_satisfied(&mailed, Timestamp(1), 600, Needs::EmailCode).is_ok());
        assert!(step_up_satisfied(&mailed, Timestamp(600_001), 600, Needs::EmailCode).is_err());
        assert!(
            step_up_satisfied(&mailed, Timestamp(1), 600, Needs::SecondStep).is_err(),
            "an emailed code is not a second step"
        );
        let totp = verified_at(0, vec![AuthMethod::Password, AuthMethod::Totp]);
        assert!(step_up_satisfied(&totp, Timestamp(1), 600, Needs::EmailCode).is_ok());
    }
}
