//! Where a request comes from: client address, User-Agent, device token.

use crate::cookies;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use std::net::SocketAddr;
use tessera_core::service::RequestContext;

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
        // A browser's device token; mobile clients send theirs in the
        // sign-in body instead.
        let device_token = CookieJar::from_headers(&parts.headers)
            .get(&cookies::name(&state.web, cookies::DEVICE))
            .map(|c| c.value().to_string());
        Ok(Client(RequestContext {
            ip: forwarded.or(peer),
            user_agent,
            device_token,
        }))
    }
}
