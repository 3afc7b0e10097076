//! The Security page's two-step verification actions and the step-up page.

use super::login::{CsrfOnly, MethodQuery, VerifyForm, VerifyPage};
use super::{PageAccess, PageSession, error_page, render};
use crate::access::Via;
use crate::client::Client;
use crate::csrf::{CsrfForm, HasCsrf, form_token, has_csrf};
use crate::session_out::hand_over;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::password::Password;
use tessera_core::service::{Access, StepUpProof};
use tessera_core::twostep::methods::Challenge;

#[derive(Template)]
#[template(path = "recovery_key.html")]
struct RecoveryKeyPage<'a> {
    heading: &'a str,
    key: &'a str,
    next: &'a str,
}

/// Shows a recovery key once, with copy, download and print.
pub fn recovery_key_page(heading: &str, key: &str, next: &str) -> Response {
    render(StatusCode::OK, &RecoveryKeyPage { heading, key, next })
}

#[derive(Template)]
#[template(path = "twostep_setup.html")]
struct SetupPage<'a> {
    csrf: &'a str,
    secret: &'a str,
    qr_svg: &'a str,
    restricted: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "stepup_password.html")]
struct StepUpPasswordPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<String>,
}

/// Where a step-up leads: back to the Security page, or, for a session
/// that may only enroll, to enrolling.
fn after_step_up(who: &Access) -> &'static str {
    match who {
        Access::Full(_) => "/security?notice=verified",
        Access::Restricted(_) => "/security/two-step/required",
    }
}

/// Where a security action goes when it needs a fresh verification.
fn needs_step_up(e: &CoreError) -> bool {
    matches!(e, CoreError::StepUpRequired(_))
}

async fn setup_page(
    state: &AppState,
    jar: CookieJar,
    who: &Access,
    error: Option<String>,
) -> Response {
    match state.core.start_totp_enrollment(who).await {
        Ok(e) => {
            let (jar, csrf) = form_token(state, jar);
            let page = SetupPage {
                csrf: &csrf,
                secret: &e.secret,
                qr_svg: &e.qr_svg,
                restricted: who.session().restricted,
                error,
            };
            let status = if page.error.is_some() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            };
            (jar, render(status, &page)).into_response()
        }
        Err(e) if needs_step_up(&e) => Redirect::to("/security/verify").into_response(),
        Err(e) => error_page(&e),
    }
}

#[derive(Template)]
#[template(path = "twostep_required.html")]
struct RequiredPage<'a> {
    csrf: &'a str,
}

/// Restricted sessions land here: enrolling is the only way forward. The
/// page offers the methods and creates nothing; starting one is a POST.
pub async fn required(
    State(state): State<AppState>,
    jar: CookieJar,
    PageAccess(who): PageAccess,
) -> Response {
    if !who.session().restricted {
        return Redirect::to("/security").into_response();
    }
    let (jar, csrf) = form_token(&state, jar);
    (jar, render(StatusCode::OK, &RequiredPage { csrf: &csrf })).into_response()
}

pub async fn setup(
    State(state): State<AppState>,
    jar: CookieJar,
    PageAccess(who): PageAccess,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    setup_page(&state, jar, &who, None).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageAccess(who): PageAccess,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.core.confirm_totp(&who, &form.code, &ctx).await {
        Ok(done) => {
            let jar = hand_over(&state.web, jar, Via::Cookie, done.issued).jar;
            match done.recovery_key {
                Some(key) => {
                    // An application waiting for this enrollment (its
                    // return cookie) comes after the key is saved.
                    let (jar, next) = match super::return_path(&state.web, &jar) {
                        Some(_) => super::landing(&state.web, jar),
                        None => (jar, "/security?notice=two-step-on".to_string()),
                    };
                    (
                        jar,
                        recovery_key_page("Save your emergency recovery key", &key, &next),
                    )
                        .into_response()
                }
                None => (jar, Redirect::to("/security?notice=app-changed")).into_response(),
            }
        }
        // A wrong code gets a fresh secret to scan: the old pending one was
        // shown already and a new page must not reuse it silently.
        Err(e @ CoreError::WrongProof(_)) => {
            setup_page(&state, jar, &who, Some(e.to_string())).await
        }
        Err(e) => error_page(&e),
    }
}

pub async fn new_recovery_key(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageSession(who): PageSession,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    match state.core.new_recovery_key(&who, &ctx).await {
        Ok(key) => recovery_key_page("Your new emergency recovery key", &key, "/security"),
        Err(e) if needs_step_up(&e) => Redirect::to("/security/verify").into_response(),
        Err(e) => error_page(&e),
    }
}

