//! An organization's policies: 2SV required for the accounts it manages
//! (with exclusions), and the external user policy (emailed code at every
//! sign-in, verification frequency for web sessions, API token access),
//! with "reset sessions". How policies combine is in [`crate::org`].
//!
//! Every change takes effect on every node within seconds: the store
//! evicts every cached standing (and, for a reset, every ended session)
//! on all nodes as it writes.

use super::{Core, OrgAdmin, RequestContext};
use crate::account::{Account, AccountKind};
use crate::audit::AuditKind;
use crate::error::CoreError;
use crate::ids::AccountId;
use crate::mail::email_message;
use crate::org::ExternalPolicy;

/// An organization's enforced 2SV.
#[derive(Debug, Clone)]
pub struct TwoStepPolicy {
    pub required: bool,
    pub excluded: Vec<Account>,
}

impl Core {
    pub async fn org_two_step(&self, admin: &OrgAdmin) -> Result<TwoStepPolicy, CoreError> {
        let settings = self.org_settings(admin.org()).await?;
        Ok(TwoStepPolicy {
            required: settings.two_step_required,
            excluded: self.store.two_step_exclusions(admin.org()).await?,
        })
    }

    /// Requires (or stops requiring) 2SV of the managed accounts, except
    /// `excluded`, which must be accounts the organization manages. When
    /// this turns the requirement on, every managed account without 2SV
    /// (and not excluded) is mailed, in the same commit.
    pub async fn set_org_two_step(
        &self,
        admin: &OrgAdmin,
        required: bool,
        excluded: &[AccountId],
        ctx: &RequestContext,
    ) -> Result<TwoStepPolicy, CoreError> {
        let mut excluded = excluded.to_vec();
        excluded.sort();
        excluded.dedup();
        if excluded.len() > 1000 {
            return Err(CoreError::Invalid(
                "excluded may list at most 1000 accounts".into(),
            ));
        }
        let members = self.store.members(admin.org()).await?;
        for id in &excluded {
            if !members.iter().any(|m| m.account.id == *id && m.managed) {
                return Err(CoreError::Invalid(format!(
                    "excluded: {id} is not an account this organization manages"
                )));
            }
        }
        let org = self.org_settings(admin.org()).await?;
        let mails = if required && !org.two_step_required {
            let issuer = self.config.two_step.issuer.as_str();
            let subject = format!("{} requires two-step verification", org.org.name);
            self.store
                .managed_without_two_step(admin.org())
                .await?
                .iter()
                .filter(|a| !excluded.contains(&a.id))
                .map(|a| {
                    let name = if a.display_name.is_empty() {
                        a.email.as_str()
                    } else {
                        a.display_name.as_str()
                    };
                    email_message(
                        &self.secret_box,
                        self.secrets.as_ref(),
                        a.email.as_str(),
                        &subject,
                        "org_two_step_required",
                        &[("name", name), ("issuer", issuer), ("org", &org.org.name)],
                    )
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        let turned_on = self
            .store
            .set_two_step_policy(admin.org(), required, &excluded, &mails, self.clock.now())
            .await?;
        if turned_on && !mails.is_empty() {
            self.wake_outbox();
        }
        self.audit_org(
            admin,
            AuditKind::OrgTwoStepChanged,
            None,
            ctx,
            serde_json::json!({
                "required": required,
                "excluded": excluded.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "mailed": if turned_on { mails.len() } else { 0 },
            }),
        )
        .await;
        self.org_two_step(admin).await
    }

    pub async fn external_policy(&self, admin: &OrgAdmin) -> Result<ExternalPolicy, CoreError> {
        Ok(self.org_settings(admin.org()).await?.external)
    }

    /// Replaces the external user policy. A new verification frequency
    /// applies to sessions started from now on; sessions keep the length
    /// they started with.
    pub async fn set_external_policy(
        &self,
        admin: &OrgAdmin,
        policy: ExternalPolicy,
        ctx: &RequestContext,
    ) -> Result<ExternalPolicy, CoreError> {
        let policy = self.check_policy_settings(policy)?;
        let before = self.org_settings(admin.org()).await?.external;
        if !self.store.set_external_policy(admin.org(), &policy).await? {
            return Err(CoreError::NotFound("organization"));
        }
        self.audit_org(
            admin,
            AuditKind::OrgExternalPolicyChanged,
            None,
            ctx,
            serde_json::json!({ "from": policy_json(&before), "to": policy_json(&policy) }),
        )
        .await;
        Ok(policy)
    }

    /// Checks a policy's settings (the external user policy's, or the
    /// test policy's): the frequency's range, and no emailed code from a
    /// server that sends no mail.
    pub(crate) fn check_policy_settings(
        &self,
        policy: ExternalPolicy,
    ) -> Result<ExternalPolicy, CoreError> {
        let policy = policy.check().map_err(CoreError::Invalid)?;
        if policy.email_code && !self.config.email_codes.mail_delivered {
            return Err(CoreError::Invalid(
                "email_code cannot be on: this server sends no mail (email.provider is none), so no code could arrive."
                    .into(),
            ));
        }
        Ok(policy)
    }

    /// How many live web sessions a reset would end now (the count of
    /// [`Core::reset_preview_counts`], which the pages show with people).
    pub async fn reset_preview(&self, admin: &OrgAdmin) -> Result<u64, CoreError> {
        Ok(self.reset_preview_counts(admin).await?.sessions)
    }

    /// Signs every external user of the organization out on the web (their
    /// mobile sessions stay), on every node; not the test policy's
    /// members, which that policy's own reset signs out. Only while the
    /// policy is on.
    /// Answers how many live sessions ended.
    pub async fn reset_external_sessions(
        &self,
        admin: &OrgAdmin,
        ctx: &RequestContext,
    ) -> Result<u64, CoreError> {
        let settings = self.org_settings(admin.org()).await?;
        if !settings.external.is_on() {
            return Err(CoreError::Conflict(
                "Reset sessions is available while the external user policy is on: turn one of its settings on first.",
            ));
        }
        let now = self.clock.now();
        let policy = &self.config.session_policy;
        let ended = self
            .store
            .reset_external_web_sessions(admin.org())
            .await?
            .iter()
            .filter(|s| s.is_live(policy, now))
            .count() as u64;
        self.audit_org(
            admin,
            AuditKind::OrgSessionsReset,
            None,
            ctx,
            serde_json::json!({ "ended": ended, "client": "web" }),
        )
        .await;
        Ok(ended)
    }

    /// Whether a sign-in of `account` without 2SV may only enroll in it:
    /// an admin under the instance's enforcement, or an account whose
    /// managing organization requires 2SV (and does not exclude it).
    pub(crate) async fn must_enroll_without_two_step(
        &self,
        account: &Account,
    ) -> Result<bool, CoreError> {
        let standing = self.standing(account).await?;
        Ok(crate::signin::must_enroll(
            account,
            crate::signin::SigninFacts {
                two_step_on: false,
                legacy_login: self.config.two_step.legacy_login,
                enforce_for_admins: self.config.two_step.enforce_for_admins,
                org_admin: standing.org_admin_anywhere(),
                org_requires_two_step: standing.two_step_required(),
                email_code: true,
            },
        ))
    }

    /// Refuses an API token (its use, or making one) of an account whose
    /// organizations turned token access off for external users.
    pub(crate) async fn check_token_access(&self, account: &Account) -> Result<(), CoreError> {
        if account.kind == AccountKind::Service {
            return Ok(());
        }
        if self
            .standing(account)
            .await?
            .external_policy()
            .api_tokens_refused
        {
            return Err(CoreError::Forbidden(TOKENS_REFUSED));
        }
        Ok(())
    }
}

/// The answer when an organization's policy refuses external users' tokens.
pub const TOKENS_REFUSED: &str =
    "API token access is turned off for external users by an organization you belong to.";

pub(crate) fn policy_json(p: &ExternalPolicy) -> serde_json::Value {
    serde_json::json!({
        "email_code": p.email_code,
        "verification_frequency_minutes": p.frequency_minutes,
        "api_token_access": p.api_token_access,
    })
}
