//! The OpenID Connect provider's browser endpoints: authorization (with
//! its consent form) and RP-initiated logout. Core decides every step
//! ([`tessera_core::service::AuthorizeStep`]); this module only turns a
//! step into a page or a redirect, and carries the pending request through
//! the sign-in and step-up pages in the return cookie.

use super::{PageAccess, message_page, render};
use crate::client::Client;
use crate::cookies;
use crate::csrf::{CsrfForm, form_token, has_csrf};
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::oidc::authorize::AuthorizeParams;
use tessera_core::service::{AuthorizeStart, AuthorizeStep};

/// The path the sign-in and step-up pages come back to.
pub fn resume_path(resume: &str) -> String {
    format!("/oauth2/authorize?resume={resume}")
}

/// Whether a return path is a resumed authorization request (checked
/// before the return cookie is honoured: never anything off-site).
pub fn is_resume_path(path: &str) -> bool {
    path.strip_prefix("/oauth2/authorize?resume=")
        .is_some_and(|r| {
            !r.is_empty()
                && r.len() <= 3500
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn bad_request_page(message: &str) -> Response {
    message_page(
        StatusCode::BAD_REQUEST,
        "This sign-in request cannot be used",
        message,
    )
}

/// A redirect to a relying party (or a local page) that no cache keeps.
fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            res.headers_mut().insert(header::LOCATION, v);
            res
        }
        Err(_) => bad_request_page("The redirect address is not valid."),
    }
}

#[derive(Template)]
#[template(path = "oauth_continue.html")]
struct ContinuePage<'a> {
    to: &'a str,
}

/// Back to the relying party at the end of a flow that went through one
/// of our forms (sign-in, step-up, consent, logout confirmation): a page
/// that moves on by itself (meta refresh, no script) instead of a
/// redirect. Browsers hold a form post's whole redirect chain to the
/// form page's `form-action 'self'`, so a redirect to the relying party
/// there is blocked and the user is stranded.
fn continue_to(to: &str) -> Response {
    render(StatusCode::OK, &ContinuePage { to })
}

/// Where a request to advance an authorization came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// A relying party's link or redirect: answer with a redirect.
    RelyingParty,
    /// One of our forms, directly or through its redirects.
    OurForm,
}

#[derive(Deserialize)]
struct ResumeQuery {
    resume: String,
}

/// `GET /oauth2/authorize`: a fresh request from a relying party, or one
/// resumed after a page.
pub async fn authorize(
    State(state): State<AppState>,
    jar: CookieJar,
    session: Option<PageAccess>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let who = session.map(|PageAccess(a)| a);
    if let Ok(r) = serde_urlencoded::from_str::<ResumeQuery>(&query) {
        let start = AuthorizeStart::Resume {
            sealed: &r.resume,
            consent: None,
        };
        let jar = jar.add(cookies::removal(&state.web, cookies::RETURN));
        // Only our pages send the browser to a resume address.
        return advance(&state, jar, start, who.as_ref(), Via::OurForm).await;
    }
    // A repeated parameter is refused (RFC 6749 §3.1); without a trusted
    // redirect URI yet, that is a page.
    let params: AuthorizeParams = match serde_urlencoded::from_str(&query) {
        Ok(p) => p,
        Err(_) => {
            return bad_request_page(
                "The request repeats a parameter or is not readable. Go back to the application and try again.",
            );
        }
    };
    advance(
        &state,
        jar,
        AuthorizeStart::Fresh(&params),
        who.as_ref(),
        Via::RelyingParty,
    )
    .await
}

#[derive(Deserialize)]
pub struct ConsentForm {
    csrf: String,
    resume: String,
    decision: String,
}

has_csrf!(ConsentForm);

/// `POST /oauth2/authorize`: the consent form's answer.
pub async fn consent(
    State(state): State<AppState>,
    jar: CookieJar,
    session: Option<PageAccess>,
    CsrfForm(form): CsrfForm<ConsentForm>,
) -> Response {
    let who = session.map(|PageAccess(a)| a);
    let start = AuthorizeStart::Resume {
        sealed: &form.resume,
        consent: Some(form.decision == "allow"),
    };
    advance(&state, jar, start, who.as_ref(), Via::OurForm).await
}

#[derive(Template)]
#[template(path = "oauth_consent.html")]
struct ConsentPage<'a> {
    csrf: &'a str,
    resume: &'a str,
    client_name: &'a str,
    scopes: Vec<&'static str>,
}

fn scope_text(s: tessera_core::oidc::client::OidcScope) -> &'static str {
    use tessera_core::oidc::client::OidcScope::*;
    match s {
        OpenId => "who you are (your account id)",
        Email => "your email address",
        Profile => "your name",
        OfflineAccess => "access while you are away, for as long as this session lasts",
    }
}

