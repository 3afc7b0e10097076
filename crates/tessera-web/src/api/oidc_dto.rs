//! Bodies of the OpenID Connect endpoints: the discovery document, the
//! JWKS, and client registration.

use serde::{Deserialize, Serialize};
use tessera_core::oidc::client::OidcClient;
use tessera_core::oidc::metadata::ProviderMetadata;
use tessera_core::service::{OidcClientInput, OidcClientUpdate, RegisteredClient};
use utoipa::ToSchema;

/// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderMetadataView {
    /// This server's public URL: the `iss` of its tokens.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    /// RFC 7009.
    pub revocation_endpoint: String,
    /// RFC 7662.
    pub introspection_endpoint: String,
    /// RP-initiated logout.
    pub end_session_endpoint: String,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// PKCE (RFC 7636): S256 only.
    pub code_challenge_methods_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    /// `urn:tessera:acr:aal1` (password only) and `urn:tessera:acr:aal2`
    /// (with a second step).
    pub acr_values_supported: Vec<String>,
    pub prompt_values_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 9207: the authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub claims_parameter_supported: bool,
}

fn owned(v: Vec<&'static str>) -> Vec<String> {
    v.into_iter().map(String::from).collect()
}

impl From<ProviderMetadata> for ProviderMetadataView {
    fn from(m: ProviderMetadata) -> Self {
        ProviderMetadataView {
            issuer: m.issuer,
            authorization_endpoint: m.authorization_endpoint,
            token_endpoint: m.token_endpoint,
            userinfo_endpoint: m.userinfo_endpoint,
            jwks_uri: m.jwks_uri,
            revocation_endpoint: m.revocation_endpoint,
            introspection_endpoint: m.introspection_endpoint,
            end_session_endpoint: m.end_session_endpoint,
            scopes_supported: owned(m.scopes_supported),
            response_types_supported: owned(m.response_types_supported),
            response_modes_supported: owned(m.response_modes_supported),
            grant_types_supported: owned(m.grant_types_supported),
            subject_types_supported: owned(m.subject_types_supported),
            id_token_signing_alg_values_supported: owned(m.id_token_signing_alg_values_supported),
            token_endpoint_auth_methods_supported: owned(m.token_endpoint_auth_methods_supported),
            code_challenge_methods_supported: owned(m.code_challenge_methods_supported),
            claims_supported: owned(m.claims_supported),
            acr_values_supported: owned(m.acr_values_supported),
            prompt_values_supported: owned(m.prompt_values_supported),
            introspection_endpoint_auth_methods_supported: owned(
                m.introspection_endpoint_auth_methods_supported,
            ),
            revocation_endpoint_auth_methods_supported: owned(
                m.revocation_endpoint_auth_methods_supported,
            ),
            authorization_response_iss_parameter_supported: m
                .authorization_response_iss_parameter_supported,
            request_parameter_supported: m.request_parameter_supported,
            request_uri_parameter_supported: m.request_uri_parameter_supported,
            claims_parameter_supported: m.claims_parameter_supported,
        }
    }
}

/// A public signing key (RFC 7517): P-256 (`kty` `EC`, `crv` `P-256`,
/// `x`, `y`) for ES256, or Ed25519 (`kty` `OKP`, `crv` `Ed25519`, `x`)
/// for EdDSA.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JwkView {
    #[schema(example = "EC")]
    pub kty: String,
    #[schema(example = "P-256")]
    pub crv: String,
    /// base64url, no padding.
    pub x: String,
    /// base64url, no padding (EC keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The key's JWK thumbprint (RFC 7638); tokens name it in their header.
    pub kid: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    #[schema(example = "ES256")]
    pub alg: String,
}

/// The keys tokens are signed with: the active ones, and retired ones
/// until every token they signed has expired.
#[derive(Debug, Serialize, ToSchema)]
pub struct JwkSetView {
    pub keys: Vec<JwkView>,
}

/// A new OpenID Connect client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOidcClientBody {
    #[schema(value_type = super::fields::OidcClientName)]
    pub name: String,
    /// Where users may be sent back after signing in: 1 to 20 URIs.
    #[schema(value_type = BTreeSet<super::fields::RedirectUri>, min_items = 1, max_items = 20)]
    pub redirect_uris: Vec<String>,
    /// Where users may be sent after signing out: at most 20 URIs.
    #[serde(default)]
    #[schema(value_type = BTreeSet<super::fields::RedirectUri>, max_items = 20)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (a browser or native app) has no secret and must
    /// use PKCE S256; default false (a confidential client, with a secret).
    #[serde(default)]
    pub public: bool,
    /// The company's own application: its users are not asked for
    /// consent. Default false.
    #[serde(default)]
    pub first_party: bool,
    /// The scopes it may ask for; default `openid`, `profile`, `email`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<super::fields::OidcScopeName>>, min_items = 1)]
    pub scopes: Option<Vec<String>>,
}

impl From<CreateOidcClientBody> for OidcClientInput {
    fn from(b: CreateOidcClientBody) -> Self {
        OidcClientInput {
            name: b.name,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            public: b.public,
            first_party: b.first_party,
            scopes: b.scopes,
        }
    }
}

/// A change to a client: only the fields given change. Whether it is
/// public is fixed at creation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOidcClientBody {
    #[serde(default)]
    #[schema(value_type = Option<super::fields::OidcClientName>)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeSet<super::fields::RedirectUri>>, min_items = 1, max_items = 20)]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeSet<super::fields::RedirectUri>>, max_items = 20)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub first_party: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<super::fields::OidcScopeName>>, min_items = 1)]
    pub scopes: Option<Vec<String>>,
}

impl From<UpdateOidcClientBody> for OidcClientUpdate {
    fn from(b: UpdateOidcClientBody) -> Self {
        OidcClientUpdate {
            name: b.name,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            first_party: b.first_party,
            scopes: b.scopes,
        }
    }
}

/// A registered client (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct OidcClientView {
    /// What the application sends as `client_id`.
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&OidcClient> for OidcClientView {
    fn from(c: &OidcClient) -> Self {
        OidcClientView {
            client_id: c.id.to_string(),
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            public: c.public,
            first_party: c.first_party,
            scopes: c.scopes.iter().map(|s| s.to_string()).collect(),
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
        }
    }
}

/// A client just registered or given a new secret. `client_secret` is
/// shown this once (confidential clients only; only its SHA-256 is kept).
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredClientView {
    pub client_id: String,
    /// `tcs_` and 43 characters; absent for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&RegisteredClient> for RegisteredClientView {
    fn from(r: &RegisteredClient) -> Self {
        let v = OidcClientView::from(&r.client);
        RegisteredClientView {
            client_id: v.client_id,
            client_secret: r.secret.clone(),
            name: v.name,
            redirect_uris: v.redirect_uris,
            post_logout_redirect_uris: v.post_logout_redirect_uris,
            public: v.public,
            first_party: v.first_party,
            scopes: v.scopes,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// Every registered client, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct OidcClientList {
    pub clients: Vec<OidcClientView>,
}
