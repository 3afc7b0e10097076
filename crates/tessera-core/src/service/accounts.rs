//! Creating and administering accounts.

use super::notify::Notice;
use super::{Core, RequestContext};
use crate::account::{Account, AccountKind, Role, validate_display_name};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::email::Email;
use crate::error::CoreError;
use crate::ids::AccountId;
use crate::password::{Password, PasswordPolicy};
use crate::secrets::{random_token, random_uuid};
use crate::service::sessions::Authenticated;
use crate::store::{Effects, StoreError};

/// Proof that the caller may administer the instance. It can only be made
/// by [`Core::require_sysadmin`] or, for a shell on the server host, by
/// [`Sysadmin::host_operator`], so an admin action cannot forget the check.
#[derive(Debug, Clone, Copy)]
pub struct Sysadmin {
    actor: Option<AccountId>,
}

impl Sysadmin {
    /// Whoever runs `tessera admin …` on the server host. Access to the
    /// host and its database already implies full control.
    pub fn host_operator() -> Self {
        Sysadmin { actor: None }
    }

    pub fn actor(&self) -> Option<AccountId> {
        self.actor
    }
}

/// Input for a new account.
#[derive(Debug, Clone)]
pub struct NewAccountInput {
    pub email: String,
    pub display_name: String,
    pub kind: AccountKind,
    pub role: Role,
    /// Required for self sign-up; optional when an admin creates a human
    /// account; refused for service accounts.
    pub password: Option<Password>,
}

impl NewAccountInput {
    /// Checks the input without touching storage: the address, the display
    /// name and, for a human with a password, the password against
    /// `policy`. Returns the normalised address and name.
    pub fn check(&self, policy: &PasswordPolicy) -> Result<(Email, String), CoreError> {
        let email = Email::parse(&self.email).map_err(|e| CoreError::Invalid(e.to_string()))?;
        let display_name =
            validate_display_name(&self.display_name).map_err(|e| CoreError::Invalid(e.into()))?;
        match (self.kind, &self.password) {
            (AccountKind::Service, Some(_)) => {
                return Err(CoreError::Invalid(
                    "Service accounts cannot have a password; they use API tokens.".into(),
                ));
            }
            (_, None) => {}
            (AccountKind::Human, Some(pw)) => {
                let local = email.as_str().split('@').next().unwrap_or("");
                policy
                    .check(pw.expose(), &[email.as_str(), local, &display_name])
                    .map_err(CoreError::Invalid)?;
            }
        }
        Ok((email, display_name))
    }
}

use crate::password::throttle::signup_key;

/// The audit record of a new account.
pub(super) fn created_event(
    account: &Account,
    actor: Option<AccountId>,
    ctx: &RequestContext,
) -> NewAuditEvent {
    NewAuditEvent::new(AuditKind::AccountCreated)
        .actor_opt(actor)
        .subject(account.id)
        .ip(ctx.ip.clone())
        .detail_json(serde_json::json!({
            "kind": account.kind.to_string(),
            "role": account.role.to_string(),
        }))
}

/// A taken address, in words; other failures as they are.
pub(super) fn taken(e: StoreError) -> CoreError {
    match e {
        StoreError::Conflict(_) => {
            CoreError::Conflict("An account with this email address already exists.")
        }
        other => other.into(),
    }
}

impl Core {
    /// The capability to administer, if this session's account holds it.
    pub fn require_sysadmin(&self, who: &Authenticated) -> Result<Sysadmin, CoreError> {
        if who.account.role >= Role::Sysadmin && who.account.active {
            Ok(Sysadmin {
                actor: Some(who.account.id),
            })
        } else {
            Err(CoreError::Forbidden("This needs the sysadmin role."))
        }
    }

    /// Creates an account on an administrator's behalf.
    pub async fn create_account(
        &self,
        admin: &Sysadmin,
        input: NewAccountInput,
        ctx: &RequestContext,
    ) -> Result<Account, CoreError> {
        self.insert_new_account(admin.actor(), input, ctx).await
    }

    /// Self sign-up, when the instance allows it. New accounts are members.
    ///
    /// The answer does not tell whether the address was taken: a new
    /// address gets an account, a taken one a note to its owner, and both
    /// the same `Ok`. Input is checked and the password hashed before the
    /// address is looked at, so refusals and timing do not tell either.
    pub async fn sign_up(
        &self,
        email: &str,
        display_name: &str,
        password: Password,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        if !self.config.signup_enabled {
            return Err(CoreError::Forbidden(
                "Self sign-up is turned off on this server; ask an administrator for an account.",
            ));
        }
        // Every attempt from an address counts, whatever its outcome: the
        // answer never says whether an address was taken, so sign-up must
        // not be a fast way to ask.
        let budget = ctx.ip.as_deref().map(|ip| signup_key(ip, self.clock.now()));
        let policy = self.config.throttle.signup;
        if let Some(key) = &budget {
            self.claim_slot(key, None, &policy).await?;
        }
        let result = self
            .sign_up_claimed(email, display_name, password, ctx)
            .await;
        if let Some(key) = &budget {
            self.count_failure(key, &policy).await?;
        }
        result
    }

