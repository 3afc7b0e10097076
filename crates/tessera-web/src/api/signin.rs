//! `POST /api/v1/signin` and `POST /api/v1/signup`.

use super::dto::{ClientKindDto, SigninBody, SigninComplete, SignupBody, UserView, WhoAmI};
use crate::client::Client;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::metrics::signin_outcome;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use tessera_core::CoreError;
use tessera_core::password::Password;
use tessera_core::service::SigninRequest;
use tessera_core::session::ClientKind;

/// Sign in with email and password.
///
/// Every refusal (unknown account, wrong password, deactivated account) is
/// the same 401, and takes the same time.
#[utoipa::path(
    post, path = "/api/v1/signin", tag = "signin",
    request_body = SigninBody,
    responses(
        (status = 200, description = "Signed in", body = SigninComplete),
        (status = 400, description = "Malformed body", body = crate::error::Problem),
        (status = 401, description = "Bad credentials (one message for every cause)", body = crate::error::Problem),
        (status = 503, description = "Overloaded; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn sign_in(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    ApiJson(body): ApiJson<SigninBody>,
) -> Result<Response, ApiError> {
    let client = match body.client.unwrap_or(ClientKindDto::Mobile) {
        ClientKindDto::Web => ClientKind::Web,
        ClientKindDto::Mobile => ClientKind::Mobile,
    };
    let req = SigninRequest {
        email: body.email,
        password: Password::new(body.password),
        client,
    };
    let issued = match state.core.sign_in(req, &ctx).await {
        Ok(i) => i,
        Err(e) => {
            signin_outcome(match e {
                CoreError::Overloaded { .. } => "overloaded",
                CoreError::BadCredentials => "failure",
                _ => "error",
            });
            return Err(e.into());
        }
    };
    signin_outcome("success");
    let who = state.core.authenticate(&issued.token).await?;
    let session = WhoAmI::new(
        &who.account,
        &who.session,
        &state.core.config.session_policy,
    );
    match client {
        ClientKind::Web => {
            let jar = jar.add(cookies::build(&state.web, cookies::SESSION, issued.token));
            let body = SigninComplete {
                status: "complete",
                session_token: None,
                session,
            };
            Ok((jar, axum::Json(body)).into_response())
        }
        ClientKind::Mobile => Ok(axum::Json(SigninComplete {
            status: "complete",
            session_token: Some(issued.token),
            session,
        })
        .into_response()),
    }
}

/// Create your own account, when the server allows self sign-up.
#[utoipa::path(
    post, path = "/api/v1/signup", tag = "signin",
    request_body = SignupBody,
    responses(
        (status = 201, description = "Account created; sign in next", body = UserView),
        (status = 400, description = "Invalid email or password", body = crate::error::Problem),
        (status = 403, description = "Self sign-up is turned off", body = crate::error::Problem),
        (status = 409, description = "Email already registered", body = crate::error::Problem),
    )
)]
pub async fn sign_up(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<SignupBody>,
) -> Result<(StatusCode, axum::Json<UserView>), ApiError> {
    let account = state
        .core
        .sign_up(
            &body.email,
            &body.display_name,
            Password::new(body.password),
            &ctx,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(UserView::from(&account))))
}
