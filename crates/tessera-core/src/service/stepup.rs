//! Step-up: security changes need a recent verification. Once two-step
//! verification is on, only a second step counts.

use super::{Authenticated, Core, IssuedSession, RequestContext, SecondStepProof};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::password::Password;
use crate::session::{Aal, AuthMethod};

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
    /// Fails unless the session verified recently enough, and, when
    /// `second_step` is set, with a second-step method.
    pub fn require_recent(&self, who: &Authenticated, second_step: bool) -> Result<(), CoreError> {
        let age = self.clock.now().millis() - who.session.verified_at.millis();
        if age > self.config.two_step.step_up_window_secs * 1000 {
            return Err(CoreError::StepUpRequired(
                "Verify it's you again before changing security settings.",
            ));
        }
        if second_step && !who.session.methods.iter().any(|m| m.is_second_step()) {
            return Err(CoreError::StepUpRequired(
                "Verify it's you with one of your two-step verification methods (or your recovery key) first.",
            ));
        }
        Ok(())
    }

    /// Verifies again and refreshes `verified_at` under a new session token.
    pub async fn step_up(
        &self,
        who: &Authenticated,
        proof: StepUpProof,
        ctx: &RequestContext,
    ) -> Result<SteppedUp, CoreError> {
        let account = &who.account;
        let two_step = self.two_step_on(account).await?;
        let (method, new_recovery_key) = match proof {
            StepUpProof::Password(_) if two_step => {
                return Err(CoreError::Forbidden(
                    "Your account has two-step verification: verify with one of its methods, or your recovery key.",
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
        let issued = self.rotate_session(who, aal, methods).await?;
        self.audit(
            NewAuditEvent::new(AuditKind::StepUp)
                .actor(account.id)
                .subject(account.id)
                .ip(ctx.ip.clone())
                .detail(format!(r#"{{"method":"{method}"}}"#)),
        )
        .await;
        Ok(SteppedUp {
            issued,
            new_recovery_key,
        })
    }
}
