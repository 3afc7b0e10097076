//! The document's view of the two routes that take a second-step method in
//! their path, `POST /api/v1/signin/{flow_id}/{method}` and
//! `POST /api/v1/step-up/{method}`: one operation per method, each with
//! the body that method takes and the answers it gives. Written as one
//! `{method}` operation, the document could only say "one of these bodies"
//! and a client could not tell which body goes with which method.
//!
//! The functions here are never called: they carry the `#[utoipa::path]`
//! attributes. The routes themselves are `signin::continue_sign_in` and
//! `twostep::step_up`, and the access table lists them by their template
//! (see [`crate::access::needs_of_documented`]).

#![allow(dead_code)]

use super::dto::{
    CodeBody, CodeSentView, CredentialBody, PasswordBody, RecoveryKeyBody, SigninComplete,
    TwoStepChanged, WebauthnOptions,
};
use crate::error::Problem;
use serde::Deserialize;
use std::borrow::Cow;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// `{}`: ask for a WebAuthn challenge, or for a texted code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

/// A code at sign-in, with the mobile client's device token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninCodeBody {
    /// The 6-digit code from the authenticator app, the text message or
    /// the email, as the method says.
    pub code: String,
    /// Mobile clients: the `device_token` an earlier sign-in returned.
    pub device_token: Option<String>,
}

/// A recovery key at sign-in, with the mobile client's device token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninRecoveryKeyBody {
    pub recovery_key: String,
    /// Mobile clients: the `device_token` an earlier sign-in returned.
    pub device_token: Option<String>,
}

/// A key's answer at sign-in, with the mobile client's device token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninCredentialBody {
    /// The browser's `PublicKeyCredential`, binary fields in base64url.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// Mobile clients: the `device_token` an earlier sign-in returned.
    pub device_token: Option<String>,
}

/// `{}` at sign-in, with the mobile client's device token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninEmptyBody {
    /// Mobile clients: the `device_token` an earlier sign-in returned.
    pub device_token: Option<String>,
}

/// Either body of a method that first sends something (a challenge, a
/// text message) and then takes the answer.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SigninKeyBody {
    Challenge(SigninEmptyBody),
    Answer(SigninCredentialBody),
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SigninSmsBody {
    SendCode(SigninEmptyBody),
    Code(SigninCodeBody),
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StepUpKeyBody {
    Challenge(EmptyBody),
    Answer(CredentialBody),
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StepUpSmsBody {
    SendCode(EmptyBody),
    Code(CodeBody),
}

/// An answer that is one of two shapes which a validator could not tell
/// apart by `oneOf` (every field of [`TwoStepChanged`] is optional), so
/// `anyOf`.
macro_rules! any_of {
    ($(#[$doc:meta])* $name:ident: $($part:literal),+) => {
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let mut b = AnyOfBuilder::new();
                $(b = b.item(Ref::from_schema_name($part));)+
                RefOr::T(Schema::AnyOf(b.build()))
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

any_of!(
    /// `{}` gets the challenge; the key's answer gets the verification.
    StepUpKeyAnswer: "WebauthnOptions", "TwoStepChanged"
);
any_of!(
    /// `{}` gets `code_sent`; the code gets the verification.
    StepUpSmsAnswer: "CodeSentView", "TwoStepChanged"
);

// ----- Finishing a sign-in -------------------------------------------

/// Finish a sign-in with a code from the authenticator app. Wrong codes
/// count towards the backoff.
#[utoipa::path(
    post, path = "/api/v1/signin/{flow_id}/totp", tag = "signin",
    params(("flow_id" = String, Path, description = "From the `second_step` answer")),
    request_body = SigninCodeBody,
    responses(
        (status = 200, description = "Signed in (`complete`)", body = SigninComplete),
        (status = 400, description = "The account has no authenticator app", body = Problem),
        (status = 401, description = "Wrong code, or the flow expired, was used or is unknown", body = Problem),
        (status = 429, description = "Blocked by the backoff; see Retry-After", body = Problem),
    )
)]
fn signin_totp() {}

/// Finish a sign-in with the emergency recovery key. The key is used up;
/// the answer carries `new_recovery_key`, shown once.
#[utoipa::path(
    post, path = "/api/v1/signin/{flow_id}/recovery_key", tag = "signin",
    params(("flow_id" = String, Path, description = "From the `second_step` answer")),
    request_body = SigninRecoveryKeyBody,
    responses(
        (status = 200, description = "Signed in (`complete`, with `new_recovery_key`)", body = SigninComplete),
        (status = 400, description = "The account has no two-step verification", body = Problem),
        (status = 401, description = "Wrong key, or the flow expired, was used or is unknown", body = Problem),
        (status = 429, description = "Blocked by the backoff; see Retry-After", body = Problem),
        (status = 503, description = "Overloaded; see Retry-After", body = Problem),
    )
)]
fn signin_recovery_key() {}

/// Finish a sign-in with the code mailed when the sign-in answered
/// `second_step` with `methods: ["email_code"]`. The session is then
/// `aal1` with methods `password` and `email_code`, and the device
/// becomes known.
#[utoipa::path(
    post, path = "/api/v1/signin/{flow_id}/email_code", tag = "signin",
    params(("flow_id" = String, Path, description = "From the `second_step` answer")),
    request_body = SigninCodeBody,
    responses(
        (status = 200, description = "Signed in (`complete`)", body = SigninComplete),
        (status = 400, description = "The flow asked for another method", body = Problem),
        (status = 401, description = "Wrong code, or the flow expired, was used or is unknown", body = Problem),
        (status = 429, description = "Blocked by the backoff; see Retry-After", body = Problem),
    )
)]
fn signin_email_code() {}

