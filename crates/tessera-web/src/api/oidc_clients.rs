//! OpenID Connect clients (sysadmin): register, list, read, update, give
//! a new secret, delete. The rules are core's
//! (`tessera_core::oidc::client`).

use super::oidc_dto::{
    CreateOidcClientBody, OidcClientList, OidcClientView, RegisteredClientView,
    UpdateOidcClientBody,
};
use crate::access::ApiSession;
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_core::oidc::client::OidcClientId;

fn client_id(raw: &str) -> Result<OidcClientId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("That is not a client id."))
}

/// Register a client. A confidential client (`public: false`, the
/// default) gets a `client_secret`, shown this once; a public client gets
/// none and must use PKCE S256. Audited.
#[utoipa::path(
    post, path = "/api/v1/admin/oidc-clients", tag = "admin",
    request_body = CreateOidcClientBody,
    responses(
        (status = 201, description = "Registered; `client_secret` is shown this once", body = RegisteredClientView),
        (status = 400, description = "A bad name, redirect URI (not https, http off the loopback interface, a wildcard, a fragment, credentials, listed twice) or scope", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    ApiJson(body): ApiJson<CreateOidcClientBody>,
) -> Result<(StatusCode, axum::Json<RegisteredClientView>), ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let created = state
        .core
        .create_oidc_client(&admin, body.into(), &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(RegisteredClientView::from(&created)),
    ))
}

/// Every registered client, by name (never their secrets).
#[utoipa::path(
    get, path = "/api/v1/admin/oidc-clients", tag = "admin",
    responses((status = 200, description = "The clients", body = OidcClientList))
)]
pub async fn list(
    State(state): State<AppState>,
    s: ApiSession,
) -> Result<axum::Json<OidcClientList>, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let all = state.core.list_oidc_clients(&admin).await?;
    Ok(axum::Json(OidcClientList {
        clients: all.iter().map(OidcClientView::from).collect(),
    }))
}

/// One client.
#[utoipa::path(
    get, path = "/api/v1/admin/oidc-clients/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client", body = OidcClientView),
        (status = 400, description = "Not a client id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<axum::Json<OidcClientView>, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let c = state.core.get_oidc_client(&admin, client_id(&id)?).await?;
    Ok(axum::Json(OidcClientView::from(&c)))
}

/// Change a client's name, redirect URIs, post-logout redirect URIs,
/// scopes or first-party flag (only the fields given). Audited.
#[utoipa::path(
    patch, path = "/api/v1/admin/oidc-clients/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Client id")),
    request_body = UpdateOidcClientBody,
    responses(
        (status = 200, description = "Updated", body = OidcClientView),
        (status = 400, description = "Not a client id, or a bad name, redirect URI or scope", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateOidcClientBody>,
) -> Result<axum::Json<OidcClientView>, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let c = state
        .core
        .update_oidc_client(&admin, client_id(&id)?, body.into(), &ctx)
        .await?;
    Ok(axum::Json(OidcClientView::from(&c)))
}

/// Delete a client. Audited.
#[utoipa::path(
    delete, path = "/api/v1/admin/oidc-clients/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Client id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not a client id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = crate::error::Problem, content_type = "application/problem+json"),
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
        .delete_oidc_client(&admin, client_id(&id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a confidential client a new secret, shown this once; the old one
/// stops working at once. Audited.
#[utoipa::path(
    post, path = "/api/v1/admin/oidc-clients/{id}/rotate-secret", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Client id")),
    responses(
        (status = 200, description = "The new `client_secret`, shown this once", body = RegisteredClientView),
        (status = 400, description = "Not a client id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A public client, which has no secret", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<axum::Json<RegisteredClientView>, ApiError> {
    let admin = state.core.require_sysadmin(&s.who)?;
    let r = state
        .core
        .rotate_oidc_client_secret(&admin, client_id(&id)?, &ctx)
        .await?;
    Ok(axum::Json(RegisteredClientView::from(&r)))
}
