//! The OpenID Connect provider seen from a real relying party: the
//! `openidconnect` crate discovers the server, builds authorization
//! requests (PKCE S256, nonce, state), redeems codes, checks ID tokens
//! with its own verifier, refreshes, revokes and reads userinfo. The
//! browser is a cookie-holding reqwest client that follows redirects by
//! hand, so each hop (sign-in, second step, step-up, consent, the error
//! page that must not redirect) is visible. On SQLite, and on two
//! PostgreSQL nodes that take turns answering; time moves on the test's
//! clock, never by sleeping.

use crate::guard_rails::{Nodes, bearer, enroll_totp, one_account};
use crate::peers;
use crate::support::*;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims,
    CoreProviderMetadata, CoreResponseType, CoreRevocableToken, CoreTokenResponse,
    CoreUserInfoClaims,
};
use openidconnect::{
    AsyncHttpClient, AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RevocationUrl,
    Scope, SubjectIdentifier, TokenResponse,
};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tessera_core::account::Role;
use tessera_core::oidc::grant::CODE_TTL_SECS;
use tessera_core::service::CoreConfig;

macro_rules! both_backends {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            $body(Nodes::sqlite(config()).await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let Some(n) = Nodes::postgres(config()).await else {
                return;
            };
            $body(n).await;
        }
    };
}

/// The issuer is https, as relying parties require (`openidconnect`
/// refuses an http revocation endpoint); the nodes listen on plain
/// http, and the relying party's HTTP client maps the one to the other.
fn config() -> CoreConfig {
    CoreConfig {
        public_url: "https://id.example.test".into(),
        ..one_account()
    }
}

const CALLBACK: &str = "https://rp.example.com/cb";
const AAL1: &str = "urn:tessera:acr:aal1";
const AAL2: &str = "urn:tessera:acr:aal2";

// --- The relying party's HTTP client ---------------------------------

/// `openidconnect`'s HTTP client as an adapter over the workspace's
/// reqwest: the issuer (the server's public URL, which discovery must
/// match) is rewritten to the nodes' local addresses, in turns.
#[derive(Clone)]
struct RpHttp {
    http: reqwest::Client,
    issuer: String,
    bases: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
}

impl RpHttp {
    fn of(n: &Nodes) -> RpHttp {
        RpHttp {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            issuer: n.core().issuer(),
            bases: Arc::new(n.nodes.iter().map(|s| s.base.clone()).collect()),
            next: Arc::default(),
        }
    }
}

impl<'c> AsyncHttpClient<'c> for RpHttp {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let base = &self.bases[self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len()];
            let url = parts.uri.to_string().replacen(&self.issuer, base, 1);
            let response = self
                .http
                .request(parts.method, url)
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut out = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                out = out.header(name, value);
            }
            let body = response.bytes().await?.to_vec();
            Ok(out.body(body).unwrap())
        })
    }
}

type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A registered client, and the relying party built for it from discovery.
struct App {
    rp: Rp,
    id: String,
    secret: Option<String>,
    http: RpHttp,
}

