//! API tokens on the pages: the Security page's section (create after
//! step-up, copy once, revoke), and the sysadmins' service accounts page
//! (list them and their tokens, create, give one a token, revoke).

use super::login::CsrfOnly;
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
use tessera_core::apitoken::TokenRequest;
use tessera_core::service::{Authenticated, IssuedToken, ServiceAccountInput};

#[derive(Template)]
#[template(path = "api_token_created.html")]
struct CreatedPage<'a> {
    token: &'a str,
    label: &'a str,
    owner: &'a str,
    scopes: String,
    expires_at: String,
    next: &'a str,
}

fn created(issued: &IssuedToken, owner: &str, next: &str) -> Response {
    render(
        StatusCode::CREATED,
        &CreatedPage {
            token: &issued.token,
            label: &issued.record.label,
            owner,
            scopes: issued.record.scopes.join(", "),
            expires_at: issued.record.expires_at.to_rfc3339(),
            next,
        },
    )
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
    label: String,
    #[serde(default)]
    expires_in_days: String,
    #[serde(default)]
    scopes: String,
}

has_csrf!(TokenForm);

impl TokenForm {
    fn request(&self) -> Result<TokenRequest, CoreError> {
        let days = match self.expires_in_days.trim() {
            "" => None,
            d => Some(d.parse::<i64>().map_err(|_| {
                CoreError::Invalid("expires_in_days must be between 1 and 365".into())
            })?),
        };
        let scopes: Vec<String> = self
            .scopes
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        Ok(TokenRequest {
            label: self.label.clone(),
            expires_in_days: days,
            scopes: (!scopes.is_empty()).then_some(scopes),
        })
    }
}

/// Back to the Security page with the reason, or to step-up.
async fn refused(state: &AppState, jar: CookieJar, who: &Authenticated, e: CoreError) -> Response {
    match e {
        CoreError::StepUpRequired(_) => Redirect::to("/security/verify").into_response(),
        CoreError::Invalid(_) | CoreError::NotFound(_) => {
            let status = crate::error::status_of(&e);
            super::security::page(state, jar, who, status, None, Some(e.to_string())).await
        }
        other => error_page(&other),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Response {
    let result = match form.request() {
        Ok(req) => state.core.create_my_api_token(&who, req, &ctx).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(issued) => created(&issued, who.account.email.as_str(), "/security"),
        Err(e) => refused(&state, jar, &who, e).await,
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    let Ok(id) = id.parse() else {
        return error_page(&CoreError::NotFound("API token"));
    };
    match state.core.revoke_my_api_token(&who, id, &ctx).await {
        Ok(()) => Redirect::to("/security?notice=token-revoked").into_response(),
        Err(e) => refused(&state, jar, &who, e).await,
    }
}

struct AdminTokenRow {
    id: String,
    label: String,
    scopes: String,
    expires_at: String,
    expired: bool,
    last_used: Option<String>,
}

struct ServiceRow {
    id: String,
    name: String,
    email: String,
    description: String,
    role: String,
    tokens: Vec<AdminTokenRow>,
}

#[derive(Template)]
#[template(path = "admin_service_accounts.html")]
struct ServicePage<'a> {
    csrf: &'a str,
    is_admin: bool,
    accounts: Vec<ServiceRow>,
    scopes_offered: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ServiceQuery {
    notice: Option<String>,
}

async fn service_page(
    state: &AppState,
    jar: CookieJar,
    who: &Authenticated,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let admin = match state.core.require_sysadmin(who) {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let all = match state.core.list_service_accounts(&admin).await {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let now = state.core.clock.now();
    let mut accounts = Vec::with_capacity(all.len());
    for sa in all {
        let tokens = match state.core.api_tokens_of(&admin, sa.account.id).await {
            Ok(t) => t,
            Err(e) => return error_page(&e),
        };
        accounts.push(ServiceRow {
            id: sa.account.id.to_string(),
            name: sa.account.display_name.clone(),
            email: sa.account.email.to_string(),
            description: sa.description.clone(),
            role: sa.account.role.to_string(),
            tokens: tokens
                .iter()
                .map(|t| AdminTokenRow {
                    id: t.id.to_string(),
                    label: t.label.clone(),
                    scopes: t.scopes.join(", "),
                    expires_at: t.expires_at.to_rfc3339(),
                    expired: !t.is_live(now),
                    last_used: t.last_used_at.map(|u| u.to_rfc3339()),
                })
                .collect(),
        });
    }
    let (jar, csrf) = form_token(state, jar);
    let page = ServicePage {
        csrf: &csrf,
        is_admin: true,
        accounts,
        scopes_offered: state.core.config.api_tokens.scopes.join(" "),
        notice,
        error,
    };
    (jar, render(status, &page)).into_response()
}

pub async fn service_accounts(
    State(state): State<AppState>,
    jar: CookieJar,
    PageSession(who): PageSession,
    Query(q): Query<ServiceQuery>,
) -> Response {
    let notice = match q.notice.as_deref() {
        Some("created") => Some("The service account was created."),
        Some("token-revoked") => Some("The API token was revoked. It no longer works."),
        _ => None,
    };
    service_page(&state, jar, &who, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct ServiceForm {
    csrf: String,
    name: String,
    #[serde(default)]
    description: String,
}

has_csrf!(ServiceForm);

pub async fn create_service_account(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    CsrfForm(form): CsrfForm<ServiceForm>,
) -> Response {
    let admin = match state.core.require_sysadmin(&who) {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let input = ServiceAccountInput {
        name: form.name,
        description: form.description,
        role: None,
    };
    match state.core.create_service_account(&admin, input, &ctx).await {
        Ok(_) => Redirect::to("/admin/service-accounts?notice=created").into_response(),
        Err(e @ (CoreError::Invalid(_) | CoreError::Conflict(_))) => {
            let status = crate::error::status_of(&e);
            service_page(&state, jar, &who, status, None, Some(e.to_string())).await
        }
        Err(e) => error_page(&e),
    }
}

pub async fn create_service_token(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Response {
    let Ok(id) = id.parse() else {
        return error_page(&CoreError::NotFound("service account"));
    };
    let result = match form.request() {
        Ok(req) => state.core.create_service_token(&who, id, req, &ctx).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(issued) => {
            let owner = match state.core.require_sysadmin(&who) {
                Ok(admin) => state
                    .core
                    .get_service_account(&admin, id)
                    .await
                    .map(|s| s.account.display_name)
                    .unwrap_or_default(),
                Err(_) => String::new(),
            };
            created(&issued, &owner, "/admin/service-accounts")
        }
        Err(CoreError::StepUpRequired(_)) => Redirect::to("/security/verify").into_response(),
        Err(e @ CoreError::Invalid(_)) => {
            service_page(
                &state,
                jar,
                &who,
                StatusCode::BAD_REQUEST,
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => error_page(&e),
    }
}

pub async fn revoke_any(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Response {
    let admin = match state.core.require_sysadmin(&who) {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let Ok(id) = id.parse() else {
        return error_page(&CoreError::NotFound("API token"));
    };
    match state.core.revoke_api_token(&admin, id, &ctx).await {
        Ok(_) => Redirect::to("/admin/service-accounts?notice=token-revoked").into_response(),
        Err(e) => error_page(&e),
    }
}
