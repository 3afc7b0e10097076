//! Audit events: an append-only record of every security-relevant change
//! and sign-in outcome.

use crate::account::text_enum;
use crate::clock::Timestamp;
use crate::ids::AccountId;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AuditKind {
    SigninSucceeded,
    SigninFailed,
    SessionCreated,
    SessionRevoked,
    PasswordChanged,
    AccountCreated,
    RoleChanged,
    AccountDeactivated,
    BreakGlassIssued,
    BreakGlassRefused,
    TwoStepEnabled,
    TwoStepAppChanged,
    TwoStepDisabled,
    TwoStepUnenrolled,
    RecoveryKeyCreated,
    RecoveryKeyUsed,
    StepUp,
    VerificationBlocked,
    LegacyLogin,
    BasicAuthRefused,
    TwoStepMethodAdded,
    TwoStepMethodRemoved,
    KeyCounterRegressed,
    SigninLocked,
    ThrottleCleared,
    ApiTokenCreated,
    ApiTokenRevoked,
    ServiceAccountCreated,
    ServiceAccountUpdated,
    ServiceAccountDeleted,
    ConvertedToService,
    OrgCreated,
    OrgMemberAdded,
    OrgMemberRoleChanged,
    OrgMemberRemoved,
    OrgDomainClaimed,
    OrgDomainVerified,
    OrgDomainRemoved,
    OrgInvitationSent,
    OrgInvitationWithdrawn,
    OrgInvitationAccepted,
    OrgTwoStepChanged,
    OrgExternalPolicyChanged,
    OrgSessionsReset,
    ApiTokenRefused,
    OrgTestPolicyChanged,
    OrgTestPolicyRolledOut,
    OrgExternalUsersExported,
    OidcKeysRotated,
    OidcClientCreated,
    OidcClientUpdated,
    OidcClientSecretRotated,
    OidcClientDeleted,
    OidcTokensIssued,
    OidcGrantRevoked,
}

text_enum!(AuditKind {
    AuditKind::SigninSucceeded => "signin.succeeded",
    AuditKind::SigninFailed => "signin.failed",
    AuditKind::SessionCreated => "session.created",
    AuditKind::SessionRevoked => "session.revoked",
    AuditKind::PasswordChanged => "password.changed",
    AuditKind::AccountCreated => "account.created",
    AuditKind::RoleChanged => "account.role_changed",
    AuditKind::AccountDeactivated => "account.deactivated",
    AuditKind::BreakGlassIssued => "account.break_glass_issued",
    AuditKind::BreakGlassRefused => "signin.break_glass_refused",
    AuditKind::TwoStepEnabled => "two_step.enabled",
    AuditKind::TwoStepAppChanged => "two_step.app_changed",
    AuditKind::TwoStepDisabled => "two_step.disabled",
    AuditKind::TwoStepUnenrolled => "two_step.unenrolled_by_admin",
    AuditKind::RecoveryKeyCreated => "two_step.recovery_key_created",
    AuditKind::RecoveryKeyUsed => "two_step.recovery_key_used",
    AuditKind::StepUp => "session.step_up",
    AuditKind::VerificationBlocked => "two_step.blocked",
    AuditKind::LegacyLogin => "signin.legacy_login",
    AuditKind::BasicAuthRefused => "basic_auth.refused",
    AuditKind::TwoStepMethodAdded => "two_step.method_added",
    AuditKind::TwoStepMethodRemoved => "two_step.method_removed",
    AuditKind::KeyCounterRegressed => "two_step.key_counter_regressed",
    AuditKind::SigninLocked => "signin.locked",
    AuditKind::ThrottleCleared => "signin.throttle_cleared",
    AuditKind::ApiTokenCreated => "api_token.created",
    AuditKind::ApiTokenRevoked => "api_token.revoked",
    AuditKind::ServiceAccountCreated => "service_account.created",
    AuditKind::ServiceAccountUpdated => "service_account.updated",
    AuditKind::ServiceAccountDeleted => "service_account.deleted",
    AuditKind::ConvertedToService => "account.converted_to_service",
    AuditKind::OrgCreated => "org.created",
    AuditKind::OrgMemberAdded => "org.member_added",
    AuditKind::OrgMemberRoleChanged => "org.member_role_changed",
    AuditKind::OrgMemberRemoved => "org.member_removed",
    AuditKind::OrgDomainClaimed => "org.domain_claimed",
    AuditKind::OrgDomainVerified => "org.domain_verified",
    AuditKind::OrgDomainRemoved => "org.domain_removed",
    AuditKind::OrgInvitationSent => "org.invitation_sent",
    AuditKind::OrgInvitationWithdrawn => "org.invitation_withdrawn",
    AuditKind::OrgInvitationAccepted => "org.invitation_accepted",
    AuditKind::OrgTwoStepChanged => "org.two_step_changed",
    AuditKind::OrgExternalPolicyChanged => "org.external_policy_changed",
    AuditKind::OrgSessionsReset => "org.sessions_reset",
    AuditKind::ApiTokenRefused => "api_token.refused_by_policy",
    AuditKind::OrgTestPolicyChanged => "org.test_policy_changed",
    AuditKind::OrgTestPolicyRolledOut => "org.test_policy_rolled_out",
    AuditKind::OrgExternalUsersExported => "org.external_users_exported",
    AuditKind::OidcKeysRotated => "oidc.keys_rotated",
    AuditKind::OidcClientCreated => "oidc_client.created",
    AuditKind::OidcClientUpdated => "oidc_client.updated",
    AuditKind::OidcClientSecretRotated => "oidc_client.secret_rotated",
    AuditKind::OidcClientDeleted => "oidc_client.deleted",
    AuditKind::OidcTokensIssued => "oidc.tokens_issued",
    AuditKind::OidcGrantRevoked => "oidc.grant_revoked",
});

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub kind: AuditKind,
    /// Who did it; `None` for the system or an anonymous client.
    pub actor: Option<AccountId>,
    /// To whom it was done.
    pub subject: Option<AccountId>,
    pub ip: Option<String>,
    /// Small JSON object with details (never secrets).
    pub detail: String,
}

