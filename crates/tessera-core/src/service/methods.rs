//! What every method shares: listing them, what happens when the first
//! one is added (2SV turns on) and when one is removed (never the last).

use super::notify::Notice;
use super::{Authenticated, Core, IssuedSession, RequestContext};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::password::Password;
use crate::session::AuthMethod;
use crate::store::{Effects, IfFirst};
use crate::twostep::methods::{Inventory, MethodKind, Removal};
use crate::twostep::recovery;

fn auth_method(kind: MethodKind) -> AuthMethod {
    match kind {
        MethodKind::Totp => AuthMethod::Totp,
        MethodKind::SecurityKey => AuthMethod::SecurityKey,
        MethodKind::Passkey => AuthMethod::Passkey,
        MethodKind::Sms => AuthMethod::Sms,
    }
}

use super::stepup::Needs;

impl Core {
    /// The caller's methods, for the Security page and the API.
    pub async fn methods(&self, account: &Account) -> Result<Inventory, CoreError> {
        Ok(self.store.inventory(account.id).await?)
    }

    /// What adding a method writes with it, by whether it turns out to be
    /// the first (the store decides under the account's lock): the first
    /// signs out every other session and turns two-step verification on;
    /// either way this session continues under a new token, now verified
    /// with the new method, and the change is audited and mailed. `key`
    /// names a security key or passkey in the audit record.
    pub(crate) fn method_added_effects(
        &self,
        who: &Authenticated,
        kind: MethodKind,
        key: Option<uuid::Uuid>,
        ctx: &RequestContext,
    ) -> (IfFirst, IssuedSession) {
        let account = &who.account;
        let mut methods = who.session.methods.clone();
        let method = auth_method(kind);
        if !methods.contains(&method) {
            methods.push(method);
        }
        let (rotation, issued) = self.reissue_with_new_method(who, methods);
        let now = self.clock.now();
        let mut detail = serde_json::json!({ "method": kind.to_string() });
        if let Some(id) = key {
            detail["key"] = id.to_string().into();
        }
        let event = |audit: AuditKind| {
            NewAuditEvent::new(audit)
                .actor(account.id)
                .subject(account.id)
                .ip(ctx.ip.clone())
                .detail_json(detail.clone())
        };
        let label = kind.label().to_lowercase();
        // Replacing the authenticator app is told as such; anything else
        // that is not the first method is one more.
        let (more, notice) = if kind == MethodKind::Totp {
            (AuditKind::TwoStepAppChanged, Notice::AuthenticatorChanged)
        } else {
            (
                AuditKind::TwoStepMethodAdded,
                Notice::MethodAdded {
                    method: label.clone(),
                },
            )
        };
        let remembered = (kind != MethodKind::Totp).then_some((account.id, kind));
        let mut first = Effects::at(now)
            .rotate(rotation.clone())
            .end_sessions(account.id, Some(who.session.id))
            .audit(event(AuditKind::TwoStepEnabled))
            .mail(self.notice_mail(account, Notice::TwoStepEnabled { method: label }));
        first.last_method = remembered;
        let mut otherwise = Effects::at(now)
            .rotate(rotation)
            .audit(event(more))
            .mail(self.notice_mail(account, notice));
        otherwise.last_method = remembered;
        (IfFirst { first, otherwise }, issued)
    }

    /// What removing a method writes with it: its audit record and mail.
    pub(crate) fn method_removed_effects(
        &self,
        who: &Authenticated,
        what: &'static str,
        ctx: &RequestContext,
    ) -> Effects {
        Effects::at(self.clock.now())
            .audit(
                NewAuditEvent::new(AuditKind::TwoStepMethodRemoved)
                    .actor(who.account.id)
                    .subject(who.account.id)
                    .ip(ctx.ip.clone())
                    .detail_json(serde_json::json!({ "method": what })),
            )
            .mail(self.notice_mail(
                &who.account,
                Notice::MethodRemoved {
                    method: what.to_string(),
                },
            ))
    }

    /// Reports a removal the store decided (and wrote with its effects).
    pub(crate) fn after_removal(
        &self,
        removal: Removal,
        what: &'static str,
    ) -> Result<(), CoreError> {
        match removal {
            Removal::NotFound => Err(CoreError::NotFound(what)),
            Removal::LastMethod => Err(CoreError::Invalid(
                "This is your only verification method. Add another one first, or turn off two-step verification.".into(),
            )),
            Removal::Removed => {
                self.wake_outbox();
                Ok(())
            }
        }
    }

    /// A new recovery key and its hash, for a method that may turn two-step
    /// verification on.
    pub(crate) async fn fresh_recovery_key(&self) -> Result<(String, String), CoreError> {
        let key = recovery::generate(self.secrets.as_ref());
        let hash = self.pool.hash(Password::new(key.clone())).await?;
        Ok((key, hash))
    }

    /// Removes the authenticator app while another method remains.
    pub async fn remove_totp(
        &self,
        who: &Authenticated,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        self.require_recent(who, Needs::SecondStep)?;
        let what = "authenticator app";
        let effects = self.method_removed_effects(who, what, ctx);
        let removal = self
            .store
            .remove_totp_with(who.account.id, &effects)
            .await?;
        self.after_removal(removal, what)
    }
}
