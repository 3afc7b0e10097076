//! Relying applications ("clients") registered by sysadmins: who they are,
//! where the provider may send their users back, and what they may ask
//! for.
//!
//! Redirect URIs are compared exactly, so they are registered exactly: an
//! absolute `https` URI (`http` only on the loopback interface, for apps on
//! the user's own machine, RFC 8252 §7.3), without wildcards, fragments or
//! credentials. A confidential client gets a secret, shown once and kept
//! as SHA-256 like an API token; a public client has none and must use
//! PKCE.

use crate::account::text_enum;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::AccountId;
use crate::secrets::SecretSource;
use std::fmt;
use std::str::FromStr;

/// A client's id: what it sends as `client_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OidcClientId(pub uuid::Uuid);

impl fmt::Display for OidcClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for OidcClientId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(OidcClientId)
    }
}

/// A scope a client may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OidcScope {
    OpenId,
    Profile,
    Email,
    OfflineAccess,
}

text_enum!(OidcScope {
    OidcScope::OpenId => "openid",
    OidcScope::Profile => "profile",
    OidcScope::Email => "email",
    OidcScope::OfflineAccess => "offline_access",
});

/// A registered client (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClient {
    pub id: OidcClientId,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// No secret: a browser or native app, which must use PKCE S256.
    pub public: bool,
    /// The company's own product: its users are not asked for consent.
    pub first_party: bool,
    pub scopes: Vec<OidcScope>,
    /// Who registered it; `None` for the host operator.
    pub created_by: Option<AccountId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Longest client name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest URI, in bytes.
pub const MAX_URI_LEN: usize = 2000;
/// Most URIs of one kind per client.
pub const MAX_URIS: usize = 20;
/// What every client secret starts with, so secret scanners know it.
pub const SECRET_PREFIX: &str = "tcs_";

