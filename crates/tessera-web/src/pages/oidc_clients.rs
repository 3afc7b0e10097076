//! The Applications page: sysadmins register OpenID Connect clients, give
//! confidential ones a new secret, and remove them. The same use cases as
//! `/api/v1/admin/oidc-clients` and `tessera admin oidc-client`.

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
use tessera_core::oidc::client::{OidcClientId, scopes_to_text};
use tessera_core::service::{Authenticated, OidcClientInput, RegisteredClient};

struct ClientRow {
    id: String,
    name: String,
    public: bool,
    first_party: bool,
    scopes: String,
    redirect_uris: Vec<String>,
    logout_uris: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_oidc_clients.html")]
struct ClientsPage<'a> {
    csrf: &'a str,
    is_admin: bool,
    issuer: String,
    clients: Vec<ClientRow>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "oidc_client_secret.html")]
struct SecretPage<'a> {
    name: &'a str,
    client_id: String,
    secret: &'a str,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

async fn clients_page(
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
    let clients = match state.core.list_oidc_clients(&admin).await {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = form_token(state, jar);
    let page = ClientsPage {
        csrf: &csrf,
        is_admin: true,
        issuer: state.core.issuer(),
        clients: clients
            .into_iter()
            .map(|c| ClientRow {
                id: c.id.to_string(),
                name: c.name,
                public: c.public,
                first_party: c.first_party,
                scopes: scopes_to_text(&c.scopes),
                redirect_uris: c.redirect_uris,
                logout_uris: c.post_logout_redirect_uris,
            })
            .collect(),
        notice,
        error,
    };
    (jar, render(status, &page)).into_response()
}

pub async fn list(
    State(state): State<AppState>,
    jar: CookieJar,
    PageSession(who): PageSession,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let notice = match q.notice.as_deref() {
        Some("created") => Some("The application was registered."),
        Some("removed") => Some("The application was removed. Its tokens no longer work."),
        _ => None,
    };
    clients_page(&state, jar, &who, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct ClientForm {
    csrf: String,
    name: String,
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    scopes: String,
    public: Option<String>,
    first_party: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

has_csrf!(ClientForm, CsrfOnly);

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The secret, shown once; a public client has none to show.
fn registered(r: RegisteredClient, notice: &str) -> Response {
    match r.secret {
        Some(secret) => render(
            StatusCode::OK,
            &SecretPage {
                name: &r.client.name,
                client_id: r.client.id.to_string(),
                secret: &secret,
            },
        ),
        None => Redirect::to(&format!("/admin/oidc-clients?notice={notice}")).into_response(),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Client(ctx): Client,
    jar: CookieJar,
    PageSession(who): PageSession,
    CsrfForm(form): CsrfForm<ClientForm>,
) -> Response {
    let admin = match state.core.require_sysadmin(&who) {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let scopes: Vec<String> = form.scopes.split_whitespace().map(String::from).collect();
    let input = OidcClientInput {
        name: form.name,
        redirect_uris: lines(&form.redirect_uris),
        post_logout_redirect_uris: lines(&form.post_logout_redirect_uris),
        public: form.public.is_some(),
        first_party: form.first_party.is_some(),
        scopes: (!scopes.is_empty()).then_some(scopes),
    };
    match state.core.create_oidc_client(&admin, input, &ctx).await {
        Ok(r) => registered(r, "created"),
        Err(e @ (CoreError::Invalid(_) | CoreError::Conflict(_))) => {
            let status = crate::error::status_of(&e);
            clients_page(&state, jar, &who, status, None, Some(e.to_string())).await
        }
        Err(e) => error_page(&e),
    }
}

/// Runs `action` for the client in the path as a sysadmin; an id that is
/// not one is the same "not found" as an unknown client.
async fn with_client<F, Fut>(
    state: &AppState,
    who: &Authenticated,
    raw_id: &str,
    action: F,
) -> Result<RegisteredClient, CoreError>
where
    F: FnOnce(tessera_core::service::Sysadmin, OidcClientId) -> Fut,
    Fut: std::future::Future<Output = Result<RegisteredClient, CoreError>>,
{
    let id: OidcClientId = raw_id
        .parse()
        .map_err(|_| CoreError::NotFound("OIDC client"))?;
    let admin = state.core.require_sysadmin(who)?;
    action(admin, id).await
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Response {
    let core = &state.core;
    let result = with_client(&state, &who, &id, |admin, id| async move {
        core.rotate_oidc_client_secret(&admin, id, &ctx).await
    })
    .await;
    match result {
        Ok(r) => registered(r, "created"),
        Err(e) => error_page(&e),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageSession(who): PageSession,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Response {
    let core = &state.core;
    let result = with_client(&state, &who, &id, |admin, id| async move {
        core.delete_oidc_client(&admin, id, &ctx)
            .await
            .map(|client| RegisteredClient {
                client,
                secret: None,
            })
    })
    .await;
    match result {
        Ok(_) => Redirect::to("/admin/oidc-clients?notice=removed").into_response(),
        Err(e) => error_page(&e),
    }
}