async fn register(n: &Nodes, admin: &str, body: Value) -> App {
    let (status, c) = n
        .send("POST", "/api/v1/admin/oidc-clients", admin, Some(body))
        .await;
    assert_eq!(status, 201, "{c}");
    let id = c["client_id"].as_str().unwrap().to_string();
    let secret = c["client_secret"].as_str().map(String::from);
    let http = RpHttp::of(n);
    let issuer = IssuerUrl::new(n.core().issuer()).unwrap();
    let meta = CoreProviderMetadata::discover_async(issuer.clone(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(id.clone()),
        secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap())
    // The standard metadata type has no revocation endpoint; ours is
    // under the issuer (discovery's own test checks that).
    .set_revocation_url(RevocationUrl::new(format!("{issuer}/oauth2/revoke")).unwrap());
    App {
        rp,
        id,
        secret,
        http,
    }
}

fn client_body(public: bool, first_party: bool) -> Value {
    json!({
        "name": if first_party { "Wiki" } else { "Partner App" },
        "redirect_uris": [CALLBACK],
        "public": public,
        "first_party": first_party,
        "scopes": ["openid", "email", "profile", "offline_access"],
        "post_logout_redirect_uris": ["https://rp.example.com/bye"],
    })
}

/// A member with a display name (the `profile` scope's `name`).
async fn person(n: &Nodes, email: &str, name: &str) -> tessera_core::ids::AccountId {
    use tessera_core::service::{NewAccountInput, RequestContext, Sysadmin};
    n.core()
        .create_account(
            &Sysadmin::host_operator(),
            NewAccountInput {
                email: email.into(),
                display_name: name.into(),
                kind: tessera_core::account::AccountKind::Human,
                role: Role::Member,
                password: Some(tessera_core::password::Password::new(PASSWORD)),
            },
            &RequestContext::default(),
        )
        .await
        .unwrap()
        .id
}

async fn sysadmin(n: &Nodes) -> String {
    n.user("rp-admin@example.com", Role::Sysadmin).await;
    bearer(&n.token("rp-admin@example.com").await)
}

/// What the relying party keeps between the redirect and the callback.
struct Started {
    url: url::Url,
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

/// The authorization request the crate builds.
type AuthReq<'a> =
    openidconnect::AuthorizationRequest<'a, CoreAuthDisplay, CoreAuthPrompt, CoreResponseType>;

/// Extra parameters for one request (prompt, max_age, acr_values).
type Tweak = fn(AuthReq<'_>) -> AuthReq<'_>;

fn start(app: &App, tweak: Tweak) -> Started {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let req = app
        .rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge);
    let (url, state, nonce) = tweak(req).url();
    Started {
        url,
        state,
        nonce,
        verifier,
    }
}

/// No extra parameters.
fn plain(r: AuthReq<'_>) -> AuthReq<'_> {
    r
}

// --- The browser ------------------------------------------------------

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Where a run of redirects stopped.
#[derive(Debug)]
enum Stop {
    /// Back at the relying party's callback, with these query parameters.
    Rp(url::Url),
    /// A page of this server.
    Page {
        status: u16,
        path: String,
        html: String,
    },
}

impl Stop {
    fn param(&self, name: &str) -> Option<String> {
        match self {
            Stop::Rp(u) => u
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned()),
            other => panic!("not at the relying party: {other:?}"),
        }
    }

    fn page(&self) -> (u16, &str, &str) {
        match self {
            Stop::Page { status, path, html } => (*status, path.as_str(), html.as_str()),
            other => panic!("not on a page: {other:?}"),
        }
    }
}

/// The path of a URL on this server (public URL or a node's address),
/// or `None` for anywhere else.
fn local_path(n: &Nodes, to: &str) -> Option<String> {
    if to.starts_with('/') {
        return Some(to.to_string());
    }
    let issuer = n.core().issuer();
    std::iter::once(issuer.as_str())
        .chain(n.nodes.iter().map(|s| s.base.as_str()))
        .find_map(|base| to.strip_prefix(base))
        .filter(|rest| rest.starts_with('/'))
        .map(String::from)
}

/// Follows this server's redirects from `r`; stops at the relying party
/// or at a page.
async fn follow(n: &Nodes, b: &reqwest::Client, mut r: reqwest::Response) -> Stop {
    for _ in 0..10 {
        let to = if r.status().is_redirection() {
            r.headers()["location"].to_str().unwrap().to_string()
        } else {
            let path = r.url().path().to_string();
            let status = r.status().as_u16();
            let html = r.text().await.unwrap();
            // After one of our forms, the way back to the relying party
            // is a page that moves on by itself.
            match continue_target(&html) {
                Some(to) if status == 200 => to,
                _ => return Stop::Page { status, path, html },
            }
        };
        if to.starts_with(CALLBACK) {
            return Stop::Rp(url::Url::parse(&to).unwrap());
        }
        let path = local_path(n, &to).unwrap_or_else(|| panic!("redirected off-site to {to}"));
        r = b.get(n.node().url(&path)).send().await.unwrap();
    }
    panic!("a redirect loop");
}

async fn open(n: &Nodes, b: &reqwest::Client, url: &url::Url) -> Stop {
    let path = local_path(n, url.as_str()).unwrap();
    follow(n, b, b.get(n.node().url(&path)).send().await.unwrap()).await
}

/// The password on /login, then (for an account with an authenticator
/// app) a code computed by oathtool on /login/verify.
async fn sign_in(n: &Nodes, b: &reqwest::Client, email: &str, totp: Option<&str>) -> Stop {
    let r = page_signin(b, &n.node().url("/login"), email, PASSWORD).await;
    let stop = follow(n, b, r).await;
    let Some(secret) = totp else { return stop };
    assert_eq!(stop.page().1, "/login/verify", "{stop:?}");
    post_code(n, b, "/login/verify", secret).await
}

/// A fresh TOTP code posted to a verification page; the answer, not
/// followed.
async fn post_totp(n: &Nodes, b: &reqwest::Client, path: &str, secret: &str) -> reqwest::Response {
    let html = b.get(n.node().url(path)).send().await.unwrap();
    let html = html.text().await.unwrap();
    let code = peers::oathtool(secret, n.now());
    b.post(n.node().url(path))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("method", "totp"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

/// A fresh TOTP code posted to a verification page, and where it led.
async fn post_code(n: &Nodes, b: &reqwest::Client, path: &str, secret: &str) -> Stop {
    let r = post_totp(n, b, path, secret).await;
    follow(n, b, r).await
}

fn hidden(html: &str, name: &str) -> String {
    let field = format!(r#"name="{name}" value=""#);
    let at = html
        .find(&field)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + field.len();
    html[at..].split('"').next().unwrap().to_string()
}

// --- Tokens -------------------------------------------------------------

/// The code of a callback, after checking its state and issuer.
fn code_of(n: &Nodes, stop: &Stop, started: &Started) -> AuthorizationCode {
    assert_eq!(stop.param("error"), None, "{stop:?}");
    assert_eq!(
        stop.param("state").as_deref(),
        Some(started.state.secret().as_str())
    );
    assert_eq!(stop.param("iss"), Some(n.core().issuer()), "RFC 9207");
    AuthorizationCode::new(stop.param("code").unwrap())
}

async fn exchange(
    app: &App,
    code: AuthorizationCode,
    verifier: PkceCodeVerifier,
) -> CoreTokenResponse {
    app.rp
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .unwrap()
}

/// The ID token's claims, checked by the crate (signature by a published
/// key, issuer, audience, expiry on the test's clock, nonce), and its raw
/// payload for what the standard claims type does not hold (`sid`).
fn verified(
    n: &Nodes,
    app: &App,
    tokens: &CoreTokenResponse,
    nonce: &Nonce,
) -> (CoreIdTokenClaims, Value) {
    let clock = n.clock.clone();
    let verifier = app.rp.id_token_verifier().set_time_fn(move || {
        let now = tessera_core::Clock::now(&clock).seconds();
        chrono::DateTime::from_timestamp(now, 0).unwrap()
    });
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&verifier, nonce).unwrap().clone();
    let wrong = Nonce::new("another".into());
    assert!(
        id_token.claims(&verifier, &wrong).is_err(),
        "the nonce is checked"
    );
    (claims, payload(&id_token.to_string()))
}

fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn amr(claims: &CoreIdTokenClaims) -> Vec<String> {
    claims
        .auth_method_refs()
        .map(|v| v.iter().map(|a| a.to_string()).collect())
        .unwrap_or_default()
}

fn auth_time(claims: &CoreIdTokenClaims) -> i64 {
    claims.auth_time().unwrap().timestamp()
}

/// A form POST to an OAuth endpoint with the app's credentials (HTTP
/// Basic): status and JSON body.
async fn oauth_post(n: &Nodes, app: &App, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut req = n.http.post(n.node().url(path)).form(form);
    match &app.secret {
        Some(s) => req = req.basic_auth(&app.id, Some(s)),
        None => req = req.form(&[("client_id", app.id.as_str())]),
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn introspect(n: &Nodes, app: &App, token: &str) -> Value {
    let (status, body) = oauth_post(n, app, "/oauth2/introspect", &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refresh_raw(n: &Nodes, app: &App, token: &str) -> (u16, Value) {
    oauth_post(
        n,
        app,
        "/oauth2/token",
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

fn assert_invalid_grant((status, body): (u16, Value)) {
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

async fn userinfo_raw(n: &Nodes, token: &str) -> reqwest::Response {
    n.http
        .get(n.node().url("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// A user who signed in on the pages and was sent back with a code.
async fn signed_in_code(
    n: &Nodes,
    app: &App,
    b: &reqwest::Client,
    email: &str,
    totp: Option<&str>,
) -> (Started, AuthorizationCode) {
    let started = start(app, plain);
    let stop = open(n, b, &started.url).await;
    assert_eq!(stop.page().1, "/login", "no session: the sign-in page");
    let stop = sign_in(n, b, email, totp).await;
    let code = code_of(n, &stop, &started);
    (started, code)
}

// --- 1. The flow that works ---------------------------------------------

async fn a_confidential_client_signs_a_user_in_refreshes_and_revokes(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(false, true)).await;
    let account = person(&n, "ada@example.com", "Ada Lovelace").await;
    let b = browser();
    let (started, code) = signed_in_code(&n, &app, &b, "ada@example.com", None).await;
    let signed_in_at = n.now();
    let tokens = exchange(&app, code, started.verifier).await;
    let (claims, raw) = verified(&n, &app, &tokens, &started.nonce);
    assert_eq!(claims.subject().as_str(), account.to_string());
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(
        claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Ada Lovelace")
    );
    assert_eq!(auth_time(&claims), signed_in_at);
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some(AAL1));
    assert_eq!(amr(&claims), ["pwd"]);
    let sid = raw["sid"].as_str().expect("sid").to_string();
    assert_eq!(raw["aud"], app.id.as_str());

    // Userinfo through the crate, bound to the ID token's subject.
    let info: CoreUserInfoClaims = app
        .rp
        .user_info(
            tokens.access_token().clone(),
            Some(SubjectIdentifier::new(account.to_string())),
        )
        .unwrap()
        .request_async(&app.http)
        .await
        .unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert_eq!(info.email_verified(), Some(true));
    assert_eq!(
        info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Ada Lovelace")
    );

    // Introspection of the access token.
    let i = introspect(&n, &app, tokens.access_token().secret()).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["sub"], account.to_string());
    assert_eq!(i["client_id"], app.id.as_str());
    assert_eq!(i["sid"], sid.as_str());
    let scope = i["scope"].as_str().unwrap();
    for s in ["openid", "email", "profile", "offline_access"] {
        assert!(scope.split(' ').any(|x| x == s), "{scope}");
    }

    // Refresh rotates; the replaced token coming back revokes the family.
    let first = tokens.refresh_token().unwrap().clone();
    let again = app
        .rp
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&app.http)
        .await
        .unwrap();
    let second = again.refresh_token().unwrap().clone();
    assert_ne!(first.secret(), second.secret());
    assert!(again.id_token().is_some());
    assert_invalid_grant(refresh_raw(&n, &app, first.secret()).await);
    assert_invalid_grant(refresh_raw(&n, &app, second.secret()).await);
    n.eventually("the family's access token is revoked", || async {
        introspect(&n, &app, again.access_token().secret()).await == json!({"active": false})
    })
    .await;

    // A new authorization (the session is still there: no sign-in page);
    // revoked (RFC 7009), its refresh token is dead.
    let started = start(&app, plain);
    let stop = open(&n, &b, &started.url).await;
    let tokens = exchange(&app, code_of(&n, &stop, &started), started.verifier).await;
    let refresh = tokens.refresh_token().unwrap().clone();
    app.rp
        .revoke_token(CoreRevocableToken::from(refresh.clone()))
        .unwrap()
        .request_async(&app.http)
        .await
        .unwrap();
    assert_invalid_grant(refresh_raw(&n, &app, refresh.secret()).await);
    n.eventually("the revoked grant's access token is inactive", || async {
        introspect(&n, &app, tokens.access_token().secret()).await == json!({"active": false})
    })
    .await;
    let r = userinfo_raw(&n, tokens.access_token().secret()).await;
    assert_eq!(r.status(), 401);
}

both_backends!(
    a_confidential_client_signs_a_user_in_refreshes_and_revokes_sqlite,
    a_confidential_client_signs_a_user_in_refreshes_and_revokes_postgres,
    a_confidential_client_signs_a_user_in_refreshes_and_revokes
);

/// An account with an authenticator app: password, then a code on the
/// second-step page; the ID token says aal2 and how.
async fn a_second_step_at_sign_in_gives_aal2(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(false, true)).await;
    n.user("totp@example.com", Role::Member).await;
    let (secret, _) = enroll_totp(&n, &n.token("totp@example.com").await).await;
    n.clock.advance_secs(30); // the enrollment's code is spent
    let b = browser();
    let (started, code) = signed_in_code(&n, &app, &b, "totp@example.com", Some(&secret)).await;
    let tokens = exchange(&app, code, started.verifier).await;
    let (claims, _) = verified(&n, &app, &tokens, &started.nonce);
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some(AAL2));
    assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);

    // The ID token is not an access token.
    let id_token = tokens.id_token().unwrap().to_string();
    assert_eq!(userinfo_raw(&n, &id_token).await.status(), 401);
    assert_eq!(
        introspect(&n, &app, &id_token).await,
        json!({"active": false})
    );

    // The access token expires on the clock; the refresh token gets a new one.
    let access = tokens.access_token().secret().clone();
    assert_eq!(userinfo_raw(&n, &access).await.status(), 200);
    let ttl = n.core().config.oidc.access_token_ttl_secs;
    assert_eq!(tokens.expires_in().map(|d| d.as_secs() as i64), Some(ttl));
    n.clock.advance_secs(ttl - 1);
    assert_eq!(introspect(&n, &app, &access).await["active"], true);
    n.clock.advance_secs(1);
    assert_eq!(userinfo_raw(&n, &access).await.status(), 401);
    assert_eq!(
        introspect(&n, &app, &access).await,
        json!({"active": false})
    );
    let (status, body) = refresh_raw(&n, &app, tokens.refresh_token().unwrap().secret()).await;
    assert_eq!(status, 200, "{body}");
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(userinfo_raw(&n, fresh).await.status(), 200);
    // The refreshed ID token keeps the original sign-in's time and strength.
    let again = payload(body["id_token"].as_str().unwrap());
    assert_eq!(again["auth_time"], auth_time(&claims));
    assert_eq!(again["acr"], AAL2);
    assert_eq!(again["iat"], n.now());
}

both_backends!(
    a_second_step_at_sign_in_gives_aal2_sqlite,
    a_second_step_at_sign_in_gives_aal2_postgres,
    a_second_step_at_sign_in_gives_aal2
);

/// A public client has no secret: PKCE is what binds the code to it.
async fn a_public_client_must_use_pkce(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(true, true)).await;
    assert!(app.secret.is_none());
    n.user("pub@example.com", Role::Member).await;
    let b = browser();
    let (started, code) = signed_in_code(&n, &app, &b, "pub@example.com", None).await;
    let tokens = exchange(&app, code, started.verifier).await;
    verified(&n, &app, &tokens, &started.nonce);
    // It refreshes with its id alone (the crate sends no secret).
    let again = app
        .rp
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&app.http)
        .await
        .unwrap();
    assert_ne!(
        again.refresh_token().unwrap().secret(),
        tokens.refresh_token().unwrap().secret()
    );

    let no_pkce = app
        .rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .url();
    let stop = open(&n, &b, &no_pkce.0).await;
    assert_eq!(stop.param("error").as_deref(), Some("invalid_request"));
    assert_eq!(
        stop.param("state").as_deref(),
        Some(no_pkce.1.secret().as_str())
    );
    assert_eq!(stop.param("code"), None);
}

both_backends!(
    a_public_client_must_use_pkce_sqlite,
    a_public_client_must_use_pkce_postgres,
    a_public_client_must_use_pkce
);

// --- 2. What is refused ---------------------------------------------------

async fn every_misuse_is_refused_with_its_exact_error(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(false, true)).await;
    let other = register(&n, &admin, client_body(false, true)).await;
    n.user("eve@example.com", Role::Member).await;
    let b = browser();

    // Without a session, prompt=none comes back with login_required.
    let started = start(&app, |r| r.add_prompt(CoreAuthPrompt::None));
    let stop = open(&n, &b, &started.url).await;
    assert_eq!(
        stop.param("error").as_deref(),
        Some("login_required"),
        "{stop:?}"
    );
    assert_eq!(
        stop.param("state").as_deref(),
        Some(started.state.secret().as_str())
    );

    let (_, _) = signed_in_code(&n, &app, &b, "eve@example.com", None).await;

    // Redirect URIs that are not registered exactly: a page, no redirect.
    for uri in [
        "https://evil.example/cb",
        "https://rp.example.com/cb/extra",
        "https://rp.example.com/cb?x=1",
        "https://rp.example.com/",
    ] {
        let mut url = start(&app, plain).url;
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "redirect_uri" { uri.into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        let path = local_path(&n, url.as_str()).unwrap();
        let r = b.get(n.node().url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{uri}");
        assert!(r.headers().get("location").is_none(), "{uri}");
        let html = r.text().await.unwrap();
        assert!(html.contains("not registered"), "{uri}: {html}");
    }

    // PKCE: the verifier missing, then wrong; the code survives both.
    let started = start(&app, plain);
    let stop = open(&n, &b, &started.url).await;
    let code = code_of(&n, &stop, &started);
    let exchange_with = |verifier: Option<String>| {
        let code = code.secret().clone();
        let app = &app;
        let n = &n;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code),
                ("redirect_uri", CALLBACK.to_string()),
            ];
            if let Some(v) = verifier {
                form.push(("code_verifier", v));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            oauth_post(n, app, "/oauth2/token", &form).await
        }
    };
    assert_invalid_grant(exchange_with(None).await);
    assert_invalid_grant(exchange_with(Some("w".repeat(43))).await);
    // Another client cannot redeem it.
    let (status, body) = {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.secret().as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", started.verifier.secret().as_str()),
        ];
        oauth_post(&n, &other, "/oauth2/token", &form).await
    };
    assert_invalid_grant((status, body));
    // The right verifier: tokens (whose refresh token another client
    // cannot use). The same code again: invalid_grant, and
    // what the first redemption issued is revoked.
    let (status, tokens) = exchange_with(Some(started.verifier.secret().clone())).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(introspect(&n, &app, &access).await["active"], true);
    assert_invalid_grant(refresh_raw(&n, &other, &refresh).await);
    assert_eq!(
        introspect(&n, &app, &refresh).await["active"],
        true,
        "and it stays good"
    );
    assert_invalid_grant(exchange_with(Some(started.verifier.secret().clone())).await);
    n.eventually("a reused code revokes what it issued", || async {
        introspect(&n, &app, &access).await == json!({"active": false})
    })
    .await;
    assert_invalid_grant(refresh_raw(&n, &app, &refresh).await);

    // An expired code (the clock moves; nobody sleeps): a second before
    // its end it is good, at its end it is not.
    let mut codes = Vec::new();
    for _ in 0..2 {
        let started = start(&app, plain);
        let stop = open(&n, &b, &started.url).await;
        codes.push((code_of(&n, &stop, &started), started.verifier));
    }
    let redeem = |(code, verifier): &(AuthorizationCode, PkceCodeVerifier)| {
        let (code, verifier) = (code.secret().clone(), verifier.secret().clone());
        let (n, app) = (&n, &app);
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CALLBACK),
                ("code_verifier", verifier.as_str()),
            ];
            oauth_post(n, app, "/oauth2/token", &form).await
        }
    };
    n.clock.advance_secs(CODE_TTL_SECS - 1);
    assert_eq!(redeem(&codes[0]).await.0, 200);
    n.clock.advance_secs(1);
    assert_invalid_grant(redeem(&codes[1]).await);

    // prompt=none with a sign-in older than max_age: login_required.
    let started = start(&app, |r| {
        r.add_prompt(CoreAuthPrompt::None)
            .set_max_age(std::time::Duration::from_secs(30))
    });
    let stop = open(&n, &b, &started.url).await;
    assert_eq!(
        stop.param("error").as_deref(),
        Some("login_required"),
        "{stop:?}"
    );

    // A wrong client secret: 401 invalid_client, with a Basic challenge.
    let r = n
        .http
        .post(n.node().url("/oauth2/token"))
        .basic_auth(&app.id, Some("tcs_wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let started = start(&app, plain);
    let stop = open(&n, &b, &started.url).await;
    let tokens = exchange(&app, code_of(&n, &stop, &started), started.verifier).await;
    let good = tokens.access_token().secret().clone();
    let i = introspect(&n, &app, &good).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["client_id"], app.id.as_str());
    assert!(i["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(i["scope"].as_str().unwrap().contains("openid"));
    let claims = payload(&good);
    let header = payload(&format!("x.{}", good.split('.').next().unwrap()));
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let mut none = header.clone();
    none["alg"] = "none".into();
    let unsigned = format!("{}.{}.", b64(&none), b64(&claims));
    assert_eq!(
        introspect(&n, &app, &unsigned).await,
        json!({"active": false})
    );
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.typ = header["typ"].as_str().map(String::from);
    hs.kid = header["kid"].as_str().map(String::from);
    let forged =
        jsonwebtoken::encode(&hs, &claims, &jsonwebtoken::EncodingKey::from_secret(b"k")).unwrap();
    assert_eq!(
        introspect(&n, &app, &forged).await,
        json!({"active": false})
    );
    assert_eq!(introspect(&n, &app, &good).await["active"], true);

    // Signing out on the server ends the refresh token and userinfo.
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let html = b
        .get(n.node().url("/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = b
        .post(n.node().url("/logout"))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_invalid_grant(refresh_raw(&n, &app, &refresh).await);
    n.eventually("signing out ends the access token", || async {
        introspect(&n, &app, &good).await == json!({"active": false})
    })
    .await;
    let r = userinfo_raw(&n, &good).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert_eq!(introspect(&n, &app, &good).await, json!({"active": false}));
}

both_backends!(
    every_misuse_is_refused_with_its_exact_error_sqlite,
    every_misuse_is_refused_with_its_exact_error_postgres,
    every_misuse_is_refused_with_its_exact_error
);

// --- 3. Step-up asked for by the relying party ---------------------------

async fn the_relying_party_asks_for_a_fresh_or_stronger_verification(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(false, true)).await;
    n.user("grace@example.com", Role::Member).await;
    let (secret, _) = enroll_totp(&n, &n.token("grace@example.com").await).await;
    n.clock.advance_secs(30);
    let b = browser();
    let (started, code) = signed_in_code(&n, &app, &b, "grace@example.com", Some(&secret)).await;
    let tokens = exchange(&app, code, started.verifier).await;
    let (first, first_raw) = verified(&n, &app, &tokens, &started.nonce);
    assert_eq!(first.auth_context_ref().map(|a| a.as_str()), Some(AAL2));
    let mut refresh = tokens.refresh_token().unwrap().secret().clone();

    // max_age=0: the session is too old at once; the step-up page, then
    // back to the authorization.
    let mut last = auth_time(&first);
    for tweak in [
        (|r| r.set_max_age(std::time::Duration::from_secs(0))) as Tweak,
        |r| r.add_prompt(CoreAuthPrompt::Login),
    ] {
        n.clock.advance_secs(60);
        let started = start(&app, tweak);
        let stop = open(&n, &b, &started.url).await;
        assert_eq!(stop.page().1, "/security/verify", "{stop:?}");
        let stop = post_code(&n, &b, "/security/verify", &secret).await;
        let tokens = exchange(&app, code_of(&n, &stop, &started), started.verifier).await;
        let (claims, _) = verified(&n, &app, &tokens, &started.nonce);
        assert_eq!(auth_time(&claims), n.now());
        assert!(auth_time(&claims) > last);
        assert!(
            amr(&claims).contains(&"otp".to_string()),
            "{:?}",
            amr(&claims)
        );
        assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some(AAL2));
        last = auth_time(&claims);
        // The same session, stepped up: its sid stays, and what was
        // issued before still refreshes.
        assert_eq!(
            payload(&tokens.id_token().unwrap().to_string())["sid"],
            first_raw["sid"]
        );
        let (status, body) = refresh_raw(&n, &app, &refresh).await;
        assert_eq!(status, 200, "{body}");
        refresh = body["refresh_token"].as_str().unwrap().to_string();
    }

    // Without a step-up, an ordinary request issues at once.
    let started = start(&app, plain);
    let stop = open(&n, &b, &started.url).await;
    code_of(&n, &stop, &started);

    // acr_values=aal2 for an account that has no second step: refused.
    n.user("pw-only@example.com", Role::Member).await;
    let b = browser();
    let started = start(&app, |r| {
        r.add_auth_context_value(AuthenticationContextClass::new(AAL2.into()))
    });
    let stop = open(&n, &b, &started.url).await;
    assert_eq!(stop.page().1, "/login");
    let stop = sign_in(&n, &b, "pw-only@example.com", None).await;
    assert_eq!(
        stop.param("error").as_deref(),
        Some("access_denied"),
        "{stop:?}"
    );
    assert_eq!(
        stop.param("state").as_deref(),
        Some(started.state.secret().as_str())
    );
    assert_eq!(stop.param("code"), None);
}

both_backends!(
    the_relying_party_asks_for_a_fresh_or_stronger_verification_sqlite,
    the_relying_party_asks_for_a_fresh_or_stronger_verification_postgres,
    the_relying_party_asks_for_a_fresh_or_stronger_verification
);

// --- 4. Consent -------------------------------------------------------------

async fn a_third_party_client_needs_consent(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(false, false)).await;
    n.user("lin@example.com", Role::Member).await;
    let b = browser();
    let started = start(&app, plain);
    open(&n, &b, &started.url).await;
    let stop = sign_in(&n, &b, "lin@example.com", None).await;
    let answer = |decision: &'static str, stop: Stop| {
        let b = &b;
        let n = &n;
        async move {
            let (status, path, html) = stop.page();
            assert_eq!((status, path), (200, "/oauth2/authorize"));
            assert!(html.contains("Partner App"), "{html}");
            let r = b
                .post(n.node().url("/oauth2/authorize"))
                .form(&[
                    ("csrf", csrf_of(html)),
                    ("resume", hidden(html, "resume")),
                    ("decision", decision.to_string()),
                ])
                .send()
                .await
                .unwrap();
            follow(n, b, r).await
        }
    };
    let denied = answer("deny", stop).await;
    assert_eq!(denied.param("error").as_deref(), Some("access_denied"));
    assert_eq!(
        denied.param("state").as_deref(),
        Some(started.state.secret().as_str())
    );
    assert_eq!(denied.param("code"), None);

    let started = start(&app, plain);
    let stop = open(&n, &b, &started.url).await;
    let allowed = answer("allow", stop).await;
    let tokens = exchange(&app, code_of(&n, &allowed, &started), started.verifier).await;
    verified(&n, &app, &tokens, &started.nonce);
}

both_backends!(
    a_third_party_client_needs_consent_sqlite,
    a_third_party_client_needs_consent_postgres,
    a_third_party_client_needs_consent
);

/// A verification made for the request satisfies its `max_age`, however
/// long the browser takes to come back: `max_age=0` means "verify now"
/// (like `prompt=login`), not "within the same millisecond". The clock
/// moves a second between the verification and the return, as a real
/// browser's round trip would.
async fn a_verification_made_for_the_request_satisfies_max_age(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(false, true)).await;
    n.user("max@example.com", Role::Member).await;
    let (secret, _) = enroll_totp(&n, &n.token("max@example.com").await).await;
    n.clock.advance_secs(30);
    let zero = (|r| r.set_max_age(std::time::Duration::from_secs(0))) as Tweak;

    // No session: sign in (password, then the code), a second passes.
    let b = browser();
    let started = start(&app, zero);
    assert_eq!(open(&n, &b, &started.url).await.page().1, "/login");
    let r = page_signin(&b, &n.node().url("/login"), "max@example.com", PASSWORD).await;
    assert_eq!(follow(&n, &b, r).await.page().1, "/login/verify");
    let r = post_totp(&n, &b, "/login/verify", &secret).await;
    assert_eq!(r.status(), 303);
    n.clock.advance_secs(1);
    let stop = follow(&n, &b, r).await;
    let tokens = exchange(&app, code_of(&n, &stop, &started), started.verifier).await;
    let (claims, _) = verified(&n, &app, &tokens, &started.nonce);
    assert_eq!(auth_time(&claims), n.now() - 1);

    // A session: max_age=0 asks for a step-up; a second after it, the
    // request goes on.
    n.clock.advance_secs(60);
    let started = start(&app, zero);
    let stop = open(&n, &b, &started.url).await;
    assert_eq!(stop.page().1, "/security/verify", "{stop:?}");
    let r = post_totp(&n, &b, "/security/verify", &secret).await;
    assert_eq!(r.status(), 303);
    n.clock.advance_secs(1);
    let stop = follow(&n, &b, r).await;
    let tokens = exchange(&app, code_of(&n, &stop, &started), started.verifier).await;
    let (claims, _) = verified(&n, &app, &tokens, &started.nonce);
    assert_eq!(auth_time(&claims), n.now() - 1);
    assert!(amr(&claims).contains(&"otp".to_string()));

    // An old verification still does not pass.
    n.clock.advance_secs(60);
    let started = start(&app, |r| r.set_max_age(std::time::Duration::from_secs(30)));
    let stop = open(&n, &b, &started.url).await;
    assert_eq!(stop.page().1, "/security/verify", "{stop:?}");
}

