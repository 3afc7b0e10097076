//! One account, seen by a sysadmin: its organizations, methods, sessions,
//! API tokens and recent audit events, and ending one of its sessions.
//! The other actions on an account (deactivate, role, unenroll, revoking a
//! token) are their own use cases elsewhere; this adds what the per-user
//! admin page needs besides, and the counts its previews show.

use super::{Core, RequestContext, Sysadmin};
use crate::account::Account;
use crate::apitoken::ApiToken;
use crate::audit::{AuditEvent, AuditFilter, AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::ids::{AccountId, SessionId};
use crate::org::Membership;
use crate::session::Session;
use crate::twostep::methods::Inventory;

/// How many of an account's newest audit events its page shows.
const RECENT_EVENTS: u32 = 20;

/// Everything the per-user admin page shows.
pub struct AccountOverview {
    pub account: Account,
    /// Its organizations, each managed or external.
    pub memberships: Vec<Membership>,
    pub methods: Inventory,
    /// Live sessions only, newest first.
    pub sessions: Vec<Session>,
    /// Tokens that still work (not expired).
    pub tokens: Vec<ApiToken>,
    /// Events about the account, newest first.
    pub events: Vec<AuditEvent>,
}

impl Core {
    pub async fn account_overview(
        &self,
        admin: &Sysadmin,
        id: AccountId,
    ) -> Result<AccountOverview, CoreError> {
        let account = self.get_account(admin, id).await?;
        let memberships = self.standing(&account).await?.memberships;
        let methods = self.methods(&account).await?;
        let now = self.clock.now();
        let policy = &self.config.session_policy;
        let sessions = self
            .store
            .sessions_of(id)
            .await?
            .into_iter()
            .filter(|s| s.is_live(policy, now))
            .collect();
        let tokens = self
            .api_tokens_of(admin, id)
            .await?
            .into_iter()
            .filter(|t| t.is_live(now))
            .collect();
        let events = self
            .audit_events(
                admin,
                AuditFilter {
                    subject: Some(id),
                    limit: RECENT_EVENTS,
                    ..Default::default()
                },
            )
            .await?;
        Ok(AccountOverview {
            account,
            memberships,
            methods,
            sessions,
            tokens,
            events,
        })
    }

    /// Ends one session of another account (signing someone out of a lost
    /// device). Audited with the admin as actor.
    pub async fn end_session_of(
        &self,
        admin: &Sysadmin,
        account: AccountId,
        session: SessionId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        if !self.store.delete_session(account, session).await? {
            return Err(CoreError::NotFound("session"));
        }
        self.audit(
            NewAuditEvent::new(AuditKind::SessionRevoked)
                .actor_opt(admin.actor())
                .subject(account)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({ "session": session.to_string(), "by": "admin" })),
        )
        .await;
        Ok(())
    }
}
