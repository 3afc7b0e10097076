//! Service accounts: accounts for automation. They have no password, no
//! two-step verification and no emailed codes, never sign in (the sign-in
//! state machine refuses them with the one answer bad credentials get),
//! and reach the API only with API tokens. A person's "bot" account can
//! be converted into one, keeping its id, name, role and tokens.

use super::accounts::{created_event, taken};
use super::{Core, NewAccountInput, RequestContext, Sysadmin};
use crate::account::{Account, AccountKind, Role, validate_display_name};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::ids::AccountId;
use crate::secrets::SecretSource;
use crate::store::{Conversion, Effects};

/// The domain of every new service account's address. `.invalid` is
/// reserved (RFC 2606): no mail can ever be delivered there.
pub const SERVICE_DOMAIN: &str = "service.invalid";

/// A service account and what it is for.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub account: Account,
    pub description: String,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceAccountInput {
    pub name: String,
    pub description: String,
    /// Default: member.
    pub role: Option<Role>,
}

/// A rename or a new description (each only when given).
#[derive(Debug, Clone, Default)]
pub struct ServiceAccountUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// A service account's name: 1 to 100 characters, no control characters.
pub fn check_name(raw: &str) -> Result<String, CoreError> {
    let name =
        validate_display_name(raw).map_err(|e| CoreError::Invalid(e.replace("display ", "")))?;
    if name.is_empty() {
        return Err(CoreError::Invalid("name is required".into()));
    }
    Ok(name)
}

/// A description: at most 500 characters, no control characters but
/// line breaks.
pub fn check_description(raw: &str) -> Result<String, CoreError> {
    let d = raw.trim();
    if d.chars().count() > 500 {
        return Err(CoreError::Invalid(
            "description is longer than 500 characters".into(),
        ));
    }
    if d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(CoreError::Invalid(
            "description must not contain control characters".into(),
        ));
    }
    Ok(d.to_string())
}

/// `<name as a slug>-<8 random hex>@service.invalid`: recognisable in
/// lists, unique, and undeliverable.
pub fn service_address(name: &str, secrets: &dyn SecretSource) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let mut tag = [0u8; 4];
    secrets.fill(&mut tag);
    let tag = hex::encode(tag);
    if slug.is_empty() {
        format!("svc-{tag}@{SERVICE_DOMAIN}")
    } else {
        format!("{slug}-{tag}@{SERVICE_DOMAIN}")
    }
}

impl Core {
    pub async fn create_service_account(
        &self,
        admin: &Sysadmin,
        input: ServiceAccountInput,
        ctx: &RequestContext,
    ) -> Result<ServiceAccount, CoreError> {
        let name = check_name(&input.name)?;
        let description = check_description(&input.description)?;
        let account = self
            .new_account(NewAccountInput {
                email: service_address(&name, self.secrets.as_ref()),
                display_name: name,
                kind: AccountKind::Service,
                role: input.role.unwrap_or(Role::Member),
                password: None,
            })
            .await?;
        let effects = Effects::at(account.created_at)
            .audit(created_event(&account, admin.actor(), ctx))
            .audit(
                NewAuditEvent::new(AuditKind::ServiceAccountCreated)
                    .actor_opt(admin.actor())
                    .subject(account.id)
                    .ip(ctx.ip.clone())
                    .detail_json(serde_json::json!({
                        "name": account.display_name,
                        "email": account.email.as_str(),
                    })),
            );
        self.store
            .insert_service_account(&account, &description, &effects)
            .await
            .map_err(taken)?;
        Ok(ServiceAccount {
            account,
            description,
        })
    }

    pub async fn list_service_accounts(
        &self,
        _admin: &Sysadmin,
    ) -> Result<Vec<ServiceAccount>, CoreError> {
        Ok(self
            .store
            .list_service_accounts()
            .await?
            .into_iter()
            .map(|(account, description)| ServiceAccount {
                account,
                description,
            })
            .collect())
    }

    pub async fn get_service_account(
        &self,
        _admin: &Sysadmin,
        id: AccountId,
    ) -> Result<ServiceAccount, CoreError> {
        let account = self
            .store
            .account_by_id(id)
            .await?
            .filter(|a| a.kind == AccountKind::Service)
            .ok_or(CoreError::NotFound("service account"))?;
        let description = self
            .store
            .service_description(id)
            .await?
            .unwrap_or_default();
        Ok(ServiceAccount {
            account,
            description,
        })
    }

