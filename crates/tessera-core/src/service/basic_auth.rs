//! HTTP Basic authentication with an email and password, for scripts.
//! Two-step verification cannot protect it, so accounts with 2SV are
//! refused (API tokens are the way), and an instance switch turns it off
//! for everyone but an allowlist.

use super::{Authenticated, Core, RequestContext};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::email::Email;
use crate::error::CoreError;
use crate::ids::SessionId;
use crate::password::Password;
use crate::secrets::random_uuid;
use crate::session::{Aal, AuthMethod, ClientKind, Session};

impl Core {
    /// Authenticates one request; no session is stored.
    pub async fn authenticate_basic(
        &self,
        email: &str,
        password: Password,
        ctx: &RequestContext,
    ) -> Result<Authenticated, CoreError> {
        let email = Email::parse(email).ok();
        let cfg = &self.config.basic_auth;
        let allowlisted = email.as_ref().is_some_and(|e| cfg.allowlist.contains(e));
        if !cfg.password_enabled && !allowlisted {
            return Err(CoreError::BasicAuthRefused(
                "Password Basic authentication is turned off on this server. Use an API token.",
            ));
        }
        let account = match &email {
            Some(e) => self.store.account_by_email(e).await?,
            None => None,
        };
        let stored = account.as_ref().and_then(|a| a.password_hash.as_deref());
        let v = self.pool.verify(stored, password).await?;
        let Some(account) = account.filter(|a| v.matches && a.active) else {
            return Err(CoreError::BadCredentials);
        };
        if self.two_step_on(&account).await? {
            self.audit(
                NewAuditEvent::new(AuditKind::BasicAuthRefused)
                    .subject(account.id)
                    .ip(ctx.ip.clone())
                    .detail(r#"{"reason":"two_step"}"#.into()),
            )
            .await;
            return Err(CoreError::BasicAuthRefused(
                "This account has two-step verification, so its password cannot be used for Basic \
                 authentication. Use an API token instead.",
            ));
        }
        let now = self.clock.now();
        let session = Session {
            id: SessionId(random_uuid(self.secrets.as_ref())),
            account_id: account.id,
            client: ClientKind::Mobile,
            aal: Aal::Aal1,
            methods: vec![AuthMethod::Password],
            created_at: now,
            verified_at: now,
            last_seen_at: now,
            expires_at: now,
            ip: ctx.ip.clone(),
            device: "HTTP Basic".into(),
            restricted: false,
        };
        Ok(Authenticated { session, account })
    }
}