async fn advance(
    state: &AppState,
    jar: CookieJar,
    start: AuthorizeStart<'_>,
    who: Option<&tessera_core::service::Access>,
    via: Via,
) -> Response {
    let step = match state.core.oidc_authorize(start, who).await {
        Ok(s) => s,
        Err(e) => {
            return message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                &e.description,
            );
        }
    };
    // The cookie lasts as long as the request it carries: a sign-in
    // tomorrow lands on the Security page, not on an expired request.
    let come_back = |resume: &str| {
        let mut c = cookies::build(&state.web, cookies::RETURN, resume_path(resume));
        c.set_max_age(cookie::time::Duration::seconds(
            tessera_core::oidc::authorize::PENDING_TTL_SECS,
        ));
        c
    };
    match step {
        AuthorizeStep::Redirect(to) if via == Via::OurForm => {
            (jar, continue_to(&to)).into_response()
        }
        AuthorizeStep::Redirect(to) => (jar, see_other(&to)).into_response(),
        AuthorizeStep::ErrorPage(msg) => (jar, bad_request_page(&msg)).into_response(),
        AuthorizeStep::SignIn { resume } => {
            (jar.add(come_back(&resume)), Redirect::to("/login")).into_response()
        }
        AuthorizeStep::Enroll { resume } => (
            jar.add(come_back(&resume)),
            Redirect::to("/security/two-step/required"),
        )
            .into_response(),
        AuthorizeStep::StepUp { resume, .. } => (
            jar.add(come_back(&resume)),
            Redirect::to("/security/verify"),
        )
            .into_response(),
        AuthorizeStep::Consent {
            resume,
            client_name,
            scopes,
        } => {
            let (jar, csrf) = form_token(state, jar);
            let page = ConsentPage {
                csrf: &csrf,
                resume: &resume,
                client_name: &client_name,
                scopes: scopes.into_iter().map(scope_text).collect(),
            };
            (jar, render(StatusCode::OK, &page)).into_response()
        }
    }
}

/// What RP-initiated logout takes (query or form).
#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    #[serde(default)]
    csrf: String,
}

has_csrf!(LogoutParams);

#[derive(Template)]
#[template(path = "oauth_logout.html")]
struct LogoutPage<'a> {
    csrf: &'a str,
    client_name: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// Where a logout may send the browser: a URI registered for the client
/// as a post-logout redirect, with `state` added. `Err` for a URI that is
/// not registered (never an open redirect).
async fn after_logout(
    state: &AppState,
    client_id: Option<&str>,
    uri: Option<&str>,
    rp_state: Option<&str>,
) -> Result<Option<String>, Response> {
    let Some(uri) = uri.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let client = state.core.client_named(client_id).await.ok().flatten();
    match client {
        Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => {
            let mut to = url::Url::parse(uri).map_err(|_| bad_request_page("bad uri"))?;
            if let Some(s) = rp_state.filter(|s| !s.is_empty()) {
                to.query_pairs_mut().append_pair("state", s);
            }
            Ok(Some(to.to_string()))
        }
        _ => Err(bad_request_page(
            "The post_logout_redirect_uri is not registered for this application.",
        )),
    }
}

fn signed_out(jar: CookieJar, state: &AppState, to: Option<String>, via: Via) -> Response {
    let jar = jar.add(cookies::removal(&state.web, cookies::SESSION));
    match to {
        Some(to) if via == Via::OurForm => (jar, continue_to(&to)).into_response(),
        Some(to) => (jar, see_other(&to)).into_response(),
        None => (
            jar,
            message_page(
                StatusCode::OK,
                "Signed out",
                "You are signed out of this server.",
            ),
        )
            .into_response(),
    }
}

/// `GET /oauth2/logout`: with an ID token hint naming the current
/// session (or no session at all), signs out at once; anything else is
/// asked first, since a link on any site could otherwise sign people out.
pub async fn logout(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    session: Option<PageAccess>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(p) = serde_urlencoded::from_str::<LogoutParams>(&query.unwrap_or_default()) else {
        return bad_request_page("The logout request repeats a parameter or is not readable.");
    };
    let hint = match p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => match state.core.oidc_id_token_hint(h).await {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                return bad_request_page("The id_token_hint was not issued by this server.");
            }
            Err(e) => {
                return message_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    &e.description,
                );
            }
        },
        None => None,
    };
    let client_id = match (&hint, p.client_id.as_deref()) {
        (Some(h), Some(c)) if h.aud != c => {
            return bad_request_page("client_id does not match the id_token_hint.");
        }
        (Some(h), _) => Some(h.aud.clone()),
        (None, c) => c.map(String::from),
    };
    let to = match after_logout(
        &state,
        client_id.as_deref(),
        p.post_logout_redirect_uri.as_deref(),
        p.state.as_deref(),
    )
    .await
    {
        Ok(to) => to,
        Err(page) => return page,
    };
    let who = session.map(|PageAccess(a)| a);
    let hinted_here = match (&hint, &who) {
        (_, None) => true,
        (Some(h), Some(a)) => h.sid.as_deref() == Some(a.session().id.to_string().as_str()),
        (None, Some(_)) => false,
    };
    if hinted_here {
        if let Some(a) = &who
            && let Err(e) = state.core.sign_out(a, &ctx).await
        {
            return super::error_page(&e);
        }
        return signed_out(jar, &state, to, Via::RelyingParty);
    }
    let client_name = state
        .core
        .client_named(client_id.as_deref())
        .await
        .ok()
        .flatten()
        .map(|c| c.name);
    let (jar, csrf) = form_token(&state, jar);
    let page = LogoutPage {
        csrf: &csrf,
        client_name,
        client_id,
        post_logout_redirect_uri: p.post_logout_redirect_uri,
        state: p.state,
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

/// `POST /oauth2/logout`: the confirmation form.
pub async fn confirm_logout(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    session: Option<PageAccess>,
    CsrfForm(p): CsrfForm<LogoutParams>,
) -> Response {
    let to = match after_logout(
        &state,
        p.client_id.as_deref(),
        p.post_logout_redirect_uri.as_deref(),
        p.state.as_deref(),
    )
    .await
    {
        Ok(to) => to,
        Err(page) => return page,
    };
    if let Some(PageAccess(a)) = session
        && let Err(e) = state.core.sign_out(&a, &ctx).await
    {
        return super::error_page(&e);
    }
    signed_out(jar, &state, to, Via::OurForm)
}
