//! Notifications to an account's owner: a mail from a template, queued in
//! the durable outbox (sealed, see [`crate::mail`]); the email delivery
//! worker sends it.

use super::Core;
use crate::account::Account;
use crate::mail::email_message;
use crate::store::OutgoingMessage;

/// What happened, which picks the template and the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// The first method was added; `method` names it ("authenticator app").
    TwoStepEnabled {
        method: String,
    },
    MethodAdded {
        method: String,
    },
    MethodRemoved {
        method: String,
    },
    AuthenticatorChanged,
    RecoveryKeyCreated,
    RecoveryKeyUsed,
    TwoStepDisabled,
    UnenrolledByAdmin,
    SignupAttempt,
    SigninPaused,
}

impl Notice {
    fn template(&self) -> &'static str {
        match self {
            Notice::TwoStepEnabled { .. } => "two_step_enabled",
            Notice::MethodAdded { .. } => "method_added",
            Notice::MethodRemoved { .. } => "method_removed",
            Notice::AuthenticatorChanged => "authenticator_changed",
            Notice::RecoveryKeyCreated => "recovery_key_created",
            Notice::RecoveryKeyUsed => "recovery_key_used",
            Notice::TwoStepDisabled => "two_step_disabled",
            Notice::UnenrolledByAdmin => "two_step_unenrolled",
            Notice::SignupAttempt => "signup_attempt",
            Notice::SigninPaused => "signin_paused",
        }
    }

    fn subject(&self) -> &'static str {
        match self {
            Notice::TwoStepEnabled { .. } => "Two-step verification is now on",
            Notice::MethodAdded { .. } => "A verification method was added",
            Notice::MethodRemoved { .. } => "A verification method was removed",
            Notice::AuthenticatorChanged => "Your authenticator app was changed",
            Notice::RecoveryKeyCreated => "You created a new emergency recovery key",
            Notice::RecoveryKeyUsed => "Your emergency recovery key was used",
            Notice::TwoStepDisabled => "Two-step verification is now off",
            Notice::UnenrolledByAdmin => "An administrator turned off your two-step verification",
            Notice::SignupAttempt => "Someone tried to create an account with your address",
            Notice::SigninPaused => "Sign-ins to your account are paused",
        }
    }

    fn method(&self) -> Option<&str> {
        match self {
            Notice::TwoStepEnabled { method }
            | Notice::MethodAdded { method }
            | Notice::MethodRemoved { method } => Some(method),
            _ => None,
        }
    }
}

impl Core {
    /// The notification mail for `notice`, to queue with the change it
    /// reports (see [`crate::store::Effects::mail`]). `None`, logged, if the
    /// template cannot be rendered: the change goes ahead without it.
    pub(crate) fn notice_mail(&self, account: &Account, notice: Notice) -> Option<OutgoingMessage> {
        let when = self.clock.now().to_rfc3339();
        let name = if account.display_name.is_empty() {
            account.email.as_str()
        } else {
            account.display_name.as_str()
        };
        let mut vars = vec![
            ("name", name),
            ("when", when.as_str()),
            ("issuer", self.config.two_step.issuer.as_str()),
        ];
        if let Some(m) = notice.method() {
            vars.push(("method", m));
        }
        match email_message(
            &self.secret_box,
            self.secrets.as_ref(),
            account.email.as_str(),
            notice.subject(),
            notice.template(),
            &vars,
        ) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(error = %e, "could not build a notification");
                None
            }
        }
    }

    /// Queues a notification mail to the account on its own, for notices
    /// that report no change of their own (a sign-up attempt, a pause). A
    /// failure is logged, not returned.
    pub(crate) async fn notify(&self, account: &Account, notice: Notice) {
        let Some(m) = self.notice_mail(account, notice) else {
            return;
        };
        let queued = self
            .store
            .enqueue(
                &m.channel,
                &m.recipient,
                &m.subject,
                &m.body,
                self.clock.now(),
            )
            .await;
        match queued {
            Ok(()) => self.wake_outbox(),
            Err(e) => tracing::error!(error = %e, "could not queue notification"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::builtin;

    #[test]
    fn every_notice_has_a_template() {
        for n in [
            Notice::TwoStepEnabled { method: "x".into() },
            Notice::MethodAdded { method: "x".into() },
            Notice::MethodRemoved { method: "x".into() },
            Notice::AuthenticatorChanged,
            Notice::RecoveryKeyCreated,
            Notice::RecoveryKeyUsed,
            Notice::TwoStepDisabled,
            Notice::UnenrolledByAdmin,
            Notice::SignupAttempt,
            Notice::SigninPaused,
        ] {
            let b = builtin(n.template()).unwrap();
            assert_eq!(
                b.text.contains("{{ method }}"),
                n.method().is_some(),
                "{n:?}"
            );
        }
    }
}
