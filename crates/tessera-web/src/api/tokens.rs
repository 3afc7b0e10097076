//! API tokens: the caller's own (made by a session after step-up), and
//! every account's for sysadmins.

use super::token_dto::{CreateTokenBody, CreatedToken, TokenList, TokenView};
use crate::access::ApiSession;
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_core::CoreError;
use tessera_core::apitoken::ApiTokenId;

fn token_id(raw: &str) -> Result<ApiTokenId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("That is not an API token id."))
}

fn no_such_token(e: CoreError) -> ApiError {
    match e {
        CoreError::NotFound(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is no API token with that id.",
        ),
        other => other.into(),
    }
}

/// Create an API token for your account. Needs a recent step-up (with a
/// second-step method once two-step verification is on), so an API token
/// can never make one. The secret is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/me/api-tokens", tag = "me",
    request_body = CreateTokenBody,
    responses(
        (status = 201, description = "Created; `token` is shown this once", body = CreatedToken),
        (status = 400, description = "A bad label, `expires_in_days` outside 1 to 365, or an unknown scope", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live session", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "No recent step-up (`step_up_required`), or an API token (`token_not_accepted`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_my_token(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    ApiJson(body): ApiJson<CreateTokenBody>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), ApiError> {
    let issued = state
        .core
        .create_my_api_token(&s.who, body.into(), &ctx)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(CreatedToken::from(&issued))))
}

/// List your API tokens, newest first, with their last use; never the
/// secrets.
#[utoipa::path(
    get, path = "/api/v1/me/api-tokens", tag = "me",
    responses(
        (status = 200, description = "Your tokens", body = TokenList),
        (status = 401, description = "No live session", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_my_tokens(
    State(state): State<AppState>,
    s: ApiSession,
) -> Result<axum::Json<TokenList>, ApiError> {
    let now = state.core.clock.now();
    let tokens = state.core.my_api_tokens(&s.who).await?;
    Ok(axum::Json(TokenList {
        tokens: tokens.iter().map(|t| TokenView::new(t, now)).collect(),
    }))
}

/// Revoke one of your API tokens: it stops working at once, on every node.
#[utoipa::path(
    delete, path = "/api/v1/me/api-tokens/{id}", tag = "me",
    params(("id" = uuid::Uuid, Path, description = "Token id from the list")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Not a token id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live session", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token of yours", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_my_token(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = token_id(&id)?;
    state
        .core
        .revoke_my_api_token(&s.who, id, &ctx)
        .await
        .map_err(no_such_token)?;
    Ok(StatusCode::NO_CONTENT)
}

/// An account's API tokens (any kind of account).
#[utoipa::path(
    get, path = "/api/v1/admin/users/{id}/api-tokens", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account's tokens, newest first", body = TokenList),
        (status = 400, description = "Not an account id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn user_tokens(
    State(state): State<AppState>,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<axum::Json<TokenList>, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let id = super::admin::account_id(&id)?;
    let now = state.core.clock.now();
    let tokens = state.core.api_tokens_of(&admin, id).await?;
    Ok(axum::Json(TokenList {
        tokens: tokens.iter().map(|t| TokenView::new(t, now)).collect(),
    }))
}

/// Revoke any API token.
#[utoipa::path(
    delete, path = "/api/v1/admin/api-tokens/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Not a token id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let id = token_id(&id)?;
    state
        .core
        .revoke_api_token(&admin, id, &ctx)
        .await
        .map_err(no_such_token)?;
    Ok(StatusCode::NO_CONTENT)
}
