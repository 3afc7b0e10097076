//! The test policy's section of an organization's page: its settings, its
//! members (at most 5 external users), and the actions that change them.
//! Roll-out, reset sessions and removing a member first show what they
//! would do (a preview page); its button posts again with `confirm=yes`.

use super::orgs::{admin_of, done, policy_of};
use super::{PageSession, admin_user, error_page};
use crate::client::Client;
use crate::csrf::{CsrfForm, has_csrf};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::ids::AccountId;
use tessera_core::org::{ExternalPolicy, MAX_TEST_MEMBERS, Member};
use tessera_core::service::{Core, OrgAdmin};

/// An external user, as the section lists it.
pub(super) struct TestMemberRow {
    pub id: String,
    pub email: String,
}

/// What the organization page shows of the test policy.
pub(super) struct TestSection {
    pub settings: ExternalPolicy,
    pub frequency: String,
    pub on: bool,
    pub members: Vec<TestMemberRow>,
    /// External users not in the test policy, to pick from.
    pub candidates: Vec<TestMemberRow>,
    pub full: bool,
    pub max: usize,
    pub reset_preview: String,
}

pub(super) fn notice_text(key: &str) -> Option<&'static str> {
    match key {
        "test-policy" => {
            Some("The test policy was saved. It applies to its members within seconds.")
        }
        "test-added" => Some("The external user was added to the test policy."),
        "test-removed" => Some(
            "The external user was taken out of the test policy: the external user policy applies to them again.",
        ),
        "rolled-out" => Some("The test policy's settings were copied to the external user policy."),
        "test-reset" => Some("The test policy's members were signed out on the web."),
        _ => None,
    }
}

pub(super) async fn test_section(
    core: &Core,
    admin: &OrgAdmin,
    members: &[Member],
) -> Result<TestSection, CoreError> {
    let test = core.test_policy(admin).await?;
    let sessions = core.test_reset_preview(admin).await?;
    let row = |a: &tessera_core::account::Account| TestMemberRow {
        id: a.id.to_string(),
        email: a.email.to_string(),
    };
    Ok(TestSection {
        settings: test.settings,
        frequency: test
            .settings
            .frequency_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
        on: test.settings.is_on(),
        candidates: members
            .iter()
            .filter(|m| !m.managed && !test.members.iter().any(|t| t.id == m.account.id))
            .map(|m| row(&m.account))
            .collect(),
        full: test.members.len() >= MAX_TEST_MEMBERS,
        max: MAX_TEST_MEMBERS,
        members: test.members.iter().map(row).collect(),
        reset_preview: test_reset_words(sessions),
    })
}

fn test_reset_words(sessions: u64) -> String {
    let sessions = if sessions == 1 {
        "1 session".to_string()
    } else {
        format!("{sessions} sessions")
    };
    format!(
        "This will sign out the test policy's members ({sessions}) on the web. Mobile sessions and other external users stay."
    )
}

fn describe(p: &ExternalPolicy) -> String {
    let frequency = match p.frequency_minutes {
        Some(m) => format!("verification every {m} minutes"),
        None => "no verification frequency".to_string(),
    };
    format!(
        "emailed code {}, {frequency}, API token access {}",
        if p.email_code { "on" } else { "off" },
        if p.api_token_access { "on" } else { "off" },
    )
}

#[derive(Deserialize)]
pub struct TestSettingsForm {
    csrf: String,
    #[serde(default)]
    email_code: Option<String>,
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    api_token_access: Option<String>,
}

/// Saves the settings; the members stay as they are, whatever another
/// admin added or removed since this page was drawn.
pub async fn settings(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<TestSettingsForm>,
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
            .set_test_settings(&admin, policy, &ctx)
            .await
            .map(|_| ())
    }
    .await;
    done(&state, jar, &admin, outcome, "test-policy").await
}

#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    /// An email typed in, or an account id picked from the external users.
    #[serde(default)]
    email: String,
    #[serde(default)]
    account: String,
}

