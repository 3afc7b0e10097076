//! The page an invitation mail links to: what the organization is and what
//! joining means, then accepting it signed in as the invited address, or
//! creating that address's account when it has none (the link proves the
//! mailbox). A visitor without a session is sent to sign in and comes back
//! here afterwards (the return cookie).
//!
//! A used link and an unknown one get the same 404 page, so a token cannot
//! be probed for having existed; an expired, unused one says so (410).

use super::login::CsrfOnly;
use super::{PageAccess, PageSession, error_page, message_page, render};
use crate::client::Client;
use crate::cookies;
use crate::csrf::{CsrfForm, form_token, has_csrf};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::password::Password;
use tessera_core::service::{Access, InvitationView};

/// Who is looking at the invitation.
enum Viewer {
    Anonymous,
    /// Signed in as the invited address.
    Invitee,
    /// Signed in as another address (shown, so they know to switch).
    Other(String),
    /// Signed in, but must set up two-step verification first.
    Restricted,
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage<'a> {
    csrf: &'a str,
    token: &'a str,
    org: &'a str,
    email: &'a str,
    role: String,
    expires_at: String,
    viewer: Viewer,
    /// No account has the invited address: the page offers to create one.
    can_sign_up: bool,
    error: Option<String>,
}

/// The answer for a link that is not (or no longer) usable.
fn unusable(view: Option<&InvitationView>) -> Response {
    match view {
        Some(v) if v.invitation.accepted_at.is_none() => message_page(
            StatusCode::GONE,
            "This invitation has expired",
            "Invitation links work for 7 days. Ask the person who invited you to send a new one.",
        ),
        // Used, withdrawn or never issued: one answer for all.
        _ => message_page(
            StatusCode::NOT_FOUND,
            "This invitation link does not work",
            "It may have been used already or withdrawn. If you still need to join, ask the person who invited you to send a new one.",
        ),
    }
}

/// The invitation behind `token` if it can still be accepted, else the
/// page to answer.
async fn usable(state: &AppState, token: &str) -> Result<InvitationView, Response> {
    match state.core.invitation(token).await {
        Ok(v) if v.usable => Ok(v),
        Ok(v) => Err(unusable(Some(&v))),
        Err(CoreError::NotFound(_)) => Err(unusable(None)),
        Err(e) => Err(error_page(&e)),
    }
}

fn viewer_of(session: Option<&PageAccess>, view: &InvitationView) -> Viewer {
    match session.map(|PageAccess(a)| a) {
        None => Viewer::Anonymous,
        Some(Access::Restricted(_)) => Viewer::Restricted,
        Some(Access::Full(who)) if who.account.email == view.invitation.email => Viewer::Invitee,
        Some(Access::Full(who)) => Viewer::Other(who.account.email.to_string()),
    }
}

fn page(
    state: &AppState,
    jar: CookieJar,
    token: &str,
    view: &InvitationView,
    viewer: Viewer,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    // Without a session, the sign-in that follows comes back here. With
    // one, it has come back (a passkey sign-in is finished by script, so
    // no sign-in handler cleared the cookie): it is not needed any more.
    let jar = match viewer {
        Viewer::Anonymous => {
            let mut c =
                cookies::build(&state.web, cookies::RETURN, format!("/invitations/{token}"));
            c.set_max_age(cookie::time::Duration::hours(1));
            jar.add(c)
        }
        _ if super::return_path(&state.web, &jar).is_some() => {
            jar.add(cookies::removal(&state.web, cookies::RETURN))
        }
        _ => jar,
    };
    let (jar, csrf) = form_token(state, jar);
    let t = InvitationPage {
        csrf: &csrf,
        token,
        org: &view.org_name,
        email: view.invitation.email.as_str(),
        role: view.invitation.role.to_string(),
        expires_at: view.invitation.expires_at.to_rfc3339(),
        can_sign_up: matches!(viewer, Viewer::Anonymous) && !view.account_exists,
        viewer,
        error,
    };
    (jar, render(status, &t)).into_response()
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    session: Option<PageAccess>,
    Path(token): Path<String>,
) -> Response {
    let view = match usable(&state, &token).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let viewer = viewer_of(session.as_ref(), &view);
    page(&state, jar, &token, &view, viewer, StatusCode::OK, None)
}

fn joined(state: &AppState, jar: CookieJar, org: &str, message: &str) -> Response {
    let jar = jar.add(cookies::removal(&state.web, cookies::RETURN));
    (
        jar,
        message_page(StatusCode::OK, &format!("You joined {org}"), message),
    )
        .into_response()
}

pub async fn accept(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(token): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    let view = match usable(&state, &token).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match state.core.accept_invitation(&who, &token, &ctx).await {
        Ok(_) => joined(
            &state,
            jar,
            &view.org_name,
            "Your account is now a member of the organization. Its policies apply from your next sign-in.",
        ),
        Err(e @ CoreError::Forbidden(_)) => {
            let viewer = Viewer::Other(who.account.email.to_string());
            page(
                &state,
                jar,
                &token,
                &view,
                viewer,
                StatusCode::FORBIDDEN,
                Some(e.to_string()),
            )
        }
        // Used in the meantime (a second tab, a double click).
        Err(CoreError::Invalid(_) | CoreError::NotFound(_)) => unusable(None),
        Err(e) => error_page(&e),
    }
}

#[derive(Deserialize)]
pub struct SignupForm {
    csrf: String,
    #[serde(default)]
    display_name: String,
    password: String,
}

has_csrf!(SignupForm);

pub async fn signup(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    Path(token): Path<String>,
    CsrfForm(form): CsrfForm<SignupForm>,
) -> Response {
    let view = match usable(&state, &token).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let outcome = state
        .core
        .accept_invitation_with_new_account(
            &token,
            &form.display_name,
            Password::new(form.password),
            &ctx,
        )
        .await;
    match outcome {
        Ok((_, account)) => {
            let mut res = joined(
                &state,
                jar,
                &view.org_name,
                &format!(
                    "Your account {} was created and joined the organization. Sign in with it to continue.",
                    account.email
                ),
            );
            *res.status_mut() = StatusCode::CREATED;
            res
        }
        Err(e @ (CoreError::Invalid(_) | CoreError::Conflict(_))) if view.usable => {
            // A password or name that breaks the rules, or an account that
            // appeared meanwhile: the form again, saying why.
            match usable(&state, &token).await {
                Ok(v) => page(
                    &state,
                    jar,
                    &token,
                    &v,
                    Viewer::Anonymous,
                    crate::error::status_of(&e),
                    Some(e.to_string()),
                ),
                Err(r) => r,
            }
        }
        Err(e) => error_page(&e),
    }
}
