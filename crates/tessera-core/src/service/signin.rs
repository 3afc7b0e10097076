//! The sign-in use case: drives the state machine in [`crate::signin`].

use super::second_step::SigninOutcome;
use super::{Core, RequestContext};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::email::Email;
use crate::error::CoreError;
use crate::ids::AccountId;
use crate::password::Password;
use crate::password::throttle::Budget;
use crate::secrets::{random_token, token_hash};
use crate::session::{AuthMethod, ClientKind, methods_to_text};
use crate::signin::{FirstFactor, SigninFacts, SigninStep, after_first_factor};
use crate::store::{KnownDevice, SessionExtras, SessionStart, TotpCommit};
use crate::twostep::methods::Challenge;

/// Bytes of randomness in a device token: 256 bits.
pub const DEVICE_TOKEN_BYTES: usize = 32;

/// What a client submits to sign in.
#[derive(Debug, Clone)]
pub struct SigninRequest {
    pub email: String,
    pub password: Password,
    pub client: ClientKind,
}

/// What is known of the client's device when a sign-in completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceCheck {
    /// The client proved a known device of the account.
    Known,
    /// It did not: the sign-in issues a device token.
    Unknown,
    /// Not checked yet: look at the request's device token.
    FromRequest,
}

/// How a sign-in completes; written in the commit that starts the session.
pub(crate) struct Completion<'a> {
    pub client: ClientKind,
    pub aal: crate::session::Aal,
    pub methods: Vec<AuthMethod>,
    /// The session may only enroll in two-step verification.
    pub restricted: bool,
    /// The sign-in flow to spend (its id hash).
    pub spend_flow: Option<&'a [u8]>,
    pub device: DeviceCheck,
    /// A backoff slot to release and clear in the same commit (the
    /// password throttle's claimed key and its second key, or the second
    /// step's).
    pub throttle: Option<(&'a str, Option<&'a str>)>,
    /// An authenticator code settled in the session's commit (see
    /// [`TotpCommit`]).
    pub totp: Option<TotpCommit<'a>>,
    /// A recovery key used up by this sign-in: its replacement, audit
    /// record and notice ride in the same commit.
    pub recovery: Option<&'a crate::store::Effects>,
}

impl Core {
    /// Signs in with email and password. Every refusal is the same
    /// [`CoreError::BadCredentials`], and costs the same one hash whether or
    /// not the account exists; the throttle answers the same way for every
    /// address too. Accounts with two-step verification get a flow to
    /// finish with their second step.
    pub async fn sign_in(
        &self,
        req: SigninRequest,
        ctx: &RequestContext,
    ) -> Result<SigninOutcome, CoreError> {
        // Under a flood the answer is a 503 whatever the account: give it
        // before the database lookup, so excess sign-ins cost next to nothing.
        self.pool.admit()?;
        let device_hash = ctx.device_token.as_deref().map(token_hash);
        let email = Email::parse(&req.email).ok();
        let lookup = async {
            match &email {
                Some(e) => {
                    self.store
                        .account_for_signin(e, device_hash.as_deref(), self.clock.now())
                        .await
                }
                None => Ok((None, false)),
            }
        };
        let (account, budget) = match &device_hash {
            // No device token: the budget is known before the lookup, so
            // the claim and the lookup go to the database side by side.
            None => {
                let budget = Budget::of(&req.email, None, ctx.ip.as_deref());
                let (looked_up, claimed) = tokio::join!(lookup, self.claim_password_check(&budget));
                match (looked_up, claimed) {
                    (Ok((account, _)), Ok(())) => (account, budget),
                    (_, Err(refused)) => return Err(refused),
                    (Err(e), Ok(())) => {
                        self.password_check_aborted(&budget).await;
                        return Err(e.into());
                    }
                }
            }
            Some(hash) => {
                let (account, device) = lookup.await?;
                let known = account
                    .as_ref()
                    .filter(|_| device)
                    .map(|a| (a.id, hash.as_slice()));
                let budget = Budget::of(&req.email, known, ctx.ip.as_deref());
                self.claim_password_check(&budget).await?;
                (account, budget)
            }
        };
        let outcome = match self.sign_in_claimed(req, account, &budget, ctx).await {
            Err(e @ (CoreError::BadCredentials | CoreError::Forbidden(_))) => return Err(e),
            Err(e) => {
                self.password_check_aborted(&budget).await;
                return Err(e);
            }
            Ok(o) => o,
        };
        // The code is mailed once the throttle is settled (the flow's
        // commit cleared it): a refusal to mail (the account's budget is
        // spent) must not release a slot another request may hold by now.
        if let SigninOutcome::SecondStep {
            flow_id, methods, ..
        } = &outcome
            && methods.as_slice() == [Challenge::EmailCode]
        {
            self.mail_signin_code(flow_id, ctx).await?;
        }
        Ok(outcome)
    }

