//! Registering relying applications (sysadmins only): create, list, read,
//! update, give a new secret, delete. Every change is audited in the
//! change's own transaction. The input rules are in
//! [`crate::oidc::client`].

use super::{Core, RequestContext, Sysadmin};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::oidc::client::{
    OidcClient, OidcClientId, check_name, check_scopes, check_uris, default_scopes, generate_secret,
};
use crate::secrets::{random_uuid, token_hash};
use crate::store::{Effects, StoreError};

/// A new client, as the admin API and the CLI take it.
#[derive(Debug, Clone, Default)]
pub struct OidcClientInput {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    /// Default: `openid profile email`.
    pub scopes: Option<Vec<String>>,
}

/// A change to a client: each field only when given. Whether a client is
/// public is fixed at creation (it decides whether it has a secret).
#[derive(Debug, Clone, Default)]
pub struct OidcClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub scopes: Option<Vec<String>>,
}

/// A client just registered, or given a new secret: the secret is shown
/// this once (confidential clients only).
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client: OidcClient,
    pub secret: Option<String>,
}

const CLIENT: &str = "OIDC client";

fn event(kind: AuditKind, admin: &Sysadmin, ctx: &RequestContext, c: &OidcClient) -> NewAuditEvent {
    NewAuditEvent::new(kind)
        .actor_opt(admin.actor())
        .ip(ctx.ip.clone())
        .detail_json(serde_json::json!({
            "client_id": c.id.to_string(),
            "name": c.name,
            "public": c.public,
            "first_party": c.first_party,
            "redirect_uris": c.redirect_uris,
            "post_logout_redirect_uris": c.post_logout_redirect_uris,
            "scopes": crate::oidc::client::scopes_to_text(&c.scopes),
        }))
}

impl Core {
    pub async fn create_oidc_client(
        &self,
        admin: &Sysadmin,
        input: OidcClientInput,
        ctx: &RequestContext,
    ) -> Result<RegisteredClient, CoreError> {
        let now = self.clock.now();
        let client = OidcClient {
            id: OidcClientId(random_uuid(self.secrets.as_ref())),
            name: check_name(&input.name)?,
            redirect_uris: check_uris("redirect_uris", &input.redirect_uris, true)?,
            post_logout_redirect_uris: check_uris(
                "post_logout_redirect_uris",
                &input.post_logout_redirect_uris,
                false,
            )?,
            public: input.public,
            first_party: input.first_party,
            scopes: match &input.scopes {
                Some(s) => check_scopes(s)?,
                None => default_scopes(),
            },
            created_by: admin.actor(),
            created_at: now,
            updated_at: now,
        };
        let secret = (!client.public).then(|| generate_secret(self.secrets.as_ref()));
        let hash = secret.as_deref().map(token_hash);
        let effects =
            Effects::at(now).audit(event(AuditKind::OidcClientCreated, admin, ctx, &client));
        self.store
            .insert_oidc_client_with(&client, hash.as_deref(), &effects)
            .await
            .map_err(|e| match e {
                // A 122-bit random id taken: vanishingly rare; say so plainly.
                StoreError::Conflict(_) => {
                    CoreError::Conflict("That client id is taken; try again.")
                }
                other => other.into(),
            })?;
        Ok(RegisteredClient { client, secret })
    }

    pub async fn list_oidc_clients(&self, _admin: &Sysadmin) -> Result<Vec<OidcClient>, CoreError> {
        Ok(self.store.oidc_clients().await?)
    }

    pub async fn get_oidc_client(
        &self,
        _admin: &Sysadmin,
        id: OidcClientId,
    ) -> Result<OidcClient, CoreError> {
        self.store
            .oidc_client(id)
            .await?
            .ok_or(CoreError::NotFound(CLIENT))
    }

    pub async fn update_oidc_client(
        &self,
        admin: &Sysadmin,
        id: OidcClientId,
        update: OidcClientUpdate,
        ctx: &RequestContext,
    ) -> Result<OidcClient, CoreError> {
        // Input first: a bad request is refused the same whether or not
        // the client exists.
        let name = update.name.as_deref().map(check_name).transpose()?;
        let redirect_uris = update
            .redirect_uris
            .as_deref()
            .map(|u| check_uris("redirect_uris", u, true))
            .transpose()?;
        let post_logout = update
            .post_logout_redirect_uris
            .as_deref()
            .map(|u| check_uris("post_logout_redirect_uris", u, false))
            .transpose()?;
        let scopes = update.scopes.as_deref().map(check_scopes).transpose()?;
        let mut client = self.get_oidc_client(admin, id).await?;
        client.name = name.unwrap_or(client.name);
        client.redirect_uris = redirect_uris.unwrap_or(client.redirect_uris);
        client.post_logout_redirect_uris = post_logout.unwrap_or(client.post_logout_redirect_uris);
        client.scopes = scopes.unwrap_or(client.scopes);
        client.first_party = update.first_party.unwrap_or(client.first_party);
        client.updated_at = self.clock.now();
        let effects = Effects::at(client.updated_at).audit(event(
            AuditKind::OidcClientUpdated,
            admin,
            ctx,
            &client,
        ));
        if !self
            .store
            .update_oidc_client_with(&client, &effects)
            .await?
        {
            return Err(CoreError::NotFound(CLIENT));
        }
        Ok(client)
    }

    /// A new secret for a confidential client; the old one stops working
    /// at once.
    pub async fn rotate_oidc_client_secret(
        &self,
        admin: &Sysadmin,
        id: OidcClientId,
        ctx: &RequestContext,
    ) -> Result<RegisteredClient, CoreError> {
        let client = self.get_oidc_client(admin, id).await?;
        if client.public {
            return Err(CoreError::Conflict(
                "A public client has no secret; it uses PKCE.",
            ));
        }
        let secret = generate_secret(self.secrets.as_ref());
        let now = self.clock.now();
        let effects = Effects::at(now).audit(event(
            AuditKind::OidcClientSecretRotated,
            admin,
            ctx,
            &client,
        ));
        if !self
            .store
            .set_oidc_client_secret_with(id, &token_hash(&secret), now, &effects)
            .await?
        {
            return Err(CoreError::NotFound(CLIENT));
        }
        Ok(RegisteredClient {
            client,
            secret: Some(secret),
        })
    }

    pub async fn delete_oidc_client(
        &self,
        admin: &Sysadmin,
        id: OidcClientId,
        ctx: &RequestContext,
    ) -> Result<OidcClient, CoreError> {
        let client = self.get_oidc_client(admin, id).await?;
        let effects = Effects::at(self.clock.now()).audit(event(
            AuditKind::OidcClientDeleted,
            admin,
            ctx,
            &client,
        ));
        if !self.store.delete_oidc_client_with(id, &effects).await? {
            return Err(CoreError::NotFound(CLIENT));
        }
        Ok(client)
    }
}
