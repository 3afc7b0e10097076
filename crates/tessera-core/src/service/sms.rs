//! Text messages: adding a phone number (only as the first method), and
//! texted codes for sign-in and step-up.
//!
//! A code is 6 digits, lives 10 minutes, works once, and is stored only as
//! a keyed hash of (purpose, binding, code) under a key naming the same
//! purpose and binding: a sign-in code is useless for step-up or for
//! another flow, and sending a new code replaces the old one. The message
//! itself goes through the durable outbox, sealed, so the code is not
//! readable at rest while it waits.

use super::keys::flow_ceremony_key;
use super::{Access, Authenticated, Confirmed, Core, RequestContext};
use crate::account::Account;
use crate::error::CoreError;
use crate::outbox::{SMS_CHANNEL, seal_sms_body};
use crate::store::{OtpRecord, OtpSend, OutgoingMessage, SendBudget, SendChannel};
use crate::twostep::methods::{Addition, MethodKind};
use crate::twostep::otp::{self, CODE_TTL_SECS, CodePurpose, RESEND_COOLDOWN_SECS, TEXTS_PER_HOUR};
use crate::twostep::phone::{PhoneNumber, mask};
use std::time::Duration;

/// A code was sent.
#[derive(Debug, Clone)]
pub struct CodeSent {
    /// The number it went to, mostly hidden.
    pub phone_masked: String,
    /// When another code may be asked for.
    pub resend_after_secs: i64,
}

/// Where a code is stored and what it is bound to.
pub(crate) struct CodeSlot {
    pub(crate) purpose: CodePurpose,
    /// Names the flow, session or account the code belongs to (and, for
    /// a mailed code, the channel and the account too).
    pub(crate) binding: String,
}

impl CodeSlot {
    fn key(&self) -> String {
        format!("{}:{}", self.purpose.as_str(), self.binding)
    }
}

use super::stepup::Needs;

impl Core {
    pub(crate) fn code_mac(&self, slot: &CodeSlot, code: &str) -> Vec<u8> {
        self.secret_box
            .mac(&otp::hash_input(slot.purpose, &slot.binding, code))
    }

    /// Sends a fresh code to `phone` for `slot`, unless one was sent less
    /// than the cooldown ago.
    async fn send_code(
        &self,
        account: &Account,
        phone: &str,
        slot: &CodeSlot,
    ) -> Result<CodeSent, CoreError> {
        let code = otp::generate(self.secrets.as_ref());
        let text = match slot.purpose {
            CodePurpose::Enroll => format!(
                "{code} is your {} code to confirm this phone number. It expires in 10 minutes. Never share it.",
                self.config.two_step.issuer
            ),
            CodePurpose::Signin => format!(
                "{code} is your {} sign-in code. It expires in 10 minutes. Never share it.",
                self.config.two_step.issuer
            ),
            CodePurpose::StepUp => format!(
                "{code} is your {} code to confirm it's you before a security change. It expires in 10 minutes.",
                self.config.two_step.issuer
            ),
        };
        let message = OutgoingMessage {
            channel: SMS_CHANNEL.into(),
            recipient: phone.into(),
            subject: String::new(),
            body: seal_sms_body(&self.secret_box, self.secrets.as_ref(), phone, &text),
        };
        let budget = SendBudget {
            channel: SendChannel::Text,
            max: TEXTS_PER_HOUR,
            window_ms: 3_600_000,
        };
        self.queue_code(account, slot, &code, budget, &message)
            .await?;
        Ok(CodeSent {
            phone_masked: mask(phone),
            resend_after_secs: RESEND_COOLDOWN_SECS,
        })
    }

    /// Stores `code` in `slot` (replacing the one before) and queues
    /// `message`, which carries it, in one transaction; refused while the
    /// slot cools down or the channel's `budget` is spent, with the time
    /// to wait.
    pub(crate) async fn queue_code(
        &self,
        account: &Account,
        slot: &CodeSlot,
        code: &str,
        budget: SendBudget,
        message: &OutgoingMessage,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        let otp = OtpRecord {
            account_id: account.id,
            code_mac: self.code_mac(slot, code),
            sent_at: now,
            expires_at: now.plus_secs(CODE_TTL_SECS),
        };
        let cutoff = now.plus_secs(-RESEND_COOLDOWN_SECS);
        let until = match self
            .store
            .put_otp_and_send(&slot.key(), &otp, cutoff, budget, message)
            .await?
        {
            OtpSend::Sent => None,
            OtpSend::CoolingDown => {
                let sent = self.store.otp_sent_at(&slot.key()).await?.unwrap_or(now);
                Some(sent.plus_secs(RESEND_COOLDOWN_SECS))
            }
            OtpSend::OverBudget { until } => Some(until),
        };
        if let Some(until) = until {
            let wait = (until.millis() - now.millis()).max(1000);
            return Err(CoreError::RateLimited {
                retry_after: Duration::from_millis(wait as u64),
            });
        }
        self.wake_outbox();
        Ok(())
    }

