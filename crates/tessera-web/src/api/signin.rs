//! `POST /api/v1/signin` and `POST /api/v1/signup`.

use super::dto::{
    ClientKindDto, CodeBody, CredentialBody, PasskeySigninFinish, PasskeySigninStart,
    RecoveryKeyBody, SigninBody, SigninComplete, SignupAccepted, SignupBody, WebauthnOptions,
    WhoAmI,
};
use crate::client::Client;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::metrics::signin_outcome;
use crate::session_out::{hand_over, via_for};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use tessera_core::CoreError;
use tessera_core::password::Password;
use tessera_core::service::{SecondStepProof, SigninOutcome, SigninRequest};
use tessera_core::session::ClientKind;
use tessera_core::twostep::methods::Challenge;

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
        (status = 429, description = "Too many wrong passwords for this address or from this client; not evaluated. See Retry-After", body = crate::error::Problem),
        (status = 503, description = "Overloaded; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn sign_in(
    State(state): State<AppState>,
    Client(mut ctx): Client,
    jar: CookieJar,
    ApiJson(body): ApiJson<SigninBody>,
) -> Result<Response, ApiError> {
    if body.device_token.is_some() {
        ctx.device_token = body.device_token;
    }
    let client = match body.client.unwrap_or(ClientKindDto::Mobile) {
        ClientKindDto::Web => ClientKind::Web,
        ClientKindDto::Mobile => ClientKind::Mobile,
    };
    let req = SigninRequest {
        email: body.email,
        password: Password::new(body.password),
        client,
    };
    let outcome = state.core.sign_in(req, &ctx).await;
    signin_response(&state, jar, outcome).await
}

/// Turns a sign-in outcome into the API answer: a cookie for web sessions,
/// a bearer token for mobile ones, or the flow for a second step.
pub async fn signin_response(
    state: &AppState,
    jar: CookieJar,
    outcome: Result<SigninOutcome, CoreError>,
) -> Result<Response, ApiError> {
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            signin_outcome(match e {
                CoreError::Overloaded { .. } => "overloaded",
                CoreError::RateLimited { .. } => "rate_limited",
                CoreError::BadCredentials | CoreError::WrongProof(_) | CoreError::FlowExpired => {
                    "failure"
                }
                _ => "error",
            });
            return Err(e.into());
        }
    };
    match outcome {
        SigninOutcome::SecondStep {
            flow_id,
            methods,
            expires_at,
        } => {
            signin_outcome("second_step");
            Ok(axum::Json(SigninComplete {
                status: "second_step",
                flow_id: Some(flow_id),
                methods: Some(methods.iter().map(|m| m.to_string()).collect()),
                expires_at: Some(expires_at.to_rfc3339()),
                ..Default::default()
            })
            .into_response())
        }
        SigninOutcome::Complete {
            issued,
            account,
            new_recovery_key,
        } => {
            signin_outcome("success");
            let standing = state.core.standing(&account).await?;
            let session = Some(
                WhoAmI::new(&account, &issued.session, &state.core.config.session_policy)
                    .with_orgs(&standing),
            );
            let mut body = SigninComplete {
                status: "complete",
                session,
                new_recovery_key,
                ..Default::default()
            };
            let via = via_for(issued.session.client);
            let out = hand_over(&state.web, jar, via, issued);
            body.session_token = out.session_token;
            body.device_token = out.device_token;
            Ok((out.jar, axum::Json(body)).into_response())
        }
    }
}

/// Finish a sign-in with a second step: `POST
/// /api/v1/signin/{flow_id}/{method}`, documented per method in
/// `per_method`. Wrong proofs count towards the backoff; an unknown method
/// is a 404.
pub async fn continue_sign_in(
    State(state): State<AppState>,
    Client(mut ctx): Client,
    jar: CookieJar,
    Path((flow_id, method)): Path<(String, String)>,
    ApiJson(mut body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    // Mobile clients send their device token with the step that completes
    // the sign-in, as with the password.
    if let Some(t) = body.as_object_mut().and_then(|o| o.remove("device_token")) {
        ctx.device_token = t.as_str().map(str::to_string);
    }
    let proof = match second_step_request(parse_challenge(&method)?, body)? {
        SecondStepRequest::Proof(p) => p,
        SecondStepRequest::KeyChallenge => {
            let options = state.core.signin_key_challenge(&flow_id, &ctx).await?;
            return Ok(axum::Json(SigninComplete {
                status: "challenge",
                public_key: Some(options),
                ..Default::default()
            })
            .into_response());
        }
        SecondStepRequest::SendCode => {
            let sent = state.core.send_signin_sms(&flow_id, &ctx).await?;
            return Ok(axum::Json(SigninComplete {
                status: "code_sent",
                phone: Some(sent.phone_masked),
                resend_after_secs: Some(sent.resend_after_secs),
                ..Default::default()
            })
            .into_response());
        }
    };
    let outcome = state.core.continue_sign_in(&flow_id, proof, &ctx).await;
    if matches!(outcome, Err(CoreError::WrongProof(_))) {
        state.core.audit_second_step_failure(&flow_id, &ctx).await;
    }
    signin_response(&state, jar, outcome).await
}

/// Mail another sign-in code for a flow that asked for an emailed code.
/// Only the latest code works. A code can be asked for once per cooldown
/// (`resend_after_secs`), and an account gets at most 10 code mails an
/// hour, sign-in and step-up together.
#[utoipa::path(
    post, path = "/api/v1/signin/{flow_id}/email_code/resend", tag = "signin",
    params(("flow_id" = String, Path, description = "From the `second_step` answer")),
    responses(
        (status = 200, description = "A new code is on its way", body = super::dto::CodeMailedView, content_type = "application/json"),
        (status = 400, description = "The account has two-step verification (no emailed codes), or the server sends no mail", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The flow expired, was used, or belongs to another client", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "A code was sent less than the cooldown ago, or the account's hourly mail budget is spent; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resend_email_code(
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(flow_id): Path<String>,
) -> Result<axum::Json<super::dto::CodeMailedView>, ApiError> {
    let sent = state.core.mail_signin_code(&flow_id, &ctx).await?;
    Ok(axum::Json(sent.into()))
}

/// What a second-step request asks for.
pub enum SecondStepRequest {
    Proof(SecondStepProof),
    /// A WebAuthn challenge to answer with a key.
    KeyChallenge,
    /// A texted code.
    SendCode,
}

/// The challenge a path names; an unknown one is a 404.
pub fn parse_challenge(method: &str) -> Result<Challenge, ApiError> {
    method.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_method",
            format!(
                "There is no second-step method called {method:?}; use totp, webauthn, sms, recovery_key or email_code."
            ),
        )
    })
}

