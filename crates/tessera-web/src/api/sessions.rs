//! Who am I, and the caller's own sessions.

use super::dto::{Ended, SessionList, SessionView, WhoAmI};
use crate::access::{AnySession, ApiSession, Via};
use crate::client::Client;
use crate::cookies;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use tessera_core::CoreError;
use tessera_core::ids::SessionId;

/// Who is this? The hot path every relying product calls on every request.
/// Takes a session (cookie or Bearer) or an API token (`Bearer tsr_…`, or
/// Basic with the token as password); a token answer carries `token`.
#[utoipa::path(
    get, path = "/api/v1/session", tag = "sessions",
    security(("bearer" = []), ("cookie" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The session and its account", body = WhoAmI),
        (status = 401, description = "No live session", body = crate::error::Problem),
    )
)]
pub async fn who_am_i(
    State(state): State<AppState>,
    s: AnySession,
) -> Result<axum::Json<WhoAmI>, ApiError> {
    let standing = state.core.standing(s.access.account()).await?;
    Ok(axum::Json(
        WhoAmI::of(&s.access, &state.core.config.session_policy).with_orgs(&standing),
    ))
}

/// Sign out: end this session.
#[utoipa::path(
    delete, path = "/api/v1/session", tag = "sessions",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No live session", body = crate::error::Problem),
    )
)]
pub async fn sign_out(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    s: AnySession,
) -> Result<Response, ApiError> {
    state.core.sign_out(&s.access, &ctx).await?;
    let jar = match s.via {
        Via::Cookie => jar.add(cookies::removal(&state.web, cookies::SESSION)),
        Via::Bearer | Via::Basic | Via::Token => jar,
    };
    Ok((jar, StatusCode::NO_CONTENT).into_response())
}

/// List your live sessions, newest first.
#[utoipa::path(
    get, path = "/api/v1/sessions", tag = "sessions",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Your sessions", body = SessionList),
        (status = 401, description = "No live session", body = crate::error::Problem),
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    s: ApiSession,
) -> Result<axum::Json<SessionList>, ApiError> {
    let policy = &state.core.config.session_policy;
    let sessions = state
        .core
        .my_sessions(&s.who)
        .await?
        .iter()
        .map(|x| SessionView::new(x, x.id == s.who.session.id, policy))
        .collect();
    Ok(axum::Json(SessionList { sessions }))
}

/// Sign out everywhere else: end all your sessions except this one.
#[utoipa::path(
    delete, path = "/api/v1/sessions", tag = "sessions",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "How many sessions ended", body = Ended),
        (status = 401, description = "No live session", body = crate::error::Problem),
    )
)]
pub async fn end_other_sessions(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
) -> Result<axum::Json<Ended>, ApiError> {
    let ended = state.core.end_my_other_sessions(&s.who, &ctx).await?;
    Ok(axum::Json(Ended { ended }))
}

/// End one of your sessions by its id.
#[utoipa::path(
    delete, path = "/api/v1/sessions/{id}", tag = "sessions",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id from the session list")),
    responses(
        (status = 204, description = "Ended"),
        (status = 400, description = "Not a session id", body = crate::error::Problem),
        (status = 401, description = "No live session", body = crate::error::Problem),
        (status = 404, description = "No such session of yours", body = crate::error::Problem),
    )
)]
pub async fn end_session(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: SessionId = id
        .parse()
        .map_err(|_| ApiError::bad_request("That is not a session id."))?;
    state
        .core
        .end_my_session(&s.who, id, &ctx)
        .await
        .map_err(|e| match e {
            CoreError::NotFound(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "You have no session with that id.",
            ),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
