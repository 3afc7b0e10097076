//! Organizations: tenants that verify domains, manage the accounts whose
//! email is in them, and set policies for their members.
//!
//! ```text
//!   account ── email in a verified domain of O ─────────▶ managed by O (a member of O)
//!      └──── member of O (invited or added), not managed ─▶ external user of O
//! ```
//!
//! What an account's organizations ask of it is one [`OrgStanding`], read
//! with one query (and cached like sessions). The rules that combine the
//! policies live here as pure functions:
//!
//! - **Enforced 2SV** comes from the managing organization only, unless the
//!   account is on its exclusion list.
//! - **External user policy**: when an account is external to several
//!   organizations, the strictest setting of each kind applies: an emailed
//!   code if any policy asks for one, the shortest verification frequency,
//!   and API tokens refused if any policy refuses them
//!   ([`OrgStanding::external_policy`]).
//! - **Test policy**: the same three settings, for at most
//!   [`MAX_TEST_MEMBERS`] chosen external users of one organization. For
//!   them it replaces that organization's external user policy (and only
//!   that one: the strictest rule above still combines organizations).

use crate::account::text_enum;
use crate::clock::Timestamp;
use crate::ids::OrganizationId;
use std::fmt;
use std::str::FromStr;

/// The shortest verification frequency a policy may set: 15 minutes.
pub const MIN_FREQUENCY_MINUTES: u32 = 15;
/// The longest: 30 days.
pub const MAX_FREQUENCY_MINUTES: u32 = 30 * 24 * 60;
/// How long an invitation link works: 7 days.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;
/// How many external users an organization's test policy may hold.
pub const MAX_TEST_MEMBERS: usize = 5;
/// The prefix of a domain's TXT proof.
pub const TXT_PREFIX: &str = "tessera-verification=";

/// Why a TXT lookup found nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name has no TXT records (or does not exist).
    #[error("no TXT records")]
    NoRecords,
    /// The resolver failed (timeout, refused, …).
    #[error("{0}")]
    Failed(String),
}

/// The DNS, as far as domain verification needs it.
#[async_trait::async_trait]
pub trait TxtLookup: Send + Sync {
    /// The TXT records of `name`, each as one string (its character
    /// strings joined).
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError>;
}

/// What a member may do in its organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum MemberRole {
    #[serde(rename = "member")]
    Member,
    /// Manages the organization's domains, members and policies.
    #[serde(rename = "org-admin")]
    OrgAdmin,
}

text_enum!(MemberRole { MemberRole::Member => "member", MemberRole::OrgAdmin => "org-admin" });

/// An organization as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: Timestamp,
}

/// An organization with its policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSettings {
    pub org: Organization,
    /// 2SV required for the accounts it manages.
    pub two_step_required: bool,
    pub external: ExternalPolicy,
    /// The test policy's settings (its members are listed apart).
    pub test: ExternalPolicy,
}

/// Which of an organization's policies applies to one of its external users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliedPolicy {
    /// The account is one of the test policy's members.
    Test,
    External,
}

text_enum!(AppliedPolicy { AppliedPolicy::Test => "test", AppliedPolicy::External => "external" });

/// Checks a test policy's member list: at most [`MAX_TEST_MEMBERS`],
/// counted without repeats. The store counts again under a lock, so
/// parallel additions cannot pass it either.
pub fn check_test_members(count: usize) -> Result<(), String> {
    if count > MAX_TEST_MEMBERS {
        return Err(format!(
            "The test policy holds at most {MAX_TEST_MEMBERS} external users; {count} were given."
        ));
    }
    Ok(())
}

/// The external user policy of one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExternalPolicy {
    /// Every sign-in needs an emailed code after the password (or the
    /// account's 2SV method), even from a known device.
    pub email_code: bool,
    /// The length of external users' web sessions, when set.
    pub frequency_minutes: Option<u32>,
    /// Whether external users' API tokens work (and may be made).
    pub api_token_access: bool,
}

impl Default for ExternalPolicy {
    /// Everything off: no code, no frequency, tokens allowed.
    fn default() -> Self {
        ExternalPolicy {
            email_code: false,
            frequency_minutes: None,
            api_token_access: true,
        }
    }
}

/// Checks a verification frequency given in minutes; the error names the
/// range.
pub fn check_frequency(minutes: i64) -> Result<u32, String> {
    u32::try_from(minutes)
        .ok()
        .filter(|m| (MIN_FREQUENCY_MINUTES..=MAX_FREQUENCY_MINUTES).contains(m))
        .ok_or_else(|| {
            format!(
                "verification_frequency_minutes must be between {MIN_FREQUENCY_MINUTES} (15 minutes) \
                 and {MAX_FREQUENCY_MINUTES} (30 days), or null for off; {minutes} is outside that range"
            )
        })
}

impl ExternalPolicy {
    /// Whether any setting is on (a reset of sessions needs one).
    pub fn is_on(&self) -> bool {
        *self != ExternalPolicy::default()
    }

