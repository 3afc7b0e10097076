//! An organization's test policy (at most 5 external users who get the
//! external user policy's settings from it instead), its roll-out and
//! reset, and the CSV export of the organization's external users.

use super::dto::Ended;
use super::org_dto::*;
use super::orgs::org_admin;
use crate::access::ApiSession;
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tessera_core::ids::AccountId;

const PROBLEM: &str = "application/problem+json";

fn account_param(raw: &str) -> Result<AccountId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("That is not an account id."))
}

/// The test policy and its members.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}/external-policy/test", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The test policy", body = TestPolicyBody),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn get_test_policy(
    State(state): State<AppState>,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<TestPolicyBody>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    Ok(axum::Json(TestPolicyBody::new(
        &state.core.test_policy(&admin).await?,
    )))
}

/// Replace the test policy's settings and members. For its members it
/// takes precedence over the external user policy (emailed code,
/// verification frequency, API token access), on every node within
/// seconds.
#[utoipa::path(
    put, path = "/api/v1/admin/organizations/{org}/external-policy/test", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    request_body = TestPolicyBody,
    responses(
        (status = 200, description = "The test policy now", body = TestPolicyBody),
        (status = 400, description = "More than 5 members, a member that is not an external user of the organization, a frequency outside 15..43200 minutes, `email_code` on a server that sends no mail, or a bad id; nothing changed", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn set_test_policy(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<TestPolicyBody>,
) -> Result<axum::Json<TestPolicyBody>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let (policy, members) = body.into_parts()?;
    let p = state
        .core
        .set_test_policy(&admin, policy, &members, &ctx)
        .await?;
    Ok(axum::Json(TestPolicyBody::new(&p)))
}

/// Add one external user to the test policy. Adding a member again
/// changes nothing. A sixth is refused, however many additions race.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{org}/external-policy/test/members", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    request_body = AddTestMemberBody,
    responses(
        (status = 200, description = "The test policy now", body = TestPolicyBody),
        (status = 400, description = "The policy holds 5 members already, the account is not an external user of the organization, or a bad id; nothing changed", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn add_test_member(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<AddTestMemberBody>,
) -> Result<axum::Json<TestPolicyBody>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let p = state
        .core
        .add_test_member(&admin, account_param(&body.account_id)?, &ctx)
        .await?;
    Ok(axum::Json(TestPolicyBody::new(&p)))
}

/// Take one account out of the test policy: the external user policy
/// applies to it again.
#[utoipa::path(
    delete, path = "/api/v1/admin/organizations/{org}/external-policy/test/members/{account_id}", tag = "organizations",
    params(
        ("org" = uuid::Uuid, Path, description = "Organization id"),
        ("account_id" = uuid::Uuid, Path, description = "Account id"),
    ),
    responses(
        (status = 200, description = "The test policy now", body = TestPolicyBody),
        (status = 400, description = "A bad id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization, or the account is not in the test policy", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn remove_test_member(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path((org, account)): Path<(String, String)>,
) -> Result<axum::Json<TestPolicyBody>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let p = state
        .core
        .remove_test_member(&admin, account_param(&account)?, &ctx)
        .await?;
    Ok(axum::Json(TestPolicyBody::new(&p)))
}

/// Roll out: copy the test policy's settings to the external user policy,
/// in one transaction (audited). The test policy keeps its members.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{org}/external-policy/test/roll-out", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The external user policy now", body = ExternalPolicyBody),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn roll_out(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<ExternalPolicyBody>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let p = state.core.roll_out_test_policy(&admin, &ctx).await?;
    Ok(axum::Json(ExternalPolicyBody::from(&p)))
}

/// What a reset of the test policy's sessions would end now.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}/external-policy/test/reset-sessions", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The preview", body = ResetPreview),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn test_reset_preview(
    State(state): State<AppState>,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<ResetPreview>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let available = state.core.test_policy(&admin).await?.settings.is_on();
    let sessions = state.core.test_reset_preview(&admin).await?;
    Ok(axum::Json(ResetPreview {
        sessions,
        available,
    }))
}

/// Reset sessions of the test policy: sign its members out on the web, on
/// every node within seconds (mobile sessions stay); no other external
/// user is signed out. Only while a setting of the test policy is on.
/// Audited.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{org}/external-policy/test/reset-sessions", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "How many live web sessions ended", body = Ended),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "Every setting of the test policy is off", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn test_reset_sessions(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<axum::Json<Ended>, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let ended = state.core.reset_test_sessions(&admin, &ctx).await?;
    Ok(axum::Json(Ended { ended }))
}

/// The organization's external users as CSV (RFC 4180, CRLF line ends,
/// UTF-8), streamed page by page. Columns: email, display name,
/// organizations (`; `-separated names), last active (RFC 3339, empty if
/// never), 2SV on (`yes`/`no`), methods (`; `-separated: `totp`,
/// `security_key`, `passkey`, `sms`), API token count (unexpired), policy
/// (`test` or `external`). A cell that starts with `=`, `+`, `-`, `@`, a
/// tab or a carriage return is prefixed with `'` so spreadsheets do not
/// evaluate it. Audited.
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{org}/external-users.csv", tag = "organizations",
    params(("org" = uuid::Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The CSV file", body = String, content_type = "text/csv"),
        (status = 400, description = "Not an organization id", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such organization", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn export_external_users(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(org): Path<String>,
) -> Result<Response, ApiError> {
    let admin = org_admin(&state, &s, &org).await?;
    let export = state.core.export_external_users(&admin, &ctx).await?;
    // One page per chunk, read when the client is ready for it. A failure
    // halfway ends the body early (the status was sent already); it is
    // logged here.
    let chunks = futures_util::stream::unfold(Some(export), |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok(Bytes::from(bytes)), Some(export))),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = ?e, "external users export failed halfway");
                Some((Err(std::io::Error::other("export failed")), None))
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"external-users.csv\"",
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}