    /// The sign-in once its throttle slot is held: every path settles it.
    async fn sign_in_claimed(
        &self,
        req: SigninRequest,
        account: Option<Account>,
        budget: &Budget,
        ctx: &RequestContext,
    ) -> Result<SigninOutcome, CoreError> {
        if req.password.expose().chars().count() > self.config.password_policy.max_len.max(1024) {
            // Do not spend a hash on absurd input, but keep the answer the same.
            self.password_failed(budget, account.as_ref()).await;
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
        let standing = match &account {
            Some(a) if factor != FirstFactor::None => Some(self.standing(a).await?),
            _ => None,
        };
        let facts = match (&methods, &standing) {
            (Some(inv), Some(standing)) => SigninFacts {
                two_step_on: inv.two_step_on(),
                legacy_login: self.config.two_step.legacy_login,
                enforce_for_admins: self.config.two_step.enforce_for_admins,
                org_admin: standing.org_admin_anywhere(),
                org_requires_two_step: standing.two_step_required(),
                // An external user's policy asks for a code at every
                // sign-in, from known devices too.
                email_code: self
                    .config
                    .email_codes
                    .asks_at_signin(budget.is_known_device())
                    || standing.external_policy().email_code,
            },
            _ => SigninFacts::default(),
        };
        let step = after_first_factor(account.as_ref(), factor, facts);
        if factor == FirstFactor::None {
            self.password_failed(budget, account.as_ref()).await;
        }
        let Some(account) = account else {
            self.record_failure(None, "unknown_account", ctx).await;
            return Err(CoreError::BadCredentials);
        };
        match step {
            SigninStep::Refused(reason) => {
                if factor != FirstFactor::None {
                    // The password was right: the account may not sign in
                    // (inactive, a service account). Not a guess.
                    self.password_succeeded(budget).await?;
                }
                self.record_failure(Some(&account), reason.as_str(), ctx)
                    .await;
                Err(CoreError::BadCredentials)
            }
            SigninStep::BreakGlassRefused => {
                self.password_succeeded(budget).await?;
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
            SigninStep::EmailCode { first } => {
                self.start_flow(
                    &account,
                    first,
                    vec![Challenge::EmailCode],
                    req.client,
                    Some(budget),
                    ctx,
                )
                .await
            }
            SigninStep::SecondStep { first } => {
                let offered = methods.map(|inv| inv.challenges()).unwrap_or_default();
                self.start_flow(&account, first, offered, req.client, Some(budget), ctx)
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
                let device = if budget.is_known_device() {
                    DeviceCheck::Known
                } else {
                    DeviceCheck::Unknown
                };
                let issued = self
                    .complete_signin(
                        &account,
                        Completion {
                            client: req.client,
                            aal,
                            methods,
                            restricted,
                            spend_flow: None,
                            device,
                            throttle: Some((budget.claimed(), budget.also_reset())),
                            totp: None,
                            recovery: None,
                        },
                        ctx,
                    )
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
        self.complete_signin(
            account,
            Completion {
                client,
                aal,
                methods,
                restricted,
                spend_flow,
                device: DeviceCheck::FromRequest,
                throttle: None,
                totp: None,
                recovery: None,
            },
            ctx,
        )
        .await
    }

    /// Starts the session of a completed sign-in, with its audit records,
    /// a device token for a device not known yet, and the throttle cleared,
    /// all in one commit.
    pub(crate) async fn complete_signin(
        &self,
        account: &Account,
        done: Completion<'_>,
        ctx: &RequestContext,
    ) -> Result<super::IssuedSession, CoreError> {
        // Without a second step settled in the commit, the only condition
        // that can stop it is a flow spent by a parallel finish.
        self.complete_signin_if(account, done, ctx)
            .await?
            .map_err(|_| CoreError::FlowExpired)
    }

    /// Like [`Core::complete_signin`], but says which condition of the
    /// commit stopped it (and nothing was written).
    pub(crate) async fn complete_signin_if(
        &self,
        account: &Account,
        done: Completion<'_>,
        ctx: &RequestContext,
    ) -> Result<Result<super::IssuedSession, SessionStart>, CoreError> {
        let now = self.clock.now();
        let known = match done.device {
            DeviceCheck::Known => true,
            DeviceCheck::Unknown => false,
            DeviceCheck::FromRequest => match ctx.device_token.as_deref() {
                Some(t) => {
                    self.store
                        .known_device(account.id, &token_hash(t), now)
                        .await?
                }
                None => false,
            },
        };
        let new_device = (!known).then(|| {
            let token = random_token(self.secrets.as_ref(), DEVICE_TOKEN_BYTES);
            let record = KnownDevice {
                account_id: account.id,
                token_hash: token_hash(&token),
                created_at: now,
                expires_at: now.plus_secs(self.config.throttle.device_ttl_secs),
            };
            (token, record)
        });
        let succeeded = NewAuditEvent::new(AuditKind::SigninSucceeded)
            .actor(account.id)
            .subject(account.id)
            .ip(ctx.ip.clone())
            .detail_json(serde_json::json!({
                "client": done.client.as_str(),
                "methods": methods_to_text(&done.methods),
                "aal": done.aal.as_str(),
                "known_device": known,
            }));

        let extras = SessionExtras {
            last_method: None,
            spend_flow: done.spend_flow,
            throttle_success: done.throttle,
            new_device: new_device.as_ref().map(|(_, d)| d),
            totp: done.totp,
            use_recovery_key: done.recovery.and_then(|r| r.use_recovery_key.as_ref()),
            mail: done.recovery.map_or(&[], |r| r.mail.as_slice()),
        };
        let mut also = vec![succeeded];
        if let Some(r) = done.recovery {
            also.extend(r.audit.iter().cloned());
        }
        let absolute_secs = self.session_length(account, done.client).await?;
        let mut issued = self
            .start_session(
                account.id,
                absolute_secs,
                done.client,
                done.aal,
                done.methods,
                done.restricted,
                also,
                extras,
                ctx,
            )
            .await?;
        if let Ok(issued) = &mut issued {
            issued.device_token = new_device.map(|(t, _)| t);
        }
        Ok(issued)
    }

    /// How long a new session of `account` on `client` lasts: the
    /// instance's absolute length, shortened for an external user's web
    /// session by the verification frequency of their organizations.
    pub(crate) async fn session_length(
        &self,
        account: &Account,
        client: ClientKind,
    ) -> Result<i64, CoreError> {
        let absolute = self.config.session_policy.absolute_secs;
        if client != ClientKind::Web {
            return Ok(absolute);
        }
        Ok(
            match self.standing(account).await?.external_policy().session_secs {
                Some(frequency) => absolute.min(frequency),
                None => absolute,
            },
        )
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
        // The same read whether or not the address has an account (for an
        // unknown one, of no account): otherwise a wrong password would
        // take one query longer for a known address than an unknown one.
        let owner = account.map_or(AccountId(uuid::Uuid::nil()), |a| a.id);
        let break_glass = self.store.break_glass(owner, self.clock.now()).await?;
        let Some(account) = account else {
            return Ok(FirstFactor::None);
        };
        if let Some(bg) = break_glass {
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
            .detail_json(serde_json::json!({ "reason": reason }));
        if let Some(a) = account {
            event = event.subject(a.id);
        }
        self.audit(event).await;
    }
}
