//! Who may call which route: one table, enforced by one middleware.
//!
//! Every route of the API and the pages is listed in [`ROUTES`] with what
//! it needs. The [`gate`] runs after routing, looks the matched route up,
//! authenticates the caller (session cookie, bearer token, or HTTP Basic
//! where the table allows it), checks the need, and hands the handler the
//! capability core granted: [`Authenticated`] or, on enrollment routes, an
//! [`Access`] that may be [`tessera_core::service::Restricted`]. Handlers
//! only read what the gate left; a route missing from the table is refused
//! with a 500 before its handler runs, so forgetting fails closed.
//!
//! ```text
//!   request ─▶ route ─▶ gate: table[method, path] ─▶ Public ──────────────▶ handler
//!                              │ no entry: 500    └▶ authenticate ─▶ need met? ─▶ handler
//!                              │                                    └ no: 401/403
//!                              └ the path is there with other methods: 405 + Allow
//! ```
//!
//! A method the table does not list for a known path (`TRACE`, `PUT` on a
//! `POST` route) is a 405 naming the methods it does list: the router
//! sends such requests through the gate too, and they are the client's
//! mistake, not a forgotten entry. A handler for that method, if one were
//! wired without its entry, still never runs.

use crate::cookies;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use tessera_core::CoreError;
use tessera_core::account::Role;
use tessera_core::service::{Access, Authenticated};

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Anyone (sign-in, sign-up, the login pages).
    Public,
    /// A live session, even one restricted to enrolling in two-step
    /// verification: step-up, adding a method, signing out. Not Basic, not
    /// an API token.
    RestrictedOk,
    /// Who-am-I: a live session (restricted ones too), or an API token
    /// (Bearer, or Basic `email:tsr_…`). Not a password.
    Identify,
    /// A full session. Not Basic, not an API token: security changes and
    /// anything that needs a recent verification.
    Authenticated,
    /// A full session, HTTP Basic credentials of an account that may use
    /// them, or an API token.
    AuthenticatedOrBasic,
    /// A sysadmin, by full session, Basic or API token.
    Sysadmin,
    /// A sysadmin by a full session only: making credentials for other
    /// accounts (service account tokens, conversions). Never a token.
    SysadminSession,
    /// Full access (session, Basic or API token) to an organization route:
    /// the handler gets core's `OrgAdmin` capability for the organization
    /// in the path (an org-admin of it, or a sysadmin) before anything.
    OrgAdmin,
}

impl Needs {
    /// Whether an email and password may be sent as HTTP Basic.
    pub fn accepts_basic(self) -> bool {
        matches!(
            self,
            Needs::AuthenticatedOrBasic | Needs::Sysadmin | Needs::OrgAdmin
        )
    }

    /// Whether an API token may be sent (as Bearer, or as Basic's password).
    pub fn accepts_token(self) -> bool {
        matches!(
            self,
            Needs::AuthenticatedOrBasic | Needs::Sysadmin | Needs::Identify | Needs::OrgAdmin
        )
    }
}

use Needs::*;

