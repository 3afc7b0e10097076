//! Security keys and passkeys (WebAuthn): registering them, naming and
//! removing them, and using them at sign-in and step-up.
//!
//! Each ceremony is two requests. The first stores its state on the
//! server under a key bound to what it belongs to (the session, the
//! sign-in flow, or a random id held by the browser), and the second takes
//! that state out in one `DELETE … RETURNING`: a challenge is answered at
//! most once, and only the latest one can be.

use super::{Access, Authenticated, Core, IssuedSession, RequestContext, SigninOutcome};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::secrets::{ct_eq, random_token, random_uuid, token_hash};
use crate::session::{Aal, AuthMethod, ClientKind};
use crate::store::{CeremonyRecord, WebauthnRecord};
use crate::twostep::methods::{Addition, MethodKind};
use serde_json::Value;
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{
    Credential, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey,
    SecurityKeyAuthentication, SecurityKeyRegistration, WebauthnError,
};

/// A ceremony must be answered within this long.
const CEREMONY_TTL_SECS: i64 = 300;
/// The most keys and passkeys one account may hold.
const MAX_KEYS: usize = 20;

/// The result of registering a key or passkey.
#[derive(Debug, Clone)]
pub struct KeyAdded {
    pub id: uuid::Uuid,
    /// The emergency recovery key, when this was the first method.
    pub recovery_key: Option<String>,
    /// The session continues under a new token.
    pub issued: IssuedSession,
}

/// A passwordless sign-in waiting for the browser's passkey.
#[derive(Debug, Clone)]
pub struct PasskeyChallenge {
    /// Names the ceremony in the finishing request (random, single use).
    pub ceremony_id: String,
    /// `{publicKey: …, mediation: …}` for `navigator.credentials.get`.
    pub options: Value,
}

/// What is kept between the two halves of a registration.
#[derive(serde::Serialize, serde::Deserialize)]
struct Registering {
    kind: String,
    name: String,
    security_key: Option<SecurityKeyRegistration>,
    passkey: Option<PasskeyRegistration>,
}

/// What is kept between the two halves of a sign-in with a passkey.
#[derive(serde::Serialize, serde::Deserialize)]
struct Discovering {
    client: String,
    binding: String,
    state: webauthn_rs::prelude::DiscoverableAuthentication,
}

/// The ceremony key of a sign-in flow's second step.
pub(crate) fn flow_ceremony_key(flow_id: &str) -> String {
    format!("flow:{}", hex::encode(token_hash(flow_id)))
}

fn session_key(purpose: &str, who: &Authenticated) -> String {
    format!("{purpose}:{}", who.session.id)
}

/// A name for a key: 1 to 64 characters, no control characters.
pub fn key_name(raw: &str) -> Result<String, CoreError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(CoreError::Invalid(
            "Give the key a name, so you can tell your keys apart.".into(),
        ));
    }
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(CoreError::Invalid(
            "Key names are at most 64 characters, without line breaks.".into(),
        ));
    }
    Ok(name.to_string())
}

/// Turns a refusal from the WebAuthn checks into words for people. The
/// cause is logged; its details are not shown.
fn refused(e: &WebauthnError) -> CoreError {
    tracing::info!(error = ?e, "webauthn response refused");
    CoreError::WrongProof(match e {
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => {
            "That response was made for a different website, so it can't be used here."
        }
        WebauthnError::MismatchedChallenge | WebauthnError::ChallengeNotFound => {
            "That response doesn't answer this request. Try again."
        }
        WebauthnError::UserNotVerified => {
            "Your key must verify it's you (with its PIN, fingerprint or face) for this. Try again and complete that step."
        }
        WebauthnError::CredentialPossibleCompromise => {
            "This key reported fewer uses than before, which happens when a key has been copied. It was refused."
        }
        _ => "Your key's response could not be verified. Try again.",
    })
}

pub fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, CoreError> {
    serde_json::from_value(v).map_err(|_| {
        CoreError::Invalid(
            "The key's response is malformed. Try again, or use another method.".into(),
        )
    })
}

fn credential_of(rec: &WebauthnRecord) -> Result<Credential, CoreError> {
    let mut cred: Credential = serde_json::from_str(&rec.credential)
        .map_err(|e| CoreError::Internal(format!("stored credential {}: {e}", rec.id)))?;
    // The column is authoritative: it is what the last use moved it to.
    cred.counter = u32::try_from(rec.counter).unwrap_or(u32::MAX);
    Ok(cred)
}

