//! The organization admin pages: the organizations you administer (a
//! sysadmin creates more), and one organization's page: its members
//! (managed or external), domains, invitations, enforced 2SV with its
//! excluded accounts, and the external user policy with "reset sessions"
//! (shown with how many sessions it would end before it is confirmed).
//! The test policy's section lives in [`super::org_test`].

use super::{PageSession, error_page, render};
use crate::client::Client;
use crate::csrf::{CsrfForm, form_token, has_csrf};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::account::Role;
use tessera_core::ids::OrganizationId;
use tessera_core::org::{ExternalPolicy, MemberRole};
use tessera_core::service::{Authenticated, OrgAdmin, ResetPreview};

struct OrgRow {
    id: String,
    name: String,
    two_step_required: bool,
    policy_on: bool,
}

#[derive(Template)]
#[template(path = "admin_orgs.html")]
struct OrgsPage<'a> {
    csrf: &'a str,
    is_admin: bool,
    orgs: Vec<OrgRow>,
    error: Option<String>,
}

struct MemberRow {
    email: String,
    display_name: String,
    role: String,
    managed: bool,
}

struct DomainRow {
    domain: String,
    verified: bool,
    txt: String,
}

struct InvitationRow {
    email: String,
    role: String,
    expires_at: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "admin_org.html")]
struct OrgPage<'a> {
    csrf: &'a str,
    is_admin: bool,
    id: String,
    name: String,
    members: Vec<MemberRow>,
    domains: Vec<DomainRow>,
    invitations: Vec<InvitationRow>,
    two_step_required: bool,
    excluded: Vec<String>,
    policy: ExternalPolicy,
    frequency: String,
    policy_on: bool,
    reset_preview: String,
    test: super::org_test::TestSection,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "member-added" => Some("The member was added."),
        "invited" => Some("The invitation is on its way. Its link works once, for 7 days."),
        "two-step" => Some("Two-step verification settings were saved."),
        "policy" => Some(
            "The external user policy was saved. It applies within seconds; running sessions keep their length.",
        ),
        "reset" => Some("External users were signed out on the web."),
        "domain" => Some("The domain was claimed: publish its TXT record, then verify it."),
        "verified" => Some("The domain is verified."),
        other => super::org_test::notice_text(other),
    }
}

pub(super) async fn admin_of(
    state: &AppState,
    who: &Authenticated,
    org: &str,
) -> Result<OrgAdmin, Response> {
    let id: OrganizationId = org
        .parse()
        .map_err(|_| error_page(&CoreError::NotFound("organization")))?;
    state
        .core
        .require_org_admin(who, id)
        .await
        .map_err(|e| error_page(&e))
}

pub async fn list(
    State(state): State<AppState>,
    jar: CookieJar,
    PageSession(who): PageSession,
) -> Response {
    list_page(&state, jar, &who, StatusCode::OK, None).await
}