    async fn sign_up_claimed(
        &self,
        email: &str,
        display_name: &str,
        password: Password,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let input = NewAccountInput {
            email: email.into(),
            display_name: display_name.into(),
            kind: AccountKind::Human,
            role: Role::Member,
            password: Some(password),
        };
        // Email verification does not exist yet: the account is created and
        // usable at once, as before. Once it does, the new account should
        // wait for the link that the "check your email" answer promises.
        match self.insert_new_account(None, input, ctx).await {
            Ok(_) => Ok(()),
            Err(CoreError::Conflict(_)) => {
                self.notify_signup_attempt(email).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Tells the owner of `email` that someone tried to sign up with it.
    async fn notify_signup_attempt(&self, email: &str) {
        let owner = match Email::parse(email) {
            Ok(email) => self.store.account_by_email(&email).await,
            Err(_) => return,
        };
        match owner {
            Ok(Some(owner)) => self.notify(&owner, Notice::SignupAttempt).await,
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "could not read the account for a sign-up notice")
            }
        }
    }

    pub(super) async fn insert_new_account(
        &self,
        actor: Option<AccountId>,
        input: NewAccountInput,
        ctx: &RequestContext,
    ) -> Result<Account, CoreError> {
        let account = self.new_account(input).await?;
        let effects = Effects::at(account.created_at).audit(created_event(&account, actor, ctx));
        self.store
            .insert_account_with(&account, &effects)
            .await
            .map_err(taken)?;
        Ok(account)
    }

    /// The account as a new one (not stored yet) after its input passed
    /// every check: the password, if any, hashed.
    pub(super) async fn new_account(&self, input: NewAccountInput) -> Result<Account, CoreError> {
        let (email, display_name) = input.check(&self.config.password_policy)?;
        let password_hash = match input.password {
            Some(pw) => Some(self.pool.hash(pw).await?),
            None => None,
        };
        Ok(Account {
            id: AccountId(random_uuid(self.secrets.as_ref())),
            email,
            display_name,
            kind: input.kind,
            role: input.role,
            active: true,
            password_hash,
            created_at: self.clock.now(),
        })
    }

    pub async fn list_accounts(
        &self,
        _admin: &Sysadmin,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<Account>, u64), CoreError> {
        let limit = limit.clamp(1, 500);
        let accounts = self.store.list_accounts(offset, limit).await?;
        let total = self.store.count_accounts().await?;
        Ok((accounts, total))
    }

    pub async fn find_account(&self, _admin: &Sysadmin, email: &str) -> Result<Account, CoreError> {
        let email = Email::parse(email).map_err(|e| CoreError::Invalid(e.to_string()))?;
        self.store
            .account_by_email(&email)
            .await?
            .ok_or(CoreError::NotFound("account"))
    }

    pub async fn get_account(
        &self,
        _admin: &Sysadmin,
        id: AccountId,
    ) -> Result<Account, CoreError> {
        self.store
            .account_by_id(id)
            .await?
            .ok_or(CoreError::NotFound("account"))
    }

    pub async fn set_role(
        &self,
        admin: &Sysadmin,
        id: AccountId,
        role: Role,
        ctx: &RequestContext,
    ) -> Result<Account, CoreError> {
        let before = self.get_account(admin, id).await?;
        if admin.actor() == Some(id) && role < Role::Sysadmin {
            return Err(CoreError::Forbidden(
                "You cannot remove your own sysadmin role; ask another sysadmin.",
            ));
        }
        let now = self.clock.now();
        let mut effects = Effects::at(now).audit(
            NewAuditEvent::new(AuditKind::RoleChanged)
                .actor_opt(admin.actor())
                .subject(id)
                .ip(ctx.ip.clone())
                .detail_json(
                    serde_json::json!({ "from": before.role.to_string(), "to": role.to_string() }),
                ),
        );
        // Privileges changed: sessions minted under the old role must not
        // carry on. The account signs in again and gets fresh ones.
        if before.role != role {
            effects = effects.end_sessions(id, None);
        }
        if !self.store.set_role_with(id, role, now, &effects).await? {
            return Err(CoreError::NotFound("account"));
        }
        self.get_account(admin, id).await
    }

    /// Deactivates an account, ends all its sessions and revokes its API
    /// tokens.
    pub async fn deactivate(
        &self,
        admin: &Sysadmin,
        id: AccountId,
        ctx: &RequestContext,
    ) -> Result<Account, CoreError> {
        if admin.actor() == Some(id) {
            return Err(CoreError::Forbidden(
                "You cannot deactivate your own account.",
            ));
        }
        let now = self.clock.now();
        let mut effects = Effects::at(now).end_sessions(id, None).audit(
            NewAuditEvent::new(AuditKind::AccountDeactivated)
                .actor_opt(admin.actor())
                .subject(id)
                .ip(ctx.ip.clone()),
        );
        effects.revoke_tokens = Some(id);
        effects.count_in_audit = true;
        if !self.store.set_active_with(id, false, now, &effects).await? {
            return Err(CoreError::NotFound("account"));
        }
        self.get_account(admin, id).await
    }

    /// Issues a one-time password for break-glass access from the server
    /// host. It works once, for a limited time, and is audited.
    pub async fn issue_break_glass(
        &self,
        admin: &Sysadmin,
        email: &str,
    ) -> Result<String, CoreError> {
        let account = self.find_account(admin, email).await?;
        if account.kind == AccountKind::Service {
            return Err(CoreError::Invalid(
                "Service accounts cannot sign in with a password.".into(),
            ));
        }
        if !account.active {
            return Err(CoreError::Invalid(
                "The account is deactivated; reactivate it first.".into(),
            ));
        }
        let one_time = random_token(self.secrets.as_ref(), 18);
        let hash = self.pool.hash(Password::new(one_time.clone())).await?;
        let expires = self.clock.now().plus_secs(self.config.break_glass_ttl_secs);
        let effects = Effects::at(self.clock.now()).audit(
            NewAuditEvent::new(AuditKind::BreakGlassIssued)
                .subject(account.id)
                .detail_json(serde_json::json!({ "expires_at": expires.to_rfc3339() })),
        );
        if !self
            .store
            .set_break_glass_with(account.id, &hash, expires, &effects)
            .await?
        {
            return Err(CoreError::NotFound("account"));
        }
        Ok(one_time)
    }
}
