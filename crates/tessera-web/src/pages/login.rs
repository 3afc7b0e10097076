//! The sign-in page and signing out.

use super::{PageSession, check_csrf, error_page, render};
use crate::client::Client;
use crate::cookies;
use crate::csrf::form_token;
use crate::metrics::signin_outcome;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::password::Password;
use tessera_core::service::SigninRequest;
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
    match state.core.sign_in(req, &ctx).await {
        Ok(issued) => {
            signin_outcome("success");
            let jar = jar.add(cookies::build(&state.web, cookies::SESSION, issued.token));
            (jar, Redirect::to("/security")).into_response()
        }
        Err(CoreError::BadCredentials) => {
            signin_outcome("failure");
            let (jar, csrf) = form_token(&state, jar);
            let msg = CoreError::BadCredentials.to_string();
            let page = LoginPage {
                csrf: &csrf,
                email: &form.email,
                error: Some(&msg),
            };
            (jar, render(StatusCode::UNAUTHORIZED, &page)).into_response()
        }
        Err(e) => {
            if matches!(e, CoreError::Overloaded { .. }) {
                signin_outcome("overloaded");
            }
            error_page(&e)
        }
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