/// The route table: `(method, path as routed, need)`. Every route of the
/// application is here (the walk test sends every entry a restricted
/// session and restricted Basic credentials).
pub const ROUTES: &[(&str, &str, Needs)] = &[
    // Signing in and up.
    ("POST", "/api/v1/signin", Public),
    ("POST", "/api/v1/signup", Public),
    ("POST", "/api/v1/signin/{flow_id}/{method}", Public),
    ("POST", "/api/v1/signin/{flow_id}/email_code/resend", Public),
    ("POST", "/api/v1/signin/passkey/start", Public),
    ("POST", "/api/v1/signin/passkey/finish", Public),
    // Who am I, and signing out.
    ("GET", "/api/v1/session", Identify),
    ("DELETE", "/api/v1/session", RestrictedOk),
    // Enrollment: what a restricted session is for.
    ("POST", "/api/v1/step-up/{method}", RestrictedOk),
    ("POST", "/api/v1/step-up/email_code/send", RestrictedOk),
    ("GET", "/api/v1/me/two-step", RestrictedOk),
    ("POST", "/api/v1/me/two-step/totp", RestrictedOk),
    ("POST", "/api/v1/me/two-step/totp/confirm", RestrictedOk),
    ("POST", "/api/v1/me/two-step/security-keys", RestrictedOk),
    ("POST", "/api/v1/me/two-step/passkeys", RestrictedOk),
    ("POST", "/api/v1/me/two-step/keys/finish", RestrictedOk),
    ("POST", "/api/v1/me/two-step/sms", RestrictedOk),
    ("POST", "/api/v1/me/two-step/sms/resend", RestrictedOk),
    ("POST", "/api/v1/me/two-step/sms/confirm", RestrictedOk),
    // Security changes.
    ("DELETE", "/api/v1/me/two-step", Authenticated),
    ("DELETE", "/api/v1/me/two-step/totp", Authenticated),
    ("DELETE", "/api/v1/me/two-step/sms", Authenticated),
    ("PATCH", "/api/v1/me/two-step/keys/{id}", Authenticated),
    ("DELETE", "/api/v1/me/two-step/keys/{id}", Authenticated),
    ("POST", "/api/v1/me/two-step/recovery-key", Authenticated),
    ("POST", "/api/v1/me/password", Authenticated),
    // API tokens: made and managed by sessions only (after step-up).
    ("POST", "/api/v1/me/api-tokens", Authenticated),
    ("GET", "/api/v1/me/api-tokens", Authenticated),
    ("DELETE", "/api/v1/me/api-tokens/{id}", Authenticated),
    // Sessions.
    ("GET", "/api/v1/sessions", AuthenticatedOrBasic),
    ("DELETE", "/api/v1/sessions", Authenticated),
    ("DELETE", "/api/v1/sessions/{id}", Authenticated),
    // Administration.
    ("GET", "/api/v1/admin/users", Sysadmin),
    ("POST", "/api/v1/admin/users", Sysadmin),
    ("GET", "/api/v1/admin/users/{id}", Sysadmin),
    ("PUT", "/api/v1/admin/users/{id}/role", Sysadmin),
    ("POST", "/api/v1/admin/users/{id}/deactivate", Sysadmin),
    ("DELETE", "/api/v1/admin/users/{id}/two-step", Sysadmin),
    ("DELETE", "/api/v1/admin/users/{id}/throttle", Sysadmin),
    ("GET", "/api/v1/admin/audit", Sysadmin),
    ("GET", "/api/v1/admin/users/{id}/api-tokens", Sysadmin),
    ("DELETE", "/api/v1/admin/api-tokens/{id}", Sysadmin),
    ("POST", "/api/v1/admin/service-accounts", Sysadmin),
    ("GET", "/api/v1/admin/service-accounts", Sysadmin),
    ("GET", "/api/v1/admin/service-accounts/{id}", Sysadmin),
    ("PATCH", "/api/v1/admin/service-accounts/{id}", Sysadmin),
    ("DELETE", "/api/v1/admin/service-accounts/{id}", Sysadmin),
    (
        "POST",
        "/api/v1/admin/service-accounts/{id}/api-tokens",
        SysadminSession,
    ),
    (
        "POST",
        "/api/v1/admin/users/{id}/convert-to-service",
        SysadminSession,
    ),
    // Organizations: the organization in the path decides (core).
    ("GET", "/api/v1/admin/organizations", OrgAdmin),
    ("POST", "/api/v1/admin/organizations", Sysadmin),
    ("GET", "/api/v1/admin/organizations/{org}", OrgAdmin),
    ("GET", "/api/v1/admin/organizations/{org}/domains", OrgAdmin),
    (
        "POST",
        "/api/v1/admin/organizations/{org}/domains",
        OrgAdmin,
    ),
    (
        "POST",
        "/api/v1/admin/organizations/{org}/domains/{domain}/verify",
        OrgAdmin,
    ),
    (
        "DELETE",
        "/api/v1/admin/organizations/{org}/domains/{domain}",
        OrgAdmin,
    ),
    ("GET", "/api/v1/admin/organizations/{org}/members", OrgAdmin),
    (
        "POST",
        "/api/v1/admin/organizations/{org}/members",
        OrgAdmin,
    ),
    (
        "PUT",
        "/api/v1/admin/organizations/{org}/members/{account_id}",
        OrgAdmin,
    ),
    (
        "DELETE",
        "/api/v1/admin/organizations/{org}/members/{account_id}",
        OrgAdmin,
    ),
    (
        "GET",
        "/api/v1/admin/organizations/{org}/invitations",
        OrgAdmin,
    ),
    (
        "POST",
        "/api/v1/admin/organizations/{org}/invitations",
        OrgAdmin,
    ),
    (
        "DELETE",
        "/api/v1/admin/organizations/{org}/invitations/{id}",
        OrgAdmin,
    ),
    (
        "GET",
        "/api/v1/admin/organizations/{org}/two-step",
        OrgAdmin,
    ),
    (
        "PUT",
        "/api/v1/admin/organizations/{org}/two-step",
        OrgAdmin,
    ),
    (
        "GET",
        "/api/v1/admin/organizations/{org}/external-policy",
        OrgAdmin,
    ),
    (
        "PUT",
        "/api/v1/admin/organizations/{org}/external-policy",
        OrgAdmin,
    ),
    (
        "GET",
        "/api/v1/admin/organizations/{org}/external-policy/reset-sessions",
        OrgAdmin,
    ),
    (
        "POST",
        "/api/v1/admin/organizations/{org}/external-policy/reset-sessions",
        OrgAdmin,
    ),
    (
        "GET",
        "/api/v1/admin/organizations/{org}/external-policy/test",
        OrgAdmin,
    ),
    (
        "PUT",
        "/api/v1/admin/organizations/{org}/external-policy/test",
        OrgAdmin,
    ),
    (
        "POST",
        "/api/v1/admin/organizations/{org}/external-policy/test/members",
        OrgAdmin,
    ),
    (
        "DELETE",
        "/api/v1/admin/organizations/{org}/external-policy/test/members/{account_id}",
        OrgAdmin,
    ),
    (
        "POST",
        "/api/v1/admin/organizations/{org}/external-policy/test/roll-out",
        OrgAdmin,
    ),
    (
        "GET",
        "/api/v1/admin/organizations/{org}/external-policy/test/reset-sessions",
        OrgAdmin,
    ),
    (
        "POST",
        "/api/v1/admin/organizations/{org}/external-policy/test/reset-sessions",
        OrgAdmin,
    ),
    (
        "GET",
        "/api/v1/admin/organizations/{org}/external-users.csv",
        OrgAdmin,
    ),
    // OpenID Connect: the provider's public documents, and its clients.
    ("GET", "/.well-known/openid-configuration", Public),
    ("GET", "/oauth2/jwks", Public),
    // The flow: the browser's pages check the session themselves (none is
    // needed to start); the server endpoints authenticate the client or
    // the access token by OAuth's rules, not this table's.
    ("GET", "/oauth2/authorize", Public),
    ("POST", "/oauth2/authorize", Public),
    ("POST", "/oauth2/token", Public),
    ("GET", "/oauth2/userinfo", Public),
    ("POST", "/oauth2/userinfo", Public),
    ("POST", "/oauth2/introspect", Public),
    ("POST", "/oauth2/revoke", Public),
    ("GET", "/oauth2/logout", Public),
    ("POST", "/oauth2/logout", Public),
    ("POST", "/api/v1/admin/oidc-clients", Sysadmin),
    ("GET", "/api/v1/admin/oidc-clients", Sysadmin),
    ("GET", "/api/v1/admin/oidc-clients/{id}", Sysadmin),
    ("PATCH", "/api/v1/admin/oidc-clients/{id}", Sysadmin),
    ("DELETE", "/api/v1/admin/oidc-clients/{id}", Sysadmin),
    (
        "POST",
        "/api/v1/admin/oidc-clients/{id}/rotate-secret",
        Sysadmin,
    ),
    // Invitation links.
    ("GET", "/api/v1/invitations/{token}", Public),
    ("POST", "/api/v1/invitations/{token}/accept", Authenticated),
    ("POST", "/api/v1/invitations/{token}/signup", Public),
    // Pages.
    ("GET", "/", Public),
    ("GET", "/login", Public),
    ("POST", "/login", Public),
    ("GET", "/login/verify", Public),
    ("POST", "/login/verify", Public),
    ("POST", "/login/verify/key", Public),
    ("POST", "/logout", Public),
    ("GET", "/invitations/{token}", Public),
    ("POST", "/invitations/{token}/accept", Authenticated),
    ("POST", "/invitations/{token}/signup", Public),
    ("GET", "/security/verify", RestrictedOk),
    ("POST", "/security/verify", RestrictedOk),
    ("GET", "/security/two-step/required", RestrictedOk),
    ("POST", "/security/two-step/setup", RestrictedOk),
    ("POST", "/security/two-step/confirm", RestrictedOk),
    ("POST", "/security/sms", RestrictedOk),
    ("POST", "/security/sms/resend", RestrictedOk),
    ("POST", "/security/sms/confirm", RestrictedOk),
    ("POST", "/security/two-step/recovery-key", Authenticated),
    ("POST", "/security/two-step/disable", Authenticated),
    ("POST", "/security/two-step/totp/remove", Authenticated),
    ("POST", "/security/keys/{id}/rename", Authenticated),
    ("POST", "/security/keys/{id}/remove", Authenticated),
    ("POST", "/security/sms/remove", Authenticated),
    ("GET", "/security", Authenticated),
    ("POST", "/security/password", Authenticated),
    ("POST", "/security/sessions/end-others", Authenticated),
    ("POST", "/security/sessions/{id}/end", Authenticated),
    ("POST", "/security/api-tokens", Authenticated),
    ("POST", "/security/api-tokens/{id}/revoke", Authenticated),
    ("GET", "/admin/oidc-clients", Sysadmin),
    ("POST", "/admin/oidc-clients", Sysadmin),
    ("POST", "/admin/oidc-clients/{id}/rotate-secret", Sysadmin),
    ("POST", "/admin/oidc-clients/{id}/delete", Sysadmin),
    ("GET", "/admin/users", Sysadmin),
    ("POST", "/admin/users", Sysadmin),
    ("GET", "/admin/users/{id}", Sysadmin),
    ("POST", "/admin/users/{id}/deactivate", Sysadmin),
    ("POST", "/admin/users/{id}/role", Sysadmin),
    ("POST", "/admin/users/{id}/sessions/{sid}/end", Sysadmin),
    (
        "POST",
        "/admin/users/{id}/api-tokens/{tid}/revoke",
        Sysadmin,
    ),
    ("POST", "/admin/users/{id}/two-step/remove", Sysadmin),
    ("GET", "/admin/audit", Sysadmin),
    ("GET", "/admin/service-accounts", Sysadmin),
    ("POST", "/admin/service-accounts", Sysadmin),
    (
        "POST",
        "/admin/service-accounts/{id}/api-tokens",
        SysadminSession,
    ),
    ("POST", "/admin/api-tokens/{id}/revoke", Sysadmin),
    ("GET", "/admin/organizations", OrgAdmin),
    ("POST", "/admin/organizations", Sysadmin),
    ("GET", "/admin/organizations/{org}", OrgAdmin),
    ("POST", "/admin/organizations/{org}/members", OrgAdmin),
    ("POST", "/admin/organizations/{org}/invitations", OrgAdmin),
    ("POST", "/admin/organizations/{org}/domains", OrgAdmin),
    (
        "POST",
        "/admin/organizations/{org}/domains/verify",
        OrgAdmin,
    ),
    ("POST", "/admin/organizations/{org}/two-step", OrgAdmin),
    (
        "POST",
        "/admin/organizations/{org}/external-policy",
        OrgAdmin,
    ),
    (
        "POST",
        "/admin/organizations/{org}/reset-sessions",
        OrgAdmin,
    ),
    ("POST", "/admin/organizations/{org}/test-policy", OrgAdmin),
    (
        "POST",
        "/admin/organizations/{org}/test-policy/members",
        OrgAdmin,
    ),
    (
        "POST",
        "/admin/organizations/{org}/test-policy/members/remove",
        OrgAdmin,
    ),
    (
        "POST",
        "/admin/organizations/{org}/test-policy/roll-out",
        OrgAdmin,
    ),
    (
        "POST",
        "/admin/organizations/{org}/test-policy/reset-sessions",
        OrgAdmin,
    ),
];

