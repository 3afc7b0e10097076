//! The provider's refusals, as OAuth 2.0 names them (RFC 6749 §4.1.2.1 and
//! §5.2, OpenID Connect Core §3.1.2.6, RFC 6750 §3.1). The web layer turns
//! them into a redirect, a JSON body or a `WWW-Authenticate` header; the
//! code and description are what the relying party reads.

use std::fmt;

/// An OAuth 2.0 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    InteractionRequired,
    ConsentRequired,
    InvalidToken,
    ServerError,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::LoginRequired => "login_required",
            OAuthErrorCode::InteractionRequired => "interaction_required",
            OAuthErrorCode::ConsentRequired => "consent_required",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::ServerError => "server_error",
        }
    }
}

/// A refusal: its code and a description for the relying party's
/// developers (never a secret, never whether an account exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(OAuthErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        OAuthError::new(OAuthErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client() -> Self {
        OAuthError::new(
            OAuthErrorCode::InvalidClient,
            "Client authentication failed.",
        )
    }

    pub fn invalid_token(description: impl Into<String>) -> Self {
        OAuthError::new(OAuthErrorCode::InvalidToken, description)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

/// Storage and other internal failures reach the relying party as
/// `server_error`; the cause is logged where it happened.
impl From<crate::error::CoreError> for OAuthError {
    fn from(e: crate::error::CoreError) -> Self {
        tracing::error!(error = %e, "OIDC request failed");
        OAuthError::new(
            OAuthErrorCode::ServerError,
            "The server could not complete the request.",
        )
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        OAuthError::from(crate::error::CoreError::from(e))
    }
}
