//! An organization's test policy: the external user policy's settings,
//! tried on at most [`MAX_TEST_MEMBERS`] chosen external users before they
//! apply to all. For its members it takes precedence over the external
//! user policy ([`crate::org::Membership::applied_policy`]); "roll out"
//! copies its settings to the external user policy.
//!
//! Like the external policy, every change reaches every node within
//! seconds: the store evicts every cached standing on all nodes.

use super::org_policy::policy_json;
use super::{Core, OrgAdmin, RequestContext};
use crate::account::Account;
use crate::audit::AuditKind;
use crate::error::CoreError;
use crate::ids::AccountId;
use crate::org::{ExternalPolicy, MAX_TEST_MEMBERS, check_test_members};
use crate::store::TestMemberAdded;

/// An organization's test policy and the external users it applies to.
#[derive(Debug, Clone)]
pub struct TestPolicy {
    pub settings: ExternalPolicy,
    pub members: Vec<Account>,
}

const NOT_EXTERNAL: &str = "is not an external user of this organization (a member whose email is not in its verified domains)";

impl Core {
    pub async fn test_policy(&self, admin: &OrgAdmin) -> Result<TestPolicy, CoreError> {
        let settings = self.org_settings(admin.org()).await?.test;
        Ok(TestPolicy {
            settings,
            members: self.store.test_members(admin.org()).await?,
        })
    }

    /// Replaces the test policy's settings and members. Members must be
    /// external users of the organization, at most [`MAX_TEST_MEMBERS`].
    pub async fn set_test_policy(
        &self,
        admin: &OrgAdmin,
        policy: ExternalPolicy,
        members: &[AccountId],
        ctx: &RequestContext,
    ) -> Result<TestPolicy, CoreError> {
        let mut members = members.to_vec();
        members.sort();
        members.dedup();
        check_test_members(members.len()).map_err(CoreError::Invalid)?;
        // Named here for a clear answer; the store checks again in its
        // transaction.
        let current = self.store.members(admin.org()).await?;
        for id in &members {
            if !current.iter().any(|m| m.account.id == *id && !m.managed) {
                return Err(CoreError::Invalid(format!("members: {id} {NOT_EXTERNAL}")));
            }
        }
        self.write_test_policy(admin, policy, Some(&members), ctx)
            .await
    }

    /// Changes the test policy's settings and leaves its members alone, so
    /// a member added by someone else meanwhile stays (the admin page saves
    /// settings and members with separate forms).
    pub async fn set_test_settings(
        &self,
        admin: &OrgAdmin,
        policy: ExternalPolicy,
        ctx: &RequestContext,
    ) -> Result<TestPolicy, CoreError> {
        self.write_test_policy(admin, policy, None, ctx).await
    }

    async fn write_test_policy(
        &self,
        admin: &OrgAdmin,
        policy: ExternalPolicy,
        members: Option<&[AccountId]>,
        ctx: &RequestContext,
    ) -> Result<TestPolicy, CoreError> {
        let policy = self.check_policy_settings(policy)?;
        let before = self.test_policy(admin).await?;
        if !self
            .store
            .set_test_policy(admin.org(), &policy, members, self.clock.now())
            .await?
        {
            return Err(CoreError::Invalid(format!(
                "members: an account {NOT_EXTERNAL}"
            )));
        }
        let mut details = serde_json::json!({
            "from": policy_json(&before.settings),
            "to": policy_json(&policy),
        });
        if let Some(members) = members {
            details["members"] = members.iter().map(|a| a.to_string()).collect();
        }
        self.audit_org(admin, AuditKind::OrgTestPolicyChanged, None, ctx, details)
            .await;
        self.test_policy(admin).await
    }

    /// Adds one external user to the test policy (nothing changes if it is
    /// one already). A sixth is refused, however many requests race.
    pub async fn add_test_member(
        &self,
        admin: &OrgAdmin,
        account: AccountId,
        ctx: &RequestContext,
    ) -> Result<TestPolicy, CoreError> {
        match self
            .store
            .add_test_member(admin.org(), account, MAX_TEST_MEMBERS, self.clock.now())
            .await?
        {
            TestMemberAdded::Added => {
                self.audit_org(
                    admin,
                    AuditKind::OrgTestPolicyChanged,
                    Some(account),
                    ctx,
                    serde_json::json!({ "added": account.to_string() }),
                )
                .await;
            }
            TestMemberAdded::AlreadyMember => {}
            TestMemberAdded::NotExternal => {
                return Err(CoreError::Invalid(format!("{account} {NOT_EXTERNAL}")));
            }
            TestMemberAdded::Full => {
                return Err(CoreError::Invalid(format!(
                    "The test policy holds at most {MAX_TEST_MEMBERS} external users, and it is full."
                )));
            }
        }
        self.test_policy(admin).await
    }

    /// Takes one account out of the test policy: the external user policy
    /// applies to it again.
    pub async fn remove_test_member(
        &self,
        admin: &OrgAdmin,
        account: AccountId,
        ctx: &RequestContext,
    ) -> Result<TestPolicy, CoreError> {
        if !self.store.remove_test_member(admin.org(), account).await? {
            return Err(CoreError::NotFound("test policy member"));
        }
        self.audit_org(
            admin,
            AuditKind::OrgTestPolicyChanged,
            Some(account),
            ctx,
            serde_json::json!({ "removed": account.to_string() }),
        )
        .await;
        self.test_policy(admin).await
    }

    /// Copies the test policy's settings to the external user policy, in
    /// one transaction. The test policy and its members stay as they are.
    pub async fn roll_out_test_policy(
        &self,
        admin: &OrgAdmin,
        ctx: &RequestContext,
    ) -> Result<ExternalPolicy, CoreError> {
        let (before, after) = self
            .store
            .roll_out_test_policy(admin.org())
            .await?
            .ok_or(CoreError::NotFound("organization"))?;
        self.audit_org(
            admin,
            AuditKind::OrgTestPolicyRolledOut,
            None,
            ctx,
            serde_json::json!({ "from": policy_json(&before), "to": policy_json(&after) }),
        )
        .await;
        Ok(after)
    }

    /// How many live web sessions a reset of the test policy would end.
    pub async fn test_reset_preview(&self, admin: &OrgAdmin) -> Result<u64, CoreError> {
        let now = self.clock.now();
        let policy = &self.config.session_policy;
        Ok(self
            .store
            .test_web_sessions(admin.org())
            .await?
            .iter()
            .filter(|s| s.is_live(policy, now))
            .count() as u64)
    }

    /// Signs the test policy's members out on the web (their mobile
    /// sessions stay), on every node. Only while a setting of the test
    /// policy is on. Answers how many live sessions ended.
    pub async fn reset_test_sessions(
        &self,
        admin: &OrgAdmin,
        ctx: &RequestContext,
    ) -> Result<u64, CoreError> {
        if !self.org_settings(admin.org()).await?.test.is_on() {
            return Err(CoreError::Conflict(
                "Reset sessions is available while the test policy is on: turn one of its settings on first.",
            ));
        }
        let now = self.clock.now();
        let policy = &self.config.session_policy;
        let ended = self
            .store
            .reset_test_web_sessions(admin.org())
            .await?
            .iter()
            .filter(|s| s.is_live(policy, now))
            .count() as u64;
        self.audit_org(
            admin,
            AuditKind::OrgSessionsReset,
            None,
            ctx,
            serde_json::json!({ "ended": ended, "client": "web", "policy": "test" }),
        )
        .await;
        Ok(ended)
    }
}