/// Finish a sign-in with a security key or passkey: `{}` gets a
/// `challenge` (options for `navigator.credentials.get`), then the key's
/// answer signs in.
#[utoipa::path(
    post, path = "/api/v1/signin/{flow_id}/webauthn", tag = "signin",
    params(("flow_id" = String, Path, description = "From the `second_step` answer")),
    request_body = SigninKeyBody,
    responses(
        (status = 200, description = "A `challenge` to answer, or signed in (`complete`)", body = SigninComplete),
        (status = 400, description = "The account has no keys, or the answer is malformed", body = Problem),
        (status = 401, description = "The answer failed its checks, or the flow expired, was used or is unknown", body = Problem),
        (status = 429, description = "Blocked by the backoff; see Retry-After", body = Problem),
    )
)]
fn signin_webauthn() {}

/// Finish a sign-in with a texted code: `{}` texts one (`code_sent`;
/// again after the cooldown), then the code signs in.
#[utoipa::path(
    post, path = "/api/v1/signin/{flow_id}/sms", tag = "signin",
    params(("flow_id" = String, Path, description = "From the `second_step` answer")),
    request_body = SigninSmsBody,
    responses(
        (status = 200, description = "`code_sent`, or signed in (`complete`)", body = SigninComplete),
        (status = 400, description = "The account has no phone number", body = Problem),
        (status = 401, description = "Wrong or expired code, or the flow expired, was used or is unknown", body = Problem),
        (status = 429, description = "Blocked by the backoff, or a code was sent too recently; see Retry-After", body = Problem),
    )
)]
fn signin_sms() {}

// ----- Step-up ---------------------------------------------------------

/// Verify again with your password. Accepted only while two-step
/// verification is off and the server sends no mail
/// (`email.provider = none`). The session gets a new token.
#[utoipa::path(
    post, path = "/api/v1/step-up/password", tag = "me",
    request_body = PasswordBody,
    responses(
        (status = 200, description = "Verified: `verified_at` refreshed", body = TwoStepChanged),
        (status = 401, description = "Wrong password, or no session", body = Problem),
        (status = 403, description = "Two-step verification is on, the server mails codes (step up with `email_code`), or an API token", body = Problem),
        (status = 429, description = "Blocked by the backoff; see Retry-After", body = Problem),
        (status = 503, description = "Overloaded; see Retry-After", body = Problem),
    )
)]
fn step_up_password() {}

