//! The sign-in use case: drives the state machine in [`crate::signin`].

use super::second_step::SigninOutcome;
use super::{Core, RequestContext};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::email::Email;
use crate::error::CoreError;
use crate::password::Password;
use crate::session::{AuthMethod, ClientKind, methods_to_text};
use crate::signin::{FirstFactor, SigninFacts, SigninStep, after_first_factor};

/// What a client submits to sign in.
#[derive(Debug, Clone)]
pub struct SigninRequest {
    pub email: String,
    pub password: Password,
    pub client: ClientKind,
}

impl Core {
    /// Signs in with email and password. Every refusal is the same
    /// [`CoreError::BadCredentials`], and costs the same one hash whether or
    /// not the account exists. Accounts with two-step verification get a
    /// flow to finish with their second step.
    pub async fn sign_in(
        &self,
        req: SigninRequest,
        ctx: &RequestContext,
    ) -> Result<SigninOutcome, CoreError> {
        // Under a flood the answer is a 503 whatever the account: give it
        // before the database lookup, so excess sign-ins cost next to nothing.
        self.pool.admit()?;
        let account = match Email::parse(&req.email) {
            Ok(email) => self.store.account_by_email(&email).await?,
            Err(_) => None,
        };
        if req.password.expose().chars().count() > self.config.password_policy.max_len.max(1024) {
            // Do not spend a hash on absurd input, but keep the answer the same.
            self.record_failure(account.as_ref(), "too_long", ctx).await;
            return Err(CoreError::BadCredentials);
        }
        let factor = self
            .check_first_factor(account.as_ref(), &req.password)
            .await?;
        // Read once: it decides the next step and, for a second step, which
        // methods to offer.
        let methods = match &account {
            Some(a) if factor != FirstFactor::None => Some(self.store.inventory(a.id).await?),
            _ => None,
        };
        let facts = match &methods {
            Some(inv) => SigninFacts {
                two_step_on: inv.two_step_on(),
                legacy_login: self.config.two_step.legacy_login,
                enforce_for_admins: self.config.two_step.enforce_for_admins,
            },
            None => SigninFacts::default(),
        };
        let step = after_first_factor(account.as_ref(), factor, facts);
        let Some(account) = account else {
            self.record_failure(None, "unknown_account", ctx).await;
            return Err(CoreError::BadCredentials);
        };
        match step {
            SigninStep::Refused(reason) => {
                self.record_failure(Some(&account), reason.as_str(), ctx)
                    .await;
                Err(CoreError::BadCredentials)
            }
            SigninStep::BreakGlassRefused => {
                self.audit(
                    NewAuditEvent::new(AuditKind::BreakGlassRefused)
                        .subject(account.id)
                        .ip(ctx.ip.clone()),
                )
                .await;
                Err(CoreError::Forbidden(
                    "The one-time recovery password cannot be used: this account has two-step \
                     verification. Sign in with the password and the emergency recovery key, or ask \
                     another sysadmin to remove the account's two-step verification.",
                ))
            }
            SigninStep::SecondStep { first } => {
                let offered = methods.map(|inv| inv.challenges()).unwrap_or_default();
                self.start_flow(&account, first, offered, req.client, ctx)
                    .await
            }
            SigninStep::Complete {
                aal,
                methods,
                restricted,
                legacy,
            } => {
                if legacy {
                    self.audit(
                        NewAuditEvent::new(AuditKind::LegacyLogin)
                            .actor(account.id)
                            .subject(account.id)
                            .ip(ctx.ip.clone()),
                    )
                    .await;
                }
                let issued = self
                    .finish_signin(&account, req.client, aal, methods, restricted, None, ctx)
                    .await?;
                Ok(SigninOutcome::Complete {
                    issued,
                    account,
                    new_recovery_key: None,
                })
            }
        }
    }

    /// Starts the session of a completed sign-in and records it, spending
    /// its flow (if any) in the same commit.
    // Each argument is one fact about the sign-in, passed straight through
    // to `start_session`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn finish_signin(
        &self,
        account: &Account,
        client: ClientKind,
        aal: crate::session::Aal,
        methods: Vec<AuthMethod>,
        restricted: bool,
        spend_flow: Option<&[u8]>,
        ctx: &RequestContext,
    ) -> Result<super::IssuedSession, CoreError> {
        let succeeded = NewAuditEvent::new(AuditKind::SigninSucceeded)
            .actor(account.id)
            .subject(account.id)
            .ip(ctx.ip.clone())
            .detail(format!(
                r#"{{"client":"{client}","methods":"{}","aal":"{aal}"}}"#,
                methods_to_text(&methods)
            ));
        self.start_session(
            account.id,
            client,
            aal,
            methods,
            restricted,
            Some(succeeded),
            spend_flow,
            ctx,
        )
        .await
    }

    /// Checks the password, and the break-glass password if one is pending.
    /// Rehashes with the current parameters when the stored hash is older.
    async fn check_first_factor(
        &self,
        account: Option<&Account>,
        password: &Password,
    ) -> Result<FirstFactor, CoreError> {
        let stored = account.and_then(|a| a.password_hash.as_deref());
        let v = self.pool.verify(stored, password.clone()).await?;
        if v.matches {
            if let (true, Some(account), Some(old)) = (v.needs_rehash, account, stored) {
                self.rehash(account, old, password).await;
            }
            return Ok(FirstFactor::Password);
        }
        let Some(account) = account else {
            return Ok(FirstFactor::None);
        };
        let now = self.clock.now();
        if let Some(bg) = self.store.break_glass(account.id, now).await? {
            let v = self.pool.verify(Some(&bg), password.clone()).await?;
            // Consumed atomically: of parallel sign-ins with the same
            // one-time password, exactly one gets through.
            if v.matches && self.store.consume_break_glass(account.id, &bg).await? {
                return Ok(FirstFactor::BreakGlass);
            }
        }
        Ok(FirstFactor::None)
    }

    async fn rehash(&self, account: &Account, old: &str, password: &Password) {
        // Best effort: a busy pool or a race with a password change simply
        // leaves the old hash for the next sign-in.
        match self.pool.hash(password.clone()).await {
            Ok(new) => {
                let now = self.clock.now();
                if let Err(e) = self
                    .store
                    .replace_password_hash(account.id, old, &new, now)
                    .await
                {
                    tracing::warn!(error = %e, "could not store rehashed password");
                }
            }
            Err(e) => tracing::debug!(error = %e, "rehash skipped"),
        }
    }

    pub(crate) async fn record_failure(
        &self,
        account: Option<&Account>,
        reason: &str,
        ctx: &RequestContext,
    ) {
        let mut event = NewAuditEvent::new(AuditKind::SigninFailed)
            .ip(ctx.ip.clone())
            .detail(format!(r#"{{"reason":"{reason}"}}"#));
        if let Some(a) = account {
            event = event.subject(a.id);
        }
        self.audit(event).await;
    }
}
