//! Instance administration. Every handler first turns the session into a
//! [`Sysadmin`] capability; the domain's admin calls cannot run without it.

use super::dto::{AuditEventView, AuditList, SetRoleBody, ThrottleCleared, UserList, UserView};
use super::new_user::{CreateUserBody, NewUser};
use crate::access::ApiSession;
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tessera_core::account::{AccountKind, Role};
use tessera_core::audit::{AuditFilter, AuditKind};
use tessera_core::clock::Timestamp;
use tessera_core::ids::AccountId;
use tessera_core::password::Password;
use tessera_core::service::{NewAccountInput, Sysadmin};
use utoipa::IntoParams;

fn sysadmin(state: &AppState, s: &ApiSession) -> Result<Sysadmin, ApiError> {
    Ok(state.core.require_sysadmin(&s.who)?)
}

pub(super) fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("That is not an account id."))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// How many accounts to skip.
    #[serde(default)]
    #[param(value_type = u64, maximum = 4294967295_u64)]
    pub offset: u32,
    /// 1 to 500 (a value outside is brought into that range); default 50.
    #[serde(default)]
    #[param(value_type = Option<u64>, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
}

/// List accounts, ordered by email.
#[utoipa::path(
    get, path = "/api/v1/admin/users", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(Page),
    responses(
        (status = 200, description = "A page of accounts", body = UserList),
        (status = 400, description = "A query parameter does not parse", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live session", body = crate::error::Problem),
        (status = 403, description = "Not a sysadmin", body = crate::error::Problem),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    s: ApiSession,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<axum::Json<UserList>, ApiError> {
    let admin = sysadmin(&state, &s)?;
    let limit = page.limit.unwrap_or(50).clamp(1, 500);
    let (users, total) = state.core.list_accounts(&admin, page.offset, limit).await?;
    Ok(axum::Json(UserList {
        users: users.iter().map(UserView::from).collect(),
        total,
        offset: page.offset,
        limit,
    }))
}

/// Create an account (human or service).
#[utoipa::path(
    post, path = "/api/v1/admin/users", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Invalid input", body = crate::error::Problem),
        (status = 403, description = "Not a sysadmin", body = crate::error::Problem),
        (status = 409, description = "Email already registered", body = crate::error::Problem),
        (status = 503, description = "Overloaded: password hashing is busy; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    ApiJson(body): ApiJson<CreateUserBody>,
) -> Result<(StatusCode, axum::Json<UserView>), ApiError> {
    let admin = sysadmin(&state, &s)?;
    let kind = match body.kind.as_deref() {
        None => AccountKind::Human,
        Some(k) => k
            .parse()
            .map_err(|e: String| ApiError::bad_request(format!("kind: {e}")))?,
    };
    let role = match body.role.as_deref() {
        None => Role::Member,
        Some(r) => r
            .parse()
            .map_err(|e: String| ApiError::bad_request(format!("role: {e}")))?,
    };
    let input = NewAccountInput {
        email: body.email,
        display_name: body.display_name,
        kind,
        role,
        password: body.password.map(Password::new),
    };
    let account = state.core.create_account(&admin, input, &ctx).await?;
    Ok((StatusCode::CREATED, axum::Json(UserView::from(&account))))
}

/// One account.
#[utoipa::path(
    get, path = "/api/v1/admin/users/{id}", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 400, description = "Not an account id", body = crate::error::Problem),
        (status = 403, description = "Not a sysadmin", body = crate::error::Problem),
        (status = 404, description = "No such account", body = crate::error::Problem),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<axum::Json<UserView>, ApiError> {
    let admin = sysadmin(&state, &s)?;
    let account = state.core.get_account(&admin, account_id(&id)?).await?;
    Ok(axum::Json(UserView::from(&account)))
}

/// Change an account's role. Its sessions end, so the new role applies at
/// its next sign-in.
#[utoipa::path(
    put, path = "/api/v1/admin/users/{id}/role", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    request_body = SetRoleBody,
    responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 400, description = "Not an account id, or an unknown role", body = crate::error::Problem),
        (status = 403, description = "Not a sysadmin, or demoting yourself", body = crate::error::Problem),
        (status = 404, description = "No such account", body = crate::error::Problem),
    )
)]
pub async fn set_role(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SetRoleBody>,
) -> Result<axum::Json<UserView>, ApiError> {
    let admin = sysadmin(&state, &s)?;
    let role: Role = body
        .role
        .parse()
        .map_err(|e: String| ApiError::bad_request(format!("role: {e}")))?;
    let account = state
        .core
        .set_role(&admin, account_id(&id)?, role, &ctx)
        .await?;
    Ok(axum::Json(UserView::from(&account)))
}

