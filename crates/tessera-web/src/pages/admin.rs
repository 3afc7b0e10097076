//! The admin page: list and create users (sysadmin). Each user's own page,
//! with deactivation and the other actions, is `admin_user`.

use super::{PageSession, error_page, render};
use crate::client::Client;
use crate::csrf::{CsrfForm, form_token, has_csrf};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::account::{AccountKind, Role};
use tessera_core::password::Password;
use tessera_core::service::{Authenticated, NewAccountInput};

const PAGE_SIZE: u32 = 50;

struct UserRow {
    id: String,
    email: String,
    display_name: String,
    kind: String,
    role: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage<'a> {
    csrf: &'a str,
    is_admin: bool,
    self_id: String,
    users: Vec<UserRow>,
    total: u64,
    prev_offset: Option<u32>,
    next_offset: Option<u32>,
    notice: Option<&'static str>,
    error: Option<String>,
    legacy_login: bool,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    offset: u32,
    notice: Option<String>,
}

async fn page(
    state: &AppState,
    jar: CookieJar,
    who: &Authenticated,
    offset: u32,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let admin = match state.core.require_sysadmin(who) {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let (users, total) = match state.core.list_accounts(&admin, offset, PAGE_SIZE).await {
        Ok(x) => x,
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = form_token(state, jar);
    let page = UsersPage {
        csrf: &csrf,
        is_admin: true,
        self_id: who.account.id.to_string(),
        users: users
            .iter()
            .map(|u| UserRow {
                id: u.id.to_string(),
                email: u.email.to_string(),
                display_name: u.display_name.clone(),
                kind: u.kind.to_string(),
                role: u.role.to_string(),
                active: u.active,
            })
            .collect(),
        total,
        prev_offset: (offset > 0).then(|| offset.saturating_sub(PAGE_SIZE)),
        next_offset: (u64::from(offset + PAGE_SIZE) < total).then_some(offset + PAGE_SIZE),
        notice,
        error,
        legacy_login: state.core.config.two_step.legacy_login,
    };
    (jar, render(status, &page)).into_response()
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    PageSession(who): PageSession,
    Query(q): Query<ListQuery>,
) -> Response {
    let notice = match q.notice.as_deref() {
        Some("created") => Some("The user was created."),
        Some("deactivated") => Some("The user was deactivated and signed out everywhere."),
        _ => None,
    };
    page(&state, jar, &who, q.offset, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    email: String,
    #[serde(default)]
    display_name: String,
    kind: String,
    role: String,
    #[serde(default)]
    password: String,
}

has_csrf!(CreateForm);

pub async fn create(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Response {
    let admin = match state.core.require_sysadmin(&who) {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let parsed = form
        .kind
        .parse::<AccountKind>()
        .and_then(|k| form.role.parse::<Role>().map(|r| (k, r)));
    let (kind, role) = match parsed {
        Ok(x) => x,
        Err(msg) => {
            return page(
                &state,
                jar,
                &who,
                0,
                StatusCode::BAD_REQUEST,
                None,
                Some(msg),
            )
            .await;
        }
    };
    let input = NewAccountInput {
        email: form.email,
        display_name: form.display_name,
        kind,
        role,
        password: (!form.password.is_empty()).then(|| Password::new(form.password)),
    };
    match state.core.create_account(&admin, input, &ctx).await {
        Ok(_) => Redirect::to("/admin/users?notice=created").into_response(),
        Err(e @ (CoreError::Invalid(_) | CoreError::Conflict(_))) => {
            let status = crate::error::status_of(&e);
            page(&state, jar, &who, 0, status, None, Some(e.to_string())).await
        }
        Err(e) => error_page(&e),
    }
}
