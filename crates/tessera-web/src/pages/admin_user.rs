//! One user, for a sysadmin: organizations (managed or external), methods,
//! sessions (each with End), API tokens (each with Revoke) and recent
//! audit events; deactivate, change role and recovery unenrollment.
//!
//! Every destructive action is two posts of the same form: the first
//! (without `confirm`) answers a preview page saying what will happen
//! ("This will end 3 sessions"), whose button posts again with
//! `confirm=yes`. Both carry the CSRF token; only the second acts, through
//! the same core call as the API.

use super::{PageSession, error_page, render};
use crate::client::Client;
use crate::csrf::{CsrfForm, form_token, has_csrf};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::account::Role;
use tessera_core::ids::AccountId;
use tessera_core::service::{AccountOverview, Authenticated, Sysadmin};
use tessera_core::session::ClientKind;

struct OrgRow {
    name: String,
    managed: bool,
    role: String,
}

struct SessionRow {
    id: String,
    device: String,
    client: &'static str,
    ip: String,
    created_at: String,
    last_seen_at: String,
}

struct TokenRow {
    id: String,
    label: String,
    expires_at: String,
    last_used_at: String,
}

struct EventRow {
    at: String,
    kind: String,
    actor: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage<'a> {
    csrf: &'a str,
    is_admin: bool,
    id: String,
    email: String,
    display_name: String,
    kind: String,
    role: String,
    active: bool,
    is_self: bool,
    orgs: Vec<OrgRow>,
    methods: Vec<String>,
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
    events: Vec<EventRow>,
    roles: &'static [&'static str],
    notice: Option<&'static str>,
    error: Option<String>,
}

