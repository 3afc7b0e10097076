//! Invitations: an org-admin invites an address; the mail carries a link
//! with a 256-bit token (stored hashed) that works once, for 7 days. The
//! owner of the address accepts it signed in as that address, or, if no
//! account has it yet, by creating one there and then (the link proves the
//! mailbox).

use super::{Authenticated, Core, OrgAdmin, RequestContext};
use crate::account::{Account, AccountKind, Role, validate_display_name};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::email::Email;
use crate::error::CoreError;
use crate::ids::{AccountId, InvitationId};
use crate::mail::email_message;
use crate::org::{INVITATION_TTL_SECS, Invitation, MemberRole};
use crate::password::Password;
use crate::secrets::{random_token, random_uuid, token_hash};
use crate::store::StoreError;

/// Bytes of randomness in an invitation token: 256 bits.
const INVITATION_TOKEN_BYTES: usize = 32;

/// What the holder of an invitation link sees.
#[derive(Debug, Clone)]
pub struct InvitationView {
    pub invitation: Invitation,
    pub org_name: String,
    /// Pending and not expired.
    pub usable: bool,
    /// An account with the invited address exists (sign in to accept),
    /// else the link may create one.
    pub account_exists: bool,
}

impl Core {
    /// Invites `email` and mails the link, in one transaction. Answers
    /// the invitation (the token only travels by mail).
    pub async fn invite(
        &self,
        admin: &OrgAdmin,
        email: &str,
        role: MemberRole,
        ctx: &RequestContext,
    ) -> Result<Invitation, CoreError> {
        let email = Email::parse(email).map_err(|e| CoreError::Invalid(e.to_string()))?;
        let org = self.org_settings(admin.org()).await?;
        let now = self.clock.now();
        let token = random_token(self.secrets.as_ref(), INVITATION_TOKEN_BYTES);
        let inv = Invitation {
            id: InvitationId(random_uuid(self.secrets.as_ref())),
            org: admin.org(),
            email: email.clone(),
            role,
            invited_by: admin.actor(),
            created_at: now,
            expires_at: now.plus_secs(INVITATION_TTL_SECS),
            accepted_at: None,
        };
        let link = format!(
            "{}/invitations/{token}",
            self.config.public_url.trim_end_matches('/')
        );
        let issuer = self.config.two_step.issuer.as_str();
        let message = email_message(
            &self.secret_box,
            self.secrets.as_ref(),
            email.as_str(),
            &format!("You are invited to {} on {issuer}", org.org.name),
            "org_invitation",
            &[
                ("name", email.as_str()),
                ("issuer", issuer),
                ("org", &org.org.name),
                ("link", &link),
                ("expires", &inv.expires_at.to_rfc3339()),
            ],
        )?;
        self.store
            .insert_invitation(&inv, &token_hash(&token), &message)
            .await?;
        self.wake_outbox();
        self.audit_org(
            admin,
            AuditKind::OrgInvitationSent,
            None,
            ctx,
            serde_json::json!({
                "invitation": inv.id.to_string(),
                "email": email.as_str(),
                "role": role.as_str(),
            }),
        )
        .await;
        Ok(inv)
    }

    pub async fn org_invitations(&self, admin: &OrgAdmin) -> Result<Vec<Invitation>, CoreError> {
        Ok(self.store.invitations(admin.org()).await?)
    }

    /// Withdraws a pending invitation: its link stops working.
    pub async fn withdraw_invitation(
        &self,
        admin: &OrgAdmin,
        id: InvitationId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        if !self.store.delete_invitation(admin.org(), id).await? {
            return Err(CoreError::NotFound("invitation"));
        }
        self.audit_org(
            admin,
            AuditKind::OrgInvitationWithdrawn,
            None,
            ctx,
            serde_json::json!({ "invitation": id.to_string() }),
        )
        .await;
        Ok(())
    }

    /// The invitation behind a link, for its holder.
    pub async fn invitation(&self, token: &str) -> Result<InvitationView, CoreError> {
        let (invitation, org_name) = self.invitation_by_token(token).await?;
        let usable = invitation.accepted_at.is_none() && self.clock.now() < invitation.expires_at;
        let account_exists = self
            .store
            .account_by_email(&invitation.email)
            .await?
            .is_some();
        Ok(InvitationView {
            invitation,
            org_name,
            usable,
            account_exists,
        })
    }

    /// Accepts an invitation as the signed-in owner of the invited address.
    pub async fn accept_invitation(
        &self,
        who: &Authenticated,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<Invitation, CoreError> {
        let (invitation, _) = self.invitation_by_token(token).await?;
        if invitation.email != who.account.email {
            return Err(CoreError::Forbidden(
                "This invitation was sent to another email address: sign in as that address to accept it.",
            ));
        }
        let accepted = self
            .store
            .accept_invitation(&token_hash(token), who.account.id, None, self.clock.now())
            .await?
            .ok_or_else(gone)?;
        self.audit_accepted(&accepted, who.account.id, ctx).await;
        Ok(accepted)
    }

    /// Accepts an invitation by creating the invited address's account
    /// (there must be none yet): account and membership in one commit.
    pub async fn accept_invitation_with_new_account(
        &self,
        token: &str,
        display_name: &str,
        password: Password,
        ctx: &RequestContext,
    ) -> Result<(Invitation, Account), CoreError> {
        let (invitation, _) = self.invitation_by_token(token).await?;
        let now = self.clock.now();
        if invitation.accepted_at.is_some() || now >= invitation.expires_at {
            return Err(gone());
        }
        let display_name =
            validate_display_name(display_name).map_err(|e| CoreError::Invalid(e.into()))?;
        let email = invitation.email.clone();
        let local = email.as_str().split('@').next().unwrap_or("");
        self.config
            .password_policy
            .check(password.expose(), &[email.as_str(), local, &display_name])
            .map_err(CoreError::Invalid)?;
        let hash = self.pool.hash(password).await?;
        let account = Account {
            id: AccountId(random_uuid(self.secrets.as_ref())),
            email,
            display_name,
            kind: AccountKind::Human,
            role: Role::Member,
            active: true,
            password_hash: Some(hash),
            created_at: now,
        };
        let accepted = self
            .store
            .accept_invitation(&token_hash(token), account.id, Some(&account), now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => CoreError::Conflict(
                    "An account with this email address exists: sign in to accept the invitation.",
                ),
                other => other.into(),
            })?
            .ok_or_else(gone)?;
        self.audit(
            NewAuditEvent::new(AuditKind::AccountCreated)
                .subject(account.id)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({
                    "kind": "human",
                    "role": "member",
                    "invitation": accepted.id.to_string(),
                })),
        )
        .await;
        self.audit_accepted(&accepted, account.id, ctx).await;
        Ok((accepted, account))
    }

    async fn invitation_by_token(&self, token: &str) -> Result<(Invitation, String), CoreError> {
        if token.is_empty() || token.len() > 128 {
            return Err(CoreError::NotFound("invitation"));
        }
        self.store
            .invitation_by_token(&token_hash(token))
            .await?
            .ok_or(CoreError::NotFound("invitation"))
    }

    async fn audit_accepted(&self, inv: &Invitation, account: AccountId, ctx: &RequestContext) {
        self.audit(
            NewAuditEvent::new(AuditKind::OrgInvitationAccepted)
                .actor(account)
                .subject(account)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({
                    "org": inv.org.to_string(),
                    "invitation": inv.id.to_string(),
                    "role": inv.role.as_str(),
                })),
        )
        .await;
    }
}

fn gone() -> CoreError {
    CoreError::Invalid("This invitation has expired or was used already; ask for a new one.".into())
}
