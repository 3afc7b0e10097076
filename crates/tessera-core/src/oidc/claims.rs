//! What the provider's tokens say: the ID token (OpenID Connect Core §2),
//! the access token as a JWT (RFC 9068), and how a session's assurance and
//! methods read as `acr` and `amr` (RFC 8176).
//!
//! | session method | `amr` |
//! |---|---|
//! | password | `pwd` |
//! | authenticator app, recovery key, break-glass password | `otp` |
//! | security key | `hwk` |
//! | passkey | `swk` (a passkey may be synced, so it is not claimed as hardware) |
//! | text message | `sms` |
//! | emailed code | `email`, and `mca` when a password came first |
//!
//! `mfa` is added whenever the session is `aal2`.

use super::client::OidcScope;
use super::metadata::{ACR_AAL1, ACR_AAL2};
use crate::session::{Aal, AuthMethod};

/// The `typ` header of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The `acr` of a session's assurance.
pub fn acr_of(aal: Aal) -> &'static str {
    match aal {
        Aal::Aal1 => ACR_AAL1,
        Aal::Aal2 => ACR_AAL2,
    }
}

/// The `amr` values of a session's methods, each once, in a stable order.
pub fn amr_of(aal: Aal, methods: &[AuthMethod]) -> Vec<&'static str> {
    let mut amr: Vec<&'static str> = Vec::new();
    let mut add = |v: &'static str| {
        if !amr.contains(&v) {
            amr.push(v);
        }
    };
    for m in methods {
        match m {
            AuthMethod::Password => add("pwd"),
            AuthMethod::Totp | AuthMethod::RecoveryKey | AuthMethod::BreakGlass => add("otp"),
            AuthMethod::SecurityKey => add("hwk"),
            AuthMethod::Passkey => add("swk"),
            AuthMethod::Sms => add("sms"),
            AuthMethod::EmailCode => {
                add("email");
                if methods.contains(&AuthMethod::Password) {
                    add("mca");
                }
            }
            // A token is not a way a person signs in.
            AuthMethod::ApiToken => {}
        }
    }
    if aal == Aal::Aal2 {
        add("mfa");
    }
    amr
}

/// The claims of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nonce: Option<String>,
    pub acr: String,
    pub amr: Vec<String>,
    /// The session id: what RP-initiated logout and `id_token_hint` name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
}

/// The claims of an access token (RFC 9068 §2.2), and what the provider
/// itself needs to find the grant the token came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    /// The client it was issued to: its own backend is the audience.
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// Space-separated.
    pub scope: String,
    /// The grant (authorization) it came from; revoking it ends the token.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gid: Option<String>,
    /// For a client-credentials token: the API token it was exchanged for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub amr: Vec<String>,
}

/// The profile claims a set of scopes releases about an account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileClaims {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
}

impl ProfileClaims {
    /// `email` releases the address (every address an account signs in
    /// with was proven by a mailed link or an invitation, or set by an
    /// administrator); `profile` releases the display name.
    pub fn released(scopes: &[OidcScope], email: &str, display_name: &str) -> Self {
        let has = |s: OidcScope| scopes.contains(&s);
        ProfileClaims {
            email: has(OidcScope::Email).then(|| email.to_string()),
            email_verified: has(OidcScope::Email).then_some(true),
            name: (has(OidcScope::Profile) && !display_name.is_empty())
                .then(|| display_name.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_read_as_rfc_8176_values() {
        use AuthMethod::*;
        assert_eq!(amr_of(Aal::Aal1, &[Password]), ["pwd"]);
        assert_eq!(amr_of(Aal::Aal2, &[Password, Totp]), ["pwd", "otp", "mfa"]);
        assert_eq!(amr_of(Aal::Aal2, &[Passkey]), ["swk", "mfa"]);
        assert_eq!(
            amr_of(Aal::Aal2, &[Password, SecurityKey, Totp]),
            ["pwd", "hwk", "otp", "mfa"]
        );
        assert_eq!(
            amr_of(Aal::Aal1, &[Password, EmailCode]),
            ["pwd", "email", "mca"]
        );
        assert_eq!(amr_of(Aal::Aal2, &[Password, Sms]), ["pwd", "sms", "mfa"]);
        assert_eq!(
            amr_of(Aal::Aal2, &[Password, RecoveryKey, Totp]),
            ["pwd", "otp", "mfa"]
        );
        assert_eq!(acr_of(Aal::Aal1), "urn:tessera:acr:aal1");
        assert_eq!(acr_of(Aal::Aal2), "urn:tessera:acr:aal2");
    }

    #[test]
    fn scopes_release_only_their_claims() {
        let none = ProfileClaims::released(&[OidcScope::OpenId], "a@x.io", "A");
        assert_eq!(none, ProfileClaims::default());
        let all = ProfileClaims::released(
            &[OidcScope::OpenId, OidcScope::Email, OidcScope::Profile],
            "a@x.io",
            "A",
        );
        assert_eq!(all.email.as_deref(), Some("a@x.io"));
        assert_eq!(all.email_verified, Some(true));
        assert_eq!(all.name.as_deref(), Some("A"));
    }
}
