//! The sign-in page and signing out.

use super::{PageAccess, error_page, render};
use crate::access::Via;
use crate::client::Client;
use crate::cookies;
use crate::csrf::{CsrfForm, form_token, has_csrf};
use crate::metrics::signin_outcome;
use crate::session_out::hand_over;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::password::Password;
use tessera_core::service::{SecondStepProof, SigninOutcome, SigninRequest};
use tessera_core::session::ClientKind;
use tessera_core::twostep::methods::Challenge;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    /// Where a passkey sign-in (finished by the page's script, outside
    /// the form) goes: the invitation that sent the visitor, if any.
    next: String,
}

/// Where the page's passkey button goes once signed in: the invitation
/// that sent the visitor here, else the Security page.
fn passkey_next(state: &AppState, jar: &CookieJar) -> String {
    super::return_path(&state.web, jar).unwrap_or_else(|| "/security".to_string())
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    session: Option<PageAccess>,
) -> Response {
    if session.is_some() {
        return Redirect::to("/").into_response();
    }
    let (jar, csrf) = form_token(&state, jar);
    let page = LoginPage {
        next: passkey_next(&state, &jar),
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
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Response {
    let req = SigninRequest {
        email: form.email.clone(),
        password: Password::new(form.password),
        client: ClientKind::Web,
    };
    let outcome = state.core.sign_in(req, &ctx).await;
    match outcome {
        Ok(SigninOutcome::Complete { issued, .. }) => {
            signin_outcome("success");
            let (jar, next) = if issued.session.restricted {
                (jar, "/security/two-step/required".to_string())
            } else {
                super::landing(&state.web, jar)
            };
            let jar = hand_over(&state.web, jar, Via::Cookie, issued).jar;
            (jar, Redirect::to(&next)).into_response()
        }
        Ok(SigninOutcome::SecondStep { flow_id, .. }) => {
            signin_outcome("second_step");
            // The flow id is a secret: it travels in an HttpOnly cookie,
            // never in a URL.
            let jar = jar.add(cookies::build(&state.web, cookies::FLOW, flow_id));
            (jar, Redirect::to("/login/verify")).into_response()
        }
        Err(
            e @ (CoreError::BadCredentials
            | CoreError::Forbidden(_)
            | CoreError::RateLimited { .. }),
        ) => {
            signin_outcome(if let CoreError::RateLimited { .. } = e {
                "rate_limited"
            } else {
                "failure"
            });
            let (jar, csrf) = form_token(&state, jar);
            let msg = e.to_string();
            let page = LoginPage {
                next: passkey_next(&state, &jar),
                csrf: &csrf,
                email: &form.email,
                error: Some(&msg),
            };
            let mut res = (jar, render(crate::error::status_of(&e), &page)).into_response();
            if let CoreError::RateLimited { retry_after } = e {
                let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                res.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(secs),
                );
            }
            res
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
    pub heading: &'a str,
    pub csrf: &'a str,
    pub action: &'a str,
    /// The challenge this page asks for.
    pub method: Challenge,
    /// The other challenges, with words for people.
    pub others: Vec<(Challenge, &'static str)>,
    /// Where the key button sends its JSON requests.
    pub key_url: &'a str,
    /// Where to go once verified.
    pub next: &'a str,
    pub code_sent: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl<'a> VerifyPage<'a> {
    /// The page for `method` (or the first available one) among `methods`.
    pub(crate) fn new(
        heading: &'a str,
        csrf: &'a str,
        action: &'a str,
        key_url: &'a str,
        methods: &[Challenge],
        method: Option<Challenge>,
    ) -> Self {
        let chosen = method
            .filter(|m| methods.contains(m))
            .or_else(|| methods.first().copied())
            .unwrap_or(Challenge::Totp);
        VerifyPage {
            heading,
            csrf,
            action,
            method: chosen,
            others: methods
                .iter()
                .filter(|m| **m != chosen)
                .map(|m| (*m, method_label(*m)))
                .collect(),
            key_url,
            next: "/security",
            code_sent: false,
            notice: None,
            error: None,
        }
    }
}

/// How a challenge is offered on the "use another method" list.
fn method_label(method: Challenge) -> &'static str {
    match method {
        Challenge::Webauthn => "Use a security key or passkey",
        Challenge::Totp => "Use a code from your authenticator app",
        Challenge::Sms => "Get a code by text message",
        Challenge::RecoveryKey => "Use your emergency recovery key",
        Challenge::EmailCode => "Get a code by email",
    }
}

/// A page's or form's method, parsed once. An unknown one is `None`, which
/// the page treats as no choice (the first method) and a form as a code
/// from the app.
pub(crate) fn lenient_challenge<'de, D>(d: D) -> Result<Option<Challenge>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = Option::<String>::deserialize(d)?;
    Ok(text.and_then(|t| t.parse().ok()))
}

#[derive(Deserialize)]
pub struct MethodQuery {
    #[serde(default, deserialize_with = "lenient_challenge")]
    pub(crate) method: Option<Challenge>,
}

fn flow_of(state: &AppState, jar: &CookieJar) -> Option<String> {
    jar.get(&cookies::name(&state.web, cookies::FLOW))
        .map(|c| c.value().to_string())
}

/// The sign-in page again, saying the flow is over.
fn flow_expired(state: &AppState, jar: CookieJar) -> Response {
    let jar = jar.add(cookies::removal(&state.web, cookies::FLOW));
    let (jar, csrf) = form_token(state, jar);
    let msg = CoreError::FlowExpired.to_string();
    let page = LoginPage {
        next: passkey_next(state, &jar),
        csrf: &csrf,
        email: "",
        error: Some(&msg),
    };
    (jar, render(StatusCode::UNAUTHORIZED, &page)).into_response()
}

/// The sign-in's second page: a second step, or the emailed code of an
/// account without two-step verification.
fn heading_for(methods: &[Challenge]) -> &'static str {
    if methods == [Challenge::EmailCode] {
        "Check your email"
    } else {
        "Two-step verification"
    }
}

/// The second-step page of a sign-in, for one method at a time.
pub async fn show_verify(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    Query(q): Query<MethodQuery>,
) -> Response {
    let Some(flow) = flow_of(&state, &jar) else {
        return Redirect::to("/login").into_response();
    };
    let methods = match state.core.flow_methods(&flow, &ctx).await {
        Ok(m) => m,
        Err(CoreError::FlowExpired) => return flow_expired(&state, jar),
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = form_token(&state, jar);
    let mut page = VerifyPage::new(
        heading_for(&methods),
        &csrf,
        "/login/verify",
        "/login/verify/key",
        &methods,
        q.method,
    );
    // An emailed code went out with the password's answer.
    page.code_sent = page.method == Challenge::EmailCode;
    (jar, render(StatusCode::OK, &page)).into_response()
}

#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: String,
    #[serde(deserialize_with = "lenient_challenge")]
    method: Option<Challenge>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_key: String,
    /// Set by the "text me a code" button.
    #[serde(default)]
    send: String,
}

impl VerifyForm {
    pub(crate) fn proof(&self) -> SecondStepProof {
        match self.method {
            Some(Challenge::RecoveryKey) => SecondStepProof::RecoveryKey(self.recovery_key.clone()),
            Some(Challenge::Sms) => SecondStepProof::Sms(self.code.clone()),
            Some(Challenge::EmailCode) => SecondStepProof::EmailCode(self.code.clone()),
            _ => SecondStepProof::Totp(self.code.clone()),
        }
    }
    pub(crate) fn method(&self) -> Option<Challenge> {
        self.method
    }
    /// Whether this asks for a texted or emailed code rather than proving
    /// one.
    pub(crate) fn wants_code(&self) -> bool {
        matches!(self.method, Some(Challenge::Sms | Challenge::EmailCode)) && !self.send.is_empty()
    }

    /// Whether the page shows a code field for this method after an answer
    /// (a code was asked for already).
    pub(crate) fn code_was_sent(&self) -> bool {
        matches!(self.method, Some(Challenge::Sms | Challenge::EmailCode))
    }
}

pub async fn submit_verify(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<VerifyForm>,
) -> Response {
    let Some(flow) = flow_of(&state, &jar) else {
        return Redirect::to("/login").into_response();
    };
    let methods = match state.core.flow_methods(&flow, &ctx).await {
        Ok(m) => m,
        Err(CoreError::FlowExpired) => return flow_expired(&state, jar),
        Err(e) => return error_page(&e),
    };
    let rerender = |jar: CookieJar,
                    status: StatusCode,
                    sent: bool,
                    notice: Option<String>,
                    error: Option<String>| {
        let (jar, csrf) = form_token(&state, jar);
        let mut page = VerifyPage::new(
            heading_for(&methods),
            &csrf,
            "/login/verify",
            "/login/verify/key",
            &methods,
            form.method(),
        );
        page.code_sent = sent;
        page.notice = notice;
        page.error = error;
        (jar, render(status, &page)).into_response()
    };
    if form.wants_code() {
        let sent = if form.method() == Some(Challenge::EmailCode) {
            state
                .core
                .mail_signin_code(&flow, &ctx)
                .await
                .map(|_| "We emailed you a new code. It works for 10 minutes.".to_string())
        } else {
            state.core.send_signin_sms(&flow, &ctx).await.map(|sent| {
                format!(
                    "We texted a code to {}. It works for 10 minutes.",
                    sent.phone_masked
                )
            })
        };
        return match sent {
            Ok(notice) => rerender(jar, StatusCode::OK, true, Some(notice), None),
            Err(e @ CoreError::RateLimited { .. }) => rerender(
                jar,
                StatusCode::TOO_MANY_REQUESTS,
                true,
                None,
                Some(format!("A code was sent moments ago. {e}")),
            ),
            Err(CoreError::FlowExpired) => flow_expired(&state, jar),
            Err(e) => error_page(&e),
        };
    }
    match state.core.continue_sign_in(&flow, form.proof(), &ctx).await {
        Ok(outcome) => signed_in(&state, jar, outcome),
        Err(CoreError::FlowExpired) => flow_expired(&state, jar),
        Err(e @ CoreError::WrongProof(_)) => {
            signin_outcome("failure");
            state.core.audit_second_step_failure(&flow, &ctx).await;
            rerender(
                jar,
                StatusCode::UNAUTHORIZED,
                form.code_was_sent(),
                None,
                Some(e.to_string()),
            )
        }
        Err(e) => error_page(&e),
    }
}

/// Sets the session cookie of a finished sign-in, and shows the new
/// recovery key if the old one was used.
fn signed_in(state: &AppState, jar: CookieJar, outcome: SigninOutcome) -> Response {
    match outcome {
        SigninOutcome::Complete {
            issued,
            new_recovery_key,
            ..
        } => {
            signin_outcome("success");
            let jar = jar.add(cookies::removal(&state.web, cookies::FLOW));
            let jar = hand_over(&state.web, jar, Via::Cookie, issued).jar;
            let (jar, next) = super::landing(&state.web, jar);
            match new_recovery_key {
                Some(key) => (
                    jar,
                    super::twostep::recovery_key_page(
                        "Your new emergency recovery key",
                        &key,
                        &next,
                    ),
                )
                    .into_response(),
                None => (jar, Redirect::to(&next)).into_response(),
            }
        }
        SigninOutcome::SecondStep { .. } => Redirect::to("/login").into_response(),
    }
}

/// The key challenge of the sign-in page, as JSON for its script: `{}`
/// gets the challenge, `{credential}` answers it. The flow id stays in
/// its HttpOnly cookie; the CSRF token comes in a header.
pub async fn verify_key(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> Result<Response, crate::error::ApiError> {
    let csrf = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !crate::csrf::form_token_valid(&state, &jar, csrf) {
        return Err(crate::error::ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "This page was open too long. Reload it and try again.",
        ));
    }
    let Some(flow) = flow_of(&state, &jar) else {
        return Err(CoreError::FlowExpired.into());
    };
    let Some(credential) = body.get("credential").filter(|c| !c.is_null()).cloned() else {
        let options = state.core.signin_key_challenge(&flow, &ctx).await?;
        return Ok(axum::Json(serde_json::json!({ "public_key": options })).into_response());
    };
    match state
        .core
        .continue_sign_in(&flow, SecondStepProof::Webauthn(credential), &ctx)
        .await
    {
        Ok(SigninOutcome::Complete { issued, .. }) => {
            signin_outcome("success");
            let jar = jar.add(cookies::removal(&state.web, cookies::FLOW));
            let jar = hand_over(&state.web, jar, Via::Cookie, issued).jar;
            let (jar, next) = super::landing(&state.web, jar);
            Ok((jar, axum::Json(serde_json::json!({ "redirect": next }))).into_response())
        }
        Ok(SigninOutcome::SecondStep { .. }) => Err(CoreError::FlowExpired.into()),
        Err(e) => {
            if matches!(e, CoreError::WrongProof(_)) {
                signin_outcome("failure");
                state.core.audit_second_step_failure(&flow, &ctx).await;
            }
            Err(e.into())
        }
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    pub csrf: String,
}

has_csrf!(LoginForm, VerifyForm, CsrfOnly);

pub async fn logout(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    session: Option<PageAccess>,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    if let Some(PageAccess(access)) = session
        && let Err(e) = state.core.sign_out(&access, &ctx).await
    {
        return error_page(&e);
    }
    let jar = jar.add(cookies::removal(&state.web, cookies::SESSION));
    (jar, Redirect::to("/login")).into_response()
}