/// What a route needs, if the table has it. HEAD is routed as GET.
pub fn needs_of(method: &Method, path: &str) -> Option<Needs> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, n)| *n)
}

/// How the caller's credentials arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Cookie,
    Bearer,
    /// HTTP Basic credentials: no session exists.
    Basic,
    /// An API token (Bearer or Basic): no session exists.
    Token,
}

/// What the gate leaves for the handler.
#[derive(Clone)]
struct Granted {
    access: Access,
    via: Via,
}

/// Why the gate refused.
enum Refusal {
    /// No usable credentials: sign in.
    SignIn,
    /// A domain refusal (bad Basic credentials, throttled, …).
    Core(CoreError),
    /// Basic credentials on a route that takes sessions only.
    BasicNotAccepted,
    /// An API token on a route that takes sessions only.
    TokenNotAccepted,
    /// A restricted session off the enrollment routes.
    MustEnroll,
    NotSysadmin,
    /// The route is not in the table.
    Undeclared,
}

/// The middleware: enforce the table for the matched route.
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // A shared copy (no allocation): the request moves on below.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let path = matched.as_ref().map_or("", MatchedPath::as_str);
    let is_api = path.starts_with("/api/");
    let needs = needs_of(req.method(), path);
    if needs == Some(Public) {
        return next.run(req).await;
    }
    if needs.is_none()
        && let Some(allow) = allowed_methods(path)
    {
        return method_not_allowed(is_api, &allow);
    }
    let (mut parts, body) = req.into_parts();
    let outcome = match needs {
        None => {
            tracing::error!(path, method = %parts.method, "route missing from the access table");
            Err(Refusal::Undeclared)
        }
        Some(needs) => admit(&state, &mut parts, needs).await,
    };
    match outcome {
        Ok(granted) => {
            parts.extensions.insert(granted);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refusal) if is_api => api_refusal(refusal).into_response(),
        Err(refusal) => page_refusal(refusal),
    }
}

