//! Finishing a sign-in with a second step. The flow created after the
//! password is a 256-bit secret (stored hashed), expires, works once, and
//! only for the client (kind and User-Agent) that started it.

use super::signin::{Completion, DeviceCheck};
use super::{Core, IssuedSession, RequestContext};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::clock::Timestamp;
use crate::error::{CoreError, RECOVERY_KEY_USED};
use crate::secrets::{ct_eq, random_token, token_hash};
use crate::session::{Aal, AuthMethod, ClientKind};
use crate::store::{FlowContext, FlowRecord, SessionStart, TotpCommit};
use crate::twostep::backoff::{KEY_PREFIX, key_for};
use crate::twostep::methods::{Challenge, MethodKind};
use sha2::{Digest, Sha256};

/// How a sign-in ended (for now).
// The big variant is the common one and the value lives for one request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SigninOutcome {
    Complete {
        issued: IssuedSession,
        /// The account signed in (as it was read at sign-in).
        account: Account,
        /// Set when a recovery key was used: the key that replaces it.
        new_recovery_key: Option<String>,
    },
    SecondStep {
        flow_id: String,
        methods: Vec<Challenge>,
        expires_at: Timestamp,
    },
}

/// A second-step proof.
#[derive(Debug, Clone)]
pub enum SecondStepProof {
    Totp(String),
    RecoveryKey(String),
    /// The browser's answer to the key challenge (a WebAuthn assertion).
    Webauthn(serde_json::Value),
    /// A texted code.
    Sms(String),
    /// An emailed code (accounts without 2SV): proves the mailbox, not a
    /// second factor, so it leads to `aal1`.
    EmailCode(String),
}

pub(crate) fn binding(client: ClientKind, ctx: &RequestContext) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(client.as_str().as_bytes());
    h.update([0]);
    h.update(ctx.user_agent.as_deref().unwrap_or("").as_bytes());
    h.finalize().to_vec()
}

impl Core {
    pub(crate) async fn start_flow(
        &self,
        account: &Account,
        first: AuthMethod,
        methods: Vec<Challenge>,
        client: ClientKind,
        throttle: Option<&crate::password::throttle::Budget>,
        ctx: &RequestContext,
    ) -> Result<SigninOutcome, CoreError> {
        let now = self.clock.now();
        let flow_id = random_token(self.secrets.as_ref(), 32);
        let expires_at = now.plus_secs(self.config.two_step.flow_ttl_secs);
        self.store
            .insert_flow(
                &FlowRecord {
                    id_hash: token_hash(&flow_id),
                    account_id: account.id,
                    client,
                    binding: binding(client, ctx),
                    first_method: first,
                    created_at: now,
                    expires_at,
                },
                throttle.map(|b| (b.claimed(), b.also_reset())),
            )
            .await?;
        Ok(SigninOutcome::SecondStep {
            flow_id,
            methods,
            expires_at,
        })
    }

    /// The account a live flow belongs to, if `flow_id` is one and this
    /// client started it.
    /// (Read with what its second step needs: see [`FlowContext`].)
    pub(crate) async fn live_flow(
        &self,
        flow_id: &str,
        ctx: &RequestContext,
    ) -> Result<FlowContext, CoreError> {
        if flow_id.is_empty() || flow_id.len() > 128 {
            return Err(CoreError::FlowExpired);
        }
        let Some(found) = self
            .store
            .flow_context(&token_hash(flow_id), KEY_PREFIX)
            .await?
        else {
            return Err(CoreError::FlowExpired);
        };
        let (flow, account) = (&found.flow, &found.account);
        if self.clock.now() >= flow.expires_at
            || !ct_eq(&flow.binding, &binding(flow.client, ctx))
            || !account.active
        {
            return Err(CoreError::FlowExpired);
        }
        Ok(found)
    }