    /// Checks the frequency's range; the error names it.
    pub fn check(self) -> Result<Self, String> {
        if let Some(m) = self.frequency_minutes {
            check_frequency(i64::from(m))?;
        }
        Ok(self)
    }
}

/// One organization an account belongs to, and what it asks of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub org: OrganizationId,
    pub name: String,
    /// The role of an explicit membership; `None` when the account belongs
    /// only because the organization manages it.
    pub role: Option<MemberRole>,
    /// The account's email is in one of the organization's verified domains.
    pub managed: bool,
    pub two_step_required: bool,
    /// The account is excluded from the organization's enforced 2SV.
    pub excluded: bool,
    /// The organization's external user policy.
    pub policy: ExternalPolicy,
    /// The organization's test policy, when the account is one of its
    /// members.
    pub test_policy: Option<ExternalPolicy>,
}

impl Membership {
    pub fn external(&self) -> bool {
        !self.managed
    }

    /// The policy of this organization that applies to the account as an
    /// external user: its test policy takes precedence.
    pub fn applied_policy(&self) -> (AppliedPolicy, &ExternalPolicy) {
        match &self.test_policy {
            Some(t) => (AppliedPolicy::Test, t),
            None => (AppliedPolicy::External, &self.policy),
        }
    }
}

/// What an account's organizations ask of it, after combining them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EffectivePolicy {
    pub email_code: bool,
    /// Web sessions last at most this long.
    pub session_secs: Option<i64>,
    pub api_tokens_refused: bool,
}

/// Every organization of one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrgStanding {
    pub memberships: Vec<Membership>,
}

impl OrgStanding {
    /// The organization that manages the account (at most one: a domain
    /// is verified by one organization only).
    pub fn managing(&self) -> Option<&Membership> {
        self.memberships.iter().find(|m| m.managed)
    }

    /// Whether the account is an external user of any organization.
    pub fn external(&self) -> bool {
        self.memberships.iter().any(Membership::external)
    }

    /// Whether the managing organization requires 2SV of this account.
    pub fn two_step_required(&self) -> bool {
        self.managing()
            .is_some_and(|m| m.two_step_required && !m.excluded)
    }

    /// Whether the account is an org-admin anywhere.
    pub fn org_admin_anywhere(&self) -> bool {
        self.memberships
            .iter()
            .any(|m| m.role == Some(MemberRole::OrgAdmin))
    }

    /// Whether the account is an org-admin of `org`.
    pub fn administers(&self, org: OrganizationId) -> bool {
        self.memberships
            .iter()
            .any(|m| m.org == org && m.role == Some(MemberRole::OrgAdmin))
    }

    /// The external user policies that apply, combined: the strictest
    /// setting of each kind.
    pub fn external_policy(&self) -> EffectivePolicy {
        self.memberships.iter().filter(|m| m.external()).fold(
            EffectivePolicy::default(),
            |acc, m| {
                let (_, p) = m.applied_policy();
                EffectivePolicy {
                    email_code: acc.email_code || p.email_code,
                    session_secs: match (acc.session_secs, p.frequency_minutes) {
                        (a, None) => a,
                        (None, Some(f)) => Some(i64::from(f) * 60),
                        (Some(a), Some(f)) => Some(a.min(i64::from(f) * 60)),
                    },
                    api_tokens_refused: acc.api_tokens_refused || !p.api_token_access,
                }
            },
        )
    }
}

/// A domain claimed by an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainClaim {
    pub org: OrganizationId,
    pub domain: String,
    /// The value to publish: the TXT record holds `tessera-verification=<token>`.
    pub token: String,
    pub created_at: Timestamp,
    pub verified_at: Option<Timestamp>,
    /// `dns`, or `admin` for a sysadmin's override.
    pub verified_by: Option<String>,
}

impl DomainClaim {
    pub fn txt_value(&self) -> String {
        format!("{TXT_PREFIX}{}", self.token)
    }
}

/// How a domain came to be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedBy {
    Dns,
    /// A sysadmin, without DNS (air-gapped installs).
    Admin,
}

text_enum!(VerifiedBy { VerifiedBy::Dns => "dns", VerifiedBy::Admin => "admin" });

/// What marking a domain verified found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainVerification {
    Verified,
    AlreadyVerified,
    NotClaimed,
    /// Another organization verified it first.
    TakenByOther,
}

/// A member as an admin sees it.
#[derive(Debug, Clone)]
pub struct Member {
    pub account: crate::account::Account,
    pub role: Option<MemberRole>,
    pub managed: bool,
}

/// An invitation as stored (its token only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: crate::ids::InvitationId,
    pub org: OrganizationId,
    pub email: crate::email::Email,
    pub role: MemberRole,
    pub invited_by: Option<crate::ids::AccountId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
}

/// A domain name an organization may claim: lower-case ASCII labels of
/// letters, digits and hyphens, at least two labels, 253 characters at
/// most; a trailing dot is dropped. (Internationalised names are claimed
/// in their `xn--` form.)
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels_ok = !d.is_empty()
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if !labels_ok || !d.contains('.') || d.len() > 253 {
        return Err(format!(
            "{raw:?} is not a domain name: use letters, digits and hyphens in dot-separated labels, e.g. example.com"
        ));
    }
    Ok(d)
}