/// Parses the body for a second-step challenge.
pub fn second_step_request(
    challenge: Challenge,
    body: serde_json::Value,
) -> Result<SecondStepRequest, ApiError> {
    let parse = |e: serde_json::Error| {
        ApiError::bad_request(format!(
            "The request body does not fit: {}",
            crate::redact::without_values(&e.to_string())
        ))
    };
    let empty = body.is_null() || body.as_object().is_some_and(|o| o.is_empty());
    match challenge {
        Challenge::Totp => {
            let b: CodeBody = serde_json::from_value(body).map_err(parse)?;
            Ok(SecondStepRequest::Proof(SecondStepProof::Totp(b.code)))
        }
        Challenge::RecoveryKey => {
            let b: RecoveryKeyBody = serde_json::from_value(body).map_err(parse)?;
            Ok(SecondStepRequest::Proof(SecondStepProof::RecoveryKey(
                b.recovery_key,
            )))
        }
        Challenge::Webauthn if empty => Ok(SecondStepRequest::KeyChallenge),
        Challenge::Webauthn => {
            let b: CredentialBody = serde_json::from_value(body).map_err(parse)?;
            Ok(SecondStepRequest::Proof(SecondStepProof::Webauthn(
                b.credential,
            )))
        }
        Challenge::EmailCode => {
            let b: CodeBody = serde_json::from_value(body).map_err(parse)?;
            Ok(SecondStepRequest::Proof(SecondStepProof::EmailCode(b.code)))
        }
        Challenge::Sms if empty => Ok(SecondStepRequest::SendCode),
        Challenge::Sms => {
            let b: CodeBody = serde_json::from_value(body).map_err(parse)?;
            Ok(SecondStepRequest::Proof(SecondStepProof::Sms(b.code)))
        }
    }
}

/// Start signing in with a passkey, without a password. Hand `options` to
/// `navigator.credentials.get` (with `mediation: "conditional"` for
/// autofill), then send the answer to `/api/v1/signin/passkey/finish`.
#[utoipa::path(
    post, path = "/api/v1/signin/passkey/start", tag = "signin",
    request_body = PasskeySigninStart,
    responses((status = 200, description = "The challenge", body = WebauthnOptions))
)]
pub async fn passkey_start(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<PasskeySigninStart>,
) -> Result<axum::Json<WebauthnOptions>, ApiError> {
    let client = match body.client.unwrap_or(ClientKindDto::Mobile) {
        ClientKindDto::Web => ClientKind::Web,
        ClientKindDto::Mobile => ClientKind::Mobile,
    };
    let c = state.core.start_passkey_signin(client, &ctx).await?;
    Ok(axum::Json(WebauthnOptions {
        options: c.options,
        ceremony_id: Some(c.ceremony_id),
    }))
}

/// Finish a passkey sign-in. The session is `aal2` with method `passkey`.
#[utoipa::path(
    post, path = "/api/v1/signin/passkey/finish", tag = "signin",
    request_body = PasskeySigninFinish,
    responses(
        (status = 200, description = "Signed in", body = SigninComplete),
        (status = 400, description = "Malformed answer", body = crate::error::Problem),
        (status = 401, description = "Unknown passkey, a failed check, or an expired or used challenge", body = crate::error::Problem),
        (status = 429, description = "Blocked by the backoff", body = crate::error::Problem),
    )
)]
pub async fn passkey_finish(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    ApiJson(body): ApiJson<PasskeySigninFinish>,
) -> Result<Response, ApiError> {
    let outcome = state
        .core
        .finish_passkey_signin(&body.ceremony_id, body.credential, &ctx)
        .await;
    signin_response(&state, jar, outcome).await
}

/// Create your own account, when the server allows self sign-up.
///
/// A new address and one already registered get the same answer (its
/// owner is told by email), so sign-up does not tell who has an account.
/// Invalid input is refused before the address is looked at.
#[utoipa::path(
    post, path = "/api/v1/signup", tag = "signin",
    request_body = SignupBody,
    responses(
        (status = 202, description = "Accepted; the same answer whether or not the address was taken", body = SignupAccepted),
        (status = 400, description = "Invalid email or password", body = crate::error::Problem),
        (status = 403, description = "Self sign-up is turned off", body = crate::error::Problem),
        (status = 503, description = "Overloaded: password hashing is busy; see Retry-After", body = crate::error::Problem),
    )
)]
pub async fn sign_up(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<SignupBody>,
) -> Result<(StatusCode, axum::Json<SignupAccepted>), ApiError> {
    state
        .core
        .sign_up(
            &body.email,
            &body.display_name,
            Password::new(body.password),
            &ctx,
        )
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(SignupAccepted::ANSWER)))
}