/// An account without two-step verification steps up with its password
/// when the relying party asks for a fresh sign-in; the ID token says so.
async fn a_password_only_account_steps_up_with_its_password(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(false, true)).await;
    n.user("pw@example.com", Role::Member).await;
    let b = browser();
    let (started, code) = signed_in_code(&n, &app, &b, "pw@example.com", None).await;
    let tokens = exchange(&app, code, started.verifier).await;
    let (first, _) = verified(&n, &app, &tokens, &started.nonce);
    n.clock.advance_secs(120);
    let started = start(&app, |r| r.add_prompt(CoreAuthPrompt::Login));
    let stop = open(&n, &b, &started.url).await;
    let (status, path, html) = stop.page();
    assert_eq!((status, path), (200, "/security/verify"));
    assert!(html.contains(r#"name="password""#), "the password form");
    let wrong = b
        .post(n.node().url("/security/verify"))
        .form(&[
            ("csrf", csrf_of(html).as_str()),
            ("method", "password"),
            ("password", "not the password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        !wrong.status().is_redirection(),
        "a wrong password does not go on"
    );
    let r = b
        .post(n.node().url("/security/verify"))
        .form(&[
            ("csrf", csrf_of(html).as_str()),
            ("method", "password"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let stop = follow(&n, &b, r).await;
    let tokens = exchange(&app, code_of(&n, &stop, &started), started.verifier).await;
    let (claims, _) = verified(&n, &app, &tokens, &started.nonce);
    assert_eq!(auth_time(&claims), auth_time(&first) + 120);
    assert_eq!(amr(&claims), ["pwd"]);
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some(AAL1));
}

both_backends!(
    a_password_only_account_steps_up_with_its_password_sqlite,
    a_password_only_account_steps_up_with_its_password_postgres,
    a_password_only_account_steps_up_with_its_password
);

both_backends!(
    a_verification_made_for_the_request_satisfies_max_age_sqlite,
    a_verification_made_for_the_request_satisfies_max_age_postgres,
    a_verification_made_for_the_request_satisfies_max_age
);

/// RP-initiated logout: with an ID token hint naming the current session,
/// the user is signed out at once and sent to a registered post-logout
/// URI with the state; the grant dies with the session. A URI not
/// registered is a page, never a redirect; without a hint the user is
/// asked first.
async fn the_relying_party_signs_the_user_out(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(false, true)).await;
    n.user("bye@example.com", Role::Member).await;
    let b = browser();
    let (started, code) = signed_in_code(&n, &app, &b, "bye@example.com", None).await;
    let tokens = exchange(&app, code, started.verifier).await;
    let hint = tokens.id_token().unwrap().to_string();
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let logout = |query: &[(&str, &str)]| {
        let mut url = url::Url::parse(&n.node().url("/oauth2/logout")).unwrap();
        url.query_pairs_mut().extend_pairs(query);
        b.get(url).send()
    };

    let r = logout(&[
        ("id_token_hint", hint.as_str()),
        (
            "post_logout_redirect_uri",
            "https://rp.example.com/elsewhere",
        ),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let r = logout(&[("client_id", app.id.as_str())]).await.unwrap();
    assert_eq!(r.status(), 200, "asked first");
    let access = tokens.access_token().secret().clone();
    assert_eq!(
        introspect(&n, &app, &access).await["active"],
        true,
        "still signed in"
    );

    let r = logout(&[
        ("id_token_hint", hint.as_str()),
        ("post_logout_redirect_uri", "https://rp.example.com/bye"),
        ("state", "s-42"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "https://rp.example.com/bye?state=s-42"
    );
    assert_invalid_grant(refresh_raw(&n, &app, &refresh).await);
    n.eventually("logging out ends the access token", || async {
        introspect(&n, &app, &access).await == json!({"active": false})
    })
    .await;
    let started = start(&app, plain);
    assert_eq!(
        open(&n, &b, &started.url).await.page().1,
        "/login",
        "signed out"
    );
}

both_backends!(
    the_relying_party_signs_the_user_out_sqlite,
    the_relying_party_signs_the_user_out_postgres,
    the_relying_party_signs_the_user_out
);

/// `prompt=consent` asks even a first-party client's user; once they
/// allow, the code comes (the answer is not asked for again).
async fn prompt_consent_asks_once(n: Nodes) {
    let admin = sysadmin(&n).await;
    let app = register(&n, &admin, client_body(false, true)).await;
    n.user("ask@example.com", Role::Member).await;
    let b = browser();
    signed_in_code(&n, &app, &b, "ask@example.com", None).await;
    let started = start(&app, |r| r.add_prompt(CoreAuthPrompt::Consent));
    let stop = open(&n, &b, &started.url).await;
    let (status, path, html) = stop.page();
    assert_eq!((status, path), (200, "/oauth2/authorize"));
    let r = b
        .post(n.node().url("/oauth2/authorize"))
        .form(&[
            ("csrf", csrf_of(html)),
            ("resume", hidden(html, "resume")),
            ("decision", "allow".to_string()),
        ])
        .send()
        .await
        .unwrap();
    let stop = follow(&n, &b, r).await;
    let tokens = exchange(&app, code_of(&n, &stop, &started), started.verifier).await;
    verified(&n, &app, &tokens, &started.nonce);
}

both_backends!(
    prompt_consent_asks_once_sqlite,
    prompt_consent_asks_once_postgres,
    prompt_consent_asks_once
);

/// An account that must set up two-step verification first (an admin
/// under `enforce_for_admins`) enrolls on the way, then goes back to the
/// authorization: the recovery-key page continues to it.
async fn an_account_made_to_enroll_comes_back_to_the_authorization(n: Nodes) {
    // The administrator who registers the client is held to the rule too.
    n.user("rp-admin@example.com", Role::Sysadmin).await;
    let (_, enrolled) = enroll_totp(&n, &n.token("rp-admin@example.com").await).await;
    let admin = bearer(enrolled["session_token"].as_str().unwrap());
    n.clock.advance_secs(30);
    let app = register(&n, &admin, client_body(false, true)).await;
    n.user("boss@example.com", Role::Sysadmin).await;
    let b = browser();
    let started = start(&app, plain);
    assert_eq!(open(&n, &b, &started.url).await.page().1, "/login");
    let stop = sign_in(&n, &b, "boss@example.com", None).await;
    assert_eq!(stop.page().1, "/security/two-step/required");
    // The restricted session itself starts another authorization: sent
    // to enroll, and that request is the one waiting.
    let started = start(&app, plain);
    let stop = open(&n, &b, &started.url).await;
    let (_, path, html) = stop.page();
    assert_eq!(path, "/security/two-step/required");
    let setup = b
        .post(n.node().url("/security/two-step/setup"))
        .form(&[("csrf", csrf_of(html))])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = hidden(
        &setup.replace("data-secret=", "name=\"secret\" value="),
        "secret",
    );
    let secret: String = secret.chars().filter(|c| !c.is_whitespace()).collect();
    let code = peers::oathtool(&secret, n.now());
    let r = b
        .post(n.node().url("/security/two-step/confirm"))
        .form(&[("csrf", csrf_of(&setup)), ("code", code)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let saved = r.text().await.unwrap();
    let marker = r#"<a class="button primary" href=""#;
    let at = saved.find(marker).unwrap() + marker.len();
    let next = saved[at..].split('"').next().unwrap().replace("&amp;", "&");
    assert!(next.starts_with("/oauth2/authorize?resume="), "{next}");
    let stop = follow(&n, &b, b.get(n.node().url(&next)).send().await.unwrap()).await;
    let tokens = exchange(&app, code_of(&n, &stop, &started), started.verifier).await;
    let (claims, _) = verified(&n, &app, &tokens, &started.nonce);
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some(AAL2));
}

fn enforcing() -> CoreConfig {
    let mut c = config();
    c.two_step.enforce_for_admins = true;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_made_to_enroll_comes_back_to_the_authorization_sqlite() {
    an_account_made_to_enroll_comes_back_to_the_authorization(Nodes::sqlite(enforcing()).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_made_to_enroll_comes_back_to_the_authorization_postgres() {
    let Some(n) = Nodes::postgres(enforcing()).await else {
        return;
    };
    an_account_made_to_enroll_comes_back_to_the_authorization(n).await;
}