/// An organization's name: 1 to 100 characters, no control characters.
pub fn validate_org_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("name must be 1 to 100 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(name.to_string())
}

impl fmt::Display for Organization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(managed: bool, policy: ExternalPolicy) -> Membership {
        Membership {
            org: OrganizationId(uuid::Uuid::new_v4()),
            name: "o".into(),
            role: Some(MemberRole::Member),
            managed,
            two_step_required: false,
            excluded: false,
            policy,
            test_policy: None,
        }
    }

    #[test]
    fn the_test_policy_takes_precedence_for_its_members() {
        let strict = ExternalPolicy {
            email_code: true,
            frequency_minutes: Some(30),
            api_token_access: false,
        };
        let lax = ExternalPolicy {
            email_code: false,
            frequency_minutes: Some(600),
            api_token_access: true,
        };
        // A strict external policy, a lax test policy: the member gets the lax one.
        let mut m = member(false, strict);
        m.test_policy = Some(lax);
        assert_eq!(m.applied_policy(), (AppliedPolicy::Test, &lax));
        let s = OrgStanding {
            memberships: vec![m.clone()],
        };
        assert_eq!(
            s.external_policy(),
            EffectivePolicy {
                email_code: false,
                session_secs: Some(600 * 60),
                api_tokens_refused: false
            }
        );
        // Another organization's policy still combines, strictest first.
        let s = OrgStanding {
            memberships: vec![m.clone(), member(false, strict)],
        };
        assert_eq!(s.external_policy().session_secs, Some(30 * 60));
        assert!(s.external_policy().email_code);
        // A managed account's test membership means nothing.
        m.managed = true;
        let s = OrgStanding {
            memberships: vec![m],
        };
        assert_eq!(s.external_policy(), EffectivePolicy::default());
        assert!(check_test_members(5).is_ok());
        assert!(check_test_members(6).unwrap_err().contains('5'));
    }

    #[test]
    fn the_strictest_setting_of_each_kind_applies() {
        let lax = ExternalPolicy {
            email_code: false,
            frequency_minutes: Some(600),
            api_token_access: true,
        };
        let strict = ExternalPolicy {
            email_code: true,
            frequency_minutes: Some(30),
            api_token_access: false,
        };
        let off = ExternalPolicy::default();
        let s = OrgStanding {
            memberships: vec![member(false, lax), member(false, off)],
        };
        assert_eq!(
            s.external_policy(),
            EffectivePolicy {
                email_code: false,
                session_secs: Some(600 * 60),
                api_tokens_refused: false
            }
        );
        let s = OrgStanding {
            memberships: vec![member(false, lax), member(false, strict)],
        };
        assert_eq!(
            s.external_policy(),
            EffectivePolicy {
                email_code: true,
                session_secs: Some(30 * 60),
                api_tokens_refused: true
            }
        );
        // A managing organization's external policy is not the account's.
        let s = OrgStanding {
            memberships: vec![member(true, strict)],
        };
        assert_eq!(s.external_policy(), EffectivePolicy::default());
        assert!(!s.external());
        assert_eq!(
            OrgStanding::default().external_policy(),
            EffectivePolicy::default()
        );
    }

    #[test]
    fn enforced_two_step_comes_from_the_managing_org_without_exclusion() {
        let mut managing = member(true, ExternalPolicy::default());
        managing.two_step_required = true;
        let mut other = member(false, ExternalPolicy::default());
        other.two_step_required = true;
        let s = OrgStanding {
            memberships: vec![other.clone()],
        };
        assert!(!s.two_step_required(), "only the managing org enforces");
        let s = OrgStanding {
            memberships: vec![other, managing.clone()],
        };
        assert!(s.two_step_required());
        managing.excluded = true;
        let s = OrgStanding {
            memberships: vec![managing],
        };
        assert!(!s.two_step_required());
    }

    #[test]
    fn frequency_range_is_15_minutes_to_30_days() {
        let p = |m| ExternalPolicy {
            frequency_minutes: Some(m),
            ..Default::default()
        };
        assert!(p(15).check().is_ok());
        assert!(p(43_200).check().is_ok());
        let e = p(14).check().unwrap_err();
        assert!(e.contains("15") && e.contains("43200"), "{e}");
        assert!(p(43_201).check().is_err());
        assert!(!ExternalPolicy::default().is_on());
        assert!(p(15).is_on());
    }

    #[test]
    fn domains_are_normalised_or_refused() {
        assert_eq!(normalize_domain(" Example.COM. ").unwrap(), "example.com");
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.com",
            "a_b.com",
            "a%.com",
            "é.com",
            "a b.com",
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad}");
        }
        assert!(validate_org_name(" ").is_err());
        assert_eq!(validate_org_name(" Acme ").unwrap(), "Acme");
    }
}
