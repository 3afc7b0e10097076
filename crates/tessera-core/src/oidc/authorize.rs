//! The authorization request (OpenID Connect Core §3.1.2): its checks, and
//! what the user must do before a code can be issued.
//!
//! ```text
//!   request ─▶ client and redirect URI known? ─ no ─▶ error page (never a redirect)
//!                 │ yes
//!                 ▼
//!             parameters valid? ─ no ─▶ redirect with error=
//!                 │ yes
//!                 ▼
//!   decide(session): sign in ─▶ enroll ─▶ step up (prompt=login, max_age, acr_values) ─▶ consent ─▶ issue
//!                    └ with prompt=none, each of these is an error redirect instead of a page
//! ```
//!
//! While the user signs in or steps up, the checked request travels as a
//! [`Pending`] sealed with the server's key: the browser carries it and
//! cannot change it, and its `started_at` is what `prompt=login` measures
//! a fresh verification against.

use super::client::{OidcClient, OidcScope};
use super::error::{OAuthError, OAuthErrorCode};
use super::metadata::ACR_AAL2;
use super::pkce;
use crate::clock::Timestamp;
use crate::session::{Aal, Session};
use sha2::{Digest, Sha256};

/// Longest `state` and `nonce` accepted, in bytes.
pub const MAX_STATE_LEN: usize = 512;
/// How long a user has to finish signing in before the request expires.
pub const PENDING_TTL_SECS: i64 = 15 * 60;

/// The request's parameters as sent (query or form), unchecked.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// A checked request, waiting for the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub client_id: String,
    /// SHA-256 of the redirect URI: it must still be registered when the
    /// user comes back, and the sealed request stays small enough for a
    /// cookie.
    #[serde(with = "hex_bytes")]
    pub redirect_hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    /// `acr_values` asked for aal2.
    pub wants_aal2: bool,
    /// When the request first arrived (ms).
    pub started_at: i64,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// SHA-256 of a redirect URI, as [`Pending`] keeps it.
pub fn redirect_hash(uri: &str) -> Vec<u8> {
    Sha256::digest(uri.as_bytes()).to_vec()
}

/// Why a request cannot go on, and where the user learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client or redirect URI is not trusted: show an error page, never
    /// redirect (no open redirects).
    Page(String),
    /// Send the error to the relying party at its redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// Checks the redirect URI against the client: exact match only.
pub fn check_redirect(client: &OidcClient, raw: Option<&str>) -> Result<String, Refusal> {
    let uri = raw
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Refusal::Page("The request has no redirect_uri.".into()))?;
    if !client.redirect_uris.iter().any(|r| r == uri) {
        return Err(Refusal::Page(
            "The redirect_uri is not registered for this application.".into(),
        ));
    }
    Ok(uri.to_string())
}

