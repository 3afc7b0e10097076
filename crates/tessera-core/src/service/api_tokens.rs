//! API tokens: creating one (after step-up), listing, revoking, and
//! authenticating a request that carries one (the hot path: one cached
//! read, and a write at most once a minute per token).
//!
//! A token request is `aal1` with method `api_token` and is never verified
//! recently, so it can make no security change and create no token (see
//! [`Core::require_recent`]). Whether a password change revokes tokens:
//! it does not. A token is a credential of its own, made after a step-up
//! and listed with its last use on the Security page; scripts should not
//! break because their owner changed a password. Deactivation revokes
//! every token.

use super::{Access, Core, RequestContext, Sysadmin};
use crate::account::{Account, AccountKind};
use crate::apitoken::{self, ApiToken, ApiTokenId, TokenGrant, TokenRequest};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::CoreError;
use crate::ids::{AccountId, SessionId};
use crate::secrets::{random_uuid, token_hash};
use crate::service::Authenticated;
use crate::service::basic_auth::BASIC_REFUSED;
use crate::session::{Aal, AuthMethod, ClientKind, Session};
use crate::store::Effects;

/// A token just created: the secret (shown once) and its record.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub record: ApiToken,
}

impl Core {
    /// Creates a token for the caller. Needs the same recent step-up as a
    /// password change; a token caller never has one.
    pub async fn create_my_api_token(
        &self,
        who: &Authenticated,
        req: TokenRequest,
        ctx: &RequestContext,
    ) -> Result<IssuedToken, CoreError> {
        self.require_security_step_up(who).await?;
        self.check_token_access(&who.account).await?;
        self.issue_token(&who.account, Some(who.account.id), req, ctx)
            .await
    }

    /// The caller's tokens, newest first (expired ones too, marked by
    /// their expiry), without secrets.
    pub async fn my_api_tokens(&self, who: &Authenticated) -> Result<Vec<ApiToken>, CoreError> {
        Ok(self.store.api_tokens_of(who.account.id).await?)
    }

    /// Revokes one of the caller's tokens.
    pub async fn revoke_my_api_token(
        &self,
        who: &Authenticated,
        id: ApiTokenId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let Some(token) = self.store.api_token_by_id(id).await? else {
            return Err(CoreError::NotFound("API token"));
        };
        let effects = self.token_revoked_effects(Some(who.account.id), &token, "owner", ctx);
        if token.account_id != who.account.id
            || !self
                .store
                .delete_api_token_with(id, Some(who.account.id), &effects)
                .await?
        {
            return Err(CoreError::NotFound("API token"));
        }
        Ok(())
    }

    /// An account's tokens, for an admin.
    pub async fn api_tokens_of(
        &self,
        admin: &Sysadmin,
        account: AccountId,
    ) -> Result<Vec<ApiToken>, CoreError> {
        self.get_account(admin, account).await?;
        Ok(self.store.api_tokens_of(account).await?)
    }

    /// Revokes any token, for an admin; returns what it was.
    pub async fn revoke_api_token(
        &self,
        admin: &Sysadmin,
        id: ApiTokenId,
        ctx: &RequestContext,
    ) -> Result<ApiToken, CoreError> {
        let Some(token) = self.store.api_token_by_id(id).await? else {
            return Err(CoreError::NotFound("API token"));
        };
        let effects = self.token_revoked_effects(admin.actor(), &token, "admin", ctx);
        if !self.store.delete_api_token_with(id, None, &effects).await? {
            return Err(CoreError::NotFound("API token"));
        }
        Ok(token)
    }

    /// Creates a token for a service account, by a sysadmin whose session
    /// stepped up recently (a token, like a password, is a credential).
    pub async fn create_service_token(
        &self,
        who: &Authenticated,
        account: AccountId,
        req: TokenRequest,
        ctx: &RequestContext,
    ) -> Result<IssuedToken, CoreError> {
        let admin = self.require_sysadmin(who)?;
        self.require_security_step_up(who).await?;
        self.service_token(&admin, account, req, ctx).await
    }

    /// Creates a token for a service account from the server host (the
    /// CLI): access to the host already implies full control.
    pub async fn create_service_token_on_host(
        &self,
        account: AccountId,
        req: TokenRequest,
        ctx: &RequestContext,
    ) -> Result<IssuedToken, CoreError> {
        self.service_token(&Sysadmin::host_operator(), account, req, ctx)
            .await
    }

    async fn service_token(
        &self,
        admin: &Sysadmin,
        account: AccountId,
        req: TokenRequest,
        ctx: &RequestContext,
    ) -> Result<IssuedToken, CoreError> {
        let account = self
            .store
            .account_by_id(account)
            .await?
            .filter(|a| a.kind == AccountKind::Service)
            .ok_or(CoreError::NotFound("service account"))?;
        self.issue_token(&account, admin.actor(), req, ctx).await
    }

