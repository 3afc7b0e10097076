//! The OpenID Connect provider's endpoints for relying parties' servers:
//! token (RFC 6749 §3.2), userinfo (OpenID Connect Core §5.3),
//! introspection (RFC 7662) and revocation (RFC 7009).
//!
//! They speak OAuth, not this API's dialect: bodies are
//! `application/x-www-form-urlencoded`, errors are `{"error",
//! "error_description"}` as `application/json` (RFC 6749 §5.2), and a
//! bearer token refused at userinfo is named in `WWW-Authenticate` (RFC
//! 6750 §3). No cookie is read, so cross-site requests are welcome.

use crate::client::Client;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_core::oidc::error::{OAuthError, OAuthErrorCode};
use tessera_core::service::{ClientAuth, TokenRequest};
use utoipa::ToSchema;

/// The paths served here; the OpenAPI error rules for the JSON API skip
/// them (see `crate::openapi_errors`).
pub const PATHS: &[&str] = &[
    "/oauth2/token",
    "/oauth2/userinfo",
    "/oauth2/introspect",
    "/oauth2/revoke",
];

/// An OAuth 2.0 error (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`,
    /// `invalid_token` or `server_error`.
    pub error: String,
    pub error_description: String,
}

/// A token request (form fields; client authentication by HTTP Basic or
/// `client_id`/`client_secret` here).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    grant_type: GrantType,
    code: Option<String>,
    redirect_uri: Option<String>,
    /// The PKCE verifier (43 to 128 characters).
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The grants the token endpoint serves.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

/// Issued tokens (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct TokenResponseBody {
    /// A JWT (RFC 9068, `typ: at+jwt`) signed with ES256.
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// Rotates on every use; a replaced one used again revokes the grant.
    refresh_token: Option<String>,
    /// Signed with ES256; present when `openid` was granted.
    id_token: Option<String>,
    scope: String,
}

/// A token to introspect or revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TokenOnlyForm {
    #[schema(min_length = 1)]
    token: String,
    /// A hint only (`access_token`, `refresh_token`); the token's form decides.
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// What introspection says of a token; an inactive one is only
/// `{"active": false}`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct IntrospectionBody {
    active: bool,
    scope: Option<String>,
    client_id: Option<String>,
    username: Option<String>,
    token_type: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    sub: Option<String>,
    aud: Option<String>,
    iss: Option<String>,
    jti: Option<String>,
    sid: Option<String>,
    acr: Option<String>,
    auth_time: Option<i64>,
}

/// The user's claims, as the access token's scopes release them.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct UserinfoBody {
    sub: String,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
}

/// Fields every form here may carry.
#[derive(Debug, Default, Deserialize)]
struct Form {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn status_of(code: OAuthErrorCode) -> StatusCode {
    match code {
        OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn error_response(e: &OAuthError) -> Response {
    let status = status_of(e.code);
    let mut res = (
        status,
        axum::Json(OAuthErrorBody {
            error: e.code.as_str().to_string(),
            error_description: e.description.clone(),
        }),
    )
        .into_response();
    if e.code == OAuthErrorCode::InvalidClient {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tessera\""),
        );
    }
    if e.code == OAuthErrorCode::InvalidToken {
        let v = format!(
            "Bearer realm=\"tessera\", error=\"invalid_token\", error_description=\"{}\"",
            e.description.replace('"', "'")
        );
        if let Ok(v) = HeaderValue::from_str(&v) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    no_store(res)
}

/// The form of a request: `application/x-www-form-urlencoded` only, each
/// field once.
fn read_form(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Form, OAuthError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::invalid_request("The body is over the size limit.")
        } else {
            OAuthError::invalid_request("The body could not be read.")
        }
    })?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type && !body.is_empty() {
        return Err(OAuthError::invalid_request(
            "Send the parameters as application/x-www-form-urlencoded.",
        ));
    }
    serde_urlencoded::from_bytes(&body).map_err(|_| {
        OAuthError::invalid_request("The form repeats a parameter or is not readable.")
    })
}

/// HTTP Basic client credentials, each half form-urlencoded first
/// (RFC 6749 §2.3.1). `Err` for a Basic header that does not decode.
fn basic_client(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    use base64::Engine;
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| OAuthError::invalid_client())?;
    let Some((scheme, rest)) = v.split_once(' ') else {
        return Err(OAuthError::invalid_client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| OAuthError::invalid_client())?;
    let text = String::from_utf8(raw).map_err(|_| OAuthError::invalid_client())?;
    let (id, secret) = text
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    let decode = |s: &str| -> Result<String, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}"))
            .map_err(|_| OAuthError::invalid_client())?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    Ok(Some((decode(id)?, decode(secret)?)))
}

