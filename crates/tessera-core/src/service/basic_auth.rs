//! HTTP Basic authentication with an email and password, for scripts.
//!
//! Two-step verification cannot protect it, so accounts with 2SV are
//! refused (API tokens are the way), and an instance switch turns it off
//! for everyone but an allowlist. Every refusal looks the same: one status,
//! one message, one hash evaluated, whatever the account and whether the
//! password was right, so Basic cannot tell a guesser anything. It draws
//! on the same guessing throttle as sign-in, as an untrusted client.

use super::{Access, Core, RequestContext};
use crate::account::{Account, AccountKind};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::CoreError;
use crate::ids::SessionId;
use crate::password::Password;
use crate::password::throttle::Budget;
use crate::secrets::random_uuid;
use crate::session::{Aal, AuthMethod, ClientKind, Session};

/// The one answer to every refused Basic request.
pub const BASIC_REFUSED: &str = "Sign in with your email and an API token.";

/// Why Basic was refused; for the audit log only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    UnknownOrWrong,
    TwoStep,
    TurnedOff,
    NotAllowed,
    /// An external user whose organization asks for an emailed code at
    /// every sign-in: a password alone is not enough.
    ExternalPolicy,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownOrWrong => "bad_credentials",
            Refusal::TwoStep => "two_step",
            Refusal::TurnedOff => "turned_off",
            Refusal::NotAllowed => "inactive_or_service",
            Refusal::ExternalPolicy => "external_user_policy",
        }
    }
}

impl Core {
    /// Authenticates one request; no session is stored. An admin made to
    /// enroll gets a [`Access::Restricted`] answer, exactly as a session.
    pub async fn authenticate_basic(
        &self,
        email: &str,
        password: Password,
        ctx: &RequestContext,
    ) -> Result<Access, CoreError> {
        // An API token in the password's place: never checked as a
        // password, so a token is never a guess against the throttle.
        if crate::apitoken::looks_like_token(password.expose()) {
            return self.basic_with_token(email, password.expose(), ctx).await;
        }
        let budget = Budget::of(email, None, ctx.ip.as_deref());
        self.claim_password_check(&budget).await?;
        let parsed = Email::parse(email).ok();
        let account = match &parsed {
            Some(e) => match self.store.account_by_email(e).await {
                Ok(a) => a,
                Err(e) => {
                    self.password_check_aborted(&budget).await;
                    return Err(e.into());
                }
            },
            None => None,
        };
        // The same one hash on every path, before any decision.
        let stored = account.as_ref().and_then(|a| a.password_hash.as_deref());
        let matches = match self.pool.verify(stored, password).await {
            Ok(v) => v.matches && stored.is_some(),
            Err(e) => {
                self.password_check_aborted(&budget).await;
                return Err(e);
            }
        };
        let decided = match (&account, matches) {
            (Some(account), true) => self.basic_decision(account, parsed.as_ref()).await,
            _ => Err(Refusal::UnknownOrWrong),
        };
        match (account, decided) {
            (Some(account), Ok(two_step_on)) => {
                self.password_succeeded(&budget).await?;
                // Fails closed: an unreadable standing restricts.
                let must_enroll = !two_step_on
                    && self
                        .must_enroll_without_two_step(&account)
                        .await
                        .unwrap_or(true);
                Ok(self.basic_access(account, must_enroll, ctx))
            }
            (account, decision) => {
                let reason = decision.err().unwrap_or(Refusal::UnknownOrWrong);
                // Every refusal counts, a right password included: otherwise
                // the throttle's answers would tell which password was right.
                self.password_failed(&budget, account.as_ref()).await;
                let mut event = NewAuditEvent::new(AuditKind::BasicAuthRefused)
                    .ip(ctx.ip.clone())
                    .detail_json(serde_json::json!({ "reason": reason.as_str() }));
                if let Some(a) = &account {
                    event = event.subject(a.id);
                }
                self.audit(event).await;
                Err(CoreError::BasicAuthRefused(BASIC_REFUSED))
            }
        }
    }

    /// After a right password: may this account use Basic? `Ok` carries
    /// whether two-step verification is on (it never is, on `Ok`).
    async fn basic_decision(
        &self,
        account: &Account,
        email: Option<&Email>,
    ) -> Result<bool, Refusal> {
        let cfg = &self.config.basic_auth;
        let allowlisted = email.is_some_and(|e| cfg.allowlist.contains(e));
        if !cfg.password_enabled && !allowlisted {
            return Err(Refusal::TurnedOff);
        }
        if !account.active || account.kind != AccountKind::Human {
            return Err(Refusal::NotAllowed);
        }
        match self.two_step_on(account).await {
            Ok(false) => {}
            // A failed lookup must not let a 2SV account through.
            Ok(true) | Err(_) => return Err(Refusal::TwoStep),
        }
        match self.standing(account).await {
            Ok(s) if !s.external_policy().email_code => Ok(false),
            Ok(_) | Err(_) => Err(Refusal::ExternalPolicy),
        }
    }

    /// The capability a Basic request gets: never recently verified, so it
    /// can make no security change; restricted for an admin made to enroll.
    fn basic_access(&self, account: Account, must_enroll: bool, ctx: &RequestContext) -> Access {
        let now = self.clock.now();
        let session = Session {
            id: SessionId(random_uuid(self.secrets.as_ref())),
            account_id: account.id,
            client: ClientKind::Mobile,
            aal: Aal::Aal1,
            methods: vec![AuthMethod::Password],
            created_at: now,
            verified_at: Timestamp(0),
            last_seen_at: now,
            expires_at: now,
            ip: ctx.ip.clone(),
            device: "HTTP Basic".into(),
            restricted: must_enroll,
        };
        Access::of(session, account)
    }
}