pub async fn add(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<AddForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let outcome = async {
        let account = match (form.account.trim(), form.email.trim()) {
            ("", "") => {
                return Err(CoreError::Invalid(
                    "Type an email or pick an external user.".into(),
                ));
            }
            ("", email) => {
                // Any member, managed too: the core says why a managed one
                // cannot be added.
                let members = state.core.org_members(&admin).await?;
                members
                    .iter()
                    .find(|m| m.account.email.as_str().eq_ignore_ascii_case(email))
                    .map(|m| m.account.id)
                    .ok_or_else(|| {
                        CoreError::Invalid(format!(
                            "{email} is not a member of this organization, so it cannot be in its test policy."
                        ))
                    })?
            }
            (id, _) => id
                .parse::<AccountId>()
                .map_err(|_| CoreError::Invalid("That is not an account id.".into()))?,
        };
        state
            .core
            .add_test_member(&admin, account, &ctx)
            .await
            .map(|_| ())
    }
    .await;
    done(&state, jar, &admin, outcome, "test-added").await
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
    /// The member to remove (the remove form only).
    #[serde(default)]
    account: String,
}

fn preview(
    state: &AppState,
    jar: CookieJar,
    admin: &OrgAdmin,
    org: &str,
    c: (&str, &str, &str, &str),
    fields: Vec<(&'static str, String)>,
) -> Response {
    let (title, preview, path, button) = c;
    admin_user::confirm_page(
        state,
        jar,
        admin.is_sysadmin(),
        admin_user::Confirm {
            title,
            preview,
            action: &format!("/admin/organizations/{org}/test-policy/{path}"),
            fields,
            needs_code: false,
            button,
            cancel: &format!("/admin/organizations/{org}"),
        },
    )
}

pub async fn remove(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let account = match form.account.parse::<AccountId>() {
        Ok(a) => a,
        Err(_) => return error_page(&CoreError::NotFound("test policy member")),
    };
    if form.confirm != "yes" {
        let members = match state.core.test_policy(&admin).await {
            Ok(t) => t.members,
            Err(e) => return error_page(&e),
        };
        let Some(member) = members.iter().find(|a| a.id == account) else {
            return error_page(&CoreError::NotFound("test policy member"));
        };
        let words = format!(
            "This will take {} out of the test policy: the external user policy applies to them again, within seconds.",
            member.email
        );
        return preview(
            &state,
            jar,
            &admin,
            &org,
            (
                "Take out of the test policy?",
                &words,
                "members/remove",
                "Yes, take them out",
            ),
            vec![("account", account.to_string())],
        );
    }
    let outcome = state
        .core
        .remove_test_member(&admin, account, &ctx)
        .await
        .map(|_| ());
    done(&state, jar, &admin, outcome, "test-removed").await
}

pub async fn roll_out(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if form.confirm != "yes" {
        let loaded = async {
            Ok::<_, CoreError>((
                state.core.test_policy(&admin).await?.settings,
                state.core.organization(&admin).await?.external,
            ))
        }
        .await;
        let (test, external) = match loaded {
            Ok(x) => x,
            Err(e) => return error_page(&e),
        };
        let words = format!(
            "This will copy the test policy's settings ({}) to the external user policy, which now has {}. It applies to every external user within seconds.",
            describe(&test),
            describe(&external)
        );
        return preview(
            &state,
            jar,
            &admin,
            &org,
            (
                "Roll out the test policy?",
                &words,
                "roll-out",
                "Yes, roll it out",
            ),
            vec![],
        );
    }
    let outcome = state
        .core
        .roll_out_test_policy(&admin, &ctx)
        .await
        .map(|_| ());
    done(&state, jar, &admin, outcome, "rolled-out").await
}

pub async fn reset_sessions(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(org): Path<String>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Response {
    let admin = match admin_of(&state, &who, &org).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if form.confirm != "yes" {
        let words = match state.core.test_reset_preview(&admin).await {
            Ok(n) => test_reset_words(n),
            Err(e) => return error_page(&e),
        };
        return preview(
            &state,
            jar,
            &admin,
            &org,
            (
                "Sign out the test policy's members?",
                &words,
                "reset-sessions",
                "Yes, sign them out",
            ),
            vec![],
        );
    }
    let outcome = state
        .core
        .reset_test_sessions(&admin, &ctx)
        .await
        .map(|_| ());
    done(&state, jar, &admin, outcome, "test-reset").await
}

has_csrf!(TestSettingsForm, AddForm, ConfirmForm);
