//! The OpenID Connect provider's foundation: the keys ID tokens and access
//! tokens are signed with ([`keys`]), the relying applications registered
//! to use it ([`client`]), and what the discovery document promises
//! ([`metadata`]).
//!
//! JOSE (keys, JWKs, signatures) comes from `jsonwebtoken` over `aws-lc-rs`;
//! nothing here signs or parses by hand.

pub mod authorize;
pub mod checked;
pub mod claims;
pub mod client;
pub mod error;
pub mod grant;
pub mod keys;
pub mod metadata;
pub mod pkce;
pub mod verify;

/// The provider's settings, with their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// A signing key is replaced once it is this old (`oidc.key_rotation_days`).
    pub key_rotation_secs: i64,
    /// How long an ID token is valid.
    pub id_token_ttl_secs: i64,
    /// How long an access token (a JWT, RFC 9068) is valid.
    pub access_token_ttl_secs: i64,
}

impl OidcConfig {
    /// Bounds of `oidc.key_rotation_days`.
    pub const MIN_ROTATION_DAYS: i64 = 1;
    pub const MAX_ROTATION_DAYS: i64 = 365;

    /// The longest life of anything signed with a key: a retired key stays
    /// published this long, so every token it signed can still be checked.
    pub fn longest_token_secs(&self) -> i64 {
        self.id_token_ttl_secs.max(self.access_token_ttl_secs)
    }
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            key_rotation_secs: 30 * 86_400,
            id_token_ttl_secs: 3600,
            access_token_ttl_secs: 600,
        }
    }
}
