//! The caller's other second-step methods: security keys and passkeys
//! (register, rename, remove), the phone number for text messages, and
//! removing the authenticator app while another method remains.

use super::dto::{
    CodeBody, CodeSentView, CredentialBody, KeyRegistered, PhoneBody, RenameBody, StartKeyBody,
    TwoStepChanged, WebauthnOptions,
};
use super::twostep::with_rotated;
use crate::access::{AnySession, ApiSession};
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::session_out::hand_over;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use tessera_core::twostep::methods::MethodKind;

async fn start_registration(
    state: &AppState,
    s: &AnySession,
    kind: MethodKind,
    name: &str,
) -> Result<axum::Json<WebauthnOptions>, ApiError> {
    let options = state
        .core
        .start_key_registration(&s.access, kind, name)
        .await?;
    Ok(axum::Json(WebauthnOptions {
        options,
        ceremony_id: None,
    }))
}

/// Start registering a security key (used after the password). Needs a
/// recent verification; hand `options` to `navigator.credentials.create`,
/// then send the answer to `/api/v1/me/two-step/keys/finish`.
#[utoipa::path(
    post, path = "/api/v1/me/two-step/security-keys", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    request_body = StartKeyBody,
    responses(
        (status = 200, description = "Options for the browser", body = WebauthnOptions),
        (status = 400, description = "Bad name, or too many keys", body = crate::error::Problem),
        (status = 403, description = "Step-up needed", body = crate::error::Problem),
    )
)]
pub async fn start_security_key(
    State(state): State<AppState>,
    s: AnySession,
    ApiJson(body): ApiJson<StartKeyBody>,
) -> Result<axum::Json<WebauthnOptions>, ApiError> {
    start_registration(&state, &s, MethodKind::SecurityKey, &body.name).await
}

/// Start registering a passkey: a discoverable credential with user
/// verification, which can also sign in without a password.
#[utoipa::path(
    post, path = "/api/v1/me/two-step/passkeys", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    request_body = StartKeyBody,
    responses(
        (status = 200, description = "Options for the browser", body = WebauthnOptions),
        (status = 400, description = "Bad name, or too many keys", body = crate::error::Problem),
        (status = 403, description = "Step-up needed", body = crate::error::Problem),
    )
)]
pub async fn start_passkey(
    State(state): State<AppState>,
    s: AnySession,
    ApiJson(body): ApiJson<StartKeyBody>,
) -> Result<axum::Json<WebauthnOptions>, ApiError> {
    start_registration(&state, &s, MethodKind::Passkey, &body.name).await
}

/// Finish registering a key or passkey with the browser's answer. The
/// first method turns two-step verification on: the answer carries the
/// recovery key (shown once) and other sessions are signed out.
#[utoipa::path(
    post, path = "/api/v1/me/two-step/keys/finish", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    request_body = CredentialBody,
    responses(
        (status = 200, description = "Registered", body = KeyRegistered),
        (status = 400, description = "Malformed answer", body = crate::error::Problem),
        (status = 401, description = "The answer failed its checks, or the request expired or was used", body = crate::error::Problem),
        (status = 409, description = "The key is already registered", body = crate::error::Problem),
        (status = 503, description = "Overloaded: password hashing is busy; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn finish_key(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    s: AnySession,
    ApiJson(body): ApiJson<CredentialBody>,
) -> Result<Response, ApiError> {
    let added = state
        .core
        .finish_key_registration(&s.access, body.credential, &ctx)
        .await?;
    let out = hand_over(&state.web, jar, s.via, added.issued);
    let body = KeyRegistered {
        id: added.id,
        recovery_key: added.recovery_key,
        session_token: out.session_token,
    };
    Ok((out.jar, axum::Json(body)).into_response())
}

/// Rename a security key or passkey.
#[utoipa::path(
    patch, path = "/api/v1/me/two-step/keys/{id}", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    request_body = RenameBody,
    responses(
        (status = 204, description = "Renamed"),
        (status = 400, description = "Bad name", body = crate::error::Problem),
        (status = 404, description = "No such key of yours", body = crate::error::Problem),
    )
)]
pub async fn rename_key(
    State(state): State<AppState>,
    s: ApiSession,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RenameBody>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    state.core.rename_key(&s.who, id, &body.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a security key or passkey, unless it is your last method.
/// Needs a recent second-step verification.
#[utoipa::path(
    delete, path = "/api/v1/me/two-step/keys/{id}", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "It is your last method", body = crate::error::Problem),
        (status = 403, description = "Step-up needed", body = crate::error::Problem),
        (status = 404, description = "No such key of yours", body = crate::error::Problem),
    )
)]
pub async fn remove_key(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    state.core.remove_key(&s.who, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "There is no such key."))
}