/// The methods the table lists for `path` (HEAD with GET), for `Allow`;
/// `None` if the path is not in the table at all.
fn allowed_methods(path: &str) -> Option<String> {
    let mut methods: Vec<&str> = Vec::new();
    for (m, p, _) in ROUTES {
        if *p == path && !methods.contains(m) {
            methods.push(m);
            if *m == "GET" {
                methods.push("HEAD");
            }
        }
    }
    (!methods.is_empty()).then(|| methods.join(", "))
}

fn method_not_allowed(is_api: bool, allow: &str) -> Response {
    let mut res = if is_api {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("This endpoint takes {allow}."),
        )
        .into_response()
    } else {
        crate::pages::message_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not allowed",
            "This page cannot be used that way.",
        )
    };
    if let Ok(v) = header::HeaderValue::from_str(allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

async fn admit(state: &AppState, parts: &mut Parts, needs: Needs) -> Result<Granted, Refusal> {
    let (access, via) = match credentials(parts, state) {
        None => return Err(Refusal::SignIn),
        Some(Credentials::Basic { password, .. })
            if looks_like_token(&password) && !needs.accepts_token() =>
        {
            return Err(Refusal::TokenNotAccepted);
        }
        Some(Credentials::Basic { password, .. })
            if !looks_like_token(&password) && !needs.accepts_basic() =>
        {
            return Err(Refusal::BasicNotAccepted);
        }
        Some(Credentials::Basic { email, password }) => {
            let via = if looks_like_token(&password) {
                Via::Token
            } else {
                Via::Basic
            };
            let Ok(crate::client::Client(ctx)) =
                crate::client::Client::from_request_parts(parts, state).await;
            let access = state
                .core
                .authenticate_basic(
                    &email,
                    tessera_core::password::Password::new(password),
                    &ctx,
                )
                .await
                .map_err(Refusal::Core)?;
            (access, via)
        }
        Some(Credentials::Token {
            token,
            via: Via::Bearer,
        }) if looks_like_token(&token) => {
            if !needs.accepts_token() {
                return Err(Refusal::TokenNotAccepted);
            }
            let Ok(crate::client::Client(ctx)) =
                crate::client::Client::from_request_parts(parts, state).await;
            match state.core.authenticate_api_token(&token, &ctx).await {
                Ok(access) => (access, Via::Token),
                Err(CoreError::Unauthenticated) => return Err(Refusal::SignIn),
                Err(e) => return Err(Refusal::Core(e)),
            }
        }
        Some(Credentials::Token { token, via }) => match state.core.authenticate(&token).await {
            Ok(access) => (access, via),
            Err(CoreError::Unauthenticated) => return Err(Refusal::SignIn),
            Err(e) => return Err(Refusal::Core(e)),
        },
    };
    let full = match (&access, needs) {
        (_, Public) | (_, RestrictedOk) | (_, Identify) => return Ok(Granted { access, via }),
        (Access::Restricted(_), _) => return Err(Refusal::MustEnroll),
        (Access::Full(who), _) => who,
    };
    let admin_needed = matches!(needs, Sysadmin | SysadminSession);
    if admin_needed && !(full.account.role >= Role::Sysadmin && full.account.active) {
        return Err(Refusal::NotSysadmin);
    }
    Ok(Granted { access, via })
}

fn api_refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::SignIn => CoreError::Unauthenticated.into(),
        Refusal::Core(e) => e.into(),
        Refusal::BasicNotAccepted => ApiError::new(
            StatusCode::FORBIDDEN,
            "basic_not_accepted",
            "HTTP Basic authentication is not accepted here: sign in for a session.",
        ),
        Refusal::TokenNotAccepted => ApiError::new(
            StatusCode::FORBIDDEN,
            "token_not_accepted",
            "API tokens are not accepted here: sign in for a session.",
        ),
        Refusal::MustEnroll => CoreError::EnrollmentRequired.into(),
        Refusal::NotSysadmin => CoreError::Forbidden("This needs the sysadmin role.").into(),
        Refusal::Undeclared => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side; try again later.",
        ),
    }
}