    async fn issue_token(
        &self,
        account: &Account,
        created_by: Option<AccountId>,
        req: TokenRequest,
        ctx: &RequestContext,
    ) -> Result<IssuedToken, CoreError> {
        let checked = self
            .config
            .api_tokens
            .check(&req)
            .map_err(CoreError::Invalid)?;
        if !account.active {
            // The account's state, not the request, is in the way.
            return Err(CoreError::Conflict(
                "The account is deactivated; reactivate it first.",
            ));
        }
        let now = self.clock.now();
        let token = apitoken::generate(self.secrets.as_ref());
        let record = ApiToken {
            id: ApiTokenId(random_uuid(self.secrets.as_ref())),
            account_id: account.id,
            label: checked.label,
            scopes: checked.scopes,
            created_by,
            created_at: now,
            expires_at: now.plus_secs(i64::from(checked.days) * 86_400),
            last_used_at: None,
            last_used_ip: None,
        };
        let effects = Effects::at(now).audit(
            NewAuditEvent::new(AuditKind::ApiTokenCreated)
                .actor_opt(created_by)
                .subject(account.id)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({
                    "token": record.id.to_string(),
                    "label": record.label,
                    "scopes": record.scopes,
                    "expires_at": record.expires_at.to_rfc3339(),
                })),
        );
        self.store
            .insert_api_token_with(&record, &token_hash(&token), &effects)
            .await?;
        Ok(IssuedToken { token, record })
    }

    fn token_revoked_effects(
        &self,
        actor: Option<AccountId>,
        token: &ApiToken,
        by: &str,
        ctx: &RequestContext,
    ) -> Effects {
        Effects::at(self.clock.now()).audit(
            NewAuditEvent::new(AuditKind::ApiTokenRevoked)
                .actor_opt(actor)
                .subject(token.account_id)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({
                    "token": token.id.to_string(),
                    "label": token.label,
                    "by": by,
                })),
        )
    }

    /// The request's capability from a `tsr_…` token (Bearer). A malformed
    /// token or one with a wrong checksum is refused without a database
    /// read; an unknown, revoked or expired one, or one of a deactivated
    /// account, gets the same [`CoreError::Unauthenticated`].
    pub async fn authenticate_api_token(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<Access, CoreError> {
        if !apitoken::well_formed(token) {
            return Err(CoreError::Unauthenticated);
        }
        let hash = token_hash(token);
        let Some((record, account)) = self.store.api_token_by_hash(&hash).await? else {
            return Err(CoreError::Unauthenticated);
        };
        let now = self.clock.now();
        if !record.is_live(now) || !account.active {
            return Err(CoreError::Unauthenticated);
        }
        // Read through the same cache, evicted on every node when a
        // policy changes: turning access off stops tokens at once, and
        // turning it on again brings back the ones still live.
        self.check_token_access(&account).await?;
        if record.needs_touch(now) {
            let cutoff = now.plus_secs(-apitoken::TOUCH_INTERVAL_SECS);
            self.store
                .touch_api_token(record.id, now, ctx.ip.as_deref(), cutoff)
                .await?;
        }
        Ok(token_access(record, account, now, ctx))
    }

    /// HTTP Basic with `email:tsr_…`: the token, and the email must be its
    /// account's. Every refusal is Basic's one answer.
    pub(crate) async fn basic_with_token(
        &self,
        email: &str,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<Access, CoreError> {
        let access = match self.authenticate_api_token(token, ctx).await {
            Ok(a) => a,
            Err(CoreError::Unauthenticated) => {
                return Err(CoreError::BasicAuthRefused(BASIC_REFUSED));
            }
            Err(e) => return Err(e),
        };
        let same = Email::parse(email).is_ok_and(|e| e == access.account().email);
        if !same {
            self.audit(
                NewAuditEvent::new(AuditKind::BasicAuthRefused)
                    .subject(access.account().id)
                    .ip(ctx.ip.clone())
                    .detail_json(serde_json::json!({ "reason": "token_of_another_account" })),
            )
            .await;
            return Err(CoreError::BasicAuthRefused(BASIC_REFUSED));
        }
        Ok(access)
    }
}

/// What a token request is: `aal1` by `api_token`, never verified, ending
/// when the token does.
fn token_access(
    record: ApiToken,
    account: Account,
    now: Timestamp,
    ctx: &RequestContext,
) -> Access {
    let grant = TokenGrant {
        id: record.id,
        label: record.label.clone(),
        scopes: record.scopes.clone(),
        expires_at: record.expires_at,
    };
    let session = Session {
        id: SessionId(record.id.0),
        account_id: account.id,
        client: ClientKind::Mobile,
        aal: Aal::Aal1,
        methods: vec![AuthMethod::ApiToken],
        created_at: record.created_at,
        verified_at: Timestamp(0),
        last_seen_at: now,
        expires_at: record.expires_at,
        ip: ctx.ip.clone(),
        device: "API token".into(),
        restricted: false,
    };
    Access::of_token(session, account, grant)
}
