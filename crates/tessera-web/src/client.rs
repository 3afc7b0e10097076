//! Who is calling: client address, User-Agent, and their session.

use crate::cookies;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use std::net::SocketAddr;
use tessera_core::service::{Authenticated, RequestContext};

/// Where the request came from.
pub struct Client(pub RequestContext);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let forwarded = if state.web.trust_forwarded_for {
            parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|s| s.trim().to_string())
                .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
        } else {
            None
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Client(RequestContext {
            ip: forwarded.or(peer),
            user_agent,
        }))
    }
}

/// How the session token arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Cookie,
    Bearer,
    /// HTTP Basic credentials: no session exists.
    Basic,
}

/// The presented session token, from `Authorization: Bearer` or the cookie.
pub fn presented_token(parts: &Parts, state: &AppState) -> Option<(String, Via)> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let v = auth.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((token.trim().to_string(), Via::Bearer));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
    }
    let jar = CookieJar::from_headers(&parts.headers);
    jar.get(&cookies::name(&state.web, cookies::SESSION))
        .map(|c| (c.value().to_string(), Via::Cookie))
}

/// An API request with a live, unrestricted session (or HTTP Basic
/// credentials); a 401 or 403 problem otherwise.
pub struct ApiSession {
    pub who: Authenticated,
    pub via: Via,
}

impl FromRequestParts<AppState> for ApiSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some((email, password)) = basic_credentials(parts) {
            let Ok(Client(ctx)) = Client::from_request_parts(parts, state).await;
            let who = state
                .core
                .authenticate_basic(
                    &email,
                    tessera_core::password::Password::new(password),
                    &ctx,
                )
                .await?;
            return Ok(ApiSession {
                who,
                via: Via::Basic,
            });
        }
        let s = AnySession::from_request_parts(parts, state).await?;
        if s.who.session.restricted {
            return Err(tessera_core::CoreError::EnrollmentRequired.into());
        }
        Ok(ApiSession {
            who: s.who,
            via: s.via,
        })
    }
}

/// A live session, possibly restricted to enrolling in two-step
/// verification: for who-am-I, sign-out, step-up and enrollment.
pub struct AnySession {
    pub who: Authenticated,
    pub via: Via,
}

impl FromRequestParts<AppState> for AnySession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some((token, via)) = presented_token(parts, state) else {
            return Err(tessera_core::CoreError::Unauthenticated.into());
        };
        let who = state.core.authenticate(&token).await?;
        Ok(AnySession { who, via })
    }
}

/// `Authorization: Basic base64(email:password)`, if that is what was sent.
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    use base64::Engine;
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (email, password) = text.split_once(':')?;
    Some((email.to_string(), password.to_string()))
}