pub async fn disable(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageSession(who): PageSession,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    match state.core.disable_two_step(&who, &ctx).await {
        Ok(()) => Redirect::to("/security?notice=two-step-off").into_response(),
        Err(e) if needs_step_up(&e) => Redirect::to("/security/verify").into_response(),
        Err(e) => error_page(&e),
    }
}

async fn step_up_page(
    state: &AppState,
    jar: CookieJar,
    who: &Access,
    method: Option<Challenge>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    step_up_page_with(state, jar, who, method, (false, None), error, status).await
}

async fn step_up_page_with(
    state: &AppState,
    jar: CookieJar,
    who: &Access,
    method: Option<Challenge>,
    (code_sent, notice): (bool, Option<String>),
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let mut methods = match state.core.methods(who.account()).await {
        Ok(inv) => inv.challenges(),
        Err(e) => return error_page(&e),
    };
    // Without two-step verification: an emailed code, unless the server
    // sends no mail (then the password).
    if methods.is_empty() && state.core.config.email_codes.step_up_by_code() {
        methods.push(Challenge::EmailCode);
    }
    let (jar, csrf) = form_token(state, jar);
    if !methods.is_empty() {
        let mut page = VerifyPage::new(
            "Verify it's you",
            &csrf,
            "/security/verify",
            "/api/v1/step-up/webauthn",
            &methods,
            method,
        );
        page.next = after_step_up(who);
        page.code_sent = code_sent;
        page.notice = notice;
        page.error = error;
        (jar, render(status, &page)).into_response()
    } else {
        let page = StepUpPasswordPage {
            csrf: &csrf,
            email: who.account().email.as_str(),
            error,
        };
        (jar, render(status, &page)).into_response()
    }
}

pub async fn show_step_up(
    State(state): State<AppState>,
    jar: CookieJar,
    PageAccess(who): PageAccess,
    axum::extract::Query(q): axum::extract::Query<MethodQuery>,
) -> Response {
    step_up_page(&state, jar, &who, q.method, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct StepUpForm {
    #[serde(flatten)]
    second: VerifyForm,
    #[serde(default)]
    password: String,
}

has_csrf!(CodeForm);

impl HasCsrf for StepUpForm {
    fn csrf(&self) -> &str {
        self.second.csrf()
    }
}

pub async fn submit_step_up(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageAccess(who): PageAccess,
    CsrfForm(form): CsrfForm<StepUpForm>,
) -> Response {
    if form.second.wants_code() {
        let method = form.second.method();
        let sent = if method == Some(Challenge::EmailCode) {
            state
                .core
                .mail_step_up_code(&who)
                .await
                .map(|_| "We emailed you a code. It works for 10 minutes.".to_string())
        } else {
            state.core.send_step_up_sms(&who).await.map(|sent| {
                format!(
                    "We texted a code to {}. It works for 10 minutes.",
                    sent.phone_masked
                )
            })
        };
        return match sent {
            Ok(notice) => {
                step_up_page_with(
                    &state,
                    jar,
                    &who,
                    method,
                    (true, Some(notice)),
                    None,
                    StatusCode::OK,
                )
                .await
            }
            Err(e @ CoreError::RateLimited { .. }) => {
                step_up_page_with(
                    &state,
                    jar,
                    &who,
                    method,
                    (true, None),
                    Some(format!("A code was sent moments ago. {e}")),
                    StatusCode::TOO_MANY_REQUESTS,
                )
                .await
            }
            Err(e) => error_page(&e),
        };
    }
    let is_password = !form.password.is_empty();
    let proof = if is_password {
        StepUpProof::Password(Password::new(form.password))
    } else {
        StepUpProof::SecondStep(form.second.proof())
    };
    match state.core.step_up(&who, proof, &ctx).await {
        Ok(done) => {
            let jar = hand_over(&state.web, jar, Via::Cookie, done.issued).jar;
            // An application waiting for this verification comes first
            // (its return cookie), else the page the user came from.
            let (jar, next) = match (&who, super::return_path(&state.web, &jar)) {
                (Access::Full(_), Some(_)) => super::landing(&state.web, jar),
                _ => (jar, after_step_up(&who).to_string()),
            };
            match done.new_recovery_key {
                Some(key) => (
                    jar,
                    recovery_key_page("Your new emergency recovery key", &key, &next),
                )
                    .into_response(),
                None => (jar, Redirect::to(&next)).into_response(),
            }
        }
        Err(e @ (CoreError::WrongProof(_) | CoreError::Forbidden(_) | CoreError::Invalid(_))) => {
            let status = crate::error::status_of(&e);
            let method = if is_password {
                None
            } else {
                form.second.method()
            };
            let sent = !is_password && form.second.code_was_sent();
            step_up_page_with(
                &state,
                jar,
                &who,
                method,
                (sent, None),
                Some(e.to_string()),
                status,
            )
            .await
        }
        Err(e) => error_page(&e),
    }
}