    /// The challenges a live flow's account can answer, the last-used one
    /// first (for the sign-in page).
    pub async fn flow_methods(
        &self,
        flow_id: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<Challenge>, CoreError> {
        let account = self.live_flow(flow_id, ctx).await?.account;
        let challenges = self.store.inventory(account.id).await?.challenges();
        // Without 2SV, a flow exists only for an emailed code.
        if challenges.is_empty() {
            return Ok(vec![Challenge::EmailCode]);
        }
        Ok(challenges)
    }

    /// Finishes a sign-in flow with a second step.
    pub async fn continue_sign_in(
        &self,
        flow_id: &str,
        proof: SecondStepProof,
        ctx: &RequestContext,
    ) -> Result<SigninOutcome, CoreError> {
        let found = self.live_flow(flow_id, ctx).await?;
        if let SecondStepProof::Totp(code) = &proof
            && let Some(done) = self.totp_in_one_commit(&found, code, ctx).await?
        {
            return Ok(done);
        }
        let FlowContext { flow, account, .. } = found;
        let (method, key_use) = self
            .check_second_step(&account, proof, Some(flow_id), None)
            .await?;
        // The flow is spent exactly once, whatever else raced with it, in
        // the commit that starts the session; a recovery key is used up in
        // that commit too, so its successor exists only with the session
        // whose answer carries it.
        let spend_flow = Some(flow.id_hash.as_slice());
        // A right code's backoff success rides in the session's commit
        // (see `check_second_step`).
        let deferred = (method == AuthMethod::Totp).then(|| key_for(account.id));
        let restricted =
            method == AuthMethod::EmailCode && self.must_enroll_without_two_step(&account).await?;
        let done = self
            .complete_signin(
                &account,
                Completion {
                    client: flow.client,
                    aal: if method.is_second_step() {
                        Aal::Aal2
                    } else {
                        Aal::Aal1
                    },
                    methods: vec![flow.first_method, method],
                    restricted,
                    spend_flow,
                    device: DeviceCheck::FromRequest,
                    throttle: deferred.as_deref().map(|k| (k, None)),
                    totp: None,
                    recovery: key_use.as_ref().map(|k| &k.effects),
                },
                ctx,
            )
            .await;
        let issued = match (done, &deferred) {
            (Ok(issued), _) => issued,
            (Err(e), Some(key)) => {
                self.store.limiter_success(key, None).await?;
                return Err(e);
            }
            (Err(e), None) => return Err(e),
        };
        if key_use.is_some() {
            self.wake_outbox();
        }
        Ok(SigninOutcome::Complete {
            issued,
            account,
            new_recovery_key: key_use.map(|k| k.new_key),
        })
    }

    /// The common second step, a right authenticator code from an account
    /// whose backoff is clear, decided in the commit that starts the
    /// session: the backoff check, the code's step and the session commit
    /// together, where the general path commits a slot claim, the step and
    /// the session one after another. `None` leaves the answer to that
    /// path (a wrong code, a backoff that is not clear, a step used by a
    /// parallel request), which then claims its slot and counts as usual.
    ///
    /// The code is evaluated before any slot is claimed, but only after
    /// the backoff was read clear, so a blocked account's codes are still
    /// not evaluated; and the session starts only if the commit finds a
    /// slot it could have claimed, as `limiter_claim` would have.
    async fn totp_in_one_commit(
        &self,
        found: &FlowContext,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<Option<SigninOutcome>, CoreError> {
        let (flow, account) = (&found.flow, &found.account);
        let key = key_for(account.id);
        let policy = self.config.two_step.backoff;
        let now = self.clock.now();
        if let Some((failures, blocked_until)) = found.backoff
            && (blocked_until > now || policy.locked(failures))
        {
            return Ok(None);
        }
        let Some(rec) = &found.totp else {
            return Ok(None);
        };
        let secret = self.open_totp(account, &rec.sealed_secret)?;
        let Some(step) = secret.matching_step(code, now) else {
            return Ok(None);
        };
        let done = self
            .complete_signin_if(
                account,
                Completion {
                    client: flow.client,
                    aal: Aal::Aal2,
                    methods: vec![flow.first_method, AuthMethod::Totp],
                    restricted: false,
                    spend_flow: Some(&flow.id_hash),
                    device: DeviceCheck::FromRequest,
                    throttle: None,
                    recovery: None,
                    totp: Some(TotpCommit {
                        step,
                        backoff_key: &key,
                        rule: policy.slot_rule(),
                        now,
                        clear_failures: found.backoff.is_some_and(|(failures, _)| failures > 0),
                    }),
                },
                ctx,
            )
            .await?;
        match done {
            Ok(issued) => Ok(Some(SigninOutcome::Complete {
                issued,
                account: account.clone(),
                new_recovery_key: None,
            })),
            Err(SessionStart::FlowSpent) => Err(CoreError::FlowExpired),
            Err(_) => Ok(None),
        }
    }

    /// Checks a second-step proof under the backoff, for a sign-in flow or
    /// a step-up (the challenge it answers is bound to one of them).
    /// Returns the method it proved and, for a recovery key, its use, to
    /// be written by the caller's commit.
    pub(crate) async fn check_second_step(
        &self,
        account: &Account,
        proof: SecondStepProof,
        flow_id: Option<&str>,
        step_up: Option<&super::Authenticated>,
    ) -> Result<(AuthMethod, Option<super::verification::KeyUse>), CoreError> {
        let (method, new_key) = match proof {
            SecondStepProof::Totp(code) => {
                let matches = self.totp_matches(account, &code);
                // At sign-in the backoff is cleared in the session's commit.
                if flow_id.is_some() {
                    self.guarded_deferred(account, matches).await?;
                } else {
                    self.guarded(account, matches).await?;
                }
                (AuthMethod::Totp, None)
            }
            SecondStepProof::RecoveryKey(key) => {
                let stored = self
                    .guarded_recovery(account, self.recovery_key_matches(account, &key))
                    .await
                    .map_err(|e| match e {
                        CoreError::WrongProof(_) => CoreError::WrongProof(RECOVERY_KEY_USED),
                        other => other,
                    })?;
                (
                    AuthMethod::RecoveryKey,
                    Some(self.recovery_use(account, &stored).await?),
                )
            }
            SecondStepProof::Webauthn(credential) => {
                // Malformed answers are refused before a backoff slot is
                // claimed: they are not guesses, and must not hold one.
                let pkc: webauthn_rs::prelude::PublicKeyCredential =
                    super::keys::parse(credential)?;
                let ceremony = match (flow_id, step_up) {
                    (Some(f), _) => super::keys::flow_ceremony_key(f),
                    (None, Some(who)) => Core::step_up_ceremony_key(who),
                    (None, None) => return Err(CoreError::Internal("no ceremony".into())),
                };
                let kind = self
                    .guarded_explained(account, self.key_matches(account, &ceremony, pkc))
                    .await?;
                (
                    match kind {
                        MethodKind::Passkey => AuthMethod::Passkey,
                        _ => AuthMethod::SecurityKey,
                    },
                    None,
                )
            }
            SecondStepProof::Sms(code) => {
                match (flow_id, step_up) {
                    (Some(f), _) => {
                        self.guarded_explained(account, self.signin_sms_matches(f, &code))
                            .await?
                    }
                    (None, Some(who)) => {
                        self.guarded_explained(account, self.step_up_sms_matches(who, &code))
                            .await?
                    }
                    (None, None) => return Err(CoreError::Internal("no code slot".into())),
                }
                (AuthMethod::Sms, None)
            }
            SecondStepProof::EmailCode(code) => {
                match (flow_id, step_up) {
                    (Some(f), _) => {
                        self.guarded_explained(
                            account,
                            self.signin_email_code_matches(account, f, &code),
                        )
                        .await?
                    }
                    (None, Some(who)) => {
                        self.guarded_explained(account, self.step_up_email_code_matches(who, &code))
                            .await?
                    }
                    (None, None) => return Err(CoreError::Internal("no code slot".into())),
                }
                (AuthMethod::EmailCode, None)
            }
        };
        // A sign-in remembers its method in the commit that starts its
        // session, a step-up in the one that re-issues it.
        Ok((method, new_key))
    }

    /// Records a second-step failure at sign-in (the backoff counted it).
    pub async fn audit_second_step_failure(&self, flow_id: &str, ctx: &RequestContext) {
        if let Ok(Some((flow, _))) = self.store.flow_by_id_hash(&token_hash(flow_id)).await {
            self.audit(
                NewAuditEvent::new(AuditKind::SigninFailed)
                    .subject(flow.account_id)
                    .ip(ctx.ip.clone())
                    .detail_json(serde_json::json!({ "reason": "wrong_second_step" })),
            )
            .await;
        }
    }
}