/// Checks everything but the client and redirect URI (already checked)
/// and returns the request as it waits for the user.
pub fn check(
    client: &OidcClient,
    redirect_uri: &str,
    p: &AuthorizeParams,
    now: Timestamp,
) -> Result<Pending, Refusal> {
    let state = p.state.clone().filter(|s| !s.is_empty());
    // Printable ASCII only: the values travel in a cookie while the user
    // signs in, and a control character there could make it too big.
    let printable = |v: &str| v.bytes().all(|b| (0x20..0x7f).contains(&b));
    let refuse = |code: OAuthErrorCode, msg: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.to_string(),
        state: state.clone().filter(|s| s.len() <= MAX_STATE_LEN),
        error: OAuthError::new(code, msg),
    };
    use OAuthErrorCode::*;
    if state
        .as_ref()
        .is_some_and(|s| s.len() > MAX_STATE_LEN || !printable(s))
    {
        return Err(Refusal::Redirect {
            redirect_uri: redirect_uri.to_string(),
            state: None,
            error: OAuthError::invalid_request("state must be printable ASCII, at most 512 bytes."),
        });
    }
    if p.request.is_some() || p.request_uri.is_some() {
        return Err(refuse(InvalidRequest, "Request objects are not supported."));
    }
    match p.response_type.as_deref() {
        Some("code") => {}
        None | Some("") => return Err(refuse(InvalidRequest, "response_type is missing.")),
        Some(_) => {
            return Err(refuse(
                UnsupportedResponseType,
                "Only response_type=code is supported.",
            ));
        }
    }
    if p.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err(refuse(
            InvalidRequest,
            "Only response_mode=query is supported.",
        ));
    }
    let mut scopes: Vec<OidcScope> = Vec::new();
    for name in p
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        let scope: OidcScope = name
            .parse()
            .map_err(|_| refuse(InvalidScope, &format!("Unknown scope {name:?}.")))?;
        if !client.scopes.contains(&scope) {
            return Err(refuse(
                InvalidScope,
                &format!("This application may not ask for the scope {name:?}."),
            ));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if !scopes.contains(&OidcScope::OpenId) {
        return Err(refuse(InvalidScope, "The scope must include openid."));
    }
    let nonce = p.nonce.clone().filter(|n| !n.is_empty());
    if nonce
        .as_ref()
        .is_some_and(|n| n.len() > MAX_STATE_LEN || !printable(n))
    {
        return Err(refuse(
            InvalidRequest,
            "nonce must be printable ASCII, at most 512 bytes.",
        ));
    }
    let challenge = p.code_challenge.clone().filter(|c| !c.is_empty());
    match (&challenge, p.code_challenge_method.as_deref()) {
        (None, _) if client.public => {
            return Err(refuse(
                InvalidRequest,
                "A public client must use PKCE: send code_challenge with code_challenge_method=S256.",
            ));
        }
        (None, Some(_)) => {
            return Err(refuse(
                InvalidRequest,
                "code_challenge_method without code_challenge.",
            ));
        }
        (None, None) => {}
        (Some(_), m) if m != Some(pkce::S256) => {
            return Err(refuse(
                InvalidRequest,
                "code_challenge_method must be S256.",
            ));
        }
        (Some(c), _) if !pkce::is_s256_challenge(c) => {
            return Err(refuse(
                InvalidRequest,
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters).",
            ));
        }
        (Some(_), _) => {}
    }
    let mut prompt = (false, false, false);
    for value in p
        .prompt
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        match value {
            "none" => prompt.0 = true,
            "login" => prompt.1 = true,
            "consent" => prompt.2 = true,
            // Tessera has one account per session: nothing to select.
            "select_account" => {}
            _ => {
                return Err(refuse(
                    InvalidRequest,
                    &format!("Unknown prompt value {value:?}."),
                ));
            }
        }
    }
    if prompt.0 && (prompt.1 || prompt.2) {
        return Err(refuse(
            InvalidRequest,
            "prompt=none cannot be combined with other values.",
        ));
    }
    let max_age = match p.max_age.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<u32>()
                .map(i64::from)
                .map_err(|_| refuse(InvalidRequest, "max_age must be a number of seconds."))?,
        ),
    };
    // Unknown classes are ignored (they are voluntary claims); asking for
    // aal2 is a requirement.
    let wants_aal2 = p
        .acr_values
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .any(|v| v == ACR_AAL2);
    Ok(Pending {
        client_id: client.id.to_string(),
        redirect_hash: redirect_hash(redirect_uri),
        scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
        state,
        nonce,
        code_challenge: challenge,
        prompt_none: prompt.0,
        prompt_login: prompt.1,
        prompt_consent: prompt.2,
        max_age,
        wants_aal2,
        started_at: now.millis(),
    })
}

/// What must happen before a code can be issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    SignIn,
    /// The session may only enroll in two-step verification.
    Enroll,
    /// Verify again on the step-up page; with a second-step method when
    /// `second_step`.
    StepUp {
        second_step: bool,
    },
    Consent,
    Issue,
    /// `prompt=none` and a page would be needed, or a requirement the
    /// account cannot meet: the error goes to the relying party.
    Refuse(OAuthError),
}