use super::stepup::Needs;

impl Core {
    fn relying_party(&self) -> Result<&Webauthn, CoreError> {
        self.webauthn
            .as_deref()
            .ok_or_else(|| CoreError::Internal("webauthn is not configured".into()))
    }

    /// Starts registering a security key or passkey called `name`. Needs a
    /// recent verification (with a second step once 2SV is on). Returns
    /// the options for `navigator.credentials.create`.
    pub async fn start_key_registration(
        &self,
        access: &Access,
        kind: MethodKind,
        name: &str,
    ) -> Result<Value, CoreError> {
        let who = access.holder();
        let name = key_name(name)?;
        let inv = self.store.inventory(who.account.id).await?;
        self.require_recent(who, self.security_needs(inv.two_step_on()))?;
        if inv.keys.len() >= MAX_KEYS {
            return Err(CoreError::Invalid(format!(
                "You have {MAX_KEYS} keys and passkeys, the most an account can have. Remove one first."
            )));
        }
        let wa = self.relying_party()?;
        let existing: Vec<_> = self
            .store
            .webauthn_of(who.account.id)
            .await?
            .into_iter()
            .map(|r| r.credential_id)
            .collect();
        let user = who.account.id.0;
        let email = who.account.email.as_str();
        let display = if who.account.display_name.is_empty() {
            email
        } else {
            who.account.display_name.as_str()
        };
        let exclude = Some(existing);
        let (options, state) = match kind {
            MethodKind::SecurityKey => {
                let (ccr, st) = wa
                    .start_securitykey_registration(user, email, display, exclude, None, None)
                    .map_err(|e| CoreError::Internal(format!("webauthn: {e}")))?;
                (
                    ccr,
                    Registering {
                        kind: kind.as_str().into(),
                        name,
                        security_key: Some(st),
                        passkey: None,
                    },
                )
            }
            MethodKind::Passkey => {
                let (ccr, st) = wa
                    .start_passkey_registration(user, email, display, exclude)
                    .map_err(|e| CoreError::Internal(format!("webauthn: {e}")))?;
                (
                    ccr,
                    Registering {
                        kind: kind.as_str().into(),
                        name,
                        security_key: None,
                        passkey: Some(st),
                    },
                )
            }
            _ => {
                return Err(CoreError::Invalid(
                    "Only security keys and passkeys are registered this way.".into(),
                ));
            }
        };
        self.put_ceremony(
            &session_key("register", who),
            Some(who.account.id),
            "register",
            &state,
        )
        .await?;
        let mut options =
            serde_json::to_value(options).map_err(|e| CoreError::Internal(e.to_string()))?;
        if kind == MethodKind::SecurityKey {
            // webauthn-rs asks security keys for credProtect "user
            // verification required" while preferring (not requiring) user
            // verification; Chromium refuses that pair outright. Keys
            // without a PIN must work as a second factor, so the extension
            // is dropped (the server does not rely on it).
            if let Some(ext) = options
                .pointer_mut("/publicKey/extensions")
                .and_then(Value::as_object_mut)
            {
                ext.remove("credentialProtectionPolicy");
                ext.remove("enforceCredentialProtectionPolicy");
            }
        }
        if kind == MethodKind::Passkey {
            // A passkey must be discoverable, so it can sign in without a
            // password: ask the authenticator to keep it.
            if let Some(sel) = options
                .pointer_mut("/publicKey/authenticatorSelection")
                .and_then(Value::as_object_mut)
            {
                sel.insert("residentKey".into(), "required".into());
                sel.insert("requireResidentKey".into(), true.into());
            }
        }
        Ok(options)
    }

