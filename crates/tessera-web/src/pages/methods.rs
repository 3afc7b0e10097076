//! Security page actions for the methods beyond the authenticator app:
//! renaming and removing keys and passkeys, adding and removing the phone
//! number for text messages, and removing the authenticator app. (Keys
//! are registered by the page's script through the JSON API, since the
//! browser's WebAuthn calls need script.)

use super::login::CsrfOnly;
use super::security::page;
use super::twostep::recovery_key_page;
use super::{PageAccess, PageSession, error_page, render};
use crate::access::Via;
use crate::client::Client;
use crate::csrf::{CsrfForm, form_token, has_csrf};
use crate::session_out::hand_over;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::service::{Access, Authenticated};

/// A refused action goes back to the Security page with the reason, or
/// to step-up when it needs a fresh verification.
async fn refused(state: &AppState, jar: CookieJar, who: &Authenticated, e: CoreError) -> Response {
    match e {
        CoreError::StepUpRequired(_) => Redirect::to("/security/verify").into_response(),
        CoreError::Invalid(_) | CoreError::NotFound(_) | CoreError::Conflict(_) => {
            let status = crate::error::status_of(&e);
            page(state, jar, who, status, None, Some(e.to_string())).await
        }
        other => error_page(&other),
    }
}

/// [`refused`] for enrollment actions: a session that may only enroll has
/// no Security page to go back to.
async fn refused_any(state: &AppState, jar: CookieJar, who: &Access, e: CoreError) -> Response {
    match who {
        Access::Full(who) => refused(state, jar, who, e).await,
        Access::Restricted(_) => match e {
            CoreError::StepUpRequired(_) => Redirect::to("/security/verify").into_response(),
            other => error_page(&other),
        },
    }
}

/// Back to the Security page with `notice` when the action worked.
async fn done(
    state: &AppState,
    jar: CookieJar,
    who: &Authenticated,
    result: Result<(), CoreError>,
    notice: &str,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/security?notice={notice}")).into_response(),
        Err(e) => refused(state, jar, who, e).await,
    }
}

#[derive(Deserialize)]
pub struct RenameForm {
    csrf: String,
    name: String,
}

pub async fn rename_key(
    State(state): State<AppState>,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<RenameForm>,
) -> Response {
    let Ok(id) = id.parse() else {
        return refused(&state, jar, &who, CoreError::NotFound("key")).await;
    };
    let result = state.core.rename_key(&who, id, &form.name).await;
    done(&state, jar, &who, result, "key-renamed").await
}

pub async fn remove_key(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    let Ok(id) = id.parse() else {
        return refused(&state, jar, &who, CoreError::NotFound("key")).await;
    };
    let result = state.core.remove_key(&who, id, &ctx).await;
    done(&state, jar, &who, result, "method-removed").await
}

pub async fn remove_totp(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    let result = state.core.remove_totp(&who, &ctx).await;
    done(&state, jar, &who, result, "method-removed").await
}

pub async fn remove_sms(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    let result = state.core.remove_sms(&who, &ctx).await;
    done(&state, jar, &who, result, "method-removed").await
}

#[derive(Template)]
#[template(path = "sms_confirm.html")]
struct ConfirmPage<'a> {
    csrf: &'a str,
    notice: Option<String>,
    error: Option<String>,
}

fn confirm_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let (jar, csrf) = form_token(state, jar);
    let page = ConfirmPage {
        csrf: &csrf,
        notice,
        error,
    };
    (jar, render(status, &page)).into_response()
}

#[derive(Deserialize)]
pub struct PhoneForm {
    csrf: String,
    phone: String,
}

pub async fn start_sms(
    State(state): State<AppState>,
    jar: CookieJar,
    PageAccess(who): PageAccess,
    CsrfForm(form): CsrfForm<PhoneForm>,
) -> Response {
    match state.core.start_sms_enrollment(&who, &form.phone).await {
        Ok(sent) => confirm_page(
            &state,
            jar,
            StatusCode::OK,
            Some(format!(
                "We texted a code to {}. It works for 10 minutes.",
                sent.phone_masked
            )),
            None,
        ),
        Err(e @ CoreError::RateLimited { .. }) => confirm_page(
            &state,
            jar,
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(format!("A code was sent moments ago. {e}")),
        ),
        Err(e) => refused_any(&state, jar, &who, e).await,
    }
}

pub async fn resend_sms(
    State(state): State<AppState>,
    jar: CookieJar,
    PageAccess(who): PageAccess,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    match state.core.resend_sms_enrollment(&who).await {
        Ok(sent) => confirm_page(
            &state,
            jar,
            StatusCode::OK,
            Some(format!("We texted a new code to {}.", sent.phone_masked)),
            None,
        ),
        Err(e @ CoreError::RateLimited { .. }) => confirm_page(
            &state,
            jar,
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(format!("A code was sent moments ago. {e}")),
        ),
        Err(e) => refused_any(&state, jar, &who, e).await,
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
}

has_csrf!(RenameForm, PhoneForm, CodeForm);

pub async fn confirm_sms(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageAccess(who): PageAccess,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.core.confirm_sms(&who, &form.code, &ctx).await {
        Ok(done) => {
            let jar = hand_over(&state.web, jar, Via::Cookie, done.issued).jar;
            let key = done.recovery_key.unwrap_or_default();
            (
                jar,
                recovery_key_page(
                    "Save your emergency recovery key",
                    &key,
                    "/security?notice=two-step-on",
                ),
            )
                .into_response()
        }
        Err(e @ CoreError::WrongProof(_)) => confirm_page(
            &state,
            jar,
            StatusCode::UNAUTHORIZED,
            None,
            Some(e.to_string()),
        ),
        Err(e @ CoreError::RateLimited { .. }) => error_page(&e),
        Err(e) => refused_any(&state, jar, &who, e).await,
    }
}