fn client_auth(headers: &HeaderMap, form: &Form) -> Result<ClientAuth, OAuthError> {
    Ok(ClientAuth {
        basic: basic_client(headers)?,
        client_id: form.client_id.clone(),
        client_secret: form.client_secret.clone(),
    })
}

/// The client's credentials and the token of an introspection or
/// revocation form.
fn token_form(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(ClientAuth, String), OAuthError> {
    let form = read_form(headers, body)?;
    let auth = client_auth(headers, &form)?;
    let token = form
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is missing."))?;
    Ok((auth, token))
}

/// Exchanges an authorization code, a refresh token, or client
/// credentials (a confidential client's secret, or a service account's
/// API token as `client_secret` with its id or email as `client_id`) for
/// tokens.
#[utoipa::path(
    post, path = "/oauth2/token", tag = "oidc",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponseBody),
        (status = 400, description = "An OAuth error: invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type or invalid_scope", body = OAuthErrorBody),
        (status = 401, description = "invalid_client: the client is unknown or its secret is wrong", body = OAuthErrorBody),
        (status = 500, description = "server_error", body = OAuthErrorBody),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let form = read_form(&headers, body)?;
        let auth = client_auth(&headers, &form)?;
        let req = TokenRequest {
            grant_type: form.grant_type,
            code: form.code,
            redirect_uri: form.redirect_uri,
            code_verifier: form.code_verifier,
            refresh_token: form.refresh_token,
            scope: form.scope,
        };
        state.core.oidc_token(&auth, &req, &ctx).await
    }
    .await;
    match result {
        Ok(t) => no_store(axum::Json(t).into_response()),
        Err(e) => error_response(&e),
    }
}

async fn userinfo_of(state: &AppState, headers: &HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let Some(token) = bearer else {
        return error_response(&OAuthError::invalid_token(
            "Send the access token as Authorization: Bearer.",
        ));
    };
    match state.core.oidc_userinfo(&token).await {
        Ok(claims) => no_store(axum::Json(claims).into_response()),
        Err(e) => error_response(&e),
    }
}

/// The signed-in user's claims, for an access token with the `openid`
/// scope (as `Authorization: Bearer`).
#[utoipa::path(
    get, path = "/oauth2/userinfo", tag = "oidc",
    responses(
        (status = 200, description = "The user's claims", body = UserinfoBody),
        (status = 401, description = "invalid_token: missing, expired, revoked, or its session ended (see WWW-Authenticate)", body = OAuthErrorBody),
        (status = 500, description = "server_error", body = OAuthErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo_of(&state, &headers).await
}

/// As `GET` (some relying parties post; the token is still the Bearer
/// header, and a body is ignored).
#[utoipa::path(
    post, path = "/oauth2/userinfo", tag = "oidc",
    responses(
        (status = 200, description = "The user's claims", body = UserinfoBody),
        (status = 401, description = "invalid_token (see WWW-Authenticate)", body = OAuthErrorBody),
        (status = 500, description = "server_error", body = OAuthErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn userinfo_post(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo_of(&state, &headers).await
}

/// Whether a token is active, for a confidential client (RFC 7662).
/// Tokens this server did not sign (`alg: none`, HMAC, another key) are
/// inactive.
#[utoipa::path(
    post, path = "/oauth2/introspect", tag = "oidc",
    request_body(content = TokenOnlyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "What the token is, or {\"active\": false}", body = IntrospectionBody),
        (status = 400, description = "invalid_request", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 500, description = "server_error", body = OAuthErrorBody),
    )
)]
pub async fn introspect(
    State(state): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = match token_form(&headers, body) {
        Ok((auth, token)) => state.core.oidc_introspect(&auth, &token, &ctx).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(i) => no_store(axum::Json(i).into_response()),
        Err(e) => error_response(&e),
    }
}

/// Revokes a refresh or access token of the calling client, and with it
/// every token of the same grant. Unknown tokens are not an error.
#[utoipa::path(
    post, path = "/oauth2/revoke", tag = "oidc",
    request_body(content = TokenOnlyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "invalid_request", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 500, description = "server_error", body = OAuthErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = match token_form(&headers, body) {
        Ok((auth, token)) => state.core.oidc_revoke(&auth, &token, &ctx).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => error_response(&e),
    }
}
