//! Emailed codes for accounts without two-step verification: the second
//! part of a sign-in from an unknown device, and step-up before security
//! changes (the rules are in [`crate::email_code`]).
//!
//! A code is what a texted code is (6 digits, 10 minutes, once, only the
//! latest, kept as a keyed hash; see [`super::sms`]), bound to the channel,
//! the flow or session, the purpose and the account: the slot's binding
//! names all of them, and it is hashed with the code. The mail is queued
//! sealed in the same transaction that stores the code and counts it
//! against the account's mail budget ([`MAILS_PER_HOUR`], apart from
//! texts). Wrong codes count towards the second-step backoff.

use super::keys::flow_ceremony_key;
use super::sms::CodeSlot;
use super::stepup::TOKEN_CANNOT_STEP_UP;
use super::{Access, Authenticated, Core, RequestContext};
use crate::account::{Account, AccountKind};
use crate::error::CoreError;
use crate::mail::email_message;
use crate::store::{SendBudget, SendChannel};
use crate::twostep::otp::{self, CodePurpose, MAILS_PER_HOUR, RESEND_COOLDOWN_SECS};

/// A code was mailed.
#[derive(Debug, Clone)]
pub struct CodeMailed {
    /// When another code may be asked for.
    pub resend_after_secs: i64,
}

const WRONG: &str = "That code is not correct, or it expired. Check the latest email from us, or ask for a new code.";

impl Core {
    /// Mails a sign-in code for the flow (again, after the cooldown). The
    /// flow must be an account's without two-step verification.
    pub async fn mail_signin_code(
        &self,
        flow_id: &str,
        ctx: &RequestContext,
    ) -> Result<CodeMailed, CoreError> {
        let account = self.live_flow(flow_id, ctx).await?.account;
        self.may_mail_code(&account).await?;
        self.mail_code(&account, &signin_slot(flow_id, &account))
            .await
    }

    /// Mails a step-up code to the caller, an account without two-step
    /// verification (those with it step up with a method).
    pub async fn mail_step_up_code(&self, access: &Access) -> Result<CodeMailed, CoreError> {
        let who = access.holder();
        if who.token.is_some() {
            return Err(CoreError::Forbidden(TOKEN_CANNOT_STEP_UP));
        }
        self.may_mail_code(&who.account).await?;
        self.mail_code(&who.account, &step_up_slot(who)).await
    }

    /// Emailed codes go only to humans without 2SV, and only when mail
    /// leaves the server.
    async fn may_mail_code(&self, account: &Account) -> Result<(), CoreError> {
        if !self.config.email_codes.mail_delivered {
            return Err(CoreError::Invalid(
                "This server sends no mail, so there are no emailed codes: verify with your password."
                    .into(),
            ));
        }
        if account.kind == AccountKind::Service {
            return Err(CoreError::Invalid(
                "Service accounts have no emailed codes.".into(),
            ));
        }
        if self.two_step_on(account).await? {
            return Err(CoreError::Invalid(
                "This account has two-step verification: use one of its methods instead of an emailed code."
                    .into(),
            ));
        }
        Ok(())
    }

    async fn mail_code(&self, account: &Account, slot: &CodeSlot) -> Result<CodeMailed, CoreError> {
        let code = otp::generate(self.secrets.as_ref());
        let issuer = self.config.two_step.issuer.as_str();
        let (subject, reason) = match slot.purpose {
            CodePurpose::Signin => (
                format!("Your {issuer} sign-in code"),
                "to finish signing in",
            ),
            _ => (
                format!("Your {issuer} verification code"),
                "to confirm it's you before a security change",
            ),
        };
        let name = if account.display_name.is_empty() {
            account.email.as_str()
        } else {
            account.display_name.as_str()
        };
        let message = email_message(
            &self.secret_box,
            self.secrets.as_ref(),
            account.email.as_str(),
            &subject,
            "email_code",
            &[
                ("name", name),
                ("issuer", issuer),
                ("code", &code),
                ("reason", reason),
            ],
        )?;
        let budget = SendBudget {
            channel: SendChannel::Mail,
            max: MAILS_PER_HOUR,
            window_ms: 3_600_000,
        };
        self.queue_code(account, slot, &code, budget, &message)
            .await?;
        Ok(CodeMailed {
            resend_after_secs: RESEND_COOLDOWN_SECS,
        })
    }

    /// Whether `code` is the live sign-in code of the flow for `account`
    /// (used up if so). Refused once the account has 2SV.
    pub(crate) async fn signin_email_code_matches(
        &self,
        account: &Account,
        flow_id: &str,
        code: &str,
    ) -> Result<Result<(), &'static str>, CoreError> {
        if self.two_step_on(account).await? {
            return Ok(Err(WRONG));
        }
        self.slot_code_matches(&signin_slot(flow_id, account), code, WRONG)
            .await
    }

    /// Whether `code` is the caller's live step-up code (used up if so).
    pub(crate) async fn step_up_email_code_matches(
        &self,
        who: &Authenticated,
        code: &str,
    ) -> Result<Result<(), &'static str>, CoreError> {
        self.slot_code_matches(&step_up_slot(who), code, WRONG)
            .await
    }
}

/// A mailed sign-in code's slot: the flow (by its hash, so the key names
/// no usable secret) and the account.
fn signin_slot(flow_id: &str, account: &Account) -> CodeSlot {
    CodeSlot {
        purpose: CodePurpose::Signin,
        binding: format!("mail:{}:{}", flow_ceremony_key(flow_id), account.id),
    }
}

/// A mailed step-up code's slot: the session and its account.
fn step_up_slot(who: &Authenticated) -> CodeSlot {
    CodeSlot {
        purpose: CodePurpose::StepUp,
        binding: format!("mail:session:{}:{}", who.session.id, who.account.id),
    }
}