fn page_refusal(r: Refusal) -> Response {
    use crate::pages::message_page;
    match r {
        Refusal::SignIn => Redirect::to("/login").into_response(),
        Refusal::Core(e) => crate::pages::error_page(&e),
        Refusal::BasicNotAccepted => message_page(
            StatusCode::FORBIDDEN,
            "Sign in first",
            "These pages need a signed-in session; HTTP Basic authentication is not accepted here.",
        ),
        Refusal::TokenNotAccepted => message_page(
            StatusCode::FORBIDDEN,
            "Sign in first",
            "These pages need a signed-in session; API tokens are not accepted here.",
        ),
        Refusal::MustEnroll => crate::pages::enroll_first_page(),
        Refusal::NotSysadmin => message_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "This page is for sysadmins.",
        ),
        Refusal::Undeclared => message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again in a moment.",
        ),
    }
}

/// Credentials a request presents.
#[derive(Debug)]
pub enum Credentials {
    Token { token: String, via: Via },
    Basic { email: String, password: String },
}

/// The credentials presented: `Authorization: Bearer`, `Authorization:
/// Basic`, or the session cookie.
fn credentials(parts: &Parts, state: &AppState) -> Option<Credentials> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        match authorization(auth) {
            Authorization::Credentials(c) => return Some(c),
            Authorization::Unreadable => return None,
            Authorization::OtherScheme => {}
        }
    }
    session_cookie(parts, state).map(|token| Credentials::Token {
        token,
        via: Via::Cookie,
    })
}