/// What the user holds, as far as the decision goes.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    pub session: Option<&'a Session>,
    pub two_step_on: bool,
    /// The client is the company's own (and `prompt=consent` was not
    /// asked), or the user consented just now.
    pub consented: bool,
}

/// Decides what the user must do next for `pending` at `now`.
pub fn decide(pending: &Pending, who: Standing<'_>, now: Timestamp) -> Next {
    use OAuthErrorCode::*;
    let ask = |page: Next, code: OAuthErrorCode, msg: &str| {
        if pending.prompt_none {
            Next::Refuse(OAuthError::new(code, msg))
        } else {
            page
        }
    };
    let Some(session) = who.session else {
        return ask(Next::SignIn, LoginRequired, "The user is not signed in.");
    };
    if session.restricted {
        return ask(
            Next::Enroll,
            InteractionRequired,
            "The user must set up two-step verification first.",
        );
    }
    let verified = session.verified_at.millis();
    // A verification made since the request arrived was made for it:
    // fresh enough however long the browser takes to come back, or
    // `max_age=0` (which asks for exactly that) could never be met.
    let verified_for_request = verified >= pending.started_at;
    let stale_for_login = pending.prompt_login && !verified_for_request;
    let too_old = !verified_for_request
        && pending
            .max_age
            .is_some_and(|max| now.millis() - verified > max * 1000);
    let needs_aal2 = pending.wants_aal2 && session.aal < Aal::Aal2;
    if needs_aal2 && !who.two_step_on {
        return Next::Refuse(OAuthError::new(
            AccessDenied,
            "This application needs two-step verification, which the user has not set up.",
        ));
    }
    if stale_for_login || too_old {
        return ask(
            Next::StepUp {
                second_step: who.two_step_on,
            },
            LoginRequired,
            "The user must verify again.",
        );
    }
    if needs_aal2 {
        return ask(
            Next::StepUp { second_step: true },
            InteractionRequired,
            "The user must verify with a second step.",
        );
    }
    // `consented` already counts `prompt=consent` (a first-party client
    // is asked too); testing it again here would ask for ever.
    if !who.consented {
        return ask(Next::Consent, ConsentRequired, "The user must consent.");
    }
    Next::Issue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, SessionId};
    use crate::oidc::client::OidcClientId;
    use crate::session::{AuthMethod, ClientKind};

    fn client(public: bool) -> OidcClient {
        OidcClient {
            id: OidcClientId(uuid::Uuid::nil()),
            name: "app".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            post_logout_redirect_uris: vec![],
            public,
            first_party: true,
            scopes: vec![OidcScope::OpenId, OidcScope::Email],
            created_by: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    fn params(extra: &[(&str, &str)]) -> AuthorizeParams {
        let mut p = AuthorizeParams {
            client_id: Some(uuid::Uuid::nil().to_string()),
            redirect_uri: Some("https://app.example/cb".into()),
            response_type: Some("code".into()),
            scope: Some("openid email".into()),
            state: Some("s1".into()),
            code_challenge: Some(pkce::challenge_of(&"v".repeat(43))),
            code_challenge_method: Some("S256".into()),
            ..Default::default()
        };
        for (k, v) in extra {
            let v = Some(v.to_string());
            match *k {
                "scope" => p.scope = v,
                "prompt" => p.prompt = v,
                "max_age" => p.max_age = v,
                "acr_values" => p.acr_values = v,
                "response_type" => p.response_type = v,
                "code_challenge" => p.code_challenge = v,
                "code_challenge_method" => p.code_challenge_method = v,
                "nonce" => p.nonce = v,
                _ => panic!("{k}"),
            }
        }
        p
    }

    fn code_of(r: Result<Pending, Refusal>) -> &'static str {
        match r {
            Err(Refusal::Redirect { error, state, .. }) => {
                assert_eq!(state.as_deref(), Some("s1"), "state goes back with errors");
                error.code.as_str()
            }
            other => panic!("expected a redirect refusal, got {other:?}"),
        }
    }

    #[test]
    fn only_registered_redirect_uris_pass_and_never_by_prefix() {
        let c = client(false);
        assert!(check_redirect(&c, Some("https://app.example/cb")).is_ok());
        for bad in [
            None,
            Some(""),
            Some("https://app.example/cb/x"),
            Some("https://app.example/c"),
            Some("https://evil.example/cb"),
        ] {
            assert!(
                matches!(check_redirect(&c, bad), Err(Refusal::Page(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_parameters_go_back_as_rfc_6749_errors() {
        let c = client(true);
        let now = Timestamp(1000);
        let uri = "https://app.example/cb";
        assert!(check(&c, uri, &params(&[]), now).is_ok());
        assert_eq!(
            code_of(check(&c, uri, &params(&[("response_type", "token")]), now)),
            "unsupported_response_type"
        );
        assert_eq!(
            code_of(check(&c, uri, &params(&[("scope", "email")]), now)),
            "invalid_scope"
        );
        assert_eq!(
            code_of(check(&c, uri, &params(&[("scope", "openid profile")]), now)),
            "invalid_scope"
        );
        assert_eq!(
            code_of(check(&c, uri, &params(&[("code_challenge", "")]), now)),
            "invalid_request"
        );
        assert_eq!(
            code_of(check(
                &c,
                uri,
                &params(&[("code_challenge_method", "plain")]),
                now
            )),
            "invalid_request"
        );
        assert_eq!(
            code_of(check(&c, uri, &params(&[("code_challenge", "short")]), now)),
            "invalid_request"
        );
        assert_eq!(
            code_of(check(&c, uri, &params(&[("prompt", "none login")]), now)),
            "invalid_request"
        );
        assert_eq!(
            code_of(check(&c, uri, &params(&[("max_age", "-1")]), now)),
            "invalid_request"
        );
        for bad in ["a\u{1}b".to_string(), "n".repeat(513)] {
            let p = params(&[("nonce", &bad)]);
            assert_eq!(
                code_of(check(&c, uri, &p, now)),
                "invalid_request",
                "{bad:?}"
            );
        }
        // A state that cannot travel is not sent back either.
        let mut bad_state = params(&[]);
        bad_state.state = Some("s\u{7f}".into());
        assert!(matches!(
            check(&c, uri, &bad_state, now),
            Err(Refusal::Redirect { state: None, .. })
        ));
        // A confidential client may go without PKCE.
        assert!(
            check(
                &client(false),
                uri,
                &params(&[("code_challenge", "")]).tap_method_none(),
                now
            )
            .is_ok()
        );
    }

    trait TapNone {
        fn tap_method_none(self) -> Self;
    }
    impl TapNone for AuthorizeParams {
        fn tap_method_none(mut self) -> Self {
            self.code_challenge_method = None;
            self
        }
    }

    fn session(aal: Aal, verified_at: i64) -> Session {
        Session {
            id: SessionId(uuid::Uuid::nil()),
            account_id: AccountId(uuid::Uuid::nil()),
            client: ClientKind::Web,
            aal,
            methods: vec![AuthMethod::Password],
            created_at: Timestamp(0),
            verified_at: Timestamp(verified_at),
            last_seen_at: Timestamp(verified_at),
            expires_at: Timestamp(i64::MAX / 2),
            ip: None,
            device: String::new(),
            restricted: false,
        }
    }

    #[test]
    fn the_relying_party_decides_how_fresh_and_strong_the_sign_in_must_be() {
        let c = client(false);
        let uri = "https://app.example/cb";
        let pending =
            |extra: &[(&str, &str)]| check(&c, uri, &params(extra), Timestamp(100_000)).unwrap();
        let at = |s: &Session, two: bool, p: &Pending, now: i64| {
            decide(
                p,
                Standing {
                    session: Some(s),
                    two_step_on: two,
                    consented: true,
                },
                Timestamp(now),
            )
        };
        let aal1 = session(Aal::Aal1, 50_000);
        let aal2 = session(Aal::Aal2, 50_000);
        // No session: sign in, or login_required without a page.
        let plain = pending(&[]);
        assert_eq!(
            decide(
                &plain,
                Standing {
                    session: None,
                    two_step_on: false,
                    consented: true
                },
                Timestamp(100_000)
            ),
            Next::SignIn
        );
        let none = pending(&[("prompt", "none")]);
        assert!(
            matches!(decide(&none, Standing { session: None, two_step_on: false, consented: true }, Timestamp(100_000)),
            Next::Refuse(e) if e.code == OAuthErrorCode::LoginRequired)
        );
        assert_eq!(at(&aal1, false, &plain, 100_000), Next::Issue);
        // max_age: 60 s is fine at 50 s old, not at 61 s.
        let max60 = pending(&[("max_age", "60")]);
        assert_eq!(at(&aal1, false, &max60, 110_000), Next::Issue);
        assert_eq!(
            at(&aal1, true, &max60, 111_001),
            Next::StepUp { second_step: true }
        );
        // max_age=0: a verification since the request arrived passes,
        // even seconds later (the browser's way back); an older one not.
        let max0 = pending(&[("max_age", "0")]);
        assert_eq!(
            at(&session(Aal::Aal1, 100_000), false, &max0, 101_500),
            Next::Issue
        );
        assert_eq!(
            at(&session(Aal::Aal1, 99_999), false, &max0, 100_000),
            Next::StepUp { second_step: false }
        );
        // prompt=login: only a verification after the request started counts.
        let login = pending(&[("prompt", "login")]);
        assert_eq!(
            at(&aal2, true, &login, 100_000),
            Next::StepUp { second_step: true }
        );
        assert_eq!(
            at(&session(Aal::Aal2, 100_001), true, &login, 100_002),
            Next::Issue
        );
        // acr_values=aal2: an aal1 session steps up with a second step,
        // one without any method cannot.
        let strong = pending(&[("acr_values", "urn:tessera:acr:aal2")]);
        assert_eq!(
            at(&aal1, true, &strong, 100_000),
            Next::StepUp { second_step: true }
        );
        assert_eq!(at(&aal2, true, &strong, 100_000), Next::Issue);
        assert!(
            matches!(at(&aal1, false, &strong, 100_000), Next::Refuse(e) if e.code == OAuthErrorCode::AccessDenied)
        );
        let strong_none = pending(&[("acr_values", "urn:tessera:acr:aal2"), ("prompt", "none")]);
        assert!(
            matches!(at(&aal1, true, &strong_none, 100_000), Next::Refuse(e) if e.code == OAuthErrorCode::InteractionRequired)
        );
        // Consent for third-party clients.
        assert_eq!(
            decide(
                &plain,
                Standing {
                    session: Some(&aal1),
                    two_step_on: false,
                    consented: false
                },
                Timestamp(100_000)
            ),
            Next::Consent
        );
        // prompt=consent asks even a first-party client's user (the web
        // layer withholds `consented`), and the answer then counts.
        let again = pending(&[("prompt", "consent")]);
        let with = |consented| Standing {
            session: Some(&aal1),
            two_step_on: false,
            consented,
        };
        assert_eq!(
            decide(&again, with(false), Timestamp(100_000)),
            Next::Consent
        );
        assert_eq!(decide(&again, with(true), Timestamp(100_000)), Next::Issue);
        // A restricted session enrolls first.
        let mut r = aal1.clone();
        r.restricted = true;
        assert_eq!(at(&r, false, &plain, 100_000), Next::Enroll);
    }
}