/// Deactivate an account: it can no longer sign in, and its sessions end.
#[utoipa::path(
    post, path = "/api/v1/admin/users/{id}/deactivate", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "Deactivated", body = UserView),
        (status = 400, description = "Not an account id", body = crate::error::Problem),
        (status = 403, description = "Not a sysadmin, or your own account", body = crate::error::Problem),
        (status = 404, description = "No such account", body = crate::error::Problem),
    )
)]
pub async fn deactivate(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<axum::Json<UserView>, ApiError> {
    let admin = sysadmin(&state, &s)?;
    let account = state
        .core
        .deactivate(&admin, account_id(&id)?, &ctx)
        .await?;
    Ok(axum::Json(UserView::from(&account)))
}

/// Lift an account's password-guessing pause: its untrusted budget (locked
/// after 100 wrong passwords in a row), its known devices' budgets and its
/// second-step backoff start again from zero.
#[utoipa::path(
    delete, path = "/api/v1/admin/users/{id}/throttle", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "Cleared: how many counters had failures", body = ThrottleCleared),
        (status = 400, description = "Not an account id", body = crate::error::Problem),
        (status = 401, description = "No live session", body = crate::error::Problem),
        (status = 403, description = "Not a sysadmin", body = crate::error::Problem),
        (status = 404, description = "No such account", body = crate::error::Problem),
    )
)]
pub async fn clear_throttle(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<axum::Json<ThrottleCleared>, ApiError> {
    let admin = sysadmin(&state, &s)?;
    let cleared = state
        .core
        .clear_throttle(&admin, account_id(&id)?, &ctx)
        .await?;
    Ok(axum::Json(ThrottleCleared { cleared }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Event kind, e.g. `signin.failed`.
    #[param(value_type = Option<super::fields::AuditKindName>)]
    pub kind: Option<String>,
    /// Account id of whoever acted.
    #[param(value_type = Option<uuid::Uuid>)]
    pub actor: Option<String>,
    /// Account id acted upon.
    #[param(value_type = Option<uuid::Uuid>)]
    pub subject: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
    /// Only events older than this id (paging).
    pub before_id: Option<i64>,
    /// 1 to 1000 (a value outside is brought into that range); default 100.
    #[param(value_type = Option<u64>, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
}

/// Audit events, newest first, with filters.
#[utoipa::path(
    get, path = "/api/v1/admin/audit", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Events", body = AuditList),
        (status = 400, description = "Bad filter", body = crate::error::Problem),
        (status = 403, description = "Not a sysadmin", body = crate::error::Problem),
    )
)]
pub async fn audit(
    State(state): State<AppState>,
    s: ApiSession,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::Json<AuditList>, ApiError> {
    let admin = sysadmin(&state, &s)?;
    let kind = q
        .kind
        .as_deref()
        .map(|k| k.parse::<AuditKind>())
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("kind: {e}")))?;
    let filter = AuditFilter {
        kind,
        actor: q.actor.as_deref().map(account_id).transpose()?,
        subject: q.subject.as_deref().map(account_id).transpose()?,
        since: q.since.map(Timestamp),
        until: q.until.map(Timestamp),
        before_id: q.before_id,
        limit: q.limit.unwrap_or(100),
    };
    let limit = filter.limit.clamp(1, 1000) as usize;
    let events = state.core.audit_events(&admin, filter).await?;
    let next_before_id = (events.len() == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(axum::Json(AuditList {
        events: events
            .into_iter()
            .map(|e| AuditEventView {
                id: e.id,
                at: e.at.to_rfc3339(),
                kind: e.kind,
                actor_id: e.actor.map(|a| a.to_string()),
                subject_id: e.subject.map(|a| a.to_string()),
                ip: e.ip,
                detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
        next_before_id,
    }))
}

/// Recovery unenrollment: remove another account's two-step verification.
/// The body carries the calling sysadmin's own current authenticator code.
/// Every session of the account ends.
#[utoipa::path(
    delete, path = "/api/v1/admin/users/{id}/two-step", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    request_body = super::dto::UnenrollBody,
    responses(
        (status = 204, description = "Unenrolled"),
        (status = 400, description = "No enrollment found for this user.", body = crate::error::Problem),
        (status = 401, description = "No session, or a bad code", body = crate::error::Problem),
        (status = 403, description = "Not a sysadmin, or your own account", body = crate::error::Problem),
        (status = 404, description = "No such user", body = crate::error::Problem),
        (status = 429, description = "Blocked by the backoff", body = crate::error::Problem),
    )
)]
pub async fn unenroll(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<super::dto::UnenrollBody>,
) -> Result<StatusCode, ApiError> {
    let admin = sysadmin(&state, &s)?;
    let target = account_id(&id)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "user not found"))?;
    state
        .core
        .admin_unenroll(&admin, &s.who.account, target, &body.totp_code, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
