//! The token endpoint (RFC 6749 §3.2) and what reads its tokens: userinfo,
//! introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Every token is checked against what it came from on every use: its
//! grant (not revoked), the session the user authorized from (still
//! there, still live), and the account (still active). That state comes
//! through the who-am-I cache, so a token ends exactly when a session
//! token would: once the revoking write has returned on this node, and on
//! others as soon as they hear of it. A signed access token a relying
//! party checks on its own is valid until it expires (10 minutes by
//! default); introspection and userinfo know sooner.

use super::{Core, RequestContext};
use crate::account::{Account, AccountKind};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::clock::Timestamp;
use crate::oidc::claims::{
    ACCESS_TOKEN_TYP, AccessTokenClaims, IdTokenClaims, ProfileClaims, acr_of, amr_of,
};
use crate::oidc::client::{OidcClient, OidcScope, scopes_to_text};
use crate::oidc::error::{OAuthError, OAuthErrorCode};
use crate::oidc::grant::{OidcGrant, REFRESH_PREFIX};
use crate::oidc::keys::SigningAlg;
use crate::oidc::pkce;
use crate::secrets::{ct_eq, random_token, random_uuid, token_hash};
use crate::session::Session;
use crate::store::Effects;

/// How a client proved who it is: HTTP Basic, or fields of the form.
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A token request's fields.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// Who called the token endpoint.
enum Caller {
    Client(OidcClient),
    /// A service account with one of its API tokens (client credentials).
    Service {
        account: Account,
        token: crate::apitoken::TokenGrant,
    },
}

/// What an access token stands for, once checked.
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub claims: AccessTokenClaims,
    pub account: Option<Account>,
}

/// An introspection answer (RFC 7662 §2.2); inactive tokens are only
/// `{"active": false}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

fn secs(t: Timestamp) -> i64 {
    t.millis().div_euclid(1000)
}

fn bad_grant() -> OAuthError {
    OAuthError::invalid_grant("The code or refresh token is invalid, expired, used or revoked.")
}

