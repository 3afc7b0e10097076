//! The OpenID Connect provider's public documents: discovery and the JWKS.
//! Both are public (relying parties fetch them without credentials) and
//! cacheable for a short while.

use super::oidc_dto::{JwkSetView, JwkView, ProviderMetadataView};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tessera_core::CoreError;
use tessera_core::oidc::metadata::ProviderMetadata;

/// How long a relying party may cache the discovery document.
const DISCOVERY_MAX_AGE: &str = "public, max-age=3600";
/// How long it may cache the JWKS: short, since a rotated-in key signs at
/// once, and a relying party that cached the set without it would refuse
/// new tokens until it fetches again.
const JWKS_MAX_AGE: &str = "public, max-age=60";

fn cached(value: &'static str, body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    res
}

/// OpenID Provider metadata: the endpoints and what the provider supports.
/// Every URL is under this server's public URL, which is the issuer.
#[utoipa::path(
    get, path = "/.well-known/openid-configuration", tag = "oidc",
    responses((status = 200, description = "The provider's metadata", body = ProviderMetadataView))
)]
pub async fn discovery(State(state): State<AppState>) -> Response {
    let meta = ProviderMetadata::for_issuer(&state.core.config.public_url);
    cached(
        DISCOVERY_MAX_AGE,
        axum::Json(ProviderMetadataView::from(meta)),
    )
}

/// The JSON Web Key Set that ID tokens and access tokens are verified
/// with: the active ES256 and EdDSA keys, and retired keys until every
/// token they signed has expired. Keys rotate on a schedule
/// (`oidc.key_rotation_days`) and on `tessera admin oidc-key rotate`.
#[utoipa::path(
    get, path = "/oauth2/jwks", tag = "oidc",
    responses((status = 200, description = "The published signing keys", body = JwkSetView))
)]
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state.core.signing_keys().await?;
    let keys = keys
        .iter()
        .map(|k| {
            serde_json::from_str::<JwkView>(&k.public_jwk)
                .map_err(|e| CoreError::Internal(format!("stored JWK {}: {e}", k.kid)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cached(JWKS_MAX_AGE, axum::Json(JwkSetView { keys })))
}