    /// Finishes a registration with the browser's `credential`. The first
    /// method turns 2SV on: it brings the recovery key (shown once) and
    /// signs out the account's other sessions.
    pub async fn finish_key_registration(
        &self,
        access: &Access,
        credential: Value,
        ctx: &RequestContext,
    ) -> Result<KeyAdded, CoreError> {
        let who = access.holder();
        let state: Registering = self
            .take_ceremony(&session_key("register", who), who.account.id, "register")
            .await?;
        let reg: RegisterPublicKeyCredential = parse(credential)?;
        let wa = self.relying_party()?;
        let (kind, cred): (MethodKind, Credential) = match (state.security_key, state.passkey) {
            (Some(st), _) => (
                MethodKind::SecurityKey,
                wa.finish_securitykey_registration(&reg, &st)
                    .map_err(|e| refused(&e))?
                    .into(),
            ),
            (None, Some(st)) => (
                MethodKind::Passkey,
                wa.finish_passkey_registration(&reg, &st)
                    .map_err(|e| refused(&e))?
                    .into(),
            ),
            (None, None) => return Err(CoreError::Internal("empty registration state".into())),
        };
        let now = self.clock.now();
        let record = WebauthnRecord {
            id: random_uuid(self.secrets.as_ref()),
            account_id: who.account.id,
            kind,
            name: state.name,
            credential_id: cred.cred_id.to_vec(),
            credential: serde_json::to_string(&cred)
                .map_err(|e| CoreError::Internal(e.to_string()))?,
            counter: i64::from(cred.counter),
            created_at: now,
            last_used_at: None,
        };
        // The recovery key is hashed only when this may be the first
        // method; the store decides whether it is, under the account lock,
        // and asks for one if it turned out to be.
        let mut recovery = if self.two_step_on(&who.account).await? {
            None
        } else {
            Some(self.fresh_recovery_key().await?)
        };
        let (first, issued) = loop {
            let (effects, issued) = self.method_added_effects(who, kind, Some(record.id), ctx);
            let hash = recovery.as_ref().map(|(_, h)| h.as_str());
            match self
                .store
                .add_webauthn_with(&record, hash, now, &effects)
                .await?
            {
                Addition::Added { first } => break (first, issued),
                Addition::NeedsRecoveryKey if recovery.is_none() => {
                    recovery = Some(self.fresh_recovery_key().await?);
                }
                Addition::Duplicate => {
                    return Err(CoreError::Conflict("That key is already registered."));
                }
                other => {
                    return Err(CoreError::Internal(format!(
                        "unexpected answer to a new key: {other:?}"
                    )));
                }
            }
        };
        self.wake_outbox();
        Ok(KeyAdded {
            id: record.id,
            recovery_key: recovery.filter(|_| first).map(|(key, _)| key),
            issued,
        })
    }

    /// Renames one of the caller's keys or passkeys.
    pub async fn rename_key(
        &self,
        who: &Authenticated,
        id: uuid::Uuid,
        name: &str,
    ) -> Result<(), CoreError> {
        let name = key_name(name)?;
        if !self
            .store
            .rename_webauthn(who.account.id, id, &name)
            .await?
        {
            return Err(CoreError::NotFound("key"));
        }
        Ok(())
    }

    /// Removes one of the caller's keys or passkeys, unless it is the last
    /// method. Needs a recent second-step verification.
    pub async fn remove_key(
        &self,
        who: &Authenticated,
        id: uuid::Uuid,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        self.require_recent(who, Needs::SecondStep)?;
        let effects = self.method_removed_effects(who, "key", ctx);
        let removal = self
            .store
            .remove_webauthn_with(who.account.id, id, &effects)
            .await?;
        self.after_removal(removal, "key")
    }

    /// Options for `navigator.credentials.get` that any of the account's
    /// keys and passkeys can answer, stored under `ceremony`.
    async fn key_challenge(&self, account: &Account, ceremony: &str) -> Result<Value, CoreError> {
        let creds: Vec<SecurityKey> = self
            .store
            .webauthn_of(account.id)
            .await?
            .iter()
            .map(|r| credential_of(r).map(SecurityKey::from))
            .collect::<Result<_, _>>()?;
        if creds.is_empty() {
            return Err(CoreError::Invalid(
                "This account has no security key or passkey. Use another method.".into(),
            ));
        }
        let (rcr, state) = self
            .relying_party()?
            .start_securitykey_authentication(&creds)
            .map_err(|e| CoreError::Internal(format!("webauthn: {e}")))?;
        self.put_ceremony(ceremony, Some(account.id), "authenticate", &state)
            .await?;
        serde_json::to_value(rcr).map_err(|e| CoreError::Internal(e.to_string()))
    }