/// Verify again with a code from the authenticator app.
#[utoipa::path(
    post, path = "/api/v1/step-up/totp", tag = "me",
    request_body = CodeBody,
    responses(
        (status = 200, description = "Verified: `verified_at` refreshed", body = TwoStepChanged),
        (status = 400, description = "Two-step verification is off, or there is no authenticator app", body = Problem),
        (status = 401, description = "Wrong code, or no session", body = Problem),
        (status = 403, description = "An API token", body = Problem),
        (status = 429, description = "Blocked by the backoff; see Retry-After", body = Problem),
    )
)]
fn step_up_totp() {}

/// Verify again with the emergency recovery key. It is used up; the
/// answer carries `new_recovery_key`, shown once.
#[utoipa::path(
    post, path = "/api/v1/step-up/recovery_key", tag = "me",
    request_body = RecoveryKeyBody,
    responses(
        (status = 200, description = "Verified, with `new_recovery_key`", body = TwoStepChanged),
        (status = 400, description = "Two-step verification is off", body = Problem),
        (status = 401, description = "Wrong key, or no session", body = Problem),
        (status = 403, description = "An API token", body = Problem),
        (status = 429, description = "Blocked by the backoff; see Retry-After", body = Problem),
        (status = 503, description = "Overloaded; see Retry-After", body = Problem),
    )
)]
fn step_up_recovery_key() {}

/// Verify again with the code mailed by
/// `POST /api/v1/step-up/email_code/send` (accounts without two-step
/// verification).
#[utoipa::path(
    post, path = "/api/v1/step-up/email_code", tag = "me",
    request_body = CodeBody,
    responses(
        (status = 200, description = "Verified: `verified_at` refreshed", body = TwoStepChanged),
        (status = 400, description = "The server sends no mail", body = Problem),
        (status = 401, description = "Wrong or expired code, or no session", body = Problem),
        (status = 403, description = "Two-step verification is on (step up with a method), or an API token", body = Problem),
        (status = 429, description = "Blocked by the backoff; see Retry-After", body = Problem),
    )
)]
fn step_up_email_code() {}

/// Verify again with a security key or passkey: `{}` gets the options for
/// `navigator.credentials.get`, then the key's answer verifies.
#[utoipa::path(
    post, path = "/api/v1/step-up/webauthn", tag = "me",
    request_body = StepUpKeyBody,
    responses(
        (status = 200, description = "The challenge, or verified", body = StepUpKeyAnswer),
        (status = 400, description = "Two-step verification is off, there are no keys, or the answer is malformed", body = Problem),
        (status = 401, description = "The answer failed its checks, or no session", body = Problem),
        (status = 403, description = "An API token", body = Problem),
        (status = 429, description = "Blocked by the backoff; see Retry-After", body = Problem),
    )
)]
fn step_up_webauthn() {}

/// Verify again with a texted code: `{}` texts one, then the code
/// verifies.
#[utoipa::path(
    post, path = "/api/v1/step-up/sms", tag = "me",
    request_body = StepUpSmsBody,
    responses(
        (status = 200, description = "`code_sent`, or verified", body = StepUpSmsAnswer),
        (status = 400, description = "Two-step verification is off, or there is no phone number", body = Problem),
        (status = 401, description = "Wrong or expired code, or no session", body = Problem),
        (status = 403, description = "An API token", body = Problem),
        (status = 429, description = "Blocked by the backoff, or a code was sent too recently; see Retry-After", body = Problem),
    )
)]
fn step_up_sms() {}

/// The operations above, for the API's `#[openapi(paths(…))]`.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        signin_totp,
        signin_recovery_key,
        signin_email_code,
        signin_webauthn,
        signin_sms,
        step_up_password,
        step_up_totp,
        step_up_recovery_key,
        step_up_email_code,
        step_up_webauthn,
        step_up_sms,
    ),
    components(schemas(StepUpKeyAnswer, StepUpSmsAnswer, WebauthnOptions, CodeSentView))
)]
pub struct PerMethodDoc;