    /// Renames and/or describes a service account.
    pub async fn update_service_account(
        &self,
        admin: &Sysadmin,
        id: AccountId,
        update: ServiceAccountUpdate,
        ctx: &RequestContext,
    ) -> Result<ServiceAccount, CoreError> {
        let name = update.name.as_deref().map(check_name).transpose()?;
        let description = update
            .description
            .as_deref()
            .map(check_description)
            .transpose()?;
        let now = self.clock.now();
        let effects = Effects::at(now).audit(
            NewAuditEvent::new(AuditKind::ServiceAccountUpdated)
                .actor_opt(admin.actor())
                .subject(id)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({
                    "name": name,
                    "description_changed": description.is_some(),
                })),
        );
        if !self
            .store
            .update_service_account_with(id, name.as_deref(), description.as_deref(), now, &effects)
            .await?
        {
            return Err(CoreError::NotFound("service account"));
        }
        self.get_service_account(admin, id).await
    }

    /// Deletes a service account and, with it, its tokens.
    pub async fn delete_service_account(
        &self,
        admin: &Sysadmin,
        id: AccountId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let before = self.get_service_account(admin, id).await?;
        let mut effects = Effects::at(self.clock.now()).audit(
            NewAuditEvent::new(AuditKind::ServiceAccountDeleted)
                .actor_opt(admin.actor())
                .subject(id)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({
                    "name": before.account.display_name,
                    "email": before.account.email.as_str(),
                })),
        );
        // Its tokens go with it, counted in the record.
        effects.revoke_tokens = Some(id);
        effects.count_in_audit = true;
        if !self.store.delete_service_account_with(id, &effects).await? {
            return Err(CoreError::NotFound("service account"));
        }
        Ok(())
    }

    /// Turns a person's ("bot") account into a service account: same id,
    /// name, address, role and API tokens; no password, methods, recovery
    /// key or sessions any more. Refused for the caller's own account and
    /// for the last sysadmin who can sign in.
    pub async fn convert_to_service(
        &self,
        admin: &Sysadmin,
        id: AccountId,
        ctx: &RequestContext,
    ) -> Result<ServiceAccount, CoreError> {
        if admin.actor() == Some(id) {
            return Err(CoreError::Forbidden(
                "You cannot convert your own account into a service account.",
            ));
        }
        // Tokens are kept; how many is read first (a token created in
        // between is kept too, only not counted).
        let tokens = self.store.api_tokens_of(id).await?.len();
        let now = self.clock.now();
        let effects = Effects::at(now).audit(
            NewAuditEvent::new(AuditKind::ConvertedToService)
                .actor_opt(admin.actor())
                .subject(id)
                .ip(ctx.ip.clone())
                .detail_json(serde_json::json!({ "tokens_kept": tokens })),
        );
        match self
            .store
            .convert_to_service_with(id, "", now, &effects)
            .await?
        {
            Conversion::Converted => {}
            Conversion::NotFound => return Err(CoreError::NotFound("account")),
            Conversion::AlreadyService => {
                return Err(CoreError::Conflict("This is a service account already."));
            }
            Conversion::LastSysadmin => {
                return Err(CoreError::Forbidden(
                    "This is the last sysadmin who can sign in; make someone else a sysadmin first.",
                ));
            }
        }
        self.get_service_account(admin, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Email;
    use crate::secrets::OsSecrets;

    #[test]
    fn addresses_are_undeliverable_valid_and_recognisable() {
        let a = service_address("Nightly CI / deploy bot!", &OsSecrets);
        assert!(a.starts_with("nightly-ci-deploy-bot-"), "{a}");
        assert!(a.ends_with("@service.invalid"));
        assert!(Email::parse(&a).is_ok());
        let b = service_address("***", &OsSecrets);
        assert!(b.starts_with("svc-") && Email::parse(&b).is_ok(), "{b}");
        let long = service_address(&"x".repeat(100), &OsSecrets);
        assert!(Email::parse(&long).is_ok(), "{long}");
    }

    #[test]
    fn names_and_descriptions_are_checked() {
        assert!(check_name("  ").is_err());
        assert_eq!(check_name(" ci ").unwrap(), "ci");
        assert!(check_name(&"x".repeat(101)).is_err());
        assert!(check_description(&"x".repeat(501)).is_err());
        assert!(check_description("a\u{7}").is_err());
        assert_eq!(check_description("line\nline").unwrap(), "line\nline");
    }
}