    /// Whether `input` is the live code of `slot`; it is used up if so.
    async fn code_matches(
        &self,
        slot: &CodeSlot,
        input: &str,
    ) -> Result<Result<(), &'static str>, CoreError> {
        const WRONG: &str = "That code is not correct, or it expired. Check the latest text message, or ask for a new code.";
        self.slot_code_matches(slot, input, WRONG).await
    }

    /// Whether `input` is the live code of `slot` (used up if so), or
    /// `wrong`.
    pub(crate) async fn slot_code_matches(
        &self,
        slot: &CodeSlot,
        input: &str,
        wrong: &'static str,
    ) -> Result<Result<(), &'static str>, CoreError> {
        let Some(code) = otp::normalize(input) else {
            return Ok(Err(wrong));
        };
        let mac = self.code_mac(slot, &code);
        Ok(
            if self
                .store
                .consume_otp(&slot.key(), &mac, self.clock.now())
                .await?
            {
                Ok(())
            } else {
                Err(wrong)
            },
        )
    }

    /// Starts adding a phone number: allowed only while the account has no
    /// other method. Texts a code to confirm it.
    pub async fn start_sms_enrollment(
        &self,
        access: &Access,
        phone: &str,
    ) -> Result<CodeSent, CoreError> {
        let who = access.holder();
        let phone = PhoneNumber::parse(phone).map_err(|m| CoreError::Invalid(m.into()))?;
        let inv = self.store.inventory(who.account.id).await?;
        inv.may_add_sms()
            .map_err(|m| CoreError::Invalid(m.into()))?;
        // Text messages are only ever the first method: 2SV is off here.
        self.require_recent(who, self.security_needs(false))?;
        let now = self.clock.now();
        self.store
            .set_pending_phone(who.account.id, phone.as_str(), now)
            .await?;
        self.send_code(&who.account, phone.as_str(), &enroll_slot(who))
            .await
    }

    /// Texts a new code to the phone being added (after the cooldown).
    pub async fn resend_sms_enrollment(&self, access: &Access) -> Result<CodeSent, CoreError> {
        let who = access.holder();
        let Some((phone, _)) = self.store.pending_phone(who.account.id).await? else {
            return Err(CoreError::Invalid("Enter your phone number first.".into()));
        };
        self.send_code(&who.account, &phone, &enroll_slot(who))
            .await
    }

    /// Confirms the phone with the texted code: text messages become the
    /// account's first method, with a recovery key, and other sessions end.
    pub async fn confirm_sms(
        &self,
        access: &Access,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<Confirmed, CoreError> {
        let who = access.holder();
        let account = &who.account;
        let Some((phone, started)) = self.store.pending_phone(account.id).await? else {
            return Err(CoreError::Invalid("Enter your phone number first.".into()));
        };
        let now = self.clock.now();
        if now.millis() - started.millis() > self.config.two_step.enrollment_ttl_secs * 1000 {
            return Err(CoreError::Invalid(
                "This setup took too long. Enter your number again to get a new code.".into(),
            ));
        }
        self.guarded_explained(account, self.code_matches(&enroll_slot(who), code))
            .await?;
        let (key, hash) = self.fresh_recovery_key().await?;
        let (effects, issued) = self.method_added_effects(who, MethodKind::Sms, None, ctx);
        match self
            .store
            .activate_sms_with(account.id, &phone, &hash, now, &effects.first)
            .await?
        {
            Addition::Added { .. } => {}
            Addition::NotFirst => {
                return Err(CoreError::Invalid(
                    "Text messages can only be your first method. You already have a stronger one."
                        .into(),
                ));
            }
            Addition::Duplicate => {
                return Err(CoreError::Conflict("That phone is already set up."));
            }
            other => {
                return Err(CoreError::Internal(format!(
                    "unexpected answer to a phone number: {other:?}"
                )));
            }
        }
        self.wake_outbox();
        Ok(Confirmed {
            recovery_key: Some(key),
            issued,
        })
    }

    /// Removes the phone number while another method remains.
    pub async fn remove_sms(
        &self,
        who: &Authenticated,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        self.require_recent(who, Needs::SecondStep)?;
        let what = "text message";
        let effects = self.method_removed_effects(who, what, ctx);
        let removal = self.store.remove_sms_with(who.account.id, &effects).await?;
        self.after_removal(removal, what)
    }

    /// Texts a sign-in code for the flow's second step.
    pub async fn send_signin_sms(
        &self,
        flow_id: &str,
        ctx: &RequestContext,
    ) -> Result<CodeSent, CoreError> {
        let account = self.live_flow(flow_id, ctx).await?.account;
        let phone = self.phone_of(&account).await?;
        self.send_code(&account, &phone, &signin_slot(flow_id))
            .await
    }

    /// Texts a step-up code to the caller.
    pub async fn send_step_up_sms(&self, access: &Access) -> Result<CodeSent, CoreError> {
        let who = access.holder();
        let phone = self.phone_of(&who.account).await?;
        self.send_code(&who.account, &phone, &step_up_slot(who))
            .await
    }

    async fn phone_of(&self, account: &Account) -> Result<String, CoreError> {
        self.store
            .inventory(account.id)
            .await?
            .sms_phone
            .ok_or_else(|| {
                CoreError::Invalid(
                    "This account doesn't use text messages. Choose another method.".into(),
                )
            })
    }

    pub(crate) async fn signin_sms_matches(
        &self,
        flow_id: &str,
        code: &str,
    ) -> Result<Result<(), &'static str>, CoreError> {
        self.code_matches(&signin_slot(flow_id), code).await
    }

    pub(crate) async fn step_up_sms_matches(
        &self,
        who: &Authenticated,
        code: &str,
    ) -> Result<Result<(), &'static str>, CoreError> {
        self.code_matches(&step_up_slot(who), code).await
    }
}

fn enroll_slot(who: &Authenticated) -> CodeSlot {
    CodeSlot {
        purpose: CodePurpose::Enroll,
        binding: who.account.id.to_string(),
    }
}

fn signin_slot(flow_id: &str) -> CodeSlot {
    CodeSlot {
        purpose: CodePurpose::Signin,
        // The hashed flow id: the key in the table names no usable secret.
        binding: flow_ceremony_key(flow_id),
    }
}

fn step_up_slot(who: &Authenticated) -> CodeSlot {
    CodeSlot {
        purpose: CodePurpose::StepUp,
        binding: who.session.id.to_string(),
    }
}
