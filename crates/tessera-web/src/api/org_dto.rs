//! Request and response bodies of organizations.

use serde::{Deserialize, Serialize};
use tessera_core::clock::Timestamp;
use tessera_core::org::{
    DomainClaim, ExternalPolicy, Invitation, Member, MemberRole, OrgSettings, OrgStanding,
};
use utoipa::ToSchema;

/// A member's role in its organization (documentation of a string field).
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum MemberRoleName {
    Member,
    OrgAdmin,
}

/// An invitation's state (documentation of a string field).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Expired,
}

/// Parses a member role from the API's text.
pub fn parse_role(raw: Option<&str>) -> Result<MemberRole, crate::error::ApiError> {
    match raw {
        None => Ok(MemberRole::Member),
        Some(r) => r
            .parse()
            .map_err(|e: String| crate::error::ApiError::bad_request(format!("role: {e}"))),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgBody {
    #[schema(value_type = crate::api::fields::OrgName)]
    pub name: String,
}

/// An organization and its policies.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// 2SV required for the accounts it manages.
    pub two_step_required: bool,
    pub external_policy: ExternalPolicyBody,
}

impl From<&OrgSettings> for OrgView {
    fn from(o: &OrgSettings) -> Self {
        OrgView {
            id: o.org.id.to_string(),
            name: o.org.name.clone(),
            created_at: o.org.created_at.to_rfc3339(),
            two_step_required: o.two_step_required,
            external_policy: ExternalPolicyBody::from(&o.external),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgList {
    pub organizations: Vec<OrgView>,
}

/// The external user policy. `PUT` replaces all three settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalPolicyBody {
    /// Every sign-in of an external user needs a code mailed to them after
    /// the password, even from a known device (those with 2SV use their
    /// method instead). Refused while the server sends no mail.
    pub email_code: bool,
    /// How long external users' web sessions last, in minutes: 15 (15
    /// minutes) to 43200 (30 days); `null` for off. A change applies to
    /// sessions started after it; mobile sessions and managed accounts are
    /// never affected.
    #[serde(default, deserialize_with = "crate::extract::optional_whole_number")]
    #[schema(minimum = 15, maximum = 43200, nullable)]
    pub verification_frequency_minutes: Option<i64>,
    /// Whether external users' API tokens work. Off: their tokens are
    /// refused at once on every node and no new ones can be made; on
    /// again: the unexpired ones work again.
    pub api_token_access: bool,
}

impl From<&ExternalPolicy> for ExternalPolicyBody {
    fn from(p: &ExternalPolicy) -> Self {
        ExternalPolicyBody {
            email_code: p.email_code,
            verification_frequency_minutes: p.frequency_minutes.map(i64::from),
            api_token_access: p.api_token_access,
        }
    }
}

impl ExternalPolicyBody {
    pub fn into_policy(self) -> Result<ExternalPolicy, crate::error::ApiError> {
        let frequency_minutes = self
            .verification_frequency_minutes
            .map(tessera_core::org::check_frequency)
            .transpose()
            .map_err(crate::error::ApiError::bad_request)?;
        Ok(ExternalPolicy {
            email_code: self.email_code,
            frequency_minutes,
            api_token_access: self.api_token_access,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimDomainBody {
    /// A domain name, e.g. `example.com` (letters, digits and hyphens;
    /// internationalised names in their `xn--` form).
    #[schema(max_length = 253, example = "example.com")]
    pub domain: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyDomainBody {
    /// Mark the domain verified without a DNS lookup (sysadmins only, for
    /// air-gapped installs; audited).
    #[serde(default)]
    pub without_dns: bool,
}

/// The DNS record that proves a domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct TxtRecord {
    /// Where to publish it: the domain itself.
    pub name: String,
    /// Always `TXT`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `tessera-verification=<token>`.
    pub value: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainView {
    pub domain: String,
    pub verified: bool,
    #[schema(format = DateTime)]
    pub verified_at: Option<String>,
    /// `dns`, or `admin` when a sysadmin marked it verified.
    pub verified_by: Option<String>,
    pub txt_record: TxtRecord,
}

impl From<&DomainClaim> for DomainView {
    fn from(d: &DomainClaim) -> Self {
        DomainView {
            domain: d.domain.clone(),
            verified: d.verified_at.is_some(),
            verified_at: d.verified_at.map(Timestamp::to_rfc3339),
            verified_by: d.verified_by.clone(),
            txt_record: TxtRecord {
                name: d.domain.clone(),
                kind: "TXT",
                value: d.txt_value(),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainList {
    pub domains: Vec<DomainView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberBody {
    /// The email of an existing account.
    #[schema(format = Email)]
    pub email: String,
    /// Default `member`.
    #[serde(default)]
    #[schema(value_type = Option<MemberRoleName>)]
    pub role: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMemberRoleBody {
    #[schema(value_type = MemberRoleName)]
    pub role: String,
}

/// A member: an explicit one (invited or added, with a role), or an
/// account the organization manages through a verified domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    #[schema(format = Uuid)]
    pub account_id: String,
    #[schema(format = Email)]
    pub email: String,
    pub display_name: String,
    /// The explicit membership's role; null for a managed account that is
    /// not an explicit member.
    #[schema(value_type = Option<MemberRoleName>)]
    pub role: Option<String>,
    /// Its email is in a verified domain of the organization.
    pub managed: bool,
    /// A member that is not managed: an external user.
    pub external: bool,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        MemberView {
            account_id: m.account.id.to_string(),
            email: m.account.email.to_string(),
            display_name: m.account.display_name.clone(),
            role: m.role.map(|r| r.to_string()),
            managed: m.managed,
            external: !m.managed,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    #[schema(format = Email)]
    pub email: String,
    /// Default `member`.
    #[serde(default)]
    #[schema(value_type = Option<MemberRoleName>)]
    pub role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Email)]
    pub email: String,
    #[schema(value_type = MemberRoleName)]
    pub role: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The link works until then (7 days), once.
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(value_type = InvitationStatus)]
    pub status: &'static str,
}

impl InvitationView {
    pub fn new(i: &Invitation, now: Timestamp) -> Self {
        InvitationView {
            id: i.id.to_string(),
            email: i.email.to_string(),
            role: i.role.to_string(),
            created_at: i.created_at.to_rfc3339(),
            expires_at: i.expires_at.to_rfc3339(),
            status: match (i.accepted_at, now >= i.expires_at) {
                (Some(_), _) => "accepted",
                (None, true) => "expired",
                (None, false) => "pending",
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<InvitationView>,
}

/// What the holder of an invitation link sees.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationInfo {
    pub organization: String,
    #[schema(format = Email)]
    pub email: String,
    #[schema(value_type = MemberRoleName)]
    pub role: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(value_type = InvitationStatus)]
    pub status: &'static str,
    /// An account with this address exists: sign in as it and accept.
    /// Otherwise `…/signup` creates it.
    pub account_exists: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationSignupBody {
    #[serde(default)]
    #[schema(max_length = 100)]
    pub display_name: String,
    pub password: String,
}

/// An accepted invitation: the organization joined.
#[derive(Debug, Serialize, ToSchema)]
pub struct Joined {
    #[schema(format = Uuid)]
    pub organization_id: String,
    #[schema(format = Uuid)]
    pub account_id: String,
    #[schema(value_type = MemberRoleName)]
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoStepPolicyBody {
    /// Require 2SV of the accounts the organization manages: those without
    /// it are mailed, and at their next sign-in may only set it up.
    pub required: bool,
    /// Accounts excluded (e.g. automation): ids of accounts the
    /// organization manages; at most 1000.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>, max_items = 1000)]
    pub excluded: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountRef {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Email)]
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TwoStepPolicyView {
    pub required: bool,
    pub excluded: Vec<AccountRef>,
}

/// What a reset of sessions would do now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetPreview {
    /// Live web sessions of the organization's external users.
    pub sessions: u64,
    /// Whether the policy is on (a reset is possible).
    pub available: bool,
}

/// An organization the account belongs to, in who-am-I.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgMembershipView {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    /// The account is an external user of it (a member it does not manage).
    pub external: bool,
    /// The explicit membership's role; null when only managed.
    #[schema(value_type = Option<MemberRoleName>)]
    pub role: Option<String>,
}

/// The organization that manages the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgRef {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
}

/// Who-am-I's organization fields from a standing.
pub fn org_fields(s: &OrgStanding) -> (Option<OrgRef>, bool, Vec<OrgMembershipView>) {
    (
        s.managing().map(|m| OrgRef {
            id: m.org.to_string(),
            name: m.name.clone(),
        }),
        s.external(),
        s.memberships
            .iter()
            .map(|m| OrgMembershipView {
                id: m.org.to_string(),
                name: m.name.clone(),
                external: m.external(),
                role: m.role.map(|r| r.to_string()),
            })
            .collect(),
    )
}

/// The test policy: the external user policy's settings, applied instead
/// of it to at most 5 chosen external users of the organization. `PUT`
/// replaces the settings and the member list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestPolicyBody {
    /// As the external user policy's: an emailed code at every sign-in of
    /// its members. Refused while the server sends no mail.
    pub email_code: bool,
    /// As the external user policy's: 15 (15 minutes) to 43200 (30 days),
    /// `null` for off; for its members' web sessions.
    #[serde(default, deserialize_with = "crate::extract::optional_whole_number")]
    #[schema(minimum = 15, maximum = 43200, nullable)]
    pub verification_frequency_minutes: Option<i64>,
    /// As the external user policy's, for its members' API tokens.
    pub api_token_access: bool,
    /// Account ids of external users of the organization (members whose
    /// email is not in its verified domains), at most 5; a repeated id
    /// counts once. Anything else is refused with 400 and nothing changes.
    #[schema(value_type = Vec<uuid::Uuid>, max_items = 5)]
    pub members: Vec<String>,
}

impl TestPolicyBody {
    pub fn new(p: &tessera_core::service::TestPolicy) -> Self {
        let settings = ExternalPolicyBody::from(&p.settings);
        TestPolicyBody {
            email_code: settings.email_code,
            verification_frequency_minutes: settings.verification_frequency_minutes,
            api_token_access: settings.api_token_access,
            members: p.members.iter().map(|a| a.id.to_string()).collect(),
        }
    }

    /// The settings and the member ids; 400 for a bad frequency or id.
    pub fn into_parts(
        self,
    ) -> Result<(ExternalPolicy, Vec<tessera_core::ids::AccountId>), crate::error::ApiError> {
        let policy = ExternalPolicyBody {
            email_code: self.email_code,
            verification_frequency_minutes: self.verification_frequency_minutes,
            api_token_access: self.api_token_access,
        }
        .into_policy()?;
        let members = self
            .members
            .iter()
            .map(|m| {
                m.parse().map_err(|_| {
                    crate::error::ApiError::bad_request(format!(
                        "members: {m:?} is not an account id"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((policy, members))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTestMemberBody {
    /// An external user of the organization.
    #[schema(value_type = uuid::Uuid)]
    pub account_id: String,
}
