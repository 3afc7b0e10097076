//! The caller's own account.

use super::dto::{ChangePasswordBody, PasswordChanged};
use crate::access::ApiSession;
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::session_out::hand_over;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use tessera_core::password::Password;

/// Change your password. Needs the current one; this session continues
/// under a new token and every other session is signed out.
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 200, description = "Changed", body = PasswordChanged),
        (status = 400, description = "Wrong current password, or the new one is not acceptable", body = crate::error::Problem),
        (status = 401, description = "No live session", body = crate::error::Problem),
        (status = 429, description = "Too many wrong current passwords: blocked by the password throttle; see Retry-After", body = crate::error::Problem),
        (status = 503, description = "Overloaded; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    s: ApiSession,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> Result<Response, ApiError> {
    let issued = state
        .core
        .change_password(
            &s.who,
            Password::new(body.current_password),
            Password::new(body.new_password),
            &ctx,
        )
        .await?;
    let out = hand_over(&state.web, jar, s.via, issued);
    let body = PasswordChanged {
        session_token: out.session_token,
        other_sessions_ended: true,
    };
    Ok((out.jar, axum::Json(body)).into_response())
}
