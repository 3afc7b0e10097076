//! Organizations (org-admins of one, and sysadmins of all): the
//! organization, its domains, members and invitations, its enforced 2SV
//! and its external user policy. Each handler first gets the domain's
//! [`OrgAdmin`] capability for the organization in the path.

use super::dto::Ended;
use super::org_dto::*;
use crate::access::ApiSession;
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_core::ids::{AccountId, InvitationId, OrganizationId};
use tessera_core::service::OrgAdmin;

const PROBLEM: &str = "application/problem+json";

pub(super) async fn org_admin(
    state: &AppState,
    s: &ApiSession,
    org: &str,
) -> Result<OrgAdmin, ApiError> {
    let org: OrganizationId = org
        .parse()
        .map_err(|_| ApiError::bad_request("That is not an organization id."))?;
    Ok(state.core.require_org_admin(&s.who, org).await?)
}

fn account_param(raw: &str) -> Result<AccountId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("That is not an account id."))
}

/// The organizations you administer: every one for a sysadmin.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations", tag = "organizations",
    responses(
        (status = 200, description = "Organizations, by name", body = OrgList),
        (status = 403, description = "Neither a sysadmin nor an org-admin", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    s: ApiSession,
) -> Result<axum::Json<OrgList>, ApiError> {
    let orgs = state.core.my_administered_orgs(&s.who).await?;
    Ok(axum::Json(OrgList {
        organizations: orgs.iter().map(OrgView::from).collect(),
    }))
}

/// Create an organization (sysadmins).
#[utoipa::path(
    post, path = "/api/v1/admin/organizations", tag = "organizations",
    request_body = CreateOrgBody,
    responses(
        (status = 201, description = "Created", body = OrgView),
        (status = 400, description = "A bad name", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "An organization has that name", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    ApiJson(body): ApiJson<CreateOrgBody>,
) -> Result<(StatusCode, axum::Json<OrgView>), ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let org = state
        .core
        .create_organization(&admin, &body.name, &ctx)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(OrgView::from(&org))))
}

/// One organization with its policies.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The organization", body = OrgView),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<OrgView>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    Ok(axum::Json(OrgView::from(
        &state.core.organization(&admin).await?,
    )))
}

/// The organization's domains, verified or not.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}/domains", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Domains, by name", body = DomainList),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn list_domains(
    State(state): State<AppState>,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<DomainList>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let domains = state.core.org_domains(&admin).await?;
    Ok(axum::Json(DomainList {
        domains: domains.iter().map(DomainView::from).collect(),
    }))
}

/// Claim a domain. Publish the answer's TXT record, then verify.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{org}/domains", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    request_body = ClaimDomainBody,
    responses(
        (status = 201, description = "Claimed, not verified yet", body = DomainView),
        (status = 400, description = "Not a domain name, or not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "This organization claimed it already", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn claim_domain(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<ClaimDomainBody>,
) -> Result<(StatusCode, axum::Json<DomainView>), ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let claim = state.core.claim_domain(&admin, &body.domain, &ctx).await?;
    Ok((StatusCode::CREATED, axum::Json(DomainView::from(&claim))))
}

