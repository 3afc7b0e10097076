//! Step-up and the caller's own two-step verification.

use super::dto::{
    CodeBody, CodeSentView, PasswordBody, TotpEnrollmentView, TwoStepChanged, TwoStepStatus,
    WebauthnOptions,
};
use super::signin::{SecondStepRequest, parse_challenge, second_step_request};
use crate::access::{AnySession, Via};
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::session_out::hand_over;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use tessera_core::password::Password;
use tessera_core::service::{IssuedSession, StepUpProof};

/// A two-step change's answer, with the rotated session handed to its
/// client and the time it was verified.
pub(super) fn with_rotated(
    state: &AppState,
    jar: CookieJar,
    via: Via,
    issued: IssuedSession,
    mut body: TwoStepChanged,
) -> Response {
    body.verified_at = Some(issued.session.verified_at.to_rfc3339());
    let out = hand_over(&state.web, jar, via, issued);
    body.session_token = out.session_token;
    (out.jar, axum::Json(body)).into_response()
}

/// Verify again before a security change: `POST /api/v1/step-up/{method}`,
/// documented per method in `per_method`. The session gets a new token.
pub async fn step_up(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    s: AnySession,
    Path(method): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let proof = if method == "password" {
        let b: PasswordBody = serde_json::from_value(body).map_err(|e| {
            ApiError::bad_request(format!(
                "The request body does not fit: {}",
                crate::redact::without_values(&e.to_string())
            ))
        })?;
        StepUpProof::Password(Password::new(b.password))
    } else {
        match second_step_request(parse_challenge(&method)?, body)? {
            SecondStepRequest::Proof(p) => StepUpProof::SecondStep(p),
            SecondStepRequest::KeyChallenge => {
                let options = state.core.step_up_key_challenge(&s.access).await?;
                return Ok(axum::Json(WebauthnOptions {
                    options,
                    ceremony_id: None,
                })
                .into_response());
            }
            SecondStepRequest::SendCode => {
                let sent = state.core.send_step_up_sms(&s.access).await?;
                return Ok(axum::Json(CodeSentView::from(sent)).into_response());
            }
        }
    };
    let done = state.core.step_up(&s.access, proof, &ctx).await?;
    let body = TwoStepChanged {
        new_recovery_key: done.new_recovery_key,
        ..Default::default()
    };
    Ok(with_rotated(&state, jar, s.via, done.issued, body))
}

/// Mail a step-up code to the caller's address (accounts without two-step
/// verification), to send to `POST /api/v1/step-up/email_code`. Only the
/// latest code works; one per cooldown, at most 10 code mails an hour.
#[utoipa::path(
    post, path = "/api/v1/step-up/email_code/send", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A code is on its way", body = super::dto::CodeMailedView, content_type = "application/json"),
        (status = 400, description = "The account has two-step verification (step up with a method), or the server sends no mail", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "A code was sent less than the cooldown ago, or the account's hourly mail budget is spent; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn send_step_up_email_code(
    State(state): State<AppState>,
    s: AnySession,
) -> Result<axum::Json<super::dto::CodeMailedView>, ApiError> {
    let sent = state.core.mail_step_up_code(&s.access).await?;
    Ok(axum::Json(sent.into()))
}

/// Whether two-step verification is on, and every method: the
/// authenticator app, security keys and passkeys, the phone number.
#[utoipa::path(
    get, path = "/api/v1/me/two-step", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "Status", body = TwoStepStatus))
)]
pub async fn status(
    State(state): State<AppState>,
    s: AnySession,
) -> Result<axum::Json<TwoStepStatus>, ApiError> {
    let inv = state.core.methods(s.access.account()).await?;
    Ok(axum::Json(TwoStepStatus::new(&inv)))
}

/// Start adding (or changing) the authenticator app. Needs a recent
/// verification; changing an existing app needs a second-step one.
#[utoipa::path(
    post, path = "/api/v1/me/two-step/totp", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Scan or type this into the app, then confirm", body = TotpEnrollmentView),
        (status = 403, description = "Step-up needed", body = crate::error::Problem),
    )
)]
pub async fn start_totp(
    State(state): State<AppState>,
    s: AnySession,
) -> Result<axum::Json<TotpEnrollmentView>, ApiError> {
    let e = state.core.start_totp_enrollment(&s.access).await?;
    Ok(axum::Json(TotpEnrollmentView {
        secret: e.secret,
        otpauth_uri: e.otpauth_uri,
        qr_svg: e.qr_svg,
    }))
}

/// Confirm the app with a code from it. The first time, two-step
/// verification turns on, the answer carries the emergency recovery key
/// (shown once), and every other session is signed out.
#[utoipa::path(
    post, path = "/api/v1/me/two-step/totp/confirm", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "Confirmed", body = TwoStepChanged),
        (status = 400, description = "No enrollment started, or it expired", body = crate::error::Problem),
        (status = 401, description = "Wrong code", body = crate::error::Problem),
        (status = 429, description = "Blocked by the backoff", body = crate::error::Problem),
        (status = 503, description = "Overloaded: password hashing is busy; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    s: AnySession,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Response, ApiError> {
    let done = state.core.confirm_totp(&s.access, &body.code, &ctx).await?;
    let body = TwoStepChanged {
        recovery_key: done.recovery_key,
        ..Default::default()
    };
    Ok(with_rotated(&state, jar, s.via, done.issued, body))
}

/// Create a new emergency recovery key; the old one stops working.
#[utoipa::path(
    post, path = "/api/v1/me/two-step/recovery-key", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The new key, shown once", body = TwoStepChanged),
        (status = 400, description = "Two-step verification is off", body = crate::error::Problem),
        (status = 503, description = "Overloaded: password hashing is busy; see Retry-After", body = crate::error::Problem),
        (status = 403, description = "Step-up with a second step needed", body = crate::error::Problem),
    )
)]
pub async fn new_recovery_key(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: crate::access::ApiSession,
) -> Result<axum::Json<TwoStepChanged>, ApiError> {
    let key = state.core.new_recovery_key(&s.who, &ctx).await?;
    Ok(axum::Json(TwoStepChanged {
        recovery_key: Some(key),
        ..Default::default()
    }))
}

/// Turn two-step verification off (step-up with a second step first).
#[utoipa::path(
    delete, path = "/api/v1/me/two-step", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Off"),
        (status = 400, description = "It was not on", body = crate::error::Problem),
        (status = 403, description = "Step-up with a second step needed", body = crate::error::Problem),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: crate::access::ApiSession,
) -> Result<StatusCode, ApiError> {
    state.core.disable_two_step(&s.who, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
