//! What every method shares: listing them, what happens when the first
//! one is added (2SV turns on) and when one is removed (never the last).

use super::notify::Notice;
use super::{Authenticated, Core, IssuedSession, RequestContext};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::session::AuthMethod;
use crate::twostep::methods::{Inventory, MethodKind, Removal};

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

    /// After a method was stored: the first one signs out every other
    /// session; either way this session continues under a new token, now
    /// verified with the new method.
    pub(crate) async fn after_method_added(
        &self,
        who: &Authenticated,
        kind: MethodKind,
        first: bool,
        ctx: &RequestContext,
    ) -> Result<IssuedSession, CoreError> {
        let account = &who.account;
        if first {
            self.store
                .delete_sessions_except(account.id, Some(who.session.id))
                .await?;
        }
        let mut methods = who.session.methods.clone();
        let method = auth_method(kind);
        if !methods.contains(&method) {
            methods.push(method);
        }
        let issued = self.rotate_after_new_method(who, methods).await?;
        self.remember_method(account, kind).await;
        self.audit(
            NewAuditEvent::new(if first {
                AuditKind::TwoStepEnabled
            } else {
                AuditKind::TwoStepMethodAdded
            })
            .actor(account.id)
            .subject(account.id)
            .ip(ctx.ip.clone())
            .detail_json(serde_json::json!({ "method": kind.to_string() })),
        )
        .await;
        if first {
            self.notify(
                account,
                Notice::TwoStepEnabled {
                    method: kind.label().to_lowercase(),
                },
            )
            .await;
        } else {
            self.notify(
                account,
                Notice::MethodAdded {
                    method: kind.label().to_lowercase(),
                },
            )
            .await;
        }
        Ok(issued)
    }

    /// Reports a removal the store decided.
    pub(crate) async fn after_removal(
        &self,
        who: &Authenticated,
        removal: Removal,
        what: &'static str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        match removal {
            Removal::NotFound => Err(CoreError::NotFound(what)),
            Removal::LastMethod => Err(CoreError::Invalid(
                "This is your only verification method. Add another one first, or turn off two-step verification.".into(),
            )),
            Removal::Removed => {
                self.audit(
                    NewAuditEvent::new(AuditKind::TwoStepMethodRemoved)
                        .actor(who.account.id)
                        .subject(who.account.id)
                        .ip(ctx.ip.clone())
                        .detail_json(serde_json::json!({ "method": what })),
                )
                .await;
                self.notify(
                    &who.account,
                    Notice::MethodRemoved {
                        method: what.to_string(),
                    },
                )
                .await;
                Ok(())
            }
        }
    }

    /// Removes the authenticator app while another method remains.
    pub async fn remove_totp(
        &self,
        who: &Authenticated,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        self.require_recent(who, Needs::SecondStep)?;
        let removal = self.store.remove_totp(who.account.id).await?;
        self.after_removal(who, removal, "authenticator app", ctx)
            .await
    }

    /// Remembers the method that completed a second step, to offer it
    /// first next time. Losing this is harmless, so errors are logged.
    pub(crate) async fn remember_method(&self, account: &Account, kind: MethodKind) {
        if let Err(e) = self.store.set_last_method(account.id, kind).await {
            tracing::warn!(error = %e, "could not remember the last method");
        }
    }
}