/// Verify a claimed domain by its TXT record, looked up through DNS now.
/// `{"without_dns": true}` marks it verified without DNS (sysadmins).
/// Verifying a verified domain answers it as it is.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{org}/domains/{domain}/verify", tag = "organizations",
    params(
        ("org" = uuid::Uuid, Path, description = "Organization id"),
        ("domain" = String, Path, description = "The claimed domain"),
    ),
    request_body(content = Option<VerifyDomainBody>, description = "Optional"),
    responses(
        (status = 200, description = "Verified", body = DomainView),
        (status = 400, description = "The TXT record was not found (or the lookup failed), or a bad domain or id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 403, description = "`without_dns` by someone who is not a sysadmin", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization, or the domain is not claimed by it", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "Another organization verified this domain", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn verify_domain(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path((org, domain)): Path<(String, String)>,
    body: Option<ApiJson<VerifyDomainBody>>,
) -> Result<axum::Json<DomainView>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let without_dns = body.map(|ApiJson(b)| b.without_dns).unwrap_or(false);
    let claim = state
        .core
        .verify_domain(&admin, &domain, without_dns, &ctx)
        .await?;
    Ok(axum::Json(DomainView::from(&claim)))
}

/// Drop a domain: the accounts it managed are no longer managed.
#[utoipa::path(
    delete, path = "/api/v1/admin/organizations/{org}/domains/{domain}", tag = "organizations",
    params(
        ("org" = uuid::Uuid, Path, description = "Organization id"),
        ("domain" = String, Path, description = "The claimed domain"),
    ),
    responses(
        (status = 204, description = "Dropped"),
        (status = 400, description = "A bad domain or id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization or claim", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn remove_domain(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path((org, domain)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    state.core.remove_domain(&admin, &domain, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Members: explicit ones and the accounts the organization manages.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}/members", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Members, by email", body = MemberList),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn list_members(
    State(state): State<AppState>,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<MemberList>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let members = state.core.org_members(&admin).await?;
    Ok(axum::Json(MemberList {
        members: members.iter().map(MemberView::from).collect(),
    }))
}

/// Add an existing account by its email.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{org}/members", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    request_body = AddMemberBody,
    responses(
        (status = 201, description = "Added", body = MemberView),
        (status = 400, description = "A bad email or role, a service account, or not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization, or no account has that email", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "Already a member", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn add_member(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<AddMemberBody>,
) -> Result<(StatusCode, axum::Json<MemberView>), ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let role = parse_role(body.role.as_deref())?;
    let m = state
        .core
        .add_org_member(&admin, &body.email, role, &ctx)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(MemberView::from(&m))))
}

/// Change an explicit member's role.
#[utoipa::path(
    put, path = "/api/v1/admin/organizations/{org}/members/{account_id}", tag = "organizations",
    params(
        ("org" = uuid::Uuid, Path, description = "Organization id"),
        ("account_id" = uuid::Uuid, Path, description = "Account id"),
    ),
    request_body = SetMemberRoleBody,
    responses(
        (status = 200, description = "Changed", body = MemberView),
        (status = 400, description = "A bad role or id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 403, description = "Giving up your own org-admin role", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization or explicit member", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn set_member_role(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path((org, account)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetMemberRoleBody>,
) -> Result<axum::Json<MemberView>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let role = parse_role(Some(&body.role))?;
    let m = state
        .core
        .set_org_member_role(&admin, account_param(&account)?, role, &ctx)
        .await?;
    Ok(axum::Json(MemberView::from(&m)))
}

/// End an explicit membership. A managed account stays a member while
/// its email is in a verified domain.
#[utoipa::path(
    delete, path = "/api/v1/admin/organizations/{org}/members/{account_id}", tag = "organizations",
    params(
        ("org" = uuid::Uuid, Path, description = "Organization id"),
        ("account_id" = uuid::Uuid, Path, description = "Account id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "A bad id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization or explicit member", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path((org, account)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    state
        .core
        .remove_org_member(&admin, account_param(&account)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Invitations, newest first.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}/invitations", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Invitations", body = InvitationList),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn list_invitations(
    State(state): State<AppState>,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<InvitationList>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let now = state.core.clock.now();
    let list = state.core.org_invitations(&admin).await?;
    Ok(axum::Json(InvitationList {
        invitations: list.iter().map(|i| InvitationView::new(i, now)).collect(),
    }))
}

/// Invite an address: a link is mailed that works once, for 7 days.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{org}/invitations", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    request_body = InviteBody,
    responses(
        (status = 201, description = "Invited; the link is on its way", body = InvitationView),
        (status = 400, description = "A bad email or role, or not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, axum::Json<InvitationView>), ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let role = parse_role(body.role.as_deref())?;
    let inv = state.core.invite(&admin, &body.email, role, &ctx).await?;
    let now = state.core.clock.now();
    Ok((
        StatusCode::CREATED,
        axum::Json(InvitationView::new(&inv, now)),
    ))
}

/// Withdraw a pending invitation: its link stops working.
#[utoipa::path(
    delete, path = "/api/v1/admin/organizations/{org}/invitations/{id}", tag = "organizations",
    params(
        ("org" = uuid::Uuid, Path, description = "Organization id"),
        ("id" = uuid::Uuid, Path, description = "Invitation id"),
    ),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 400, description = "A bad id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization or pending invitation", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn withdraw_invitation(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path((org, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let id: InvitationId = id
        .parse()
        .map_err(|_| ApiError::bad_request("That is not an invitation id."))?;
    state.core.withdraw_invitation(&admin, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn two_step_view(p: &tessera_core::service::TwoStepPolicy) -> TwoStepPolicyView {
    TwoStepPolicyView {
        required: p.required,
        excluded: p
            .excluded
            .iter()
            .map(|a| AccountRef {
                id: a.id.to_string(),
                email: a.email.to_string(),
                display_name: a.display_name.clone(),
            })
            .collect(),
    }
}

/// Enforced 2SV for the accounts the organization manages.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}/two-step", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The policy and its exclusions", body = TwoStepPolicyView),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn get_two_step(
    State(state): State<AppState>,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<TwoStepPolicyView>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    Ok(axum::Json(two_step_view(
        &state.core.org_two_step(&admin).await?,
    )))
}

/// Require (or stop requiring) 2SV of the managed accounts, with
/// exclusions. Turning it on mails every managed account without 2SV; at
/// their next sign-in they may only set it up.
#[utoipa::path(
    put, path = "/api/v1/admin/organizations/{org}/two-step", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    request_body = TwoStepPolicyBody,
    responses(
        (status = 200, description = "The policy now", body = TwoStepPolicyView),
        (status = 400, description = "An excluded id that is not an account the organization manages, or a bad id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn set_two_step(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<TwoStepPolicyBody>,
) -> Result<axum::Json<TwoStepPolicyView>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let excluded = body
        .excluded
        .iter()
        .enumerate()
        .map(|(n, e)| {
            e.parse::<AccountId>().map_err(|_| {
                ApiError::bad_request(format!("excluded: item {} is not an account id", n + 1))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let p = state
        .core
        .set_org_two_step(&admin, body.required, &excluded, &ctx)
        .await?;
    Ok(axum::Json(two_step_view(&p)))
}

/// The external user policy.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}/external-policy", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The policy", body = ExternalPolicyBody),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn get_external_policy(
    State(state): State<AppState>,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<ExternalPolicyBody>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    Ok(axum::Json(ExternalPolicyBody::from(
        &state.core.external_policy(&admin).await?,
    )))
}

/// Replace the external user policy. It applies to the organization's
/// external users on every node within seconds. When an account is
/// external to several organizations, the strictest setting of each kind
/// applies: a code if any policy asks for one, the shortest frequency,
/// and tokens refused if any policy refuses them.
#[utoipa::path(
    put, path = "/api/v1/admin/organizations/{org}/external-policy", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    request_body = ExternalPolicyBody,
    responses(
        (status = 200, description = "The policy now", body = ExternalPolicyBody),
        (status = 400, description = "A frequency outside 15..43200 minutes (the answer names the range), `email_code` on a server that sends no mail, or a bad id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn set_external_policy(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<ExternalPolicyBody>,
) -> Result<axum::Json<ExternalPolicyBody>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let policy = body.into_policy()?;
    let p = state.core.set_external_policy(&admin, policy, &ctx).await?;
    Ok(axum::Json(ExternalPolicyBody::from(&p)))
}

/// What a reset of sessions would end now (its preview).
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}/external-policy/reset-sessions", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The preview", body = ResetPreview),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn reset_preview(
    State(state): State<AppState>,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<ResetPreview>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let available = state.core.external_policy(&admin).await?.is_on();
    let sessions = state.core.reset_preview(&admin).await?;
    Ok(axum::Json(ResetPreview {
        sessions,
        available,
    }))
}

/// Reset sessions: sign every external user of the organization out on
/// the web, on every node within seconds (mobile sessions stay). Only
/// while the policy is on. Audited.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{org}/external-policy/reset-sessions", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "How many live web sessions ended", body = Ended),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "The policy is off", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn reset_sessions(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<Ended>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let ended = state.core.reset_external_sessions(&admin, &ctx).await?;
    Ok(axum::Json(Ended { ended }))
}