async fn list_page(
    state: &AppState,
    jar: CookieJar,
    who: &Authenticated,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let orgs = match state.core.my_administered_orgs(who).await {
        Ok(o) => o,
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = form_token(state, jar);
    let page = OrgsPage {
        csrf: &csrf,
        is_admin: who.account.role >= Role::Sysadmin,
        orgs: orgs
            .iter()
            .map(|o| OrgRow {
                id: o.org.id.to_string(),
                name: o.org.name.clone(),
                two_step_required: o.two_step_required,
                policy_on: o.external.is_on(),
            })
            .collect(),
        error,
    };
    (jar, render(status, &page)).into_response()
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Response {
    let admin = match state.core.require_sysadmin(&who) {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    match state
        .core
        .create_organization(&admin, &form.name, &ctx)
        .await
    {
        Ok(o) => Redirect::to(&format!("/admin/organizations/{}", o.org.id)).into_response(),
        Err(e @ (CoreError::Invalid(_) | CoreError::Conflict(_))) => {
            let status = crate::error::status_of(&e);
            list_page(&state, jar, &who, status, Some(e.to_string())).await
        }
        Err(e) => error_page(&e),
    }
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let notice = notice_text(q.notice.as_deref());
    org_page(&state, jar, &admin, StatusCode::OK, notice, None).await
}

pub(super) async fn org_page(
    state: &AppState,
    jar: CookieJar,
    admin: &OrgAdmin,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let core = &state.core;
    let loaded = async {
        Ok::<_, CoreError>((
            core.organization(admin).await?,
            core.org_members(admin).await?,
            core.org_domains(admin).await?,
            core.org_invitations(admin).await?,
            core.org_two_step(admin).await?,
            core.reset_preview_counts(admin).await?,
        ))
    }
    .await;
    let (org, members, domains, invitations, two_step, preview) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(&e),
    };
    let test = match super::org_test::test_section(core, admin, &members).await {
        Ok(t) => t,
        Err(e) => return error_page(&e),
    };
    let now = core.clock.now();
    let (jar, csrf) = form_token(state, jar);
    let page = OrgPage {
        csrf: &csrf,
        is_admin: admin.is_sysadmin(),
        id: org.org.id.to_string(),
        name: org.org.name.clone(),
        members: members
            .iter()
            .map(|m| MemberRow {
                email: m.account.email.to_string(),
                display_name: m.account.display_name.clone(),
                role: m.role.map(|r| r.to_string()).unwrap_or_default(),
                managed: m.managed,
            })
            .collect(),
        domains: domains
            .iter()
            .map(|d| DomainRow {
                domain: d.domain.clone(),
                verified: d.verified_at.is_some(),
                txt: d.txt_value(),
            })
            .collect(),
        invitations: invitations
            .iter()
            .map(|i| InvitationRow {
                email: i.email.to_string(),
                role: i.role.to_string(),
                expires_at: i.expires_at.to_rfc3339(),
                status: match (i.accepted_at, now >= i.expires_at) {
                    (Some(_), _) => "accepted",
                    (None, true) => "expired",
                    (None, false) => "pending",
                },
            })
            .collect(),
        two_step_required: two_step.required,
        excluded: two_step
            .excluded
            .iter()
            .map(|a| a.email.to_string())
            .collect(),
        policy: org.external,
        frequency: org
            .external
            .frequency_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
        policy_on: org.external.is_on(),
        reset_preview: reset_words(preview),
        test,
        notice,
        error,
    };
    (jar, render(status, &page)).into_response()
}

/// After a form: back to the page with a notice, or the page again with
/// the refusal for input a person can fix.
pub(super) async fn done(
    state: &AppState,
    jar: CookieJar,
    admin: &OrgAdmin,
    outcome: Result<(), CoreError>,
    notice: &str,
) -> Response {
    match outcome {
        Ok(()) => Redirect::to(&format!(
            "/admin/organizations/{}?notice={notice}",
            admin.org()
        ))
        .into_response(),
        Err(
            e @ (CoreError::Invalid(_)
            | CoreError::Conflict(_)
            | CoreError::NotFound(_)
            | CoreError::Forbidden(_)),
        ) => {
            let status = crate::error::status_of(&e);
            org_page(state, jar, admin, status, None, Some(e.to_string())).await
        }
        Err(e) => error_page(&e),
    }
}

#[derive(Deserialize)]
pub struct MemberForm {
    csrf: String,
    email: String,
    #[serde(default)]
    role: String,
}

fn role_of(raw: &str) -> Result<MemberRole, CoreError> {
    if raw.is_empty() {
        return Ok(MemberRole::Member);
    }
    raw.parse().map_err(CoreError::Invalid)
}

pub async fn add_member(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let outcome = async {
        let role = role_of(&form.role)?;
        state
            .core
            .add_org_member(&admin, &form.email, role, &ctx)
            .await
            .map(|_| ())
    }
    .await;
    done(&state, jar, &admin, outcome, "member-added").await
}

pub async fn invite(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let outcome = async {
        let role = role_of(&form.role)?;
        state
            .core
            .invite(&admin, &form.email, role, &ctx)
            .await
            .map(|_| ())
    }
    .await;
    done(&state, jar, &admin, outcome, "invited").await
}

#[derive(Deserialize)]
pub struct DomainForm {
    csrf: String,
    domain: String,
    /// The sysadmin's override for air-gapped installs (core refuses it
    /// to anyone else, and audits it).
    #[serde(default)]
    without_dns: Option<String>,
}

pub async fn claim_domain(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<DomainForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let outcome = state
        .core
        .claim_domain(&admin, &form.domain, &ctx)
        .await
        .map(|_| ());
    done(&state, jar, &admin, outcome, "domain").await
}

pub async fn verify_domain(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<DomainForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let outcome = state
        .core
        .verify_domain(&admin, &form.domain, form.without_dns.is_some(), &ctx)
        .await
        .map(|_| ());
    done(&state, jar, &admin, outcome, "verified").await
}

#[derive(Deserialize)]
pub struct TwoStepForm {
    csrf: String,
    #[serde(default)]
    required: Option<String>,
    /// Emails of managed accounts, one a line.
    #[serde(default)]
    excluded: String,
}

pub async fn two_step(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<TwoStepForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let outcome = async {
        let members = state.core.org_members(&admin).await?;
        let mut excluded = Vec::new();
        for line in form.excluded.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let found = members
                .iter()
                .find(|m| m.managed && m.account.email.as_str().eq_ignore_ascii_case(line))
                .ok_or_else(|| {
                    CoreError::Invalid(format!(
                        "{line} is not an account this organization manages, so it cannot be excluded."
                    ))
                })?;
            excluded.push(found.account.id);
        }
        state
            .core
            .set_org_two_step(&admin, form.required.is_some(), &excluded, &ctx)
            .await
            .map(|_| ())
    }
    .await;
    done(&state, jar, &admin, outcome, "two-step").await
}

#[derive(Deserialize)]
pub struct PolicyForm {
    csrf: String,
    #[serde(default)]
    email_code: Option<String>,
    /// Minutes; empty for off.
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    api_token_access: Option<String>,
}

pub async fn external_policy(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<PolicyForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let outcome = async {
        let policy = policy_of(
            form.email_code.is_some(),
            &form.frequency,
            form.api_token_access.is_some(),
        )?;
        state
            .core
            .set_external_policy(&admin, policy, &ctx)
            .await
            .map(|_| ())
    }
    .await;
    done(&state, jar, &admin, outcome, "policy").await
}

/// The policy a settings form describes; `frequency` is minutes, empty
/// for off.
pub(super) fn policy_of(
    email_code: bool,
    frequency: &str,
    api_token_access: bool,
) -> Result<ExternalPolicy, CoreError> {
    let frequency_minutes = match frequency.trim() {
        "" => None,
        raw => Some(
            raw.parse::<i64>()
                .map_err(|_| CoreError::Invalid(format!("{raw:?} is not a number of minutes")))
                .and_then(|m| tessera_core::org::check_frequency(m).map_err(CoreError::Invalid))?,
        ),
    };
    Ok(ExternalPolicy {
        email_code,
        frequency_minutes,
        api_token_access,
    })
}

/// "This will sign out 3 external users (4 sessions) on the web."
fn reset_words(p: ResetPreview) -> String {
    let users = if p.users == 1 {
        "1 external user".to_string()
    } else {
        format!("{} external users", p.users)
    };
    let sessions = if p.sessions == 1 {
        "1 session".to_string()
    } else {
        format!("{} sessions", p.sessions)
    };
    format!("This will sign out {users} ({sessions}) on the web. Mobile sessions stay.")
}

#[derive(Deserialize)]
pub struct ResetForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// The first post shows what the reset would do now; its button posts
/// again with `confirm=yes`, which resets.
pub async fn reset_sessions(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if form.confirm != "yes" {
        let preview = match state.core.reset_preview_counts(&admin).await {
            Ok(p) => reset_words(p),
            Err(e) => return error_page(&e),
        };
        return super::admin_user::confirm_page(
            &state,
            jar,
            admin.is_sysadmin(),
            super::admin_user::Confirm {
                title: "Sign out external users?",
                preview: &preview,
                action: &format!("/admin/organizations/{org}/reset-sessions"),
                fields: vec![],
                needs_code: false,
                button: "Yes, sign them out",
                cancel: &format!("/admin/organizations/{org}"),
            },
        );
    }
    let outcome = state
        .core
        .reset_external_sessions(&admin, &ctx)
        .await
        .map(|_| ());
    done(&state, jar, &admin, outcome, "reset").await
}

has_csrf!(
    CreateForm,
    MemberForm,
    DomainForm,
    TwoStepForm,
    PolicyForm,
    ResetForm
);
