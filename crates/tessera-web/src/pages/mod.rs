//! Server-rendered pages. Each POST takes its form through
//! [`crate::csrf::CsrfForm`] (which checks the CSRF token), calls one
//! domain method, and redirects (post/redirect/get) or re-renders with a
//! message written for people.

mod admin;
mod admin_user;
mod audit;
mod invitations;
mod login;
mod methods;
mod oauth2;
mod oidc_clients;
mod org_test;
mod orgs;
mod security;
mod tokens;
mod twostep;

pub use crate::access::{PageAccess, PageSession};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tessera_core::service::Access;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::show).post(login::submit))
        .route(
            "/login/verify",
            get(login::show_verify).post(login::submit_verify),
        )
        .route("/login/verify/key", post(login::verify_key))
        .route("/logout", post(login::logout))
        .route(
            "/oauth2/authorize",
            get(oauth2::authorize).post(oauth2::consent),
        )
        .route(
            "/oauth2/logout",
            get(oauth2::logout).post(oauth2::confirm_logout),
        )
        .route("/invitations/{token}", get(invitations::show))
        .route("/invitations/{token}/accept", post(invitations::accept))
        .route("/invitations/{token}/signup", post(invitations::signup))
        .route(
            "/security/verify",
            get(twostep::show_step_up).post(twostep::submit_step_up),
        )
        .route("/security/two-step/required", get(twostep::required))
        .route("/security/two-step/setup", post(twostep::setup))
        .route("/security/two-step/confirm", post(twostep::confirm))
        .route(
            "/security/two-step/recovery-key",
            post(twostep::new_recovery_key),
        )
        .route("/security/two-step/disable", post(twostep::disable))
        .route("/security/two-step/totp/remove", post(methods::remove_totp))
        .route("/security/keys/{id}/rename", post(methods::rename_key))
        .route("/security/keys/{id}/remove", post(methods::remove_key))
        .route("/security/sms", post(methods::start_sms))
        .route("/security/sms/resend", post(methods::resend_sms))
        .route("/security/sms/confirm", post(methods::confirm_sms))
        .route("/security/sms/remove", post(methods::remove_sms))
        .route("/security", get(security::show))
        .route("/security/password", post(security::change_password))
        .route("/security/sessions/end-others", post(security::end_others))
        .route("/security/sessions/{id}/end", post(security::end_one))
        .route("/admin/users", get(admin::show).post(admin::create))
        .route("/admin/users/{id}", get(admin_user::show))
        .route("/admin/users/{id}/deactivate", post(admin_user::deactivate))
        .route("/admin/users/{id}/role", post(admin_user::set_role))
        .route(
            "/admin/users/{id}/sessions/{sid}/end",
            post(admin_user::end_session),
        )
        .route(
            "/admin/users/{id}/api-tokens/{tid}/revoke",
            post(admin_user::revoke_token),
        )
        .route(
            "/admin/users/{id}/two-step/remove",
            post(admin_user::unenroll),
        )
        .route("/admin/audit", get(audit::show))
        .route(
            "/admin/oidc-clients",
            get(oidc_clients::list).post(oidc_clients::create),
        )
        .route(
            "/admin/oidc-clients/{id}/rotate-secret",
            post(oidc_clients::rotate_secret),
        )
        .route(
            "/admin/oidc-clients/{id}/delete",
            post(oidc_clients::delete),
        )
        .route("/security/api-tokens", post(tokens::create))
        .route("/security/api-tokens/{id}/revoke", post(tokens::revoke))
        .route(
            "/admin/service-accounts",
            get(tokens::service_accounts).post(tokens::create_service_account),
        )
        .route(
            "/admin/service-accounts/{id}/api-tokens",
            post(tokens::create_service_token),
        )
        .route("/admin/api-tokens/{id}/revoke", post(tokens::revoke_any))
        .route("/admin/organizations", get(orgs::list).post(orgs::create))
        .route("/admin/organizations/{org}", get(orgs::show))
        .route("/admin/organizations/{org}/members", post(orgs::add_member))
        .route("/admin/organizations/{org}/invitations", post(orgs::invite))
        .route(
            "/admin/organizations/{org}/domains",
            post(orgs::claim_domain),
        )
        .route(
            "/admin/organizations/{org}/domains/verify",
            post(orgs::verify_domain),
        )
        .route("/admin/organizations/{org}/two-step", post(orgs::two_step))
        .route(
            "/admin/organizations/{org}/external-policy",
            post(orgs::external_policy),
        )
        .route(
            "/admin/organizations/{org}/reset-sessions",
            post(orgs::reset_sessions),
        )
        .route(
            "/admin/organizations/{org}/test-policy",
            post(org_test::settings),
        )
        .route(
            "/admin/organizations/{org}/test-policy/members",
            post(org_test::add),
        )
        .route(
            "/admin/organizations/{org}/test-policy/members/remove",
            post(org_test::remove),
        )
        .route(
            "/admin/organizations/{org}/test-policy/roll-out",
            post(org_test::roll_out),
        )
        .route(
            "/admin/organizations/{org}/test-policy/reset-sessions",
            post(org_test::reset_sessions),
        )
        .layer(axum::middleware::from_fn(page_headers))
}