impl NewAuditEvent {
    pub fn new(kind: AuditKind) -> Self {
        NewAuditEvent {
            kind,
            actor: None,
            subject: None,
            ip: None,
            detail: "{}".into(),
        }
    }
    pub fn actor(mut self, a: AccountId) -> Self {
        self.actor = Some(a);
        self
    }
    pub fn subject(mut self, s: AccountId) -> Self {
        self.subject = Some(s);
        self
    }
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
    pub fn actor_opt(mut self, a: Option<AccountId>) -> Self {
        self.actor = a;
        self
    }
    /// Details as a JSON object. Built with `serde_json::json!`, never by
    /// formatting strings, so a value holding quotes or backslashes (a
    /// User-Agent, a name) cannot break or forge the JSON.
    pub fn detail_json(mut self, d: serde_json::Value) -> Self {
        self.detail = d.to_string();
        self
    }

    /// The same event with `sessions_ended` and `tokens_revoked` added to
    /// its details (each when given): counts only the transaction that
    /// removed them knows (see [`crate::store::Effects::count_in_audit`]).
    pub fn with_counts(&self, sessions_ended: Option<u64>, tokens_revoked: Option<u64>) -> Self {
        let mut detail = match serde_json::from_str::<serde_json::Value>(&self.detail) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        if let Some(n) = sessions_ended {
            detail.insert("sessions_ended".into(), n.into());
        }
        if let Some(n) = tokens_revoked {
            detail.insert("tokens_revoked".into(), n.into());
        }
        NewAuditEvent {
            detail: serde_json::Value::Object(detail).to_string(),
            ..self.clone()
        }
    }
}

/// A recorded event.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: i64,
    pub at: Timestamp,
    pub kind: String,
    pub actor: Option<AccountId>,
    pub subject: Option<AccountId>,
    pub ip: Option<String>,
    pub detail: String,
}

/// Filters for listing events; newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub kind: Option<AuditKind>,
    pub actor: Option<AccountId>,
    pub subject: Option<AccountId>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only events with an id below this (for paging backwards).
    pub before_id: Option<i64>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_with_quotes_and_backslashes_stay_valid_json() {
        let agent = r#"Mozilla/5.0 "evil","admin":true} \ \"x"#;
        let e = NewAuditEvent::new(AuditKind::SigninFailed)
            .detail_json(serde_json::json!({ "user_agent": agent, "attempts": 3 }));
        let parsed: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
        let object = parsed.as_object().unwrap();
        assert_eq!(object.len(), 2, "no key smuggled in: {}", e.detail);
        assert_eq!(parsed["user_agent"], agent);
        assert_eq!(parsed["attempts"], 3);
        assert!(parsed.get("admin").is_none());
    }

    #[test]
    fn details_keep_the_shape_they_had() {
        // Numbers stay numbers and strings strings, byte for byte as the
        // hand-written JSON was (readers compare the text).
        let e = NewAuditEvent::new(AuditKind::TwoStepUnenrolled)
            .detail_json(serde_json::json!({ "sessions_ended": 2 }));
        assert_eq!(e.detail, r#"{"sessions_ended":2}"#);
        let e = NewAuditEvent::new(AuditKind::RoleChanged)
            .detail_json(serde_json::json!({ "from": "member", "to": "sysadmin" }));
        assert_eq!(e.detail, r#"{"from":"member","to":"sysadmin"}"#);
        assert_eq!(NewAuditEvent::new(AuditKind::StepUp).detail, "{}");
    }
}
