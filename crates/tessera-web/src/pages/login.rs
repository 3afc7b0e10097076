//! The sign-in page and signing out.

use super::{PageSession, check_csrf, error_page, render};
use crate::client::Client;
use crate::cookies;
use crate::csrf::form_token;
use crate::metrics::signin_outcome;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::password::Password;
use tessera_core::service::{SecondStepProof, SigninOutcome, SigninRequest};
use tessera_core::session::ClientKind;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    session: Option<PageSession>,
) -> Response {
    if session.is_some() {
        return Redirect::to("/security").into_response();
    }
    let (jar, csrf) = form_token(&state, jar);
    let page = LoginPage {
        csrf: &csrf,
        email: "",
        error: None,
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    email: String,
    password: String,
}

pub async fn submit(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(r) = check_csrf(&state, &jar, &form.csrf) {
        return r;
    }
    let req = SigninRequest {
        email: form.email.clone(),
        password: Password::new(form.password),
        client: ClientKind::Web,
    };
    let outcome = state.core.sign_in(req, &ctx).await;
    match outcome {
        Ok(SigninOutcome::Complete { issued, .. }) => {
            signin_outcome("success");
            let next = if issued.session.restricted {
                "/security/two-step/required"
            } else {
                "/security"
            };
            let jar = jar.add(cookies::build(&state.web, cookies::SESSION, issued.token));
            (jar, Redirect::to(next)).into_response()
        }
        Ok(SigninOutcome::SecondStep { flow_id, .. }) => {
            signin_outcome("second_step");
            // The flow id is a secret: it travels in an HttpOnly cookie,
            // never in a URL.
            let jar = jar.add(cookies::build(&state.web, cookies::FLOW, flow_id));
            (jar, Redirect::to("/login/verify")).into_response()
        }
        Err(e @ (CoreError::BadCredentials | CoreError::Forbidden(_))) => {
            signin_outcome("failure");
            let (jar, csrf) = form_token(&state, jar);
            let msg = e.to_string();
            let page = LoginPage {
                csrf: &csrf,
                email: &form.email,
                error: Some(&msg),
            };
            (jar, render(crate::error::status_of(&e), &page)).into_response()
        }
        Err(e) => {
            if matches!(e, CoreError::Overloaded { .. }) {
                signin_outcome("overloaded");
            }
            error_page(&e)
        }
    }
}

#[derive(Template)]
#[template(path = "login_verify.html")]
pub(crate) struct VerifyPage<'a> {
    pub csrf: &'a str,
    pub action: &'a str,
    pub method: &'a str,
    pub allow_recovery: bool,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct MethodQuery {
    method: Option<String>,
}

fn method_of(q: Option<&str>) -> &'static str {
    match q {
        Some("recovery_key") => "recovery_key",
        _ => "totp",
    }
}

/// The second-step page of a sign-in.
pub async fn show_verify(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<MethodQuery>,
) -> Response {
    if jar.get(&cookies::name(&state.web, cookies::FLOW)).is_none() {
        return Redirect::to("/login").into_response();
    }
    let (jar, csrf) = form_token(&state, jar);
    let page = VerifyPage {
        csrf: &csrf,
        action: "/login/verify",
        method: method_of(q.method.as_deref()),
        allow_recovery: true,
        error: None,
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: String,
    method: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_key: String,
}

impl VerifyForm {
    pub(crate) fn proof(&self) -> SecondStepProof {
        if self.method == "recovery_key" {
            SecondStepProof::RecoveryKey(self.recovery_key.clone())
        } else {
            SecondStepProof::Totp(self.code.clone())
        }
    }
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }
    pub(crate) fn method(&self) -> &'static str {
        method_of(Some(&self.method))
    }
}

pub async fn submit_verify(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    Form(form): Form<VerifyForm>,
) -> Response {
    if let Err(r) = check_csrf(&state, &jar, form.csrf()) {
        return r;
    }
    let Some(flow) = jar
        .get(&cookies::name(&state.web, cookies::FLOW))
        .map(|c| c.value().to_string())
    else {
        return Redirect::to("/login").into_response();
    };
    match state.core.continue_sign_in(&flow, form.proof(), &ctx).await {
        Ok(SigninOutcome::Complete {
            issued,
            new_recovery_key,
            ..
        }) => {
            signin_outcome("success");
            let jar = jar
                .add(cookies::build(&state.web, cookies::SESSION, issued.token))
                .add(cookies::removal(&state.web, cookies::FLOW));
            match new_recovery_key {
                Some(key) => (
                    jar,
                    super::twostep::recovery_key_page(
                        "Your new emergency recovery key",
                        &key,
                        "/security",
                    ),
                )
                    .into_response(),
                None => (jar, Redirect::to("/security")).into_response(),
            }
        }
        Ok(SigninOutcome::SecondStep { .. }) => Redirect::to("/login").into_response(),
        Err(CoreError::FlowExpired) => {
            let jar = jar.add(cookies::removal(&state.web, cookies::FLOW));
            let (jar, csrf) = form_token(&state, jar);
            let msg = CoreError::FlowExpired.to_string();
            let page = LoginPage {
                csrf: &csrf,
                email: "",
                error: Some(&msg),
            };
            (jar, render(StatusCode::UNAUTHORIZED, &page)).into_response()
        }
        Err(e @ CoreError::WrongProof(_)) => {
            signin_outcome("failure");
            state.core.audit_second_step_failure(&flow, &ctx).await;
            let (jar, csrf) = form_token(&state, jar);
            let page = VerifyPage {
                csrf: &csrf,
                action: "/login/verify",
                method: form.method(),
                allow_recovery: true,
                error: Some(e.to_string()),
            };
            (jar, render(StatusCode::UNAUTHORIZED, &page)).into_response()
        }
        Err(e) => error_page(&e),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    pub csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    session: Option<PageSession>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = check_csrf(&state, &jar, &form.csrf) {
        return r;
    }
    if let Some(PageSession(who)) = session
        && let Err(e) = state.core.end_my_session(&who, who.session.id, &ctx).await
    {
        return error_page(&e);
    }
    let jar = jar.add(cookies::removal(&state.web, cookies::SESSION));
    (jar, Redirect::to("/login")).into_response()
}