/// The preview of a destructive action, with the button that confirms it.
#[derive(Template)]
#[template(path = "admin_confirm.html")]
pub(crate) struct ConfirmPage<'a> {
    pub csrf: &'a str,
    pub is_admin: bool,
    pub title: &'a str,
    pub preview: &'a str,
    pub action: &'a str,
    /// Fields to post again (besides the token and `confirm`).
    pub fields: Vec<(&'static str, String)>,
    /// Ask for the admin's own authenticator code (unenrollment).
    pub needs_code: bool,
    pub button: &'a str,
    pub cancel: &'a str,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "role" => Some("The role was changed."),
        "deactivated" => Some("The user was deactivated and signed out everywhere."),
        "session-ended" => Some("The session was ended."),
        "token-revoked" => Some("The API token was revoked."),
        "unenrolled" => Some("Two-step verification was removed and every session ended."),
        _ => None,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

async fn overview(
    state: &AppState,
    who: &Authenticated,
    id: &str,
) -> Result<(Sysadmin, AccountOverview), Response> {
    let admin = state
        .core
        .require_sysadmin(who)
        .map_err(|e| error_page(&e))?;
    let id: AccountId = id
        .parse()
        .map_err(|_| error_page(&CoreError::NotFound("account")))?;
    let o = state
        .core
        .account_overview(&admin, id)
        .await
        .map_err(|e| error_page(&e))?;
    Ok((admin, o))
}

fn method_names(o: &AccountOverview) -> Vec<String> {
    let m = &o.methods;
    let mut out = Vec::new();
    if m.totp {
        out.push("Authenticator app".to_string());
    }
    for k in &m.keys {
        out.push(format!("{}: {}", k.kind, k.name));
    }
    if let Some(p) = &m.sms_phone {
        out.push(format!("Text messages to {p}"));
    }
    out
}

async fn user_page(
    state: &AppState,
    jar: CookieJar,
    who: &Authenticated,
    id: &str,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let (_, o) = match overview(state, who, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (jar, csrf) = form_token(state, jar);
    let a = &o.account;
    let page = UserPage {
        csrf: &csrf,
        is_admin: true,
        id: a.id.to_string(),
        email: a.email.to_string(),
        display_name: a.display_name.clone(),
        kind: a.kind.to_string(),
        role: a.role.to_string(),
        active: a.active,
        is_self: a.id == who.account.id,
        orgs: o
            .memberships
            .iter()
            .map(|m| OrgRow {
                name: m.name.clone(),
                managed: m.managed,
                role: m.role.map(|r| r.to_string()).unwrap_or_default(),
            })
            .collect(),
        methods: method_names(&o),
        sessions: o
            .sessions
            .iter()
            .map(|s| SessionRow {
                id: s.id.to_string(),
                device: s.device.clone(),
                client: match s.client {
                    ClientKind::Web => "web",
                    ClientKind::Mobile => "mobile",
                },
                ip: s.ip.clone().unwrap_or_default(),
                created_at: s.created_at.to_rfc3339(),
                last_seen_at: s.last_seen_at.to_rfc3339(),
            })
            .collect(),
        tokens: o
            .tokens
            .iter()
            .map(|t| TokenRow {
                id: t.id.to_string(),
                label: t.label.clone(),
                expires_at: t.expires_at.to_rfc3339(),
                last_used_at: t.last_used_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            })
            .collect(),
        events: o
            .events
            .iter()
            .map(|e| EventRow {
                at: e.at.to_rfc3339(),
                kind: e.kind.clone(),
                actor: e.actor.map(|a| a.to_string()).unwrap_or_default(),
                detail: e.detail.clone(),
            })
            .collect(),
        roles: Role::NAMES,
        notice,
        error,
    };
    (jar, render(status, &page)).into_response()
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let notice = notice_text(q.notice.as_deref());
    user_page(&state, jar, &who, &id, StatusCode::OK, notice, None).await
}

/// A preview page: what to show and where its button posts.
pub(crate) struct Confirm<'a> {
    pub title: &'a str,
    pub preview: &'a str,
    pub action: &'a str,
    pub fields: Vec<(&'static str, String)>,
    pub needs_code: bool,
    pub button: &'a str,
    pub cancel: &'a str,
}

/// The preview page, posting `c.fields` back with `confirm=yes`.
/// `is_admin` is whether the nav shows the sysadmin links.
pub(crate) fn confirm_page(
    state: &AppState,
    jar: CookieJar,
    is_admin: bool,
    c: Confirm<'_>,
) -> Response {
    let (jar, csrf) = form_token(state, jar);
    let page = ConfirmPage {
        csrf: &csrf,
        is_admin,
        title: c.title,
        preview: c.preview,
        action: c.action,
        fields: c.fields,
        needs_code: c.needs_code,
        button: c.button,
        cancel: c.cancel,
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

/// A destructive form: nothing happens until `confirm` is `yes`.
#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
    /// Where to go afterwards: `list` for the Users page, else this
    /// user's page.
    #[serde(default)]
    from: String,
}

impl ConfirmForm {
    fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

/// After an action: this user's page with a notice, or the refusal.
async fn done(
    state: &AppState,
    jar: CookieJar,
    who: &Authenticated,
    id: &str,
    outcome: Result<(), CoreError>,
    notice: &str,
) -> Response {
    match outcome {
        Ok(()) => Redirect::to(&format!("/admin/users/{id}?notice={notice}")).into_response(),
        Err(
            e @ (CoreError::Invalid(_)
            | CoreError::Conflict(_)
            | CoreError::Forbidden(_)
            | CoreError::WrongProof(_)),
        ) => {
            let status = crate::error::status_of(&e);
            user_page(state, jar, who, id, status, None, Some(e.to_string())).await
        }
        Err(e) => error_page(&e),
    }
}

pub async fn deactivate(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Response {
    let (admin, o) = match overview(&state, &who, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let email = o.account.email.to_string();
    if !form.confirmed() {
        let preview = format!(
            "This will deactivate {email}: it can no longer sign in, this will end {} and revoke {}.",
            plural(o.sessions.len(), "session", "sessions"),
            plural(o.tokens.len(), "API token", "API tokens"),
        );
        let cancel = if form.from == "list" {
            "/admin/users".to_string()
        } else {
            format!("/admin/users/{id}")
        };
        return confirm_page(
            &state,
            jar,
            true,
            Confirm {
                title: &format!("Deactivate {email}?"),
                preview: &preview,
                action: &format!("/admin/users/{id}/deactivate"),
                fields: vec![("from", form.from.clone())],
                needs_code: false,
                button: &format!("Yes, deactivate {email}"),
                cancel: &cancel,
            },
        );
    }
    let outcome = state
        .core
        .deactivate(&admin, o.account.id, &ctx)
        .await
        .map(|_| ());
    if form.from == "list" && outcome.is_ok() {
        return Redirect::to("/admin/users?notice=deactivated").into_response();
    }
    done(&state, jar, &who, &id, outcome, "deactivated").await
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf: String,
    role: String,
    #[serde(default)]
    confirm: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Response {
    let (admin, o) = match overview(&state, &who, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let role: Role = match form.role.parse() {
        Ok(r) => r,
        Err(msg) => {
            return user_page(
                &state,
                jar,
                &who,
                &id,
                StatusCode::BAD_REQUEST,
                None,
                Some(msg),
            )
            .await;
        }
    };
    let email = o.account.email.to_string();
    if role != o.account.role && form.confirm != "yes" {
        let preview = format!(
            "This will change {email} from {} to {role}, and end {} (it signs in again under the new role).",
            o.account.role,
            plural(o.sessions.len(), "session", "sessions"),
        );
        return confirm_page(
            &state,
            jar,
            true,
            Confirm {
                title: &format!("Change the role of {email}?"),
                preview: &preview,
                action: &format!("/admin/users/{id}/role"),
                fields: vec![("role", role.to_string())],
                needs_code: false,
                button: &format!("Yes, make {email} {role}"),
                cancel: &format!("/admin/users/{id}"),
            },
        );
    }
    let outcome = state
        .core
        .set_role(&admin, o.account.id, role, &ctx)
        .await
        .map(|_| ());
    done(&state, jar, &who, &id, outcome, "role").await
}

pub async fn end_session(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path((id, sid)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Response {
    let (admin, o) = match overview(&state, &who, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(session) = o.sessions.iter().find(|s| s.id.to_string() == sid) else {
        return error_page(&CoreError::NotFound("session"));
    };
    let email = o.account.email.to_string();
    if !form.confirmed() {
        let preview = format!(
            "This will sign {email} out of {} (last seen {}). Its other sessions stay.",
            if session.device.is_empty() {
                "a device"
            } else {
                session.device.as_str()
            },
            session.last_seen_at.to_rfc3339(),
        );
        return confirm_page(
            &state,
            jar,
            true,
            Confirm {
                title: "End this session?",
                preview: &preview,
                action: &format!("/admin/users/{id}/sessions/{sid}/end"),
                fields: vec![],
                needs_code: false,
                button: "Yes, end the session",
                cancel: &format!("/admin/users/{id}"),
            },
        );
    }
    let outcome = state
        .core
        .end_session_of(&admin, o.account.id, session.id, &ctx)
        .await;
    done(&state, jar, &who, &id, outcome, "session-ended").await
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path((id, tid)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Response {
    let (admin, o) = match overview(&state, &who, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // Only a token of this account, so the page cannot revoke others'.
    let Some(token) = o.tokens.iter().find(|t| t.id.to_string() == tid) else {
        return error_page(&CoreError::NotFound("API token"));
    };
    if !form.confirmed() {
        let preview = format!(
            "This will revoke the API token \"{}\" of {}: anything using it stops working at once.",
            token.label, o.account.email
        );
        return confirm_page(
            &state,
            jar,
            true,
            Confirm {
                title: "Revoke this API token?",
                preview: &preview,
                action: &format!("/admin/users/{id}/api-tokens/{tid}/revoke"),
                fields: vec![],
                needs_code: false,
                button: "Yes, revoke it",
                cancel: &format!("/admin/users/{id}"),
            },
        );
    }
    let outcome = state
        .core
        .revoke_api_token(&admin, token.id, &ctx)
        .await
        .map(|_| ());
    done(&state, jar, &who, &id, outcome, "token-revoked").await
}

#[derive(Deserialize)]
pub struct UnenrollForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
    /// The admin's own current authenticator code.
    #[serde(default)]
    code: String,
}

pub async fn unenroll(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<UnenrollForm>,
) -> Response {
    let (admin, o) = match overview(&state, &who, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let email = o.account.email.to_string();
    if form.confirm != "yes" {
        let preview = format!(
            "This will remove every two-step verification method of {email} ({}) and its recovery key, and end {}. {email} then signs in with the password alone and is told by email.",
            plural(o.methods.count(), "method", "methods"),
            plural(o.sessions.len(), "session", "sessions"),
        );
        return confirm_page(
            &state,
            jar,
            true,
            Confirm {
                title: &format!("Remove two-step verification of {email}?"),
                preview: &preview,
                action: &format!("/admin/users/{id}/two-step/remove"),
                fields: vec![],
                needs_code: true,
                button: "Yes, remove it",
                cancel: &format!("/admin/users/{id}"),
            },
        );
    }
    let outcome = state
        .core
        .admin_unenroll(&admin, &who.account, o.account.id, form.code.trim(), &ctx)
        .await;
    done(&state, jar, &who, &id, outcome, "unenrolled").await
}

has_csrf!(ConfirmForm, RoleForm, UnenrollForm);
