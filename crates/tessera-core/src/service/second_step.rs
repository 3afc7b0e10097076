//! Finishing a sign-in with a second step. The flow created after the
//! password is a 256-bit secret (stored hashed), expires, works once, and
//! only for the client (kind and User-Agent) that started it.

use super::signin::{Completion, DeviceCheck};
use super::{Core, IssuedSession, RequestContext};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::secrets::{ct_eq, random_token, token_hash};
use crate::session::{Aal, AuthMethod, ClientKind};
use crate::store::FlowRecord;
use crate::twostep::backoff::key_for;
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
    pub(crate) async fn live_flow(
        &self,
        flow_id: &str,
        ctx: &RequestContext,
    ) -> Result<(FlowRecord, Account), CoreError> {
        if flow_id.is_empty() || flow_id.len() > 128 {
            return Err(CoreError::FlowExpired);
        }
        let Some((flow, account)) = self.store.flow_by_id_hash(&token_hash(flow_id)).await? else {
            return Err(CoreError::FlowExpired);
        };
        if self.clock.now() >= flow.expires_at
            || !ct_eq(&flow.binding, &binding(flow.client, ctx))
            || !account.active
        {
            return Err(CoreError::FlowExpired);
        }
        Ok((flow, account))
    }

    /// The challenges a live flow's account can answer, the last-used one
    /// first (for the sign-in page).
    pub async fn flow_methods(
        &self,
        flow_id: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<Challenge>, CoreError> {
        let (_, account) = self.live_flow(flow_id, ctx).await?;
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
        let (flow, account) = self.live_flow(flow_id, ctx).await?;
        let (method, new_recovery_key) = self
            .check_second_step(&account, proof, Some(flow_id), None)
            .await?;
        // The flow is spent exactly once, whatever else raced with it: in
        // the commit that starts the session, or, for a recovery key,
        // already by `check_second_step` before it used the key up.
        let spend_flow = (method != AuthMethod::RecoveryKey).then_some(flow.id_hash.as_slice());
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
        Ok(SigninOutcome::Complete {
            issued,
            account,
            new_recovery_key,
        })
    }

    /// Checks a second-step proof under the backoff, for a sign-in flow or
    /// a step-up (the challenge it answers is bound to one of them).
    /// Returns the method it proved and, for a recovery key, its successor.
    pub(crate) async fn check_second_step(
        &self,
        account: &Account,
        proof: SecondStepProof,
        flow_id: Option<&str>,
        step_up: Option<&super::Authenticated>,
    ) -> Result<(AuthMethod, Option<String>), CoreError> {
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
                const USED: &str = "That recovery key is not correct, or it was already used.";
                let stored = self
                    .guarded_recovery(account, self.recovery_key_matches(account, &key))
                    .await
                    .map_err(|e| match e {
                        CoreError::WrongProof(_) => CoreError::WrongProof(USED),
                        other => other,
                    })?;
                // The key is replaced only by the request that owns the
                // flow: one that lost the flow to a parallel finish would
                // fail after using the key, and its successor, never shown,
                // would be lost with the account's only recovery key.
                if let Some(f) = flow_id
                    && !self.store.delete_flow(&token_hash(f)).await?
                {
                    return Err(CoreError::FlowExpired);
                }
                let new = self
                    .use_recovery_key(account, &stored)
                    .await?
                    .ok_or(CoreError::WrongProof(USED))?;
                (AuthMethod::RecoveryKey, Some(new))
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
        // session; a step-up has no such commit of its own.
        if step_up.is_some()
            && let Some(kind) = super::sessions::remembered_method(&[method])
        {
            self.remember_method(account, kind).await;
        }
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
