//! Invitation links: what one is, accepting it signed in, or accepting it
//! by creating the invited address's account.

use super::org_dto::{InvitationInfo, InvitationSignupBody, Joined};
use crate::access::ApiSession;
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_core::password::Password;

const PROBLEM: &str = "application/problem+json";

/// What an invitation link is for. The token is the secret from the
/// mailed link.
#[utoipa::path(
    get, path = "/api/v1/invitations/{token}", tag = "organizations",
    params(("token" = String, Path, description = "The token from the invitation link")),
    responses(
        (status = 200, description = "The invitation", body = InvitationInfo),
        (status = 404, description = "No such invitation (or it was withdrawn)", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<axum::Json<InvitationInfo>, ApiError> {
    let v = state.core.invitation(&token).await?;
    let status = match (v.invitation.accepted_at, v.usable) {
        (Some(_), _) => "accepted",
        (None, false) => "expired",
        (None, true) => "pending",
    };
    Ok(axum::Json(InvitationInfo {
        organization: v.org_name,
        email: v.invitation.email.to_string(),
        role: v.invitation.role.to_string(),
        expires_at: v.invitation.expires_at.to_rfc3339(),
        status,
        account_exists: v.account_exists,
    }))
}

/// Accept an invitation, signed in as the invited address. Works once.
#[utoipa::path(
    post, path = "/api/v1/invitations/{token}/accept", tag = "organizations",
    params(("token" = String, Path, description = "The token from the invitation link")),
    responses(
        (status = 200, description = "Joined", body = Joined),
        (status = 400, description = "Expired or used already", body = crate::error::Problem, content_type = PROBLEM),
        (status = 403, description = "Signed in as another address", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such invitation", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn accept(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(token): Path<String>,
) -> Result<axum::Json<Joined>, ApiError> {
    let inv = state.core.accept_invitation(&s.who, &token, &ctx).await?;
    Ok(axum::Json(Joined {
        organization_id: inv.org.to_string(),
        account_id: s.who.account.id.to_string(),
        role: inv.role.to_string(),
    }))
}

/// Accept an invitation by creating the invited address's account (none
/// may exist yet): the link proves the mailbox. Then sign in.
#[utoipa::path(
    post, path = "/api/v1/invitations/{token}/signup", tag = "organizations",
    params(("token" = String, Path, description = "The token from the invitation link")),
    request_body = InvitationSignupBody,
    responses(
        (status = 201, description = "Account created and joined", body = Joined),
        (status = 400, description = "Expired or used already, or a password or name that breaks the rules", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "No such invitation", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "An account has this address: sign in and accept", body = crate::error::Problem, content_type = PROBLEM),
        (status = 503, description = "The password hashing queue is full; see Retry-After", body = crate::error::Problem, content_type = PROBLEM),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<InvitationSignupBody>,
) -> Result<(StatusCode, axum::Json<Joined>), ApiError> {
    let (inv, account) = state
        .core
        .accept_invitation_with_new_account(
            &token,
            &body.display_name,
            Password::new(body.password),
            &ctx,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Joined {
            organization_id: inv.org.to_string(),
            account_id: account.id.to_string(),
            role: inv.role.to_string(),
        }),
    ))
}
