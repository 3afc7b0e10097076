//! What the provider promises in its discovery document (OpenID Connect
//! Discovery 1.0): where its endpoints are and what it supports. The
//! values live here, next to the rules that will honour them; the web
//! layer only serializes them.

use super::client::OidcScope;
use super::keys::SigningAlg;

/// The authentication context class of a session with a password only.
pub const ACR_AAL1: &str = "urn:tessera:acr:aal1";
/// The authentication context class of a session with a second step.
pub const ACR_AAL2: &str = "urn:tessera:acr:aal2";

/// Endpoint paths, under the public URL (fixed by the API contract).
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const USERINFO_PATH: &str = "/oauth2/userinfo";
pub const JWKS_PATH: &str = "/oauth2/jwks";
pub const REVOCATION_PATH: &str = "/oauth2/revoke";
pub const INTROSPECTION_PATH: &str = "/oauth2/introspect";
pub const END_SESSION_PATH: &str = "/oauth2/logout";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The claims ID tokens and userinfo carry.
pub const CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "email",
    "email_verified",
    "name",
];

/// The provider's metadata for the issuer at `public_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub end_session_endpoint: String,
    pub scopes_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
    pub acr_values_supported: Vec<&'static str>,
    pub prompt_values_supported: Vec<&'static str>,
    /// How clients authenticate at introspection and revocation.
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The authorization response names its issuer (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// Request objects (`request`, `request_uri`) and the `claims`
    /// parameter are not supported; `request_uri` must say so, since
    /// Discovery presumes it is.
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub claims_parameter_supported: bool,
}

impl ProviderMetadata {
    /// `public_url` without a trailing slash is the issuer, as ID tokens
    /// will name it in `iss`.
    pub fn for_issuer(public_url: &str) -> Self {
        let issuer = public_url.trim_end_matches('/').to_string();
        let at = |path: &str| format!("{issuer}{path}");
        ProviderMetadata {
            authorization_endpoint: at(AUTHORIZE_PATH),
            token_endpoint: at(TOKEN_PATH),
            userinfo_endpoint: at(USERINFO_PATH),
            jwks_uri: at(JWKS_PATH),
            revocation_endpoint: at(REVOCATION_PATH),
            introspection_endpoint: at(INTROSPECTION_PATH),
            end_session_endpoint: at(END_SESSION_PATH),
            issuer,
            scopes_supported: OidcScope::NAMES.to_vec(),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: vec![
                "authorization_code",
                "refresh_token",
                "client_credentials",
            ],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: SigningAlg::NAMES.to_vec(),
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            code_challenge_methods_supported: vec!["S256"],
            claims_supported: CLAIMS.to_vec(),
            acr_values_supported: vec![ACR_AAL1, ACR_AAL2],
            prompt_values_supported: vec!["none", "login", "consent"],
            introspection_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
            ],
            revocation_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            authorization_response_iss_parameter_supported: true,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            claims_parameter_supported: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer() {
        let m = ProviderMetadata::for_issuer("https://id.example.com/");
        assert_eq!(m.issuer, "https://id.example.com");
        assert_eq!(m.jwks_uri, "https://id.example.com/oauth2/jwks");
        assert_eq!(
            m.end_session_endpoint,
            "https://id.example.com/oauth2/logout"
        );
        assert_eq!(m.id_token_signing_alg_values_supported, ["ES256", "EdDSA"]);
        assert_eq!(m.code_challenge_methods_supported, ["S256"]);
    }
}
