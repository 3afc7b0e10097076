//! Organizations and their members, and who may administer them: a
//! sysadmin administers every organization, an org-admin its own. Every
//! use case takes an [`OrgAdmin`], which only [`Core::require_org_admin`]
//! makes, after the check.

use super::{Authenticated, Core, RequestContext, Sysadmin};
use crate::account::{AccountKind, Role};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::email::Email;
use crate::error::CoreError;
use crate::ids::{AccountId, OrganizationId};
use crate::org::{Member, MemberRole, OrgSettings, OrgStanding, Organization, validate_org_name};
use crate::secrets::random_uuid;
use crate::store::StoreError;

/// Proof that the caller may administer one organization.
#[derive(Debug, Clone, Copy)]
pub struct OrgAdmin {
    org: OrganizationId,
    actor: Option<AccountId>,
    sysadmin: bool,
}

impl OrgAdmin {
    pub fn org(&self) -> OrganizationId {
        self.org
    }
    pub fn actor(&self) -> Option<AccountId> {
        self.actor
    }
    /// Whether the caller is a sysadmin (who may, e.g., mark a domain
    /// verified without DNS).
    pub fn is_sysadmin(&self) -> bool {
        self.sysadmin
    }
}

impl Core {
    /// What the account's organizations ask of it (cached like sessions).
    pub async fn standing(
        &self,
        account: &crate::account::Account,
    ) -> Result<OrgStanding, CoreError> {
        Ok(self.store.org_standing(account).await?)
    }

    /// The capability to administer `org`: a sysadmin, or one of its
    /// org-admins. 404 if there is no such organization (for sysadmins;
    /// others get 403 either way, so ids are not probed).
    pub async fn require_org_admin(
        &self,
        who: &Authenticated,
        org: OrganizationId,
    ) -> Result<OrgAdmin, CoreError> {
        let sysadmin = who.account.role >= Role::Sysadmin && who.account.active;
        if !sysadmin && !self.standing(&who.account).await?.administers(org) {
            return Err(CoreError::Forbidden(
                "This needs the org-admin role in this organization, or the sysadmin role.",
            ));
        }
        if self.store.organization(org).await?.is_none() {
            return Err(CoreError::NotFound("organization"));
        }
        Ok(OrgAdmin {
            org,
            actor: Some(who.account.id),
            sysadmin,
        })
    }

    /// The capability to administer the organization with this id or
    /// name, for a sysadmin (e.g. the host operator's CLI).
    pub async fn org_admin_for_sysadmin(
        &self,
        admin: &Sysadmin,
        id_or_name: &str,
    ) -> Result<OrgAdmin, CoreError> {
        let wanted = id_or_name.trim();
        let org = self
            .store
            .organizations()
            .await?
            .into_iter()
            .find(|o| o.org.id.to_string() == wanted.to_ascii_lowercase() || o.org.name == wanted)
            .ok_or(CoreError::NotFound("organization"))?;
        Ok(OrgAdmin {
            org: org.org.id,
            actor: admin.actor(),
            sysadmin: true,
        })
    }

    /// The organizations the caller administers: all of them for a
    /// sysadmin. 403 for an account that administers none.
    pub async fn my_administered_orgs(
        &self,
        who: &Authenticated,
    ) -> Result<Vec<OrgSettings>, CoreError> {
        let all = self.store.organizations().await?;
        if who.account.role >= Role::Sysadmin {
            return Ok(all);
        }
        let standing = self.standing(&who.account).await?;
        if !standing.org_admin_anywhere() {
            return Err(CoreError::Forbidden(
                "This needs the org-admin role in an organization, or the sysadmin role.",
            ));
        }
        Ok(all
            .into_iter()
            .filter(|o| standing.administers(o.org.id))
            .collect())
    }