/// What an `Authorization` header says.
#[derive(Debug)]
pub enum Authorization {
    Credentials(Credentials),
    /// Not text, no scheme, or Basic that does not decode: no credentials
    /// (the session cookie is not looked at either).
    Unreadable,
    /// A scheme other than Bearer and Basic: the session cookie decides.
    OtherScheme,
}

/// Parses an `Authorization` header value: `Bearer <token>` or `Basic
/// base64(email:password)`, schemes in any case.
pub fn authorization(value: &HeaderValue) -> Authorization {
    let Some((scheme, value)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Authorization::Unreadable;
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        return Authorization::Credentials(Credentials::Token {
            token: value.trim().to_string(),
            via: Via::Bearer,
        });
    }
    if scheme.eq_ignore_ascii_case("basic") {
        return match basic_credentials(value) {
            Some((email, password)) => {
                Authorization::Credentials(Credentials::Basic { email, password })
            }
            None => Authorization::Unreadable,
        };
    }
    Authorization::OtherScheme
}

fn session_cookie(parts: &Parts, state: &AppState) -> Option<String> {
    let jar = CookieJar::from_headers(&parts.headers);
    jar.get(&cookies::name(&state.web, cookies::SESSION))
        .map(|c| c.value().to_string())
}

/// Whether a presented secret is shaped like an API token (`tsr_…`).
fn looks_like_token(secret: &str) -> bool {
    tessera_core::apitoken::looks_like_token(secret)
}

/// `base64(email:password)`.
fn basic_credentials(b64: &str) -> Option<(String, String)> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (email, password) = text.split_once(':')?;
    Some((email.to_string(), password.to_string()))
}

/// The gate's grant, taken out of the request. Missing only if the route
/// was wired without the gate: refuse rather than guess.
fn granted(parts: &mut Parts) -> Result<Granted, CoreError> {
    parts.extensions.remove::<Granted>().ok_or_else(|| {
        CoreError::Internal(format!(
            "{} {}: no access grant",
            parts.method,
            parts.uri.path()
        ))
    })
}