/// A client's name: 1 to 100 characters once trimmed, no control
/// characters.
pub fn check_name(raw: &str) -> Result<String, CoreError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(CoreError::Invalid("name is required".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(CoreError::Invalid(format!(
            "name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::Invalid(
            "name must not contain control characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// Hosts that `http` is allowed for: the loopback interface only.
const LOOPBACK_HOSTS: &[&str] = &["127.0.0.1", "[::1]", "localhost"];

/// One redirect URI, checked as `field` (named in the refusal). It is kept
/// exactly as given: the authorization request must repeat it byte for
/// byte.
pub fn check_redirect_uri(field: &str, raw: &str) -> Result<String, CoreError> {
    let bad = |why: &str| CoreError::Invalid(format!("{field}: {why}"));
    if raw.is_empty() {
        return Err(bad("must not be empty"));
    }
    if raw.len() > MAX_URI_LEN {
        return Err(bad(&format!("is longer than {MAX_URI_LEN} characters")));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain spaces or control characters"));
    }
    if raw.contains('*') {
        return Err(bad("wildcards are not allowed; register each URI exactly"));
    }
    if raw.contains('#') {
        return Err(bad("must not have a fragment (#…)"));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("is not an absolute URI ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if !host.is_empty() => {}
        "http" if LOOPBACK_HOSTS.contains(&host) => {}
        "http" => {
            return Err(bad(
                "must use https (http is allowed only for 127.0.0.1, [::1] and localhost)",
            ));
        }
        _ => return Err(bad("must be an https URI")),
    }
    Ok(raw.to_string())
}

/// A list of URIs: each checked, no duplicates, at most [`MAX_URIS`];
/// at least one when `required`.
pub fn check_uris(field: &str, raw: &[String], required: bool) -> Result<Vec<String>, CoreError> {
    if required && raw.is_empty() {
        return Err(CoreError::Invalid(format!(
            "{field}: at least one is required"
        )));
    }
    if raw.len() > MAX_URIS {
        return Err(CoreError::Invalid(format!(
            "{field}: at most {MAX_URIS} are allowed"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for u in raw {
        let u = check_redirect_uri(field, u)?;
        if out.contains(&u) {
            return Err(CoreError::Invalid(format!("{field}: {u} is listed twice")));
        }
        out.push(u);
    }
    Ok(out)
}

/// The scopes a client may be allowed: known names, at least one, each
/// once (in the order of [`OidcScope::NAMES`]).
pub fn check_scopes(raw: &[String]) -> Result<Vec<OidcScope>, CoreError> {
    if raw.is_empty() {
        return Err(CoreError::Invalid(
            "scopes: at least one is required".into(),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        let scope: OidcScope = s.parse().map_err(|e| {
            // The value is echoed only when it is short and printable: a
            // secret pasted into the wrong field stays out of the answer.
            if s.len() <= 32 && s.chars().all(|c| c.is_ascii_graphic()) {
                CoreError::Invalid(format!("scopes: {s:?} is not a scope; {e}"))
            } else {
                CoreError::Invalid(format!("scopes: {e}"))
            }
        })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    out.sort();
    Ok(out)
}

/// The scopes a client gets when none are given.
pub fn default_scopes() -> Vec<OidcScope> {
    vec![OidcScope::OpenId, OidcScope::Profile, OidcScope::Email]
}

/// A fresh client secret: the prefix and 256 random bits.
pub fn generate_secret(secrets: &dyn SecretSource) -> String {
    format!(
        "{SECRET_PREFIX}{}",
        crate::secrets::random_token(secrets, 32)
    )
}

/// Scopes as stored: space-separated.
pub fn scopes_to_text(scopes: &[OidcScope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn scopes_from_text(text: &str) -> Result<Vec<OidcScope>, String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OsSecrets;

    fn refusal(r: Result<String, CoreError>) -> String {
        match r {
            Err(CoreError::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn redirect_uris_are_exact_https_or_loopback_http() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com",
            "https://app.example.com:8443/cb?tenant=a",
            "http://127.0.0.1:5000/cb",
            "http://[::1]/cb",
            "http://localhost:3000/auth/callback",
            // Shapes the OpenAPI document's pattern allows.
            "https://0.a-b.c0:9999/x/(y)!$&'+,;=:@-~_?q=/?.",
            "http://[::1]:1",
            "https://9-9.z",
        ] {
            assert_eq!(check_redirect_uri("redirect_uris", ok).unwrap(), ok);
        }
        for (bad, why) in [
            ("http://app.example.com/cb", "must use https"),
            ("https://*.example.com/cb", "wildcards"),
            ("https://app.example.com/*", "wildcards"),
            ("https://app.example.com/cb#frag", "fragment"),
            ("https://user:pw@app.example.com/cb", "credentials"),
            ("/relative/cb", "not an absolute URI"),
            ("javascript:alert(1)", "must be an https URI"),
            ("ftp://app.example.com/cb", "must be an https URI"),
            ("https://app.example.com/a b", "spaces"),
            ("", "must not be empty"),
            ("http://127.0.0.2/cb", "must use https"),
            ("http://localhost.evil.com/cb", "must use https"),
        ] {
            let m = refusal(check_redirect_uri("redirect_uris", bad));
            assert!(
                m.contains(why) && m.starts_with("redirect_uris: "),
                "{bad}: {m}"
            );
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_URI_LEN));
        assert!(refusal(check_redirect_uri("r", &long)).contains("longer"));
    }

    #[test]
    fn uri_lists_scopes_and_names_are_checked() {
        let u = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_uris("redirect_uris", &[], true).is_err());
        assert!(check_uris("post_logout_redirect_uris", &[], false).is_ok());
        let twice = u(&["https://a.example/cb", "https://a.example/cb"]);
        assert!(check_uris("redirect_uris", &twice, true).is_err());
        let many: Vec<String> = (0..=MAX_URIS)
            .map(|i| format!("https://a.example/{i}"))
            .collect();
        assert!(check_uris("redirect_uris", &many, true).is_err());

        assert_eq!(
            check_scopes(&u(&["email", "openid", "email"])).unwrap(),
            vec![OidcScope::OpenId, OidcScope::Email]
        );
        assert!(check_scopes(&[]).is_err());
        let unknown = format!("{:?}", check_scopes(&u(&["openid", "admin"])).unwrap_err());
        assert!(
            unknown.contains("\\\"admin\\\" is not a scope"),
            "{unknown}"
        );
        let secretish = format!("{:?}", check_scopes(&u(&[&"s".repeat(40)])).unwrap_err());
        assert!(!secretish.contains("sssss"), "{secretish}");
        let all = u(OidcScope::NAMES);
        let text = scopes_to_text(&check_scopes(&all).unwrap());
        assert_eq!(text, "openid profile email offline_access");
        assert_eq!(scopes_from_text(&text).unwrap().len(), 4);

        assert_eq!(check_name("  Grafana ").unwrap(), "Grafana");
        assert!(check_name(" ").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
        assert!(check_name(&"x".repeat(100)).is_ok());
        assert!(check_name("a\u{7}b").is_err());
    }

    #[test]
    fn secrets_are_long_prefixed_and_distinct() {
        let a = generate_secret(&OsSecrets);
        assert!(a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 43);
        assert_ne!(a, generate_secret(&OsSecrets));
    }
}