impl Core {
    /// The token endpoint.
    pub async fn oidc_token(
        &self,
        auth: &ClientAuth,
        req: &TokenRequest,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type = req.grant_type.as_deref().unwrap_or("");
        let caller = self.authenticate_client(auth, grant_type, ctx).await?;
        match (grant_type, caller) {
            ("authorization_code", Caller::Client(client)) => self.redeem_code(&client, req).await,
            ("refresh_token", Caller::Client(client)) => self.refresh(&client, req).await,
            ("client_credentials", caller) => self.client_credentials(caller, req).await,
            ("", _) => Err(OAuthError::invalid_request("grant_type is missing.")),
            ("authorization_code" | "refresh_token", Caller::Service { .. }) => {
                Err(OAuthError::new(
                    OAuthErrorCode::UnauthorizedClient,
                    "A service account may only use client_credentials.",
                ))
            }
            _ => Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "Supported: authorization_code, refresh_token, client_credentials.",
            )),
        }
    }

    /// The client the request names, proven by its secret (confidential)
    /// or by nothing but PKCE later (public). For client credentials, a
    /// service account may present one of its API tokens as the secret.
    async fn authenticate_client(
        &self,
        auth: &ClientAuth,
        grant_type: &str,
        ctx: &RequestContext,
    ) -> Result<Caller, OAuthError> {
        let (id, secret) = match (&auth.basic, &auth.client_id, &auth.client_secret) {
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "Use one way to authenticate the client: Basic or the form, not both.",
                ));
            }
            (Some((id, secret)), form_id, None) => {
                if form_id.as_ref().is_some_and(|f| f != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id differs from Basic's.",
                    ));
                }
                (id.clone(), Some(secret.clone()))
            }
            (None, Some(id), secret) => (id.clone(), secret.clone()),
            (None, None, _) => return Err(OAuthError::invalid_client()),
        };
        if grant_type == "client_credentials"
            && let Some(token) = secret
                .as_deref()
                .filter(|s| crate::apitoken::well_formed(s))
        {
            let access = self
                .authenticate_api_token(token, ctx)
                .await
                .map_err(|_| OAuthError::invalid_client())?;
            let account = access.account().clone();
            let named = id == account.id.to_string() || id == account.email.as_str();
            if account.kind != AccountKind::Service || !named {
                return Err(OAuthError::invalid_client());
            }
            let token = access
                .token()
                .cloned()
                .ok_or_else(OAuthError::invalid_client)?;
            return Ok(Caller::Service { account, token });
        }
        let Some(id) = id.parse().ok() else {
            return Err(OAuthError::invalid_client());
        };
        let (client, stored) = self
            .store
            .oidc_client_with_secret_hash(id)
            .await?
            .ok_or_else(OAuthError::invalid_client)?;
        match (client.public, secret) {
            (true, None) => Ok(Caller::Client(client)),
            (false, Some(secret)) => match stored {
                Some(h) if ct_eq(&h, &token_hash(&secret)) => Ok(Caller::Client(client)),
                _ => Err(OAuthError::invalid_client()),
            },
            _ => Err(OAuthError::invalid_client()),
        }
    }

    async fn redeem_code(
        &self,
        client: &OidcClient,
        req: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let code = req
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 256);
        let Some(code) = code else {
            return Err(OAuthError::invalid_request("code is missing."));
        };
        let Some(grant) = self.store.oidc_grant_by_code(&token_hash(code)).await? else {
            return Err(bad_grant());
        };
        if grant.client_id != client.id {
            return Err(bad_grant());
        }
        if grant.code_used_at.is_some() {
            // A second redemption: someone else may hold the code. Every
            // token issued from it goes (RFC 6749 §4.1.2).
            self.revoke_grant(&grant, "code_reused").await?;
            return Err(bad_grant());
        }
        if now >= grant.code_expires_at || grant.revoked_at.is_some() {
            return Err(bad_grant());
        }
        if req.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request's.",
            ));
        }
        match (&grant.code_challenge, req.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) if pkce::verifies(challenge, verifier) => {}
            (Some(_), _) => {
                return Err(OAuthError::invalid_grant(
                    "The PKCE code_verifier is missing or wrong.",
                ));
            }
            // A verifier for a request that had no challenge is a
            // downgrade attempt (RFC 9700 §4.8.2).
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "The authorization request had no code_challenge.",
                ));
            }
            (None, None) => {}
        }
        let Some((session, account)) = self.grant_holder(&grant, now).await? else {
            return Err(bad_grant());
        };
        let refresh = format!(
            "{REFRESH_PREFIX}{}",
            random_token(self.secrets.as_ref(), 32)
        );
        let effects = Effects::at(now).audit(
            NewAuditEvent::new(AuditKind::OidcTokensIssued)
                .actor(account.id)
                .subject(account.id)
                .detail_json(serde_json::json!({
                    "client": client.id.to_string(),
                    "grant": grant.id.to_string(),
                })),
        );
        if !self
            .store
            .redeem_oidc_code_with(grant.id, &token_hash(&refresh), now, &effects)
            .await?
        {
            // Lost a race with another redemption of the same code.
            self.revoke_grant(&grant, "code_reused").await?;
            return Err(bad_grant());
        }
        self.tokens_for(&grant, &account, Some(&session), Some(refresh), now)
            .await
    }

    async fn refresh(
        &self,
        client: &OidcClient,
        req: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let presented = req
            .refresh_token
            .as_deref()
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing."))?;
        let hash = token_hash(presented);
        let Some(record) = self.store.oidc_refresh_token(&hash).await? else {
            return Err(bad_grant());
        };
        let grant = record.grant;
        if grant.client_id != client.id {
            return Err(bad_grant());
        }
        if record.used_at.is_some() {
            // A replaced token came back: the family is compromised.
            self.revoke_grant(&grant, "refresh_reused").await?;
            return Err(bad_grant());
        }
        if grant.revoked_at.is_some() {
            return Err(bad_grant());
        }
        let mut grant = grant;
        if let Some(asked) = req.scope.as_deref().filter(|s| !s.trim().is_empty()) {
            let mut narrowed = Vec::new();
            for name in asked.split(' ').filter(|s| !s.is_empty()) {
                match name.parse::<OidcScope>() {
                    Ok(s) if grant.scopes.contains(&s) => narrowed.push(s),
                    _ => {
                        return Err(OAuthError::new(
                            OAuthErrorCode::InvalidScope,
                            "A refresh may only narrow the scopes granted.",
                        ));
                    }
                }
            }
            grant.scopes = narrowed;
        }
        let Some((session, account)) = self.grant_holder(&grant, now).await? else {
            return Err(bad_grant());
        };
        let next = format!(
            "{REFRESH_PREFIX}{}",
            random_token(self.secrets.as_ref(), 32)
        );
        if !self
            .store
            .rotate_oidc_refresh_token(&hash, &token_hash(&next), now)
            .await?
        {
            self.revoke_grant(&grant, "refresh_reused").await?;
            return Err(bad_grant());
        }
        self.tokens_for(&grant, &account, Some(&session), Some(next), now)
            .await
    }

    async fn client_credentials(
        &self,
        caller: Caller,
        req: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let ttl = self.config.oidc.access_token_ttl_secs;
        let asked: Vec<&str> = req
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        let (sub, client_id, scope, tid) = match &caller {
            Caller::Service { account, token } => {
                // Exactly the token's own scopes: an exchange never widens.
                if asked.iter().any(|a| !token.scopes.iter().any(|s| s == a)) {
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidScope,
                        "The API token does not carry every scope asked for.",
                    ));
                }
                let scope = if asked.is_empty() {
                    token.scopes.join(" ")
                } else {
                    asked.join(" ")
                };
                (
                    account.id.to_string(),
                    account.id.to_string(),
                    scope,
                    Some(token.id.to_string()),
                )
            }
            Caller::Client(client) => {
                if client.public {
                    return Err(OAuthError::new(
                        OAuthErrorCode::UnauthorizedClient,
                        "A public client cannot use client_credentials.",
                    ));
                }
                if !asked.is_empty() {
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidScope,
                        "A client acting for itself has no scopes to ask for.",
                    ));
                }
                (
                    client.id.to_string(),
                    client.id.to_string(),
                    String::new(),
                    None,
                )
            }
        };
        let claims = AccessTokenClaims {
            iss: self.issuer(),
            sub,
            aud: client_id.clone(),
            client_id,
            exp: secs(now) + ttl,
            iat: secs(now),
            jti: random_uuid(self.secrets.as_ref()).to_string(),
            scope: scope.clone(),
            gid: None,
            tid,
            sid: None,
            auth_time: None,
            acr: None,
            amr: Vec::new(),
        };
        let access_token = self
            .sign_jwt_typed(SigningAlg::Es256, Some(ACCESS_TOKEN_TYP), &claims)
            .await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            refresh_token: None,
            id_token: None,
            scope,
        })
    }

    /// The session and account behind a user's grant, if both are still
    /// good.
    async fn grant_holder(
        &self,
        grant: &OidcGrant,
        now: Timestamp,
    ) -> Result<Option<(Session, Account)>, OAuthError> {
        let Some((grant, session, account)) = self.store.oidc_grant_with_holder(grant.id).await?
        else {
            return Ok(None);
        };
        Ok(match session {
            Some(s) if self.holder_is_live(&grant, Some(&s), &account, now) => Some((s, account)),
            _ => None,
        })
    }

    /// Whether a grant's tokens still live: the grant not revoked, its
    /// session there and live (for the same account), the account active.
    fn holder_is_live(
        &self,
        grant: &OidcGrant,
        session: Option<&Session>,
        account: &Account,
        now: Timestamp,
    ) -> bool {
        grant.revoked_at.is_none()
            && account.active
            && account.id == grant.account_id
            && session.is_some_and(|s| {
                Some(s.id) == grant.session_id
                    && s.account_id == grant.account_id
                    && s.is_live(&self.config.session_policy, now)
            })
    }

    async fn revoke_grant(&self, grant: &OidcGrant, why: &str) -> Result<(), OAuthError> {
        let now = self.clock.now();
        let effects = Effects::at(now).audit(
            NewAuditEvent::new(AuditKind::OidcGrantRevoked)
                .subject(grant.account_id)
                .detail_json(serde_json::json!({
                    "client": grant.client_id.to_string(),
                    "grant": grant.id.to_string(),
                    "reason": why,
                })),
        );
        self.store
            .revoke_oidc_grant_with(grant.id, now, &effects)
            .await?;
        Ok(())
    }

    async fn tokens_for(
        &self,
        grant: &OidcGrant,
        account: &Account,
        session: Option<&Session>,
        refresh_token: Option<String>,
        now: Timestamp,
    ) -> Result<TokenResponse, OAuthError> {
        let cfg = &self.config.oidc;
        let issuer = self.issuer();
        let acr = acr_of(grant.aal).to_string();
        let amr: Vec<String> = amr_of(grant.aal, &grant.methods)
            .into_iter()
            .map(String::from)
            .collect();
        let sid = session.map(|s| s.id.to_string());
        let scope = scopes_to_text(&grant.scopes);
        let access = AccessTokenClaims {
            iss: issuer.clone(),
            sub: account.id.to_string(),
            aud: grant.client_id.to_string(),
            client_id: grant.client_id.to_string(),
            exp: secs(now) + cfg.access_token_ttl_secs,
            iat: secs(now),
            jti: random_uuid(self.secrets.as_ref()).to_string(),
            scope: scope.clone(),
            gid: Some(grant.id.to_string()),
            tid: None,
            sid: sid.clone(),
            auth_time: Some(secs(grant.auth_time)),
            acr: Some(acr.clone()),
            amr: amr.clone(),
        };
        let access_token = self
            .sign_jwt_typed(SigningAlg::Es256, Some(ACCESS_TOKEN_TYP), &access)
            .await?;
        let id_token = if grant.scopes.contains(&OidcScope::OpenId) {
            let profile = ProfileClaims::released(
                &grant.scopes,
                account.email.as_str(),
                &account.display_name,
            );
            let claims = IdTokenClaims {
                iss: issuer,
                sub: account.id.to_string(),
                aud: grant.client_id.to_string(),
                exp: secs(now) + cfg.id_token_ttl_secs,
                iat: secs(now),
                auth_time: secs(grant.auth_time),
                nonce: grant.nonce.clone(),
                acr,
                amr,
                sid,
                email: profile.email,
                email_verified: profile.email_verified,
                name: profile.name,
            };
            Some(self.sign_jwt(SigningAlg::Es256, &claims).await?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: cfg.access_token_ttl_secs,
            refresh_token,
            id_token,
            scope,
        })
    }

    /// Checks an access token and what it came from: signature, expiry,
    /// grant, session, account (or, for client credentials, the API token
    /// or client). `None` for every kind of failure.
    pub async fn oidc_access_token(&self, token: &str) -> Result<Option<TokenSubject>, OAuthError> {
        let now = self.clock.now();
        let claims = match self.checked_tokens.get(token, now) {
            Some(c) => AccessTokenClaims::clone(&c),
            None => {
                let Ok(claims) = self
                    .verify_own::<AccessTokenClaims>(token, Some(ACCESS_TOKEN_TYP), false)
                    .await?
                else {
                    return Ok(None);
                };
                self.checked_tokens
                    .put(token, std::sync::Arc::new(claims.clone()));
                claims
            }
        };
        if let Some(gid) = &claims.gid {
            let Ok(id) = gid.parse() else {
                return Ok(None);
            };
            let Some((grant, session, account)) = self.store.oidc_grant_with_holder(id).await?
            else {
                return Ok(None);
            };
            if grant.client_id.to_string() != claims.client_id {
                return Ok(None);
            }
            let live = self.holder_is_live(&grant, session.as_ref(), &account, now);
            return Ok(live.then_some(TokenSubject {
                claims,
                account: Some(account),
            }));
        }
        if let Some(tid) = &claims.tid {
            let Ok(id) = tid.parse() else { return Ok(None) };
            let Some(record) = self.store.api_token_by_id(id).await? else {
                return Ok(None);
            };
            let Some(account) = self.store.account_by_id(record.account_id).await? else {
                return Ok(None);
            };
            let live =
                record.is_live(now) && account.active && account.id.to_string() == claims.sub;
            return Ok(live.then_some(TokenSubject {
                claims,
                account: Some(account),
            }));
        }
        // A client acting for itself: as long as the client exists.
        Ok(self
            .client_named(Some(&claims.client_id))
            .await?
            .filter(|c| !c.public)
            .map(|_| TokenSubject {
                claims,
                account: None,
            }))
    }

    /// Userinfo (OpenID Connect Core §5.3): the claims the token's scopes
    /// release.
    pub async fn oidc_userinfo(&self, token: &str) -> Result<serde_json::Value, OAuthError> {
        let subject = self
            .oidc_access_token(token)
            .await?
            .filter(|s| s.claims.gid.is_some())
            .ok_or_else(|| {
                OAuthError::invalid_token("The access token is invalid, expired or revoked.")
            })?;
        let scopes: Vec<OidcScope> = subject
            .claims
            .scope
            .split(' ')
            .filter_map(|s| s.parse().ok())
            .collect();
        if !scopes.contains(&OidcScope::OpenId) {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "The token was not issued with the openid scope.",
            ));
        }
        let account = subject
            .account
            .ok_or_else(|| OAuthError::invalid_token("The token has no user."))?;
        let profile =
            ProfileClaims::released(&scopes, account.email.as_str(), &account.display_name);
        let mut out = serde_json::json!({ "sub": account.id.to_string() });
        if let Some(e) = profile.email {
            out["email"] = e.into();
        }
        if let Some(v) = profile.email_verified {
            out["email_verified"] = v.into();
        }
        if let Some(n) = profile.name {
            out["name"] = n.into();
        }
        Ok(out)
    }

    /// Introspection, for an authenticated confidential client.
    pub async fn oidc_introspect(
        &self,
        auth: &ClientAuth,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<Introspection, OAuthError> {
        let caller = self.authenticate_client(auth, "introspect", ctx).await?;
        if matches!(&caller, Caller::Client(c) if c.public) {
            return Err(OAuthError::invalid_client());
        }
        if token.starts_with(REFRESH_PREFIX) {
            let now = self.clock.now();
            let Some(record) = self.store.oidc_refresh_token(&token_hash(token)).await? else {
                return Ok(Introspection::default());
            };
            if record.used_at.is_some() {
                return Ok(Introspection::default());
            }
            let grant = record.grant;
            return Ok(match self.grant_holder(&grant, now).await? {
                Some((session, account)) => Introspection {
                    active: true,
                    scope: Some(scopes_to_text(&grant.scopes)),
                    client_id: Some(grant.client_id.to_string()),
                    username: Some(account.email.as_str().to_string()),
                    token_type: Some("refresh_token"),
                    sub: Some(account.id.to_string()),
                    iss: Some(self.issuer()),
                    sid: Some(session.id.to_string()),
                    acr: Some(acr_of(grant.aal).to_string()),
                    auth_time: Some(secs(grant.auth_time)),
                    ..Default::default()
                },
                None => Introspection::default(),
            });
        }
        Ok(match self.oidc_access_token(token).await? {
            Some(s) => Introspection {
                active: true,
                scope: Some(s.claims.scope.clone()),
                client_id: Some(s.claims.client_id.clone()),
                username: s.account.map(|a| a.email.as_str().to_string()),
                token_type: Some("Bearer"),
                exp: Some(s.claims.exp),
                iat: Some(s.claims.iat),
                sub: Some(s.claims.sub.clone()),
                aud: Some(s.claims.aud.clone()),
                iss: Some(s.claims.iss.clone()),
                jti: Some(s.claims.jti.clone()),
                sid: s.claims.sid.clone(),
                acr: s.claims.acr.clone(),
                auth_time: s.claims.auth_time,
            },
            None => Introspection::default(),
        })
    }

    /// Revocation: a refresh token or access token of the calling client
    /// ends its whole grant. Unknown tokens are not an error (RFC 7009 §2.2).
    pub async fn oidc_revoke(
        &self,
        auth: &ClientAuth,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        let Caller::Client(client) = self.authenticate_client(auth, "revoke", ctx).await? else {
            return Err(OAuthError::invalid_client());
        };
        let grant = if token.starts_with(REFRESH_PREFIX) {
            self.store
                .oidc_refresh_token(&token_hash(token))
                .await?
                .map(|r| r.grant)
        } else {
            match self
                .verify_own::<AccessTokenClaims>(token, Some(ACCESS_TOKEN_TYP), true)
                .await?
            {
                Ok(c) => match c.gid.and_then(|g| g.parse().ok()) {
                    Some(id) => self.store.oidc_grant(id).await?,
                    None => None,
                },
                Err(_) => None,
            }
        };
        if let Some(grant) = grant.filter(|g| g.client_id == client.id && g.revoked_at.is_none()) {
            self.revoke_grant(&grant, "revocation_request").await?;
        }
        Ok(())
    }

    /// The ID token hint of a logout request: its claims if the provider
    /// signed it (expired ones too, OpenID Connect RP-Initiated Logout §2).
    pub async fn oidc_id_token_hint(
        &self,
        hint: &str,
    ) -> Result<Option<IdTokenClaims>, OAuthError> {
        Ok(self
            .verify_own::<IdTokenClaims>(hint, None, true)
            .await?
            .ok())
    }
}
