//! Service accounts (sysadmin): create, list, rename and describe, delete,
//! give one an API token, and convert a person's "bot" account into one.

use super::admin::account_id;
use super::token_dto::{
    CreateServiceAccountBody, CreateTokenBody, CreatedToken, ServiceAccountList,
    ServiceAccountView, UpdateServiceAccountBody,
};
use crate::access::ApiSession;
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_core::account::Role;
use tessera_core::service::{ServiceAccountInput, ServiceAccountUpdate};

/// Create a service account: kind `service`, an address under
/// `service.invalid` (never deliverable), no password, no two-step
/// verification, no emailed codes. It never signs in; it uses API tokens.
#[utoipa::path(
    post, path = "/api/v1/admin/service-accounts", tag = "admin",
    request_body = CreateServiceAccountBody,
    responses(
        (status = 201, description = "Created", body = ServiceAccountView),
        (status = 400, description = "A bad name, description or role", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    ApiJson(body): ApiJson<CreateServiceAccountBody>,
) -> Result<(StatusCode, axum::Json<ServiceAccountView>), ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let role = body
        .role
        .as_deref()
        .map(str::parse::<Role>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("role: {e}")))?;
    let created = state
        .core
        .create_service_account(
            &admin,
            ServiceAccountInput {
                name: body.name,
                description: body.description,
                role,
            },
            &ctx,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ServiceAccountView::from(&created)),
    ))
}

/// Every service account, by name.
#[utoipa::path(
    get, path = "/api/v1/admin/service-accounts", tag = "admin",
    responses((status = 200, description = "The service accounts", body = ServiceAccountList))
)]
pub async fn list(
    State(state): State<AppState>,
    s: ApiSession,
) -> Result<axum::Json<ServiceAccountList>, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let all = state.core.list_service_accounts(&admin).await?;
    Ok(axum::Json(ServiceAccountList {
        service_accounts: all.iter().map(ServiceAccountView::from).collect(),
    }))
}

/// One service account.
#[utoipa::path(
    get, path = "/api/v1/admin/service-accounts/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The service account", body = ServiceAccountView),
        (status = 400, description = "Not an account id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such service account", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<axum::Json<ServiceAccountView>, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let sa = state
        .core
        .get_service_account(&admin, account_id(&id)?)
        .await?;
    Ok(axum::Json(ServiceAccountView::from(&sa)))
}

/// Rename and/or describe a service account.
#[utoipa::path(
    patch, path = "/api/v1/admin/service-accounts/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    request_body = UpdateServiceAccountBody,
    responses(
        (status = 200, description = "Updated", body = ServiceAccountView),
        (status = 400, description = "Not an account id, or a bad name or description", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such service account", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateServiceAccountBody>,
) -> Result<axum::Json<ServiceAccountView>, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let sa = state
        .core
        .update_service_account(
            &admin,
            account_id(&id)?,
            ServiceAccountUpdate {
                name: body.name,
                description: body.description,
            },
            &ctx,
        )
        .await?;
    Ok(axum::Json(ServiceAccountView::from(&sa)))
}

/// Delete a service account; its API tokens stop working at once.
#[utoipa::path(
    delete, path = "/api/v1/admin/service-accounts/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Deleted, with its tokens"),
        (status = 400, description = "Not an account id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such service account (a person's account is never deleted here)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    state
        .core
        .delete_service_account(&admin, account_id(&id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create an API token for a service account: the rules of
/// `POST /api/v1/me/api-tokens` (expiry 1 to 365 days, configured scopes),
/// by a sysadmin's session that stepped up recently. Never by a token.
#[utoipa::path(
    post, path = "/api/v1/admin/service-accounts/{id}/api-tokens", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    request_body = CreateTokenBody,
    responses(
        (status = 201, description = "Created; `token` is shown this once", body = CreatedToken),
        (status = 400, description = "Not an account id, a bad label, `expires_in_days` outside 1 to 365, or an unknown scope", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a sysadmin's session, an API token or Basic credentials, or no recent step-up (`step_up_required`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such service account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The service account is deactivated", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateTokenBody>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), ApiError> {
    let issued = state
        .core
        .create_service_token(&s.who, account_id(&id)?, body.into(), &ctx)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(CreatedToken::from(&issued))))
}

/// Convert a person's ("bot") account into a service account. It keeps
/// its id, name, address, role and API tokens; its password, two-step
/// methods, recovery key and sessions are removed. Audited.
#[utoipa::path(
    post, path = "/api/v1/admin/users/{id}/convert-to-service", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "Converted", body = ServiceAccountView),
        (status = 400, description = "Not an account id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Your own account, or the last sysadmin who can sign in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a service account", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn convert(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<axum::Json<ServiceAccountView>, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let sa = state
        .core
        .convert_to_service(&admin, account_id(&id)?, &ctx)
        .await?;
    Ok(axum::Json(ServiceAccountView::from(&sa)))
}