/// An API caller with full access (a session, or Basic where allowed).
pub struct ApiSession {
    pub who: Authenticated,
    pub via: Via,
}

impl FromRequestParts<AppState> for ApiSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let g = granted(parts)?;
        Ok(ApiSession {
            who: g.access.full()?,
            via: g.via,
        })
    }
}

/// An API caller on an enrollment route: full or restricted.
pub struct AnySession {
    pub access: Access,
    pub via: Via,
}

impl FromRequestParts<AppState> for AnySession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let g = granted(parts)?;
        Ok(AnySession {
            access: g.access,
            via: g.via,
        })
    }
}

/// A page visitor with full access.
pub struct PageSession(pub Authenticated);

impl FromRequestParts<AppState> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        let g = granted(parts).map_err(|e| crate::pages::error_page(&e))?;
        match g.access.full() {
            Ok(who) => Ok(PageSession(who)),
            Err(_) => Err(crate::pages::enroll_first_page()),
        }
    }
}

/// A page visitor on an enrollment page: full or restricted.
pub struct PageAccess(pub Access);

impl FromRequestParts<AppState> for PageAccess {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        let g = granted(parts).map_err(|e| crate::pages::error_page(&e))?;
        Ok(PageAccess(g.access))
    }
}

/// On public pages: the visitor's session, if they have a live one
/// (authenticated here, since the gate does not for public routes).
impl axum::extract::OptionalFromRequestParts<AppState> for PageAccess {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        let Some(token) = session_cookie(parts, state) else {
            return Ok(None);
        };
        Ok(state.core.authenticate(&token).await.ok().map(PageAccess))
    }
}

/// Writes what the gate does into the OpenAPI document, from the same
/// table: each operation's security schemes and the refusals every caller
/// can meet before the handler runs, so the contract cannot drift from the
/// enforcement.
pub struct GateInOpenApi;

impl utoipa::Modify for GateInOpenApi {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                ("GET", &mut item.get),
                ("POST", &mut item.post),
                ("PUT", &mut item.put),
                ("PATCH", &mut item.patch),
                ("DELETE", &mut item.delete),
            ];
            for (method, op) in ops {
                let (Some(op), Some(needs)) = (op.as_mut(), needs_of_documented(method, path))
                else {
                    continue;
                };
                describe(op, needs);
            }
        }
    }
}

/// What the operation the document lists as `method path` needs. The
/// document names some routes' operations one per value of a path
/// parameter (`/api/v1/step-up/password` for `/api/v1/step-up/{method}`),
/// so a path the table lacks is matched against its templates: a `{…}`
/// segment of the table matches any one segment.
pub fn needs_of_documented(method: &str, path: &str) -> Option<Needs> {
    let routes = || ROUTES.iter().filter(|(m, _, _)| *m == method);
    if let Some((_, _, n)) = routes().find(|(_, p, _)| *p == path) {
        return Some(*n);
    }
    let segments: Vec<&str> = path.split('/').collect();
    routes()
        .find(|(_, p, _)| {
            let template: Vec<&str> = p.split('/').collect();
            template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || t.starts_with('{') && t.ends_with('}'))
        })
        .map(|(_, _, n)| *n)
}

fn describe(op: &mut utoipa::openapi::path::Operation, needs: Needs) {
    use utoipa::openapi::security::SecurityRequirement;
    if needs == Public {
        return;
    }
    let mut schemes = vec!["bearer", "cookie"];
    if needs.accepts_basic() || needs.accepts_token() {
        schemes.push("basic");
    }
    op.security = Some(
        schemes
            .into_iter()
            .map(|s| SecurityRequirement::new(s, Vec::<String>::new()))
            .collect(),
    );
    let mut refusals = vec![
        ("401", "No live session, or bad credentials"),
        (
            "403",
            "Refused: a session that may only enroll in two-step verification, Basic credentials or an API token where a session is needed, or a missing role",
        ),
    ];
    if needs.accepts_basic() {
        refusals.push((
            "429",
            "Basic credentials are blocked by the password throttle; see Retry-After",
        ));
        refusals.push((
            "503",
            "Basic credentials could not be checked now: password hashing is overloaded; see Retry-After",
        ));
    }
    for (status, why) in refusals {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| problem_response(why));
    }
}

fn problem_response(
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::response::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}
