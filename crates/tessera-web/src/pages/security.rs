//! The Security page: sessions, password. Later methods add sections.

use super::login::CsrfOnly;
use super::{PageSession, error_page, render};
use crate::access::Via;
use crate::client::Client;
use crate::csrf::{CsrfForm, form_token, has_csrf};
use crate::session_out::hand_over;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::account::Role;
use tessera_core::password::Password;

struct SessionRow {
    id: String,
    current: bool,
    device: String,
    client: String,
    ip: Option<String>,
    last_seen_at: String,
}

/// A security key or passkey as the page lists it.
struct KeyRow {
    id: String,
    name: String,
    kind: String,
    kind_label: &'static str,
    created_at: String,
    last_used_at: Option<String>,
}

/// An API token as the page lists it (never its secret).
struct TokenRow {
    id: String,
    label: String,
    scopes: String,
    expires_at: String,
    expired: bool,
    last_used: Option<String>,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage<'a> {
    api_tokens: Vec<TokenRow>,
    scopes_offered: String,
    keys: Vec<KeyRow>,
    totp: bool,
    sms_phone: Option<String>,
    sms_allowed: bool,
    csrf: &'a str,
    email: &'a str,
    is_admin: bool,
    sessions: Vec<SessionRow>,
    min_len: usize,
    two_step_on: bool,
    /// The organization that requires 2SV of this account, if one does:
    /// turning 2SV off means enrolling again at the next sign-in.
    required_by: Option<String>,
    /// The account administers an organization.
    org_admin: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

/// Fixed messages selected by a query key, so nothing is reflected.
pub(super) fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "password-changed" => Some("Your password was changed. Other sessions were signed out."),
        "others-ended" => Some("You were signed out everywhere else."),
        "session-ended" => Some("That session was signed out."),
        "two-step-on" => Some("Two-step verification is on. Other sessions were signed out."),
        "two-step-off" => Some("Two-step verification is off."),
        "app-changed" => Some("Your authenticator app was changed."),
        "key-added" => Some("Your key was added."),
        "key-renamed" => Some("The key was renamed."),
        "method-removed" => Some("That verification method was removed."),
        "token-revoked" => Some("The API token was revoked. It no longer works."),
        "verified" => Some(
            "Thanks, you're verified. You can change security settings for the next few minutes.",
        ),
        _ => None,
    }
}

pub(super) async fn page(
    state: &AppState,
    jar: CookieJar,
    who: &tessera_core::service::Authenticated,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let sessions = match state.core.my_sessions(who).await {
        Ok(s) => s,
        Err(e) => return error_page(&e),
    };
    let inv = match state.core.methods(&who.account).await {
        Ok(inv) => inv,
        Err(e) => return error_page(&e),
    };
    let tokens = match state.core.my_api_tokens(who).await {
        Ok(t) => t,
        Err(e) => return error_page(&e),
    };
    let standing = match state.core.standing(&who.account).await {
        Ok(s) => s,
        Err(e) => return error_page(&e),
    };
    let now = state.core.clock.now();
    let (jar, csrf) = form_token(state, jar);
    let page = SecurityPage {
        required_by: standing
            .two_step_required()
            .then(|| standing.managing().map(|m| m.name.clone()))
            .flatten(),
        org_admin: standing.org_admin_anywhere() || who.account.role >= Role::Sysadmin,
        api_tokens: tokens
            .iter()
            .map(|t| TokenRow {
                id: t.id.to_string(),
                label: t.label.clone(),
                scopes: t.scopes.join(", "),
                expires_at: t.expires_at.to_rfc3339(),
                expired: !t.is_live(now),
                last_used: t.last_used_at.map(|u| match &t.last_used_ip {
                    Some(ip) => format!("{} from {ip}", u.to_rfc3339()),
                    None => u.to_rfc3339(),
                }),
            })
            .collect(),
        scopes_offered: state.core.config.api_tokens.scopes.join(" "),
        two_step_on: inv.two_step_on(),
        keys: inv
            .keys
            .iter()
            .map(|k| KeyRow {
                id: k.id.to_string(),
                name: k.name.clone(),
                kind: k.kind.to_string(),
                kind_label: k.kind.label(),
                created_at: k.created_at.to_rfc3339(),
                last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
            })
            .collect(),
        totp: inv.totp,
        sms_phone: inv
            .sms_phone
            .as_deref()
            .map(tessera_core::twostep::phone::mask),
        sms_allowed: inv.may_add_sms().is_ok(),
        csrf: &csrf,
        email: who.account.email.as_str(),
        is_admin: who.account.role >= Role::Sysadmin,
        sessions: sessions
            .iter()
            .map(|s| SessionRow {
                id: s.id.to_string(),
                current: s.id == who.session.id,
                device: s.device.clone(),
                client: s.client.to_string(),
                ip: s.ip.clone(),
                last_seen_at: s.last_seen_at.to_rfc3339(),
            })
            .collect(),
        min_len: state.core.config.password_policy.min_len,
        notice,
        error,
    };
    (jar, render(status, &page)).into_response()
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    PageSession(who): PageSession,
    Query(q): Query<Notice>,
) -> Response {
    page(
        &state,
        jar,
        &who,
        StatusCode::OK,
        notice_text(q.notice.as_deref()),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
}

has_csrf!(PasswordForm);

pub async fn change_password(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    let result = state
        .core
        .change_password(
            &who,
            Password::new(form.current_password),
            Password::new(form.new_password),
            &ctx,
        )
        .await;
    match result {
        Ok(issued) => {
            let jar = hand_over(&state.web, jar, Via::Cookie, issued).jar;
            (jar, Redirect::to("/security?notice=password-changed")).into_response()
        }
        Err(CoreError::Invalid(msg)) => {
            page(&state, jar, &who, StatusCode::BAD_REQUEST, None, Some(msg)).await
        }
        Err(e) => error_page(&e),
    }
}

pub async fn end_others(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageSession(who): PageSession,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    match state.core.end_my_other_sessions(&who, &ctx).await {
        Ok(_) => Redirect::to("/security?notice=others-ended").into_response(),
        Err(e) => error_page(&e),
    }
}

pub async fn end_one(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    let Ok(id) = id.parse() else {
        return error_page(&CoreError::NotFound("session"));
    };
    match state.core.end_my_session(&who, id, &ctx).await {
        Ok(()) => Redirect::to("/security?notice=session-ended").into_response(),
        Err(e) => error_page(&e),
    }
}