    /// Creates an organization (sysadmins only).
    pub async fn create_organization(
        &self,
        admin: &Sysadmin,
        name: &str,
        ctx: &RequestContext,
    ) -> Result<OrgSettings, CoreError> {
        let name = validate_org_name(name).map_err(CoreError::Invalid)?;
        let org = Organization {
            id: OrganizationId(random_uuid(self.secrets.as_ref())),
            name,
            created_at: self.clock.now(),
        };
        self.store
            .insert_organization(&org)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    CoreError::Conflict("An organization with this name already exists.")
                }
                other => other.into(),
            })?;
        self.audit(
            NewAuditEvent::new(AuditKind::OrgCreated)
                .actor_opt(admin.actor())
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({ "org": org.id.to_string(), "name": org.name })),
        )
        .await;
        self.org_settings(org.id).await
    }

    /// The organization with its policies.
    pub async fn organization(&self, admin: &OrgAdmin) -> Result<OrgSettings, CoreError> {
        self.org_settings(admin.org).await
    }

    pub(crate) async fn org_settings(&self, org: OrganizationId) -> Result<OrgSettings, CoreError> {
        self.store
            .organization(org)
            .await?
            .ok_or(CoreError::NotFound("organization"))
    }

    /// Explicit members and the accounts the organization manages.
    pub async fn org_members(&self, admin: &OrgAdmin) -> Result<Vec<Member>, CoreError> {
        Ok(self.store.members(admin.org).await?)
    }

    /// Adds an existing account by its email.
    pub async fn add_org_member(
        &self,
        admin: &OrgAdmin,
        email: &str,
        role: MemberRole,
        ctx: &RequestContext,
    ) -> Result<Member, CoreError> {
        let email = Email::parse(email).map_err(|e| CoreError::Invalid(e.to_string()))?;
        let account = self
            .store
            .account_by_email(&email)
            .await?
            .ok_or(CoreError::NotFound("account"))?;
        if account.kind == AccountKind::Service {
            return Err(CoreError::Invalid(
                "Service accounts are not members of organizations.".into(),
            ));
        }
        if !self
            .store
            .add_member(admin.org, account.id, role, self.clock.now())
            .await?
        {
            return Err(CoreError::Conflict(
                "This account is a member of the organization already.",
            ));
        }
        self.audit_org(admin, AuditKind::OrgMemberAdded, Some(account.id), ctx, {
            serde_json::json!({ "role": role.as_str(), "by": "admin" })
        })
        .await;
        self.org_member(admin, account.id).await
    }

    /// Changes an explicit member's role.
    pub async fn set_org_member_role(
        &self,
        admin: &OrgAdmin,
        account: AccountId,
        role: MemberRole,
        ctx: &RequestContext,
    ) -> Result<Member, CoreError> {
        if admin.actor == Some(account) && !admin.sysadmin && role != MemberRole::OrgAdmin {
            return Err(CoreError::Forbidden(
                "You cannot remove your own org-admin role; ask another admin.",
            ));
        }
        if !self.store.set_member_role(admin.org, account, role).await? {
            return Err(CoreError::NotFound("member"));
        }
        self.audit_org(
            admin,
            AuditKind::OrgMemberRoleChanged,
            Some(account),
            ctx,
            serde_json::json!({ "role": role.as_str() }),
        )
        .await;
        self.org_member(admin, account).await
    }

    /// Ends an explicit membership. A managed account stays a member for
    /// as long as its email is in a verified domain.
    pub async fn remove_org_member(
        &self,
        admin: &OrgAdmin,
        account: AccountId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        if !self.store.remove_member(admin.org, account).await? {
            return Err(CoreError::NotFound("member"));
        }
        self.audit_org(
            admin,
            AuditKind::OrgMemberRemoved,
            Some(account),
            ctx,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    async fn org_member(&self, admin: &OrgAdmin, account: AccountId) -> Result<Member, CoreError> {
        self.store
            .members(admin.org)
            .await?
            .into_iter()
            .find(|m| m.account.id == account)
            .ok_or(CoreError::NotFound("member"))
    }

    /// Records an administrator's change to an organization.
    pub(crate) async fn audit_org(
        &self,
        admin: &OrgAdmin,
        kind: AuditKind,
        subject: Option<AccountId>,
        ctx: &RequestContext,
        detail: serde_json::Value,
    ) {
        let mut detail = detail;
        if let Some(map) = detail.as_object_mut() {
            map.insert("org".into(), admin.org.to_string().into());
        }
        let mut event = NewAuditEvent::new(kind)
            .actor_opt(admin.actor)
            .ip(ctx.ip.clone())
            .detail_json(detail);
        if let Some(s) = subject {
            event = event.subject(s);
        }
        self.audit(event).await;
    }
}
