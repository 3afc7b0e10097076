//! Cross-site request forgery defences, in two layers.
//!
//! 1. [`cross_site_refusal`]: a state-changing request that a browser marks as
//!    cross-site (`Sec-Fetch-Site`), or whose `Origin` is not ours, is
//!    refused before any handler runs. Non-browser clients send neither
//!    header and authenticate with bearer tokens, which are not ambient.
//! 2. Forms also carry a token that must equal the value of an HttpOnly,
//!    SameSite cookie (double submit), checked in constant time, for
//!    browsers that send neither header. [`CsrfForm`] is the one place
//!    pages check it: a handler that takes its form through it cannot
//!    forget the check.

use crate::cookies;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use tessera_core::secrets::{ct_eq, random_token};

/// The refusal for a state-changing request a browser sent from another
/// site, or `None` to let it through.
pub fn cross_site_refusal(state: &AppState, req: &Request) -> Option<Response> {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // OAuth's server endpoints read no cookie (the client or token
    // authenticates each request), so a cross-site call gains nothing.
    let cookieless = crate::api::OAUTH2_PATHS.contains(&req.uri().path());
    if !unsafe_method || cookieless {
        return None;
    }
    let h = req.headers();
    let cross_site = h
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site");
    let foreign_origin = h
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| {
            o != state.web.origin() && !state.web.allowed_origins.iter().any(|a| a == o)
        });
    (cross_site || foreign_origin).then(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "Cross-site requests are not allowed.",
        )
        .into_response()
    })
}

/// The CSRF token for a form: the existing cookie's value, or a new one
/// that the caller must set with the returned jar.
pub fn form_token(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    let name = cookies::name(&state.web, cookies::CSRF);
    if let Some(c) = jar.get(&name)
        && c.value().len() >= 32
    {
        let v = c.value().to_string();
        return (jar, v);
    }
    let token = random_token(state.core.secrets.as_ref(), 32);
    let jar = jar.add(cookies::build(&state.web, cookies::CSRF, token.clone()));
    (jar, token)
}

/// Whether a submitted form token matches the cookie.
pub fn form_token_valid(state: &AppState, jar: &CookieJar, submitted: &str) -> bool {
    let name = cookies::name(&state.web, cookies::CSRF);
    match jar.get(&name) {
        Some(c) if c.value().len() >= 32 => ct_eq(c.value().as_bytes(), submitted.as_bytes()),
        _ => false,
    }
}

/// A form that carries the double-submit CSRF token.
pub trait HasCsrf {
    /// The token the form submitted.
    fn csrf(&self) -> &str;
}

/// Implements [`HasCsrf`] for forms whose token is their `csrf` field.
macro_rules! has_csrf {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::csrf::HasCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
pub(crate) use has_csrf;

/// A page form whose CSRF token matched its cookie. Extracts the body, so
/// it must be the handler's last argument; a mismatch is the "Form
/// expired" page (403).
pub struct CsrfForm<T>(pub T);

impl<T> FromRequest<AppState> for CsrfForm<T>
where
    T: DeserializeOwned + HasCsrf,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(req.headers());
        let axum::Form(form) = axum::Form::<T>::from_request(req, state)
            .await
            .map_err(form_refused)?;
        if form_token_valid(state, &jar, form.csrf()) {
            Ok(CsrfForm(form))
        } else {
            Err(form_expired())
        }
    }
}

/// The refusal of a form that does not parse: axum's own answer (its
/// status, a plain text naming the problem) without the values refused.
fn form_refused(r: axum::extract::rejection::FormRejection) -> Response {
    (r.status(), crate::redact::without_values(&r.body_text())).into_response()
}

/// The refusal of a form whose token does not match its cookie.
fn form_expired() -> Response {
    crate::pages::message_page(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form was open too long or came from another site. Go back, reload the page and try again.",
    )
}
