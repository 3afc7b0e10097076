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
}

/// The presented session token, from `Authorization: Bearer` or the cookie.
pub fn presented_token(parts: &Parts, state: &AppState) -> Option<(String, Via)> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let v = auth.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| (token.trim().to_string(), Via::Bearer));
    }
    let jar = CookieJar::from_headers(&parts.headers);
    jar.get(&cookies::name(&state.web, cookies::SESSION))
        .map(|c| (c.value().to_string(), Via::Cookie))
}

/// An API request with a live session; 401 problem otherwise.
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
        let Some((token, via)) = presented_token(parts, state) else {
            return Err(tessera_core::CoreError::Unauthenticated.into());
        };
        let who = state.core.authenticate(&token).await?;
        Ok(ApiSession { who, via })
    }
}