    /// Checks an assertion against the ceremony stored under `ceremony`;
    /// `Some(kind)` when one of the account's keys made it. A counter that
    /// went backwards is refused and audited: the key may have been copied.
    pub(crate) async fn key_matches(
        &self,
        account: &Account,
        ceremony: &str,
        pkc: PublicKeyCredential,
    ) -> Result<Result<MethodKind, &'static str>, CoreError> {
        let state: SecurityKeyAuthentication = match self
            .take_ceremony(ceremony, account.id, "authenticate")
            .await
        {
            Ok(s) => s,
            Err(CoreError::WrongProof(m)) => return Ok(Err(m)),
            Err(e) => return Err(e),
        };
        let Some(rec) = self
            .store
            .webauthn_by_credential_id(pkc.get_credential_id())
            .await?
            .filter(|r| r.account_id == account.id)
        else {
            return Ok(Err("That key isn't registered to this account."));
        };
        let result = self
            .relying_party()?
            .finish_securitykey_authentication(&pkc, &state);
        match self.verified_use(account, &rec, result).await {
            Ok(kind) => Ok(Ok(kind)),
            Err(CoreError::WrongProof(m)) => Ok(Err(m)),
            Err(e) => Err(e),
        }
    }

    /// Records a verified use, or audits and refuses a cloned key.
    async fn verified_use(
        &self,
        account: &Account,
        rec: &WebauthnRecord,
        result: Result<webauthn_rs::prelude::AuthenticationResult, WebauthnError>,
    ) -> Result<MethodKind, CoreError> {
        let res = match result {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, WebauthnError::CredentialPossibleCompromise) {
                    self.audit_counter_regression(account, rec).await;
                }
                return Err(refused(&e));
            }
        };
        let mut cred = credential_of(rec)?;
        let new_counter = res.counter();
        if new_counter > cred.counter {
            cred.counter = new_counter;
        }
        cred.backup_state = res.backup_state();
        let json = serde_json::to_string(&cred).map_err(|e| CoreError::Internal(e.to_string()))?;
        // Two uses of the same key race here; the database lets one move
        // the counter, and the other is refused like a clone would be.
        if !self
            .store
            .record_webauthn_use(
                rec.id,
                rec.counter,
                i64::from(cred.counter),
                &json,
                self.clock.now(),
            )
            .await?
        {
            self.audit_counter_regression(account, rec).await;
            return Err(refused(&WebauthnError::CredentialPossibleCompromise));
        }
        Ok(rec.kind)
    }

    async fn audit_counter_regression(&self, account: &Account, rec: &WebauthnRecord) {
        self.audit(
            NewAuditEvent::new(AuditKind::KeyCounterRegressed)
                .subject(account.id)
                .detail_json(serde_json::json!({
                    "key": rec.id.to_string(),
                    "stored_counter": rec.counter,
                })),
        )
        .await;
    }

    /// The challenge for a sign-in flow's second step with a key.
    pub async fn signin_key_challenge(
        &self,
        flow_id: &str,
        ctx: &RequestContext,
    ) -> Result<Value, CoreError> {
        let account = self.live_flow(flow_id, ctx).await?.account;
        self.key_challenge(&account, &flow_ceremony_key(flow_id))
            .await
    }

    /// The challenge for a step-up with a key.
    pub async fn step_up_key_challenge(&self, access: &Access) -> Result<Value, CoreError> {
        let who = access.holder();
        self.key_challenge(&who.account, &session_key("step_up", who))
            .await
    }

    pub(crate) fn step_up_ceremony_key(who: &Authenticated) -> String {
        session_key("step_up", who)
    }

    /// Starts a sign-in with a passkey and no password. The browser may
    /// offer the passkey in the email field's autofill (conditional
    /// mediation) or in a dialog.
    pub async fn start_passkey_signin(
        &self,
        client: ClientKind,
        ctx: &RequestContext,
    ) -> Result<PasskeyChallenge, CoreError> {
        let (rcr, state) = self
            .relying_party()?
            .start_discoverable_authentication()
            .map_err(|e| CoreError::Internal(format!("webauthn: {e}")))?;
        let ceremony_id = random_token(self.secrets.as_ref(), 32);
        let state = Discovering {
            client: client.as_str().into(),
            binding: hex::encode(super::second_step::binding(client, ctx)),
            state,
        };
        self.put_ceremony(&passkey_key(&ceremony_id), None, "passkey_signin", &state)
            .await?;
        Ok(PasskeyChallenge {
            ceremony_id,
            options: serde_json::to_value(rcr).map_err(|e| CoreError::Internal(e.to_string()))?,
        })
    }

    /// Finishes a passwordless sign-in: a passkey is two factors in one
    /// (possession and the verification it requires), so the session is
    /// `aal2` with method `passkey`.
    pub async fn finish_passkey_signin(
        &self,
        ceremony_id: &str,
        credential: Value,
        ctx: &RequestContext,
    ) -> Result<SigninOutcome, CoreError> {
        if ceremony_id.is_empty() || ceremony_id.len() > 128 {
            return Err(CoreError::FlowExpired);
        }
        let Some(c) = self.store.take_ceremony(&passkey_key(ceremony_id)).await? else {
            return Err(CoreError::FlowExpired);
        };
        let st: Discovering = serde_json::from_str(&c.state)
            .map_err(|e| CoreError::Internal(format!("ceremony state: {e}")))?;
        let client: ClientKind = st.client.parse().map_err(CoreError::Internal)?;
        if self.clock.now() >= c.expires_at
            || c.purpose != "passkey_signin"
            || !ct_eq(
                st.binding.as_bytes(),
                hex::encode(super::second_step::binding(client, ctx)).as_bytes(),
            )
        {
            return Err(CoreError::FlowExpired);
        }
        let pkc: PublicKeyCredential = parse(credential)?;
        let wa = self.relying_party()?;
        let (user, cred_id) = wa
            .identify_discoverable_authentication(&pkc)
            .map_err(|_| CoreError::WrongProof("That passkey isn't registered here."))?;
        let rec = self
            .store
            .webauthn_by_credential_id(cred_id)
            .await?
            .filter(|r| r.kind == MethodKind::Passkey && r.account_id.0 == user);
        let account = match &rec {
            Some(r) => self
                .store
                .account_by_id(r.account_id)
                .await?
                .filter(|a| a.active),
            None => None,
        };
        let (Some(rec), Some(account)) = (rec, account) else {
            return Err(CoreError::WrongProof("That passkey isn't registered here."));
        };
        let cred = credential_of(&rec)?;
        self.guarded_explained(&account, async {
            // Evaluated only once the backoff granted a slot.
            let result = wa.finish_discoverable_authentication_v2(&pkc, st.state, &cred);
            match self.verified_use(&account, &rec, result).await {
                Ok(_) => Ok(Ok(())),
                Err(CoreError::WrongProof(m)) => Ok(Err(m)),
                Err(e) => Err(e),
            }
        })
        .await?;
        let issued = self
            .finish_signin(
                &account,
                client,
                Aal::Aal2,
                vec![AuthMethod::Passkey],
                false,
                None,
                ctx,
            )
            .await?;
        Ok(SigninOutcome::Complete {
            issued,
            account,
            new_recovery_key: None,
        })
    }

    async fn put_ceremony<T: serde::Serialize>(
        &self,
        key: &str,
        account: Option<crate::ids::AccountId>,
        purpose: &str,
        state: &T,
    ) -> Result<(), CoreError> {
        let state = serde_json::to_string(state).map_err(|e| CoreError::Internal(e.to_string()))?;
        let expires_at: Timestamp = self.clock.now().plus_secs(CEREMONY_TTL_SECS);
        self.store
            .put_ceremony(
                key,
                &CeremonyRecord {
                    account_id: account,
                    purpose: purpose.into(),
                    state,
                    expires_at,
                },
            )
            .await?;
        Ok(())
    }

    /// Takes the ceremony out (single use) and checks it is this account's,
    /// for this purpose, and not expired.
    async fn take_ceremony<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        account: crate::ids::AccountId,
        purpose: &str,
    ) -> Result<T, CoreError> {
        let c = self.store.take_ceremony(key).await?;
        let Some(c) = c.filter(|c| {
            c.account_id == Some(account) && c.purpose == purpose && self.clock.now() < c.expires_at
        }) else {
            return Err(CoreError::WrongProof(
                "This request has expired or was already answered. Start again.",
            ));
        };
        serde_json::from_str(&c.state)
            .map_err(|e| CoreError::Internal(format!("ceremony state: {e}")))
    }
}

fn passkey_key(ceremony_id: &str) -> String {
    format!("passkey:{}", hex::encode(token_hash(ceremony_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        assert_eq!(key_name("  Blue key ").unwrap(), "Blue key");
        assert!(key_name("").is_err());
        assert!(key_name(&"x".repeat(65)).is_err());
        assert!(key_name("a\nb").is_err());
    }

    #[test]
    fn ceremony_keys_do_not_reveal_ids() {
        let k = flow_ceremony_key("secret-flow-id");
        assert!(k.starts_with("flow:") && !k.contains("secret"));
        assert_ne!(passkey_key("a"), passkey_key("b"));
    }
}