/// Remove the authenticator app, unless it is your last method.
#[utoipa::path(
    delete, path = "/api/v1/me/two-step/totp", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "It is your last method", body = crate::error::Problem),
        (status = 403, description = "Step-up needed", body = crate::error::Problem),
        (status = 404, description = "No authenticator app is set up", body = crate::error::Problem),
    )
)]
pub async fn remove_totp(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
) -> Result<StatusCode, ApiError> {
    state.core.remove_totp(&s.who, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a phone number for text messages: allowed only while you have no
/// other method (it is the weakest). A code is texted to confirm it.
#[utoipa::path(
    post, path = "/api/v1/me/two-step/sms", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    request_body = PhoneBody,
    responses(
        (status = 200, description = "A code is on its way", body = CodeSentView),
        (status = 400, description = "Not an E.164 number, or another method exists", body = crate::error::Problem),
        (status = 403, description = "Step-up needed", body = crate::error::Problem),
        (status = 429, description = "A code was sent moments ago; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn start_sms(
    State(state): State<AppState>,
    s: AnySession,
    ApiJson(body): ApiJson<PhoneBody>,
) -> Result<axum::Json<CodeSentView>, ApiError> {
    let sent = state
        .core
        .start_sms_enrollment(&s.access, &body.phone)
        .await?;
    Ok(axum::Json(CodeSentView::from(sent)))
}

/// Text the confirming code again (after the cooldown).
#[utoipa::path(
    post, path = "/api/v1/me/two-step/sms/resend", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A new code is on its way", body = CodeSentView),
        (status = 400, description = "No number is being added", body = crate::error::Problem),
        (status = 429, description = "Too soon; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn resend_sms(
    State(state): State<AppState>,
    s: AnySession,
) -> Result<axum::Json<CodeSentView>, ApiError> {
    let sent = state.core.resend_sms_enrollment(&s.access).await?;
    Ok(axum::Json(CodeSentView::from(sent)))
}

/// Confirm the phone number with the texted code. Two-step verification
/// turns on; the answer carries the recovery key (shown once).
#[utoipa::path(
    post, path = "/api/v1/me/two-step/sms/confirm", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "Confirmed", body = TwoStepChanged),
        (status = 400, description = "No number is being added, or another method exists", body = crate::error::Problem),
        (status = 401, description = "Wrong or expired code", body = crate::error::Problem),
        (status = 429, description = "Blocked by the backoff", body = crate::error::Problem),
        (status = 503, description = "Overloaded: password hashing is busy; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn confirm_sms(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    s: AnySession,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Response, ApiError> {
    let done = state.core.confirm_sms(&s.access, &body.code, &ctx).await?;
    let body = TwoStepChanged {
        recovery_key: done.recovery_key,
        ..Default::default()
    };
    Ok(with_rotated(&state, jar, s.via, done.issued, body))
}

/// Remove the phone number, unless it is your last method.
#[utoipa::path(
    delete, path = "/api/v1/me/two-step/sms", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "It is your last method", body = crate::error::Problem),
        (status = 403, description = "Step-up needed", body = crate::error::Problem),
        (status = 404, description = "No phone number is set up", body = crate::error::Problem),
    )
)]
pub async fn remove_sms(
    State(state): State<AppState>,
    Client(ctx): Client,
    s: ApiSession,
) -> Result<StatusCode, ApiError> {
    state.core.remove_sms(&s.who, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