/// Pages are never cached. (Framing, foreign resources and the other
/// security headers are `crate::security_headers`, for every answer.)
async fn page_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn home(session: Option<PageAccess>) -> Redirect {
    match session {
        Some(PageAccess(Access::Full(_))) => Redirect::to("/security"),
        Some(PageAccess(Access::Restricted(_))) => Redirect::to("/security/two-step/required"),
        None => Redirect::to("/login"),
    }
}

/// The page that sent the visitor to sign in or verify, read from its
/// return cookie: an invitation, or an OpenID Connect authorization
/// waiting for the user. Only those two shapes of local path are honoured,
/// so the cookie can never send anyone off-site.
pub fn return_path(
    web: &crate::state::WebConfig,
    jar: &axum_extra::extract::CookieJar,
) -> Option<String> {
    let name = crate::cookies::name(web, crate::cookies::RETURN);
    jar.get(&name).map(|c| c.value().to_string()).filter(|v| {
        let invitation = v.strip_prefix("/invitations/").is_some_and(|t| {
            !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        invitation || oauth2::is_resume_path(v)
    })
}

/// Where a finished sign-in lands: the [`return_path`] (its cookie
/// cleared), else the Security page.
pub fn landing(
    web: &crate::state::WebConfig,
    jar: axum_extra::extract::CookieJar,
) -> (axum_extra::extract::CookieJar, String) {
    match return_path(web, &jar) {
        Some(path) => (
            jar.add(crate::cookies::removal(web, crate::cookies::RETURN)),
            path,
        ),
        None => (jar, "/security".to_string()),
    }
}

/// What a session restricted to enrolling sees anywhere else.
pub fn enroll_first_page() -> Response {
    render(
        StatusCode::FORBIDDEN,
        &MessagePage {
            title: "Set up two-step verification first",
            message: "Your account must use two-step verification before you can continue. \
                      Go to /security/two-step/required to set it up, or sign out.",
        },
    )
}

/// Renders a template, or a plain error page if rendering fails.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(status, &MessagePage { title, message })
}

/// A friendly page for a domain error (server errors show no detail).
pub fn error_page(e: &tessera_core::CoreError) -> Response {
    let status = crate::error::status_of(e);
    let mut res = match e {
        tessera_core::CoreError::Overloaded { .. } => message_page(
            status,
            "Busy right now",
            "Too many people are signing in at once. Wait a second and try again.",
        ),
        tessera_core::CoreError::Store(_) | tessera_core::CoreError::Internal(_) => {
            tracing::error!(error = %e, "page request failed");
            message_page(
                status,
                "Something went wrong",
                "Please try again in a moment.",
            )
        }
        other => message_page(status, "That didn't work", &other.to_string()),
    };
    if let tessera_core::CoreError::RateLimited { retry_after } = e {
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        res = message_page(
            status,
            "Too many attempts",
            &format!(
                "You entered too many wrong codes. Wait {secs} seconds, then go back and try again."
            ),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let tessera_core::CoreError::Overloaded { retry_after } = e {
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after.as_secs().max(1)),
        );
    }
    res
}
